//! `/loki/api/v1/tail` over a websocket, kept alive: reconnects with backoff, resumes from the
//! newest timestamp it has delivered (inclusive, as Loki's `start` is) and drops the entries it
//! already delivered at exactly that timestamp, so a reconnect neither loses nor repeats lines.
//!
//! Loki's tail backfill returns at most `limit` entries (the newest since `start`), so before a
//! reconnect opens the websocket again the gap is filled with `query_range` (forward, paged,
//! every line through the same [`TailCursor`]); up to [`GAP_FILL_MAX`] lines, beyond which the
//! rest of the gap is skipped and reported ([`Skipped`]), never silently.

use super::LokiClient;
use super::cursor::TailCursor;
use super::wire;
use crate::backends::backoff::Backoff;
use crate::domain::logs::LogLine;
use futures::{SinkExt, StreamExt};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// What to tail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TailRequest {
    pub query: String,
    /// Unix ns to backfill from on the first connect (Loki's default is now-1h).
    pub start_ns: Option<i64>,
    /// Backfill limit per connect.
    pub limit: u32,
    /// Seconds Loki waits to reorder late entries (0-5).
    pub delay_for: u32,
    /// At most this many lines fill the gap of one reconnect ([`GAP_FILL_MAX`]).
    pub gap_max: usize,
    /// `query_range` page size while filling a gap ([`GAP_FILL_PAGE`]).
    pub gap_page: u32,
    /// A websocket Ping is sent this long after the last frame received ([`PING_EVERY`]).
    pub ping_every: Duration,
    /// No frame at all (a Pong is one) this long after a Ping: the connection is half-open,
    /// reconnect ([`PONG_TIMEOUT`]).
    pub pong_timeout: Duration,
}

impl TailRequest {
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            start_ns: None,
            limit: 1000,
            delay_for: 0,
            gap_max: GAP_FILL_MAX,
            gap_page: GAP_FILL_PAGE,
            ping_every: PING_EVERY,
            pong_timeout: PONG_TIMEOUT,
        }
    }
}

/// Lines one reconnect fills in through `query_range` at most (across its retries). Equal to
/// the logs pane's ring buffer default (`screens::console::logs::buffer::DEFAULT_CAPACITY`):
/// more could not be shown anyway. Beyond it the rest of the gap is skipped and reported.
pub const GAP_FILL_MAX: usize = 100_000;

/// Lines per `query_range` page while filling a gap.
pub const GAP_FILL_PAGE: u32 = 5000;

/// How a reconnect caught up, for the pane's notice.
#[derive(Debug, Clone, PartialEq)]
pub struct Resumed {
    /// From the drop to the websocket open again.
    pub down_for: Duration,
    /// Lines the gap fill delivered (before `Live`).
    pub backfilled: u64,
    /// Where the gap fill started (the newest line delivered before the drop), Unix ns.
    pub from_ns: i64,
    /// Part of the gap not shown because the fill hit its cap.
    pub skipped: Option<Skipped>,
}

/// Lines of a gap left out because the fill hit its cap: `[from_ns, to_ns)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Skipped {
    pub from_ns: i64,
    pub to_ns: i64,
    /// How many, as Loki counted them (`None` when it could not say).
    pub count: Option<u64>,
}

/// Progress of a tail, in the order a pane should show it.
#[derive(Debug, Clone, PartialEq)]
pub enum TailEvent {
    Connecting {
        attempt: u32,
    },
    /// The websocket is open; `resumed` says how a reconnect caught up (`None` on the first
    /// connect).
    Live {
        resumed: Option<Resumed>,
    },
    /// New lines, oldest first, never one already delivered.
    Lines(Vec<LogLine>),
    /// Loki reported entries it dropped because the tail could not keep up.
    Dropped {
        count: usize,
    },
    /// The connection failed or closed; the next attempt comes after `retry_in`.
    Reconnecting {
        attempt: u32,
        retry_in: Duration,
        reason: String,
    },
    /// Loki rejected the tail (bad query, bad credentials); retrying cannot help.
    Failed {
        reason: String,
    },
}

