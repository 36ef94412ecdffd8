//! A bounded ring buffer of log lines with stable sequence numbers: a line keeps its number
//! while it is held, so selections, search matches and a paused view survive new lines
//! arriving and old ones being evicted.

use crate::domain::logs::LogLine;
use std::collections::VecDeque;

/// Default capacity: 100k lines. A tail reconnect fills its gap with at most
/// [`GAP_FILL_MAX`](crate::backends::loki::GAP_FILL_MAX) lines, the same number: a full gap
/// fill replaces the buffer, more could not be shown; the rest is skipped and the pane says so.
pub const DEFAULT_CAPACITY: usize = 100_000;
const _: () = assert!(crate::backends::loki::GAP_FILL_MAX == DEFAULT_CAPACITY);

/// Sequence number of a line in the buffer. Older lines have smaller numbers; lines prepended
/// from a history query get numbers below the current first one (they may be negative).
pub type Seq = i64;

#[derive(Debug, Clone)]
pub struct LogBuffer {
    lines: VecDeque<LogLine>,
    /// Seq of `lines[0]`.
    first: Seq,
    capacity: usize,
    /// Lines evicted because the buffer was full (since the last clear).
    evicted: u64,
}

impl Default for LogBuffer {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl LogBuffer {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            lines: VecDeque::new(),
            first: 0,
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }
    pub fn len(&self) -> usize {
        self.lines.len()
    }
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
    /// Lines dropped because the buffer was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
    /// Seq of the oldest line held (even when empty: the seq the next line would get).
    pub fn first_seq(&self) -> Seq {
        self.first
    }
    /// Seq of the newest line, if any.
    pub fn last_seq(&self) -> Option<Seq> {
        (!self.lines.is_empty()).then(|| self.first + self.lines.len() as Seq - 1)
    }

    pub fn get(&self, seq: Seq) -> Option<&LogLine> {
        let idx = seq.checked_sub(self.first)?;
        usize::try_from(idx).ok().and_then(|i| self.lines.get(i))
    }

    /// Clamp `seq` into the held range.
    pub fn clamp(&self, seq: Seq) -> Option<Seq> {
        self.last_seq().map(|last| seq.clamp(self.first, last))
    }

    /// Append newer lines; returns the seq range they got (`first..end`). Evicts the oldest
    /// lines beyond capacity.
    pub fn extend(&mut self, lines: impl IntoIterator<Item = LogLine>) -> std::ops::Range<Seq> {
        let start = self.first + self.lines.len() as Seq;
        for line in lines {
            if self.lines.len() == self.capacity {
                self.lines.pop_front();
                self.first += 1;
                self.evicted += 1;
            }
            self.lines.push_back(line);
        }
        let end = self.first + self.lines.len() as Seq;
        start.max(self.first)..end
    }

    /// Put older lines (oldest first) in front, as far as capacity allows: when full, the
    /// oldest of them are the ones left out (and counted as evicted).
    pub fn prepend_older(&mut self, lines: Vec<LogLine>) {
        let room = self.capacity - self.lines.len();
        let skip = lines.len().saturating_sub(room);
        self.evicted += skip as u64;
        for line in lines.into_iter().skip(skip).rev() {
            self.lines.push_front(line);
            self.first -= 1;
        }
    }

    /// Drop everything (a new query); sequence numbers keep growing.
    pub fn clear(&mut self) {
        self.first += self.lines.len() as Seq;
        self.lines.clear();
        self.evicted = 0;
    }

    /// Lines with their seqs, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (Seq, &LogLine)> + ExactSizeIterator {
        let first = self.first;
        self.lines
            .iter()
            .enumerate()
            .map(move |(i, l)| (first + i as Seq, l))
    }

    /// Seqs `from..=to` (clamped), oldest first.
    pub fn range(&self, from: Seq, to: Seq) -> impl DoubleEndedIterator<Item = (Seq, &LogLine)> {
        let lo = (from - self.first).max(0) as usize;
        let hi = ((to - self.first + 1).max(0) as usize).min(self.lines.len());
        let first = self.first;
        self.lines
            .range(lo.min(hi)..hi)
            .enumerate()
            .map(move |(i, l)| (first + (lo + i) as Seq, l))
    }

    /// First seq whose timestamp is >= `ts_ns` (lines are held in time order).
    pub fn seq_at_or_after(&self, ts_ns: i64) -> Option<Seq> {
        let idx = self.lines.partition_point(|l| l.ts_ns < ts_ns);
        (idx < self.lines.len()).then(|| self.first + idx as Seq)
    }

    /// Timestamp of the newest line.
    pub fn newest_ts(&self) -> Option<i64> {
        self.lines.back().map(|l| l.ts_ns)
    }
    pub fn oldest_ts(&self) -> Option<i64> {
        self.lines.front().map(|l| l.ts_ns)
    }

    /// Approximate heap bytes held (lines' text and the deque; labels are shared per stream).
    pub fn approx_bytes(&self) -> usize {
        self.lines.capacity() * std::mem::size_of::<LogLine>()
            + self.lines.iter().map(|l| l.line.capacity()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn l(ts: i64) -> LogLine {
        LogLine::new(ts, Arc::default(), format!("line {ts}"))
    }

    #[test]
    fn evicts_oldest_and_counts_them() {
        let mut b = LogBuffer::with_capacity(3);
        assert_eq!(b.extend((1..=5).map(l)), 2..5);
        assert_eq!(b.len(), 3);
        assert_eq!(b.evicted(), 2);
        assert_eq!(b.first_seq(), 2);
        assert_eq!(b.get(2).unwrap().ts_ns, 3);
        assert_eq!(b.get(1), None);
        assert_eq!(b.last_seq(), Some(4));
    }

    #[test]
    fn prepend_keeps_seqs_of_existing_lines() {
        let mut b = LogBuffer::with_capacity(4);
        b.extend([l(10), l(11)]);
        let seq_of_10 = b.first_seq();
        b.prepend_older(vec![l(1), l(2), l(3)]);
        assert_eq!(
            b.get(seq_of_10).unwrap().ts_ns,
            10,
            "existing lines keep their seq"
        );
        assert_eq!(
            b.iter().map(|(_, l)| l.ts_ns).collect::<Vec<_>>(),
            vec![2, 3, 10, 11]
        );
        assert_eq!(b.evicted(), 1);
    }

    #[test]
    fn range_and_time_lookup() {
        let mut b = LogBuffer::with_capacity(10);
        b.extend([l(10), l(20), l(30), l(40)]);
        assert_eq!(
            b.range(1, 2).map(|(s, _)| s).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(b.range(-5, 100).count(), 4);
        assert_eq!(b.range(3, 1).count(), 0);
        assert_eq!(b.seq_at_or_after(25), Some(2));
        assert_eq!(b.seq_at_or_after(41), None);
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.extend([l(50)]), 4..5);
    }
}
