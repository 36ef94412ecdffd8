//! The one line editor: every text field of the app edits through [`LineEdit`] (the palette,
//! the confirm overlay's typed name, the env editor's search, key and value fields, the
//! console's LogQL box and prompts, the wizard's value form and its SSH questions).
//! [`History`] adds shell-like Up/Down recall (the LogQL box); `screens/env/textarea.rs` builds
//! its multi-line field from one `LineEdit` per line, so one editing core serves all of them.
//!
//! Every buffer is wiped: a `LineEdit` zeroizes its text when it is cleared, replaced or dropped,
//! and it grows by moving the text into a larger buffer and wiping the old one, so no copy of
//! what was typed is left in freed memory. Secret mode ([`LineEdit::secret`]) also draws the
//! text masked (one `•` per character) until [`LineEdit::toggle_reveal`], keeps it out of
//! `Debug`, and hands it on as a [`Zeroizing`] string without a copy ([`LineEdit::take`]).
//!
//! Why not a crate: `tui-textarea` 0.7 needs ratatui 0.29 (a second ratatui next to our 0.30);
//! `ratatui-textarea` 0.9 and `tui-input` 0.15 fit ratatui 0.30 but keep the text in plain
//! `String`s that reallocate as they grow (and, for the textarea, in an undo history and a yank
//! buffer), so typed secrets would stay in freed memory; neither has history recall. What we
//! need is small: this module.
//!
//! The cursor is a byte offset on a char boundary; drawing measures display columns with
//! `unicode-width`, so wide characters (CJK, emoji) scroll and place the cursor correctly.

use crate::theme::Theme;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use std::ops::Range;
use unicode_width::UnicodeWidthChar;
use zeroize::{Zeroize, Zeroizing};

/// Room a new buffer starts with (most fields never grow past it).
const INITIAL_CAPACITY: usize = 64;

/// A one-line text field. See the module doc.
#[derive(Default)]
pub struct LineEdit {
    text: String,
    /// Byte offset, always on a char boundary of `text`.
    cursor: usize,
    secret: bool,
    revealed: bool,
    /// Characters besides whitespace where Ctrl-W stops.
    word_stops: &'static str,
}

impl std::fmt::Debug for LineEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("LineEdit");
        if self.secret {
            d.field("text", &"<secret>");
        } else {
            d.field("text", &self.text);
        }
        d.field("cursor", &self.cursor).finish()
    }
}

impl Clone for LineEdit {
    fn clone(&self) -> Self {
        let mut c = Self::like(self.secret, self.revealed, self.word_stops);
        c.replace_range(0..0, &self.text);
        c.cursor = self.cursor;
        c
    }
}

impl PartialEq for LineEdit {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text && self.cursor == other.cursor && self.secret == other.secret
    }
}

impl Eq for LineEdit {}

impl Drop for LineEdit {
    fn drop(&mut self) {
        wipe(&mut self.text);
    }
}

/// Zeroize a buffer (its whole capacity). Tests see each wipe through [`test_hook`].
fn wipe(s: &mut String) {
    #[cfg(test)]
    test_hook::record(s);
    s.zeroize();
}

impl LineEdit {
    /// A field whose text is masked when drawn.
    pub fn secret() -> Self {
        Self::like(true, false, "")
    }

    /// An empty field with these settings.
    fn like(secret: bool, revealed: bool, word_stops: &'static str) -> Self {
        LineEdit {
            text: String::new(),
            cursor: 0,
            secret,
            revealed,
            word_stops,
        }
    }

    /// Ctrl-W also stops after any of `stops` (e.g. LogQL's `{},|="`).
    pub fn with_word_stops(mut self, stops: &'static str) -> Self {
        self.word_stops = stops;
        self
    }

    pub fn value(&self) -> &str {
        &self.text
    }

    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// The cursor as a byte offset.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The cursor as a count of chars before it.
    pub fn cursor_chars(&self) -> usize {
        self.text[..self.cursor].chars().count()
    }

