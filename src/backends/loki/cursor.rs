//! The tail's cursor: where to resume and which entries near there were delivered, so a
//! reconnect neither loses nor repeats lines. Plain data (no I/O): the fuzz target
//! `loki_wire` drives it with arbitrary frames.

use crate::domain::logs::LogLine;
use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// Where a tail is, and what it delivered near there, so a resumed tail (whose backfill and gap
/// fill start at [`TailCursor::resume_start`], inclusive) drops exactly the repeats.
///
/// Repeats are recognised by identity, `(timestamp, stream, line)`, never by a time floor: a line
/// older than the resume point that arrives later (out of order, or after a reconnect) is new and
/// shown. Memory is bounded: only the boundary set is kept, the entries at or after the resume
/// point. The resume point is the newest timestamp delivered that is not in the future (by this
/// host's clock, with [`FUTURE_SLACK_NS`] of slack): a line stamped ahead (a node whose clock is
/// fast) is shown and remembered, but does not move the resume point, so it cannot hide the
/// lines that follow it.
#[derive(Debug, Clone)]
pub struct TailCursor {
    resume: Option<i64>,
    /// `(ts, hash of stream and line)` of delivered entries with `ts >= resume`.
    boundary: BTreeSet<(i64, u64)>,
    clock: fn() -> i64,
}

/// A line at most this far ahead of this host's clock still moves the resume point (clock
/// skew between the host and the cluster's nodes).
pub const FUTURE_SLACK_NS: i64 = 10_000_000_000;

/// Entries stamped in the future kept in the boundary set at most (the oldest go first: at worst
/// a repeat is shown, a line is never lost).
pub const BOUNDARY_MAX: usize = 100_000;

impl Default for TailCursor {
    fn default() -> Self {
        Self::with_clock(now_ns)
    }
}

fn entry_hash(line: &LogLine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.labels.hash(&mut h);
    line.line.hash(&mut h);
    h.finish()
}

impl TailCursor {
    /// A cursor judging "in the future" by `clock` (Unix ns).
    pub fn with_clock(clock: fn() -> i64) -> Self {
        Self {
            resume: None,
            boundary: BTreeSet::new(),
            clock,
        }
    }

    /// The `start` for the next connect.
    pub fn resume_start(&self) -> Option<i64> {
        self.resume
    }

    /// Call when a new connection opens (before its frames are admitted). Nothing to do: the
    /// boundary set already tells repeats apart.
    pub fn begin_resume(&mut self) {}

    /// True when `line` would be admitted (it is not a repeat); records nothing.
    pub fn is_new(&self, line: &LogLine) -> bool {
        !self.boundary.contains(&(line.ts_ns, entry_hash(line)))
    }

    /// Lines delivered at exactly `ts` that the cursor still remembers.
    pub(crate) fn delivered_at(&self, ts: i64) -> u64 {
        self.boundary.range((ts, 0)..=(ts, u64::MAX)).count() as u64
    }

    /// True when `line` is new; records it.
    pub fn admit(&mut self, line: &LogLine) -> bool {
        let ts = line.ts_ns;
        let key = (ts, entry_hash(line));
        if self.boundary.contains(&key) {
            return false;
        }
        if self.resume.is_none_or(|r| ts >= r) {
            self.boundary.insert(key);
        }
        let now = (self.clock)();
        if ts <= now.saturating_add(FUTURE_SLACK_NS) && self.resume.is_none_or(|r| ts > r) {
            self.advance(ts);
        }
        if self.boundary.len() > BOUNDARY_MAX {
            self.boundary.pop_first();
        }
        true
    }

    /// Move the resume point to `ts`, forgetting entries before it (never fetched again).
    fn advance(&mut self, ts: i64) {
        self.resume = Some(ts);
        self.boundary = self.boundary.split_off(&(ts, 0));
    }

    /// Jump ahead: everything before `ts` counts as delivered, everything from `ts` on is new.
    pub fn skip_to(&mut self, ts: i64) {
        if self.resume.is_none_or(|r| r < ts) {
            self.advance(ts);
        }
        self.boundary.retain(|&(t, _)| t != ts);
    }

    /// Keep only new lines.
    pub fn admit_all(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        lines.into_iter().filter(|l| self.admit(l)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::Labels;
    use std::sync::Arc;

    fn line(ts: i64, text: &str) -> LogLine {
        let mut l = Labels::new();
        l.insert("app".into(), "web".into());
        LogLine::new(ts, Arc::new(l), text.into())
    }

    #[test]
    fn live_entries_out_of_order_are_kept_before_any_reconnect() {
        let mut c = TailCursor::default();
        assert!(c.admit(&line(20, "b")));
        assert!(c.admit(&line(10, "late")));
        assert_eq!(c.resume_start(), Some(20));
    }

    #[test]
    fn resumed_backfill_skips_what_was_delivered_even_at_the_same_timestamp() {
        let mut c = TailCursor::default();
        assert!(c.admit(&line(10, "a")));
        assert!(c.admit(&line(20, "b")));
        assert!(c.admit(&line(20, "c")));
        assert_eq!(c.resume_start(), Some(20));
        c.begin_resume();
        // Backfill from start=20 (inclusive: nothing older) repeats b and c, and brings d at
        // the same nanosecond.
        let got = c.admit_all(vec![
            line(20, "b"),
            line(20, "c"),
            line(20, "d"),
            line(30, "e"),
        ]);
        assert_eq!(
            got.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
            vec!["d", "e"]
        );
        assert_eq!(c.resume_start(), Some(30));
    }

    const CLOCK: i64 = 1_000_000_000_000;
    fn clock() -> i64 {
        CLOCK
    }

    /// A node whose clock is ahead stamps one line in the future. That line is shown, but it
    /// does not move the resume point, and after a reconnect every line after it is still
    /// shown (a time floor at the future stamp dropped them all).
    #[test]
    fn a_line_from_the_future_does_not_hide_the_lines_after_a_reconnect() {
        let mut c = TailCursor::with_clock(clock);
        assert!(c.admit(&line(CLOCK - 100, "a")));
        let future = line(CLOCK + 3_600_000_000_000, "from a fast clock");
        assert!(c.admit(&future));
        assert_eq!(c.resume_start(), Some(CLOCK - 100));
        c.begin_resume();
        // The backfill from the resume point repeats `a` and the future line, then new lines.
        let got = c.admit_all(vec![
            line(CLOCK - 100, "a"),
            line(CLOCK - 50, "b"),
            line(CLOCK - 10, "c"),
            future.clone(),
        ]);
        assert_eq!(
            got.iter().map(|l| l.line.as_str()).collect::<Vec<_>>(),
            vec!["b", "c"]
        );
        assert_eq!(c.resume_start(), Some(CLOCK - 10));
        // A late line (older than the resume point, never delivered) is new, not a repeat.
        assert!(c.admit(&line(CLOCK - 70, "late")));
    }

    #[test]
    fn the_boundary_set_stays_bounded() {
        let mut c = TailCursor::with_clock(clock);
        for i in 0..(BOUNDARY_MAX as i64 + 500) {
            c.admit(&line(CLOCK + 3_600_000_000_000 + i, "future"));
        }
        assert!(c.boundary.len() <= BOUNDARY_MAX);
        for i in 0..1000 {
            c.admit(&line(i, "past"));
        }
        assert_eq!(c.resume_start(), Some(999));
        assert!(c.boundary.len() <= BOUNDARY_MAX);
    }
}
