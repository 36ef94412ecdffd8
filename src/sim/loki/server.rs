//! HTTP + websocket server of the simulated Loki.

use super::generator::Generator;
use super::logql::{LogQuery, parse_duration_ns};
use crate::domain::logs::Labels;
use crate::sim::server::SimServer;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_util::sync::CancellationToken;

/// Knobs of the simulated Loki.
#[derive(Debug, Clone)]
pub struct LokiSimOptions {
    /// Generated lines per second (0: only what tests push).
    pub rate: u32,
    /// Seed of the line generator.
    pub seed: u64,
    /// Entries kept; the oldest go first.
    pub capacity: usize,
    /// Seconds of history generated at start (at `rate`), so queries have something to show.
    pub history_secs: u64,
    /// Require this exact `Authorization` header (as a reverse proxy in front of Loki would);
    /// anything else gets 401.
    pub authorization: Option<String>,
    /// Serve HTTPS with a certificate from a throwaway private CA ([`LokiSim::ca_pem`]).
    pub tls: bool,
}

impl Default for LokiSimOptions {
    fn default() -> Self {
        Self {
            rate: 20,
            seed: 42,
            capacity: 200_000,
            history_secs: 900,
            authorization: None,
            tls: false,
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    seq: u64,
    ts: i64,
    labels: Arc<Labels>,
    line: String,
}

#[derive(Debug, Clone)]
enum Feed {
    Entries(Arc<Vec<Entry>>),
    Kick,
    Dropped(usize),
    /// Stop reading and writing the open tails, keeping their connections (half-open).
    Freeze,
}

#[derive(Debug)]
struct Store {
    entries: VecDeque<Entry>,
    next_seq: u64,
    last_ts: i64,
    capacity: usize,
    /// Nodes whose Promtail ships nothing (`node_name` label): their lines are not stored.
    silent_nodes: Vec<String>,
}

/// The data of a simulated Loki; survives a stop/start of the server, as a real Loki's does.
#[derive(Debug, Clone)]
pub struct LokiStore {
    inner: Arc<StoreShared>,
}

#[derive(Debug)]
struct StoreShared {
    store: Mutex<Store>,
    feed: broadcast::Sender<Feed>,
}

fn now_ns() -> i64 {
    jiff::Timestamp::now().as_nanosecond() as i64
}

impl LokiStore {
    pub fn new(capacity: usize) -> Self {
        let (feed, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(StoreShared {
                store: Mutex::new(Store {
                    entries: VecDeque::new(),
                    next_seq: 1,
                    last_ts: 0,
                    capacity: capacity.max(1),
                    silent_nodes: Vec::new(),
                }),
                feed,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.inner.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Append lines at the given timestamps (they must not go back in time) and feed the tails.
    pub fn push_batch(&self, batch: Vec<(i64, Arc<Labels>, String)>) {
        if batch.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut s = self.lock();
            for (ts, labels, line) in batch {
                if labels
                    .get("node_name")
                    .is_some_and(|n| s.silent_nodes.iter().any(|q| q == n))
                {
                    continue;
                }
                let ts = ts.max(s.last_ts);
                // As Loki does: an entry identical to one already held (same stream, timestamp
                // and line) is the same entry, stored once.
                if s.entries
                    .iter()
                    .rev()
                    .take_while(|e| e.ts == ts)
                    .any(|e| e.labels == labels && e.line == line)
                {
                    continue;
                }
                s.last_ts = ts;
                let e = Entry {
                    seq: s.next_seq,
                    ts,
                    labels,
                    line,
                };
                s.next_seq += 1;
                if s.entries.len() == s.capacity {
                    s.entries.pop_front();
                }
                s.entries.push_back(e.clone());
                out.push(e);
            }
        }
        let _ = self.inner.feed.send(Feed::Entries(Arc::new(out)));
    }

    /// Append one line now (strictly after the previous one); returns its timestamp.
    pub fn push(&self, labels: Arc<Labels>, line: impl Into<String>) -> i64 {
        let ts = now_ns().max(self.lock().last_ts + 1);
        self.push_batch(vec![(ts, labels, line.into())]);
        ts
    }

    /// Append one line at exactly `ts` (several lines may share a nanosecond, as in Loki).
    pub fn push_at(&self, ts: i64, labels: Arc<Labels>, line: impl Into<String>) {
        self.push_batch(vec![(ts, labels, line.into())]);
    }

    /// From now on nothing from `node` is stored, and what was is gone, as when that node's
    /// Promtail never shipped its logs (the observability stage's fault).
    pub fn silence_node(&self, node: &str) {
        let mut s = self.lock();
        s.silent_nodes.push(node.to_string());
        s.entries
            .retain(|e| e.labels.get("node_name").map(String::as_str) != Some(node));
    }

    /// Entries pushed since the store was made (held or already evicted).
    pub fn pushed(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[derive(Clone)]
struct AppState {
    store: LokiStore,
    cancel: CancellationToken,
}

/// A running simulated Loki.
pub struct LokiSim {
    server: SimServer,
    store: LokiStore,
    ca_pem: Option<String>,
}

impl LokiSim {
    /// Start on `listen` (port 0 picks a free one) with fresh data.
    pub async fn start(listen: SocketAddr, opts: LokiSimOptions) -> std::io::Result<Self> {
        let store = LokiStore::new(opts.capacity);
        if opts.rate > 0 && opts.history_secs > 0 {
            let mut g = Generator::new(opts.seed ^ 0x5eed);
            let n = (u64::from(opts.rate) * opts.history_secs).min(opts.capacity as u64) as i64;
            let now = now_ns();
            let span = (opts.history_secs as i64) * 1_000_000_000;
            let step = (span / n.max(1)).max(1);
            let batch = (0..n)
                .map(|i| {
                    let ts = now - span + i * step;
                    let (l, t) = g.line(ts);
                    (ts, l, t)
                })
                .collect();
            store.push_batch(batch);
        }
        Self::start_with(listen, store, opts).await
    }

    /// Start on `listen` serving an existing store (a restart keeps history).
    pub async fn start_with(
        listen: SocketAddr,
        store: LokiStore,
        opts: LokiSimOptions,
    ) -> std::io::Result<Self> {
        let cancel = CancellationToken::new();
        let state = AppState {
            store: store.clone(),
            cancel: cancel.clone(),
        };
        let app = Router::new()
            .route("/ready", get(|| async { "ready\n" }))
            .route("/loki/api/v1/status/buildinfo", get(buildinfo))
            .route("/loki/api/v1/query_range", get(query_range))
            .route("/loki/api/v1/query", get(instant_query))
            .route("/loki/api/v1/labels", get(labels))
            .route("/loki/api/v1/label/{name}/values", get(label_values))
            .route("/loki/api/v1/tail", get(tail))
            .with_state(state);
        let app = match opts.authorization.clone() {
            Some(expected) => app.layer(axum::middleware::from_fn(
                move |req: Request, next: Next| {
                    let expected = expected.clone();
                    async move {
                        let given = req
                            .headers()
                            .get(header::AUTHORIZATION)
                            .and_then(|v| v.to_str().ok());
                        if given == Some(expected.as_str()) {
                            next.run(req).await
                        } else {
                            (
                                StatusCode::UNAUTHORIZED,
                                [(header::WWW_AUTHENTICATE, "Basic realm=\"loki\"")],
                                "401 Unauthorized: missing or wrong credentials\n",
                            )
                                .into_response()
                        }
                    }
                },
            )),
            None => app,
        };
        let (server, ca_pem) = if opts.tls {
            let tls = crate::sim::kube::tls::generate().map_err(std::io::Error::other)?;
            let server = SimServer::start_tls(listen, app, cancel.clone(), tls.config).await?;
            (server, Some(tls.ca_pem))
        } else {
            (SimServer::start(listen, app, cancel.clone()).await?, None)
        };
        if opts.rate > 0 {
            tokio::spawn(generate(
                store.clone(),
                opts.rate,
                opts.seed,
                cancel.clone(),
            ));
        }
        Ok(Self {
            server,
            store,
            ca_pem,
        })
    }

    /// PEM of the private CA that signed the server certificate (with `tls: true`).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Freeze every open tail: the connection stays open but nothing is read or sent, not even
    /// a Pong (a half-open connection, as a NAT that forgot it leaves).
    pub fn freeze_tails(&self) {
        let _ = self.store.inner.feed.send(Feed::Freeze);
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Base URL for clients (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    pub fn store(&self) -> &LokiStore {
        &self.store
    }

    /// Drop every open tail connection without a close frame, as a crashed proxy would.
    pub fn kick_tails(&self) {
        let _ = self.store.inner.feed.send(Feed::Kick);
    }

    /// Make every tail report `n` dropped entries in its next frame.
    pub fn report_dropped(&self, n: usize) {
        let _ = self.store.inner.feed.send(Feed::Dropped(n));
    }

    /// Stop serving (connections close, the port is freed); the store stays usable for a restart.
    pub async fn stop(self) -> LokiStore {
        self.server.stop().await;
        self.store
    }
}

async fn generate(store: LokiStore, rate: u32, seed: u64, cancel: CancellationToken) {
    let mut g = Generator::new(seed);
    let tick = Duration::from_millis(100);
    let mut interval = tokio::time::interval(tick);
    let per_tick = f64::from(rate) / 10.0;
    let mut owed = 0.0f64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = interval.tick() => {}
        }
        owed += per_tick;
        let n = owed.floor() as i64;
        owed -= n as f64;
        if n == 0 {
            continue;
        }
        let now = now_ns();
        let step = 100_000_000 / n;
        let batch = (0..n)
            .map(|i| {
                let ts = now - 100_000_000 + (i + 1) * step;
                let (l, t) = g.line(ts);
                (ts, l, t)
            })
            .collect();
        store.push_batch(batch);
    }
}

fn bad_request(msg: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        msg.into(),
    )
        .into_response()
}

/// Loki accepts ns integers, float seconds, or RFC 3339.
fn parse_time(s: &str) -> Option<i64> {
    if let Ok(ns) = s.parse::<i64>() {
        // Small integers are seconds (Loki guesses the same way).
        return Some(if ns.abs() < 10_000_000_000 {
            ns * 1_000_000_000
        } else {
            ns
        });
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Some((secs * 1e9) as i64);
    }
    s.parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_nanosecond() as i64)
}

#[derive(Debug, Deserialize)]
struct RangeParams {
    query: Option<String>,
    start: Option<String>,
    end: Option<String>,
    since: Option<String>,
    limit: Option<String>,
    direction: Option<String>,
}

/// `(start, end)` in ns from `start`/`end`/`since`, with `default_span` before now.
fn window(
    start: Option<&str>,
    end: Option<&str>,
    since: Option<&str>,
    default_span: i64,
) -> Result<(i64, i64), String> {
    let end_ns = match end {
        Some(e) => parse_time(e).ok_or_else(|| format!("invalid end parameter: `{e}`"))?,
        None => now_ns() + 1,
    };
    let start_ns = match (start, since) {
        (Some(s), _) => parse_time(s).ok_or_else(|| format!("invalid start parameter: `{s}`"))?,
        (None, Some(d)) => {
            end_ns
                - parse_duration_ns(d).ok_or_else(|| format!("invalid since parameter: `{d}`"))?
        }
        (None, None) => end_ns - default_span,
    };
    if end_ns < start_ns {
        return Err("end timestamp must not be before or equal to start time".into());
    }
    Ok((start_ns, end_ns))
}

#[derive(Serialize)]
struct StreamOut<'a> {
    stream: Cow<'a, Labels>,
    values: Vec<[String; 2]>,
}

/// Group (labels, ts, line) into streams, keeping the given order inside each stream.
fn group<'a>(items: impl Iterator<Item = (Cow<'a, Labels>, i64, String)>) -> Vec<StreamOut<'a>> {
    let mut out: Vec<StreamOut<'a>> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for (labels, ts, line) in items {
        let i = match index.get(labels.as_ref()) {
            Some(i) => *i,
            None => {
                index.insert(labels.as_ref().clone(), out.len());
                out.push(StreamOut {
                    stream: labels,
                    values: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[i].values.push([ts.to_string(), line]);
    }
    out
}

async fn query_range(State(st): State<AppState>, Query(p): Query<RangeParams>) -> Response {
    let Some(q) = p.query.as_deref() else {
        return bad_request("query parameter is required");
    };
    let query = match LogQuery::parse(q) {
        Ok(q) => q,
        Err(e) => return bad_request(e.to_string()),
    };
    let (start, end) = match window(
        p.start.as_deref(),
        p.end.as_deref(),
        p.since.as_deref(),
        3_600_000_000_000,
    ) {
        Ok(w) => w,
        Err(e) => return bad_request(e),
    };
    let limit: usize = match p.limit.as_deref().map(str::parse).transpose() {
        Ok(l) => l.unwrap_or(100),
        Err(_) => return bad_request("invalid limit parameter"),
    };
    let backward = match p.direction.as_deref().unwrap_or("backward") {
        "backward" | "BACKWARD" => true,
        "forward" | "FORWARD" => false,
        other => return bad_request(format!("invalid direction `{other}`")),
    };
    let store = st.store.lock();
    let in_window = |e: &&Entry| e.ts >= start && e.ts < end;
    let mut picked: Vec<(Cow<'_, Labels>, i64, String)> = Vec::new();
    let take = |e: &Entry, picked: &mut Vec<(Cow<'_, Labels>, i64, String)>| -> bool {
        if picked.len() >= limit {
            return false;
        }
        if query.selects(&e.labels)
            && let Some((labels, line)) = query.run(&e.labels, &e.line)
        {
            picked.push((Cow::Owned(labels.into_owned()), e.ts, line));
        }
        true
    };
    if backward {
        for e in store.entries.iter().rev().filter(in_window) {
            if !take(e, &mut picked) {
                break;
            }
        }
    } else {
        for e in store.entries.iter().filter(in_window) {
            if !take(e, &mut picked) {
                break;
            }
        }
    }
    drop(store);
    let result = group(picked.into_iter());
    let body = serde_json::json!({
        "status": "success",
        "data": {"resultType": "streams", "result": result, "stats": {"summary": {"bytesProcessedPerSecond": 0}}}
    });
    axum::Json(body).into_response()
}

#[derive(Debug, Deserialize)]
struct InstantParams {
    query: Option<String>,
    time: Option<String>,
}

/// `GET /loki/api/v1/query`: only `sum(count_over_time(<log query> [<range>]))`, which the tail
/// uses to count the lines a capped gap fill skipped. The range covers `(time - range, time]`.
async fn instant_query(State(st): State<AppState>, Query(p): Query<InstantParams>) -> Response {
    let Some(q) = p.query.as_deref() else {
        return bad_request("query parameter is required");
    };
    let parsed = q
        .trim()
        .strip_prefix("sum(count_over_time(")
        .and_then(|r| r.strip_suffix("))"))
        .and_then(|r| {
            let r = r.trim_end().strip_suffix(']')?;
            let (inner, range) = r.rsplit_once('[')?;
            Some((inner.trim(), range.trim()))
        });
    let Some((inner, range)) = parsed else {
        return bad_request(format!(
            "parse error: the simulated Loki only runs sum(count_over_time(<log query> [<range>])) as an instant query, not `{q}`"
        ));
    };
    let Some(range) = parse_duration_ns(range) else {
        // Loki reads the range with Prometheus' duration parser: no `ns`, `us` or `µs`.
        return bad_request(format!(
            "parse error : not a valid duration string: \"{range}\""
        ));
    };
    let query = match LogQuery::parse(inner) {
        Ok(q) => q,
        Err(e) => return bad_request(e.to_string()),
    };
    let time = match p.time.as_deref() {
        Some(t) => match parse_time(t) {
            Some(t) => t,
            None => return bad_request(format!("invalid time parameter: `{t}`")),
        },
        None => now_ns(),
    };
    let from = time - range;
    let count = {
        let store = st.store.lock();
        store
            .entries
            .iter()
            .filter(|e| e.ts > from && e.ts <= time)
            .filter(|e| query.selects(&e.labels) && query.run(&e.labels, &e.line).is_some())
            .count()
    };
    let result = if count == 0 {
        serde_json::json!([])
    } else {
        serde_json::json!([{"metric": {}, "value": [time as f64 / 1e9, count.to_string()]}])
    };
    axum::Json(serde_json::json!({
        "status": "success",
        "data": {"resultType": "vector", "result": result, "stats": {}}
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct LabelParams {
    start: Option<String>,
    end: Option<String>,
    since: Option<String>,
}

fn label_sets(st: &AppState, p: &LabelParams) -> Result<Vec<Arc<Labels>>, String> {
    let (start, end) = window(
        p.start.as_deref(),
        p.end.as_deref(),
        p.since.as_deref(),
        6 * 3_600_000_000_000,
    )?;
    let store = st.store.lock();
    let mut seen: Vec<Arc<Labels>> = Vec::new();
    for e in store.entries.iter().filter(|e| e.ts >= start && e.ts < end) {
        if !seen
            .iter()
            .any(|s| Arc::ptr_eq(s, &e.labels) || **s == *e.labels)
        {
            seen.push(Arc::clone(&e.labels));
        }
    }
    Ok(seen)
}

fn string_list(data: BTreeSet<String>) -> Response {
    axum::Json(serde_json::json!({"status": "success", "data": data})).into_response()
}

async fn labels(State(st): State<AppState>, Query(p): Query<LabelParams>) -> Response {
    match label_sets(&st, &p) {
        Ok(sets) => string_list(sets.iter().flat_map(|l| l.keys().cloned()).collect()),
        Err(e) => bad_request(e),
    }
}

async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Query(p): Query<LabelParams>,
) -> Response {
    match label_sets(&st, &p) {
        Ok(sets) => string_list(sets.iter().filter_map(|l| l.get(&name).cloned()).collect()),
        Err(e) => bad_request(e),
    }
}

async fn buildinfo() -> Response {
    axum::Json(serde_json::json!({
        "version": "3.5.0-homelab-sim", "revision": "sim", "branch": "sim",
        "buildUser": "homelab", "buildDate": "", "goVersion": ""
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct TailParams {
    query: Option<String>,
    start: Option<String>,
    limit: Option<String>,
    delay_for: Option<String>,
}

async fn tail(
    State(st): State<AppState>,
    Query(p): Query<TailParams>,
    mut req: Request,
) -> Response {
    let Some(q) = p.query.as_deref() else {
        return bad_request("query parameter is required");
    };
    let query = match LogQuery::parse(q) {
        Ok(q) => q,
        Err(e) => return bad_request(e.to_string()),
    };
    let start = match p.start.as_deref() {
        Some(s) => match parse_time(s) {
            Some(t) => t,
            None => return bad_request(format!("invalid start parameter: `{s}`")),
        },
        None => now_ns() - 3_600_000_000_000,
    };
    let limit: usize = p
        .limit
        .as_deref()
        .and_then(|l| l.parse().ok())
        .unwrap_or(100);
    if let Some(d) = p.delay_for.as_deref() {
        match d.parse::<u32>() {
            Ok(d) if d <= 5 => {}
            _ => return bad_request("delay_for can't be greater than 5"),
        }
    }
    let is_ws = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let Some(key) = req
        .headers()
        .get("sec-websocket-key")
        .cloned()
        .filter(|_| is_ws)
    else {
        return bad_request("this endpoint is a websocket: send Upgrade: websocket");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    // Subscribe before the backfill snapshot so nothing falls between them.
    let feed = st.store.inner.feed.subscribe();
    let cancel = st.cancel.clone();
    let store = st.store.clone();
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let io = hyper_util::rt::TokioIo::new(upgraded);
        let ws = WebSocketStream::from_raw_socket(io, Role::Server, None).await;
        serve_tail(ws, store, query, start, limit, feed, cancel).await;
    });
    let accept = derive_accept_key(key.as_bytes());
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}

#[derive(Serialize)]
struct DroppedOut {
    labels: Labels,
    timestamp: String,
}

#[derive(Serialize)]
struct FrameOut<'a> {
    streams: Vec<StreamOut<'a>>,
    dropped_entries: Vec<DroppedOut>,
}

fn frame_json(entries: &[Entry], query: &LogQuery, dropped: usize) -> Option<String> {
    let items = entries
        .iter()
        .filter(|e| query.selects(&e.labels))
        .filter_map(|e| {
            query
                .run(&e.labels, &e.line)
                .map(|(l, line)| (Cow::Owned(l.into_owned()), e.ts, line))
        });
    let streams = group(items);
    if streams.is_empty() && dropped == 0 {
        return None;
    }
    let now = now_ns().to_string();
    let dropped_entries = (0..dropped)
        .map(|_| DroppedOut {
            labels: Labels::new(),
            timestamp: now.clone(),
        })
        .collect();
    serde_json::to_string(&FrameOut {
        streams,
        dropped_entries,
    })
    .ok()
}

async fn serve_tail<S>(
    mut ws: WebSocketStream<S>,
    store: LokiStore,
    query: LogQuery,
    start: i64,
    limit: usize,
    mut feed: broadcast::Receiver<Feed>,
    cancel: CancellationToken,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // Backfill as Loki's tail does it (querier `Tail`: a BACKWARD query from `start` to now
    // with `limit`, sent oldest first): the newest `limit` matching entries since `start`, in
    // order, then live entries after them.
    let (backfill, high_seq) = {
        let s = store.lock();
        let mut picked: Vec<Entry> = s
            .entries
            .iter()
            .rev()
            .take_while(|e| e.ts >= start)
            .filter(|e| query.selects(&e.labels) && query.run(&e.labels, &e.line).is_some())
            .take(limit)
            .cloned()
            .collect();
        picked.reverse();
        (picked, s.next_seq.saturating_sub(1))
    };
    if let Some(json) = frame_json(&backfill, &query, 0)
        && ws.send(Message::text(json)).await.is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = ws.close(None).await;
                return;
            }
            incoming = ws.next() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            },
            item = feed.recv() => {
                let json = match item {
                    Ok(Feed::Entries(batch)) => {
                        let fresh: Vec<Entry> = batch.iter().filter(|e| e.seq > high_seq).cloned().collect();
                        frame_json(&fresh, &query, 0)
                    }
                    Ok(Feed::Kick) => return,
                    Ok(Feed::Freeze) => {
                        cancel.cancelled().await;
                        return;
                    }
                    Ok(Feed::Dropped(n)) => frame_json(&[], &query, n),
                    Err(broadcast::error::RecvError::Lagged(n)) => frame_json(&[], &query, n as usize),
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if let Some(json) = json
                    && ws.send(Message::text(json)).await.is_err() {
                        return;
                    }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations() {
        assert_eq!(parse_time("1569266497240578000"), Some(1569266497240578000));
        assert_eq!(parse_time("1569266497"), Some(1569266497000000000));
        assert_eq!(
            parse_time("2019-09-23T19:21:37Z"),
            Some(1569266497000000000)
        );
    }
}
