//! The day-two console: an alerts pane (Prometheus + Alertmanager) and a logs pane (Loki),
//! with room for a cluster-health pane. The models (`logs`, `alerts`, `state`) are pure; this
//! file plugs them into the app: keymap actions in, keyed tasks out, backend events back.

pub mod alerts;
pub mod conn;
pub mod credentials;
pub mod effects;
pub mod endpoints;
pub mod events;
pub mod forwarded;
pub mod history;
pub mod incident;
pub mod logs;
pub mod panes;
pub mod pivot;
pub mod state;
pub mod view;

use crate::app::{Badge, Session, UpdateCx, ViewCx};
use crate::backends::endpoint::{Auth, Timeouts};
use crate::backends::loki::LokiClient;
use crate::backends::prom::{AlertmanagerClient, PrometheusClient};
use crate::msg::{Action, BackendEvent};
use crate::overlays::confirm::ConfirmState;
use crate::runtime::effects::{Task, TaskKey};
use crate::screens::{Handled, Owner, Screen};
use crate::theme::Health;
use conn::ConnState;
use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};
use effects::{ConsoleBackends, Planned};
use events::{ConsoleEffect, ConsoleEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use state::{ConsoleAction, ConsoleState, EndpointsShown, PaneId};
use std::io::Write;

/// The query the logs pane starts with: every namespace.
pub const DEFAULT_QUERY: &str = r#"{namespace=~".+"}"#;

const EXPIRE_TAG: &str = "console:expire";

pub struct ConsoleScreen {
    pub state: ConsoleState,
    backends: ConsoleBackends,
    opened: bool,
    /// Warnings to show once the screen opens (bad URLs, unreadable credentials).
    notes: Vec<String>,
    /// Where the LogQL history is kept (None: not persisted).
    history_file: Option<std::path::PathBuf>,
    /// Credentials still to read from the SOPS env file before the first query.
    credentials: Option<credentials::CredentialSource>,
    /// The endpoints, to rebuild the clients once credentials are known.
    resolved: Option<endpoints::Resolved>,
    /// Port-forwards to the peers the cluster definition gives no URL for.
    _forwards: forwarded::Forwards,
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// Clients for the resolved endpoints with `auth`; bad URLs become notes.
fn build_backends(r: &endpoints::Resolved, auth: Auth, notes: &mut Vec<String>) -> ConsoleBackends {
    let t = Timeouts::default();
    ConsoleBackends {
        loki: client(&r.loki, notes, |u| {
            LokiClient::new(u, auth.clone(), t)?.with_ca_file(r.ca_files.loki.as_deref())
        }),
        prometheus: client(&r.prometheus, notes, |u| {
            PrometheusClient::new(u, auth.clone(), t)?
                .with_ca_file(r.ca_files.prometheus.as_deref())
        }),
        alertmanager: client(&r.alertmanager, notes, |u| {
            AlertmanagerClient::new(u, auth.clone(), t)?
                .with_ca_file(r.ca_files.alertmanager.as_deref())
        }),
        ..ConsoleBackends::default()
    }
}

/// A client for a configured endpoint; a bad URL becomes a note for the operator.
fn client<T>(
    ep: &Option<endpoints::Endpoint>,
    notes: &mut Vec<String>,
    make: impl FnOnce(&str) -> Result<T, crate::backends::endpoint::EndpointError>,
) -> Option<T> {
    let e = ep.as_ref()?;
    make(&e.url).map_err(|err| notes.push(err.to_string())).ok()
}

fn author() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "operator".into());
    format!("{user} (homelab console)")
}

