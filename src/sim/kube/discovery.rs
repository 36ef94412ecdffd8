//! Discovery as kube-apiserver serves it: legacy (`/api`, `/apis`, `/api/v1`, `/apis/<g>`,
//! `/apis/<g>/<v>`), aggregated (`APIGroupDiscoveryList`, apidiscovery.k8s.io/v2, when the
//! Accept header asks for it: clients decide from the Content-Type alone), and the OpenAPI v3
//! index kubectl reads before `apply --server-side` to learn that the server takes
//! `fieldValidation` (one PATCH operation per kind; no schemas).

use super::resources::{BUILTIN_GROUPS, ResourceType};
use serde_json::{Value, json};
use std::hash::{Hash, Hasher};

pub const AGGREGATED: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// Does the Accept header list the v2 aggregated discovery media type?
pub fn wants_aggregated(accept: &str) -> bool {
    accept.split(',').any(|range| {
        let params: Vec<&str> = range.split(';').map(str::trim).collect();
        params.first() == Some(&"application/json")
            && params.contains(&"g=apidiscovery.k8s.io")
            && params.contains(&"v=v2")
            && params.contains(&"as=APIGroupDiscoveryList")
    })
}

/// Groups in serving order: the built-in ones, then CRD groups by name.
pub fn groups(types: &[ResourceType]) -> Vec<String> {
    let mut out: Vec<String> = BUILTIN_GROUPS.iter().map(|g| g.to_string()).collect();
    let mut custom: Vec<String> = types
        .iter()
        .filter(|t| !t.group.is_empty() && !out.contains(&t.group))
        .map(|t| t.group.clone())
        .collect();
    custom.sort();
    custom.dedup();
    out.extend(custom);
    out
}

/// The versions of a group, preferred first.
pub fn versions(types: &[ResourceType], group: &str) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    let mut members: Vec<&ResourceType> = types.iter().filter(|t| t.group == group).collect();
    members.sort_by_key(|t| t.plural.clone());
    for t in members {
        for v in &t.versions {
            if !out.contains(v) {
                out.push(v.clone());
            }
        }
    }
    out
}

fn serves<'a>(
    types: &'a [ResourceType],
    group: &'a str,
    version: &'a str,
) -> impl Iterator<Item = &'a ResourceType> + 'a {
    let mut v: Vec<&ResourceType> = types
        .iter()
        .filter(move |t| t.group == group && t.versions.iter().any(|x| x == version))
        .collect();
    v.sort_by(|a, b| a.plural.cmp(&b.plural));
    v.into_iter()
}

