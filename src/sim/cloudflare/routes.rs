//! The HTTP side of the Cloudflare simulator: authentication with token permissions, zones,
//! DNS records, tunnels. Paths sit under `/client/v4` like the real base URL; the facts they
//! follow are in docs/reference/cloudflare.md.

use super::envelope::{self, ApiError};
use super::state::{Record, State, Token, hex_id, now, token_shaped, uuid};
use crate::backends::cloudflare::{Permission, ingress};
use axum::Router;
use axum::extract::{Path, RawQuery, Request, State as Axum};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the handlers share.
pub struct Shared {
    pub state: Mutex<State>,
    /// Requests left to fail with 500 ([`super::Fault::Unavailable`]).
    pub fail_next: AtomicU32,
    /// `METHOD /path?query` of every request, oldest first (at most [`LOG_CAP`]).
    pub log: Mutex<Vec<String>>,
}

const LOG_CAP: usize = 10_000;

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Sh = Axum<Arc<Shared>>;
type Answer = Result<Response, ApiError>;

pub fn router(shared: Arc<Shared>) -> Router {
    let v4 = Router::new()
        .route("/user/tokens/verify", get(verify))
        .route("/accounts/{account}/tokens/verify", get(verify_account))
        .route("/zones", get(zones))
        .route("/zones/{zone}", get(zone))
        .route(
            "/zones/{zone}/dns_records",
            get(records).post(create_record),
        )
        .route(
            "/zones/{zone}/dns_records/{record}",
            get(record)
                .put(put_record)
                .patch(patch_record)
                .delete(delete_record),
        )
        .route(
            "/accounts/{account}/cfd_tunnel",
            get(tunnels).post(create_tunnel),
        )
        .route("/accounts/{account}/cfd_tunnel/{tunnel}", get(tunnel))
        .route(
            "/accounts/{account}/cfd_tunnel/{tunnel}/connections",
            get(connections),
        )
        .route(
            "/accounts/{account}/cfd_tunnel/{tunnel}/configurations",
            get(config).put(put_config),
        )
        .route(
            "/accounts/{account}/cfd_tunnel/{tunnel}/token",
            get(tunnel_token),
        );
    Router::new()
        .nest("/client/v4", v4)
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

/// Log every request and answer 500 while an injected outage lasts.
async fn observe(Axum(sh): Sh, req: Request, next: Next) -> Response {
    let line = match req.uri().query() {
        Some(q) => format!("{} {}?{q}", req.method(), req.uri().path()),
        None => format!("{} {}", req.method(), req.uri().path()),
    };
    {
        let mut log = sh.log.lock().unwrap_or_else(|e| e.into_inner());
        if log.len() < LOG_CAP {
            log.push(line);
        }
    }
    let failing = sh
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if failing {
        return ApiError::unavailable().into_response();
    }
    next.run(req).await
}

fn reply(a: Answer) -> Response {
    a.unwrap_or_else(IntoResponse::into_response)
}

/// The token the request carries, or the error Cloudflare gives without a usable one.
fn authenticate<'a>(st: &'a State, headers: &HeaderMap) -> Result<&'a Token, ApiError> {
    let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
        return Err(ApiError::missing_credentials());
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| token_shaped(t))
        .ok_or_else(ApiError::malformed_authorization)?;
    st.token(token)
        .filter(|t| t.status == "active")
        .ok_or_else(ApiError::invalid_token)
}

/// [`authenticate`], then the permission `needed` for `method`.
fn authorize(
    st: &State,
    headers: &HeaderMap,
    method: &Method,
    needed: Permission,
) -> Result<(), ApiError> {
    let token = authenticate(st, headers)?;
    if token.allows(needed) {
        Ok(())
    } else {
        Err(ApiError::not_permitted(
            method.as_str(),
            method != Method::GET,
        ))
    }
}

async fn no_route(Axum(sh): Sh, headers: HeaderMap, uri: axum::http::Uri) -> Response {
    let st = sh.lock();
    reply(authenticate(&st, &headers).and_then(|_| Err(ApiError::no_route(uri.path()))))
}

