//! `GET /api/v1/namespaces/{ns}/pods/{name}/log`: a generated log per container, one line every
//! `every` since the container started, with `container`, `tailLines`, `sinceSeconds`, `sinceTime`,
//! `timestamps`, `previous` and `follow` (a chunked body that sends each line as it is
//! produced until the client goes or the pod is deleted). A crash-looping container (one with
//! `lastState.terminated`) logs its last run: a start, then the error it exits with.

use super::errors::ApiError;
use super::resources::TypeKey;
use super::store::Store;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Lines kept reachable (older ones are not served, as a rotated kubelet log).
const MAX_LINES: i64 = 10_000;

fn pods() -> TypeKey {
    (String::new(), "pods".into())
}

/// What the log of one container is.
struct Source {
    container: String,
    /// When line 0 was written.
    start: jiff::Timestamp,
    /// Fixed lines (a crashed run), or None: one generated line per `every`, forever.
    fixed: Option<Vec<String>>,
}

fn crash_lines(c: &str) -> Vec<String> {
    vec![
        format!("level=info msg=\"starting {c}\" version=1.0.0"),
        "level=info msg=\"loading configuration\" path=/etc/app/config.yaml".into(),
        "level=info msg=\"connecting to database\" addr=postgres:5432".into(),
        "level=error msg=\"database unreachable\" err=\"dial tcp 10.43.12.7:5432: connect: connection refused\"".into(),
        "level=fatal msg=\"could not initialise storage, exiting\" code=1".into(),
    ]
}

fn line(src: &Source, i: i64) -> String {
    match &src.fixed {
        Some(lines) => lines
            .get(usize::try_from(i).unwrap_or(usize::MAX))
            .cloned()
            .unwrap_or_default(),
        None => {
            let paths = ["/", "/healthz", "/api/items", "/metrics"];
            let path = paths[usize::try_from(i.rem_euclid(4)).unwrap_or(0)];
            format!(
                "level=info msg=\"request handled\" container={} method=GET path={path} status=200 duration_ms={} n={i}",
                src.container,
                i.rem_euclid(37) + 1
            )
        }
    }
}

fn at(src: &Source, every: Duration, i: i64) -> jiff::Timestamp {
    let step = jiff::SignedDuration::try_from(every).unwrap_or_default();
    let off = step
        .checked_mul(i32::try_from(i).unwrap_or(i32::MAX))
        .unwrap_or_default();
    src.start.checked_add(off).unwrap_or(src.start)
}

/// How many lines exist now.
fn produced(src: &Source, every: Duration) -> i64 {
    if let Some(f) = &src.fixed {
        return f.len() as i64;
    }
    let since = jiff::Timestamp::now().duration_since(src.start);
    let every = every.max(Duration::from_millis(1)).as_nanos() as i128;
    let n = (since.as_nanos() / every).saturating_add(1);
    i64::try_from(n.max(0)).unwrap_or(i64::MAX)
}

fn render(src: &Source, every: Duration, i: i64, timestamps: bool) -> String {
    if timestamps {
        let t = at(src, every, i).strftime("%Y-%m-%dT%H:%M:%S.%fZ");
        format!("{t} {}\n", line(src, i))
    } else {
        format!("{}\n", line(src, i))
    }
}

fn source(
    pod: &Value,
    ns: &str,
    name: &str,
    q: &BTreeMap<String, String>,
) -> Result<Source, ApiError> {
    let containers: Vec<&str> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match q.get("container") {
        Some(c) if containers.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(ApiError::bad_request(format!(
                "container {c} is not valid for pod {name}"
            )));
        }
        None if containers.len() == 1 => containers[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            )));
        }
    };
    let status = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|s| s.iter().find(|s| s["name"] == container.as_str()));
    let time = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
    };
    let terminated = status.and_then(|s| s.pointer("/lastState/terminated"));
    if let Some(t) = terminated {
        let start = time(t.get("startedAt")).unwrap_or_else(jiff::Timestamp::now);
        return Ok(Source {
            fixed: Some(crash_lines(&container)),
            container,
            start,
        });
    }
    if q.get("previous").is_some_and(|v| v == "true") {
        return Err(ApiError::bad_request(format!(
            "previous terminated container \"{container}\" in pod \"{name}\" not found"
        )));
    }
    match status.and_then(|s| time(s.pointer("/state/running/startedAt"))) {
        Some(start) => Ok(Source {
            container,
            start,
            fixed: None,
        }),
        None => {
            let _ = ns;
            Err(ApiError::bad_request(format!(
                "container \"{container}\" in pod \"{name}\" is waiting to start: ContainerCreating"
            )))
        }
    }
}

/// The answer to a log request.
pub fn serve(
    store: &Arc<Store>,
    ns: &str,
    name: &str,
    q: &BTreeMap<String, String>,
    every: Duration,
) -> Result<Response, ApiError> {
    let pod = store.get(&pods(), ns, name)?;
    let src = source(&pod, ns, name, q)?;
    let timestamps = q.get("timestamps").is_some_and(|v| v == "true");
    let follow = q.get("follow").is_some_and(|v| v == "true") && src.fixed.is_none();
    let n = produced(&src, every);
    let mut first = n.saturating_sub(MAX_LINES).max(0);
    // `sinceSeconds` wins over `sinceTime` (RFC 3339), as the kubelet reads PodLogOptions.
    let cut = match q.get("sinceSeconds").and_then(|s| s.parse::<i64>().ok()) {
        Some(s) => Some(
            jiff::Timestamp::now()
                .checked_sub(jiff::SignedDuration::from_secs(s.clamp(0, 10_000_000)))
                .unwrap_or(src.start),
        ),
        None => q
            .get("sinceTime")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok()),
    };
    if let Some(cut) = cut {
        while first < n && at(&src, every, first) < cut {
            first += 1;
        }
    }
    if let Some(t) = q.get("tailLines").and_then(|s| s.parse::<i64>().ok()) {
        first = first.max(n.saturating_sub(t.max(0)));
    }
    let backlog: String = (first..n)
        .map(|i| render(&src, every, i, timestamps))
        .collect();
    let headers = [(header::CONTENT_TYPE, "text/plain")];
    if !follow {
        return Ok((StatusCode::OK, headers, backlog).into_response());
    }
    let store = store.clone();
    let (ns, name) = (ns.to_string(), name.to_string());
    let uid = pod.pointer("/metadata/uid").cloned();
    let state = (Some(backlog), n, src);
    let stream = futures::stream::unfold(state, move |(backlog, i, src)| {
        let store = store.clone();
        let (ns, name, uid) = (ns.clone(), name.clone(), uid.clone());
        async move {
            if let Some(b) = backlog {
                return Some((Ok::<_, std::io::Error>(b), (None, i, src)));
            }
            let due = at(&src, every, i).duration_since(jiff::Timestamp::now());
            let wait = Duration::try_from(due).unwrap_or_default();
            tokio::time::sleep(wait).await;
            // The pod went away (or was replaced): the stream ends, as the kubelet's does.
            let alive = store
                .get(&pods(), &ns, &name)
                .is_ok_and(|p| p.pointer("/metadata/uid").cloned() == uid);
            if !alive {
                return None;
            }
            let text = render(&src, every, i, timestamps);
            Some((Ok(text), (None, i.saturating_add(1), src)))
        }
    });
    Ok((StatusCode::OK, headers, Body::from_stream(stream)).into_response())
}
