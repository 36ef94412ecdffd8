//! Server-side apply on leaf-field ownership (fields.rs): create-or-merge, the applier's
//! managedFields entry, removal of fields an applier stops sending (when nobody else owns them),
//! and 409 conflicts naming the other manager and field, shaped as apimachinery's
//! `managedfields/internal/conflict.go`. `force` moves the conflicting fields to the applier.

use super::errors::ApiError;
use super::fields::{self, Entry, FieldSet, Part, Writer};
use serde_json::{Value, json};

/// Merge `src` into `dst`: maps key by key, lists of named maps item by item, anything else
/// replaced.
pub fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(dv) => merge(dv, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(d), Value::Array(s)) if named(d) && named(s) => {
            for item in s {
                match d.iter_mut().find(|i| i["name"] == item["name"]) {
                    Some(di) => merge(di, item),
                    None => d.push(item.clone()),
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

fn named(items: &[Value]) -> bool {
    !items.is_empty()
        && items
            .iter()
            .all(|i| i.get("name").is_some_and(Value::is_string))
}

/// Only the parts of `config` this write may touch.
fn restrict(config: &Value, part: Part) -> Value {
    let mut out = config.clone();
    if let Some(m) = out.as_object_mut() {
        m.retain(|k, _| k == "apiVersion" || k == "kind" || part.includes(k));
    }
    out
}

/// The object after `config` is applied by `w` over `old` (None: a create). Returns the old
/// object unchanged (same value) when the apply changes nothing.
pub fn apply(
    old: Option<&Value>,
    config: &Value,
    w: &Writer,
    force: bool,
    part: Part,
) -> Result<Value, ApiError> {
    if config.pointer("/metadata/managedFields").is_some() {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let config = restrict(config, part);
    let applied: FieldSet = fields::leaves(&config, part);
    let base = old.cloned().unwrap_or_else(|| json!({}));
    let mut entries = fields::read_managed(&base);

    // Conflicts: a field another manager owns, set here to a different value.
    let mut conflicts: Vec<(String, String)> = vec![];
    let mut taken: Vec<(usize, fields::FieldPath)> = vec![];
    for (i, e) in entries.iter().enumerate() {
        let mine = e.manager == w.manager
            && e.operation == "Apply"
            && e.subresource.as_deref() == w.subresource;
        if mine {
            continue;
        }
        for p in e.fields.intersection(&applied) {
            if fields::get(&base, p) != fields::get(&config, p) {
                conflicts.push((e.describe(), fields::render(p)));
                taken.push((i, p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    for (i, p) in taken {
        if let Some(e) = entries.get_mut(i) {
            e.fields.remove(&p);
        }
    }

    let mut merged = base.clone();
    merge(&mut merged, &config);
    // Fields this applier sent last time and not now: removed unless someone else owns them.
    let before: FieldSet = fields::applier(&mut entries, w)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in before.difference(&applied) {
        let shared = entries
            .iter()
            .any(|e| !(e.manager == w.manager && e.operation == "Apply") && e.fields.contains(p));
        if !shared {
            fields::remove(&mut merged, p);
        }
    }
    match fields::applier(&mut entries, w) {
        Some(e) if e.fields == applied => {}
        Some(e) => {
            e.fields = applied;
            e.time = w.time.to_string();
            e.api_version = w.api_version.to_string();
        }
        None => entries.push(Entry {
            manager: w.manager.to_string(),
            operation: "Apply".into(),
            api_version: w.api_version.to_string(),
            time: w.time.to_string(),
            subresource: w.subresource.map(str::to_string),
            fields: applied,
        }),
    }
    fields::write_managed(&mut merged, entries);
    Ok(merged)
}

/// 409 Conflict with one cause per field (apimachinery `NewApplyConflict`).
fn conflict_error(conflicts: &[(String, String)]) -> ApiError {
    let message = if let [(who, path)] = conflicts {
        format!("Apply failed with 1 conflict: conflict with {who}: {path}")
    } else {
        let mut managers: Vec<&String> = conflicts.iter().map(|(m, _)| m).collect();
        managers.sort();
        managers.dedup();
        let mut lines = vec![];
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for (_, p) in conflicts.iter().filter(|(w, _)| w == m) {
                lines.push(format!("- {p}"));
            }
        }
        format!(
            "Apply failed with {} conflicts: {}",
            conflicts.len(),
            lines.join("\n")
        )
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(who, path)| {
            json!({"reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": path})
        })
        .collect();
    ApiError {
        details: Some(json!({"causes": causes})),
        ..ApiError::new(409, "Conflict", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w<'a>(m: &'a str) -> Writer<'a> {
        Writer {
            manager: m,
            api_version: "v1",
            subresource: None,
            time: "2026-01-01T00:00:00Z",
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","namespace":"d"},"data":data})
    }

    #[test]
    fn apply_owns_leaves_conflicts_and_forces() {
        let a = apply(
            None,
            &cm(json!({"a":"1","b":"2"})),
            &w("one"),
            false,
            Part::All,
        )
        .unwrap();
        assert_eq!(
            a.pointer("/metadata/managedFields/0/fieldsV1").unwrap(),
            &json!({"f:data":{"f:a":{},"f:b":{}}})
        );
        // Same value from another manager: shared, no conflict.
        let b = apply(Some(&a), &cm(json!({"a":"1"})), &w("two"), false, Part::All).unwrap();
        assert_eq!(b["data"], json!({"a":"1","b":"2"}));
        // A different value: 409 naming the owner and the field.
        let err = apply(Some(&b), &cm(json!({"b":"3"})), &w("two"), false, Part::All).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"one\": .data.b"
        );
        assert_eq!(err.details.unwrap()["causes"][0]["field"], ".data.b");
        // Forced: "two" takes b; "one" stops sending a but "two" still owns it, so it stays.
        let c = apply(
            Some(&b),
            &cm(json!({"a":"1","b":"3"})),
            &w("two"),
            true,
            Part::All,
        )
        .unwrap();
        let d = apply(Some(&c), &cm(json!({})), &w("one"), false, Part::All).unwrap();
        assert_eq!(d["data"], json!({"a":"1","b":"3"}));
        // "two" drops b: nobody owns it now, so it goes.
        let e = apply(Some(&d), &cm(json!({"a":"1"})), &w("two"), false, Part::All).unwrap();
        assert_eq!(e["data"], json!({"a":"1"}));
        // The same apply again changes nothing.
        let f = apply(Some(&e), &cm(json!({"a":"1"})), &w("two"), false, Part::All).unwrap();
        assert_eq!(f, e);
    }

    #[test]
    fn named_list_items_merge_and_conflict_by_name() {
        let dep = |image: &str| json!({"metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"app","image":image}]}}}});
        let a = apply(None, &dep("a:1"), &w("one"), false, Part::All).unwrap();
        let err = apply(Some(&a), &dep("a:2"), &w("two"), false, Part::All).unwrap_err();
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"one\": .spec.template.spec.containers[name=\"app\"].image"
        );
        let two = json!({"metadata":{"name":"d"},"spec":{"template":{"spec":{"containers":[{"name":"side","image":"s:1"}]}}}});
        let b = apply(Some(&a), &two, &w("two"), false, Part::All).unwrap();
        let names: Vec<&str> = b
            .pointer("/spec/template/spec/containers")
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["app", "side"]);
        let two_conflicts = json!({"metadata":{"name":"d","labels":{"x":"1"}},"spec":{"template":{"spec":{"containers":[{"name":"app","image":"z"},{"name":"side","image":"z"}]}}}});
        let err = apply(Some(&b), &two_conflicts, &w("three"), false, Part::All).unwrap_err();
        assert!(
            err.message
                .starts_with("Apply failed with 2 conflicts: conflicts with \"one\":\n- .spec"),
            "{}",
            err.message
        );
    }
}