fn params(q: Option<String>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(ps: &'a [(String, String)], key: &str) -> Option<&'a str> {
    ps.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A numeric parameter (the SDK may send `2.0`), clamped to `min..=max`.
fn number(ps: &[(String, String)], key: &str, default: u64, min: u64, max: u64) -> u64 {
    param(ps, key)
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .map(|v| (v as u64).clamp(min, max))
        .unwrap_or(default)
}

fn page_of<T>(
    items: Vec<T>,
    ps: &[(String, String)],
    per_page: (u64, u64, u64),
    to_json: impl Fn(T) -> Value,
) -> Response {
    let (default, min, max) = per_page;
    envelope::page(
        items,
        number(ps, "page", 1, 1, u64::from(u32::MAX)),
        number(ps, "per_page", default, min, max),
        to_json,
    )
}

async fn verify(Axum(sh): Sh, headers: HeaderMap) -> Response {
    let st = sh.lock();
    reply(verified(&st, &headers))
}

async fn verify_account(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path(account): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    if account != st.account_id {
        return reply(
            authenticate(&st, &headers).and_then(|_| Err(ApiError::no_route(uri.path()))),
        );
    }
    reply(verified(&st, &headers))
}

fn verified(st: &State, headers: &HeaderMap) -> Answer {
    let token = match authenticate(st, headers) {
        Ok(t) => t,
        Err(e) if e.status == StatusCode::FORBIDDEN => return Err(ApiError::verify_invalid()),
        Err(e) => return Err(e),
    };
    Ok(envelope::ok_with(
        json!({"id": token.id, "status": token.status}),
        vec![json!({"code": 10000, "message": "This API Token is valid and active", "type": null})],
    ))
}

async fn zones(Axum(sh): Sh, headers: HeaderMap, RawQuery(q): RawQuery) -> Response {
    let st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::GET, Permission::ZoneRead)?;
        let ps = params(q);
        let name = param(&ps, "name").map(str::to_ascii_lowercase);
        let items = st
            .zones
            .iter()
            .filter(|z| name.as_deref().is_none_or(|n| z.name == n))
            .filter(|_| param(&ps, "status").is_none_or(|s| s == "active"))
            .collect();
        Ok(page_of(items, &ps, (20, 5, 50), |z| st.zone_json(z)))
    })())
}

async fn zone(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path(zone): Path<String>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::GET, Permission::ZoneRead)?;
        let z = st
            .zone(&zone)
            .ok_or_else(|| ApiError::no_route(uri.path()))?;
        Ok(envelope::ok(st.zone_json(z)))
    })())
}

/// The record filters of a listing, read once.
struct RecordFilter<'a> {
    exact: Option<String>,
    contains: Option<String>,
    starts: Option<String>,
    ends: Option<String>,
    record_type: Option<&'a str>,
    content: Option<&'a str>,
    proxied: Option<bool>,
}

impl<'a> RecordFilter<'a> {
    fn new(ps: &'a [(String, String)]) -> Self {
        let lower = |k: &str| param(ps, k).map(str::to_ascii_lowercase);
        Self {
            exact: lower("name")
                .or(lower("name.exact"))
                .map(|n| n.trim_end_matches('.').to_string()),
            contains: lower("name.contains"),
            starts: lower("name.startswith"),
            ends: lower("name.endswith"),
            record_type: param(ps, "type"),
            content: param(ps, "content").or(param(ps, "content.exact")),
            proxied: param(ps, "proxied").map(|p| p == "true"),
        }
    }

    fn matches(&self, r: &Record) -> bool {
        let name = &r.name;
        self.exact.as_ref().is_none_or(|n| name == n)
            && self
                .contains
                .as_ref()
                .is_none_or(|n| name.contains(n.as_str()))
            && self
                .starts
                .as_ref()
                .is_none_or(|n| name.starts_with(n.as_str()))
            && self
                .ends
                .as_ref()
                .is_none_or(|n| name.ends_with(n.as_str()))
            && self
                .record_type
                .is_none_or(|t| r.record_type.eq_ignore_ascii_case(t))
            && self.content.is_none_or(|c| r.content == c)
            && self.proxied.is_none_or(|p| p == r.proxied)
    }
}

