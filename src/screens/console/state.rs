//! The console screen's state: its panes, which one has focus, zoom and split, and the
//! dispatch of user intents ([`ConsoleAction`]) and backend events to the panes.

use super::alerts::AlertsPane;
use super::events::{ConsoleEffect, ConsoleEvent};
use super::logs::{LogsPane, LogsPrompt};
use super::pivot;
use crate::keymap::{Key, Keymap};
use crate::msg::Action;
use crossterm::event::{KeyCode, KeyEvent};

pub use super::panes::PaneId;

/// History shown when a pane opens an object's logs on Loki: the last hour.
pub const LOGS_LOOKBACK_NS: i64 = 3_600_000_000_000;

/// What the user asked the console to do (keys map to these through the keymap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleAction {
    FocusNext,
    FocusPrev,
    /// Focused pane full screen, or back.
    Zoom,
    /// Give the first pane more (`true`) or less room.
    Grow(bool),
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    /// Enter: pivot from an alert to its logs; in logs, edit the query.
    Open,
    // logs
    EditQuery,
    AddLineFilter,
    Search,
    NextMatch,
    PrevMatch,
    ToggleContext,
    ToggleFollow,
    ToggleWrap,
    ToggleTimestamps,
    ToggleLabels,
    JumpToTime,
    SetWindow,
    CopyLine,
    // alerts
    Details,
    Silence,
    Expire,
    Refresh,
    /// The incident view of the selected alert.
    Incident,
    /// Esc: close the innermost thing (prompt, form, detail, zoom).
    Back,
}

#[derive(Debug)]
pub struct ConsoleState {
    pub logs: LogsPane,
    pub alerts: AlertsPane,
    /// The panes added through the registry (`panes/mod.rs`).
    pub panes: super::panes::Panes,
    pub focus: PaneId,
    pub zoomed: bool,
    /// Share of the first pane (alerts) in percent.
    pub split: u16,
    /// Display time zone.
    pub tz: jiff::tz::TimeZone,
    /// Endpoints as shown in the header (already redacted).
    pub endpoints: EndpointsShown,
    /// The incident view, when open (an overlay that takes the console's keys).
    pub incident: Option<super::incident::IncidentView>,
    /// Generation of the newest incident view (answers of older ones are dropped).
    pub incident_generation: u64,
}

/// Where each peer is, for the header and the "not configured" hints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointsShown {
    pub loki: Option<String>,
    pub prometheus: Option<String>,
    pub alertmanager: Option<String>,
}

impl ConsoleState {
    pub fn new(author: impl Into<String>, endpoints: EndpointsShown) -> Self {
        let mut logs = LogsPane::default();
        if endpoints.loki.is_none() {
            logs.conn = super::conn::ConnState::NotConfigured;
        }
        Self {
            logs,
            alerts: AlertsPane::new(author),
            panes: super::panes::Panes::new(None),
            focus: PaneId::Alerts,
            zoomed: false,
            split: 40,
            tz: jiff::tz::TimeZone::system(),
            endpoints,
            incident: None,
            incident_generation: 0,
        }
    }

    /// Effects to run when the console opens: watch alerts, start the default query.
    /// Runs the current query again (or `default_query` when there is none), so opening twice
    /// before the first answers arrived loses nothing.
    pub fn open(&mut self, default_query: &str, now_ns: i64) -> Vec<ConsoleEffect> {
        let mut fx = self.watch_alerts();
        if self.endpoints.loki.is_some() {
            let q = if self.logs.query.is_empty() {
                default_query.to_owned()
            } else {
                self.logs.query.clone()
            };
            fx.extend(self.logs.run_query(&q, now_ns));
            fx.push(ConsoleEffect::FetchLabels);
        }
        fx.extend(self.panes.open());
        fx
    }

    /// Effects when the console is shown again: the subscriptions stopped when it was left
    /// restart (the tail from the newest buffered line; the buffer stays).
    pub fn resume(&mut self, now_ns: i64) -> Vec<ConsoleEffect> {
        let mut fx = self.watch_alerts();
        // Leaving stopped an incident view's gatherer mid-way: ask again.
        if let Some(v) = &mut self.incident
            && v.incident.loading()
        {
            self.incident_generation += 1;
            fx.push(v.regather(self.incident_generation, now_ns / 1_000_000_000));
        }
        fx.extend(self.logs.resume_tail(now_ns));
        fx.extend(self.panes.resume());
        fx
    }

