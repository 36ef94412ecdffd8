//! The Cloudflare API v4 client: token verification, zones, DNS records with external-dns's
//! TXT ownership records, and Cloudflare Tunnels (their connectors and ingress rules). The
//! ingress stage and the reachability doctor call it; `src/sim/cloudflare` answers it in tests.
//!
//! Every call names itself and the permission it needs, so an error says which call failed
//! and what to change ([`CfError`]). The wire facts are in docs/reference/cloudflare.md.
//!
//! ```no_run
//! # async fn demo() -> Result<(), homelab::backends::cloudflare::CfError> {
//! use homelab::backends::cloudflare::{CloudflareClient, TxtRegistry, API_BASE};
//! let cf = CloudflareClient::new(API_BASE, "token", None)?;
//! let zone = cf.zone_for_host("jellyfin.example.com").await?;
//! for r in cf.host_records(&zone, "jellyfin.example.com", &TxtRegistry::default()).await? {
//!     println!("{} {} proxied={} owner={:?}", r.record.record_type, r.record.content,
//!              r.record.proxied, r.owner.map(|o| o.owner));
//! }
//! # Ok(()) }
//! ```

pub mod error;
pub mod ingress;
pub mod tunnel_token;
pub mod txt_registry;
pub mod types;

pub use error::{ApiMessage, CfError, ErrorKind, Permission};
pub use tunnel_token::TunnelRef;
pub use txt_registry::{OwnerLabels, TxtRegistry};
pub use types::*;

use crate::backends::endpoint::{Auth, HttpEndpoint, Timeouts};
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Cloudflare's API base URL.
pub const API_BASE: &str = "https://api.cloudflare.com/client/v4";

/// Records per page we ask for (the API allows 5..=5000 for DNS records, 5..=50 for zones).
const DNS_PER_PAGE: u32 = 500;
const ZONE_PER_PAGE: u32 = 50;
/// Tries of a read that fails transiently.
const ATTEMPTS: u32 = 3;
/// At most this many pages of one listing: a bound, not a limit anyone should reach.
const MAX_PAGES: u32 = 200;

/// A client for one API token.
#[derive(Debug, Clone)]
pub struct CloudflareClient {
    http: HttpEndpoint,
}

/// One call, as errors name it.
struct Call {
    /// `list DNS records`.
    what: &'static str,
    method: Method,
    /// Relative to the base, without a leading slash: `zones/{id}/dns_records`.
    path: String,
    /// Query pairs (shown in errors too: they hold names, never secrets).
    query: Vec<(&'static str, String)>,
    needs: Option<Permission>,
    /// What the call is about, for hints: `zone example.com`.
    target: String,
}

impl Call {
    fn new(what: &'static str, method: Method, path: String, needs: Option<Permission>) -> Self {
        Self {
            what,
            method,
            path,
            query: vec![],
            needs,
            target: String::new(),
        }
    }

    fn on(mut self, target: String) -> Self {
        self.target = target;
        self
    }

    fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }

    fn describe(&self) -> String {
        let mut s = format!("{} ({} /{}", self.what, self.method, self.path);
        for (i, (k, v)) in self.query.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(&format!("{k}={v}"));
        }
        s.push(')');
        crate::domain::printable::sanitize(&s).into_owned()
    }
}

/// The v4 envelope.
#[derive(serde::Deserialize)]
struct Envelope<T> {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    result: Option<T>,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

#[derive(serde::Deserialize)]
struct ResultInfo {
    #[serde(default)]
    total_pages: Option<u32>,
}

#[derive(serde::Deserialize)]
struct ErrorsOnly {
    #[serde(default)]
    errors: Vec<ApiMessage>,
}

/// A DNS record of a host with its external-dns ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRecord {
    /// The A, AAAA or CNAME record.
    pub record: DnsRecord,
    /// Where external-dns keeps its ownership TXT record for it.
    pub txt_name: String,
    /// The labels of that TXT record; `None` when there is none written by external-dns.
    pub owner: Option<OwnerLabels>,
}

impl HostRecord {
    /// Whether external-dns with `--txt-owner-id=owner` considers the record its own.
    pub fn owned_by(&self, owner: &str) -> bool {
        self.owner.as_ref().is_some_and(|o| o.owner == owner)
    }
}