impl ConsoleScreen {
    /// Endpoints from `homelab console` flags (`overrides`), HOMELAB_*_URL, then the cluster
    /// config.
    pub fn new(session: &Session, overrides: &endpoints::EndpointOverrides) -> Self {
        let cfg = session
            .cluster
            .config
            .as_ref()
            .ok()
            .map(|c| &c.observability);
        let env_file = crate::config::env_file(&session.repo_root, &session.cluster.name);
        let mut r = endpoints::resolve(overrides, cfg, &env_file, &|k| std::env::var(k).ok());
        r.ca_files = endpoints::ca_files(cfg, &session.repo_root);
        let kube = forwarded::Kube::for_cluster(&session.cluster.name);
        let (forwards, forward_notes) = forwarded::fill_from(
            &mut r,
            &kube,
            cfg,
            std::sync::Arc::new(|e| tracing::warn!("console: {e}")),
        );
        let mut notes = r.notes.clone();
        notes.extend(forward_notes);
        let mut backends = build_backends(&r, r.auth.clone(), &mut notes);
        backends.panes = panes::PaneBackends::connect(session);
        backends.incident = Some(std::sync::Arc::new(
            incident::connect::IncidentConnect::for_session(session),
        ));
        let mut screen = Self::with_backends(backends, author(), notes);
        screen.state.panes = panes::Panes::new(Some(session));
        screen.credentials = r.credentials.clone();
        // The connection line of a forwarded peer names the Service it reaches.
        let shown = &mut screen.state.endpoints;
        for (slot, ep) in [
            (&mut shown.loki, &r.loki),
            (&mut shown.prometheus, &r.prometheus),
            (&mut shown.alertmanager, &r.alertmanager),
        ] {
            if let (Some(text), Some(e)) = (slot.as_mut(), ep)
                && let endpoints::Origin::PortForward(svc) = &e.origin
            {
                *text = forwarded::via(text, svc);
            }
        }
        screen._forwards = forwards;
        screen.resolved = Some(r);
        screen
    }

    /// A console on the given clients (tests, demo).
    pub fn with_backends(backends: ConsoleBackends, author: String, notes: Vec<String>) -> Self {
        let shown = EndpointsShown {
            loki: backends
                .loki
                .as_ref()
                .map(|c| c.endpoint().base().to_string()),
            prometheus: backends
                .prometheus
                .as_ref()
                .map(|c| c.endpoint().base().to_string()),
            alertmanager: backends
                .alertmanager
                .as_ref()
                .map(|c| c.endpoint().base().to_string()),
        };
        let state = ConsoleState::new(author, shown);
        Self {
            state,
            backends,
            opened: false,
            notes,
            history_file: None,
            credentials: None,
            resolved: None,
            _forwards: forwarded::Forwards::default(),
        }
    }

    pub fn backends(&self) -> &ConsoleBackends {
        &self.backends
    }

    /// Hand the effects to the runtime as keyed tasks.
    fn run(&mut self, effects: Vec<ConsoleEffect>, cx: &mut UpdateCx) {
        for fx in effects {
            for p in effects::plan(fx, &self.backends) {
                match p {
                    Planned::Spawn(task) => cx.spawn(task),
                    Planned::Cancel(key) => cx.cancel(key),
                    Planned::Notify => self.backends.refresh.notify_waiters(),
                    Planned::Terminal(seq) => {
                        // Between frames, on the UI task: cannot interleave with a draw.
                        let mut out = std::io::stdout();
                        let _ = out.write_all(seq.as_bytes());
                        let _ = out.flush();
                    }
                    Planned::Nothing => {}
                }
            }
        }
        self.update_badges(cx);
    }

    /// Write the LogQL history in a blocking task (never on the UI task).
    fn save_history(&self, cx: &mut UpdateCx) {
        let Some(path) = self.history_file.clone() else {
            return;
        };
        let history = self.state.logs.query_box.history().to_vec();
        cx.spawn(Task::blocking(
            TaskKey::new("console:history"),
            "save the LogQL history",
            move || {
                let result =
                    history::save(&path, &history).map_err(|e| format!("{}: {e}", path.display()));
                BackendEvent::Console(events::ConsoleEvent::HistorySaved(result))
            },
        ));
    }

    fn update_badges(&self, cx: &mut UpdateCx) {
        let health = |c: &ConnState| match c {
            ConnState::NotConfigured | ConnState::Connecting => Health::Unknown,
            ConnState::Live => Health::Live,
            ConnState::Reconnecting { .. } => Health::Degraded,
            ConnState::Failed { .. } => Health::Down,
        };
        cx.set_badge(Badge::Loki, health(&self.state.logs.conn));
        // The health pane is the console's Kubernetes connection; without a kubeconfig it
        // leaves the badge as the wizard set it.
        let kube = &self.state.panes.health.conn;
        if !matches!(kube, ConnState::NotConfigured) {
            cx.set_badge(Badge::Kube, health(kube));
        }
        let (p, a) = (
            health(&self.state.alerts.prometheus.conn),
            health(&self.state.alerts.alertmanager.conn),
        );
        // The alerts badge shows the worse of its two sources.
        let rank = |h: Health| match h {
            Health::Down => 3,
            Health::Degraded => 2,
            Health::Live => 1,
            Health::Unknown => 0,
        };
        cx.set_badge(Badge::Prometheus, if rank(p) >= rank(a) { p } else { a });
    }