async fn records(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path(zone): Path<String>,
    RawQuery(q): RawQuery,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::GET, Permission::DnsRead)?;
        st.zone(&zone)
            .ok_or_else(|| ApiError::no_route(uri.path()))?;
        let ps = params(q);
        let filter = RecordFilter::new(&ps);
        let items = st
            .records
            .iter()
            .filter(|r| r.zone_id == zone && filter.matches(r))
            .collect();
        Ok(page_of(items, &ps, (100, 5, 5000), |r| st.record_json(r)))
    })())
}

async fn record(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((zone, id)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::GET, Permission::DnsRead)?;
        let r = find_record(&st, &zone, &id, uri.path())?;
        Ok(envelope::ok(st.record_json(&st.records[r])))
    })())
}

/// The index of record `id` of `zone`: 7003 for an unknown zone or a malformed id, 81044 for
/// a well-formed id that does not exist.
fn find_record(st: &State, zone: &str, id: &str, path: &str) -> Result<usize, ApiError> {
    st.zone(zone).ok_or_else(|| ApiError::no_route(path))?;
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::no_route(path));
    }
    st.records
        .iter()
        .position(|r| r.zone_id == zone && r.id == id)
        .ok_or_else(ApiError::record_missing)
}

const TYPES: &[&str] = &[
    "A",
    "AAAA",
    "CAA",
    "CERT",
    "CNAME",
    "DNSKEY",
    "DS",
    "HTTPS",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "OPENPGPKEY",
    "PTR",
    "SMIMEA",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
];

/// A record from a request body, checked the way the API checks it; `base` holds the current
/// values for a PATCH.
fn record_from(
    st: &State,
    zone: &str,
    body: &Value,
    base: Option<&Record>,
) -> Result<Record, ApiError> {
    let Some(obj) = body.as_object() else {
        return Err(ApiError::invalid_body("expected a JSON object"));
    };
    let text = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    let zone_name = st.zone(zone).map(|z| z.name.clone()).unwrap_or_default();
    let record_type = text("type")
        .or_else(|| base.map(|b| b.record_type.clone()))
        .ok_or_else(|| ApiError::invalid_body("`type` is required"))?
        .to_ascii_uppercase();
    if !TYPES.contains(&record_type.as_str()) {
        return Err(ApiError::invalid_body(&format!(
            "unknown record type {record_type}"
        )));
    }
    let name = text("name")
        .map(|n| full_name(&n, &zone_name))
        .or_else(|| base.map(|b| b.name.clone()))
        .ok_or_else(|| ApiError::invalid_body("`name` is required"))?;
    let content = text("content")
        .or_else(|| base.map(|b| b.content.clone()))
        .ok_or_else(|| ApiError::invalid_body("`content` is required"))?;
    let ok = match record_type.as_str() {
        "A" => content.parse::<std::net::Ipv4Addr>().is_ok(),
        "AAAA" => content.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => !content.is_empty(),
    };
    if !ok {
        return Err(ApiError::invalid_body(&format!(
            "content `{content}` is not valid for a {record_type} record"
        )));
    }
    let proxied = match obj.get("proxied") {
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) | None => base.is_some_and(|b| b.proxied),
        Some(_) => return Err(ApiError::invalid_body("`proxied` must be a boolean")),
    };
    if proxied && !matches!(record_type.as_str(), "A" | "AAAA" | "CNAME") {
        return Err(ApiError::not_proxiable(&record_type));
    }
    let ttl = match obj.get("ttl") {
        Some(v) => v
            .as_u64()
            .filter(|t| *t == 1 || (30..=86400).contains(t))
            .ok_or_else(|| ApiError::invalid_body("`ttl` must be 1 (automatic) or 30..86400"))?,
        None => base.map_or(1, |b| b.ttl),
    };
    let at = now();
    Ok(Record {
        id: base.map_or_else(hex_id, |b| b.id.clone()),
        zone_id: zone.into(),
        record_type,
        name,
        content,
        proxied,
        ttl: if proxied { 1 } else { ttl },
        comment: match obj.get("comment") {
            Some(Value::String(c)) => Some(c.clone()),
            Some(_) => None,
            None => base.and_then(|b| b.comment.clone()),
        },
        created_on: base.map_or_else(|| at.clone(), |b| b.created_on.clone()),
        modified_on: at,
    })
}

