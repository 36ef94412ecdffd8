//! The HTTP surface: bearer-token auth, then one dispatcher that maps `/api/v1/...` and
//! `/apis/<group>/<version>/...` paths onto the store (get, list, watch, create, update, every
//! PATCH type, delete, deletecollection, the status subresource) and the discovery documents.

use super::discovery;
use super::errors::ApiError;
use super::objects;
use super::resources::ResourceType;
use super::select::Selectors;
use super::store::{DeleteOpts, Deleted, Patch, Store, WriteOpts};
use super::table::{self, Include};
use super::watch::{self, WatchReq, present};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Shared {
    pub store: Arc<Store>,
    pub token: String,
    pub version: String,
    pub bookmark_every: Duration,
    pub log_every: Duration,
    /// Pod ports attached to loopback addresses (`KubeSim::serve_port`).
    pub ports: Arc<super::portforward::Ports>,
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/readyz", get(health))
        .route("/livez", get(health))
        .route("/healthz", get(health))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/portforward",
            any(super::portforward::handle),
        )
        .fallback(dispatch)
        .with_state(shared)
}

async fn health() -> &'static str {
    "ok"
}

fn respond(code: StatusCode, content_type: &str, body: &Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, content_type.to_string())],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: &Value) -> Response {
    respond(StatusCode::OK, "application/json", body)
}

