//! The logs pane: what it shows and how it reacts, without any drawing. Every method returns
//! the effects to run; nothing here awaits.

pub mod buffer;
pub mod jump;
pub mod query_box;
pub mod search;
pub mod window;

use super::conn::ConnState;
use super::events::{ConsoleEffect, ConsoleEvent};
use crate::backends::loki::{
    Direction, GAP_FILL_MAX, GAP_FILL_PAGE, RangeQuery, Resumed, TailEvent, TailRequest,
};
use crate::domain::logs::LogLine;
use crate::widgets::line_edit::LineEdit;
use buffer::{LogBuffer, Seq};
use query_box::{QueryBox, QueryBoxNeed};
use search::Search;
use std::cell::Cell;
use window::HistoryWindow;

/// Which one-line prompt is open at the bottom of the pane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsPrompt {
    /// The LogQL box.
    Query,
    /// `/` search.
    Search,
    /// Jump to a time.
    Jump,
    /// History window ("15m 1000").
    Window,
}

/// Live (history + tail) or a fixed window in the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogsMode {
    Live,
    /// A range loaded from `from_ns` forward, no tail (after a jump before the buffer).
    Historic {
        from_ns: i64,
    },
}

#[derive(Debug)]
pub struct LogsPane {
    pub buffer: LogBuffer,
    pub query_box: QueryBox,
    /// The prompt being edited and its input (the LogQL box keeps its own).
    pub prompt: Option<LogsPrompt>,
    pub prompt_input: LineEdit,
    /// The running query.
    pub query: String,
    pub window: HistoryWindow,
    /// History starts here instead of `window.minutes` ago (the alert pivot), Unix ns.
    pub history_from: Option<i64>,
    pub mode: LogsMode,
    /// The lines come from elsewhere than Loki (the pod log API); says from where.
    pub external: Option<String>,
    generation: u64,
    pub conn: ConnState,
    /// A range query is in flight.
    pub loading: bool,
    /// The last query error (Loki's own words).
    pub error: Option<String>,
    /// A one-line notice (resumed after reconnect, dropped entries...).
    pub notice: Option<String>,
    /// Newest shown line when paused; `None` follows the newest line.
    bottom: Option<Seq>,
    /// Selected line: this many shown lines above the bottom one.
    selected_up: usize,
    pub search: Option<Search>,
    /// Where the selection was when the search prompt opened: typing searches from there.
    search_from: Option<Seq>,
    pub show_time: bool,
    pub show_labels: bool,
    pub wrap: bool,
    /// Entries Loki reported dropped (tail too slow) since the query started.
    pub loki_dropped: u64,
    /// Visible rows at the last draw (the view writes it; paging uses it).
    pub page: Cell<usize>,
    /// Lines a reconnect fills in at most ([`GAP_FILL_MAX`], the buffer's default capacity).
    pub gap_max: usize,
}

impl Default for LogsPane {
    fn default() -> Self {
        Self::new(buffer::DEFAULT_CAPACITY)
    }
}

/// Context lines shown around matches when the context view is on.
pub const CONTEXT_LINES: usize = 3;