    /// Start polling the configured alert sources; they show "connecting" until they answer.
    fn watch_alerts(&mut self) -> Vec<ConsoleEffect> {
        let mut any = false;
        for (configured, src) in [
            (
                self.endpoints.prometheus.is_some(),
                &mut self.alerts.prometheus,
            ),
            (
                self.endpoints.alertmanager.is_some(),
                &mut self.alerts.alertmanager,
            ),
        ] {
            if configured {
                any = true;
                if !src.loaded {
                    src.conn = super::conn::ConnState::Connecting;
                }
            }
        }
        if any {
            vec![ConsoleEffect::WatchAlerts]
        } else {
            Vec::new()
        }
    }

    /// Route a backend event to its pane.
    pub fn on_event(&mut self, ev: ConsoleEvent) -> Vec<ConsoleEffect> {
        match ev {
            ConsoleEvent::Alerts { .. }
            | ConsoleEvent::SilenceCreated(_)
            | ConsoleEvent::SilenceExpired { .. } => self.alerts.on_event(ev),
            ConsoleEvent::HistorySaved(Err(e)) => {
                self.logs.notice = Some(format!("could not save the query history: {e}"));
                Vec::new()
            }
            ConsoleEvent::HistorySaved(Ok(())) => Vec::new(),
            ConsoleEvent::Pane(ev) => self.panes.on_event(ev),
            ConsoleEvent::Incident { generation, update } => {
                if let Some(v) = &mut self.incident {
                    v.on_update(generation, update);
                }
                Vec::new()
            }
            _ => self.logs.on_event(ev, &self.tz),
        }
    }

    /// Whether a text prompt or form has the keyboard (printable keys go there first).
    pub fn text_input_active(&self) -> bool {
        self.logs.prompt.is_some() || self.alerts.silence_form.is_some()
    }

    /// A key while a prompt or form is open. Returns the effects; `None` when the key is not
    /// for the prompt (so the keymap may handle it).
    /// Accept, cancel and switch-field are the keymap's `form` bindings (what the footers show).
    pub fn input_key(
        &mut self,
        key: KeyEvent,
        keymap: &Keymap,
        now_ns: i64,
    ) -> Option<Vec<ConsoleEffect>> {
        let form_action = keymap.action("form", Key::from_event(&key), true);
        if let Some(form) = &mut self.alerts.silence_form {
            let field = if form.field == 0 {
                &mut form.duration
            } else {
                &mut form.comment
            };
            match form_action {
                Some(Action::Close) => self.alerts.silence_form = None,
                Some(Action::NextPane | Action::PrevPane) => form.field = 1 - form.field,
                Some(Action::Select | Action::Save) => {
                    return Some(self.alerts.submit_silence(now_ns / 1_000_000_000));
                }
                _ => {
                    field.on_key(key);
                }
            }
            return Some(Vec::new());
        }
        let prompt = self.logs.prompt?;
        match (form_action, key.code) {
            (Some(Action::Close), _) => {
                self.logs.prompt = None;
                self.logs.end_search();
                if prompt == LogsPrompt::Query {
                    let q = self.logs.query.clone();
                    self.logs.query_box.set_text(q);
                }
            }
            (Some(Action::Select | Action::Save), _) => {
                self.logs.prompt = None;
                return Some(match prompt {
                    LogsPrompt::Query => {
                        let q = self.logs.query_box.submit();
                        self.logs.run_query(&q, now_ns)
                    }
                    LogsPrompt::Search => {
                        let p = self.logs.prompt_input.value().to_owned();
                        self.logs.set_search(&p);
                        self.logs.end_search();
                        Vec::new()
                    }
                    LogsPrompt::Jump => {
                        let text = self.logs.prompt_input.value().to_owned();
                        let now = jiff::Timestamp::from_nanosecond(i128::from(now_ns))
                            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
                        match super::logs::jump::parse_jump(&text, now, &self.tz) {
                            Ok(ts) => self.logs.jump_to(ts, now_ns),
                            Err(e) => {
                                self.logs.notice = Some(e);
                                Vec::new()
                            }
                        }
                    }
                    LogsPrompt::Window => {
                        let text = self.logs.prompt_input.value().to_owned();
                        self.logs.set_window(&text, now_ns)
                    }
                });
            }
            (_, KeyCode::Tab) if prompt == LogsPrompt::Query => {
                self.logs.query_box.complete();
            }
            (_, KeyCode::Up) if prompt == LogsPrompt::Query => self.logs.query_box.history_prev(),
            (_, KeyCode::Down) if prompt == LogsPrompt::Query => self.logs.query_box.history_next(),
            _ if prompt == LogsPrompt::Query => {
                self.logs.query_box.on_key(key);
            }
            _ => {
                self.logs.prompt_input.on_key(key);
            }
        }
        // Live search as you type.
        if prompt == LogsPrompt::Search {
            let p = self.logs.prompt_input.value().to_owned();
            self.logs.set_search(&p);
        }
        if prompt == LogsPrompt::Query {
            return Some(self.logs.completion_effects());
        }
        Some(Vec::new())
    }

