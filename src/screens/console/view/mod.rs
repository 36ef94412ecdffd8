//! Drawing the console: a pure function of [`ConsoleState`] (plus the clock and the shared
//! [`Theme`]).
//! Only the visible lines are touched, so a frame costs the same with 100 or 100k lines held.

mod alerts;
pub mod incident;
mod logs;
pub mod text;

use super::conn::ConnState;
use super::state::{ConsoleState, PaneId};
use crate::keymap::Keymap;
use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType};

/// What a draw needs besides the state.
#[derive(Debug, Clone)]
pub struct Cx<'a> {
    pub theme: &'a Theme,
    /// Key labels in hints come from here, never literals.
    pub keymap: &'a Keymap,
    /// The frame's clock (Unix seconds): relative times come from here, never from the system.
    pub now_s: i64,
}

/// Width from which the panes sit side by side (log lines are long: below this, stacked
/// full-width panes show more of each line).
pub const SIDE_BY_SIDE_MIN_WIDTH: u16 = 260;

/// The rows of a collapsed pane (weight 0): its frame and one line.
const COLLAPSED_ROWS: u16 = 3;

/// Areas of the panes in focus order (a zoomed pane gets everything).
pub fn pane_areas(state: &ConsoleState, area: Rect) -> Vec<(PaneId, Rect)> {
    if state.zoomed {
        return vec![(state.focus, area)];
    }
    // The first pane gets `split` percent, the others share the rest by their weights.
    let constraints = PaneId::ALL.iter().enumerate().map(|(i, pane)| {
        if i == 0 {
            Constraint::Percentage(state.split)
        } else {
            match state.panes.weight(*pane) {
                0 => Constraint::Length(COLLAPSED_ROWS),
                w => Constraint::Fill(w),
            }
        }
    });
    let chunks = if area.width >= SIDE_BY_SIDE_MIN_WIDTH {
        Layout::horizontal(constraints).split(area)
    } else {
        Layout::vertical(constraints).split(area)
    };
    PaneId::ALL
        .iter()
        .copied()
        .zip(chunks.iter().copied())
        .collect()
}

pub fn render_console(state: &ConsoleState, f: &mut Frame, area: Rect, cx: &Cx) {
    for (pane, rect) in pane_areas(state, area) {
        let focused = pane == state.focus;
        match pane {
            PaneId::Alerts => alerts::render(
                &state.alerts,
                f,
                rect,
                cx,
                focused,
                state.zoomed && focused,
                state,
            ),
            PaneId::Logs => logs::render(
                &state.logs,
                f,
                rect,
                cx,
                focused,
                state.zoomed && focused,
                state,
            ),
            added => state.panes.render(added, f, rect, cx, focused),
        }
    }
    if let Some(form) = &state.alerts.silence_form {
        alerts::render_silence_form(&state.alerts, form, f, area, cx);
    }
    if let Some(v) = &state.incident {
        incident::render(v, f, area, cx);
    }
}

/// A pane's frame: bordered, title with the focus style.
pub(super) fn pane_block<'a>(title: Vec<Span<'a>>, focused: bool, theme: &Theme) -> Block<'a> {
    let border = if focused {
        theme.ui.border_focused
    } else {
        theme.ui.border
    };
    Block::bordered()
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(border)
        .title(Line::from(title))
}

/// The start of a pane title: its name in the focus style.
pub(super) fn pane_title(name: &str, focused: bool, theme: &Theme) -> Vec<Span<'static>> {
    let style = if focused {
        theme.ui.title_focused
    } else {
        theme.ui.title
    };
    vec![Span::styled(format!(" {name} "), style)]
}

/// `● live` style badge for a connection.
pub(super) fn conn_badge(name: &str, conn: &ConnState, theme: &Theme) -> Vec<Span<'static>> {
    let style: Style = match conn {
        ConnState::Live => theme.status.live,
        ConnState::Connecting => theme.status.unknown,
        ConnState::Reconnecting { .. } => theme.status.degraded,
        ConnState::Failed { .. } => theme.status.down,
        ConnState::NotConfigured => theme.status.unknown,
    };
    vec![
        Span::styled("● ", style),
        Span::styled(format!("{name} {}", conn.badge()), style),
    ]
}

#[cfg(test)]
mod tests;