fn fail(e: &ApiError) -> Response {
    let code = StatusCode::from_u16(e.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    respond(code, "application/json", &e.status())
}

/// Query pairs; tolerates kube-rs' `?&a=b` and a trailing `?`.
pub fn query(raw: Option<&str>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn header_str(h: &HeaderMap, name: header::HeaderName) -> &str {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// The request carries the simulator's bearer token.
pub fn authorized(headers: &HeaderMap, token: &str) -> bool {
    header_str(headers, header::AUTHORIZATION)
        .strip_prefix("Bearer ")
        .is_some_and(|t| t == token)
}

async fn dispatch(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&headers, &s.token) {
        return fail(&ApiError::new(401, "Unauthorized", "Unauthorized"));
    }
    let q = query(uri.query());
    let segs: Vec<&str> = uri.path().split('/').filter(|x| !x.is_empty()).collect();
    let accept = header_str(&headers, header::ACCEPT);
    let types = || s.store.types();
    let discovery = |core: bool, legacy: Value| {
        if discovery::wants_aggregated(accept) {
            respond(
                StatusCode::OK,
                discovery::AGGREGATED,
                &discovery::aggregated(&types(), core),
            )
        } else {
            ok(&legacy)
        }
    };
    let found = |v: Option<Value>| {
        v.map(|v| ok(&v))
            .unwrap_or_else(|| fail(&ApiError::no_route()))
    };
    if method == Method::GET {
        match segs.as_slice() {
            ["version"] => return ok(&objects::version(&s.version)),
            ["api"] => return discovery(true, discovery::api_versions()),
            ["apis"] => return discovery(false, discovery::api_group_list(&types())),
            ["api", "v1"] => return found(discovery::resource_list(&types(), "", "v1")),
            ["apis", g] => return found(discovery::api_group(&types(), g)),
            ["apis", g, v] => return found(discovery::resource_list(&types(), g, v)),
            // An empty OpenAPI v2 document (an empty protobuf message): kubectl falls back to v2
            // for kinds v3 does not list yet (a CR whose CRD is in the same file) and then
            // skips validating them, as against a real server.
            ["openapi", "v2"] => {
                return (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/octet-stream")],
                    Vec::<u8>::new(),
                )
                    .into_response();
            }
            ["openapi", "v3"] => return ok(&discovery::openapi_root(&types())),
            ["openapi", "v3", "api", "v1"] => {
                return found(discovery::openapi_gv(&types(), "", "v1"));
            }
            ["openapi", "v3", "apis", g, v] => return found(discovery::openapi_gv(&types(), g, v)),
            _ => {}
        }
    }
    if method == Method::GET
        && let ["api", "v1", "namespaces", ns, "pods", name, "log"] = segs.as_slice()
    {
        return super::logs::serve(&s.store, ns, name, &q, s.log_every)
            .unwrap_or_else(|e| fail(&e));
    }
    if method == Method::GET
        && let ["api", "v1", "nodes", node, "proxy", "stats", "summary"] = segs.as_slice()
    {
        return super::summary::serve(&s.store, node)
            .map(|v| ok(&v))
            .unwrap_or_else(|e| fail(&e));
    }
    if method == Method::GET
        && let ["apis", "metrics.k8s.io", "v1beta1", rest @ ..] = segs.as_slice()
        && !rest.is_empty()
    {
        let sel = match Selectors::parse(
            q.get("labelSelector").map(String::as_str),
            q.get("fieldSelector").map(String::as_str),
        ) {
            Ok(s) => s,
            Err(e) => return fail(&e),
        };
        if let Some(answer) = super::metrics::serve(&s.store, rest, &sel) {
            return answer.map(|v| ok(&v)).unwrap_or_else(|e| fail(&e));
        }
    }
    let (group, version, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] if !rest.is_empty() => ("", "v1", rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return fail(&ApiError::no_route()),
    };
    let target = match resolve(&s.store, group, version, rest) {
        Some(t) => t,
        None => return fail(&ApiError::no_route()),
    };
    let result = match method {
        Method::GET => read(&s, &target, &q, accept),
        Method::POST => create(&s.store, &target, &q, &headers, &body),
        Method::PUT => replace(&s.store, &target, &q, &headers, &body),
        Method::PATCH => patch(&s.store, &target, &q, &headers, &body),
        Method::DELETE => delete(&s.store, &target, &q, &body),
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    };
    result.unwrap_or_else(|e| fail(&e))
}

/// A request's resource, namespace, name and subresource.
struct Target {
    rt: ResourceType,
    version: String,
    ns: Option<String>,
    name: Option<String>,
    status: bool,
}

fn resolve(store: &Store, group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    // `/api/v1/namespaces/x/status` is the namespace's own subresource, not a resource "status".
    let ns_sub = group.is_empty()
        && rest.len() == 3
        && rest[0] == "namespaces"
        && matches!(rest[2], "status" | "finalize");
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if !ns_sub && tail.len() <= 2 => {
            (Some(ns.to_string()), *plural, tail.first(), tail.get(1))
        }
        [plural, tail @ ..] if tail.len() <= 2 => (None, *plural, tail.first(), tail.get(1)),
        _ => return None,
    };
    let rt = store.lookup(group, version, plural)?;
    if ns.is_some() && !rt.namespaced {
        return None;
    }
    if name.is_some() && rt.namespaced && ns.is_none() {
        return None;
    }
    let status = match sub {
        None => false,
        Some(&"status") if rt.status => true,
        Some(&"finalize") if ns_sub => false,
        Some(_) => return None,
    };
    Some(Target {
        rt,
        version: version.to_string(),
        ns,
        name: name.map(|n| n.to_string()),
        status,
    })
}

fn truthy(q: &BTreeMap<String, String>, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

fn table_wanted(accept: &str, q: &BTreeMap<String, String>) -> Result<Option<Include>, ApiError> {
    if !accept.contains("as=Table") {
        return Ok(None);
    }
    Include::parse(q.get("includeObject").map(String::as_str))
        .map(Some)
        .map_err(ApiError::bad_request)
}

fn table_response(body: &Value) -> Response {
    respond(
        StatusCode::OK,
        "application/json;as=Table;v=v1;g=meta.k8s.io",
        body,
    )
}

fn read(
    s: &Arc<Shared>,
    t: &Target,
    q: &BTreeMap<String, String>,
    accept: &str,
) -> Result<Response, ApiError> {
    let key = t.rt.key();
    let table = table_wanted(accept, q)?;
    if let Some(name) = &t.name {
        let obj = present(
            &t.rt,
            &t.version,
            &s.store.get(&key, t.ns.as_deref().unwrap_or(""), name)?,
        );
        return Ok(match table {
            Some(inc) => table_response(&table::table(
                &t.rt,
                &[obj],
                Some(s.store.resource_version()),
                "",
                true,
                inc,
            )),
            None => ok(&obj),
        });
    }
    let sel = Selectors::parse(
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )?;
    let rv = q.get("resourceVersion").filter(|v| !v.is_empty());
    let rv_match = q.get("resourceVersionMatch").filter(|v| !v.is_empty());
    let initial = truthy(q, "sendInitialEvents");
    if truthy(q, "watch") {
        if rv_match.is_some() && !initial {
            return Err(invalid_list(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        let since = match rv.map(|v| v.parse::<u64>()) {
            None => None,
            Some(Ok(0)) => None,
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => {
                return Err(ApiError::bad_request(format!(
                    "invalid resource version: {}",
                    rv.map(String::as_str).unwrap_or_default()
                )));
            }
        };
        let timeout = q
            .get("timeoutSeconds")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(1800)
            .min(3600);
        return Ok(watch::serve(
            &s.store,
            WatchReq {
                rt: t.rt.clone(),
                version: t.version.clone(),
                ns: t.ns.clone(),
                sel,
                since,
                timeout: Duration::from_secs(timeout),
                bookmarks: truthy(q, "allowWatchBookmarks"),
                initial_events: initial,
                table,
                bookmark_every: s.bookmark_every,
            },
        ));
    }
    if initial {
        return Err(invalid_list(
            "sendInitialEvents",
            "sendInitialEvents is forbidden for list",
        ));
    }
    if rv_match.is_some() && rv.is_none() {
        return Err(invalid_list(
            "resourceVersionMatch",
            "resourceVersionMatch is forbidden unless resourceVersion is provided",
        ));
    }
    let limit = q.get("limit").and_then(|l| l.parse::<usize>().ok());
    let listed = s.store.list_shared(
        &key,
        t.ns.as_deref(),
        &sel,
        limit,
        q.get("continue").map(String::as_str),
    )?;
    let items: Vec<Cow<'_, Value>> = listed
        .items
        .iter()
        .map(|o| watch::shown(&t.rt, &t.version, o))
        .collect();
    if let Some(inc) = table {
        return Ok(table_response(&table::table(
            &t.rt,
            &items,
            Some(listed.rv),
            &listed.continue_,
            true,
            inc,
        )));
    }
    let mut meta = json!({"resourceVersion": listed.rv.to_string()});
    if !listed.continue_.is_empty() {
        meta["continue"] = json!(listed.continue_);
    }
    if let Some(r) = listed.remaining {
        meta["remainingItemCount"] = json!(r);
    }
    // Serialized from the stored objects themselves: no copy of 5,000 pods into one list value.
    let mut body = Vec::with_capacity(1024);
    let head = json!({"apiVersion": t.rt.api_version(&t.version), "kind": t.rt.list_kind(), "metadata": meta});
    let head = head.to_string();
    body.extend_from_slice(&head.as_bytes()[..head.len().saturating_sub(1)]);
    body.extend_from_slice(b",\"items\":[");
    for (i, o) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        let _ = serde_json::to_writer(&mut body, o.as_ref());
    }
    body.extend_from_slice(b"]}");
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json".to_string())],
        body,
    )
        .into_response())
}

fn invalid_list(field: &str, msg: &str) -> ApiError {
    ApiError::invalid(
        "ListOptions",
        "meta.k8s.io",
        "",
        &[(
            "FieldValueForbidden",
            field.into(),
            format!("Forbidden: {msg}"),
        )],
    )
}

fn decode(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let ct = header_str(headers, header::CONTENT_TYPE);
    let v: Result<Value, String> = if ct.contains("yaml") {
        serde_yaml::from_slice::<Value>(body).map_err(|e| e.to_string())
    } else {
        serde_json::from_slice::<Value>(body).map_err(|e| e.to_string())
    };
    v.map_err(|e| ApiError::bad_request(format!("error decoding request body: {e}")))
}

fn write_opts(
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    status: bool,
) -> Result<WriteOpts, ApiError> {
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid dryRun value: {other}: supported values: \"All\""
            )));
        }
    };
    let manager = match q.get("fieldManager").filter(|m| !m.is_empty()) {
        Some(m) => m.clone(),
        None => {
            let ua = header_str(headers, header::USER_AGENT);
            match ua.split('/').next().filter(|p| !p.is_empty()) {
                Some(p) => p.to_string(),
                None => "unknown".into(),
            }
        }
    };
    Ok(WriteOpts {
        manager,
        dry_run,
        status,
        force: truthy(q, "force"),
    })
}

