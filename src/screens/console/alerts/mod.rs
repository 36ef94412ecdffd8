//! The alerts pane: Prometheus and Alertmanager alerts merged, grouped by severity, with a
//! detail view, silences (author + comment) and expiry, and the pivot to logs.

#[cfg(test)]
mod tests;

use super::conn::ConnState;
use super::events::{AlertSource, AlertsUpdate, ConsoleEffect, ConsoleEvent};
use crate::backends::prom::{AmAlert, PromAlert, RuleGroup, merge_alerts};
use crate::domain::alerts::{Alert, AlertLabels, AlertState, NewSilence, Severity};
use crate::widgets::line_edit::LineEdit;

/// One source's connection and whether it ever answered.
#[derive(Debug, Clone, Default)]
pub struct SourceState {
    pub conn: ConnState,
    pub loaded: bool,
}

/// A row of the grouped list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertRow {
    Group { severity: Severity, count: usize },
    Alert(usize),
}

/// The silence form: duration and comment (author comes from the environment).
#[derive(Debug, Clone)]
pub struct SilenceForm {
    pub alert: Alert,
    pub duration: LineEdit,
    pub comment: LineEdit,
    /// 0: duration, 1: comment.
    pub field: usize,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
pub struct AlertsPane {
    pub prometheus: SourceState,
    pub alertmanager: SourceState,
    prom_alerts: Vec<PromAlert>,
    am_alerts: Vec<AmAlert>,
    pub rules: Vec<RuleGroup>,
    /// Merged and sorted (severity, state, name).
    pub alerts: Vec<Alert>,
    /// Selected alert by identity, so a refresh does not move the selection.
    selected: Option<AlertLabels>,
    pub detail: bool,
    pub silence_form: Option<SilenceForm>,
    /// Silence ids awaiting the expire confirmation.
    pub confirm_expire: Option<Vec<String>>,
    pub notice: Option<String>,
    /// Who silences are created by (`$USER@homelab` by default).
    pub author: String,
    /// A silence request is in flight.
    pub busy: bool,
}

/// Parse a silence duration: `2h`, `30m`, `1d`, `90` (minutes).
pub fn parse_duration_secs(input: &str) -> Result<i64, String> {
    let s = input.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = num
        .parse()
        .map_err(|_| format!("`{s}`: give a duration like 30m, 2h or 1d"))?;
    let secs = match unit.trim() {
        "" | "m" | "min" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        "w" => n * 604_800,
        other => return Err(format!("`{s}`: unknown unit `{other}` (m, h, d, w)")),
    };
    if secs <= 0 || secs > 90 * 86_400 {
        return Err(format!("`{s}`: give 1m to 90d"));
    }
    Ok(secs)
}

impl AlertsPane {
    pub fn new(author: impl Into<String>) -> Self {
        Self {
            author: author.into(),
            ..Self::default()
        }
    }

    pub fn on_event(&mut self, ev: ConsoleEvent) -> Vec<ConsoleEffect> {
        match ev {
            ConsoleEvent::Alerts { source, update } => {
                let state = match source {
                    AlertSource::Prometheus => &mut self.prometheus,
                    AlertSource::Alertmanager => &mut self.alertmanager,
                };
                match update {
                    AlertsUpdate::Connecting => {
                        if !matches!(state.conn, ConnState::Reconnecting { .. }) {
                            state.conn = ConnState::Connecting;
                        }
                    }
                    AlertsUpdate::Failed {
                        reason,
                        attempt,
                        retry_in,
                    } => {
                        state.conn = ConnState::Reconnecting {
                            attempt,
                            retry_in,
                            reason,
                        };
                    }
                    AlertsUpdate::Prometheus { alerts, rules } => {
                        state.conn = ConnState::Live;
                        state.loaded = true;
                        self.prom_alerts = alerts;
                        self.rules = rules;
                        self.remerge();
                    }
                    AlertsUpdate::Alertmanager { alerts } => {
                        state.conn = ConnState::Live;
                        state.loaded = true;
                        self.am_alerts = alerts;
                        self.remerge();
                    }
                }
                Vec::new()
            }
            ConsoleEvent::SilenceCreated(result) => {
                self.busy = false;
                match result {
                    Ok(id) => {
                        self.silence_form = None;
                        self.notice = Some(format!("silence {id} created"));
                        vec![ConsoleEffect::RefreshAlerts]
                    }
                    Err(e) => {
                        match &mut self.silence_form {
                            Some(f) => f.error = Some(e),
                            None => self.notice = Some(e),
                        }
                        Vec::new()
                    }
                }
            }
            ConsoleEvent::SilenceExpired { id, result } => {
                self.busy = false;
                self.notice = Some(match result {
                    Ok(()) => format!("silence {id} expired"),
                    Err(e) => format!("could not expire silence {id}: {e}"),
                });
                vec![ConsoleEffect::RefreshAlerts]
            }
            _ => Vec::new(),
        }
    }

