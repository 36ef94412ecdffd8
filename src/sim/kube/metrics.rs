//! metrics.k8s.io/v1beta1 as metrics-server answers it, computed on each read from the store:
//! NodeMetrics for every node (a base load plus a share per pod running there, a little
//! movement per 15 s window) and PodMetrics for every Running pod, per container.

use super::errors::ApiError;
use super::resources::TypeKey;
use super::select::Selectors;
use super::store::Store;
use serde_json::{Value, json};
use std::sync::Arc;

fn key(plural: &str) -> TypeKey {
    (String::new(), plural.into())
}

/// A stable number in 0..n from a name and the current 15 s window.
fn wobble(name: &str, n: u64) -> u64 {
    let window = jiff::Timestamp::now().as_second().max(0) as u64 / 15;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ window;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h % n.max(1)
}

fn meta<'v>(o: &'v Value, f: &str) -> &'v str {
    o.pointer(&format!("/metadata/{f}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn running(pod: &Value) -> bool {
    pod.pointer("/status/phase") == Some(&json!("Running"))
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// (cpu millicores, memory KiB) of one container.
fn container_usage(pod: &str, c: &str) -> (u64, u64) {
    let id = format!("{pod}/{c}");
    (2 + wobble(&id, 40), 20_480 + wobble(&id, 200) * 1024)
}

/// Every object of a type, shared with the store (no deep copies: a metrics poll of a
/// 5,000-pod cluster copied every pod twice and was most of the simulator's CPU in the
/// health pane's sync).
fn list_all(store: &Store, k: &TypeKey, ns: Option<&str>) -> Vec<Arc<Value>> {
    store
        .list_shared(k, ns, &Selectors::default(), None, None)
        .map(|l| l.items)
        .unwrap_or_default()
}

fn stamp() -> String {
    super::store::now()
}

fn node_metrics(node: &Value, pods: &[Arc<Value>]) -> Value {
    let name = meta(node, "name");
    let (mut cpu, mut mem) = (
        180 + wobble(name, 120),
        1_150_000 + wobble(name, 200) * 1024,
    );
    for p in pods
        .iter()
        .filter(|p| p.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name))
        .filter(|p| running(p))
    {
        for c in containers(p) {
            let (pc, pm) = container_usage(meta(p, "name"), &c);
            cpu = cpu.saturating_add(pc);
            mem = mem.saturating_add(pm);
        }
    }
    json!({
        "kind": "NodeMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "creationTimestamp": stamp(), "labels": node["metadata"]["labels"]},
        "timestamp": stamp(),
        "window": "10.062s",
        "usage": {"cpu": format!("{}n", cpu.saturating_mul(1_000_000)), "memory": format!("{mem}Ki")},
    })
}

fn containers(pod: &Value) -> Vec<String> {
    pod.pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

fn pod_metrics(pod: &Value) -> Value {
    let name = meta(pod, "name");
    let cs: Vec<Value> = containers(pod)
        .into_iter()
        .map(|c| {
            let (cpu, mem) = container_usage(name, &c);
            json!({"name": c, "usage": {"cpu": format!("{}n", cpu.saturating_mul(1_000_000)), "memory": format!("{mem}Ki")}})
        })
        .collect();
    json!({
        "kind": "PodMetrics",
        "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": name, "namespace": meta(pod, "namespace"),
                     "creationTimestamp": stamp(), "labels": pod["metadata"]["labels"]},
        "timestamp": stamp(),
        "window": "10.062s",
        "containers": cs,
    })
}

/// GET under `/apis/metrics.k8s.io/v1beta1/`: `rest` is the path after the version. None: not
/// a metrics path.
pub fn serve(store: &Store, rest: &[&str], sel: &Selectors) -> Option<Result<Value, ApiError>> {
    let not_found =
        |kind: &str, n: &str| ApiError::new(404, "NotFound", format!("{kind} \"{n}\" not found"));
    let list = |kind: &str, items: Vec<Value>| {
        json!({"kind": format!("{kind}List"), "apiVersion": "metrics.k8s.io/v1beta1",
               "metadata": {}, "items": items})
    };
    let pods = |ns: Option<&str>| list_all(store, &key("pods"), ns);
    Some(match rest {
        ["nodes"] => {
            let all = pods(None);
            let items = list_all(store, &key("nodes"), None)
                .iter()
                .filter(|n| sel.matches(n))
                .map(|n| node_metrics(n, &all))
                .collect();
            Ok(list("NodeMetrics", items))
        }
        ["nodes", name] => match store.get(&key("nodes"), "", name) {
            Ok(n) => Ok(node_metrics(&n, &pods(None))),
            Err(_) => Err(not_found("nodemetrics", name)),
        },
        ["pods"] | ["namespaces", _, "pods"] => {
            let ns = match rest {
                ["namespaces", ns, _] => Some(*ns),
                _ => None,
            };
            let items = pods(ns)
                .iter()
                .filter(|p| running(p) && sel.matches(p))
                .map(|p| pod_metrics(p))
                .collect();
            Ok(list("PodMetrics", items))
        }
        ["namespaces", ns, "pods", name] => match store.get(&key("pods"), ns, name) {
            Ok(p) if running(&p) => Ok(pod_metrics(&p)),
            _ => Err(not_found("podmetrics", name)),
        },
        _ => return None,
    })
}