    fn open_prompt(&mut self, prompt: LogsPrompt, text: &str) {
        self.focus = PaneId::Logs;
        self.logs.prompt = Some(prompt);
        if prompt != LogsPrompt::Query {
            self.logs.prompt_input.set(text);
        }
        if prompt == LogsPrompt::Search {
            self.logs.begin_search();
        }
    }

    /// Open the incident view on the selected alert.
    pub fn open_incident(&mut self, now_ns: i64) -> Vec<ConsoleEffect> {
        let Some(alert) = self.alerts.selected() else {
            self.alerts.notice = Some("select an alert first".into());
            return Vec::new();
        };
        self.incident_generation += 1;
        let (view, fx) = super::incident::IncidentView::open(
            alert,
            self.incident_generation,
            now_ns / 1_000_000_000,
        );
        self.incident = Some(view);
        vec![fx]
    }

    /// A console action while the incident view is open: it takes them all.
    fn incident_action(&mut self, action: ConsoleAction, now_ns: i64) -> Vec<ConsoleEffect> {
        use super::incident::EnterResult;
        use ConsoleAction as A;
        let Some(v) = &mut self.incident else {
            return Vec::new();
        };
        match action {
            A::Up | A::PageUp => v.up(),
            A::Down | A::PageDown => v.down(),
            A::Top => v.top(),
            A::Bottom => v.bottom(),
            A::Back => {
                self.incident = None;
                return vec![ConsoleEffect::StopIncident];
            }
            A::Open => match v.enter() {
                EnterResult::Logs { selector, from_ns } => {
                    if self.endpoints.loki.is_none() {
                        self.alerts.notice = Some(
                            "the logs pane needs Loki: pass --loki URL or set HOMELAB_LOKI_URL"
                                .into(),
                        );
                        return Vec::new();
                    }
                    self.incident = None;
                    self.focus = PaneId::Logs;
                    self.zoomed = false;
                    let mut fx = vec![ConsoleEffect::StopIncident];
                    fx.extend(self.logs.run_history_from(&selector, from_ns, now_ns));
                    self.logs.notice = Some(format!(
                        "the incident's logs from {} before the alert; f goes live",
                        super::conn::human_secs(crate::domain::incident::LOGS_BEFORE_SECS)
                    ));
                    return fx;
                }
                EnterResult::Notice(n) => self.alerts.notice = Some(n),
                EnterResult::Nothing => {}
            },
            _ => {}
        }
        Vec::new()
    }

