//! The objects the Cloudflare API returns, with the fields we use (docs/reference/cloudflare.md
//! §2 and §4). Unknown fields are ignored; missing optional ones take their defaults.

use serde::{Deserialize, Serialize};

/// `GET /user/tokens/verify`: the token's own status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenStatus {
    pub id: String,
    /// `active`, `disabled` or `expired`.
    pub status: String,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub expires_on: Option<String>,
}

impl TokenStatus {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AccountRef {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// A zone (a domain on the account).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Zone {
    pub id: String,
    pub name: String,
    /// `active`, `pending`, `initializing`, `moved`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub account: Option<AccountRef>,
    #[serde(default)]
    pub name_servers: Vec<String>,
}

/// A DNS record. `name` is the full name without a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DnsRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub record_type: String,
    pub name: String,
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub proxied: bool,
    #[serde(default)]
    pub proxiable: bool,
    /// Seconds; 1 means automatic (what proxied records use).
    #[serde(default = "auto_ttl")]
    pub ttl: u32,
    #[serde(default)]
    pub comment: Option<String>,
}

fn auto_ttl() -> u32 {
    1
}

/// The body of a create (`POST`) or overwrite (`PUT`) of a DNS record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewRecord {
    #[serde(rename = "type")]
    pub record_type: String,
    pub name: String,
    pub content: String,
    /// Only A, AAAA and CNAME records can be proxied; `None` leaves Cloudflare's default (off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxied: Option<bool>,
    /// 1 = automatic.
    pub ttl: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl NewRecord {
    /// A record with automatic TTL and no proxy setting.
    pub fn new(record_type: &str, name: &str, content: &str) -> Self {
        Self {
            record_type: record_type.into(),
            name: name.into(),
            content: content.into(),
            proxied: None,
            ttl: 1,
            comment: None,
        }
    }

    pub fn proxied(mut self, on: bool) -> Self {
        self.proxied = Some(on);
        self
    }
}

/// Filters of `GET /zones/{zone}/dns_records` (both optional; names match exactly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    pub name: Option<String>,
    pub record_type: Option<String>,
}

impl RecordQuery {
    pub fn name(name: &str) -> Self {
        Self {
            name: Some(name.trim_end_matches('.').to_ascii_lowercase()),
            record_type: None,
        }
    }

    pub fn with_type(mut self, record_type: &str) -> Self {
        self.record_type = Some(record_type.to_ascii_uppercase());
        self
    }
}

/// One connection between a cloudflared process and a Cloudflare data centre.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TunnelConnection {
    #[serde(default)]
    pub id: String,
    /// The connector (cloudflared process) it belongs to.
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub client_version: String,
    /// The data centre, e.g. `FRA`.
    #[serde(default)]
    pub colo_name: String,
    /// `true`: disconnected but still tracked for a few minutes; not serving.
    #[serde(default)]
    pub is_pending_reconnect: bool,
    #[serde(default)]
    pub opened_at: Option<String>,
    #[serde(default)]
    pub origin_ip: String,
}

/// A Cloudflare Tunnel (`cfd_tunnel`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Tunnel {
    pub id: String,
    pub name: String,
    /// `inactive` (never run), `healthy`, `degraded` or `down` (no connections).
    #[serde(default)]
    pub status: String,
    /// `local` (config file next to cloudflared) or `cloudflare` (remotely managed).
    #[serde(default)]
    pub config_src: Option<String>,
    #[serde(default)]
    pub remote_config: bool,
    #[serde(default)]
    pub deleted_at: Option<String>,
    #[serde(default)]
    pub conns_active_at: Option<String>,
    #[serde(default)]
    pub conns_inactive_at: Option<String>,
    #[serde(default)]
    pub connections: Vec<TunnelConnection>,
}

/// A connector: one running cloudflared and its connections
/// (`GET /accounts/{a}/cfd_tunnel/{t}/connections`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Connector {
    pub id: String,
    #[serde(default)]
    pub arch: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub config_version: Option<i64>,
    #[serde(default)]
    pub run_at: Option<String>,
    #[serde(default)]
    pub conns: Vec<TunnelConnection>,
}

impl Connector {
    /// Connections that serve traffic now (not pending a reconnect).
    pub fn serving(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| !c.is_pending_reconnect)
            .count()
    }
}

/// `GET /accounts/{a}/cfd_tunnel/{t}/configurations`: a remotely managed tunnel's settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct TunnelConfig {
    #[serde(default)]
    pub tunnel_id: String,
    #[serde(default)]
    pub version: i64,
    /// `cloudflare` for a remotely managed tunnel.
    #[serde(default)]
    pub source: Option<String>,
    /// `None` when the tunnel has no remote configuration.
    #[serde(default)]
    pub config: Option<IngressConfig>,
}

/// The `config` object: ingress rules, matched top-down, the last one catching everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IngressConfig {
    #[serde(default)]
    pub ingress: Vec<IngressRule>,
    /// Defaults for every rule, camelCase keys as cloudflared reads them.
    #[serde(
        rename = "originRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub origin_request: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IngressRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// A regular expression on the request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `https://host:port`, `http_status:404`, ...
    pub service: String,
    #[serde(
        rename = "originRequest",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub origin_request: Option<serde_json::Value>,
}