    fn remerge(&mut self) {
        // While one source is down, keep showing what the other knows plus the last answer
        // of the one that failed: a pane degrades, it does not go blank.
        self.alerts = merge_alerts(&self.prom_alerts, &self.am_alerts);
        if self
            .selected
            .as_ref()
            .is_none_or(|l| !self.alerts.iter().any(|a| &a.labels == l))
        {
            self.selected = self.alerts.first().map(|a| a.labels.clone());
        }
    }

    /// Rows: a header per severity with alerts, then its alerts.
    pub fn rows(&self) -> Vec<AlertRow> {
        let mut rows = Vec::with_capacity(self.alerts.len() + 4);
        let mut i = 0;
        while i < self.alerts.len() {
            let sev = self.alerts[i].severity();
            let count = self.alerts[i..]
                .iter()
                .take_while(|a| a.severity() == sev)
                .count();
            rows.push(AlertRow::Group {
                severity: sev,
                count,
            });
            rows.extend((i..i + count).map(AlertRow::Alert));
            i += count;
        }
        rows
    }

    /// Counts by state: (firing, pending, silenced).
    pub fn counts(&self) -> (usize, usize, usize) {
        let c = |s| self.alerts.iter().filter(|a| a.state == s).count();
        (
            c(AlertState::Firing),
            c(AlertState::Pending),
            c(AlertState::Suppressed),
        )
    }

    pub fn selected_index(&self) -> Option<usize> {
        let sel = self.selected.as_ref()?;
        self.alerts.iter().position(|a| &a.labels == sel)
    }

    pub fn selected(&self) -> Option<&Alert> {
        self.selected_index().map(|i| &self.alerts[i])
    }

    pub fn select_next(&mut self) {
        self.step(1);
    }
    pub fn select_prev(&mut self) {
        self.step(-1);
    }
    fn step(&mut self, d: isize) {
        if self.alerts.is_empty() {
            return;
        }
        let i = self.selected_index().unwrap_or(0) as isize;
        let n = (i + d).clamp(0, self.alerts.len() as isize - 1) as usize;
        self.selected = Some(self.alerts[n].labels.clone());
    }
    pub fn select_first(&mut self) {
        self.selected = self.alerts.first().map(|a| a.labels.clone());
    }
    pub fn select_last(&mut self) {
        self.selected = self.alerts.last().map(|a| a.labels.clone());
    }

    pub fn toggle_detail(&mut self) {
        self.detail = !self.detail && self.selected().is_some();
    }

    /// `s`: open the silence form for the selected alert.
    pub fn open_silence_form(&mut self) {
        let Some(alert) = self.selected().cloned() else {
            return;
        };
        if !self.alertmanager.conn.is_live() && !self.alertmanager.loaded {
            self.notice = Some("silences need Alertmanager, which is not reachable".into());
            return;
        }
        let mut duration = LineEdit::default();
        duration.set("2h");
        self.silence_form = Some(SilenceForm {
            alert,
            duration,
            comment: LineEdit::default(),
            field: 0,
            error: None,
        });
    }

    /// Enter in the silence form: validate and create.
    pub fn submit_silence(&mut self, now_s: i64) -> Vec<ConsoleEffect> {
        let author = self.author.clone();
        let Some(form) = &mut self.silence_form else {
            return Vec::new();
        };
        let secs = match parse_duration_secs(form.duration.value()) {
            Ok(s) => s,
            Err(e) => {
                form.error = Some(e);
                form.field = 0;
                return Vec::new();
            }
        };
        let comment = form.comment.value().trim().to_owned();
        if comment.is_empty() {
            form.error = Some(
                "a comment is required: say why (Alertmanager keeps it with the silence)".into(),
            );
            form.field = 1;
            return Vec::new();
        }
        form.error = None;
        self.busy = true;
        vec![ConsoleEffect::CreateSilence(NewSilence::for_alert(
            &form.alert,
            now_s,
            secs,
            &author,
            &comment,
        ))]
    }

    /// `x`: ask to expire the silences muting the selected alert.
    pub fn ask_expire(&mut self) {
        match self.selected() {
            Some(a) if !a.silenced_by.is_empty() => {
                self.confirm_expire = Some(a.silenced_by.clone())
            }
            Some(_) => self.notice = Some("this alert is not silenced".into()),
            None => {}
        }
    }

    /// Confirmed: expire them.
    pub fn confirm_expire(&mut self) -> Vec<ConsoleEffect> {
        let Some(ids) = self.confirm_expire.take() else {
            return Vec::new();
        };
        self.busy = true;
        ids.into_iter()
            .map(|id| ConsoleEffect::ExpireSilence { id })
            .collect()
    }
}
