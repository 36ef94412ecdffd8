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
    let mut o = obj.clone();
    o["apiVersion"] = json!(rt.api_version(version));
    o
}

/// What a watcher with this filter sees of `ev` (type and object), if anything.
fn translate(req: &WatchReq, ev: &Event) -> Option<(&'static str, Value)> {
    if ev.key != req.rt.key() {
        return None;
    }
    let in_ns = |o: &Value| {
        req.ns
            .as_deref()
            .is_none_or(|ns| o.pointer("/metadata/namespace").and_then(Value::as_str) == Some(ns))
    };
    let now = in_ns(&ev.object) && req.sel.matches(&ev.object);
    let before = ev
        .prev
        .as_ref()
        .is_some_and(|p| in_ns(p) && req.sel.matches(p));
    let ty = match (ev.ty, before, now) {
        (EventType::Added, _, true) => EventType::Added,
        (EventType::Deleted, _, true) => EventType::Deleted,
        (EventType::Modified, true, true) => EventType::Modified,
        (EventType::Modified, false, true) => EventType::Added,
        (EventType::Modified, true, false) => EventType::Deleted,
        _ => return None,
    };
    Some((ty.as_str(), present(&req.rt, &req.version, &ev.object)))
}

fn line(ty: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": ty, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

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
        let mut emit = |ty: &str, obj: Value| -> Bytes {
            match req.table {
                Some(include) => {
                    let t = table::table(
                        &req.rt,
                        std::slice::from_ref(&obj),
                        None,
                        "",
                        first_table,
                        include,
                    );
                    first_table = false;
                    line(ty, &t)
                }
                None => line(ty, &obj),
            }
        };
        for ev in &start.replay {
            if let Some((ty, obj)) = translate(&req, ev)
                && tx.send(Ok(emit(ty, obj))).await.is_err()
            {
                return;
            }
        }
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
                        if let Some((ty, obj)) = translate(&req, &ev)
                            && tx.send(Ok(emit(ty, obj))).await.is_err()
                        {
                            return;
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
