//! The styles the console draws with, taken from the theme's semantic slots.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, PartialEq)]
pub struct Look {
    pub text: Style,
    pub muted: Style,
    pub border: Style,
    pub border_focused: Style,
    pub title: Style,
    pub title_focused: Style,
    pub header: Style,
    pub selection: Style,
    pub selection_unfocused: Style,
    pub input: Style,
    pub key: Style,
    pub match_highlight: Style,
    pub log_debug: Style,
    pub log_info: Style,
    pub log_warn: Style,
    pub log_error: Style,
    pub log_timestamp: Style,
    pub log_labels: Style,
    pub alert_firing: Style,
    pub alert_pending: Style,
    pub alert_silenced: Style,
    pub live: Style,
    pub degraded: Style,
    pub down: Style,
    pub unknown: Style,
    pub error: Style,
    pub overlay: Style,
}

impl Look {
    /// The console's styles from the theme's semantic slots.
    pub fn from_theme(t: &crate::theme::Theme) -> Self {
        Self {
            text: t.ui.text,
            muted: t.ui.muted,
            border: t.ui.border,
            border_focused: t.ui.border_focused,
            title: t.ui.title,
            title_focused: t.ui.title_focused,
            header: t.ui.header,
            selection: t.ui.selection,
            selection_unfocused: t.ui.selection_unfocused,
            input: t.ui.input,
            key: t.ui.key,
            match_highlight: t.console.log_match,
            log_debug: t.console.log_debug,
            log_info: t.console.log_info,
            log_warn: t.console.log_warn,
            log_error: t.console.log_error,
            log_timestamp: t.console.log_timestamp,
            log_labels: t.console.log_labels,
            alert_firing: t.console.alert_firing,
            alert_pending: t.console.alert_pending,
            alert_silenced: t.console.alert_silenced,
            live: t.status.live,
            degraded: t.status.degraded,
            down: t.status.down,
            unknown: t.status.unknown,
            error: t.status.error,
            overlay: t.ui.overlay,
        }
    }

    /// Colours close to homelab-dark, for tests and when no theme is loaded.
    pub fn fallback() -> Self {
        let fg = |c| Style::new().fg(c);
        Self {
            text: Style::new(),
            muted: fg(Color::DarkGray),
            border: fg(Color::DarkGray),
            border_focused: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            title: Style::new().add_modifier(Modifier::BOLD),
            title_focused: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            header: Style::new().add_modifier(Modifier::BOLD),
            selection: Style::new()
                .bg(Color::Indexed(237))
                .add_modifier(Modifier::BOLD),
            selection_unfocused: Style::new().bg(Color::Indexed(235)),
            input: Style::new(),
            key: fg(Color::Cyan).add_modifier(Modifier::BOLD),
            match_highlight: Style::new().bg(Color::Yellow).fg(Color::Black),
            log_debug: fg(Color::DarkGray),
            log_info: Style::new(),
            log_warn: fg(Color::Yellow),
            log_error: fg(Color::Red),
            log_timestamp: fg(Color::DarkGray),
            log_labels: fg(Color::Blue),
            alert_firing: fg(Color::Red).add_modifier(Modifier::BOLD),
            alert_pending: fg(Color::Yellow),
            alert_silenced: fg(Color::DarkGray),
            live: fg(Color::Green),
            degraded: fg(Color::Yellow),
            down: fg(Color::Red),
            unknown: fg(Color::DarkGray),
            error: fg(Color::Red),
            overlay: Style::new(),
        }
    }
}