enum Connect {
    /// Retrying cannot help.
    Rejected(String),
    Transient(String),
}

/// Default of [`TailRequest::ping_every`].
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// Default of [`TailRequest::pong_timeout`]: a half-open connection (a NAT or proxy that forgot
/// it) is noticed within 45 s instead of TCP's ~15 minutes.
pub const PONG_TIMEOUT: Duration = Duration::from_secs(30);

impl LokiClient {
    fn tail_url(&self, req: &TailRequest, start: Option<i64>, limit: u32) -> url::Url {
        let mut url = self.endpoint().url("loki/api/v1/tail");
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        // http -> ws keeps host, port and path; set_scheme only fails for special/non-special swaps.
        let _ = url.set_scheme(scheme);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("query", &req.query);
            q.append_pair("limit", &limit.to_string());
            q.append_pair("delay_for", &req.delay_for.min(5).to_string());
            if let Some(s) = start {
                q.append_pair("start", &s.to_string());
            }
        }
        url
    }

    /// Tail until `events` is closed, reconnecting with backoff. Lines are never repeated, and a
    /// reconnect fills the gap with `query_range` before it opens the websocket again.
    pub async fn tail(&self, req: TailRequest, events: mpsc::Sender<TailEvent>) {
        let mut cursor = TailCursor::default();
        let mut backoff = Backoff::default();
        let mut attempt = 0u32;
        let mut connected_before = false;
        // Set when a live connection drops; the gap fill of the reconnect, kept across retries.
        let mut down_since: Option<std::time::Instant> = None;
        let mut gap: Option<GapFill> = None;
        loop {
            attempt += 1;
            if events
                .send(TailEvent::Connecting { attempt })
                .await
                .is_err()
            {
                return;
            }
            let reason = 'attempt: {
                // From the newest line delivered, or where the tail started when it delivered
                // none (the pane's history came from its own query).
                if connected_before && let Some(from) = cursor.resume_start().or(req.start_ns) {
                    let fill = gap.get_or_insert_with(|| GapFill::new(from, req.gap_max));
                    let fetch = |start_ns, end_ns, limit| {
                        let q = super::RangeQuery {
                            query: req.query.clone(),
                            start_ns,
                            end_ns,
                            limit,
                            direction: super::Direction::Forward,
                        };
                        async move { self.query_range(&q).await }
                    };
                    let count = |from_ns, to_ns| {
                        let query = req.query.clone();
                        async move { self.count_lines(&query, from_ns, to_ns).await.ok() }
                    };
                    match fill_gap(
                        fetch,
                        count,
                        &mut cursor,
                        fill,
                        req.gap_page,
                        now_ns,
                        &events,
                    )
                    .await
                    {
                        Ok(()) => {}
                        Err(FillError::Gone) => return,
                        Err(FillError::Rejected(reason)) => {
                            let _ = events.send(TailEvent::Failed { reason }).await;
                            return;
                        }
                        Err(FillError::Transient(reason)) => break 'attempt reason,
                    }
                }
                let start = cursor.resume_start().or(req.start_ns);
                let limit = if cursor.resume_start().is_some() {
                    req.limit.max(1000)
                } else {
                    req.limit
                };
                match self.connect(&self.tail_url(&req, start, limit)).await {
                    Err(Connect::Rejected(reason)) => {
                        let _ = events.send(TailEvent::Failed { reason }).await;
                        return;
                    }
                    Err(Connect::Transient(reason)) => reason,
                    Ok(ws) => {
                        cursor.begin_resume();
                        let resumed = if connected_before {
                            let fill = gap.take().unwrap_or_else(|| GapFill::new(0, 0));
                            Some(Resumed {
                                down_for: down_since
                                    .take()
                                    .map(|t| t.elapsed())
                                    .unwrap_or_default(),
                                backfilled: fill.delivered,
                                from_ns: fill.from_ns,
                                skipped: fill.skipped,
                            })
                        } else {
                            None
                        };
                        connected_before = true;
                        if events.send(TailEvent::Live { resumed }).await.is_err() {
                            return;
                        }
                        backoff.reset();
                        attempt = 0;
                        match pump(ws, &mut cursor, &events, &req).await {
                            Some(reason) => {
                                down_since = Some(std::time::Instant::now());
                                reason
                            }
                            None => return,
                        }
                    }
                }
            };
            let retry_in = backoff.next_delay();
            let ev = TailEvent::Reconnecting {
                attempt: backoff.attempt(),
                retry_in,
                reason,
            };
            if events.send(ev).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(retry_in) => {}
                _ = events.closed() => return,
            }
        }
    }

    async fn connect(
        &self,
        url: &url::Url,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Connect,
    > {
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Connect::Rejected(e.to_string()))?;
        if let Some(v) = self.endpoint().auth().header() {
            let v = v.map_err(Connect::Rejected)?;
            request.headers_mut().insert("authorization", v);
        }
        let timeout = self.endpoint().timeouts().connect;
        // The same trust as the HTTP queries (backends::tls_trust), not tungstenite's own roots.
        let connector = tokio_tungstenite::Connector::Rustls(self.endpoint().tls());
        let connect =
            tokio_tungstenite::connect_async_tls_with_config(request, None, false, Some(connector));
        match tokio::time::timeout(timeout, connect).await {
            Err(_) => Err(Connect::Transient(format!(
                "no answer within {}s",
                timeout.as_secs()
            ))),
            Ok(Ok((ws, _resp))) => Ok(ws),
            Ok(Err(tungstenite::Error::Http(resp))) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_deref()
                    .map(crate::backends::endpoint::peer_message)
                    .unwrap_or_default();
                let reason = format!("Loki answered {status}: {body}");
                if status >= 500 || status == 429 {
                    Err(Connect::Transient(reason))
                } else {
                    Err(Connect::Rejected(reason))
                }
            }
            Ok(Err(e)) => Err(Connect::Transient(root_message(&e))),
        }
    }
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

