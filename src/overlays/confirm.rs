//! Yes/no confirmation that names the thing; the most dangerous ones require typing its name.

use super::Outcome;
use crate::app::ViewCx;
use crate::msg::Action;
use crate::screens::ScreenId;
use crate::widgets::{line_edit::LineEdit, popup};
use crossterm::event::{KeyEvent, MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmState {
    pub tag: String,
    pub title: String,
    pub message: String,
    pub yes: String,
    pub no: String,
    /// Who asked: `on_confirmed(tag)` goes to this screen (None: the app itself).
    pub owner: Option<ScreenId>,
    /// Dangerous: the user must type this exact text first.
    pub type_to_confirm: Option<String>,
    pub typed: LineEdit,
    /// Which button has focus (Enter presses it).
    pub yes_focused: bool,
}

impl ConfirmState {
    pub fn new(
        tag: impl Into<String>,
        title: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            tag: tag.into(),
            title: title.into(),
            message: message.into(),
            yes: "Yes".into(),
            no: "No".into(),
            owner: None,
            type_to_confirm: None,
            typed: LineEdit::default(),
            yes_focused: false,
        }
    }

    pub fn labels(mut self, yes: impl Into<String>, no: impl Into<String>) -> Self {
        self.yes = yes.into();
        self.no = no.into();
        self
    }

    /// Require typing `name` before yes is accepted.
    pub fn type_to_confirm(mut self, name: impl Into<String>) -> Self {
        self.type_to_confirm = Some(name.into());
        self
    }

    pub(crate) fn owned_by(mut self, owner: ScreenId) -> Self {
        self.owner = Some(owner);
        self
    }

    pub fn wants_typing(&self) -> bool {
        self.type_to_confirm.is_some()
    }

    fn typed_ok(&self) -> bool {
        self.type_to_confirm
            .as_deref()
            .is_none_or(|n| self.typed.value() == n)
    }

    pub fn on_text_key(&mut self, key: KeyEvent) -> bool {
        self.typed.on_key(key)
    }

    fn confirmed(&self) -> Outcome {
        if self.typed_ok() {
            Outcome::Confirmed {
                owner: self.owner,
                tag: self.tag.clone(),
            }
        } else {
            Outcome::Stay
        }
    }

    pub fn on_action(&mut self, action: &Action) -> Outcome {
        match action {
            // `y` always means yes (once the name is typed, when one is required).
            Action::Confirm => self.confirmed(),
            // Enter presses the focused button (No by default; Yes when typing a name).
            Action::Select if self.yes_focused || self.wants_typing() => self.confirmed(),
            Action::Select => Outcome::Close,
            Action::Close | Action::Back | Action::Cancel => Outcome::Close,
            Action::NextPane | Action::PrevPane | Action::Left | Action::Right => {
                self.yes_focused = !self.yes_focused;
                Outcome::Stay
            }
            _ => Outcome::Stay,
        }
    }

    fn rect(&self, area: Rect) -> Rect {
        let h = if self.wants_typing() { 10 } else { 8 };
        popup::centered(area, 60, h + self.message_rows().saturating_sub(1))
    }

    /// Rows the message takes: each of its lines, wrapped at about 56 columns.
    fn message_rows(&self) -> u16 {
        self.message
            .split('\n')
            .map(|l| 1 + (l.len() / 56) as u16)
            .fold(0u16, u16::saturating_add)
    }

    pub fn on_mouse(&mut self, ev: MouseEvent, area: Rect) -> Outcome {
        if let MouseEventKind::Down(MouseButton::Left) = ev.kind {
            let rect = self.rect(area);
            if !rect.contains((ev.column, ev.row).into()) {
                return Outcome::Close;
            }
            if ev.row == rect.bottom().saturating_sub(2) {
                let mid = rect.x + rect.width / 2;
                return if ev.column < mid {
                    self.confirmed()
                } else {
                    Outcome::Close
                };
            }
        }
        Outcome::Stay
    }

    pub fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        let t = cx.theme;
        let rect = self.rect(area);
        let inner = popup::frame(frame, rect, &self.title, None, cx.theme);
        // One Line per line of the message: a Line draws a '\n' as nothing.
        let mut lines = vec![Line::default()];
        lines.extend(
            self.message
                .split('\n')
                .map(|l| Line::styled(l.to_string(), t.ui.overlay)),
        );
        if let Some(name) = &self.type_to_confirm {
            lines.push(Line::default());
            lines.push(Line::from(vec![
                Span::styled("Type ", t.ui.muted),
                Span::styled(name.clone(), t.status.warn),
                Span::styled(" to confirm:", t.ui.muted),
            ]));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .style(t.ui.overlay),
            inner,
        );
        if self.wants_typing() {
            let y = inner.bottom().saturating_sub(3);
            self.typed.render(
                frame,
                Rect {
                    y,
                    height: 1,
                    ..inner
                },
                "> ",
                "",
                t.ui.key,
                t,
            );
        }
        let buttons_y = inner.bottom().saturating_sub(1);
        let yes_style = if self.yes_focused || self.wants_typing() && self.typed_ok() {
            t.ui.selection.add_modifier(Modifier::BOLD)
        } else {
            t.ui.overlay
        };
        let no_style = if self.yes_focused {
            t.ui.overlay
        } else {
            t.ui.selection.add_modifier(Modifier::BOLD)
        };
        let key = |a: Action| cx.keymap.label("confirm", &a, false).unwrap_or_default();
        let yes = format!("  [{}] {}  ", key(Action::Confirm), self.yes);
        let no = format!("  [{}] {}  ", key(Action::Close), self.no);
        let half = inner.width / 2;
        let yes_x = inner.x + half.saturating_sub(yes.chars().count() as u16 + 1);
        let no_x = inner.x + half + 1;
        for (label, style, x) in [(yes, yes_style, yes_x), (no, no_style, no_x)] {
            let rect = Rect {
                x,
                y: buttons_y,
                width: label.chars().count() as u16,
                height: 1,
            };
            frame.render_widget(
                Paragraph::new(Span::styled(label, style)),
                rect.intersection(inner),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::{KeyCode, KeyModifiers};

    #[test]
    fn yes_no_and_typed_name() {
        let mut c = ConfirmState::new("quit", "Quit?", "Work is running.");
        assert_eq!(
            c.on_action(&Action::Select),
            Outcome::Close,
            "Enter defaults to No"
        );
        assert_eq!(
            c.on_action(&Action::Confirm),
            Outcome::Confirmed {
                owner: None,
                tag: "quit".into()
            }
        );

        let mut c = ConfirmState::new("del", "Delete VM", "Delete k3s-agent-1?")
            .type_to_confirm("k3s-agent-1");
        assert_eq!(c.on_action(&Action::Confirm), Outcome::Stay);
        for ch in "k3s-agent-1".chars() {
            c.on_text_key(KeyEvent::new(KeyCode::Char(ch), KeyModifiers::NONE));
        }
        assert_eq!(
            c.on_action(&Action::Select),
            Outcome::Confirmed {
                owner: None,
                tag: "del".into()
            }
        );
    }

    /// A message of several lines (the Flux stage's commit question: the message, then one
    /// file per line) is drawn one line per line, and the popup grows to hold them.
    #[test]
    fn a_message_of_several_lines_keeps_its_lines() {
        let c = ConfirmState::new(
            "commit",
            "Commit 2 file(s) to main?",
            "flux: x\n\na.yaml\nb.yaml",
        );
        assert_eq!(c.message_rows(), 4);
        let one = ConfirmState::new("q", "Quit?", "Work is running.");
        assert_eq!(one.message_rows(), 1);
        let area = Rect::new(0, 0, 100, 40);
        assert_eq!(c.rect(area).height, one.rect(area).height + 3);
    }
}
