//! CustomResourceDefinitions: the names check and the status the apiextensions controllers write
//! (`naming_controller.go`, `establishing_controller.go`), and the [`ResourceType`] an accepted
//! CRD serves. Simplified: NamesAccepted and Established become True in the same write as the
//! create (a real server takes a moment for Established); no schema validation, no conversion.

use super::errors::ApiError;
use super::resources::{PrinterColumn, ResourceType, TypeKey};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Kubernetes version priority: v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > anything else.
fn priority(v: &str) -> (u8, u64, u64) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let Ok(major) = digits.parse::<u64>() else {
        return (0, 0, 0);
    };
    let tail = &rest[digits.len()..];
    let (level, num) = match tail {
        "" => return (3, major, 0),
        t if t.starts_with("beta") => (2, &t[4..]),
        t if t.starts_with("alpha") => (1, &t[5..]),
        _ => return (0, 0, 0),
    };
    match num.parse::<u64>() {
        Ok(n) => (level, major, n),
        Err(_) => (0, 0, 0),
    }
}

fn s<'a>(v: &'a Value, p: &str) -> &'a str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

fn strings(v: &Value, p: &str) -> Vec<String> {
    v.pointer(p)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_string))
        .collect()
}

/// The type a CRD defines (served versions by priority), or a 422 naming the field.
pub fn resource_type(crd: &Value) -> Result<ResourceType, ApiError> {
    let name = s(crd, "/metadata/name");
    let group = s(crd, "/spec/group");
    let plural = s(crd, "/spec/names/plural");
    let kind = s(crd, "/spec/names/kind");
    let scope = s(crd, "/spec/scope");
    let mut causes = vec![];
    let mut need = |ok: bool, field: &str, msg: String| {
        if !ok {
            causes.push(("FieldValueRequired", field.to_string(), msg));
        }
    };
    need(!group.is_empty(), "spec.group", "Required value".into());
    need(
        !plural.is_empty(),
        "spec.names.plural",
        "Required value".into(),
    );
    need(!kind.is_empty(), "spec.names.kind", "Required value".into());
    need(
        scope == "Namespaced" || scope == "Cluster",
        "spec.scope",
        format!("Unsupported value: \"{scope}\": supported values: \"Cluster\", \"Namespaced\""),
    );
    let mut served: Vec<&Value> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["served"].as_bool().unwrap_or(false))
        .collect();
    need(
        !served.is_empty(),
        "spec.versions",
        "Invalid value: must have at least one served version".into(),
    );
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push((
            "FieldValueInvalid",
            "metadata.name".into(),
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    if !causes.is_empty() {
        let causes: Vec<(&str, String, String)> = causes;
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            "apiextensions.k8s.io",
            name,
            &causes,
        ));
    }
    served.sort_by_key(|v| std::cmp::Reverse(priority(s(v, "/name"))));
    let columns = served
        .first()
        .and_then(|v| v.get("additionalPrinterColumns"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| PrinterColumn {
            name: s(c, "/name").to_string(),
            type_: s(c, "/type").to_string(),
            json_path: s(c, "/jsonPath").to_string(),
            priority: c["priority"].as_u64().unwrap_or(0),
            description: s(c, "/description").to_string(),
        })
        .collect();
    let status = served
        .first()
        .is_some_and(|v| v.pointer("/subresources/status").is_some());
    let singular = match s(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        x => x.to_string(),
    };
    Ok(ResourceType {
        group: group.into(),
        versions: served.iter().map(|v| s(v, "/name").to_string()).collect(),
        plural: plural.into(),
        singular,
        kind: kind.into(),
        namespaced: scope == "Namespaced",
        short_names: strings(crd, "/spec/names/shortNames"),
        categories: strings(crd, "/spec/names/categories"),
        status,
        columns,
        custom: true,
    })
}

/// Which name of `rt` another served type in its group already uses.
fn clash(
    rt: &ResourceType,
    types: &BTreeMap<TypeKey, ResourceType>,
) -> Option<(&'static str, String)> {
    for other in types.values() {
        if other.group != rt.group || other.plural == rt.plural {
            continue;
        }
        if other.kind == rt.kind {
            return Some(("KindConflict", rt.kind.clone()));
        }
        if other.singular == rt.singular {
            return Some(("SingularConflict", rt.singular.clone()));
        }
    }
    for other in types.values() {
        if other.plural == rt.plural && other.group == rt.group {
            continue;
        }
        if let Some(sn) = rt
            .short_names
            .iter()
            .find(|sn| other.short_names.contains(sn))
        {
            return Some(("ShortNamesConflict", sn.clone()));
        }
    }
    None
}

fn condition(
    old: Option<&Value>,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: &str,
) -> Value {
    let since = old
        .and_then(|o| o.pointer("/status/conditions"))
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == ty && c["status"] == status))
        .and_then(|c| c["lastTransitionTime"].as_str())
        .unwrap_or(now)
        .to_string();
    json!({"type": ty, "status": status, "reason": reason, "message": message, "lastTransitionTime": since})
}

/// Write the status the apiextensions controllers report; the type to serve when accepted.
pub fn settle(
    old: Option<&Value>,
    crd: &mut Value,
    types: &BTreeMap<TypeKey, ResourceType>,
    now: &str,
) -> Result<Option<ResourceType>, ApiError> {
    let rt = resource_type(crd)?;
    let names = json!({
        "plural": rt.plural, "singular": rt.singular, "kind": rt.kind,
        "listKind": match s(crd, "/spec/names/listKind") { "" => rt.list_kind(), l => l.to_string() },
        "shortNames": rt.short_names, "categories": rt.categories,
    });
    let stored: Vec<String> = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v["storage"].as_bool().unwrap_or(false))
        .map(|v| s(v, "/name").to_string())
        .collect();
    let (conditions, accepted) = match clash(&rt, types) {
        None => (
            vec![
                condition(
                    old,
                    "NamesAccepted",
                    "True",
                    "NoConflicts",
                    "no conflicts found",
                    now,
                ),
                condition(
                    old,
                    "Established",
                    "True",
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    now,
                ),
            ],
            true,
        ),
        Some((reason, taken)) => (
            vec![
                condition(
                    old,
                    "NamesAccepted",
                    "False",
                    reason,
                    &format!("\"{taken}\" is already in use"),
                    now,
                ),
                condition(
                    old,
                    "Established",
                    "False",
                    "NotAccepted",
                    "not all names are accepted",
                    now,
                ),
            ],
            false,
        ),
    };
    crd["status"] = json!({
        "conditions": conditions,
        "acceptedNames": if accepted { names } else { json!({"plural": "", "kind": ""}) },
        "storedVersions": stored,
    });
    Ok(accepted.then_some(rt))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_kubernetes_does() {
        let mut v = vec!["v1alpha1", "v1beta2", "v2", "v1", "v1beta1", "foo"];
        v.sort_by_key(|x| std::cmp::Reverse(priority(x)));
        assert_eq!(v, ["v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]);
    }
}
