//! An OpenTelemetry collector's OTLP/HTTP traces receiver and Tempo's trace-by-id API, sharing
//! one span store (WIRE-2.md M): `POST /v1/traces` on the collector's port takes an
//! `ExportTraceServiceRequest` as protobuf (`application/x-protobuf`, [`otlp_proto`]) or
//! OTLP-JSON (`application/json`) and answers in the same encoding; Tempo's port answers
//! `GET /ready` and `GET /api/traces/<hex id>` with `{"batches":[ResourceSpans...]}` whose ids
//! are base64, as Tempo's gogo jsonpb writes them, and 404 with an empty body for a trace it
//! does not have. Not simulated: gzip bodies (415), metrics and logs, search, the gRPC port.

pub mod otlp_proto;

use crate::sim::server::SimServer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// Spans kept; the oldest go first.
const CAPACITY: usize = 10_000;
/// Largest request body taken.
const BODY_CAP: usize = 4 * 1024 * 1024;

/// A span as received (ids in lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanIn {
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    pub service: String,
}

type Spans = Arc<Mutex<Vec<SpanIn>>>;

/// The running collector receiver and Tempo.
pub struct TracesSim {
    collector: SimServer,
    tempo: SimServer,
    spans: Spans,
}

impl TracesSim {
    /// The collector's OTLP/HTTP receiver on `collector` and Tempo's API on `tempo`. With
    /// `exporting: false` the collector accepts spans and drops them (a traces pipeline that
    /// does not export to Tempo).
    pub async fn start(
        collector: SocketAddr,
        tempo: SocketAddr,
        exporting: bool,
    ) -> std::io::Result<TracesSim> {
        let spans: Spans = Arc::default();
        let receiver = Router::new()
            .route("/v1/traces", post(receive))
            .with_state((spans.clone(), exporting));
        let query = Router::new()
            .route("/ready", get(|| async { "ready\n" }))
            .route("/api/traces/{id}", get(trace))
            .with_state(spans.clone());
        Ok(TracesSim {
            collector: SimServer::start(collector, receiver, CancellationToken::new()).await?,
            tempo: SimServer::start(tempo, query, CancellationToken::new()).await?,
            spans,
        })
    }

    pub fn collector_addr(&self) -> SocketAddr {
        self.collector.addr()
    }
    pub fn tempo_addr(&self) -> SocketAddr {
        self.tempo.addr()
    }
    /// `http://host:port` of the receiver.
    pub fn collector_url(&self) -> String {
        self.collector.url()
    }
    pub fn tempo_url(&self) -> String {
        self.tempo.url()
    }

    /// Every span Tempo holds.
    pub fn spans(&self) -> Vec<SpanIn> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub async fn stop(self) {
        self.collector.stop().await;
        self.tempo.stop().await;
    }
}

fn status(code: StatusCode, grpc: u32, message: &str) -> Response {
    (code, axum::Json(json!({"code": grpc, "message": message}))).into_response()
}

/// The spans of an OTLP-JSON request.
fn json_spans(v: &Value) -> Result<Vec<SpanIn>, String> {
    let mut out = Vec::new();
    let list = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    for rs in list(v, "resourceSpans") {
        let service = rs
            .pointer("/resource/attributes")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|kv| kv["key"] == "service.name"))
            .and_then(|kv| kv.pointer("/value/stringValue"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        for ss in list(&rs, "scopeSpans") {
            for span in list(&ss, "spans") {
                let hex_id = |k: &str, len: usize| {
                    span.get(k)
                        .and_then(Value::as_str)
                        .filter(|s| s.len() == len * 2 && s.chars().all(|c| c.is_ascii_hexdigit()))
                        .map(str::to_ascii_lowercase)
                        .ok_or_else(|| format!("span {k} must be {} hex digits", len * 2))
                };
                out.push(SpanIn {
                    trace_id: hex_id("traceId", 16)?,
                    span_id: hex_id("spanId", 8)?,
                    name: span
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    service: service.clone(),
                });
            }
        }
    }
    Ok(out)
}

async fn receive(
    State((spans, exporting)): State<(Spans, bool)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > BODY_CAP {
        return status(StatusCode::PAYLOAD_TOO_LARGE, 8, "request body too large");
    }
    if headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        return status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            "the simulated collector takes uncompressed bodies only",
        );
    }
    let ctype = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let (got, proto) = match ctype.as_str() {
        "application/x-protobuf" => (otlp_proto::spans(&body), true),
        "application/json" => (
            serde_json::from_slice::<Value>(&body)
                .map_err(|e| e.to_string())
                .and_then(|v| json_spans(&v)),
            false,
        ),
        other => {
            return status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                3,
                &format!("unsupported content type {other:?}"),
            );
        }
    };
    let got = match got {
        Ok(g) => g,
        Err(e) => return status(StatusCode::BAD_REQUEST, 3, &e),
    };
    if exporting && let Ok(mut s) = spans.lock() {
        s.extend(got);
        let over = s.len().saturating_sub(CAPACITY);
        s.drain(..over);
    }
    if proto {
        (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            Vec::<u8>::new(),
        )
            .into_response()
    } else {
        axum::Json(json!({})).into_response()
    }
}

fn b64(hex_id: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_id).unwrap_or_default())
}

async fn trace(State(spans): State<Spans>, Path(id): Path<String>) -> Response {
    if id.len() > 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return (StatusCode::BAD_REQUEST, "invalid trace id\n").into_response();
    }
    // Tempo left-pads short ids with zeros.
    let id = format!("{:0>32}", id.to_ascii_lowercase());
    let ours: Vec<SpanIn> = spans
        .lock()
        .map(|s| s.iter().filter(|x| x.trace_id == id).cloned().collect())
        .unwrap_or_default();
    if ours.is_empty() {
        return StatusCode::NOT_FOUND.into_response();
    }
    let mut services: Vec<&str> = ours.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let batches: Vec<Value> = services
        .iter()
        .map(|svc| {
            let spans: Vec<Value> = ours
                .iter()
                .filter(|s| s.service == *svc)
                .map(|s| json!({"traceId": b64(&s.trace_id), "spanId": b64(&s.span_id), "name": s.name, "kind": "SPAN_KIND_SERVER"}))
                .collect();
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                "scopeSpans": [{"scope": {"name": "homelab"}, "spans": spans}],
            })
        })
        .collect();
    axum::Json(json!({"batches": batches})).into_response()
}
