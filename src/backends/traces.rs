//! Traces: one span sent to an OTLP/HTTP receiver (`POST /v1/traces`, OTLP-JSON, port 4318)
//! and a trace read back from Tempo (`GET /api/traces/<hex id>`, port 3200), as WIRE-2.md M.1
//! and M.2 describe them. Tempo's JSON carries ids in base64 (gogo jsonpb) where OTLP-JSON
//! has hex; [`span_ids`] accepts both.

use crate::backends::endpoint::{Auth, EndpointError, HttpEndpoint, Timeouts};
use base64::Engine;
use reqwest::Method;
use serde_json::{Value, json};

/// A span to send: ids in lowercase hex (32 and 16 digits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpan {
    pub trace_id: String,
    pub span_id: String,
    pub service: String,
    pub name: String,
}

impl ProbeSpan {
    /// A span with fresh random ids.
    pub fn random(service: &str, name: &str) -> ProbeSpan {
        let trace: [u8; 16] = rand::random();
        let span: [u8; 8] = rand::random();
        ProbeSpan {
            trace_id: hex::encode(trace),
            span_id: hex::encode(span),
            service: service.into(),
            name: name.into(),
        }
    }

    /// The OTLP-JSON `ExportTraceServiceRequest` carrying this span (kind SERVER).
    pub fn request(&self) -> Value {
        let now = jiff::Timestamp::now().as_nanosecond();
        let start = now.saturating_sub(1_000_000);
        json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": self.service}}]},
            "scopeSpans": [{
                "scope": {"name": "homelab", "version": env!("CARGO_PKG_VERSION")},
                "spans": [{
                    "traceId": self.trace_id,
                    "spanId": self.span_id,
                    "name": self.name,
                    "kind": 2,
                    "startTimeUnixNano": start.to_string(),
                    "endTimeUnixNano": now.to_string(),
                    "status": {},
                }],
            }],
        }]})
    }
}

/// An OTLP/HTTP receiver (the collector).
#[derive(Debug, Clone)]
pub struct OtlpClient {
    http: HttpEndpoint,
}

impl OtlpClient {
    pub fn new(base: &str, auth: Auth, timeouts: Timeouts) -> Result<Self, EndpointError> {
        Ok(Self {
            http: HttpEndpoint::new("OTel collector", base, auth, timeouts)?,
        })
    }

    /// `POST /v1/traces` with the span as OTLP-JSON. A `partialSuccess` with rejected spans is
    /// an error with the receiver's message.
    pub async fn send(&self, span: &ProbeSpan) -> Result<(), EndpointError> {
        let rb = self
            .http
            .request(Method::POST, "v1/traces")
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(span.request().to_string());
        let body = self.http.send_bytes(rb).await?;
        let answer: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let rejected = answer
            .pointer("/partialSuccess/rejectedSpans")
            .map(|v| match v {
                Value::String(s) => s.parse::<u64>().unwrap_or(0),
                v => v.as_u64().unwrap_or(0),
            })
            .unwrap_or(0);
        if rejected > 0 {
            return Err(EndpointError::Unsupported {
                peer: "OTel collector",
                message: format!(
                    "rejected {rejected} span(s): {}",
                    answer
                        .pointer("/partialSuccess/errorMessage")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                ),
            });
        }
        Ok(())
    }
}

/// Tempo's query API.
#[derive(Debug, Clone)]
pub struct TempoClient {
    http: HttpEndpoint,
}

impl TempoClient {
    pub fn new(base: &str, auth: Auth, timeouts: Timeouts) -> Result<Self, EndpointError> {
        Ok(Self {
            http: HttpEndpoint::new("Tempo", base, auth, timeouts)?,
        })
    }

