//! A small multi-line text field for values (dotenv values may span lines). Enter is left to the
//! caller (commit); Ctrl-J or Alt-Enter inserts a line break. The buffer is zeroized on drop.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use zeroize::Zeroize;

#[derive(Default)]
pub struct TextArea {
    lines: Vec<String>,
    row: usize,
    /// Cursor column in chars.
    col: usize,
}

impl Drop for TextArea {
    fn drop(&mut self) {
        self.lines.iter_mut().for_each(Zeroize::zeroize);
    }
}

fn byte_at(s: &str, col: usize) -> usize {
    s.char_indices().nth(col).map(|(b, _)| b).unwrap_or(s.len())
}

impl TextArea {
    pub fn with_text(text: &str) -> TextArea {
        let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let row = lines.len() - 1;
        let col = lines[row].chars().count();
        TextArea { lines, row, col }
    }

    /// The value (lines joined with `\n`).
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn line_count(&self) -> usize {
        self.lines.len().max(1)
    }

    pub fn insert_str(&mut self, text: &str) {
        for (i, part) in text.split('\n').enumerate() {
            if i > 0 {
                self.newline();
            }
            for c in part.chars().filter(|c| !c.is_control() || *c == '\t') {
                self.insert_char(c);
            }
        }
    }

    fn insert_char(&mut self, c: char) {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
        let line = &mut self.lines[self.row];
        let at = byte_at(line, self.col);
        line.insert(at, c);
        self.col += 1;
    }

    fn newline(&mut self) {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
        let line = &mut self.lines[self.row];
        let at = byte_at(line, self.col);
        let rest = line.split_off(at);
        self.lines.insert(self.row + 1, rest);
        self.row += 1;
        self.col = 0;
    }

    /// Editing keys. True when consumed. Enter (without modifiers) and Esc are not consumed.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        if self.lines.is_empty() {
            self.lines.push(String::new());
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        let len = self.lines[self.row].chars().count();
        match key.code {
            KeyCode::Char('j') if ctrl => self.newline(),
            KeyCode::Enter if alt => self.newline(),
            KeyCode::Char('u') if ctrl => {
                let at = byte_at(&self.lines[self.row], self.col);
                self.lines[self.row].drain(..at);
                self.col = 0;
            }
            KeyCode::Char('a') if ctrl => self.col = 0,
            KeyCode::Char('e') if ctrl => self.col = len,
            KeyCode::Char(c) if !ctrl && !alt => self.insert_char(c),
            KeyCode::Tab => self.insert_char('\t'),
            KeyCode::Backspace if self.col > 0 => {
                let line = &mut self.lines[self.row];
                let (a, b) = (byte_at(line, self.col - 1), byte_at(line, self.col));
                line.drain(a..b);
                self.col -= 1;
            }
            KeyCode::Backspace if self.row > 0 => {
                let mut line = self.lines.remove(self.row);
                self.row -= 1;
                self.col = self.lines[self.row].chars().count();
                self.lines[self.row].push_str(&line);
                line.zeroize();
            }
            KeyCode::Delete if self.col < len => {
                let line = &mut self.lines[self.row];
                let (a, b) = (byte_at(line, self.col), byte_at(line, self.col + 1));
                line.drain(a..b);
            }
            KeyCode::Delete if self.row + 1 < self.lines.len() => {
                let mut next = self.lines.remove(self.row + 1);
                self.lines[self.row].push_str(&next);
                next.zeroize();
            }
            KeyCode::Left if self.col > 0 => self.col -= 1,
            KeyCode::Right if self.col < len => self.col += 1,
            KeyCode::Up if self.row > 0 => {
                self.row -= 1;
                self.col = self.col.min(self.lines[self.row].chars().count());
            }
            KeyCode::Down if self.row + 1 < self.lines.len() => {
                self.row += 1;
                self.col = self.col.min(self.lines[self.row].chars().count());
            }
            KeyCode::Home => self.col = 0,
            KeyCode::End => self.col = len,
            KeyCode::Backspace
            | KeyCode::Delete
            | KeyCode::Left
            | KeyCode::Right
            | KeyCode::Up
            | KeyCode::Down => {}
            _ => return false,
        }
        true
    }

    /// Lines to draw, with the cursor cell reversed when `focused`; at most `height` lines,
    /// scrolled so the cursor row is visible.
    pub fn lines(&self, height: usize, style: Style, focused: bool) -> Vec<Line<'static>> {
        let lines: Vec<String> = if self.lines.is_empty() {
            vec![String::new()]
        } else {
            self.lines.clone()
        };
        let first = self.row.saturating_sub(height.saturating_sub(1));
        lines
            .iter()
            .enumerate()
            .skip(first)
            .take(height.max(1))
            .map(|(r, text)| {
                if !focused || r != self.row {
                    return Line::from(Span::styled(text.clone(), style));
                }
                let chars: Vec<char> = text.chars().collect();
                let before: String = chars[..self.col.min(chars.len())].iter().collect();
                let at: String = chars
                    .get(self.col)
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| " ".into());
                let after: String = chars.iter().skip(self.col + 1).collect();
                Line::from(vec![
                    Span::styled(before, style),
                    Span::styled(at, style.add_modifier(Modifier::REVERSED)),
                    Span::styled(after, style),
                ])
            })
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
