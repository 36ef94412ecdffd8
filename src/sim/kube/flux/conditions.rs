//! Flux's condition bookkeeping (fluxcd/pkg `runtime/conditions`): each condition carries
//! `observedGeneration`; `lastTransitionTime` changes only when the status does.

use serde_json::{Value, json};

pub(crate) fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// Set condition `ty` on `obj` (kept in place when only reason or message change).
pub(crate) fn set(obj: &mut Value, ty: &str, status: &str, reason: &str, message: &str) {
    let generation = generation(obj);
    let conds = &mut obj["status"]["conditions"];
    if !conds.is_array() {
        *conds = json!([]);
    }
    let Some(list) = conds.as_array_mut() else {
        return;
    };
    let now = super::super::store::now();
    let new = |time: Value| {
        json!({"type": ty, "status": status, "observedGeneration": generation,
               "lastTransitionTime": time, "reason": reason, "message": message})
    };
    match list.iter_mut().find(|c| c["type"] == ty) {
        Some(c) if c["status"] == status => {
            let time = c["lastTransitionTime"].clone();
            *c = new(time);
        }
        Some(c) => *c = new(json!(now)),
        // Ready first, as Flux sorts it.
        None if ty == "Ready" => list.insert(0, new(json!(now))),
        None => list.push(new(json!(now))),
    }
}

pub(crate) fn remove(obj: &mut Value, ty: &str) {
    if let Some(list) = obj
        .pointer_mut("/status/conditions")
        .and_then(Value::as_array_mut)
    {
        list.retain(|c| c["type"] != ty);
    }
}

/// The condition `ty`: (status, reason, message).
pub(crate) fn get<'v>(obj: &'v Value, ty: &str) -> Option<(&'v str, &'v str, &'v str)> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .map(|c| {
            (
                c["status"].as_str().unwrap_or_default(),
                c["reason"].as_str().unwrap_or_default(),
                c["message"].as_str().unwrap_or_default(),
            )
        })
}

/// Ready=True for the current generation (what dependsOn and health checks require).
pub(crate) fn ready_now(obj: &Value) -> bool {
    let observed = obj
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    get(obj, "Ready").is_some_and(|(s, _, _)| s == "True") && observed == Some(generation(obj))
}

/// Reconciling and Ready=Unknown, both `Progressing` with the same message.
pub(crate) fn progressing(obj: &mut Value, message: &str) {
    set(obj, "Reconciling", "True", "Progressing", message);
    set(obj, "Ready", "Unknown", "Progressing", message);
}
