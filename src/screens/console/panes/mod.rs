//! The console's pane registry: the [`panes!`] list at the bottom of this file turns one entry
//! per added pane into everything the console derives from it: the [`PaneId`] variant (focus
//! order, title, layout chunk), the pane's field in [`Panes`] (inside `ConsoleState`), its
//! client in [`PaneBackends`] (inside `ConsoleBackends`), and typed [`PaneEffect`] /
//! [`PaneEvent`] variants that carry the pane's own effect and event types through
//! `ConsoleEffect::Pane` and `ConsoleEvent::Pane` back to that pane only.
//!
//! The alerts and logs panes predate the registry and stay wired by hand (they share prompts,
//! the pivot and the split); every pane added since is one module under `panes/` plus one
//! entry here. See "Adding a backend with a console pane" in docs/code-layout.md.

use super::effects::Planned;
use super::events::ConsoleEffect;
use super::state::ConsoleAction;
use super::view::Cx;
use crate::app::Session;
use crate::backends::kube::pod_logs::PodLogRequest;
use crate::msg::BackendEvent;
use crate::runtime::effects::TaskKey;
use ratatui::Frame;
use ratatui::layout::Rect;
use std::fmt::Debug;

/// A console pane added through the registry. The model is pure (`open`, `on_event`,
/// `on_action` return effects); `plan` turns one effect into work on the pane's backend.
pub trait Pane: Debug {
    /// What the pane asks for (a query, a watch).
    type Effect: Debug + Clone + PartialEq;
    /// What comes back from its backend.
    type Event: Debug + Clone + PartialEq;
    /// Its client(s); `Default` means "not configured".
    type Backend: Debug + Clone + Default;
    /// Title in the pane's frame and in focus order.
    const TITLE: &'static str;

    /// The pane's initial state for a console of `session` (None in tests and the demo).
    fn new(session: Option<&Session>) -> Self;
    /// Its client(s) for `session`; the console builds them once.
    fn connect(_session: &Session) -> Self::Backend {
        Self::Backend::default()
    }
    /// Effects when the console opens.
    fn open(&mut self) -> Vec<Self::Effect> {
        Vec::new()
    }
    /// Effects when the console is shown again (its subscriptions were cancelled on leaving).
    fn resume(&mut self) -> Vec<Self::Effect> {
        self.open()
    }
    /// One of its own events.
    fn on_event(&mut self, ev: Self::Event) -> Vec<Self::Effect>;
    /// A console action (keymap context `console`) while this pane has focus. Focus, zoom
    /// and split are handled by the console before this.
    fn on_action(&mut self, _action: ConsoleAction, _now_ns: i64) -> Vec<Self::Effect> {
        Vec::new()
    }
    /// Draw into `area` (the pane draws its own frame, see `view::pane_block`).
    fn render(&self, f: &mut Frame, area: Rect, cx: &Cx, focused: bool);
    /// One effect -> work; `wrap` makes the backend event the runtime delivers back.
    fn plan(
        effect: Self::Effect,
        b: &Self::Backend,
        wrap: fn(Self::Event) -> BackendEvent,
    ) -> Planned;
    /// Its share of the room the panes after the first divide ([`LOGS_WEIGHT`] each unless
    /// a pane asks for less); 0: collapsed to its frame and one line (while it has nothing
    /// to show).
    fn weight(&self) -> u16 {
        LOGS_WEIGHT
    }
    /// Keys of its long-lived tasks, cancelled when the console is left.
    fn subscription_keys() -> Vec<TaskKey> {
        Vec::new()
    }
    /// Logs the pane asked the logs pane to show (`Enter` on an object), taken once after
    /// each action; the console runs it on Loki or asks [`Pane::pod_logs`] for the fallback.
    fn take_logs_request(&mut self) -> Option<LogsRequest> {
        None
    }
    /// The effect that follows `request`'s log into the logs pane's `generation` (Loki is
    /// unreachable); None: the pane cannot.
    fn pod_logs(_generation: u64, _request: PodLogRequest) -> Option<Self::Effect> {
        None
    }
}

/// The layout weight of the logs pane and of every added pane that does not ask for less.
pub const LOGS_WEIGHT: u16 = 4;

/// "Show these logs": a LogQL query for Loki and the pod to follow when Loki is unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    /// What the logs are of, for the notice ("pod media/web-1").
    pub what: String,
    pub logql: String,
    pub pod: Option<PodLogRequest>,
}