    /// Apply a user intent.
    pub fn apply(&mut self, action: ConsoleAction, now_ns: i64) -> Vec<ConsoleEffect> {
        use ConsoleAction as A;
        if self.incident.is_some() {
            return self.incident_action(action, now_ns);
        }
        let logs = self.focus == PaneId::Logs;
        if !matches!(action, A::FocusNext | A::FocusPrev | A::Zoom | A::Grow(_))
            && let Some(mut fx) = self.panes.on_action(self.focus, action, now_ns)
        {
            if action == A::Back && fx.is_empty() {
                self.zoomed = false;
            }
            if let Some((pane, request)) = self.panes.take_logs_request() {
                fx.extend(self.open_logs(pane, request, now_ns));
            }
            return fx;
        }
        match action {
            A::FocusNext | A::FocusPrev => {
                let i = PaneId::ALL
                    .iter()
                    .position(|p| *p == self.focus)
                    .unwrap_or(0);
                let n = PaneId::ALL.len();
                let j = if action == A::FocusNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                self.focus = PaneId::ALL[j];
            }
            A::Zoom => self.zoomed = !self.zoomed,
            A::Grow(more) => {
                self.split = if more {
                    (self.split + 5).min(80)
                } else {
                    self.split.saturating_sub(5).max(20)
                };
            }
            A::Up if logs => self.logs.select_up(),
            A::Down if logs => self.logs.select_down(),
            A::PageUp if logs => self.logs.page_up(),
            A::PageDown if logs => self.logs.page_down(),
            A::Top if logs => self.logs.top(),
            A::Bottom if logs => self.logs.follow(),
            A::Up => self.alerts.select_prev(),
            A::Down => self.alerts.select_next(),
            A::PageUp | A::Top => self.alerts.select_first(),
            A::PageDown | A::Bottom => self.alerts.select_last(),
            A::Open if logs => self.open_prompt(LogsPrompt::Query, ""),
            A::Open => return self.pivot(now_ns),
            A::EditQuery => {
                self.open_prompt(LogsPrompt::Query, "");
                return self.logs.completion_effects();
            }
            A::AddLineFilter => {
                self.open_prompt(LogsPrompt::Query, "");
                let q = format!("{} |= \"\"", self.logs.query_box.text().trim_end());
                self.logs.query_box.set_text(q);
                let end = self.logs.query_box.text().len() - 1;
                self.logs.query_box.set_cursor(end);
            }
            A::Search => {
                let current = self
                    .logs
                    .search
                    .as_ref()
                    .map(|s| s.pattern.clone())
                    .unwrap_or_default();
                self.open_prompt(LogsPrompt::Search, &current);
            }
            A::NextMatch => self.logs.next_match(true),
            A::PrevMatch => self.logs.next_match(false),
            A::ToggleContext => self.logs.toggle_context(),
            A::ToggleFollow => return self.logs.toggle_follow(now_ns),
            A::ToggleWrap => self.logs.wrap = !self.logs.wrap,
            A::ToggleTimestamps => self.logs.show_time = !self.logs.show_time,
            A::ToggleLabels => self.logs.show_labels = !self.logs.show_labels,
            A::JumpToTime => self.open_prompt(LogsPrompt::Jump, ""),
            A::SetWindow => {
                let w = self.logs.window;
                self.open_prompt(LogsPrompt::Window, &format!("{}m {}", w.minutes, w.lines));
            }
            A::CopyLine => return self.logs.copy_selected(),
            A::Details => self.alerts.toggle_detail(),
            A::Silence => self.alerts.open_silence_form(),
            A::Expire => self.alerts.ask_expire(),
            A::Refresh => return vec![ConsoleEffect::RefreshAlerts],
            A::Incident => return self.open_incident(now_ns),
            A::Back => {
                if self.alerts.confirm_expire.is_some() {
                    self.alerts.confirm_expire = None;
                } else if self.alerts.detail {
                    self.alerts.detail = false;
                } else if self.zoomed {
                    self.zoomed = false;
                } else if self.logs.search.is_some() && logs {
                    self.logs.clear_search();
                }
            }
        }
        Vec::new()
    }

    /// Confirmation answer for the pending expire (y / n).
    pub fn confirm(&mut self, yes: bool) -> Vec<ConsoleEffect> {
        if yes {
            self.alerts.confirm_expire()
        } else {
            self.alerts.confirm_expire = None;
            Vec::new()
        }
    }