pub fn api_versions() -> Value {
    json!({"kind":"APIVersions","versions":["v1"],
           "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]})
}

fn group_entry(types: &[ResourceType], g: &str) -> Value {
    let vs: Vec<Value> = versions(types, g)
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    let preferred = vs.first().cloned().unwrap_or(Value::Null);
    json!({"name": g, "versions": vs, "preferredVersion": preferred})
}

pub fn api_group_list(types: &[ResourceType]) -> Value {
    let groups: Vec<Value> = groups(types)
        .iter()
        .filter(|g| types.iter().any(|t| &t.group == *g))
        .map(|g| group_entry(types, g))
        .collect();
    json!({"kind":"APIGroupList","apiVersion":"v1","groups": groups})
}

pub fn api_group(types: &[ResourceType], group: &str) -> Option<Value> {
    types.iter().any(|t| t.group == group).then(|| {
        let mut g = group_entry(types, group);
        g["kind"] = json!("APIGroup");
        g["apiVersion"] = json!("v1");
        g
    })
}

/// Legacy `APIResourceList` of one group-version (subresources as `plural/status`).
pub fn resource_list(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let mut resources = vec![];
    for t in serves(types, group, version) {
        let mut r = json!({"name": t.plural, "singularName": t.singular, "namespaced": t.namespaced,
                           "kind": t.kind, "verbs": t.verbs()});
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        if !t.categories.is_empty() {
            r["categories"] = json!(t.categories);
        }
        resources.push(r);
        if t.status {
            resources.push(
                json!({"name": format!("{}/status", t.plural), "singularName": "",
                "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get","patch","update"]}),
            );
        }
    }
    if resources.is_empty() {
        return None;
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(
        json!({"kind":"APIResourceList","apiVersion":"v1","groupVersion": gv,"resources": resources}),
    )
}

fn discovery_resource(t: &ResourceType, version: &str) -> Value {
    let kind = json!({"group": t.group, "version": version, "kind": t.kind});
    let mut r = json!({"resource": t.plural, "responseKind": kind, "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                       "singularResource": t.singular, "verbs": t.verbs()});
    if !t.short_names.is_empty() {
        r["shortNames"] = json!(t.short_names);
    }
    if !t.categories.is_empty() {
        r["categories"] = json!(t.categories);
    }
    if t.status {
        r["subresources"] =
            json!([{"subresource":"status","responseKind": kind,"verbs":["get","patch","update"]}]);
    }
    r
}

fn discovery_group(types: &[ResourceType], group: &str) -> Value {
    let versions: Vec<Value> = versions(types, group)
        .iter()
        .map(|v| {
            let rs: Vec<Value> = serves(types, group, v)
                .map(|t| discovery_resource(t, v))
                .collect();
            json!({"version": v, "resources": rs, "freshness": "Current"})
        })
        .collect();
    let mut meta = json!({"creationTimestamp": null});
    if !group.is_empty() {
        meta["name"] = json!(group);
    }
    json!({"metadata": meta, "versions": versions})
}

/// Aggregated discovery: `/api` (core) or `/apis` (every group).
pub fn aggregated(types: &[ResourceType], core: bool) -> Value {
    let items: Vec<Value> = if core {
        vec![discovery_group(types, "")]
    } else {
        groups(types)
            .iter()
            .filter(|g| types.iter().any(|t| &t.group == *g))
            .map(|g| discovery_group(types, g))
            .collect()
    };
    json!({"kind":"APIGroupDiscoveryList","apiVersion":"apidiscovery.k8s.io/v2","metadata":{},"items": items})
}

/// The OpenAPI v3 document of one group-version: a PATCH operation per kind that takes
/// `fieldValidation`, which is what kubectl looks for.
pub fn openapi_gv(types: &[ResourceType], group: &str, version: &str) -> Option<Value> {
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/{version}")
    };
    let mut paths = serde_json::Map::new();
    for t in serves(types, group, version) {
        let path = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
        } else {
            format!("{prefix}/{}/{{name}}", t.plural)
        };
        let op = json!({"patch": {
            "x-kubernetes-group-version-kind": {"group": t.group, "version": version, "kind": t.kind},
            "parameters": [
                {"name":"dryRun","in":"query","schema":{"type":"string"}},
                {"name":"fieldManager","in":"query","schema":{"type":"string"}},
                {"name":"fieldValidation","in":"query","schema":{"type":"string"}},
                {"name":"force","in":"query","schema":{"type":"boolean"}}],
            "responses": {"200": {"description": "OK"}}}});
        paths.insert(path, op);
    }
    if paths.is_empty() {
        return None;
    }
    Some(
        json!({"openapi":"3.0.0","info":{"title":"Kubernetes","version":"v1.33.5+k3s1"},
                "paths": paths, "components": {"schemas": {}}}),
    )
}

/// `/openapi/v3`: every group-version and the URL (with a content hash) of its document.
pub fn openapi_root(types: &[ResourceType]) -> Value {
    let mut paths = serde_json::Map::new();
    let mut gvs = vec![(String::new(), "v1".to_string())];
    for g in groups(types) {
        for v in versions(types, &g) {
            gvs.push((g.clone(), v));
        }
    }
    for (g, v) in gvs {
        let Some(doc) = openapi_gv(types, &g, &v) else {
            continue;
        };
        let mut h = std::collections::hash_map::DefaultHasher::new();
        doc.to_string().hash(&mut h);
        let key = if g.is_empty() {
            "api/v1".to_string()
        } else {
            format!("apis/{g}/{v}")
        };
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={:016X}", h.finish())}),
        );
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregated_accept_is_recognised_exactly() {
        assert!(wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated(
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"
        ));
        assert!(!wants_aggregated("application/json, */*"));
    }
}