/// One entry per added pane, in focus order after alerts and logs:
///
/// ```text
/// Variant { field: module_field, pane: module::PaneType },
/// ```
macro_rules! panes {
    ($( $id:ident { field: $field:ident, pane: $pane:ty $(,)? } ),* $(,)?) => {
        /// The console's panes, in focus order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum PaneId {
            Alerts,
            Logs,
            $($id,)*
        }

        impl PaneId {
            pub const ALL: &[PaneId] = &[PaneId::Alerts, PaneId::Logs, $(PaneId::$id),*];
            pub fn title(self) -> &'static str {
                match self {
                    PaneId::Alerts => "Alerts",
                    PaneId::Logs => "Logs",
                    $(PaneId::$id => <$pane as Pane>::TITLE,)*
                }
            }
        }

        /// An added pane's effect, typed.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PaneEffect {
            $($id(<$pane as Pane>::Effect),)*
        }

        /// An added pane's event, typed; delivered to that pane only.
        #[derive(Debug, Clone, PartialEq)]
        pub enum PaneEvent {
            $($id(<$pane as Pane>::Event),)*
        }

        /// The added panes' models (a field of `ConsoleState`).
        #[derive(Debug)]
        pub struct Panes {
            $(pub $field: $pane,)*
        }

        /// The added panes' clients (a field of `ConsoleBackends`).
        #[derive(Debug, Clone, Default)]
        pub struct PaneBackends {
            $(pub $field: <$pane as Pane>::Backend,)*
        }

        impl PaneBackends {
            pub fn connect(_session: &Session) -> Self {
                Self { $($field: <$pane as Pane>::connect(_session),)* }
            }
        }

        impl Panes {
            pub fn new(_session: Option<&Session>) -> Self {
                Self { $($field: <$pane as Pane>::new(_session),)* }
            }

            pub fn open(&mut self) -> Vec<ConsoleEffect> {
                let mut _fx = Vec::new();
                $(_fx.extend(wrap(self.$field.open(), PaneEffect::$id));)*
                _fx
            }

            pub fn resume(&mut self) -> Vec<ConsoleEffect> {
                let mut _fx = Vec::new();
                $(_fx.extend(wrap(self.$field.resume(), PaneEffect::$id));)*
                _fx
            }

            pub fn on_event(&mut self, ev: PaneEvent) -> Vec<ConsoleEffect> {
                match ev {
                    $(PaneEvent::$id(e) => wrap(self.$field.on_event(e), PaneEffect::$id),)*
                }
            }

            /// `Some` when `pane` is an added pane (it took the action).
            pub fn on_action(
                &mut self,
                pane: PaneId,
                _action: ConsoleAction,
                _now_ns: i64,
            ) -> Option<Vec<ConsoleEffect>> {
                match pane {
                    $(PaneId::$id => Some(wrap(
                        self.$field.on_action(_action, _now_ns),
                        PaneEffect::$id,
                    )),)*
                    _ => None,
                }
            }

            /// The first logs request of any added pane (there is one per action at most).
            pub fn take_logs_request(&mut self) -> Option<(PaneId, LogsRequest)> {
                $(if let Some(r) = self.$field.take_logs_request() {
                    return Some((PaneId::$id, r));
                })*
                None
            }

            /// `pane`'s effect following `request` into the logs pane's `generation`.
            pub fn pod_logs(
                &self,
                pane: PaneId,
                _generation: u64,
                _request: PodLogRequest,
            ) -> Vec<ConsoleEffect> {
                match pane {
                    $(PaneId::$id => <$pane as Pane>::pod_logs(_generation, _request)
                        .map(|e| ConsoleEffect::Pane(PaneEffect::$id(e)))
                        .into_iter()
                        .collect(),)*
                    _ => Vec::new(),
                }
            }

            /// `pane`'s layout weight (after the first pane).
            pub fn weight(&self, pane: PaneId) -> u16 {
                match pane {
                    $(PaneId::$id => self.$field.weight(),)*
                    _ => LOGS_WEIGHT,
                }
            }

            /// Draws `pane` if it is an added pane.
            pub fn render(&self, pane: PaneId, _f: &mut Frame, _area: Rect, _cx: &Cx, _focused: bool) {
                match pane {
                    $(PaneId::$id => self.$field.render(_f, _area, _cx, _focused),)*
                    _ => {}
                }
            }
        }

        /// An added pane's effect -> work on its backend.
        pub fn plan(effect: PaneEffect, _b: &PaneBackends) -> Planned {
            match effect {
                $(PaneEffect::$id(e) => <$pane as Pane>::plan(e, &_b.$field, |ev| {
                    BackendEvent::Console(super::events::ConsoleEvent::Pane(PaneEvent::$id(ev)))
                }),)*
            }
        }

        /// Keys of the added panes' long-lived tasks.
        pub fn subscription_keys() -> Vec<TaskKey> {
            #[allow(unused_mut)]
            let mut keys = Vec::new();
            $(keys.extend(<$pane as Pane>::subscription_keys());)*
            keys
        }
    };
}

/// A pane's effects as console effects.
fn wrap<E>(fx: Vec<E>, f: fn(E) -> PaneEffect) -> Vec<ConsoleEffect> {
    fx.into_iter().map(|e| ConsoleEffect::Pane(f(e))).collect()
}

pub mod health;
pub mod reach;

// The registry: one line per added pane (and its `pub mod` line above the macro call).
panes! {
    Health { field: health, pane: health::HealthPane },
    Reach { field: reach, pane: reach::ReachPane },
}