impl CloudflareClient {
    /// A client for `base` (normally [`API_BASE`]) sending `token` as a bearer token; `ca_file`
    /// adds a CA to the platform's trust store (the simulator's).
    pub fn new(base: &str, token: &str, ca_file: Option<&Path>) -> Result<Self, CfError> {
        let setup = |source| CfError::Transport {
            call: "client setup".into(),
            source,
        };
        let http = HttpEndpoint::new(
            "Cloudflare API",
            base,
            Auth::bearer(token),
            Timeouts::default(),
        )
        .and_then(|h| h.with_ca_file(ca_file))
        .map_err(setup)?;
        Ok(Self { http })
    }

    /// `GET /user/tokens/verify`: whether the token is valid and active. Account-owned tokens
    /// answer "Invalid API Token" here: use [`CloudflareClient::verify_account_token`] for them.
    pub async fn verify_token(&self) -> Result<TokenStatus, CfError> {
        let call = Call::new(
            "verify the API token",
            Method::GET,
            "user/tokens/verify".into(),
            None,
        )
        .on("this token".into());
        self.one(call).await
    }

    /// `GET /accounts/{account}/tokens/verify`, for account-owned tokens.
    pub async fn verify_account_token(&self, account_id: &str) -> Result<TokenStatus, CfError> {
        let call = Call::new(
            "verify the account API token",
            Method::GET,
            format!("accounts/{}/tokens/verify", seg(account_id)),
            None,
        )
        .on(format!("account {account_id}"));
        self.one(call).await
    }

