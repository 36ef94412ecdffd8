//! What the console asks the runtime to do ([`ConsoleEffect`]) and what comes back
//! ([`ConsoleEvent`]). Results carry the generation of the request that caused them, so a
//! late answer to a replaced query is ignored.

use crate::backends::loki::{RangeQuery, TailEvent, TailRequest};
use crate::backends::prom::{AmAlert, PromAlert, RuleGroup};
use crate::domain::alerts::NewSilence;
use crate::domain::logs::LogLine;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleEffect {
    /// Run a range query for the logs pane.
    QueryLogs {
        generation: u64,
        query: RangeQuery,
    },
    /// Start (or replace) the live tail of the logs pane.
    StartTail {
        generation: u64,
        request: TailRequest,
    },
    /// Stop the live tail.
    StopTail,
    /// Label names for completion.
    FetchLabels,
    /// Values of one label for completion.
    FetchLabelValues {
        name: String,
    },
    /// Start polling Prometheus and Alertmanager (idempotent).
    WatchAlerts,
    /// Poll both now (after a silence change).
    RefreshAlerts,
    CreateSilence(NewSilence),
    ExpireSilence {
        id: String,
    },
    /// Put text on the clipboard with OSC 52.
    Copy(String),
    /// Gather the incident view of an alert (`backends::incident`), answers tagged with
    /// `generation`.
    GatherIncident {
        generation: u64,
        request: crate::backends::incident::Request,
    },
    /// The incident view closed: stop its gatherer.
    StopIncident,
    /// What a pane of the registry asks (typed per pane).
    Pane(super::panes::PaneEffect),
}

/// Which alert source an update is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSource {
    Prometheus,
    Alertmanager,
}

impl AlertSource {
    pub fn name(self) -> &'static str {
        match self {
            AlertSource::Prometheus => "Prometheus",
            AlertSource::Alertmanager => "Alertmanager",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum AlertsUpdate {
    Connecting,
    Prometheus {
        alerts: Vec<PromAlert>,
        rules: Vec<RuleGroup>,
    },
    Alertmanager {
        alerts: Vec<AmAlert>,
    },
    /// The poll failed; the next one is in `retry_in`.
    Failed {
        reason: String,
        attempt: u32,
        retry_in: Duration,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleEvent {
    LogsLoaded {
        generation: u64,
        result: Result<Vec<LogLine>, String>,
    },
    Tail {
        generation: u64,
        event: TailEvent,
    },
    LabelsLoaded(Result<Vec<String>, String>),
    LabelValuesLoaded {
        name: String,
        result: Result<Vec<String>, String>,
    },
    Alerts {
        source: AlertSource,
        update: AlertsUpdate,
    },
    SilenceCreated(Result<String, String>),
    SilenceExpired {
        id: String,
        result: Result<(), String>,
    },
    /// Credentials were read from the SOPS env file (or could not be).
    CredentialsLoaded(Result<crate::backends::endpoint::Auth, String>),
    /// The LogQL history was written to the state dir.
    HistorySaved(Result<(), String>),
    /// One answer for the incident view of `generation`.
    Incident {
        generation: u64,
        update: crate::domain::incident::IncidentUpdate,
    },
    /// What comes back to a pane of the registry (typed per pane).
    Pane(super::panes::PaneEvent),
}
