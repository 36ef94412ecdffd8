//! Loki client: `query_range`, labels and label values for completion, and a websocket tail that
//! reconnects with backoff and resumes from the last timestamp without duplicates.

pub mod cursor;
mod tail;
pub mod wire;

pub use cursor::TailCursor;
pub use tail::{
    GAP_FILL_MAX, GAP_FILL_PAGE, PING_EVERY, PONG_TIMEOUT, Resumed, Skipped, TailEvent, TailRequest,
};

use crate::backends::endpoint::{Auth, EndpointError, HttpEndpoint, Timeouts};
use crate::domain::logs::LogLine;
use reqwest::Method;
use wire::WireError;

/// `direction` of a range query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Newest first: with a `limit`, you get the newest N lines of the window.
    Backward,
    /// Oldest first: with a `limit`, you get the oldest N lines of the window.
    Forward,
}

/// A log query over a time window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub query: String,
    /// Unix ns, inclusive.
    pub start_ns: i64,
    /// Unix ns, exclusive.
    pub end_ns: i64,
    pub limit: u32,
    pub direction: Direction,
}

#[derive(Debug, Clone)]
pub struct LokiClient {
    http: HttpEndpoint,
}

impl LokiClient {
    pub fn new(base: &str, auth: Auth, timeouts: Timeouts) -> Result<Self, EndpointError> {
        Ok(Self {
            http: HttpEndpoint::new("Loki", base, auth, timeouts)?,
        })
    }

    /// Trust the CAs in `ca_file` too, for queries and the tail alike.
    pub fn with_ca_file(self, ca_file: Option<&std::path::Path>) -> Result<Self, EndpointError> {
        Ok(Self {
            http: self.http.with_ca_file(ca_file)?,
        })
    }

    pub fn endpoint(&self) -> &HttpEndpoint {
        &self.http
    }

    /// `GET /loki/api/v1/query_range`. Line filters in the query (`|=`, `|~`) run in Loki, before
    /// the limit applies. Lines come back oldest first.
    pub async fn query_range(&self, q: &RangeQuery) -> Result<Vec<LogLine>, EndpointError> {
        let rb = self
            .http
            .request(Method::GET, "loki/api/v1/query_range")
            .query(&[
                ("query", q.query.as_str()),
                ("start", &q.start_ns.to_string()),
                ("end", &q.end_ns.to_string()),
                ("limit", &q.limit.to_string()),
                (
                    "direction",
                    if q.direction == Direction::Backward {
                        "backward"
                    } else {
                        "forward"
                    },
                ),
            ]);
        let body = self.http.send_bytes(rb).await?;
        wire::parse_query_range(&body).map_err(|e| self.wire_error(e))
    }

    /// How many lines `query` (a log query) matches in `[from_ns, to_ns)`: the instant metric
    /// query `sum(count_over_time(<query> [<range>ms]))` at `from_ns + range - 1` (a range covers
    /// `(time - range, time]`). LogQL reads the range with Prometheus' duration syntax, which has
    /// no unit below `ms` (docs/reference/loki.md §3), so the span is rounded up to whole
    /// milliseconds (at least 1ms). The window starts exactly at `from_ns` and may end up to 1ms
    /// after `to_ns`: the gap fill counts up to about now, where few lines are yet, whereas the
    /// lines just before `from_ns` (those it delivered) are dense.
    pub async fn count_lines(
        &self,
        query: &str,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<u64, EndpointError> {
        // Peer timestamps: saturating, never an overflow.
        let span = to_ns.saturating_sub(from_ns).max(1);
        let span_ms = span.saturating_add(999_999) / 1_000_000;
        let range_ns = span_ms.saturating_mul(1_000_000);
        let rb = self.http.request(Method::GET, "loki/api/v1/query").query(&[
            (
                "query",
                format!("sum(count_over_time({query} [{span_ms}ms]))").as_str(),
            ),
            ("time", &from_ns.saturating_add(range_ns - 1).to_string()),
        ]);
        let body = self.http.send_bytes(rb).await?;
        wire::parse_vector_sum(&body).map_err(|e| self.wire_error(e))
    }

    /// `GET /loki/api/v1/labels` over the last `since_s` seconds.
    pub async fn labels(&self, since_s: u64) -> Result<Vec<String>, EndpointError> {
        let rb = self
            .http
            .request(Method::GET, "loki/api/v1/labels")
            .query(&[("since", format!("{since_s}s"))]);
        let body = self.http.send_bytes(rb).await?;
        wire::parse_string_list(&body).map_err(|e| self.wire_error(e))
    }

    /// `GET /loki/api/v1/label/<name>/values` over the last `since_s` seconds.
    pub async fn label_values(
        &self,
        name: &str,
        since_s: u64,
    ) -> Result<Vec<String>, EndpointError> {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(EndpointError::Unsupported {
                peer: "Loki",
                message: format!("`{name}` is not a label name"),
            });
        }
        let rb = self
            .http
            .request(Method::GET, &format!("loki/api/v1/label/{name}/values"))
            .query(&[("since", format!("{since_s}s"))]);
        let body = self.http.send_bytes(rb).await?;
        wire::parse_string_list(&body).map_err(|e| self.wire_error(e))
    }

    /// `GET /ready`.
    pub async fn ready(&self) -> Result<(), EndpointError> {
        self.http
            .send_bytes(self.http.request(Method::GET, "ready"))
            .await
            .map(drop)
    }

    fn wire_error(&self, e: WireError) -> EndpointError {
        match e {
            WireError::NotStreams(_) | WireError::Loki(_) => EndpointError::Unsupported {
                peer: "Loki",
                message: e.to_string(),
            },
            _ => EndpointError::Decode {
                peer: "Loki",
                url: self.http.base().to_string(),
                reason: e.to_string(),
            },
        }
    }
}