    pub fn is_secret(&self) -> bool {
        self.secret
    }

    pub fn revealed(&self) -> bool {
        self.revealed
    }

    /// Show / mask a secret field's text.
    pub fn toggle_reveal(&mut self) {
        self.revealed = !self.revealed;
    }

    /// Replace the text (the old one is wiped), cursor at the end.
    pub fn set(&mut self, value: &str) {
        self.clear();
        self.insert_str(value);
    }

    /// Wipe the text.
    pub fn clear(&mut self) {
        wipe(&mut self.text);
        self.cursor = 0;
    }

    /// Put the cursor at byte `pos` (clamped to the text, moved back to a char boundary).
    pub fn set_cursor(&mut self, pos: usize) {
        let mut p = pos.min(self.text.len());
        while !self.text.is_char_boundary(p) {
            p -= 1;
        }
        self.cursor = p;
    }

    /// Put the cursor after `n` chars.
    pub fn set_cursor_chars(&mut self, n: usize) {
        self.cursor = self.byte_at(n);
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(b, _)| b)
    }

    /// Make room for `extra` more bytes; a move to a bigger buffer wipes the old one.
    fn reserve(&mut self, extra: usize) {
        let need = self.text.len().saturating_add(extra);
        if need <= self.text.capacity() {
            return;
        }
        let mut bigger = String::with_capacity(need.saturating_mul(2).max(INITIAL_CAPACITY));
        bigger.push_str(&self.text);
        let mut old = std::mem::replace(&mut self.text, bigger);
        wipe(&mut old);
    }

    /// Replace the bytes in `range` (char boundaries) with `with`; the cursor goes after it.
    pub fn replace_range(&mut self, range: Range<usize>, with: &str) {
        let Range { start, end } = range;
        let end = end.min(self.text.len());
        let start = start.min(end);
        if !self.text.is_char_boundary(start) || !self.text.is_char_boundary(end) {
            return;
        }
        self.reserve(with.len());
        // Shift the tail in place (no second buffer holding the text).
        self.text.replace_range(start..end, with);
        self.cursor = start + with.len();
    }

    /// Insert one char at the cursor (control characters other than tab are dropped).
    pub fn insert(&mut self, c: char) {
        if c.is_control() && c != '\t' {
            return;
        }
        let mut b = [0u8; 4];
        self.replace_range(self.cursor..self.cursor, c.encode_utf8(&mut b));
    }

    /// Insert pasted text at the cursor; control characters (line breaks, tabs, escapes) are
    /// dropped: a line field holds one line.
    pub fn insert_str(&mut self, text: &str) {
        for c in text.chars().filter(|c| !c.is_control()) {
            self.insert(c);
        }
    }

    /// Append `other`'s text without moving the cursor (joining lines).
    pub fn append(&mut self, other: &str) {
        let at = self.cursor;
        let end = self.text.len();
        self.replace_range(end..end, other);
        self.cursor = at;
    }

    /// Cut the text after the cursor into a new field (splitting a line).
    pub fn split_off(&mut self) -> LineEdit {
        let mut rest = Self::like(self.secret, self.revealed, self.word_stops);
        rest.replace_range(0..0, &self.text[self.cursor..]);
        rest.cursor = 0;
        let end = self.text.len();
        self.remove(self.cursor..end);
        rest
    }

    /// Remove the bytes in `range` (char boundaries); the cursor goes to its start.
    fn remove(&mut self, range: Range<usize>) {
        self.replace_range(range, "");
    }

    pub fn backspace(&mut self) {
        if let Some((i, _)) = self.text[..self.cursor].char_indices().next_back() {
            self.remove(i..self.cursor);
        }
    }

    pub fn delete(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            let at = self.cursor;
            self.remove(at..at + c.len_utf8());
        }
    }

    pub fn left(&mut self) {
        if let Some((i, _)) = self.text[..self.cursor].char_indices().next_back() {
            self.cursor = i;
        }
    }

    pub fn right(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }

    pub fn home(&mut self) {
        self.cursor = 0;
    }

    pub fn end(&mut self) {
        self.cursor = self.text.len();
    }

    /// Ctrl-U: delete to the start.
    pub fn kill_to_start(&mut self) {
        self.remove(0..self.cursor);
    }

    /// Ctrl-K: delete to the end.
    pub fn kill_to_end(&mut self) {
        let end = self.text.len();
        self.remove(self.cursor..end);
    }

    /// Ctrl-W: delete the word before the cursor (and the spaces after it).
    pub fn kill_word(&mut self) {
        let before = self.text[..self.cursor].trim_end();
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || self.word_stops.contains(*c))
            .map_or(0, |(i, c)| i + c.len_utf8());
        self.remove(start..self.cursor);
    }

    /// Editing keys: characters, Backspace, Delete, ←/→, Home/End, Ctrl-A/E/U/K/W.
    /// True when the key was one of them (the text or cursor may have changed).
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        match key.code {
            KeyCode::Char('a') if ctrl => self.home(),
            KeyCode::Char('e') if ctrl => self.end(),
            KeyCode::Char('u') if ctrl => self.kill_to_start(),
            KeyCode::Char('k') if ctrl => self.kill_to_end(),
            KeyCode::Char('w') if ctrl => self.kill_word(),
            KeyCode::Char(c) if !ctrl && !alt => self.insert(c),
            KeyCode::Backspace => self.backspace(),
            KeyCode::Delete => self.delete(),
            KeyCode::Left => self.left(),
            KeyCode::Right => self.right(),
            KeyCode::Home => self.home(),
            KeyCode::End => self.end(),
            _ => return false,
        }
        true
    }

    /// Move the text out as a zeroizing string (no copy; the field is left empty).
    pub fn take(&mut self) -> Zeroizing<String> {
        self.cursor = 0;
        Zeroizing::new(std::mem::take(&mut self.text))
    }

    /// The text as drawn: masked for a secret that is not revealed.
    fn shown(&self) -> (std::borrow::Cow<'_, str>, usize) {
        if self.secret && !self.revealed {
            let n = self.text.chars().count();
            ("•".repeat(n).into(), self.cursor_chars() * '•'.len_utf8())
        } else {
            (self.text.as_str().into(), self.cursor)
        }
    }

    /// The text in at most `width` columns, scrolled so the cursor stays visible, with the
    /// cursor cell reversed when `cursor` is set.
    pub fn spans(&self, width: usize, style: Style, cursor: bool) -> Vec<Span<'static>> {
        let (shown, at) = self.shown();
        let before_w: usize = shown[..at].chars().map(char_width).sum();
        // Keep the cursor in the last column when the text before it is wider than the field.
        let room = if cursor {
            width.saturating_sub(1)
        } else {
            width
        };
        let skip = before_w.saturating_sub(room);
        let (mut before, mut under, mut after) = (String::new(), String::new(), String::new());
        let (mut col, mut used) = (0usize, 0usize);
        for (i, c) in shown.char_indices() {
            let w = char_width(c);
            let start = col;
            col += w;
            // A wide char cut by the left edge is left out whole.
            if start < skip {
                continue;
            }
            if used + w > width {
                break;
            }
            used += w;
            match i.cmp(&at) {
                std::cmp::Ordering::Less => before.push(c),
                std::cmp::Ordering::Equal if cursor => under.push(c),
                _ => after.push(c),
            }
        }
        let mut spans = vec![Span::styled(before, style)];
        if cursor {
            if under.is_empty() {
                under.push(' ');
            }
            spans.push(Span::styled(under, style.add_modifier(Modifier::REVERSED)));
        }
        spans.push(Span::styled(after, style));
        spans
    }

    /// Draw `prompt` + the text with a block cursor (or the placeholder when empty) on one row.
    pub fn render(
        &self,
        frame: &mut Frame,
        area: Rect,
        prompt: &str,
        placeholder: &str,
        prompt_style: Style,
        theme: &Theme,
    ) {
        let prompt_w: usize = prompt.chars().map(char_width).sum();
        let width = (area.width as usize).saturating_sub(prompt_w);
        let mut spans = vec![Span::styled(prompt.to_owned(), prompt_style)];
        if self.text.is_empty() {
            spans.push(Span::styled(
                " ",
                theme.ui.input.add_modifier(Modifier::REVERSED),
            ));
            spans.push(Span::styled(
                placeholder.to_owned(),
                theme.ui.input_placeholder,
            ));
        } else {
            spans.extend(self.spans(width, theme.ui.input, true));
        }
        frame.render_widget(
            Paragraph::new(Line::from(spans)).style(theme.ui.input),
            area,
        );
    }
}