    /// The zone called `name` (`GET /zones?name=`).
    pub async fn zone(&self, name: &str) -> Result<Zone, CfError> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let call = Call::new(
            "look up the zone",
            Method::GET,
            "zones".into(),
            Some(Permission::ZoneRead),
        )
        .query("name", name.clone())
        .on(format!("zone {name}"));
        let zones: Vec<Zone> = self.all(call, ZONE_PER_PAGE).await?;
        zones
            .into_iter()
            .find(|z| z.name.eq_ignore_ascii_case(&name))
            .ok_or(CfError::ZoneNotFound { name })
    }

    /// The zone a host belongs to: the host itself, then each parent domain, as cert-manager
    /// looks it up (docs/reference/cloudflare.md §2).
    pub async fn zone_for_host(&self, host: &str) -> Result<Zone, CfError> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut candidate = host.as_str();
        loop {
            match self.zone(candidate).await {
                Ok(z) => return Ok(z),
                Err(CfError::ZoneNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
            match candidate.split_once('.') {
                Some((_, rest)) if rest.contains('.') => candidate = rest,
                _ => return Err(CfError::ZoneNotFound { name: host }),
            }
        }
    }

    /// DNS records of `zone` matching `query`, every page.
    pub async fn dns_records(
        &self,
        zone: &Zone,
        query: &RecordQuery,
    ) -> Result<Vec<DnsRecord>, CfError> {
        let mut call = Call::new(
            "list DNS records",
            Method::GET,
            format!("zones/{}/dns_records", seg(&zone.id)),
            Some(Permission::DnsRead),
        )
        .on(format!("zone {}", zone.name));
        if let Some(t) = &query.record_type {
            call = call.query("type", t.clone());
        }
        if let Some(n) = &query.name {
            call = call.query("name", n.clone());
        }
        self.all(call, DNS_PER_PAGE).await
    }

    /// Create a record (`POST /zones/{zone}/dns_records`).
    pub async fn create_record(
        &self,
        zone: &Zone,
        record: &NewRecord,
    ) -> Result<DnsRecord, CfError> {
        let call = Call::new(
            "create a DNS record",
            Method::POST,
            format!("zones/{}/dns_records", seg(&zone.id)),
            Some(Permission::DnsEdit),
        )
        .on(format!("zone {}", zone.name));
        self.one_with(call, Some(record)).await
    }

    /// Overwrite record `id` (`PUT /zones/{zone}/dns_records/{id}`).
    pub async fn update_record(
        &self,
        zone: &Zone,
        id: &str,
        record: &NewRecord,
    ) -> Result<DnsRecord, CfError> {
        let call = Call::new(
            "update a DNS record",
            Method::PUT,
            format!("zones/{}/dns_records/{}", seg(&zone.id), seg(id)),
            Some(Permission::DnsEdit),
        )
        .on(format!("DNS record {id} in zone {}", zone.name));
        self.one_with(call, Some(record)).await
    }

    /// Delete record `id` (`DELETE /zones/{zone}/dns_records/{id}`).
    pub async fn delete_record(&self, zone: &Zone, id: &str) -> Result<(), CfError> {
        let call = Call::new(
            "delete a DNS record",
            Method::DELETE,
            format!("zones/{}/dns_records/{}", seg(&zone.id), seg(id)),
            Some(Permission::DnsEdit),
        )
        .on(format!("DNS record {id} in zone {}", zone.name));
        let _: serde_json::Value = self.one(call).await?;
        Ok(())
    }

    /// The A, AAAA and CNAME records of `host`, each with its external-dns ownership TXT
    /// record read under `registry`'s naming (docs/reference/cloudflare.md §5).
    pub async fn host_records(
        &self,
        zone: &Zone,
        host: &str,
        registry: &TxtRegistry,
    ) -> Result<Vec<HostRecord>, CfError> {
        let records = self.dns_records(zone, &RecordQuery::name(host)).await?;
        let mut out = vec![];
        for record in records
            .into_iter()
            .filter(|r| matches!(r.record_type.as_str(), "A" | "AAAA" | "CNAME"))
        {
            let txt_name = registry.txt_name(&record.name, &record.record_type);
            let txts = self
                .dns_records(zone, &RecordQuery::name(&txt_name).with_type("TXT"))
                .await?;
            let owner = txts
                .iter()
                .filter_map(|t| txt_registry::parse_owner(&t.content))
                .max_by_key(|l| l.owner == registry.owner);
            out.push(HostRecord {
                record,
                txt_name,
                owner,
            });
        }
        Ok(out)
    }

    /// The account's tunnels that are not deleted, optionally only those called `name`.
    pub async fn tunnels(
        &self,
        account_id: &str,
        name: Option<&str>,
    ) -> Result<Vec<Tunnel>, CfError> {
        let mut call = Call::new(
            "list tunnels",
            Method::GET,
            format!("accounts/{}/cfd_tunnel", seg(account_id)),
            Some(Permission::TunnelRead),
        )
        .query("is_deleted", "false")
        .on(format!("account {account_id}"));
        if let Some(n) = name {
            call = call.query("name", n);
        }
        self.all(call, ZONE_PER_PAGE).await
    }

    /// One tunnel (`GET /accounts/{a}/cfd_tunnel/{t}`).
    pub async fn tunnel(&self, t: &TunnelRef) -> Result<Tunnel, CfError> {
        let call = Call::new(
            "read the tunnel",
            Method::GET,
            format!(
                "accounts/{}/cfd_tunnel/{}",
                seg(&t.account_id),
                seg(&t.tunnel_id)
            ),
            Some(Permission::TunnelRead),
        )
        .on(tunnel_target(t));
        self.one(call).await
    }

    /// The tunnel's connectors (running cloudflared processes) with their connections; empty
    /// when no cloudflared is connected.
    pub async fn tunnel_connectors(&self, t: &TunnelRef) -> Result<Vec<Connector>, CfError> {
        let call = Call::new(
            "list the tunnel's connections",
            Method::GET,
            format!(
                "accounts/{}/cfd_tunnel/{}/connections",
                seg(&t.account_id),
                seg(&t.tunnel_id)
            ),
            Some(Permission::TunnelRead),
        )
        .on(tunnel_target(t));
        self.one(call).await
    }

    /// The remotely managed configuration (ingress rules) of the tunnel.
    pub async fn tunnel_config(&self, t: &TunnelRef) -> Result<TunnelConfig, CfError> {
        let call = Call::new(
            "read the tunnel's configuration",
            Method::GET,
            format!(
                "accounts/{}/cfd_tunnel/{}/configurations",
                seg(&t.account_id),
                seg(&t.tunnel_id)
            ),
            Some(Permission::TunnelRead),
        )
        .on(tunnel_target(t));
        self.one(call).await
    }

    /// Replace the tunnel's ingress rules (`PUT .../configurations`, body `{"config": ...}`).
    /// Rules cloudflared would refuse are refused here first, without a call.
    pub async fn put_tunnel_config(
        &self,
        t: &TunnelRef,
        config: &IngressConfig,
    ) -> Result<TunnelConfig, CfError> {
        let call = Call::new(
            "write the tunnel's configuration",
            Method::PUT,
            format!(
                "accounts/{}/cfd_tunnel/{}/configurations",
                seg(&t.account_id),
                seg(&t.tunnel_id)
            ),
            Some(Permission::TunnelEdit),
        )
        .on(tunnel_target(t));
        if let Err(reason) = ingress::validate(&config.ingress) {
            return Err(CfError::Api {
                call: call.describe(),
                status: 0,
                errors: vec![],
                kind: ErrorKind::Rejected,
                hint: format!("not sent: {reason}"),
            });
        }
        let body = serde_json::json!({ "config": config });
        self.one_with(call, Some(&body)).await
    }

    async fn one<T: DeserializeOwned>(&self, call: Call) -> Result<T, CfError> {
        self.one_with::<T, ()>(call, None).await
    }

    async fn one_with<T: DeserializeOwned, B: serde::Serialize>(
        &self,
        call: Call,
        body: Option<&B>,
    ) -> Result<T, CfError> {
        let env: Envelope<T> = self.send(&call, body, None).await?;
        env.result.ok_or_else(|| CfError::Decode {
            call: call.describe(),
            reason: "`result` is missing".into(),
        })
    }

    /// Every page of a listing: pages until one comes back short or empty, or `total_pages`
    /// is reached (the SDK stops only on an empty page; we stop earlier when we can).
    async fn all<T: DeserializeOwned>(&self, call: Call, per_page: u32) -> Result<Vec<T>, CfError> {
        let mut out = vec![];
        for page in 1..=MAX_PAGES {
            let env: Envelope<Vec<T>> = self
                .send::<_, ()>(&call, None, Some((page, per_page)))
                .await?;
            let items = env.result.unwrap_or_default();
            let n = items.len();
            out.extend(items);
            let total = env.result_info.and_then(|i| i.total_pages);
            if n == 0 || n < per_page as usize || total.is_some_and(|t| page >= t) {
                return Ok(out);
            }
        }
        Err(CfError::Decode {
            call: call.describe(),
            reason: format!("more than {MAX_PAGES} pages of {per_page}; narrow the query"),
        })
    }

    /// One request; reads (GET) are tried [`ATTEMPTS`] times while the failure is transient
    /// (unreachable, timeout, 429, 5xx). Writes are sent once: a POST that timed out may have
    /// created its record.
    async fn send<T: DeserializeOwned, B: serde::Serialize>(
        &self,
        call: &Call,
        body: Option<&B>,
        page: Option<(u32, u32)>,
    ) -> Result<Envelope<T>, CfError> {
        let mut backoff = crate::backends::backoff::Backoff::new(
            std::time::Duration::from_millis(200),
            std::time::Duration::from_secs(5),
        );
        let mut attempt = 1;
        loop {
            let result = self.send_once(call, body, page).await;
            let transient = match &result {
                Err(CfError::Transport { source, .. }) => source.is_transient(),
                Err(e) => matches!(
                    e.kind(),
                    Some(ErrorKind::Unavailable | ErrorKind::RateLimited)
                ),
                Ok(_) => false,
            };
            if !transient || call.method != Method::GET || attempt >= ATTEMPTS {
                return result;
            }
            attempt += 1;
            tokio::time::sleep(backoff.next_delay()).await;
        }
    }

    async fn send_once<T: DeserializeOwned, B: serde::Serialize>(
        &self,
        call: &Call,
        body: Option<&B>,
        page: Option<(u32, u32)>,
    ) -> Result<Envelope<T>, CfError> {
        let mut rb = self
            .http
            .request(call.method.clone(), &call.path)
            .header(reqwest::header::ACCEPT, "application/json")
            .query(&call.query);
        if let Some((page, per_page)) = page {
            rb = rb.query(&[("page", page), ("per_page", per_page)]);
        }
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let (status, _url, bytes) =
            self.http
                .send_any(rb)
                .await
                .map_err(|source| CfError::Transport {
                    call: call.describe(),
                    source,
                })?;
        let failed = |errors: Vec<ApiMessage>| {
            let kind = error::classify(status, &errors, call.needs);
            CfError::Api {
                call: call.describe(),
                status,
                errors,
                kind,
                hint: error::hint(kind, &call.target),
            }
        };
        if !(200..300).contains(&status) {
            let errors = serde_json::from_slice::<ErrorsOnly>(&bytes)
                .map(|e| e.errors)
                .unwrap_or_default();
            return Err(failed(errors));
        }
        let env: Envelope<T> = serde_json::from_slice(&bytes).map_err(|e| CfError::Decode {
            call: call.describe(),
            reason: crate::domain::printable::sanitize(&e.to_string()).into_owned(),
        })?;
        if !env.success {
            return Err(failed(env.errors));
        }
        Ok(env)
    }
}

fn tunnel_target(t: &TunnelRef) -> String {
    format!("tunnel {} on account {}", t.tunnel_id, t.account_id)
}

/// An identifier as one path segment (an id from a file cannot add path segments).
fn seg(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
