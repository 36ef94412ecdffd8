//! The app: one owner of all UI state. `update` (in update.rs) changes it and never awaits;
//! `view` (view.rs) draws it and never changes it.

pub mod bars;
mod cluster_switch;
mod context;
mod event;
pub mod layout;
mod route;
mod toast;
mod toasts_view;
mod update;
mod view;

pub use context::{Badge, Command, RepoState, Session, UpdateCx, ViewCx};
pub use event::Event;
pub use toast::{Toast, Toasts};
pub use update::{init, update};
pub use view::view;

use crate::keymap::Keymap;
use crate::overlays::Overlay;
use crate::screens::{ScreenId, Screens};
use crate::theme::{Level, Theme, ThemeCatalog};
use ratatui::layout::Rect;

/// Everything the UI shows. Screens keep their own state (`screens`); the app keeps the frame:
/// which screen is current, the overlay stack, toasts, theme and keymap.
pub struct App {
    pub session: Session,
    pub screens: Screens,
    pub current: ScreenId,
    /// Screens to go back to (`q`/Esc).
    pub history: Vec<ScreenId>,
    pub overlays: Vec<Overlay>,
    pub toasts: Toasts,
    pub status: Option<(Level, String)>,
    pub theme: Theme,
    pub themes: ThemeCatalog,
    /// NO_COLOR: every theme is shown without colours.
    pub no_color: bool,
    pub keymap: Keymap,
    /// Terminal size (the runtime keeps it current; tests set it).
    pub size: Rect,
    pub tick: u64,
    /// Something changed since the last frame.
    pub dirty: bool,
    pub quitting: bool,
    /// While the palette highlights a theme: its name and the theme to go back to.
    pub(crate) theme_preview: Option<(String, Theme)>,
    /// What the command line asked of the screens; a cluster switch builds them again from it.
    pub(crate) start: crate::screens::StartParams,
    /// Effects produced while handling the current message.
    pub(crate) effects: crate::runtime::effects::Effects,
}

/// How to build an [`App`]: everything decided before the TUI starts.
pub struct AppOptions {
    pub session: Session,
    pub theme_name: String,
    pub themes: ThemeCatalog,
    pub keymap: Keymap,
    pub no_color: bool,
    /// Diagnostics from loading themes, keymap or config; shown as toasts at startup.
    pub startup_warnings: Vec<(Level, String)>,
    /// What the command line asks of the screens (`homelab console --loki`, `env edit FILE`...).
    pub start: crate::screens::StartParams,
}

impl App {
    pub fn new(opts: AppOptions) -> Self {
        let (theme, theme_diags) = opts.themes.load(&opts.theme_name);
        let theme = if opts.no_color {
            theme.without_colors()
        } else {
            theme
        };
        let screens = Screens::new(&opts.session, &opts.start);
        let mut app = Self {
            session: opts.session,
            screens,
            current: ScreenId::Home,
            history: Vec::new(),
            overlays: Vec::new(),
            toasts: Toasts::default(),
            status: None,
            theme,
            themes: opts.themes,
            no_color: opts.no_color,
            keymap: opts.keymap,
            size: Rect::new(0, 0, 80, 24),
            tick: 0,
            dirty: true,
            quitting: false,
            theme_preview: None,
            start: opts.start,
            effects: Vec::new(),
        };
        for (level, text) in opts.startup_warnings {
            app.toasts.push(level, text, 0);
        }
        for d in theme_diags {
            app.toasts.push(Level::Error, format!("theme: {d}"), 0);
        }
        app
    }

    /// Switch theme by name (palette `theme <name>`). Problems become an error toast; the
    /// theme still switches to whatever resolved (a fallback at worst).
    pub fn set_theme(&mut self, name: &str) {
        let (theme, diags) = self.themes.load(name);
        self.theme = if self.no_color {
            theme.without_colors()
        } else {
            theme
        };
        for d in &diags {
            self.toasts
                .push(Level::Error, format!("theme: {d}"), self.tick);
        }
        if diags.is_empty() {
            self.status = Some((Level::Info, format!("Theme: {}", self.theme.name)));
        }
        self.dirty = true;
    }

    /// Show theme `name` without committing to it (the palette previews the highlighted theme).
    pub(crate) fn preview_theme(&mut self, name: &str) {
        if self.theme_preview.as_ref().is_some_and(|(n, _)| n == name) {
            return;
        }
        let (theme, _) = self.themes.load(name);
        let theme = if self.no_color {
            theme.without_colors()
        } else {
            theme
        };
        let original = match self.theme_preview.take() {
            Some((_, original)) => original,
            None => self.theme.clone(),
        };
        self.theme = theme;
        self.theme_preview = Some((name.to_owned(), original));
    }

    /// Back to the theme from before the preview, if one is showing.
    pub(crate) fn end_theme_preview(&mut self) {
        if let Some((_, original)) = self.theme_preview.take() {
            self.theme = original;
        }
    }

    /// The view context for a frame at `now`.
    pub fn view_cx(&self, now: jiff::Timestamp) -> ViewCx<'_> {
        ViewCx {
            theme: &self.theme,
            keymap: &self.keymap,
            session: &self.session,
            now,
            tick: self.tick,
        }
    }

    /// Keymap context currently receiving keys: the top overlay's or the screen's.
    pub fn context(&self) -> &'static str {
        self.overlays
            .last()
            .map(Overlay::context)
            .unwrap_or(self.current.name())
    }
}
