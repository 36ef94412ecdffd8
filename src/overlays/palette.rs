//! `:` command palette: fuzzy over screens, themes and the actions of the current context
//! (k9s style). Enter runs the highlighted entry, or the typed text when it is a command
//! (`theme mine`, `open console`).

use super::Outcome;
use crate::app::ViewCx;
use crate::msg::Action;
use crate::widgets::{line_edit::LineEdit, list, popup};
use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

/// One palette entry: `command` is what is matched and shown (`theme homelab-light`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub command: String,
    pub desc: String,
    pub action: Action,
    /// Key that runs it directly, if any (shown at the right).
    pub key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Match {
    entry: usize,
    /// Char indices of `command` that matched, for highlighting.
    indices: Vec<u32>,
}

#[derive(Debug, Clone)]
pub struct PaletteState {
    pub input: LineEdit,
    entries: Vec<Entry>,
    matches: Vec<Match>,
    pub selected: usize,
    /// Shown under the input when Enter found nothing to run.
    error: Option<String>,
}

impl PaletteState {
    pub fn new(entries: Vec<Entry>) -> Self {
        let mut p = Self {
            input: LineEdit::default(),
            entries,
            matches: Vec::new(),
            selected: 0,
            error: None,
        };
        p.refilter();
        p
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The highlighted entry, if any matches.
    pub fn highlighted(&self) -> Option<&Entry> {
        self.matches
            .get(self.selected)
            .map(|m| &self.entries[m.entry])
    }

    /// Entries currently matching, best first.
    pub fn matching(&self) -> impl Iterator<Item = &Entry> {
        self.matches.iter().map(|m| &self.entries[m.entry])
    }

    pub fn set_query(&mut self, q: &str) {
        self.input.set(q);
        self.refilter();
    }

    fn refilter(&mut self) {
        self.error = None;
        self.selected = 0;
        let query = self.input.value().trim();
        if query.is_empty() {
            self.matches = (0..self.entries.len())
                .map(|entry| Match {
                    entry,
                    indices: Vec::new(),
                })
                .collect();
            return;
        }
        let pattern = Pattern::parse(query, CaseMatching::Ignore, Normalization::Smart);
        let mut matcher = Matcher::new(Config::DEFAULT);
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, Match)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| {
                let hay = Utf32Str::new(&e.command, &mut buf);
                let score = pattern.score(hay, &mut matcher)?;
                let mut indices = Vec::new();
                let hay = Utf32Str::new(&e.command, &mut buf);
                pattern.indices(hay, &mut matcher, &mut indices);
                indices.sort_unstable();
                indices.dedup();
                Some((score, Match { entry: i, indices }))
            })
            .collect();
        // Best score first; ties keep the entry order.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.entry.cmp(&b.1.entry)));
        self.matches = scored.into_iter().map(|(_, m)| m).collect();
    }

    pub fn on_text_key(&mut self, key: KeyEvent) -> bool {
        let changed = self.input.on_key(key);
        if changed {
            self.refilter();
        }
        changed
    }

    pub fn paste(&mut self, text: &str) {
        self.input.insert_str(text);
        self.refilter();
    }

    pub fn on_action(&mut self, action: &Action) -> Outcome {
        let n = self.matches.len();
        match action {
            Action::Close | Action::Back | Action::Cancel => return Outcome::Close,
            Action::Down if n > 0 => self.selected = (self.selected + 1) % n,
            Action::Up if n > 0 => self.selected = (self.selected + n - 1) % n,
            Action::PageDown if n > 0 => self.selected = (self.selected + 8).min(n - 1),
            Action::PageUp => self.selected = self.selected.saturating_sub(8),
            Action::Select => return self.run_selected(),
            _ => {}
        }
        Outcome::Stay
    }

    fn run_selected(&mut self) -> Outcome {
        if let Some(m) = self.matches.get(self.selected) {
            return Outcome::Run(self.entries[m.entry].action.clone());
        }
        let typed = self.input.value().trim();
        match typed.parse::<Action>() {
            Ok(action) if !typed.is_empty() => Outcome::Run(action),
            Ok(_) => Outcome::Stay,
            Err(e) => {
                self.error = Some(e);
                Outcome::Stay
            }
        }
    }

    fn rect(area: Rect) -> Rect {
        let r = popup::centered(area, 76, 18);
        Rect {
            y: area.y + area.height.saturating_sub(r.height) / 4,
            ..r
        }
    }

    /// Rect of the result list inside the overlay (below the input line and a rule).
    fn list_rect(area: Rect) -> Rect {
        let r = Self::rect(area);
        let inner = Rect {
            x: r.x + 2,
            y: r.y + 1,
            width: r.width.saturating_sub(4),
            height: r.height.saturating_sub(2),
        };
        Rect {
            y: inner.y + 2,
            height: inner.height.saturating_sub(2),
            ..inner
        }
    }

    pub fn on_mouse(&mut self, ev: MouseEvent, area: Rect) -> Outcome {
        let pos = (ev.column, ev.row).into();
        match ev.kind {
            MouseEventKind::ScrollDown => self.on_action(&Action::Down),
            MouseEventKind::ScrollUp => self.on_action(&Action::Up),
            MouseEventKind::Down(MouseButton::Left) => {
                let lr = Self::list_rect(area);
                if lr.contains(pos) {
                    let offset =
                        list::offset(self.selected, self.matches.len(), lr.height as usize);
                    let row = offset + (ev.row - lr.y) as usize;
                    if row < self.matches.len() {
                        self.selected = row;
                        return self.run_selected();
                    }
                    Outcome::Stay
                } else if !Self::rect(area).contains(pos) {
                    Outcome::Close
                } else {
                    Outcome::Stay
                }
            }
            _ => Outcome::Stay,
        }
    }

    pub fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        let t = cx.theme;
        let rect = Self::rect(area);
        let key = |a: Action| cx.keymap.label("palette", &a, true);
        let move_keys = match (key(Action::Up), key(Action::Down)) {
            (Some(up), Some(down)) => Some(format!("{up}{down}")),
            (one, other) => one.or(other),
        };
        let footer = popup::hint_spans(
            &[
                (key(Action::Select), "run"),
                (move_keys, "move"),
                (key(Action::Close), "close"),
            ],
            cx.theme,
        );
        let title = format!(
            "Command palette · {}/{}",
            self.matches.len(),
            self.entries.len()
        );
        let inner = popup::frame(frame, rect, &title, Some(footer), cx.theme);
        if inner.height < 3 {
            return;
        }
        let input_area = Rect { height: 1, ..inner };
        self.input.render(
            frame,
            input_area,
            ": ",
            "type a command: open console, theme light, help",
            t.ui.key,
            cx.theme,
        );
        let rule = Rect {
            y: inner.y + 1,
            height: 1,
            ..inner
        };
        frame.render_widget(
            Paragraph::new("─".repeat(rule.width as usize)).style(t.ui.overlay_border),
            rule,
        );
        let lr = Self::list_rect(area);
        if let Some(err) = &self.error {
            frame.render_widget(
                Paragraph::new(Line::styled(err.clone(), t.status.error)).style(t.ui.overlay),
                lr,
            );
            return;
        }
        if self.matches.is_empty() {
            let msg = "No command matches. Enter runs the text as typed, e.g. `theme <name>`.";
            frame.render_widget(
                Paragraph::new(Line::styled(msg, t.ui.muted)).style(t.ui.overlay),
                lr,
            );
            return;
        }
        let width = list::text_width(lr, self.matches.len());
        let cmd_w = self
            .matches
            .iter()
            .map(|m| self.entries[m.entry].command.chars().count())
            .max()
            .unwrap_or(0)
            .min(width / 2);
        let rows: Vec<Line> = self
            .matches
            .iter()
            .map(|m| {
                let e = &self.entries[m.entry];
                let mut spans: Vec<Span> = e
                    .command
                    .chars()
                    .enumerate()
                    .map(|(i, c)| {
                        let style = if m.indices.binary_search(&(i as u32)).is_ok() {
                            t.ui.match_highlight
                        } else {
                            Style::default()
                        };
                        Span::styled(c.to_string(), style)
                    })
                    .collect();
                let pad = cmd_w.saturating_sub(e.command.chars().count()) + 2;
                spans.push(Span::raw(" ".repeat(pad)));
                let key = e.key.as_deref().unwrap_or("");
                let desc_w = width.saturating_sub(cmd_w + 2 + key.chars().count() + 1);
                let desc: String = e.desc.chars().take(desc_w).collect();
                let gap =
                    width.saturating_sub(cmd_w + 2 + desc.chars().count() + key.chars().count());
                spans.push(Span::styled(desc, t.ui.muted));
                spans.push(Span::raw(" ".repeat(gap)));
                spans.push(Span::styled(key.to_owned(), t.ui.key));
                Line::from(spans)
            })
            .collect();
        list::render(frame, lr, rows, self.selected, true, cx.theme);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::screens::ScreenId;

    fn palette() -> PaletteState {
        let mut entries = vec![
            Entry {
                command: "open console".into(),
                desc: "Go to Console".into(),
                action: Action::Open(ScreenId::Console),
                key: None,
            },
            Entry {
                command: "help".into(),
                desc: "Help".into(),
                action: Action::Help,
                key: Some("?".into()),
            },
        ];
        for name in ["homelab-dark", "homelab-light", "high-contrast"] {
            entries.push(Entry {
                command: format!("theme {name}"),
                desc: "Switch theme".into(),
                action: Action::Theme(name.into()),
                key: None,
            });
        }
        PaletteState::new(entries)
    }

    #[test]
    fn fuzzy_matches_words_in_any_gap() {
        let mut p = palette();
        p.set_query("theme light");
        let got: Vec<&str> = p.matching().map(|e| e.command.as_str()).collect();
        assert_eq!(got, vec!["theme homelab-light"]);
        assert_eq!(
            p.on_action(&Action::Select),
            Outcome::Run(Action::Theme("homelab-light".into()))
        );
    }

    #[test]
    fn navigation_wraps_and_typed_commands_run() {
        let mut p = palette();
        assert_eq!(p.matching().count(), 5);
        p.on_action(&Action::Up);
        assert_eq!(p.selected, 4);
        p.set_query("theme my-own");
        assert_eq!(p.matching().count(), 0);
        assert_eq!(
            p.on_action(&Action::Select),
            Outcome::Run(Action::Theme("my-own".into()))
        );
        p.set_query("zzz");
        assert_eq!(p.on_action(&Action::Select), Outcome::Stay);
        assert_eq!(p.error.as_deref(), Some("unknown action `zzz`"));
    }
}