    fn translate(action: &Action) -> Option<ConsoleAction> {
        use ConsoleAction as C;
        Some(match action {
            Action::NextPane => C::FocusNext,
            Action::PrevPane => C::FocusPrev,
            Action::Zoom => C::Zoom,
            Action::Grow => C::Grow(true),
            Action::Shrink => C::Grow(false),
            Action::Up => C::Up,
            Action::Down => C::Down,
            Action::PageUp => C::PageUp,
            Action::PageDown => C::PageDown,
            Action::Top => C::Top,
            Action::Bottom => C::Bottom,
            Action::Select => C::Open,
            Action::Edit => C::EditQuery,
            Action::LineFilter => C::AddLineFilter,
            Action::Search => C::Search,
            Action::NextMatch => C::NextMatch,
            Action::PrevMatch => C::PrevMatch,
            Action::ContextLines => C::ToggleContext,
            Action::Follow => C::ToggleFollow,
            Action::Wrap => C::ToggleWrap,
            Action::Timestamps => C::ToggleTimestamps,
            Action::Labels => C::ToggleLabels,
            Action::JumpTo => C::JumpToTime,
            Action::Window => C::SetWindow,
            Action::Copy => C::CopyLine,
            Action::Details => C::Details,
            Action::Silence => C::Silence,
            Action::Expire => C::Expire,
            Action::Refresh => C::Refresh,
            Action::Incident => C::Incident,
            _ => return None,
        })
    }
}

