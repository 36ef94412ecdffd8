//! A pod's log, followed (`GET .../pods/{name}/log?follow=true&timestamps=true`, through
//! kube-rs `Api::log_stream`): what the console shows when Loki is unreachable. Lines arrive
//! in batches (whatever is ready at once, at most [`BATCH`]) as `domain::logs::LogLine`s
//! labelled `namespace`, `pod` and `container`, the labels Promtail gives the same lines.

use crate::domain::logs::{Labels, LogLine};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, LogParams};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Lines per batch at most.
pub const BATCH: usize = 512;
/// Lines of history asked for before following.
pub const TAIL_LINES: i64 = 500;
/// A longer line is cut here (the kubelet caps nothing; a terminal row cannot show more).
pub const MAX_LINE: usize = 16 * 1024;

/// Which log to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodLogRequest {
    pub namespace: String,
    pub pod: String,
    /// Required when the pod has several containers.
    pub container: Option<String>,
}

/// What the follow reports.
#[derive(Debug, Clone, PartialEq)]
pub enum PodLogEvent {
    /// The stream is open.
    Live,
    Lines(Vec<LogLine>),
    /// The server closed the stream (the container stopped); `String` says so.
    Ended(String),
    /// The request failed (the server's own words, with the pod named).
    Failed(String),
}

/// `2026-01-02T03:04:05.123456789Z text` -> (ns since the epoch, text); a line without a
/// timestamp keeps `fallback_ns`.
fn split_timestamp(line: &str, fallback_ns: i64) -> (i64, &str) {
    if let Some((ts, rest)) = line.split_once(' ')
        && let Ok(t) = ts.parse::<jiff::Timestamp>()
    {
        let ns = i64::try_from(t.as_nanosecond()).unwrap_or(fallback_ns);
        return (ns, rest);
    }
    (fallback_ns, line)
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_LINE {
        let mut end = MAX_LINE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Follow `req`'s log into `tx` until the stream ends or `tx` is closed.
pub async fn follow(client: Client, req: PodLogRequest, tx: mpsc::Sender<PodLogEvent>) {
    let what = format!("log of pod {}/{}", req.namespace, req.pod);
    let api: Api<Pod> = Api::namespaced(client, &req.namespace);
    let params = LogParams {
        follow: true,
        timestamps: true,
        tail_lines: Some(TAIL_LINES),
        container: req.container.clone(),
        ..LogParams::default()
    };
    let reader = match api.log_stream(&req.pod, &params).await {
        Ok(r) => r,
        Err(e) => {
            let _ = tx.send(PodLogEvent::Failed(format!("{what}: {e}"))).await;
            return;
        }
    };
    if tx.send(PodLogEvent::Live).await.is_err() {
        return;
    }
    let mut labels = Labels::new();
    labels.insert("namespace".into(), req.namespace.clone());
    labels.insert("pod".into(), req.pod.clone());
    if let Some(c) = &req.container {
        labels.insert("container".into(), c.clone());
    }
    let labels = Arc::new(labels);
    let mut chunks = reader.lines().ready_chunks(BATCH);
    let mut last_ns = 0i64;
    while let Some(chunk) = chunks.next().await {
        let mut lines = Vec::with_capacity(chunk.len());
        for l in chunk {
            match l {
                Ok(l) => {
                    let (ns, text) = split_timestamp(&l, last_ns);
                    last_ns = ns;
                    lines.push(LogLine::new(ns, labels.clone(), cut(text.to_string())));
                }
                Err(e) => {
                    let _ = tx.send(PodLogEvent::Lines(lines)).await;
                    let _ = tx.send(PodLogEvent::Failed(format!("{what}: {e}"))).await;
                    return;
                }
            }
        }
        if tx.send(PodLogEvent::Lines(lines)).await.is_err() {
            return;
        }
    }
    let _ = tx
        .send(PodLogEvent::Ended(format!(
            "{what}: the stream ended (the container stopped); Enter follows it again"
        )))
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_split_off_and_missing_ones_keep_the_last() {
        let (ns, text) = split_timestamp("2026-01-02T03:04:05.5Z level=info hi", 7);
        assert_eq!(text, "level=info hi");
        assert_eq!(ns, 1_767_323_045_500_000_000);
        assert_eq!(split_timestamp("no time here", 7), (7, "no time here"));
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let s = "é".repeat(MAX_LINE);
        assert!(cut(s).len() <= MAX_LINE);
    }
}
