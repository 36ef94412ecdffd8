//! The rounded, titled frame every screen's panes share; the theme decides focused vs idle.

use crate::theme::Theme;
use ratatui::text::Span;
use ratatui::widgets::{Block, BorderType, Borders};

/// A pane frame titled ` title `, styled by focus.
pub fn block<'a>(title: impl Into<String>, focused: bool, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border(focused))
        .title(Span::styled(
            format!(" {} ", title.into()),
            theme.title(focused),
        ))
}