impl Screen for ConsoleScreen {
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        view::render_console(
            &self.state,
            frame,
            area,
            &view::Cx {
                theme: cx.theme,
                keymap: cx.keymap,
                now_s: cx.now.as_second(),
            },
        );
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        if matches!(action, Action::Close | Action::Back) {
            let st = &self.state;
            let something_open = st.incident.is_some()
                || st.alerts.detail
                || st.zoomed
                || (st.focus == PaneId::Logs && st.logs.search.is_some());
            if !something_open {
                return Handled::No;
            }
            let fx = self.state.apply(ConsoleAction::Back, now_ns());
            self.run(fx, cx);
            return Handled::Yes;
        }
        let Some(a) = Self::translate(action) else {
            return Handled::No;
        };
        let fx = self.state.apply(a, now_ns());
        if a == ConsoleAction::Expire
            && let Some(ids) = &self.state.alerts.confirm_expire
        {
            let name = self
                .state
                .alerts
                .selected()
                .map(|al| al.name().to_owned())
                .unwrap_or_default();
            cx.confirm(ConfirmState::new(
                EXPIRE_TAG,
                "Expire silence",
                format!(
                    "Expire {} muting {name}? It will notify again.",
                    ids.join(", ")
                ),
            ));
        }
        self.run(fx, cx);
        if let Some(n) = self.state.alerts.notice.take() {
            cx.status(n);
        }
        Handled::Yes
    }

    fn text_input_active(&self) -> bool {
        self.state.text_input_active()
    }

    fn on_text_key(&mut self, key: KeyEvent, cx: &mut UpdateCx) -> Handled {
        let before = self.state.logs.query_box.history().to_vec();
        match self.state.input_key(key, cx.keymap, now_ns()) {
            Some(fx) => {
                self.run(fx, cx);
                if self.state.logs.query_box.history() != before.as_slice() {
                    self.save_history(cx);
                }
                Handled::Yes
            }
            None => Handled::No,
        }
    }

    fn on_paste(&mut self, text: &str, _cx: &mut UpdateCx) {
        let st = &mut self.state;
        if let Some(form) = &mut st.alerts.silence_form {
            let field = if form.field == 0 {
                &mut form.duration
            } else {
                &mut form.comment
            };
            field.insert_str(text);
            return;
        }
        match st.logs.prompt {
            Some(logs::LogsPrompt::Query) => st.logs.query_box.insert_str(text),
            Some(_) => st.logs.prompt_input.insert_str(text),
            None => {}
        }
    }

    fn on_mouse(&mut self, event: MouseEvent, area: Rect, _cx: &mut UpdateCx) -> Handled {
        let pos = ratatui::layout::Position::new(event.column, event.row);
        let Some((pane, _)) = view::pane_areas(&self.state, area)
            .into_iter()
            .find(|(_, r)| r.contains(pos))
        else {
            return Handled::No;
        };
        match event.kind {
            MouseEventKind::Down(_) => self.state.focus = pane,
            MouseEventKind::ScrollUp if pane == PaneId::Logs => self.state.logs.scroll_up(3),
            MouseEventKind::ScrollDown if pane == PaneId::Logs => self.state.logs.scroll_down(3),
            MouseEventKind::ScrollUp => self.state.alerts.select_prev(),
            MouseEventKind::ScrollDown => self.state.alerts.select_next(),
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn on_confirmed(&mut self, tag: &str, cx: &mut UpdateCx) {
        if tag == EXPIRE_TAG {
            let fx = self.state.confirm(true);
            self.run(fx, cx);
        }
    }

    fn on_enter(&mut self, cx: &mut UpdateCx) {
        for n in std::mem::take(&mut self.notes) {
            cx.warn(n);
        }
        if !self.opened && self.history_file.is_none() {
            // A few hundred short lines at most: read once, on first open.
            self.history_file = history::path();
            if let Some(p) = &self.history_file {
                self.state.logs.query_box.set_history(history::load(p));
            }
        }
        // Credentials first (decrypting is blocking work: a task, never the UI task). Asked on
        // every enter until they arrive, so an enter whose effects never ran loses nothing.
        if let Some(src) = self.credentials.clone() {
            self.state.logs.notice = Some(format!(
                "reading credentials from {}…",
                src.env_file.display()
            ));
            cx.spawn(Task::blocking(
                TaskKey::new("console:credentials"),
                "read the observability credentials",
                move || {
                    BackendEvent::Console(events::ConsoleEvent::CredentialsLoaded(
                        credentials::load(&src),
                    ))
                },
            ));
            return;
        }
        // Resume only once the first query has answered: effects of an enter that never ran
        // (the screen opened before the runtime started) must not be lost.
        let fx = if self.opened && !self.state.logs.loading {
            self.state.resume(now_ns())
        } else {
            self.opened = true;
            self.state.open(DEFAULT_QUERY, now_ns())
        };
        self.run(fx, cx);
    }

    fn on_leave(&mut self, cx: &mut UpdateCx) {
        for key in effects::subscription_keys() {
            cx.cancel(key);
        }
    }
}

impl Owner<ConsoleEvent> for ConsoleScreen {
    fn on_event(&mut self, event: ConsoleEvent, cx: &mut UpdateCx) {
        match event {
            ConsoleEvent::CredentialsLoaded(result) => {
                self.credentials = None;
                self.state.logs.notice = None;
                let auth = result.unwrap_or_else(|e| {
                    cx.warn(format!(
                        "no credentials for Loki/Prometheus/Alertmanager: {e}"
                    ));
                    Auth::None
                });
                if let Some(r) = &self.resolved {
                    let mut notes = Vec::new();
                    let refresh = self.backends.refresh.clone();
                    let panes = std::mem::take(&mut self.backends.panes);
                    let incident = self.backends.incident.take();
                    self.backends = ConsoleBackends {
                        refresh,
                        panes,
                        incident,
                        ..build_backends(r, auth, &mut notes)
                    };
                }
                self.opened = true;
                let fx = self.state.open(DEFAULT_QUERY, now_ns());
                self.run(fx, cx);
            }
            ev => {
                let fx = self.state.on_event(ev);
                self.run(fx, cx);
                if let Some(n) = self.state.alerts.notice.take() {
                    cx.status(n);
                }
            }
        }
    }
}

impl super::Start for ConsoleScreen {
    fn start(session: &Session, params: &super::StartParams) -> Self {
        Self::new(session, &params.endpoints)
    }
}
