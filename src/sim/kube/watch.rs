//! Watch streams: NDJSON `{"type","object"}` lines replayed from the store's history (or the
//! current state), then live; selectors and the namespace filter applied with the real server's
//! transitions (an object leaving the selector is DELETED, entering it ADDED); BOOKMARKs when
//! asked; `sendInitialEvents` closed by the `k8s.io/initial-events-end` bookmark; ERROR 410 for a
//! version the history no longer holds; Table events (columns on the first only) for kubectl.

use super::resources::ResourceType;
use super::select::Selectors;
use super::store::{Event, EventType, Store};
use super::table::{self, Include};
use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One watch request, parsed.
pub struct WatchReq {
    pub rt: ResourceType,
    pub version: String,
    pub ns: Option<String>,
    pub sel: Selectors,
    /// None: start from the current state (ADDED for each object).
    pub since: Option<u64>,
    pub timeout: Duration,
    pub bookmarks: bool,
    pub initial_events: bool,
    pub table: Option<Include>,
    pub bookmark_every: Duration,
}

/// The object as the requested version shows it.
pub fn present(rt: &ResourceType, version: &str, obj: &Value) -> Value {
    shown(rt, version, obj).into_owned()
}

/// [`present`] without a copy when the stored object already has the asked apiVersion (it is
/// stored under the preferred one).
pub fn shown<'a>(rt: &ResourceType, version: &str, obj: &'a Value) -> Cow<'a, Value> {
    let want = rt.api_version(version);
    if obj["apiVersion"].as_str() == Some(want.as_str()) {
        Cow::Borrowed(obj)
    } else {
        let mut o = obj.clone();
        o["apiVersion"] = json!(want);
        Cow::Owned(o)
    }
}

/// Whether an object is in this watch's namespace and selectors.
fn in_scope(req: &WatchReq, o: &Value) -> bool {
    req.ns
        .as_deref()
        .is_none_or(|ns| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
        && req.sel.matches(o)
}

/// What a watcher with this filter sees of `ev` (type and object), if anything.
fn translate<'e>(req: &WatchReq, ev: &'e Event) -> Option<(&'static str, &'e Value)> {
    if ev.key != req.rt.key() {
        return None;
    }
    let now = in_scope(req, &ev.object);
    let before = ev.prev.as_ref().is_some_and(|p| in_scope(req, p));
    let ty = match (ev.ty, before, now) {
        (EventType::Added, _, true) => EventType::Added,
        (EventType::Deleted, _, true) => EventType::Deleted,
        (EventType::Modified, true, true) => EventType::Modified,
        (EventType::Modified, false, true) => EventType::Added,
        (EventType::Modified, true, false) => EventType::Deleted,
        _ => return None,
    };
    Some((ty.as_str(), &ev.object))
}

/// One NDJSON line, serialized straight from the object (no copy into a wrapper value).
fn write_line(buf: &mut Vec<u8>, ty: &str, object: &Value) {
    buf.extend_from_slice(b"{\"type\":");
    let _ = serde_json::to_writer(&mut *buf, ty);
    buf.extend_from_slice(b",\"object\":");
    let _ = serde_json::to_writer(&mut *buf, object);
    buf.extend_from_slice(b"}\n");
}

fn line(ty: &str, object: &Value) -> Bytes {
    let mut buf = Vec::new();
    write_line(&mut buf, ty, object);
    Bytes::from(buf)
}

/// Replayed events go out in chunks of about this size rather than one per event.
const CHUNK: usize = 64 * 1024;

fn bookmark(req: &WatchReq, rv: u64, initial_end: bool) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": req.rt.kind, "apiVersion": req.rt.api_version(&req.version), "metadata": meta})
}

/// Serve a watch until the timeout, the client leaving, or the live feed lagging (the client
/// then re-watches from its last resourceVersion).
pub fn serve(store: &Arc<Store>, req: WatchReq) -> Response {
    let start = store.watch(
        &req.rt.key(),
        if req.initial_events { None } else { req.since },
    );
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(async move {
        let mut start = match start {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.send(Ok(line("ERROR", &e.status()))).await;
                return;
            }
        };
        let mut first_table = true;
        let mut emit = |buf: &mut Vec<u8>, ty: &str, obj: &Value| {
            let obj = shown(&req.rt, &req.version, obj);
            match req.table {
                Some(include) => {
                    let t = table::table(
                        &req.rt,
                        std::slice::from_ref(obj.as_ref()),
                        None,
                        "",
                        first_table,
                        include,
                    );
                    first_table = false;
                    write_line(buf, ty, &t);
                }
                None => write_line(buf, ty, &obj),
            }
        };
        // The starting state (every object, or the kept events), sent in chunks.
        let mut buf = Vec::with_capacity(CHUNK);
        let initial = start
            .initial
            .iter()
            .filter(|o| in_scope(&req, o))
            .map(|o| ("ADDED", o.as_ref()));
        let replayed = start.replay.iter().filter_map(|ev| translate(&req, ev));
        for (ty, obj) in initial.chain(replayed) {
            emit(&mut buf, ty, obj);
            if buf.len() >= CHUNK
                && tx
                    .send(Ok(Bytes::from(std::mem::replace(
                        &mut buf,
                        Vec::with_capacity(CHUNK),
                    ))))
                    .await
                    .is_err()
            {
                return;
            }
        }
        if !buf.is_empty() && tx.send(Ok(Bytes::from(buf))).await.is_err() {
            return;
        }
        start.initial = Vec::new();
        start.replay = Vec::new();
        let mut last = start.rv;
        if req.initial_events
            && req.bookmarks
            && tx
                .send(Ok(line("BOOKMARK", &bookmark(&req, last, true))))
                .await
                .is_err()
        {
            return;
        }
        let deadline = tokio::time::Instant::now() + req.timeout;
        let every = req.bookmark_every;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if req.bookmarks => {
                    if tx.send(Ok(line("BOOKMARK", &bookmark(&req, last, false)))).await.is_err() { return; }
                }
                ev = start.live.recv() => match ev {
                    Ok(ev) if ev.rv > last => {
                        last = ev.rv;
                        if let Some((ty, obj)) = translate(&req, &ev) {
                            let mut buf = Vec::new();
                            emit(&mut buf, ty, obj);
                            if tx.send(Ok(Bytes::from(buf))).await.is_err() {
                                return;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
