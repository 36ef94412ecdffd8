//! Client-side search over the buffered lines: highlight, next/previous, and an optional
//! "matches with N context lines" view (grep -C). Smart case: lower-case patterns ignore case.
//! A pattern that is not a valid regex is searched literally.

use super::buffer::{LogBuffer, Seq};
use regex::Regex;

#[derive(Debug, Clone)]
pub struct Search {
    pub pattern: String,
    regex: Regex,
    /// Seqs of matching lines, ascending.
    matches: Vec<Seq>,
    /// Show only matches with this many lines around each (None: show everything).
    pub context: Option<usize>,
}

impl Search {
    /// Compile `pattern` and scan the buffer. `None` for an empty pattern.
    pub fn new(pattern: &str, buffer: &LogBuffer) -> Option<Self> {
        if pattern.is_empty() {
            return None;
        }
        let smart_case = if pattern.chars().any(char::is_uppercase) {
            ""
        } else {
            "(?i)"
        };
        let regex = Regex::new(&format!("{smart_case}{pattern}"))
            .or_else(|_| Regex::new(&format!("{smart_case}{}", regex::escape(pattern))))
            .ok()?;
        let mut s = Self {
            pattern: pattern.to_owned(),
            regex,
            matches: Vec::new(),
            context: None,
        };
        s.matches = buffer
            .iter()
            .filter(|(_, l)| s.regex.is_match(&l.line))
            .map(|(seq, _)| seq)
            .collect();
        Some(s)
    }

    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    pub fn matches(&self) -> &[Seq] {
        &self.matches
    }

    /// Test newly appended lines.
    pub fn on_appended(&mut self, buffer: &LogBuffer, range: std::ops::Range<Seq>) {
        for (seq, line) in buffer.range(range.start, range.end - 1) {
            if self.regex.is_match(&line.line) {
                self.matches.push(seq);
            }
        }
        self.forget_before(buffer.first_seq());
    }

    /// Rescan (after older lines were prepended).
    pub fn rescan(&mut self, buffer: &LogBuffer) {
        self.matches = buffer
            .iter()
            .filter(|(_, l)| self.regex.is_match(&l.line))
            .map(|(seq, _)| seq)
            .collect();
    }

    /// Drop matches of evicted lines.
    pub fn forget_before(&mut self, first: Seq) {
        let cut = self.matches.partition_point(|&m| m < first);
        if cut > 0 {
            self.matches.drain(..cut);
        }
    }

    /// First match after `seq` (wrapping to the first).
    pub fn next_after(&self, seq: Seq) -> Option<Seq> {
        let i = self.matches.partition_point(|&m| m <= seq);
        self.matches.get(i).or(self.matches.first()).copied()
    }

    /// Last match before `seq` (wrapping to the last).
    pub fn prev_before(&self, seq: Seq) -> Option<Seq> {
        let i = self.matches.partition_point(|&m| m < seq);
        i.checked_sub(1)
            .and_then(|i| self.matches.get(i))
            .or(self.matches.last())
            .copied()
    }

    /// 1-based position of `seq` among matches, for "3/17".
    pub fn position(&self, seq: Seq) -> Option<usize> {
        self.matches.binary_search(&seq).ok().map(|i| i + 1)
    }

    /// Whether the context view shows `seq`.
    pub fn shows(&self, seq: Seq) -> bool {
        let Some(c) = self.context else { return true };
        let c = c as Seq;
        let i = self.matches.partition_point(|&m| m < seq - c);
        self.matches.get(i).is_some_and(|&m| m <= seq + c)
    }

    /// The shown line before `seq` in the context view (None: nothing before).
    pub fn prev_shown(&self, seq: Seq, first: Seq) -> Option<Seq> {
        let t = seq - 1;
        if t < first {
            return None;
        }
        if self.shows(t) {
            return Some(t);
        }
        let c = self.context.unwrap_or(0) as Seq;
        let i = self.matches.partition_point(|&m| m <= t);
        let m = *self.matches.get(i.checked_sub(1)?)?;
        Some((m + c).min(t))
    }

    /// The shown line after `seq` in the context view.
    pub fn next_shown(&self, seq: Seq, last: Seq) -> Option<Seq> {
        let t = seq + 1;
        if t > last {
            return None;
        }
        if self.shows(t) {
            return Some(t);
        }
        let c = self.context.unwrap_or(0) as Seq;
        let i = self.matches.partition_point(|&m| m < t);
        let m = *self.matches.get(i)?;
        Some((m - c).max(t))
    }

    /// Byte ranges of matches in `text` (for highlighting).
    pub fn spans(&self, text: &str) -> Vec<(usize, usize)> {
        self.regex
            .find_iter(text)
            .filter(|m| !m.is_empty())
            .map(|m| (m.start(), m.end()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::LogLine;
    use std::sync::Arc;

    fn buf(lines: &[&str]) -> LogBuffer {
        let mut b = LogBuffer::with_capacity(100);
        b.extend(
            lines
                .iter()
                .enumerate()
                .map(|(i, t)| LogLine::new(i as i64, Arc::default(), (*t).to_owned())),
        );
        b
    }

    #[test]
    fn smart_case_literal_fallback_and_wrapping() {
        let b = buf(&["a ERROR x", "ok", "error y", "(unclosed", "ok"]);
        let s = Search::new("error", &b).unwrap();
        assert_eq!(s.matches(), &[0, 2]);
        assert_eq!(Search::new("ERROR", &b).unwrap().matches(), &[0]);
        assert_eq!(Search::new("(unclosed", &b).unwrap().matches(), &[3]);
        assert_eq!(s.next_after(0), Some(2));
        assert_eq!(s.next_after(2), Some(0), "wraps");
        assert_eq!(s.prev_before(0), Some(2), "wraps");
        assert_eq!(s.position(2), Some(2));
        assert!(Search::new("", &b).is_none());
    }

    #[test]
    fn context_view_walks_over_gaps() {
        let b = buf(&["0", "1", "hit", "3", "4", "5", "6", "hit", "8", "9"]);
        let mut s = Search::new("hit", &b).unwrap();
        s.context = Some(1);
        let shown: Vec<Seq> = (0..10).filter(|&q| s.shows(q)).collect();
        assert_eq!(shown, vec![1, 2, 3, 6, 7, 8]);
        assert_eq!(s.prev_shown(6, 0), Some(3));
        assert_eq!(s.prev_shown(1, 0), None);
        assert_eq!(s.next_shown(3, 9), Some(6));
        assert_eq!(s.next_shown(8, 9), None);
    }

    #[test]
    fn incremental_matching_and_eviction() {
        let mut b = LogBuffer::with_capacity(3);
        b.extend([LogLine::new(0, Arc::default(), "hit".into())]);
        let mut s = Search::new("hit", &b).unwrap();
        let r = b.extend(["a", "hit", "b"].map(|t| LogLine::new(1, Arc::default(), t.into())));
        s.on_appended(&b, r);
        assert_eq!(s.matches(), &[2]);
    }
}
