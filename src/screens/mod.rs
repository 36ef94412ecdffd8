//! Screens: one folder each, one entry each in the registry below ([`registry`] derives
//! [`ScreenId`], [`Screens`] and the event routing from it). How to add one:
//! docs/code-layout.md, "Adding a screen".

pub mod check;
pub mod console;
pub mod doctor_walk;
pub mod env;
pub mod home;
pub mod registry;
pub mod scaffold;
pub mod start;
pub mod wizard;

pub use start::StartParams;

use crate::app::{UpdateCx, ViewCx};
use crate::msg::Action;
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use registry::{Info, Job};

registry::screens! {
    Home {
        field: home,
        state: home::HomeState,
        info: Info {
            name: "home",
            title: "Home",
            blurb: "Jobs, cluster summary and repository state",
            job: None,
            needs_repo: true,
        },
    },
    Wizard {
        field: wizard,
        state: wizard::WizardState,
        events: wizard::Event,
        info: Info {
            name: "wizard",
            title: "Bootstrap",
            blurb: "Secrets -> Proxmox VMs -> k3s -> Flux -> storage -> ingress -> observability",
            job: Some(Job { key: "b", desc: "Bootstrap wizard" }),
            needs_repo: true,
        },
    },
    Console {
        field: console,
        state: console::ConsoleScreen,
        events: console::events::ConsoleEvent,
        info: Info {
            name: "console",
            title: "Console",
            blurb: "Loki logs, Prometheus and Alertmanager alerts, cluster and Flux health",
            job: Some(Job { key: "c", desc: "Day-two console" }),
            needs_repo: true,
        },
    },
    Env {
        field: env,
        state: env::EnvState,
        events: env::Event,
        info: Info {
            name: "env",
            title: "Env files",
            blurb: "Edit the SOPS-encrypted config/env/*.env files in place",
            job: Some(Job { key: "e", desc: "Env files" }),
            needs_repo: false,
        },
    },
    Scaffold {
        field: scaffold,
        state: scaffold::ScaffoldState,
        events: scaffold::Event,
        info: Info {
            name: "scaffold",
            title: "New app",
            blurb: "Scaffold an app into the tree: form, preview, check, commit, push, watch",
            job: Some(Job { key: "a", desc: "Scaffold an app" }),
            needs_repo: true,
        },
    },
    Check {
        field: check,
        state: check::CheckState,
        events: check::Event,
        info: Info {
            name: "check",
            title: "Check repository",
            blurb: "Conformance of this repository with the Stage 1 architecture",
            job: Some(Job { key: "C", desc: "Check the repository" }),
            needs_repo: true,
        },
    },
}

impl ScreenId {
    /// Name used by `open <name>` and as the keymap context.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// Title in the top bar, the home menu and the palette.
    pub fn title(self) -> &'static str {
        self.info().title
    }

    /// One line on what the screen is for.
    pub fn blurb(self) -> &'static str {
        self.info().blurb
    }

    /// Every screen's name, comma-separated (error messages).
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|s| s.name())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn from_name(name: &str) -> Option<ScreenId> {
        Self::ALL.iter().copied().find(|s| s.name() == name)
    }

    /// The home menu's jobs, in registry order.
    pub fn jobs() -> impl Iterator<Item = ScreenId> + Clone {
        Self::ALL.iter().copied().filter(|s| s.info().job.is_some())
    }
}

/// What a screen did with an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    Yes,
    /// Let the next layer (the global keymap, then the app) handle it.
    No,
}

/// The interface every screen implements. Only `view` and `on_action` are required.
///
/// Rules: never block or await here (spawn a task with `cx.spawn`), keep UI state (selection,
/// scroll) in the screen's own state, and pick colours only from `cx.theme`.
pub trait Screen {
    /// Draw into `area` (the frame between the top and bottom bars). Pure: same state, same frame.
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx);

    /// An action from the keymap (screen context first, then global) or the palette.
    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled;

    /// While true, printable keys (and Backspace, Enter, Esc, arrows...) go to `on_text_key`
    /// before the keymap sees them.
    fn text_input_active(&self) -> bool {
        false
    }

    fn on_text_key(&mut self, _key: KeyEvent, _cx: &mut UpdateCx) -> Handled {
        Handled::No
    }

    fn on_paste(&mut self, _text: &str, _cx: &mut UpdateCx) {}

    /// Mouse events inside `area` (the screen's body rect, same as `view` got).
    fn on_mouse(&mut self, _event: MouseEvent, _area: Rect, _cx: &mut UpdateCx) -> Handled {
        Handled::No
    }

    /// The user confirmed a `cx.confirm(...)` this screen asked for.
    fn on_confirmed(&mut self, _tag: &str, _cx: &mut UpdateCx) {}

    /// The user said no to (or dismissed) a `cx.confirm(...)` this screen asked for: Esc, `n`,
    /// Enter on No, a click outside. Screens waiting on an answer treat it as "no".
    fn on_declined(&mut self, _tag: &str, _cx: &mut UpdateCx) {}

    /// Every 250 ms. Return true when the screen needs a redraw (spinners, timers).
    fn on_tick(&mut self, _cx: &mut UpdateCx) -> bool {
        false
    }

    /// The screen became current (start subscriptions) / stopped being current (cancel them).
    fn on_enter(&mut self, _cx: &mut UpdateCx) {}
    fn on_leave(&mut self, _cx: &mut UpdateCx) {}

    /// What is running, if anything: quitting asks first, naming it.
    fn busy(&self) -> Option<String> {
        None
    }
}

/// A screen that owns backend events: `BackendEvent::<Screen>(E)` is delivered here and
/// nowhere else (the registry entry's `events: E` wires it).
pub trait Owner<E> {
    fn on_event(&mut self, event: E, cx: &mut UpdateCx);
}

/// How a screen is made when the TUI starts: from the session and its part of what the
/// command line asked ([`StartParams`]).
pub trait Start {
    fn start(session: &crate::app::Session, params: &StartParams) -> Self;
}
