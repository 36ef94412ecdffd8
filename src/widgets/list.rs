//! A selectable list of pre-styled lines with scrolling that keeps the selection visible.
//! Screens pair `render` with `offset` for mouse hit-testing, so clicks land on what is drawn.

use crate::theme::Theme;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};

/// Columns the rows may use: one less than `area` when a scrollbar will be drawn.
pub fn text_width(area: Rect, len: usize) -> usize {
    if len > area.height as usize && area.width > 2 {
        area.width as usize - 1
    } else {
        area.width as usize
    }
}

/// First visible row so that `selected` is on screen, keeping a little context below it.
pub fn offset(selected: usize, len: usize, height: usize) -> usize {
    if height == 0 || len <= height {
        return 0;
    }
    let max = len - height;
    selected.saturating_sub(height.saturating_sub(1)).min(max)
}

/// The row under a click at `row` (terminal y) inside `area`, if it is a list row.
pub fn row_at(row: u16, area: Rect, selected: usize, len: usize) -> Option<usize> {
    if row < area.y || row >= area.bottom() {
        return None;
    }
    let idx = offset(selected, len, area.height as usize) + (row - area.y) as usize;
    (idx < len).then_some(idx)
}

/// Draw `rows` in `area` with `selected` highlighted (focused or not) and a scrollbar when
/// they do not fit.
pub fn render(
    frame: &mut Frame,
    area: Rect,
    rows: Vec<Line<'_>>,
    selected: usize,
    focused: bool,
    theme: &Theme,
) {
    let len = rows.len();
    let height = area.height as usize;
    let off = offset(selected, len, height);
    let sel_style = theme.selection(focused);
    let lines: Vec<Line> = rows
        .into_iter()
        .enumerate()
        .skip(off)
        .take(height)
        .map(|(i, line)| {
            if i == selected {
                line.patch_style(sel_style)
            } else {
                line
            }
        })
        .collect();
    // Selected row: fill the full width, not just the text.
    if selected < len && selected >= off && selected < off + height {
        let y = area.y + (selected - off) as u16;
        frame.buffer_mut().set_style(
            Rect {
                y,
                height: 1,
                ..area
            },
            sel_style,
        );
    }
    let overflow = len > height && area.width > 2;
    // Leave the last column to the scrollbar.
    let text_area = if overflow {
        Rect {
            width: area.width - 1,
            ..area
        }
    } else {
        area
    };
    frame.render_widget(Paragraph::new(lines), text_area);
    if overflow {
        let mut state = ScrollbarState::new(len - height).position(off);
        frame.render_stateful_widget(
            Scrollbar::new(ScrollbarOrientation::VerticalRight)
                .style(theme.ui.scrollbar)
                .begin_symbol(None)
                .end_symbol(None),
            area,
            &mut state,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_keeps_selection_visible() {
        assert_eq!(offset(0, 3, 10), 0);
        assert_eq!(offset(9, 20, 10), 0);
        assert_eq!(offset(10, 20, 10), 1);
        assert_eq!(offset(19, 20, 10), 10);
        let area = Rect::new(0, 5, 10, 4);
        assert_eq!(row_at(5, area, 0, 3), Some(0));
        assert_eq!(row_at(8, area, 0, 3), None);
        assert_eq!(row_at(4, area, 0, 3), None);
    }
}
