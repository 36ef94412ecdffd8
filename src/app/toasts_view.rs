//! Toasts stacked at the top right, newest first, below the top bar.

use super::{Toasts, ViewCx};
use crate::theme::Level;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

const MAX_WIDTH: u16 = 48;
const MAX_LINES: usize = 6;

/// Where each toast is drawn (same order as `Toasts::iter`), for drawing and for clicks.
pub fn layout(toasts: &Toasts, body: Rect) -> Vec<Rect> {
    let width = MAX_WIDTH.min(body.width.saturating_sub(2));
    if width < 12 {
        return Vec::new();
    }
    let inner_w = (width - 4) as usize;
    let mut y = body.y;
    let mut out = Vec::new();
    for toast in toasts.iter() {
        let lines = wrapped_lines(&label(toast.level, &toast.text, toast.count), inner_w)
            .min(MAX_LINES) as u16;
        let h = lines + 2;
        if y + h > body.bottom() {
            break;
        }
        out.push(Rect {
            x: body.right() - width - 1,
            y,
            width,
            height: h,
        });
        y += h;
    }
    out
}

fn label(level: Level, text: &str, count: u32) -> String {
    let icon = match level {
        Level::Info => "ℹ",
        Level::Warn => "⚠",
        Level::Error => "✖",
    };
    if count > 1 {
        format!("{icon} {text} (x{count})")
    } else {
        format!("{icon} {text}")
    }
}

/// Lines `text` takes when word-wrapped at `width` (approximation good enough for sizing).
fn wrapped_lines(text: &str, width: usize) -> usize {
    let mut lines = 1;
    let mut col = 0;
    for word in text.split(' ') {
        let w = word.chars().count();
        if col > 0 && col + 1 + w > width {
            lines += 1;
            col = w;
        } else {
            col += if col > 0 { 1 } else { 0 } + w;
        }
        while col > width {
            lines += 1;
            col -= width;
        }
    }
    lines
}

pub fn render(frame: &mut Frame, toasts: &Toasts, body: Rect, cx: &ViewCx) {
    let t = cx.theme;
    for (toast, rect) in toasts.iter().zip(layout(toasts, body)) {
        let fade = if toast.fading(cx.tick) {
            Modifier::DIM
        } else {
            Modifier::empty()
        };
        let style = t.toast(toast.level).add_modifier(fade);
        let title = match toast.level {
            Level::Error => " error · Esc dismisses ",
            Level::Warn => " warning ",
            Level::Info => " notice ",
        };
        frame.render_widget(Clear, rect);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(style)
            .style(t.ui.overlay)
            .title(Line::from(Span::styled(title, style)));
        let inner = block.inner(rect);
        frame.render_widget(block, rect);
        let para = Paragraph::new(Line::from(Span::styled(
            label(toast.level, &toast.text, toast.count),
            t.ui.overlay.add_modifier(fade),
        )))
        .wrap(Wrap { trim: true });
        frame.render_widget(
            para,
            Rect {
                x: inner.x + 1,
                width: inner.width.saturating_sub(1),
                ..inner
            },
        );
    }
}
