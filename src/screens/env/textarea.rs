//! A small multi-line text field for values (dotenv values may span lines). Enter is left to the
//! caller (commit); Ctrl-J or Alt-Enter inserts a line break. Each line is a
//! [`LineEdit`] (the one editing core, which wipes its buffer on drop); this adds line breaks,
//! joins and Up/Down.

use crate::widgets::line_edit::LineEdit;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::Style;
use ratatui::text::Line;

pub struct TextArea {
    /// Never empty.
    lines: Vec<LineEdit>,
    row: usize,
}

impl Default for TextArea {
    fn default() -> Self {
        TextArea {
            lines: vec![LineEdit::default()],
            row: 0,
        }
    }
}

impl TextArea {
    pub fn with_text(text: &str) -> TextArea {
        let mut t = TextArea::default();
        t.insert_str(text);
        t
    }

    /// The value (lines joined with `\n`).
    pub fn text(&self) -> String {
        let lines: Vec<&str> = self.lines.iter().map(LineEdit::value).collect();
        lines.join("\n")
    }

    pub fn line_count(&self) -> usize {
        self.lines.len()
    }

    fn line(&mut self) -> &mut LineEdit {
        &mut self.lines[self.row]
    }

    /// Pasted text: line breaks split lines, tabs are kept, other control characters dropped.
    pub fn insert_str(&mut self, text: &str) {
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                self.newline();
            }
            for c in part.chars() {
                self.line().insert(c);
            }
        }
    }

    fn newline(&mut self) {
        let rest = self.line().split_off();
        self.lines.insert(self.row + 1, rest);
        self.row += 1;
    }

    /// Move to `row`, keeping the column (in chars) where the line allows.
    fn go_to(&mut self, row: usize) {
        let col = self.lines[self.row].cursor_chars();
        self.row = row;
        self.line().set_cursor_chars(col);
    }

    /// The label of the editor's own new-line key (Ctrl-j; Alt-Enter too), which is part of
    /// the text editor and not a keymap binding.
    pub const NEWLINE_KEY: &'static str = "Ctrl-j";

    /// Editing keys. True when consumed. Enter (without modifiers) and Esc are not consumed.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let at_start = self.lines[self.row].cursor() == 0;
        let at_end = {
            let l = &self.lines[self.row];
            l.cursor() == l.value().len()
        };
        match key.code {
            KeyCode::Char('j') if ctrl => self.newline(),
            KeyCode::Enter if alt => self.newline(),
            KeyCode::Tab => self.line().insert('\t'),
            KeyCode::Backspace if at_start && self.row > 0 => {
                let line = self.lines.remove(self.row);
                self.row -= 1;
                self.line().end();
                self.line().append(line.value());
            }
            KeyCode::Delete if at_end && self.row + 1 < self.lines.len() => {
                let next = self.lines.remove(self.row + 1);
                self.line().append(next.value());
            }
            KeyCode::Up if self.row > 0 => self.go_to(self.row - 1),
            KeyCode::Down if self.row + 1 < self.lines.len() => self.go_to(self.row + 1),
            KeyCode::Up | KeyCode::Down => {}
            _ => return self.line().on_key(key),
        }
        true
    }

    /// Lines to draw, with the cursor cell reversed when `focused`; at most `height` lines,
    /// scrolled so the cursor row is visible.
    pub fn lines(&self, height: usize, style: Style, focused: bool) -> Vec<Line<'static>> {
        let first = self.row.saturating_sub(height.saturating_sub(1));
        self.lines
            .iter()
            .enumerate()
            .skip(first)
            .take(height.max(1))
            .map(|(r, line)| Line::from(line.spans(usize::MAX, style, focused && r == self.row)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn multi_line_editing() {
        let mut t = TextArea::with_text("ab");
        t.on_key(KeyEvent::new(KeyCode::Char('j'), KeyModifiers::CONTROL));
        t.on_key(k(KeyCode::Char('c')));
        assert_eq!(t.text(), "ab\nc");
        t.on_key(k(KeyCode::Home));
        t.on_key(k(KeyCode::Backspace));
        assert_eq!(t.text(), "abc");
        assert!(!t.on_key(k(KeyCode::Enter)));
        assert!(!t.on_key(k(KeyCode::Esc)));
        t.insert_str("x\ny");
        assert_eq!(t.text(), "abx\nyc");
        assert_eq!(t.line_count(), 2);
    }
}