    /// `GET /api/traces/<id>`: the trace's spans as (trace id, span id, name) in hex, or `None`
    /// when Tempo does not have it (404).
    pub async fn trace(&self, trace_id: &str) -> Result<Option<Vec<SpanRef>>, EndpointError> {
        if trace_id.len() != 32 || !trace_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(EndpointError::Unsupported {
                peer: "Tempo",
                message: format!("{trace_id:?} is not a trace id (32 hex digits)"),
            });
        }
        let rb = self
            .http
            .request(Method::GET, &format!("api/traces/{trace_id}"))
            .header(reqwest::header::ACCEPT, "application/json");
        let (status, url, body) = self.http.send_any(rb).await?;
        if status == 404 {
            return Ok(None);
        }
        if !(200..300).contains(&status) {
            return Err(EndpointError::Status {
                peer: "Tempo",
                url,
                status,
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            });
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| self.http.decode_error_for(&body, e))?;
        Ok(Some(span_ids(&v)))
    }
}

/// A span found in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRef {
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
}

/// Spans read at most from one answer.
const MAX_SPANS: usize = 10_000;

/// Every span of a Tempo answer (`batches` or `resourceSpans`, v1 or v2's `trace` wrapper),
/// its ids as lowercase hex whether they came as hex or base64.
pub fn span_ids(v: &Value) -> Vec<SpanRef> {
    let root = v.get("trace").unwrap_or(v);
    let batches = root
        .get("batches")
        .or_else(|| root.get("resourceSpans"))
        .and_then(Value::as_array);
    let mut out = Vec::new();
    for rs in batches.into_iter().flatten() {
        let scopes = rs
            .get("scopeSpans")
            .or_else(|| rs.get("instrumentationLibrarySpans"))
            .and_then(Value::as_array);
        for ss in scopes.into_iter().flatten() {
            for span in ss
                .get("spans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if out.len() >= MAX_SPANS {
                    return out;
                }
                let id = |k: &str, len: usize| {
                    span.get(k)
                        .and_then(Value::as_str)
                        .map(|s| id_hex(s, len))
                        .unwrap_or_default()
                };
                out.push(SpanRef {
                    trace_id: id("traceId", 16),
                    span_id: id("spanId", 8),
                    name: span
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .chars()
                        .take(200)
                        .collect(),
                });
            }
        }
    }
    out
}

/// An id of `len` bytes given as hex or base64, as lowercase hex.
fn id_hex(s: &str, len: usize) -> String {
    if s.len() == len * 2 && s.chars().all(|c| c.is_ascii_hexdigit()) {
        return s.to_ascii_lowercase();
    }
    match base64::engine::general_purpose::STANDARD.decode(s) {
        Ok(b) if b.len() == len => hex::encode(b),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_ids_in_base64_and_hex_both_read_as_hex() {
        let v = json!({"batches": [{"scopeSpans": [{"spans": [
            {"traceId": "W47/95gDgQPSabYzgT/GDA==", "spanId": "7uGbfsPBsXQ=", "name": "probe"},
            {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174", "name": "b"},
            {"traceId": "not an id", "spanId": 3}
        ]}]}]});
        let spans = span_ids(&v);
        assert_eq!(spans[0].trace_id, "5b8efff798038103d269b633813fc60c");
        assert_eq!(spans[0].span_id, "eee19b7ec3c1b174");
        assert_eq!(spans[1].trace_id, spans[0].trace_id);
        assert_eq!(spans[2].trace_id, "");
        let v2 = json!({"trace": {"resourceSpans": [{"scopeSpans": [{"spans": [
            {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174", "name": "b"}]}]}]}});
        assert_eq!(span_ids(&v2).len(), 1);
    }

    #[test]
    fn a_probe_span_is_otlp_json_with_hex_ids() {
        let s = ProbeSpan::random("homelab-probe", "observability");
        assert_eq!(s.trace_id.len(), 32);
        let r = s.request();
        assert_eq!(
            r.pointer("/resourceSpans/0/scopeSpans/0/spans/0/traceId"),
            Some(&json!(s.trace_id))
        );
        assert_eq!(
            span_ids(&json!({"resourceSpans": r["resourceSpans"]}))[0].span_id,
            s.span_id
        );
    }
}
