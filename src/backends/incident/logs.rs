//! The logs of the five minutes before the alert: a Loki `query_range` over
//! `[start - 5 min, start)` with a selector for the workload's pods; when Loki is not configured
//! or does not answer, the pod log API of each pod (`sinceTime` = window start, `timestamps`),
//! cut at the alert's start, and the view says so and why.

use super::workload::{StepError, call};
use crate::backends::loki::{Direction, LokiClient, RangeQuery};
use crate::domain::incident::{LogsOrigin, LogsWindow, SourceFailure};
use crate::domain::logs::{Labels, LogLine};
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, LogParams};
use std::sync::Arc;

/// At most this many lines are kept (the newest before the alert).
pub const MAX_LINES: u32 = 2_000;
/// Per container, at most this much log is read from the pod API.
pub const POD_LOG_BYTES: i64 = 1 << 20;
/// At most this many pods' logs are read through the pod API.
pub const MAX_LOG_PODS: usize = 10;

/// The Loki selector for `pods` of `namespace` (all of the namespace when no pod is known).
pub fn selector(namespace: &str, pods: &[String]) -> String {
    match pods {
        [] => format!(r#"{{namespace="{namespace}"}}"#),
        [one] => format!(r#"{{namespace="{namespace}", pod="{one}"}}"#),
        many => {
            // Kubernetes names: only `.` needs escaping in a regex (`\\.` inside the LogQL string).
            let alts: Vec<String> = many.iter().map(|p| p.replace('.', r"\\.")).collect();
            format!(r#"{{namespace="{namespace}", pod=~"{}"}}"#, alts.join("|"))
        }
    }
}

/// Ask Loki for the window. `Err` carries why Loki could not answer (for the fallback).
pub async fn from_loki(
    loki: &LokiClient,
    namespace: &str,
    pods: &[String],
    from_ns: i64,
    to_ns: i64,
) -> Result<LogsWindow, String> {
    let query = selector(namespace, pods);
    let q = RangeQuery {
        query: query.clone(),
        start_ns: from_ns,
        end_ns: to_ns,
        limit: MAX_LINES,
        // The newest lines before the alert matter most when there are too many.
        direction: Direction::Backward,
    };
    let mut lines = loki.query_range(&q).await.map_err(|e| e.to_string())?;
    lines.sort_by_key(|l| l.ts_ns);
    Ok(LogsWindow {
        from_ns,
        to_ns,
        truncated: lines.len() >= MAX_LINES as usize,
        origin: LogsOrigin::Loki { selector: query },
        lines,
        failed_pods: Vec::new(),
    })
}

/// Parse a `timestamps=true` line: `2026-01-02T03:04:05.123456789Z text`.
fn stamped(line: &str) -> Option<(i64, &str)> {
    let (ts, rest) = line.split_once(' ')?;
    let t: jiff::Timestamp = ts.parse().ok()?;
    Some((i64::try_from(t.as_nanosecond()).ok()?, rest))
}

/// The window from the pod log API of `pods` (name, containers), because of `why`.
pub async fn from_pod_api(
    client: &Client,
    host: &str,
    namespace: &str,
    pods: &[(String, Vec<String>)],
    from_ns: i64,
    to_ns: i64,
    why: String,
) -> LogsWindow {
    let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let since = jiff::Timestamp::from_nanosecond(i128::from(from_ns)).ok();
    let mut lines = Vec::new();
    let mut failed = Vec::new();
    let mut asked = Vec::new();
    for (pod, containers) in pods.iter().take(MAX_LOG_PODS) {
        asked.push(pod.clone());
        for c in containers {
            let params = LogParams {
                container: (containers.len() > 1).then(|| c.clone()),
                since_time: since,
                timestamps: true,
                limit_bytes: Some(POD_LOG_BYTES),
                ..LogParams::default()
            };
            let step = format!("logs of pod {namespace}/{pod} container {c}");
            match call(step, api.logs(pod, &params)).await {
                Ok(text) => {
                    let labels: Arc<Labels> = Arc::new(
                        [
                            ("namespace", namespace),
                            ("pod", pod.as_str()),
                            ("container", c.as_str()),
                        ]
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                    );
                    lines.extend(text.lines().filter_map(|l| {
                        let (ts, rest) = stamped(l)?;
                        (ts >= from_ns && ts < to_ns)
                            .then(|| LogLine::new(ts, labels.clone(), rest.to_owned()))
                    }));
                }
                Err(StepError { step, reason }) => {
                    failed.push(SourceFailure::new("Kubernetes", host, step, reason))
                }
            }
        }
    }
    lines.sort_by_key(|l| l.ts_ns);
    let cap = MAX_LINES as usize;
    let truncated = lines.len() > cap;
    if truncated {
        lines.drain(..lines.len() - cap);
    }
    LogsWindow {
        from_ns,
        to_ns,
        origin: LogsOrigin::PodApi { pods: asked, why },
        lines,
        truncated,
        failed_pods: failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_name_the_pods() {
        assert_eq!(selector("media", &[]), r#"{namespace="media"}"#);
        assert_eq!(
            selector("media", &["web-1".into()]),
            r#"{namespace="media", pod="web-1"}"#
        );
        assert_eq!(
            selector("media", &["a.b-1".into(), "c-2".into()]),
            r#"{namespace="media", pod=~"a\\.b-1|c-2"}"#
        );
    }

    #[test]
    fn stamped_lines_parse_and_others_are_dropped() {
        assert_eq!(
            stamped("2026-01-02T03:04:05.000000001Z hello world"),
            Some((1_767_323_045_000_000_001, "hello world"))
        );
        assert_eq!(stamped("no timestamp here"), None);
    }
}