fn ns_of(t: &Target) -> Result<&str, ApiError> {
    match (&t.ns, t.rt.namespaced) {
        (Some(ns), true) => Ok(ns),
        (None, false) => Ok(""),
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn created(v: &Value) -> Response {
    respond(StatusCode::CREATED, "application/json", v)
}

fn create(
    store: &Store,
    t: &Target,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    if t.name.is_some() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    let obj = decode(headers, body)?;
    let opts = write_opts(q, headers, false)?;
    let v = store.create(&t.rt.key(), ns_of(t)?, obj, &opts)?;
    Ok(created(&present(&t.rt, &t.version, &v)))
}

fn replace(
    store: &Store,
    t: &Target,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let name = t
        .name
        .as_deref()
        .ok_or_else(|| ApiError::method_not_allowed("PUT needs a name"))?;
    let obj = decode(headers, body)?;
    let body_name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let opts = write_opts(q, headers, t.status)?;
    let v = store.replace(&t.rt.key(), ns_of(t)?, name, obj, &opts)?;
    Ok(ok(&present(&t.rt, &t.version, &v)))
}

fn patch(
    store: &Store,
    t: &Target,
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let name = t
        .name
        .as_deref()
        .ok_or_else(|| ApiError::method_not_allowed("PATCH needs a name"))?;
    let ct = header_str(headers, header::CONTENT_TYPE);
    let media = ct.split(';').next().unwrap_or_default().trim();
    let doc = decode(headers, body)?;
    let p = match media {
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => Patch::Apply(doc),
        "application/merge-patch+json" => Patch::Merge(doc),
        "application/strategic-merge-patch+json" if !t.rt.custom => Patch::Strategic(doc),
        "application/json-patch+json" => Patch::Json(doc),
        _ => return Err(ApiError::unsupported_media(ct)),
    };
    let is_apply = matches!(p, Patch::Apply(_));
    if is_apply && q.get("fieldManager").is_none_or(String::is_empty) {
        return Err(ApiError::bad_request(
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
        ));
    }
    if !is_apply && truthy(q, "force") {
        return Err(ApiError::invalid(
            "PatchOptions",
            "meta.k8s.io",
            "",
            &[(
                "FieldValueForbidden",
                "force".into(),
                "Forbidden: may not be specified for non-apply patch".into(),
            )],
        ));
    }
    let ns = ns_of(t)?;
    let existed = store.get(&t.rt.key(), ns, name).is_ok();
    let opts = write_opts(q, headers, t.status)?;
    let v = store.patch(&t.rt.key(), ns, name, p, &opts)?;
    let v = present(&t.rt, &t.version, &v);
    Ok(if existed { ok(&v) } else { created(&v) })
}

fn delete(
    store: &Store,
    t: &Target,
    q: &BTreeMap<String, String>,
    body: &Bytes,
) -> Result<Response, ApiError> {
    let body: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?
    };
    let propagation = q
        .get("propagationPolicy")
        .cloned()
        .or_else(|| body["propagationPolicy"].as_str().map(str::to_string))
        .or_else(|| (body["orphanDependents"] == true).then(|| "Orphan".to_string()));
    if let Some(p) = &propagation
        && !matches!(p.as_str(), "Orphan" | "Background" | "Foreground")
    {
        return Err(ApiError::invalid(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            &[(
                "FieldValueNotSupported",
                "propagationPolicy".into(),
                format!(
                    "Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        ));
    }
    let dry_run = q.get("dryRun").map(String::as_str) == Some("All")
        || body["dryRun"]
            .as_array()
            .is_some_and(|a| a.iter().any(|d| d == "All"));
    let opts = DeleteOpts {
        propagation,
        dry_run,
        precondition_uid: body
            .pointer("/preconditions/uid")
            .and_then(Value::as_str)
            .map(str::to_string),
        precondition_rv: body
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    let key = t.rt.key();
    let ns = match (&t.ns, t.rt.namespaced) {
        (Some(ns), _) => ns.clone(),
        _ => String::new(),
    };
    let Some(name) = &t.name else {
        // deletecollection: every match, answered as a list of what was deleted.
        let sel = Selectors::parse(
            q.get("labelSelector").map(String::as_str),
            q.get("fieldSelector").map(String::as_str),
        )?;
        let listed = store.list(&key, t.ns.as_deref(), &sel, None, None)?;
        let mut items = vec![];
        for o in listed.items {
            let ons = o
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let oname = o
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match store.delete(&key, &ons, &oname, &opts)? {
                Deleted::Gone(v) | Deleted::Pending(v) => {
                    items.push(present(&t.rt, &t.version, &v))
                }
            }
        }
        return Ok(ok(
            &json!({"apiVersion": t.rt.api_version(&t.version), "kind": t.rt.list_kind(),
                             "metadata": {"resourceVersion": store.resource_version().to_string()}, "items": items}),
        ));
    };
    Ok(match store.delete(&key, &ns, name, &opts)? {
        Deleted::Pending(v) => ok(&present(&t.rt, &t.version, &v)),
        Deleted::Gone(v) => {
            let mut details = json!({"name": name, "kind": t.rt.plural, "uid": v.pointer("/metadata/uid").cloned().unwrap_or(Value::Null)});
            if !t.rt.group.is_empty() {
                details["group"] = json!(t.rt.group);
            }
            ok(
                &json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details": details}),
            )
        }
    })
}
