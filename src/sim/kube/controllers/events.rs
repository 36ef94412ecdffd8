//! core/v1 Events as the scheduler and the kubelet record them: one Event per (object, reason,
//! message), repeated ones counted (`count`, `lastTimestamp`), named `<object>.<hex>`.

use super::{Pass, key, meta};
use serde_json::{Value, json};

/// Who reports: `default-scheduler`, or `kubelet` on a host.
pub(crate) struct Source<'a> {
    pub component: &'a str,
    pub host: Option<&'a str>,
}

pub(crate) fn record(
    p: &Pass,
    obj: &Value,
    warning: bool,
    reason: &str,
    message: &str,
    src: &Source,
    field_path: Option<&str>,
) {
    let ns = meta(obj, "namespace");
    let ns = if ns.is_empty() { "default" } else { ns };
    let uid = meta(obj, "uid");
    let now = super::super::store::now();
    let k = key("", "events");
    let existing = p.list(&k, Some(ns)).into_iter().find(|e| {
        e.pointer("/involvedObject/uid").and_then(Value::as_str) == Some(uid)
            && e["reason"] == reason
            && e["message"] == message
    });
    if let Some(old) = existing {
        let mut next = Value::clone(&old);
        next["count"] = json!(old["count"].as_u64().unwrap_or(1).saturating_add(1));
        next["lastTimestamp"] = json!(now);
        p.save(&k, Some(&*old), next, src.component);
        return;
    }
    let mut involved = json!({
        "apiVersion": obj["apiVersion"], "kind": obj["kind"], "namespace": meta(obj, "namespace"),
        "name": meta(obj, "name"), "uid": uid, "resourceVersion": meta(obj, "resourceVersion"),
    });
    if let Some(f) = field_path {
        involved["fieldPath"] = json!(f);
    }
    let mut source = json!({"component": src.component});
    if let Some(h) = src.host {
        source["host"] = json!(h);
    }
    let nanos = jiff::Timestamp::now().as_nanosecond() as u64 ^ rand::random::<u64>() >> 8;
    let ev = json!({
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": format!("{}.{:016x}", meta(obj, "name"), nanos), "namespace": ns},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "source": source,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": if warning { "Warning" } else { "Normal" },
        "eventTime": null,
        "reportingComponent": src.component,
        "reportingInstance": src.host.unwrap_or_default(),
    });
    p.save(&k, None, ev, src.component);
}