/// A reconnect's gap fill, kept across the retries of one outage.
#[derive(Debug, Clone, PartialEq)]
struct GapFill {
    from_ns: i64,
    delivered: u64,
    /// Lines it may still deliver.
    room: usize,
    skipped: Option<Skipped>,
}

impl GapFill {
    fn new(from_ns: i64, max: usize) -> Self {
        Self {
            from_ns,
            delivered: 0,
            room: max,
            skipped: None,
        }
    }
}

#[derive(Debug, PartialEq)]
enum FillError {
    /// The receiver is gone.
    Gone,
    /// Loki refused the query (4xx): retrying cannot help.
    Rejected(String),
    Transient(String),
}

/// Fill the gap from the cursor's resume point to now with forward `query_range` pages of
/// `page` lines, each page starting at the previous page's last timestamp (inclusive, so the
/// cursor drops what was already delivered). Ends when a page comes back short (caught up), or
/// when `fill.room` runs out: then the rest up to the last page's end is skipped (counted with
/// `count`), the cursor jumps there and the tail opens from there.
async fn fill_gap<F, Fut, C, CFut>(
    mut fetch: F,
    mut count: C,
    cursor: &mut TailCursor,
    fill: &mut GapFill,
    page: u32,
    now: fn() -> i64,
    events: &mpsc::Sender<TailEvent>,
) -> Result<(), FillError>
where
    F: FnMut(i64, i64, u32) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<LogLine>, crate::backends::endpoint::EndpointError>>,
    C: FnMut(i64, i64) -> CFut,
    CFut: std::future::Future<Output = Option<u64>>,
{
    use crate::backends::endpoint::EndpointError;
    let page = page.max(1);
    // A retry of the same outage goes on from what the previous attempt delivered.
    let mut start = cursor
        .resume_start()
        .map_or(fill.from_ns, |n| n.max(fill.from_ns));
    loop {
        let end = now().max(start.saturating_add(1));
        let lines = fetch(start, end, page).await.map_err(|e| match e {
            EndpointError::Status { status, .. }
                if (400..500).contains(&status) && status != 429 =>
            {
                FillError::Rejected(e.to_string())
            }
            e => FillError::Transient(format!("filling the gap: {}", e.short())),
        })?;
        let full = lines.len() >= page as usize;
        let last = lines.last().map(|l| l.ts_ns);
        cursor.begin_resume();
        let mut batch = Vec::with_capacity(lines.len().min(fill.room));
        let mut over: Option<(i64, u64)> = None;
        for line in lines {
            if fill.room == 0 {
                if cursor.is_new(&line) {
                    // The first line left out, and how many at its nanosecond were delivered.
                    over = Some((line.ts_ns, cursor.delivered_at(line.ts_ns)));
                    break;
                }
                continue;
            }
            if cursor.admit(&line) {
                fill.room -= 1;
                batch.push(line);
            }
        }
        fill.delivered += batch.len() as u64;
        if !batch.is_empty() && events.send(TailEvent::Lines(batch)).await.is_err() {
            return Err(FillError::Gone);
        }
        if let Some((from, already)) = over {
            // Skip to the end of this query: the tail opens there.
            let counted = count(from, end).await.map(|n| n.saturating_sub(already));
            fill.skipped = Some(match fill.skipped.take() {
                Some(s) => Skipped {
                    from_ns: s.from_ns,
                    to_ns: end,
                    count: s.count.zip(counted).map(|(a, b)| a + b),
                },
                None => Skipped {
                    from_ns: from,
                    to_ns: end,
                    count: counted,
                },
            });
            cursor.skip_to(end);
            return Ok(());
        }
        match last {
            _ if !full => return Ok(()),
            Some(l) if l > start => start = l,
            // A whole page at one nanosecond: Loki cannot page inside it; step past it.
            _ => start = start.saturating_add(1),
        }
    }
}