impl LogsPane {
    pub fn new(capacity: usize) -> Self {
        Self {
            buffer: LogBuffer::with_capacity(capacity),
            query_box: QueryBox::default(),
            prompt: None,
            prompt_input: LineEdit::default(),
            query: String::new(),
            window: HistoryWindow::default(),
            history_from: None,
            mode: LogsMode::Live,
            external: None,
            generation: 0,
            conn: ConnState::NotConfigured,
            loading: false,
            error: None,
            notice: None,
            bottom: None,
            selected_up: 0,
            search: None,
            search_from: None,
            show_time: true,
            show_labels: false,
            wrap: false,
            loki_dropped: 0,
            page: Cell::new(20),
            gap_max: GAP_FILL_MAX,
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn following(&self) -> bool {
        self.bottom.is_none()
    }

    // ----- queries ------------------------------------------------------------------------

    /// Run `query` live: the history window first (server-side filters apply before the
    /// limit), then the tail from the same instant. Errors come back as events.
    pub fn run_query(&mut self, query: &str, now_ns: i64) -> Vec<ConsoleEffect> {
        self.history_from = None;
        self.start(
            query,
            now_ns,
            now_ns - i64::from(self.window.minutes) * 60_000_000_000,
            LogsMode::Live,
        )
    }

    /// Run `query` live with history from `start_ns` (the alert pivot).
    pub fn run_query_from(
        &mut self,
        query: &str,
        start_ns: i64,
        now_ns: i64,
    ) -> Vec<ConsoleEffect> {
        self.history_from = Some(start_ns);
        self.start(query, now_ns, start_ns, LogsMode::Live)
    }

    /// Run `query` as history from `from_ns` on, without a tail (the incident view's window).
    pub fn run_history_from(
        &mut self,
        query: &str,
        from_ns: i64,
        now_ns: i64,
    ) -> Vec<ConsoleEffect> {
        self.start(query, now_ns, from_ns, LogsMode::Historic { from_ns })
    }

    fn start(
        &mut self,
        query: &str,
        now_ns: i64,
        start_ns: i64,
        mode: LogsMode,
    ) -> Vec<ConsoleEffect> {
        let query = query.trim().to_owned();
        if query.is_empty() {
            return Vec::new();
        }
        self.generation += 1;
        self.external = None;
        self.query = query.clone();
        self.query_box.set_text(query.clone());
        self.buffer.clear();
        self.loki_dropped = 0;
        self.error = None;
        self.notice = None;
        self.loading = true;
        self.mode = mode;
        self.bottom = None;
        self.selected_up = 0;
        if let Some(s) = &mut self.search {
            s.rescan(&self.buffer);
        }
        let generation = self.generation;
        let (range, tail) = match mode {
            LogsMode::Live => (
                RangeQuery {
                    query: query.clone(),
                    start_ns,
                    end_ns: now_ns,
                    limit: self.window.lines,
                    direction: Direction::Backward,
                },
                Some(TailRequest {
                    query,
                    start_ns: Some(now_ns),
                    limit: 1000,
                    delay_for: 0,
                    gap_max: self.gap_max,
                    gap_page: GAP_FILL_PAGE,
                    ping_every: crate::backends::loki::PING_EVERY,
                    pong_timeout: crate::backends::loki::PONG_TIMEOUT,
                }),
            ),
            LogsMode::Historic { from_ns } => (
                RangeQuery {
                    query,
                    start_ns: from_ns,
                    end_ns: now_ns,
                    limit: self.window.lines,
                    direction: Direction::Forward,
                },
                None,
            ),
        };
        if matches!(mode, LogsMode::Historic { .. }) {
            self.bottom = Some(self.buffer.first_seq());
        }
        let mut fx = vec![ConsoleEffect::QueryLogs {
            generation,
            query: range,
        }];
        match tail {
            Some(request) => {
                self.conn = ConnState::Connecting;
                fx.push(ConsoleEffect::StartTail {
                    generation,
                    request,
                });
            }
            None => fx.push(ConsoleEffect::StopTail),
        }
        fx
    }

    /// Show lines from another source (`what`, e.g. the pod log API) instead of a Loki query:
    /// the buffer is emptied and the returned generation tags that source's events (sent as
    /// `ConsoleEvent::Tail`), so late Loki answers are ignored.
    pub fn begin_external(&mut self, what: &str) -> u64 {
        self.generation += 1;
        self.external = Some(what.to_owned());
        self.query = what.to_owned();
        self.query_box.set_text(String::new());
        self.history_from = None;
        self.buffer.clear();
        self.loki_dropped = 0;
        self.error = None;
        self.notice = None;
        self.loading = false;
        self.mode = LogsMode::Live;
        self.bottom = None;
        self.selected_up = 0;
        if let Some(s) = &mut self.search {
            s.rescan(&self.buffer);
        }
        self.conn = ConnState::Connecting;
        self.generation
    }

    /// Restart the tail of the running query after it was stopped (leaving the screen),
    /// continuing after the newest buffered line.
    pub fn resume_tail(&mut self, now_ns: i64) -> Vec<ConsoleEffect> {
        if self.query.is_empty() || self.mode != LogsMode::Live || self.external.is_some() {
            return Vec::new();
        }
        // Peer timestamps: `i64::MAX + 1` would overflow.
        let start = self
            .buffer
            .newest_ts()
            .map_or(now_ns, |t| t.saturating_add(1));
        self.conn = ConnState::Connecting;
        vec![ConsoleEffect::StartTail {
            generation: self.generation,
            request: TailRequest {
                query: self.query.clone(),
                start_ns: Some(start),
                limit: 1000,
                delay_for: 0,
                gap_max: self.gap_max,
                gap_page: GAP_FILL_PAGE,
                ping_every: crate::backends::loki::PING_EVERY,
                pong_timeout: crate::backends::loki::PONG_TIMEOUT,
            },
        }]
    }

    /// Apply a backend event meant for this pane; times in notices are shown in `tz`.
    pub fn on_event(&mut self, ev: ConsoleEvent, tz: &jiff::tz::TimeZone) -> Vec<ConsoleEffect> {
        match ev {
            ConsoleEvent::LogsLoaded { generation, result } if generation == self.generation => {
                self.loading = false;
                match result {
                    Ok(lines) => self.ingest_history(lines),
                    Err(e) => self.error = Some(e),
                }
            }
            ConsoleEvent::Tail { generation, event } if generation == self.generation => {
                self.on_tail(event, tz)
            }
            ConsoleEvent::LabelsLoaded(Ok(names)) => self.query_box.label_names = names,
            ConsoleEvent::LabelValuesLoaded {
                name,
                result: Ok(values),
            } => {
                self.query_box.label_values.insert(name, values);
            }
            ConsoleEvent::LabelsLoaded(Err(e))
            | ConsoleEvent::LabelValuesLoaded { result: Err(e), .. } => {
                self.notice = Some(format!("completion unavailable: {e}"));
            }
            _ => {}
        }
        Vec::new()
    }

    fn on_tail(&mut self, event: TailEvent, tz: &jiff::tz::TimeZone) {
        match event {
            TailEvent::Connecting { attempt } => {
                if attempt <= 1 || !matches!(self.conn, ConnState::Reconnecting { .. }) {
                    self.conn = ConnState::Connecting;
                }
            }
            TailEvent::Live { resumed } => {
                self.conn = ConnState::Live;
                if let Some(r) = resumed {
                    self.notice = Some(resumed_notice(&r, tz));
                }
            }
            TailEvent::Lines(lines) => self.ingest(lines),
            TailEvent::Dropped { count } => {
                self.loki_dropped += count as u64;
                self.notice = Some(format!(
                    "Loki dropped {} entries (the tail could not keep up); narrow the query with |= or a tighter selector",
                    self.loki_dropped
                ));
            }
            TailEvent::Reconnecting {
                attempt,
                retry_in,
                reason,
            } => {
                self.conn = ConnState::Reconnecting {
                    attempt,
                    retry_in,
                    reason,
                };
            }
            TailEvent::Failed { reason } => {
                self.error = Some(reason.clone());
                self.conn = ConnState::Failed { reason };
            }
        }
    }

    /// Append tail lines (a whole batch per call: one redraw per frame, not per line).
    pub fn ingest(&mut self, lines: Vec<LogLine>) {
        if lines.is_empty() {
            return;
        }
        let range = self.buffer.extend(lines);
        if let Some(s) = &mut self.search {
            s.on_appended(&self.buffer, range);
        }
        if let Some(b) = self.bottom {
            self.bottom = Some(b.max(self.buffer.first_seq()));
        }
    }

    /// Put range-query lines (older than anything tailed) in front.
    pub fn ingest_history(&mut self, lines: Vec<LogLine>) {
        let newest_tailed = self.buffer.oldest_ts();
        let lines: Vec<LogLine> = match newest_tailed {
            // The range ends where the tail starts; keep only what is older than the tail.
            Some(t) => lines.into_iter().filter(|l| l.ts_ns < t).collect(),
            None => lines,
        };
        let was_empty = self.buffer.is_empty();
        self.buffer.prepend_older(lines);
        if let Some(s) = &mut self.search {
            s.rescan(&self.buffer);
        }
        if was_empty && matches!(self.mode, LogsMode::Historic { .. }) {
            let page = self.page.get().max(1) as Seq;
            self.bottom = self.buffer.clamp(self.buffer.first_seq() + page - 1);
            self.selected_up = self
                .page
                .get()
                .saturating_sub(1)
                .min(self.buffer.len().saturating_sub(1));
        }
    }

    /// Effects for completion data the query box lacks.
    pub fn completion_effects(&self) -> Vec<ConsoleEffect> {
        match self.query_box.need() {
            QueryBoxNeed::Nothing => Vec::new(),
            QueryBoxNeed::LabelNames => vec![ConsoleEffect::FetchLabels],
            QueryBoxNeed::LabelValues(name) => vec![ConsoleEffect::FetchLabelValues { name }],
        }
    }

    /// Change the history window and re-run the query.
    pub fn set_window(&mut self, input: &str, now_ns: i64) -> Vec<ConsoleEffect> {
        match HistoryWindow::parse(input, self.window) {
            Ok(w) => {
                self.window = w;
                let q = self.query.clone();
                self.run_query(&q, now_ns)
            }
            Err(e) => {
                self.notice = Some(e);
                Vec::new()
            }
        }
    }

    /// Jump to a time: inside the buffer select it (paused); before it, load from there.
    pub fn jump_to(&mut self, ts_ns: i64, now_ns: i64) -> Vec<ConsoleEffect> {
        let inside = self.buffer.oldest_ts().is_some_and(|o| ts_ns >= o);
        if inside {
            match self.buffer.seq_at_or_after(ts_ns) {
                Some(seq) => self.reveal(seq),
                None => self.follow(),
            }
            return Vec::new();
        }
        if self.query.is_empty() {
            return Vec::new();
        }
        let q = self.query.clone();
        let fx = self.start(&q, now_ns, ts_ns, LogsMode::Historic { from_ns: ts_ns });
        self.notice = Some("showing history from the jump point; f goes live again".into());
        fx
    }

    // ----- navigation ---------------------------------------------------------------------

    fn prev_shown(&self, seq: Seq) -> Option<Seq> {
        match &self.search {
            Some(s) if s.context.is_some() => s.prev_shown(seq, self.buffer.first_seq()),
            _ => (seq > self.buffer.first_seq()).then_some(seq - 1),
        }
    }

    fn next_shown(&self, seq: Seq) -> Option<Seq> {
        let last = self.buffer.last_seq()?;
        match &self.search {
            Some(s) if s.context.is_some() => s.next_shown(seq, last),
            _ => (seq < last).then_some(seq + 1),
        }
    }

    fn is_shown(&self, seq: Seq) -> bool {
        match &self.search {
            Some(s) => s.shows(seq),
            None => true,
        }
    }

    /// The newest line on screen.
    pub fn bottom_seq(&self) -> Option<Seq> {
        let last = self.buffer.last_seq()?;
        let b = self.buffer.clamp(self.bottom.unwrap_or(last))?;
        if self.is_shown(b) {
            return Some(b);
        }
        self.prev_shown(b).or_else(|| self.next_shown(b))
    }

    /// Shown lines from the bottom up, at most `n` (newest first).
    pub fn lines_up_from_bottom(&self, n: usize) -> Vec<Seq> {
        let mut out = Vec::with_capacity(n);
        let mut cur = self.bottom_seq();
        while let Some(s) = cur {
            if out.len() >= n {
                break;
            }
            out.push(s);
            cur = self.prev_shown(s);
        }
        out
    }

    /// The selected line.
    pub fn selected_seq(&self) -> Option<Seq> {
        let ups = self.lines_up_from_bottom(self.selected_up + 1);
        ups.last().copied()
    }

    pub fn selected_up(&self) -> usize {
        self.selected_up
    }

    fn pause_here(&mut self) {
        if self.bottom.is_none() {
            self.bottom = self.bottom_seq();
        }
    }

    /// `f`: follow (jump to the newest line at once) or pause where we are.
    pub fn toggle_follow(&mut self, now_ns: i64) -> Vec<ConsoleEffect> {
        if self.following() {
            self.pause_here();
            Vec::new()
        } else if let LogsMode::Historic { .. } = self.mode {
            let q = self.query.clone();
            self.run_query(&q, now_ns)
        } else {
            self.follow();
            Vec::new()
        }
    }

    /// Newest line, following.
    pub fn follow(&mut self) {
        self.bottom = None;
        self.selected_up = 0;
    }

    /// New lines since the pause.
    pub fn unseen(&self) -> u64 {
        match (self.bottom, self.buffer.last_seq()) {
            (Some(b), Some(last)) if last > b => (last - b) as u64,
            _ => 0,
        }
    }

    pub fn scroll_up(&mut self, n: usize) {
        self.pause_here();
        let Some(mut b) = self.bottom_seq() else {
            return;
        };
        // Never scroll the top of the screen past the first line.
        let page = self.page.get().max(1);
        for _ in 0..n {
            let above = self.lines_up_from_bottom(page + 1);
            if above.len() <= page {
                break;
            }
            match self.prev_shown(b) {
                Some(p) => {
                    b = p;
                    self.bottom = Some(b);
                }
                None => break,
            }
        }
    }

    pub fn scroll_down(&mut self, n: usize) {
        let Some(mut b) = self.bottom_seq() else {
            return;
        };
        if self.following() {
            return;
        }
        for _ in 0..n {
            match self.next_shown(b) {
                Some(nx) => b = nx,
                None => break,
            }
        }
        self.bottom = Some(b);
    }

    /// `k`: selection up one line (scrolls at the top edge).
    pub fn select_up(&mut self) {
        self.pause_here();
        let page = self.page.get().max(1);
        let available = self.lines_up_from_bottom(self.selected_up + 2).len();
        if self.selected_up + 1 < page && self.selected_up + 1 < available {
            self.selected_up += 1;
        } else {
            self.scroll_up(1);
        }
    }

    /// `j`: selection down one line (scrolls at the bottom edge).
    pub fn select_down(&mut self) {
        if self.selected_up > 0 {
            self.selected_up -= 1;
        } else {
            self.scroll_down(1);
        }
    }

    pub fn page_up(&mut self) {
        let page = self.page.get().max(1);
        self.scroll_up(page.saturating_sub(1).max(1));
    }

    pub fn page_down(&mut self) {
        let page = self.page.get().max(1);
        self.scroll_down(page.saturating_sub(1).max(1));
    }

    /// `g`: oldest line.
    pub fn top(&mut self) {
        let first = self.buffer.first_seq();
        let page = self.page.get().max(1);
        let mut b = if self.is_shown(first) {
            Some(first)
        } else {
            self.next_shown(first)
        };
        let Some(start) = b else { return };
        let mut shown = 1;
        while shown < page {
            match b.and_then(|s| self.next_shown(s)) {
                Some(n) => {
                    b = Some(n);
                    shown += 1;
                }
                None => break,
            }
        }
        self.bottom = b.or(Some(start));
        self.selected_up = shown - 1;
    }

    /// Select `seq`, scrolling so it sits mid-screen (pauses).
    pub fn reveal(&mut self, seq: Seq) {
        let half = self.page.get().max(1) / 2;
        let mut b = seq;
        let mut steps = 0;
        while steps < half {
            match self.next_shown(b) {
                Some(n) => {
                    b = n;
                    steps += 1;
                }
                None => break,
            }
        }
        self.bottom = Some(b);
        self.selected_up = steps;
    }

    // ----- search and display -------------------------------------------------------------

    /// Apply a search pattern; jumps to the newest match at or before the selection.
    pub fn set_search(&mut self, pattern: &str) {
        let context = self.search.as_ref().and_then(|s| s.context);
        self.search = Search::new(pattern, &self.buffer).map(|mut s| {
            s.context = context;
            s
        });
        match &self.search {
            None => {}
            Some(s) if s.matches().is_empty() => {
                self.notice = Some(format!("no match for `{pattern}` in the buffer"))
            }
            Some(s) => {
                let from = self.search_from.or(self.selected_seq()).unwrap_or(0) + 1;
                if let Some(m) = s.prev_before(from) {
                    self.reveal(m);
                }
            }
        }
    }

    /// The search prompt opened: matches are looked for from the current selection while typing.
    pub fn begin_search(&mut self) {
        self.search_from = self.selected_seq();
    }

    /// The search prompt closed.
    pub fn end_search(&mut self) {
        self.search_from = None;
    }

    /// `n` / `N`.
    pub fn next_match(&mut self, forward: bool) {
        let Some(s) = &self.search else { return };
        let cur = self.selected_seq().unwrap_or(self.buffer.first_seq());
        let target = if forward {
            s.next_after(cur)
        } else {
            s.prev_before(cur)
        };
        if let Some(t) = target {
            self.reveal(t);
        }
    }

    /// `C`: show only matches with context lines, or everything.
    pub fn toggle_context(&mut self) {
        let sel = self.selected_seq();
        let Some(s) = &mut self.search else {
            self.notice = Some("search first (/), then C shows matches with context".into());
            return;
        };
        s.context = if s.context.is_some() {
            None
        } else {
            Some(CONTEXT_LINES)
        };
        if self.following() {
            return;
        }
        // Keep the selected line selected, or move to the nearest match.
        let target = sel.and_then(|q| {
            if self.is_shown(q) {
                Some(q)
            } else {
                self.search.as_ref().and_then(|s| s.prev_before(q + 1))
            }
        });
        if let Some(t) = target {
            self.reveal(t);
        }
    }

    pub fn clear_search(&mut self) {
        self.search = None;
    }

    /// `y`: the selected line for the clipboard.
    pub fn copy_selected(&mut self) -> Vec<ConsoleEffect> {
        match self.selected_seq().and_then(|s| self.buffer.get(s)) {
            Some(l) => {
                self.notice = Some("copied the selected line (OSC 52)".into());
                vec![ConsoleEffect::Copy(l.line.clone())]
            }
            None => Vec::new(),
        }
    }
}

/// `reconnected after 12s: 3,214 lines backfilled from 14:05:31`, or, when the gap fill hit
/// its cap, `reconnected after 2h 5m: 48,120 lines skipped 13:10:02-14:05:30` (fits the status
/// row of an 80-column pane).
pub fn resumed_notice(r: &Resumed, tz: &jiff::tz::TimeZone) -> String {
    let after = super::conn::human_duration(r.down_for);
    if let Some(s) = &r.skipped {
        let (what, unknown) = match s.count {
            Some(n) => (format!("{} lines", thousands(n)), ""),
            None => ("lines".to_string(), " (uncounted)"),
        };
        return format!(
            "reconnected after {after}: {what} skipped {}-{}{unknown}",
            hms(s.from_ns, tz),
            hms(s.to_ns, tz)
        );
    }
    match r.backfilled {
        0 => format!(
            "reconnected after {after}: nothing missed since {}",
            hms(r.from_ns, tz)
        ),
        1 => format!(
            "reconnected after {after}: 1 line backfilled from {}",
            hms(r.from_ns, tz)
        ),
        n => format!(
            "reconnected after {after}: {} lines backfilled from {}",
            thousands(n),
            hms(r.from_ns, tz)
        ),
    }
}

/// `14:05:31` in `tz`.
fn hms(ts_ns: i64, tz: &jiff::tz::TimeZone) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ts_ns)) {
        Ok(t) => tz.to_datetime(t).strftime("%H:%M:%S").to_string(),
        Err(_) => "??:??:??".into(),
    }
}

/// `3,214`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests;