fn char_width(c: char) -> usize {
    c.width().unwrap_or(0)
}

/// Up/Down recall of submitted lines, like a shell's. Not for secrets (it keeps plain copies).
#[derive(Debug, Clone, Default)]
pub struct History {
    entries: Vec<String>,
    /// Position while browsing (index into `entries`).
    browsing: Option<usize>,
    /// What was being typed before browsing started.
    draft: String,
}

/// Entries kept (the oldest go first).
pub const HISTORY_MAX: usize = 200;

impl History {
    /// Oldest first.
    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Load entries (oldest first), keeping the newest [`HISTORY_MAX`].
    pub fn set(&mut self, mut entries: Vec<String>) {
        if entries.len() > HISTORY_MAX {
            entries.drain(..entries.len() - HISTORY_MAX);
        }
        self.entries = entries;
        self.browsing = None;
    }

    /// Record a submitted line (not empty, no consecutive duplicates) and stop browsing.
    pub fn record(&mut self, line: &str) {
        self.browsing = None;
        if line.is_empty() || self.entries.last().is_some_and(|l| l == line) {
            return;
        }
        self.entries.push(line.to_owned());
        if self.entries.len() > HISTORY_MAX {
            self.entries.remove(0);
        }
    }

    /// The field was edited: the next Up starts from the newest entry again.
    pub fn stop_browsing(&mut self) {
        self.browsing = None;
    }