/// `app`, `app.example.com.` or `@` as the full lowercase name in `zone`.
fn full_name(name: &str, zone: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    if n == "@" || n.is_empty() {
        zone.to_string()
    } else if n == zone || n.ends_with(&format!(".{zone}")) {
        n
    } else {
        format!("{n}.{zone}")
    }
}

/// 81057 for an identical record, 81053 when a CNAME would share its name with an address
/// record or another CNAME.
fn conflicts(st: &State, new: &Record) -> Result<(), ApiError> {
    let others = st
        .records
        .iter()
        .filter(|r| r.zone_id == new.zone_id && r.id != new.id && r.name == new.name);
    for r in others {
        if r.record_type == new.record_type && r.content == new.content {
            return Err(ApiError::record_exists());
        }
        let address = |t: &str| matches!(t, "A" | "AAAA" | "CNAME");
        if (r.record_type == "CNAME" || new.record_type == "CNAME")
            && address(&r.record_type)
            && address(&new.record_type)
        {
            return Err(ApiError::cname_conflict());
        }
    }
    Ok(())
}

fn json_body(body: &axum::body::Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::invalid_body(&e.to_string()))
}

async fn create_record(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path(zone): Path<String>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let mut st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::POST, Permission::DnsEdit)?;
        st.zone(&zone)
            .ok_or_else(|| ApiError::no_route(uri.path()))?;
        let r = record_from(&st, &zone, &json_body(&body)?, None)?;
        conflicts(&st, &r)?;
        let out = st.record_json(&r);
        st.records.push(r);
        Ok(envelope::ok(out))
    })())
}

async fn put_record(
    sh: Sh,
    headers: HeaderMap,
    ids: Path<(String, String)>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    change_record(sh, headers, ids, uri, body, Method::PUT)
}

async fn patch_record(
    sh: Sh,
    headers: HeaderMap,
    ids: Path<(String, String)>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    change_record(sh, headers, ids, uri, body, Method::PATCH)
}

fn change_record(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((zone, id)): Path<(String, String)>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
    method: Method,
) -> Response {
    let mut st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &method, Permission::DnsEdit)?;
        let i = find_record(&st, &zone, &id, uri.path())?;
        let current = st.records[i].clone();
        let body = json_body(&body)?;
        let base = Record {
            // PUT replaces: only the identity survives.
            comment: if method == Method::PUT {
                None
            } else {
                current.comment.clone()
            },
            ..current.clone()
        };
        let r = if method == Method::PUT {
            let mut r = record_from(&st, &zone, &body, None)?;
            r.id = current.id.clone();
            r.created_on = current.created_on.clone();
            r
        } else {
            record_from(&st, &zone, &body, Some(&base))?
        };
        conflicts(&st, &r)?;
        let out = st.record_json(&r);
        st.records[i] = r;
        Ok(envelope::ok(out))
    })())
}

async fn delete_record(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((zone, id)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let mut st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::DELETE, Permission::DnsEdit)?;
        let i = find_record(&st, &zone, &id, uri.path())?;
        st.records.remove(i);
        Ok(envelope::ok(json!({"id": id})))
    })())
}

/// The account in the path must be the simulator's.
fn account_ok(st: &State, account: &str, path: &str) -> Result<(), ApiError> {
    if account == st.account_id {
        Ok(())
    } else {
        Err(ApiError::no_route(path))
    }
}

async fn tunnels(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path(account): Path<String>,
    RawQuery(q): RawQuery,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::GET, Permission::TunnelRead)?;
        account_ok(&st, &account, uri.path())?;
        let ps = params(q);
        let items = st
            .tunnels
            .iter()
            .filter(|t| match param(&ps, "is_deleted") {
                Some("true") => t.deleted_at.is_some(),
                Some("false") => t.deleted_at.is_none(),
                _ => true,
            })
            .filter(|t| param(&ps, "name").is_none_or(|n| t.name == n))
            .filter(|t| param(&ps, "uuid").is_none_or(|u| t.id == u))
            .collect();
        Ok(page_of(items, &ps, (20, 1, 1000), |t| st.tunnel_json(t)))
    })())
}