fn root_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Read frames until the connection ends. `Some(reason)` to reconnect, `None` when the
/// receiver is gone. A Ping goes out after `req.ping_every` without any frame; if nothing at all
/// (a Pong is a frame) comes back within `req.pong_timeout`, the connection is taken as dead.
async fn pump<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    cursor: &mut TailCursor,
    events: &mpsc::Sender<TailEvent>,
    req: &TailRequest,
) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::time::{Instant, sleep_until};
    let (mut sink, mut stream) = ws.split();
    // The next Ping, or (once one is out) the deadline for any answer.
    let mut ping_at = Instant::now() + req.ping_every;
    let mut pong_by: Option<Instant> = None;
    loop {
        let msg = tokio::select! {
            msg = stream.next() => msg,
            _ = sleep_until(ping_at), if pong_by.is_none() => {
                // A dead peer may not even take the Ping (full send buffer): same deadline.
                let ping = sink.send(Message::Ping(Vec::new().into()));
                match tokio::time::timeout(req.pong_timeout, ping).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Some(format!("connection lost: {}", root_message(&e))),
                    Err(_) => return Some("connection lost: a ping could not be sent".into()),
                }
                pong_by = Some(Instant::now() + req.pong_timeout);
                continue;
            }
            _ = sleep_until(pong_by.unwrap_or_else(Instant::now)), if pong_by.is_some() => {
                return Some(format!(
                    "no answer to a ping within {}s; the connection is gone",
                    req.pong_timeout.as_secs_f32()
                ));
            }
            _ = events.closed() => return None,
        };
        // Any frame proves the connection alive.
        pong_by = None;
        ping_at = Instant::now() + req.ping_every;
        let data = match msg {
            None => return Some("Loki closed the connection".into()),
            Some(Err(e)) => return Some(format!("connection lost: {}", root_message(&e))),
            Some(Ok(Message::Close(frame))) => {
                let why = frame
                    .map(|f| f.reason.to_string())
                    .filter(|r| !r.is_empty());
                return Some(match why {
                    Some(r) => format!("Loki closed the tail: {r}"),
                    None => "Loki closed the tail".into(),
                });
            }
            Some(Ok(Message::Text(t))) => t.as_bytes().to_vec(),
            Some(Ok(Message::Binary(b))) => b.to_vec(),
            Some(Ok(_)) => continue,
        };
        let frame = match wire::parse_tail_frame(&data) {
            Ok(f) => f,
            Err(e) => return Some(format!("unreadable tail frame: {e}")),
        };
        let lines = cursor.admit_all(frame.lines);
        if !lines.is_empty() && events.send(TailEvent::Lines(lines)).await.is_err() {
            return None;
        }
        if frame.dropped > 0
            && events
                .send(TailEvent::Dropped {
                    count: frame.dropped,
                })
                .await
                .is_err()
        {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_url_uses_ws_scheme_and_resume_start() {
        let client = LokiClient::new(
            "https://loki.example:3100/base",
            Default::default(),
            Default::default(),
        )
        .unwrap();
        let url = client.tail_url(&TailRequest::new(r#"{app="x"} |= "err""#), Some(42), 100);
        assert_eq!(url.scheme(), "wss");
        assert_eq!(url.path(), "/base/loki/api/v1/tail");
        let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert!(q.contains(&("start".into(), "42".into())));
        assert!(q.contains(&("query".into(), r#"{app="x"} |= "err""#.into())));
    }
}

#[cfg(test)]
mod gap_tests {
    use super::*;
    use crate::backends::endpoint::EndpointError;
    use crate::domain::logs::Labels;
    use std::sync::{Arc, Mutex};

    fn line(ts: i64, text: &str) -> LogLine {
        let mut l = Labels::new();
        l.insert("app".into(), "web".into());
        LogLine::new(ts, Arc::new(l), text.into())
    }

    /// Loki as a list: forward `query_range` over `[start, end)` with a limit, recording calls.
    #[derive(Clone)]
    struct FakeLoki {
        lines: Arc<Vec<LogLine>>,
        calls: Arc<Mutex<Vec<(i64, i64, u32)>>>,
        fail: Arc<Mutex<Vec<(usize, u16)>>>,
    }

    impl FakeLoki {
        fn new(lines: Vec<LogLine>) -> Self {
            Self {
                lines: Arc::new(lines),
                calls: Default::default(),
                fail: Default::default(),
            }
        }
        /// Answer call number `n` (0-based) with HTTP `status`.
        fn fail_call(&self, n: usize, status: u16) {
            self.fail.lock().unwrap().push((n, status));
        }
        fn fetch(
            &self,
        ) -> impl FnMut(i64, i64, u32) -> std::future::Ready<Result<Vec<LogLine>, EndpointError>> + use<>
        {
            let me = self.clone();
            move |start, end, limit| {
                let mut calls = me.calls.lock().unwrap();
                let n = calls.len();
                calls.push((start, end, limit));
                if let Some((_, status)) = me.fail.lock().unwrap().iter().find(|f| f.0 == n) {
                    return std::future::ready(Err(EndpointError::Status {
                        peer: "Loki",
                        url: "http://loki/".into(),
                        status: *status,
                        message: "nope".into(),
                    }));
                }
                std::future::ready(Ok(me
                    .lines
                    .iter()
                    .filter(|l| l.ts_ns >= start && l.ts_ns < end)
                    .take(limit as usize)
                    .cloned()
                    .collect()))
            }
        }
        /// `fill_gap` against this fake, clocked at [`NOW`].
        async fn fill(
            &self,
            cursor: &mut TailCursor,
            fill: &mut GapFill,
            page: u32,
            tx: &mpsc::Sender<TailEvent>,
        ) -> Result<(), FillError> {
            fill_gap(self.fetch(), self.count(), cursor, fill, page, now, tx).await
        }

        fn count(&self) -> impl FnMut(i64, i64) -> std::future::Ready<Option<u64>> + use<> {
            let lines = Arc::clone(&self.lines);
            move |from, to| {
                std::future::ready(Some(
                    lines
                        .iter()
                        .filter(|l| l.ts_ns >= from && l.ts_ns < to)
                        .count() as u64,
                ))
            }
        }
    }

    /// `ts = i64::MAX` after a reconnect: no overflow anywhere (resume point, gap fill).
    #[tokio::test]
    async fn a_line_at_i64_max_is_not_a_panic() {
        let mut c = TailCursor::with_clock(now);
        assert!(c.admit(&line(NOW - 1, "a")));
        assert!(c.admit(&line(i64::MAX, "end of time")));
        c.begin_resume();
        assert!(!c.admit(&line(i64::MAX, "end of time")));
        assert!(c.admit(&line(NOW, "b")));
        // The gap fill of a reconnect from the very end of time ends at once.
        let (tx, _rx) = mpsc::channel(4);
        let mut fill = GapFill::new(i64::MAX, GAP_FILL_MAX);
        c.skip_to(i64::MAX);
        let fetch = |_s, _e, _l| std::future::ready(Ok(Vec::new()));
        let count = |_f, _t| std::future::ready(None);
        let r = fill_gap(fetch, count, &mut c, &mut fill, 10, now, &tx).await;
        assert_eq!(r, Ok(()));
    }

    const NOW: i64 = 1_000_000;
    fn now() -> i64 {
        NOW
    }

    /// 12,000 lines; every 7th shares its nanosecond with the one before (so page edges fall
    /// inside a nanosecond too).
    fn gap_lines() -> Vec<LogLine> {
        let mut ts = 100;
        (0..12_000)
            .map(|i| {
                if i % 7 != 0 {
                    ts += 1;
                }
                line(ts, &format!("l{i}"))
            })
            .collect()
    }

    fn delivered_before_drop(all: &[LogLine], n: usize) -> TailCursor {
        let mut c = TailCursor::default();
        for l in &all[..n] {
            assert!(c.admit(l));
        }
        c
    }

    fn received(rx: &mut mpsc::Receiver<TailEvent>) -> Vec<Vec<LogLine>> {
        let mut out = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            match ev {
                TailEvent::Lines(l) => out.push(l),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[tokio::test]
    async fn pages_forward_from_the_resume_point_and_delivers_each_line_once_in_order() {
        let all = gap_lines();
        let loki = FakeLoki::new(all.clone());
        let mut cursor = delivered_before_drop(&all, 50);
        let from = cursor.resume_start().unwrap();
        let mut fill = GapFill::new(from, GAP_FILL_MAX);
        let (tx, mut rx) = mpsc::channel(64);
        let r = loki.fill(&mut cursor, &mut fill, 5000, &tx).await;
        assert_eq!(r, Ok(()));
        let batches = received(&mut rx);
        assert!(batches.iter().all(|b| b.len() <= 5000));
        let got: Vec<&str> = batches.iter().flatten().map(|l| l.line.as_str()).collect();
        let want: Vec<&str> = all[50..].iter().map(|l| l.line.as_str()).collect();
        assert_eq!(got, want, "every line after the drop, once, in order");
        assert_eq!(fill.delivered, 11_950);
        assert_eq!(fill.skipped, None);
        let calls = loki.calls.lock().unwrap().clone();
        assert_eq!(calls[0], (from, NOW, 5000));
        assert_eq!(
            calls.len(),
            3,
            "5000 + 5000 + the short last page: {calls:?}"
        );
        // Each page starts at the previous page's last timestamp (inclusive).
        assert!(calls.windows(2).all(|w| w[1].0 > w[0].0));
        assert_eq!(cursor.resume_start(), all.last().map(|l| l.ts_ns));
    }

    #[tokio::test]
    async fn the_cap_delivers_that_many_then_skips_to_the_end_and_counts_the_rest() {
        let all = gap_lines();
        let loki = FakeLoki::new(all.clone());
        let mut cursor = delivered_before_drop(&all, 50);
        let mut fill = GapFill::new(cursor.resume_start().unwrap(), 7000);
        let (tx, mut rx) = mpsc::channel(64);
        let r = loki.fill(&mut cursor, &mut fill, 5000, &tx).await;
        assert_eq!(r, Ok(()));
        let got: Vec<LogLine> = received(&mut rx).into_iter().flatten().collect();
        assert_eq!(got.len(), 7000);
        assert_eq!(got, all[50..7050].to_vec());
        let first_left_out = &all[7050];
        let skipped = fill.skipped.clone().expect("the skip is reported");
        assert_eq!(skipped.from_ns, first_left_out.ts_ns);
        assert_eq!(skipped.to_ns, NOW);
        // Lines delivered at the first skipped nanosecond are not counted as skipped.
        assert_eq!(skipped.count, Some(12_000 - 7050));
        assert_eq!(fill.delivered, 7000);
        // The tail resumes at the end of the skip: everything from there is new.
        assert_eq!(cursor.resume_start(), Some(NOW));
        cursor.begin_resume();
        assert!(cursor.admit(&line(NOW, "live")));
    }

    #[tokio::test]
    async fn a_4xx_is_rejected_other_failures_are_transient_and_a_retry_keeps_its_progress() {
        let all = gap_lines();
        let loki = FakeLoki::new(all.clone());
        loki.fail_call(0, 400);
        let mut cursor = delivered_before_drop(&all, 50);
        let mut fill = GapFill::new(cursor.resume_start().unwrap(), GAP_FILL_MAX);
        let (tx, mut rx) = mpsc::channel(64);
        let r = loki.fill(&mut cursor, &mut fill, 5000, &tx).await;
        assert!(
            matches!(&r, Err(FillError::Rejected(m)) if m.contains("400")),
            "{r:?}"
        );

        let loki = FakeLoki::new(all.clone());
        loki.fail_call(1, 503);
        let r = loki.fill(&mut cursor, &mut fill, 5000, &tx).await;
        assert!(
            matches!(&r, Err(FillError::Transient(m)) if m.contains("503")),
            "{r:?}"
        );
        // The first page (from the resume nanosecond, so it repeats what was delivered there)
        // arrived before the failure.
        assert!((4990..5000).contains(&fill.delivered), "{}", fill.delivered);
        let loki = FakeLoki::new(all.clone());
        let r = loki.fill(&mut cursor, &mut fill, 5000, &tx).await;
        assert_eq!(r, Ok(()));
        let got: Vec<LogLine> = received(&mut rx).into_iter().flatten().collect();
        assert_eq!(got, all[50..].to_vec(), "no line twice across the retry");
        assert_eq!(fill.delivered, 11_950);
    }

    #[tokio::test]
    async fn a_page_full_of_one_nanosecond_does_not_loop_forever() {
        let mut all: Vec<LogLine> = (0..5).map(|i| line(10, &format!("same {i}"))).collect();
        all.push(line(11, "after"));
        let loki = FakeLoki::new(all.clone());
        let mut cursor = TailCursor::default();
        cursor.admit(&line(9, "before"));
        let mut fill = GapFill::new(9, GAP_FILL_MAX);
        let (tx, mut rx) = mpsc::channel(64);
        let r = loki.fill(&mut cursor, &mut fill, 3, &tx).await;
        assert_eq!(r, Ok(()));
        let got: Vec<String> = received(&mut rx)
            .into_iter()
            .flatten()
            .map(|l| l.line)
            .collect();
        // Loki cannot page inside one nanosecond; the last page steps past it.
        assert!(got.contains(&"after".to_string()), "{got:?}");
        assert!(loki.calls.lock().unwrap().len() < 10);
    }
}