    /// A pane asked for logs (`Enter` on a pod or a Flux object): the LogQL query on Loki
    /// (history from [`LOGS_LOOKBACK_NS`] ago, then live), or, when Loki is not configured or
    /// unreachable, the pod log API through the pane's backend. The logs pane says which.
    pub fn open_logs(
        &mut self,
        pane: PaneId,
        request: super::panes::LogsRequest,
        now_ns: i64,
    ) -> Vec<ConsoleEffect> {
        use super::conn::ConnState;
        self.focus = PaneId::Logs;
        self.zoomed = false;
        let loki_down = matches!(
            self.logs.conn,
            ConnState::Failed { .. } | ConnState::Reconnecting { .. }
        );
        if self.endpoints.loki.is_some() && !loki_down {
            let fx = self.logs.run_query_from(
                &request.logql,
                now_ns.saturating_sub(LOGS_LOOKBACK_NS),
                now_ns,
            );
            self.logs.notice = Some(format!("logs of {} from Loki", request.what));
            return fx;
        }
        let why = if self.endpoints.loki.is_none() {
            "Loki is not configured"
        } else {
            "Loki is unreachable"
        };
        let Some(pod) = request.pod else {
            self.logs.notice = Some(format!(
                "no logs for {}: {why} and it has no pod to follow",
                request.what
            ));
            return Vec::new();
        };
        let generation = self
            .logs
            .begin_external(&format!("pod log API: {}/{}", pod.namespace, pod.pod));
        let mut fx = vec![ConsoleEffect::StopTail];
        fx.extend(self.panes.pod_logs(pane, generation, pod));
        self.logs.notice = Some(format!(
            "logs of {} from the pod log API ({why})",
            request.what
        ));
        fx
    }

