//! Screens: one folder each, typed fields in [`Screens`], one [`ScreenId`] each.
//! How to add one: docs/code-layout.md, "Adding a screen".

pub mod check;
pub mod console;
pub mod env;
pub mod home;
pub mod start;
pub mod wizard;

pub use start::StartParams;

use crate::app::{UpdateCx, ViewCx};
use crate::msg::{Action, BackendEvent};
use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use serde::{Deserialize, Serialize};

/// Every screen the product has. A screen whose module has not landed yet still has an id
/// (the home menu and the palette list it) but `Screens::get` returns `None`, and opening it
/// says plainly that it is not available yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenId {
    Home,
    Wizard,
    Console,
    Env,
    Scaffold,
    Check,
}

impl ScreenId {
    pub const ALL: [ScreenId; 6] = [
        ScreenId::Home,
        ScreenId::Wizard,
        ScreenId::Console,
        ScreenId::Env,
        ScreenId::Scaffold,
        ScreenId::Check,
    ];

    /// Name used by `open <name>` and as the keymap context.
    pub fn name(self) -> &'static str {
        match self {
            ScreenId::Home => "home",
            ScreenId::Wizard => "wizard",
            ScreenId::Console => "console",
            ScreenId::Env => "env",
            ScreenId::Scaffold => "scaffold",
            ScreenId::Check => "check",
        }
    }

    /// Title in the top bar, the home menu and the palette.
    pub fn title(self) -> &'static str {
        match self {
            ScreenId::Home => "Home",
            ScreenId::Wizard => "Bootstrap",
            ScreenId::Console => "Console",
            ScreenId::Env => "Env files",
            ScreenId::Scaffold => "Scaffold app",
            ScreenId::Check => "Check repository",
        }
    }

    /// One line on what the screen is for.
    pub fn blurb(self) -> &'static str {
        match self {
            ScreenId::Home => "Jobs, cluster summary and repository state",
            ScreenId::Wizard => {
                "Secrets -> Proxmox VMs -> k3s -> Flux -> storage -> ingress -> observability"
            }
            ScreenId::Console => {
                "Loki logs, Prometheus and Alertmanager alerts, cluster and Flux health"
            }
            ScreenId::Env => "Edit the SOPS-encrypted config/env/*.env files in place",
            ScreenId::Scaffold => {
                "Guided app scaffolding into cluster/kubernetes/apps/, committed with git"
            }
            ScreenId::Check => "Conformance of this repository with the Stage 1 architecture",
        }
    }

    pub fn from_name(name: &str) -> Option<ScreenId> {
        Self::ALL.into_iter().find(|s| s.name() == name)
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

    /// Take a backend event if it is yours; return it untouched otherwise.
    fn on_backend(&mut self, event: BackendEvent, _cx: &mut UpdateCx) -> Option<BackendEvent> {
        Some(event)
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

/// The screens, as typed fields: state survives switching away (the console keeps its buffer).
pub struct Screens {
    pub home: home::HomeState,
    pub console: console::ConsoleScreen,
    pub env: env::EnvState,
    // --- add your screen's field below (one line), e.g. `pub env: env::EnvState,` ---
    pub check: check::CheckState,
    pub wizard: wizard::WizardState,
}

impl Screens {
    pub fn new(session: &crate::app::Session, start: &StartParams) -> Self {
        let mut screens = Self {
            home: home::HomeState::new(session),
            console: console::ConsoleScreen::new(session, &start.endpoints),
            env: env::EnvState::new(session, start.env_file.clone()),
            // --- construct your screen here ---
            check: check::CheckState::new(session),
            wizard: wizard::WizardState::new(session),
        };
        if let Some(stage) = start.wizard_stage {
            screens.wizard.pick(stage);
        }
        screens
    }

    /// The screen for `id`, or `None` while it has not landed.
    pub fn get(&self, id: ScreenId) -> Option<&dyn Screen> {
        match id {
            ScreenId::Home => Some(&self.home),
            // --- replace your `None` with `Some(&self.<field>)` ---
            ScreenId::Wizard => Some(&self.wizard),
            ScreenId::Console => Some(&self.console),
            ScreenId::Env => Some(&self.env),
            ScreenId::Scaffold => None,
            ScreenId::Check => Some(&self.check),
        }
    }

    pub fn get_mut(&mut self, id: ScreenId) -> Option<&mut dyn Screen> {
        match id {
            ScreenId::Home => Some(&mut self.home),
            // --- replace your `None` with `Some(&mut self.<field>)` ---
            ScreenId::Wizard => Some(&mut self.wizard),
            ScreenId::Console => Some(&mut self.console),
            ScreenId::Env => Some(&mut self.env),
            ScreenId::Scaffold => None,
            ScreenId::Check => Some(&mut self.check),
        }
    }

    pub fn available(&self, id: ScreenId) -> bool {
        self.get(id).is_some()
    }
}
