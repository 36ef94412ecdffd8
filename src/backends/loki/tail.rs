//! `/loki/api/v1/tail` over a websocket, kept alive: reconnects with backoff, resumes from the
//! newest timestamp it has delivered (inclusive, as Loki's `start` is) and drops the entries it
//! already delivered at exactly that timestamp, so a reconnect neither loses nor repeats lines.

use super::LokiClient;
use super::wire;
use crate::backends::backoff::Backoff;
use crate::domain::logs::LogLine;
use futures::{SinkExt, StreamExt};
use std::collections::HashSet;
use std::hash::{Hash, Hasher};
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
}

impl TailRequest {
    pub fn new(query: impl Into<String>) -> Self {
        Self {
            query: query.into(),
            start_ns: None,
            limit: 1000,
            delay_for: 0,
        }
    }
}

/// Progress of a tail, in the order a pane should show it.
#[derive(Debug, Clone, PartialEq)]
pub enum TailEvent {
    Connecting {
        attempt: u32,
    },
    /// The websocket is open; `resumed_from` is the timestamp it resumed at after a reconnect.
    Live {
        resumed_from: Option<i64>,
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

/// Where a tail is: the newest timestamp delivered and which entries at that timestamp were
/// delivered, so a resumed tail (whose backfill starts at that timestamp) skips them.
#[derive(Debug, Default, Clone)]
pub struct TailCursor {
    newest: Option<i64>,
    at_newest: HashSet<u64>,
    /// Set on reconnect: entries older than this, or at it and already seen, are repeats.
    floor: Option<(i64, HashSet<u64>)>,
}

fn entry_hash(line: &LogLine) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    line.labels.hash(&mut h);
    line.line.hash(&mut h);
    h.finish()
}

impl TailCursor {
    /// The `start` for the next connect.
    pub fn resume_start(&self) -> Option<i64> {
        self.newest
    }

    /// Call when a new connection opens (before its frames are admitted).
    pub fn begin_resume(&mut self) {
        if let Some(n) = self.newest {
            self.floor = Some((n, self.at_newest.clone()));
        }
    }

    /// True when `line` is new; records it.
    pub fn admit(&mut self, line: &LogLine) -> bool {
        let ts = line.ts_ns;
        let mut hash = None;
        if let Some((floor, seen)) = &self.floor {
            if ts < *floor {
                return false;
            }
            if ts == *floor {
                let h = *hash.get_or_insert_with(|| entry_hash(line));
                if seen.contains(&h) {
                    return false;
                }
            }
        }
        match self.newest {
            Some(n) if ts < n => {}
            Some(n) if ts == n => {
                let h = hash.unwrap_or_else(|| entry_hash(line));
                self.at_newest.insert(h);
            }
            _ => {
                self.newest = Some(ts);
                self.at_newest.clear();
                self.at_newest
                    .insert(hash.unwrap_or_else(|| entry_hash(line)));
            }
        }
        true
    }

    /// Keep only new lines.
    pub fn admit_all(&mut self, lines: Vec<LogLine>) -> Vec<LogLine> {
        lines.into_iter().filter(|l| self.admit(l)).collect()
    }
}

enum Connect {
    /// Retrying cannot help.
    Rejected(String),
    Transient(String),
}

const PING_EVERY: Duration = Duration::from_secs(15);

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

    /// Tail until `events` is closed, reconnecting with backoff. Lines are never repeated.
    pub async fn tail(&self, req: TailRequest, events: mpsc::Sender<TailEvent>) {
        let mut cursor = TailCursor::default();
        let mut backoff = Backoff::default();
        let mut attempt = 0u32;
        let mut connected_before = false;
        loop {
            attempt += 1;
            if events
                .send(TailEvent::Connecting { attempt })
                .await
                .is_err()
            {
                return;
            }
            let start = cursor.resume_start().or(req.start_ns);
            let limit = if cursor.resume_start().is_some() {
                req.limit.max(1000)
            } else {
                req.limit
            };
            let reason = match self.connect(&self.tail_url(&req, start, limit)).await {
                Err(Connect::Rejected(reason)) => {
                    let _ = events.send(TailEvent::Failed { reason }).await;
                    return;
                }
                Err(Connect::Transient(reason)) => reason,
                Ok(ws) => {
                    cursor.begin_resume();
                    let resumed_from = if connected_before {
                        cursor.resume_start()
                    } else {
                        None
                    };
                    connected_before = true;
                    if events.send(TailEvent::Live { resumed_from }).await.is_err() {
                        return;
                    }
                    backoff.reset();
                    attempt = 0;
                    match pump(ws, &mut cursor, &events).await {
                        Some(reason) => reason,
                        None => return,
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
        match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(request)).await {
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

fn root_message(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur: &dyn std::error::Error = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Read frames until the connection ends. `Some(reason)` to reconnect, `None` when the
/// receiver is gone.
async fn pump<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    cursor: &mut TailCursor,
    events: &mpsc::Sender<TailEvent>,
) -> Option<String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    loop {
        let msg = tokio::select! {
            msg = stream.next() => msg,
            _ = ping.tick() => {
                if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                    return Some(format!("connection lost: {}", root_message(&e)));
                }
                continue;
            }
            _ = events.closed() => return None,
        };
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
    use crate::domain::logs::Labels;
    use std::sync::Arc;

    fn line(ts: i64, text: &str) -> LogLine {
        let mut l = Labels::new();
        l.insert("app".into(), "web".into());
        LogLine::new(ts, Arc::new(l), text.into())
    }

    #[test]
    fn resumed_backfill_skips_what_was_delivered_even_at_the_same_timestamp() {
        let mut c = TailCursor::default();
        assert!(c.admit(&line(10, "a")));
        assert!(c.admit(&line(20, "b")));
        assert!(c.admit(&line(20, "c")));
        assert_eq!(c.resume_start(), Some(20));
        c.begin_resume();
        // Backfill from start=20 repeats b and c, and brings d at the same nanosecond.
        let got = c.admit_all(vec![
            line(10, "a"),
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

    #[test]
    fn live_entries_out_of_order_are_kept_before_any_reconnect() {
        let mut c = TailCursor::default();
        assert!(c.admit(&line(20, "b")));
        assert!(c.admit(&line(10, "late")));
        assert_eq!(c.resume_start(), Some(20));
    }

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
