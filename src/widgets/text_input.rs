//! A one-line text field: the palette's input, and for screens' forms.

use crate::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextInput {
    value: String,
    /// Cursor position in chars.
    cursor: usize,
}

impl TextInput {
    pub fn value(&self) -> &str {
        &self.value
    }

    pub fn set(&mut self, value: &str) {
        self.value = value.to_owned();
        self.cursor = self.value.chars().count();
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.value
            .char_indices()
            .nth(char_idx)
            .map(|(b, _)| b)
            .unwrap_or(self.value.len())
    }

    pub fn insert_str(&mut self, text: &str) {
        let text: String = text.chars().filter(|c| !c.is_control()).collect();
        let at = self.byte_at(self.cursor);
        self.value.insert_str(at, &text);
        self.cursor += text.chars().count();
    }

    /// Editing keys: characters, Backspace, Delete, ←/→, Home/End, Ctrl-A/E/U/W/K.
    /// True when the key was consumed (the value or cursor may have changed).
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let len = self.value.chars().count();
        match key.code {
            KeyCode::Char(c) if !ctrl && !alt => {
                let at = self.byte_at(self.cursor);
                self.value.insert(at, c);
                self.cursor += 1;
            }
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = len,
            KeyCode::Char('u') if ctrl => {
                let at = self.byte_at(self.cursor);
                self.value.drain(..at);
                self.cursor = 0;
            }
            KeyCode::Char('k') if ctrl => {
                let at = self.byte_at(self.cursor);
                self.value.truncate(at);
            }
            KeyCode::Char('w') if ctrl => {
                let chars: Vec<char> = self.value.chars().collect();
                let mut start = self.cursor;
                while start > 0 && chars[start - 1] == ' ' {
                    start -= 1;
                }
                while start > 0 && chars[start - 1] != ' ' {
                    start -= 1;
                }
                let (a, b) = (self.byte_at(start), self.byte_at(self.cursor));
                self.value.drain(a..b);
                self.cursor = start;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let (a, b) = (self.byte_at(self.cursor - 1), self.byte_at(self.cursor));
                self.value.drain(a..b);
                self.cursor -= 1;
            }
            KeyCode::Backspace => {}
            KeyCode::Delete if self.cursor < len => {
                let (a, b) = (self.byte_at(self.cursor), self.byte_at(self.cursor + 1));
                self.value.drain(a..b);
            }
            KeyCode::Delete => {}
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            _ => return false,
        }
        true
    }

    /// Draw `prompt` + value with a block cursor, or the placeholder when empty. Scrolls
    /// horizontally so the cursor stays visible.
    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        prompt: &str,
        placeholder: &str,
        prompt_style: Style,
        theme: &Theme,
    ) {
        let t = theme;
        let width = (area.width as usize).saturating_sub(prompt.chars().count() + 1);
        let chars: Vec<char> = self.value.chars().collect();
        let start = self.cursor.saturating_sub(width);
        let mut spans = vec![Span::styled(prompt.to_owned(), prompt_style)];
        if chars.is_empty() {
            spans.push(Span::styled(
                " ",
                t.ui.input.add_modifier(Modifier::REVERSED),
            ));
            spans.push(Span::styled(placeholder.to_owned(), t.ui.input_placeholder));
        } else {
            let before: String = chars[start..self.cursor].iter().collect();
            let at: String = chars
                .get(self.cursor)
                .map(|c| c.to_string())
                .unwrap_or_else(|| " ".into());
            let after: String = chars
                .iter()
                .skip(self.cursor + 1)
                .take(width.saturating_sub(self.cursor - start))
                .collect();
            spans.push(Span::styled(before, t.ui.input));
            spans.push(Span::styled(
                at,
                t.ui.input.add_modifier(Modifier::REVERSED),
            ));
            spans.push(Span::styled(after, t.ui.input));
        }
        frame.render_widget(Paragraph::new(Line::from(spans)).style(t.ui.input), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn edits_like_a_shell_line() {
        let mut t = TextInput::default();
        for c in "theme ligt".chars() {
            assert!(t.on_key(key(KeyCode::Char(c))));
        }
        t.on_key(key(KeyCode::Left));
        t.on_key(key(KeyCode::Char('h')));
        assert_eq!(t.value(), "theme light");
        t.on_key(KeyEvent::new(KeyCode::Char('w'), KeyModifiers::CONTROL));
        assert_eq!(t.value(), "theme t");
        t.on_key(key(KeyCode::End));
        t.on_key(key(KeyCode::Backspace));
        t.on_key(key(KeyCode::Home));
        t.on_key(key(KeyCode::Delete));
        assert_eq!(t.value(), "heme ");
        assert!(!t.on_key(key(KeyCode::Enter)));
        t.insert_str("é\n!");
        assert_eq!(t.value(), "é!heme ");
    }
}