    /// Up: the previous (older) entry into `edit`, saving the draft first.
    pub fn prev(&mut self, edit: &mut LineEdit) {
        let idx = match self.browsing {
            _ if self.entries.is_empty() => return,
            None => {
                self.draft = edit.value().to_owned();
                self.entries.len() - 1
            }
            Some(i) => i.saturating_sub(1),
        };
        self.browsing = Some(idx);
        edit.set(&self.entries[idx]);
    }

    /// Down: the next (newer) entry, then back to the draft.
    pub fn next(&mut self, edit: &mut LineEdit) {
        let Some(i) = self.browsing else { return };
        if i + 1 < self.entries.len() {
            self.browsing = Some(i + 1);
            edit.set(&self.entries[i + 1]);
        } else {
            self.browsing = None;
            edit.set(&std::mem::take(&mut self.draft));
        }
    }
}

/// Test hook: each wipe records the text it is about to zeroize, so tests can check that
/// clear, replace, growth and drop each wipe what was typed (zeroizing itself is the `zeroize`
/// crate's, tested there).
#[cfg(test)]
pub(crate) mod test_hook {
    use std::cell::RefCell;

    thread_local! {
        static WIPED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    pub(super) fn record(s: &str) {
        if !s.is_empty() {
            WIPED.with(|w| w.borrow_mut().push(s.to_owned()));
        }
    }

    /// Texts wiped on this thread since the last call.
    pub fn take() -> Vec<String> {
        WIPED.with(|w| std::mem::take(&mut *w.borrow_mut()))
    }
}

#[cfg(test)]
mod tests;