    /// Enter on an alert: its logs, from a little before it started, live.
    pub fn pivot(&mut self, now_ns: i64) -> Vec<ConsoleEffect> {
        let Some(alert) = self.alerts.selected().cloned() else {
            return Vec::new();
        };
        if self.endpoints.loki.is_none() {
            self.alerts.notice =
                Some("pivot needs Loki: pass --loki URL or set HOMELAB_LOKI_URL".into());
            return Vec::new();
        }
        let query = pivot::pivot_query(&alert);
        let start = pivot::pivot_start_ns(&alert, now_ns / 1_000_000_000);
        self.focus = PaneId::Logs;
        self.zoomed = false;
        let fx = self.logs.run_query_from(&query, start, now_ns);
        self.logs.notice = Some(format!(
            "logs for alert {}, from {} before it started",
            alert.name(),
            super::conn::human_secs(pivot::LOOKBACK_SECS)
        ));
        fx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::{Alert, AlertState};

    fn console(loki: bool) -> ConsoleState {
        let endpoints = EndpointsShown {
            loki: loki.then(|| "http://loki".to_string()),
            prometheus: Some("http://prom".into()),
            alertmanager: Some("http://am".into()),
        };
        ConsoleState::new("t", endpoints)
    }

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, crossterm::event::KeyModifiers::NONE)
    }

    #[test]
    fn line_filter_puts_the_cursor_inside_the_quotes() {
        let mut st = console(true);
        st.logs.run_query(r#"{app="web"}"#, 0);
        st.apply(ConsoleAction::AddLineFilter, 0);
        assert_eq!(st.focus, PaneId::Logs);
        for c in "timeout".chars() {
            st.input_key(key(KeyCode::Char(c)), &Keymap::builtin(), 0);
        }
        assert_eq!(st.logs.query_box.text(), r#"{app="web"} |= "timeout""#);
        let fx = st
            .input_key(key(KeyCode::Enter), &Keymap::builtin(), 5)
            .unwrap();
        assert!(
            matches!(&fx[0], ConsoleEffect::QueryLogs { query, .. } if query.query == r#"{app="web"} |= "timeout""#)
        );
        assert_eq!(
            st.logs.query_box.history().last().unwrap(),
            r#"{app="web"} |= "timeout""#
        );
    }

    #[test]
    fn esc_in_the_query_box_restores_the_running_query() {
        let mut st = console(true);
        st.logs.run_query(r#"{app="web"}"#, 0);
        st.apply(ConsoleAction::EditQuery, 0);
        st.input_key(key(KeyCode::Char('x')), &Keymap::builtin(), 0);
        st.input_key(key(KeyCode::Esc), &Keymap::builtin(), 0);
        assert_eq!(st.logs.prompt, None);
        assert_eq!(st.logs.query_box.text(), r#"{app="web"}"#);
    }

    #[test]
    fn focus_zoom_and_split_stay_in_bounds() {
        let mut st = console(true);
        assert_eq!(st.focus, PaneId::Alerts);
        st.apply(ConsoleAction::FocusNext, 0);
        assert_eq!(st.focus, PaneId::Logs);
        // Focus cycles every pane, the registry's too.
        for _ in 0..PaneId::ALL.len() {
            st.apply(ConsoleAction::FocusNext, 0);
        }
        assert_eq!(st.focus, PaneId::Logs);
        st.apply(ConsoleAction::FocusPrev, 0);
        assert_eq!(st.focus, PaneId::Alerts);
        st.apply(ConsoleAction::FocusPrev, 0);
        assert_eq!(st.focus, *PaneId::ALL.last().unwrap());
        for _ in 0..20 {
            st.apply(ConsoleAction::Grow(true), 0);
        }
        assert_eq!(st.split, 80);
        for _ in 0..20 {
            st.apply(ConsoleAction::Grow(false), 0);
        }
        assert_eq!(st.split, 20);
        st.apply(ConsoleAction::Zoom, 0);
        assert!(st.zoomed);
        st.apply(ConsoleAction::Back, 0);
        assert!(!st.zoomed);
    }

    #[test]
    fn pivot_needs_loki_and_says_so() {
        let mut st = console(false);
        let labels = [("alertname", "X"), ("namespace", "media")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut alert = Alert::new(labels, Default::default(), AlertState::Firing);
        alert.active_since = Some(100);
        st.alerts.alerts = vec![alert];
        st.alerts.select_first();
        assert!(st.apply(ConsoleAction::Open, 0).is_empty());
        assert!(st.alerts.notice.as_deref().unwrap().contains("--loki"));
        let mut st2 = console(true);
        st2.alerts.alerts = st.alerts.alerts.clone();
        st2.alerts.select_first();
        let fx = st2.apply(ConsoleAction::Open, 1_000_000_000_000);
        assert_eq!(st2.focus, PaneId::Logs);
        assert!(matches!(&fx[0], ConsoleEffect::QueryLogs { query, .. }
            if query.query == r#"{namespace="media"}"# && query.start_ns == (100 - 300) * 1_000_000_000));
    }

    /// The silence form's keys and its footer both come from the keymap's `form` context: with
    /// accept rebound to Ctrl-o, Enter types nothing special and Ctrl-o submits, and the footer
    /// says Ctrl-o.
    #[test]
    fn silence_form_keys_and_labels_follow_a_rebound_keymap() {
        let user = "form = [\n  { keys = [\"ctrl-o\"], run = \"select\" },\n  { keys = [\"ctrl-g\"], run = \"close\" },\n]\n";
        let (keymap, issues) =
            crate::keymap::load::parse(user, "keymap.toml", Some(&Keymap::builtin()));
        assert!(issues.is_empty(), "{issues:?}");
        let mut st = console(true);
        let labels = [("alertname", "X")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        st.alerts.alerts = vec![Alert::new(labels, Default::default(), AlertState::Firing)];
        st.alerts.select_first();
        st.alerts.alertmanager.loaded = true;
        st.apply(ConsoleAction::Silence, 0);
        assert!(st.alerts.silence_form.is_some());

        let theme = crate::theme::ThemeCatalog::builtin().load("homelab-dark").0;
        let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(100, 20)).unwrap();
        term.draw(|f| {
            let cx = super::super::view::Cx {
                theme: &theme,
                keymap: &keymap,
                now_s: 0,
            };
            super::super::view::render_console(&st, f, f.area(), &cx);
        })
        .unwrap();
        let screen = term.backend().to_string();
        assert!(screen.contains("Ctrl-o create"), "{screen}");
        assert!(screen.contains("Ctrl-g cancel"), "{screen}");
        assert!(!screen.contains("Enter create"), "{screen}");

        // Enter is no longer "accept": it submits nothing (no "comment required" complaint).
        let error = |st: &ConsoleState| {
            st.alerts
                .silence_form
                .as_ref()
                .and_then(|f| f.error.clone())
        };
        assert_eq!(
            st.input_key(key(KeyCode::Enter), &keymap, 0),
            Some(Vec::new())
        );
        assert_eq!(error(&st), None);
        let ctrl = |c| KeyEvent::new(KeyCode::Char(c), crossterm::event::KeyModifiers::CONTROL);
        st.input_key(ctrl('o'), &keymap, 0);
        assert!(
            error(&st).is_some_and(|e| e.contains("comment is required")),
            "Ctrl-o submits"
        );
        st.input_key(ctrl('g'), &keymap, 0);
        assert!(
            st.alerts.silence_form.is_none(),
            "the rebound cancel key closes the form"
        );
    }
}