async fn create_tunnel(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path(account): Path<String>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let mut st = sh.lock();
    reply((|| {
        authorize(&st, &headers, &Method::POST, Permission::TunnelEdit)?;
        account_ok(&st, &account, uri.path())?;
        let body = json_body(&body)?;
        let name = body
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ApiError::invalid_body("`name` is required"))?
            .to_string();
        let config_src = match body.get("config_src").and_then(Value::as_str) {
            None | Some("local") => "local",
            Some("cloudflare") => "cloudflare",
            Some(other) => {
                return Err(ApiError::invalid_body(&format!(
                    "config_src `{other}` is not local or cloudflare"
                )));
            }
        };
        let id = uuid();
        st.tunnels.push(super::state::Tunnel {
            id: id.clone(),
            name,
            created_at: now(),
            config_src: config_src.into(),
            deleted_at: None,
            conns_active_at: None,
            conns_inactive_at: None,
            connectors: vec![],
            config_version: 0,
            config: None,
            secret: rand::random(),
        });
        let t = st.tunnel(&id).ok_or_else(ApiError::tunnel_missing)?;
        Ok(envelope::ok(st.tunnel_json(t)))
    })())
}

/// The tunnel of a `/accounts/{a}/cfd_tunnel/{t}...` path, after the permission check.
fn with_tunnel<R>(
    st: &State,
    headers: &HeaderMap,
    method: &Method,
    (account, tunnel): (&str, &str),
    path: &str,
    f: impl FnOnce(&super::state::Tunnel) -> R,
) -> Result<R, ApiError> {
    let needed = if method == Method::GET {
        Permission::TunnelRead
    } else {
        Permission::TunnelEdit
    };
    authorize(st, headers, method, needed)?;
    account_ok(st, account, path)?;
    st.tunnel(tunnel)
        .map(f)
        .ok_or_else(ApiError::tunnel_missing)
}

async fn tunnel(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((a, t)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply(with_tunnel(
        &st,
        &headers,
        &Method::GET,
        (&a, &t),
        uri.path(),
        |t| envelope::ok(st.tunnel_json(t)),
    ))
}

async fn connections(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((a, t)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply(with_tunnel(
        &st,
        &headers,
        &Method::GET,
        (&a, &t),
        uri.path(),
        |t| envelope::ok(st.connectors_json(t)),
    ))
}

async fn config(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((a, t)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply(with_tunnel(
        &st,
        &headers,
        &Method::GET,
        (&a, &t),
        uri.path(),
        |t| envelope::ok(st.config_json(t)),
    ))
}

async fn tunnel_token(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((a, t)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let st = sh.lock();
    reply(with_tunnel(
        &st,
        &headers,
        &Method::GET,
        (&a, &t),
        uri.path(),
        |t| {
            let token =
                crate::backends::cloudflare::tunnel_token::encode(&st.account_id, &t.id, &t.secret);
            envelope::ok(Value::String(token.to_string()))
        },
    ))
}

async fn put_config(
    Axum(sh): Sh,
    headers: HeaderMap,
    Path((a, t)): Path<(String, String)>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    let mut st = sh.lock();
    reply((|| {
        with_tunnel(&st, &headers, &Method::PUT, (&a, &t), uri.path(), |_| ())?;
        let body = json_body(&body)?;
        let config = body
            .get("config")
            .filter(|c| c.is_object())
            .ok_or_else(|| ApiError::invalid_body("`config` must be an object"))?
            .clone();
        let rules: Vec<crate::backends::cloudflare::IngressRule> = serde_json::from_value(
            config
                .get("ingress")
                .cloned()
                .unwrap_or(Value::Array(vec![])),
        )
        .map_err(|e| ApiError::invalid_body(&format!("ingress: {e}")))?;
        ingress::validate(&rules).map_err(|e| ApiError::invalid_config(&e))?;
        let tunnel = st
            .tunnels
            .iter_mut()
            .find(|x| x.id == t)
            .ok_or_else(ApiError::tunnel_missing)?;
        tunnel.config = Some(config);
        tunnel.config_version = tunnel.config_version.saturating_add(1);
        tunnel.config_src = "cloudflare".into();
        let st = &*st;
        let tunnel = st.tunnel(&t).ok_or_else(ApiError::tunnel_missing)?;
        Ok(envelope::ok(st.config_json(tunnel)))
    })())
}
