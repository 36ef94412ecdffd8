//! `?`: the bindings of the current screen and the global ones, generated from the keymap.

use super::Outcome;
use crate::app::ViewCx;
use crate::keymap::Keymap;
use crate::msg::Action;
use crate::screens::ScreenId;
use crate::widgets::popup;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Scrollbar, ScrollbarOrientation, ScrollbarState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpState {
    pub screen: ScreenId,
    pub scroll: usize,
    rows: usize,
}

/// One line of the help body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HelpRow {
    Section(String),
    Binding { keys: String, desc: String },
    Blank,
}

/// Help rows for `screen`: its own context, then global, each in keymap file order.
pub fn rows(keymap: &Keymap, screen: ScreenId) -> Vec<HelpRow> {
    let mut out = Vec::new();
    for (context, title) in [
        (screen.name(), format!("{} keys", screen.title())),
        ("global", "Everywhere".to_owned()),
    ] {
        // Keys the screen rebinds do not reach the global binding: leave them out there.
        let rows: Vec<HelpRow> = keymap
            .bindings(context)
            .iter()
            .filter_map(|b| {
                let keys: Vec<String> = b
                    .keys
                    .iter()
                    .filter(|k| {
                        context == screen.name() || keymap.lookup(screen.name(), **k).is_none()
                    })
                    .map(ToString::to_string)
                    .collect();
                (!keys.is_empty()).then(|| HelpRow::Binding {
                    keys: keys.join("/"),
                    desc: b.desc.clone(),
                })
            })
            .collect();
        if rows.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push(HelpRow::Blank);
        }
        out.push(HelpRow::Section(title));
        out.extend(rows);
    }
    out
}

impl HelpState {
    pub fn new(keymap: &Keymap, screen: ScreenId) -> Self {
        Self {
            screen,
            scroll: 0,
            rows: rows(keymap, screen).len(),
        }
    }

    fn rect(area: Rect) -> Rect {
        popup::centered(area, 72, 40)
    }

    fn page(area_hint: usize) -> usize {
        area_hint.max(1)
    }

    pub fn on_action(&mut self, action: &Action) -> Outcome {
        let max = self.rows.saturating_sub(1);
        match action {
            Action::Close | Action::Help | Action::Back => return Outcome::Close,
            Action::Down => self.scroll = (self.scroll + 1).min(max),
            Action::Up => self.scroll = self.scroll.saturating_sub(1),
            Action::PageDown => self.scroll = (self.scroll + Self::page(10)).min(max),
            Action::PageUp => self.scroll = self.scroll.saturating_sub(Self::page(10)),
            Action::Top => self.scroll = 0,
            Action::Bottom => self.scroll = max,
            _ => {}
        }
        Outcome::Stay
    }

    pub fn on_mouse(&mut self, ev: MouseEvent, area: Rect) -> Outcome {
        match ev.kind {
            MouseEventKind::ScrollDown => self.on_action(&Action::Down),
            MouseEventKind::ScrollUp => self.on_action(&Action::Up),
            MouseEventKind::Down(MouseButton::Left)
                if !Self::rect(area).contains((ev.column, ev.row).into()) =>
            {
                Outcome::Close
            }
            _ => Outcome::Stay,
        }
    }

    pub fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        let t = cx.theme;
        let rect = Self::rect(area);
        let key = |a: Action| cx.keymap.label("help", &a, false);
        let scroll = match (key(Action::Down), key(Action::Up)) {
            (Some(down), Some(up)) => Some(format!("{down}/{up}")),
            (one, other) => one.or(other),
        };
        let footer = popup::hint_spans(
            &[(key(Action::Close), "close"), (scroll, "scroll")],
            cx.theme,
        );
        let inner = popup::frame(
            frame,
            rect,
            &format!("Help · {}", self.screen.title()),
            Some(footer),
            cx.theme,
        );
        let all = rows(cx.keymap, self.screen);
        let key_w = all
            .iter()
            .filter_map(|r| match r {
                HelpRow::Binding { keys, .. } => Some(keys.chars().count()),
                _ => None,
            })
            .max()
            .unwrap_or(0)
            .min(22);
        let visible = inner.height as usize;
        let scroll = self.scroll.min(all.len().saturating_sub(visible));
        let lines: Vec<Line> = all
            .iter()
            .skip(scroll)
            .take(visible)
            .map(|r| match r {
                HelpRow::Section(title) => Line::from(Span::styled(title.clone(), t.ui.header)),
                HelpRow::Binding { keys, desc } => Line::from(vec![
                    Span::styled(format!("  {keys:<key_w$}  "), t.ui.key),
                    Span::styled(desc.clone(), t.ui.overlay),
                ]),
                HelpRow::Blank => Line::default(),
            })
            .collect();
        frame.render_widget(Paragraph::new(lines).style(t.ui.overlay), inner);
        if all.len() > visible {
            let mut state = ScrollbarState::new(all.len().saturating_sub(visible)).position(scroll);
            frame.render_stateful_widget(
                Scrollbar::new(ScrollbarOrientation::VerticalRight)
                    .style(t.ui.scrollbar)
                    .begin_symbol(None)
                    .end_symbol(None),
                rect.inner(ratatui::layout::Margin {
                    horizontal: 0,
                    vertical: 1,
                }),
                &mut state,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_from_the_keymap_screen_first() {
        let km = Keymap::builtin();
        let r = rows(&km, ScreenId::Home);
        assert_eq!(r[0], HelpRow::Section("Home keys".into()));
        assert!(r.contains(&HelpRow::Section("Everywhere".into())));
        assert!(r.contains(&HelpRow::Binding {
            keys: "?".into(),
            desc: "Help for this screen".into()
        }));
    }
}
