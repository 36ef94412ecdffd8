//! Alerts and silences as the console shows them, merged from Prometheus and Alertmanager.

use std::collections::BTreeMap;

pub type AlertLabels = BTreeMap<String, String>;

/// Where an alert is in its life, as the operator cares about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    /// Firing and not muted.
    Firing,
    /// Inside the rule's `for:` window (Prometheus only).
    Pending,
    /// Firing but silenced or inhibited in Alertmanager.
    Suppressed,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Firing => "firing",
            AlertState::Pending => "pending",
            AlertState::Suppressed => "silenced",
        }
    }
}

/// Severity buckets the pane groups by, most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Critical,
    Warning,
    Info,
    None,
}

impl Severity {
    pub fn from_label(value: Option<&str>) -> Self {
        match value.map(str::to_ascii_lowercase).as_deref() {
            Some("critical" | "page" | "error" | "high" | "emergency") => Severity::Critical,
            Some("warning" | "warn" | "medium") => Severity::Warning,
            Some("info" | "low" | "informational") => Severity::Info,
            _ => Severity::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Critical => "critical",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::None => "none",
        }
    }
}

/// Where an alert was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AlertSources {
    pub prometheus: bool,
    pub alertmanager: bool,
}

/// One alert, merged across Prometheus (`/api/v1/alerts`) and Alertmanager (`/api/v2/alerts`)
/// by its label set.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub labels: AlertLabels,
    pub annotations: AlertLabels,
    pub state: AlertState,
    /// When it became active (Prometheus `activeAt`, Alertmanager `startsAt`), Unix seconds.
    pub active_since: Option<i64>,
    /// Alertmanager `endsAt` (Unix seconds), when known.
    pub ends_at: Option<i64>,
    /// Alertmanager fingerprint, when Alertmanager knows the alert.
    pub fingerprint: Option<String>,
    /// Ids of the silences that mute it.
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    /// Prometheus sample value string (`1e+00`).
    pub value: Option<String>,
    pub generator_url: Option<String>,
    pub sources: AlertSources,
}

impl Alert {
    /// An alert with these labels, annotations and state; everything else unknown yet.
    pub fn new(labels: AlertLabels, annotations: AlertLabels, state: AlertState) -> Self {
        Self {
            labels,
            annotations,
            state,
            active_since: None,
            ends_at: None,
            fingerprint: None,
            silenced_by: Vec::new(),
            inhibited_by: Vec::new(),
            value: None,
            generator_url: None,
            sources: AlertSources::default(),
        }
    }

    pub fn name(&self) -> &str {
        self.labels
            .get("alertname")
            .map(String::as_str)
            .unwrap_or("(unnamed)")
    }
    pub fn severity(&self) -> Severity {
        Severity::from_label(self.labels.get("severity").map(String::as_str))
    }
}

/// Alertmanager silence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Active,
    Pending,
    Expired,
}

/// One label matcher of a silence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    pub is_equal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Silence {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    /// Unix seconds.
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
    pub state: SilenceState,
}

/// A silence to create.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSilence {
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
}

impl NewSilence {
    /// Exact matchers on every label of `alert`, from now for `duration_s` seconds.
    pub fn for_alert(
        alert: &Alert,
        now: i64,
        duration_s: i64,
        created_by: &str,
        comment: &str,
    ) -> Self {
        Self {
            matchers: alert
                .labels
                .iter()
                .map(|(k, v)| SilenceMatcher {
                    name: k.clone(),
                    value: v.clone(),
                    is_regex: false,
                    is_equal: true,
                })
                .collect(),
            starts_at: now,
            ends_at: now + duration_s,
            created_by: created_by.to_owned(),
            comment: comment.to_owned(),
        }
    }
}
