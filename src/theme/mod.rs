//! Semantic colour themes. Widgets never name raw colours: they ask the theme for a slot
//! (`theme.ui.border`, `theme.border(focused)`, `theme.badge(health)`).
//!
//! Themes are TOML files in `themes/` (embedded), sectioned like the structs below, with a
//! `[palette]` of named colours the slots refer to. A theme may `inherits = "other"`; a user
//! file in `$XDG_CONFIG_HOME/homelab/themes/<name>.toml` overlays the builtin of the same name
//! (or defines a new theme). See `load.rs`.

mod load;

pub use load::{BUILTIN, DEFAULT_THEME, ThemeCatalog};

use ratatui::style::{Color, Modifier, Style};

/// Declares the theme sections: for each, a struct of `Style` slots plus the key table the
/// loader uses. Adding a slot = adding its name here and a line in themes/homelab-dark.toml.
macro_rules! theme_sections {
    ($( $(#[$sm:meta])* $section:ident : $ty:ident { $( $(#[$m:meta])* $slot:ident ),* $(,)? } )*) => {
        $(
            $(#[$sm])*
            #[derive(Debug, Clone, Default, PartialEq)]
            pub struct $ty { $( $(#[$m])* pub $slot: Style, )* }

            impl $ty {
                const KEYS: &'static [&'static str] = &[$(stringify!($slot)),*];
                fn slot_mut(&mut self, key: &str) -> Option<&mut Style> {
                    match key { $( stringify!($slot) => Some(&mut self.$slot), )* _ => None }
                }
                fn for_each_mut(&mut self, f: &mut impl FnMut(&mut Style)) {
                    $( f(&mut self.$slot); )*
                }
            }
        )*

        /// A resolved theme.
        #[derive(Debug, Clone, Default, PartialEq)]
        pub struct Theme {
            pub name: String,
            $( pub $section: $ty, )*
        }

        impl Theme {
            /// Section names in file order.
            pub const SECTIONS: &'static [&'static str] = &[$(stringify!($section)),*];

            fn section_keys(section: &str) -> Option<&'static [&'static str]> {
                match section { $( stringify!($section) => Some($ty::KEYS), )* _ => None }
            }

            fn slot_mut(&mut self, section: &str, key: &str) -> Option<&mut Style> {
                match section { $( stringify!($section) => self.$section.slot_mut(key), )* _ => None }
            }

            fn for_each_slot_mut(&mut self, mut f: impl FnMut(&mut Style)) {
                $( self.$section.for_each_mut(&mut f); )*
            }
        }
    };
}

theme_sections! {
    /// The frame and shared widgets.
    ui: UiStyles {
        /// Whole-screen foreground/background.
        base, text, muted, accent, border, border_focused, title, title_focused,
        selection, selection_unfocused, key, key_desc, header,
        top_bar, top_bar_title, bottom_bar, status_text,
        /// Applied over everything behind an overlay.
        dim,
        overlay, overlay_border, overlay_title, input, input_placeholder, match_highlight, scrollbar,
    }
    /// Connection badges and plain outcome colours.
    status: StatusStyles { unknown, live, degraded, down, ok, warn, error, info, spinner }
    toast: ToastStyles { info, warn, error }
    wizard: WizardStyles { stage_done, stage_active, stage_todo, stage_failed, stage_skipped, plan_command, progress }
    console: ConsoleStyles {
        log_debug, log_info, log_warn, log_error, log_timestamp, log_labels, log_match,
        alert_firing, alert_pending, alert_resolved, alert_silenced,
    }
    form: FormStyles { label, input, input_focused, invalid, placeholder, help }
    env: EnvStyles { key, value, value_masked, dirty, added, removed }
    check: CheckStyles { pass, violation, rule, path }
}

/// State of a connection badge in the top bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Health {
    #[default]
    Unknown,
    Live,
    Degraded,
    Down,
}

/// Severity of a toast or a status message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Theme {
    pub fn border(&self, focused: bool) -> Style {
        if focused {
            self.ui.border_focused
        } else {
            self.ui.border
        }
    }

    pub fn title(&self, focused: bool) -> Style {
        if focused {
            self.ui.title_focused
        } else {
            self.ui.title
        }
    }

    pub fn selection(&self, focused: bool) -> Style {
        if focused {
            self.ui.selection
        } else {
            self.ui.selection_unfocused
        }
    }

    pub fn badge(&self, health: Health) -> Style {
        match health {
            Health::Unknown => self.status.unknown,
            Health::Live => self.status.live,
            Health::Degraded => self.status.degraded,
            Health::Down => self.status.down,
        }
    }

    pub fn toast(&self, level: Level) -> Style {
        match level {
            Level::Info => self.toast.info,
            Level::Warn => self.toast.warn,
            Level::Error => self.toast.error,
        }
    }

    pub fn level(&self, level: Level) -> Style {
        match level {
            Level::Info => self.status.info,
            Level::Warn => self.status.warn,
            Level::Error => self.status.error,
        }
    }

    /// NO_COLOR: the same theme with every colour removed. Slots that relied on a background
    /// (selection, badges, bars) become reversed so they stay visible.
    pub fn without_colors(&self) -> Theme {
        let mut t = self.clone();
        t.for_each_slot_mut(|s| {
            let had_bg = matches!(s.bg, Some(c) if c != Color::Reset);
            s.fg = None;
            s.bg = None;
            s.underline_color = None;
            if had_bg {
                s.add_modifier.insert(Modifier::REVERSED);
            }
        });
        // The whole screen and the bars must not be reversed.
        for s in [
            &mut t.ui.base,
            &mut t.ui.top_bar,
            &mut t.ui.bottom_bar,
            &mut t.ui.overlay,
            &mut t.ui.dim,
        ] {
            s.add_modifier.remove(Modifier::REVERSED);
        }
        t.ui.dim.add_modifier.insert(Modifier::DIM);
        t.name = format!("{} (NO_COLOR)", self.name);
        t
    }
}

/// The builtin theme that suits the terminal's background, when the terminal says what it is
/// (`COLORFGBG="fg;bg"`, set by rxvt, Konsole and others; bg 7 or 15 is a light background).
/// Used only when no theme was chosen.
pub fn for_terminal_background(colorfgbg: Option<&str>) -> Option<&'static str> {
    let bg: u8 = colorfgbg?.rsplit(';').next()?.trim().parse().ok()?;
    Some(if bg == 7 || bg == 15 {
        "homelab-light"
    } else {
        DEFAULT_THEME
    })
}

/// True when the NO_COLOR convention (https://no-color.org) asks for no colour.
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}
