//! Centred overlay frames and the dimming behind them.

use crate::theme::Theme;
use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Padding};

/// A `width` x `height` rect centred in `area`, shrunk to fit (leaving a one-cell margin when
/// there is room).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let max_w = if area.width > 4 {
        area.width - 2
    } else {
        area.width
    };
    let max_h = if area.height > 4 {
        area.height - 2
    } else {
        area.height
    };
    let w = width.min(max_w);
    let h = height.min(max_h);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// Restyle everything in `area` with the theme's dim slot (keeps the characters).
pub fn dim(buf: &mut Buffer, area: Rect, style: Style) {
    let area = area.intersection(buf.area);
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            if let Some(cell) = buf.cell_mut((x, y)) {
                cell.set_style(style);
            }
        }
    }
}

/// Clear `rect` and draw the overlay frame with a title and an optional footer line of hints.
/// Returns the inner area.
pub fn frame(
    frame: &mut Frame,
    rect: Rect,
    title: &str,
    footer: Option<Line<'_>>,
    t: &Theme,
) -> Rect {
    frame.render_widget(Clear, rect);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.ui.overlay_border)
        .style(t.ui.overlay)
        .padding(Padding::horizontal(1))
        .title(Line::from(vec![
            Span::raw(" "),
            Span::styled(title.to_owned(), t.ui.overlay_title),
            Span::raw(" "),
        ]));
    if let Some(footer) = footer {
        block = block.title_bottom(footer.right_aligned());
    }
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    inner
}

/// `key desc · key desc` spans for an overlay footer: each key (its label from the keymap) and
/// what it does; an action with no key bound (`None`) is left out.
pub fn hint_spans<'a>(pairs: &[(Option<String>, &'a str)], theme: &Theme) -> Line<'a> {
    let mut spans = vec![Span::styled(" ", theme.ui.overlay_border)];
    let bound = pairs.iter().filter_map(|(k, d)| k.as_ref().map(|k| (k, d)));
    for (i, (k, d)) in bound.enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", theme.ui.overlay_border));
        }
        spans.push(Span::styled(k.clone(), theme.ui.key));
        spans.push(Span::styled(format!(" {d}"), theme.ui.overlay));
    }
    spans.push(Span::styled(" ", theme.ui.overlay_border));
    Line::from(spans)
}

/// ` key desc   key desc ` for an overlay footer: each key (its label from the keymap) in the
/// key style and what it does; an action with no key bound (`None`) is left out.
pub fn key_footer(pairs: &[(Option<String>, &str)], theme: &Theme) -> Line<'static> {
    let bound: Vec<(&String, &str)> = pairs
        .iter()
        .filter_map(|(k, d)| k.as_ref().map(|k| (k, *d)))
        .collect();
    let mut spans = Vec::with_capacity(bound.len() * 2);
    for (i, (key, desc)) in bound.iter().enumerate() {
        let gap = if i + 1 < bound.len() { "  " } else { " " };
        spans.push(Span::styled(format!(" {key} "), theme.ui.key));
        spans.push(Span::styled(format!("{desc}{gap}"), theme.ui.key_desc));
    }
    Line::from(spans)
}
