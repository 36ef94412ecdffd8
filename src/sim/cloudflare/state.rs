//! What the Cloudflare simulator holds: API tokens with their permissions, one account, its
//! zones, DNS records and tunnels (with connectors and remote configuration). Plain data
//! changed under one lock by the routes and by [`super::Fault`]s.

use crate::backends::cloudflare::{Permission, TxtRegistry};
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub struct Token {
    pub id: String,
    pub value: String,
    pub permissions: BTreeSet<Permission>,
    /// `active`, `disabled` or `expired`.
    pub status: String,
}

impl Token {
    pub fn allows(&self, needed: Permission) -> bool {
        self.permissions.iter().any(|p| p.covers(needed))
    }
}

pub struct Zone {
    pub id: String,
    pub name: String,
    pub created_on: String,
}

#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub zone_id: String,
    pub record_type: String,
    pub name: String,
    pub content: String,
    pub proxied: bool,
    pub ttl: u64,
    pub comment: Option<String>,
    pub created_on: String,
    pub modified_on: String,
}

pub struct Conn {
    pub id: String,
    pub colo: String,
    pub opened_at: String,
    pub pending_reconnect: bool,
}

pub struct Connector {
    pub id: String,
    pub version: String,
    pub arch: String,
    pub run_at: String,
    pub origin_ip: String,
    pub conns: Vec<Conn>,
}

pub struct Tunnel {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub config_src: String,
    pub deleted_at: Option<String>,
    /// When it last gained or lost all connections (`conns_active_at`, `conns_inactive_at`).
    pub conns_active_at: Option<String>,
    pub conns_inactive_at: Option<String>,
    pub connectors: Vec<Connector>,
    pub config_version: i64,
    /// The `config` object of `/configurations` (ingress rules...), `None` before any PUT.
    pub config: Option<Value>,
    pub secret: [u8; 32],
}

impl Tunnel {
    /// `inactive` (never connected), `healthy`, `degraded` (some connections pending), or
    /// `down` (had connections, has none now).
    pub fn status(&self) -> &'static str {
        let serving = self
            .connectors
            .iter()
            .flat_map(|c| &c.conns)
            .filter(|c| !c.pending_reconnect)
            .count();
        let all = self.connectors.iter().map(|c| c.conns.len()).sum::<usize>();
        if serving == 0 && self.conns_active_at.is_none() {
            "inactive"
        } else if serving == 0 {
            "down"
        } else if serving < all {
            "degraded"
        } else {
            "healthy"
        }
    }
}

pub struct State {
    pub tokens: Vec<Token>,
    pub account_id: String,
    pub account_name: String,
    pub zones: Vec<Zone>,
    pub records: Vec<Record>,
    pub tunnels: Vec<Tunnel>,
    pub registry: TxtRegistry,
    /// Set by `Fault::TunnelWithoutConnectors`: no cloudflared connects (`cluster_link`).
    pub connectors_down: bool,
}

/// 32 lowercase hex digits (zone, record, token and account ids).
pub fn hex_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// A random version-4 UUID (tunnel, connector and connection ids).
pub fn uuid() -> String {
    let b = rand::random::<u128>().to_be_bytes();
    let h = hex::encode(b);
    let v = format!("4{}", &h[13..16]);
    let variant = ["8", "9", "a", "b"][usize::from(b[8] & 3)];
    format!(
        "{}-{}-{v}-{variant}{}-{}",
        &h[0..8],
        &h[8..12],
        &h[17..20],
        &h[20..32]
    )
}

/// Now in RFC 3339, UTC (`2024-01-01T00:00:00Z`).
pub fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// An API token value: 40 characters of [A-Za-z0-9_-], the shape Cloudflare issues.
pub fn token_value() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::thread_rng();
    (0..40)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Whether `value` has the shape of an API token (anything else is a "format" error).
pub fn token_shaped(value: &str) -> bool {
    value.len() == 40
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl State {
    pub fn new(account_name: &str, registry: TxtRegistry) -> Self {
        Self {
            tokens: vec![],
            account_id: hex_id(),
            account_name: account_name.into(),
            zones: vec![],
            records: vec![],
            tunnels: vec![],
            registry,
            connectors_down: false,
        }
    }

    pub fn add_token(&mut self, permissions: &[Permission]) -> String {
        let value = token_value();
        self.tokens.push(Token {
            id: hex_id(),
            value: value.clone(),
            permissions: permissions.iter().copied().collect(),
            status: "active".into(),
        });
        value
    }

    pub fn token(&self, value: &str) -> Option<&Token> {
        self.tokens.iter().find(|t| t.value == value)
    }

    pub fn add_zone(&mut self, name: &str) -> String {
        let id = hex_id();
        self.zones.push(Zone {
            id: id.clone(),
            name: name.to_ascii_lowercase(),
            created_on: now(),
        });
        id
    }

    pub fn zone(&self, id: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.id == id)
    }

    /// A connected tunnel: one connector with four connections over two data centres, and a
    /// remote configuration routing `*.<zone>` to `service`.
    pub fn add_tunnel(&mut self, name: &str, zone: &str, service: &str) -> String {
        let id = uuid();
        let at = now();
        let conns = ["FRA", "AMS", "FRA", "AMS"]
            .iter()
            .map(|colo| Conn {
                id: uuid(),
                colo: (*colo).into(),
                opened_at: at.clone(),
                pending_reconnect: false,
            })
            .collect();
        self.tunnels.push(Tunnel {
            id: id.clone(),
            name: name.into(),
            created_at: at.clone(),
            config_src: "cloudflare".into(),
            deleted_at: None,
            conns_active_at: Some(at.clone()),
            conns_inactive_at: None,
            connectors: vec![Connector {
                id: uuid(),
                version: "2024.8.3".into(),
                arch: "linux_amd64".into(),
                run_at: at,
                origin_ip: "203.0.113.10".into(),
                conns,
            }],
            config_version: 1,
            config: Some(json!({
                "ingress": [
                    {"hostname": format!("*.{zone}"), "service": service,
                     "originRequest": {"matchSNItoHost": true}},
                    {"service": "http_status:404"}
                ],
                "warp-routing": {"enabled": false}
            })),
            secret: rand::random(),
        });
        id
    }

    /// A proxied CNAME `name` -> `<tunnel>.cfargotunnel.com` (the record an operator makes
    /// once for a tunnel, such as `tunnel.example.com`, that routes' targets name).
    pub fn add_tunnel_cname(&mut self, zone_id: &str, name: &str, tunnel_id: &str) {
        let at = now();
        self.records.push(Record {
            id: hex_id(),
            zone_id: zone_id.into(),
            record_type: "CNAME".into(),
            name: name.to_ascii_lowercase(),
            content: format!("{tunnel_id}.cfargotunnel.com"),
            proxied: true,
            ttl: 1,
            comment: None,
            created_on: at.clone(),
            modified_on: at,
        });
    }

    pub fn tunnel(&self, id: &str) -> Option<&Tunnel> {
        self.tunnels.iter().find(|t| t.id == id)
    }

    /// What external-dns writes for `host` routed through `tunnel_id`: a proxied CNAME to
    /// `<tunnel>.cfargotunnel.com` and its ownership TXT record.
    pub fn add_external_dns_host(&mut self, zone_id: &str, host: &str, tunnel_id: &str) {
        let at = now();
        let first = host.split('.').next().unwrap_or(host);
        let base = Record {
            id: hex_id(),
            zone_id: zone_id.into(),
            record_type: "CNAME".into(),
            name: host.to_ascii_lowercase(),
            content: format!("{tunnel_id}.cfargotunnel.com"),
            proxied: true,
            ttl: 1,
            comment: None,
            created_on: at.clone(),
            modified_on: at,
        };
        let txt = Record {
            id: hex_id(),
            record_type: "TXT".into(),
            name: self.registry.txt_name(host, "CNAME"),
            content: self
                .registry
                .owner_content(&format!("httproute/default/{first}")),
            proxied: false,
            ..base.clone()
        };
        self.records.push(base);
        self.records.push(txt);
    }

    /// The JSON of a record as the API shows it.
    pub fn record_json(&self, r: &Record) -> Value {
        let proxiable = matches!(r.record_type.as_str(), "A" | "AAAA" | "CNAME");
        json!({
            "id": r.id,
            "name": r.name,
            "type": r.record_type,
            "content": r.content,
            "proxiable": proxiable,
            "proxied": r.proxied,
            "ttl": r.ttl,
            "settings": {},
            "meta": {},
            "comment": r.comment,
            "tags": [],
            "created_on": r.created_on,
            "modified_on": r.modified_on,
        })
    }

    pub fn zone_json(&self, z: &Zone) -> Value {
        json!({
            "id": z.id,
            "name": z.name,
            "status": "active",
            "paused": false,
            "type": "full",
            "development_mode": 0,
            "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
            "original_name_servers": null,
            "original_registrar": null,
            "original_dnshost": null,
            "created_on": z.created_on,
            "modified_on": z.created_on,
            "activated_on": z.created_on,
            "meta": {"step": 2, "custom_certificate_quota": 0, "page_rule_quota": 3,
                     "phishing_detected": false},
            "owner": {"id": null, "type": "user", "email": null},
            "account": {"id": self.account_id, "name": self.account_name},
            "tenant": {"id": null, "name": null},
            "tenant_unit": {"id": null},
            "permissions": ["#dns_records:edit", "#dns_records:read", "#zone:read"],
            "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website",
                     "price": 0, "currency": "USD", "frequency": "", "is_subscribed": false,
                     "can_subscribe": false, "legacy_id": "free", "legacy_discount": false,
                     "externally_managed": false},
        })
    }

    fn conn_json(conn: &Conn, c: &Connector) -> Value {
        json!({
            "id": conn.id,
            "uuid": conn.id,
            "client_id": c.id,
            "client_version": c.version,
            "colo_name": conn.colo,
            "is_pending_reconnect": conn.pending_reconnect,
            "opened_at": conn.opened_at,
            "origin_ip": c.origin_ip,
        })
    }

    pub fn tunnel_json(&self, t: &Tunnel) -> Value {
        let connections: Vec<Value> = t
            .connectors
            .iter()
            .flat_map(|c| c.conns.iter().map(move |conn| Self::conn_json(conn, c)))
            .collect();
        json!({
            "id": t.id,
            "account_tag": self.account_id,
            "name": t.name,
            "status": t.status(),
            "tun_type": "cfd_tunnel",
            "config_src": t.config_src,
            "remote_config": t.config_src == "cloudflare",
            "created_at": t.created_at,
            "deleted_at": t.deleted_at,
            "conns_active_at": t.conns_active_at,
            "conns_inactive_at": t.conns_inactive_at,
            "connections": connections,
            "metadata": {},
        })
    }

    pub fn connectors_json(&self, t: &Tunnel) -> Value {
        Value::Array(
            t.connectors
                .iter()
                .map(|c| {
                    json!({
                        "id": c.id,
                        "arch": c.arch,
                        "version": c.version,
                        "config_version": t.config_version,
                        "features": ["ha-origin", "management_logs", "postquantum"],
                        "run_at": c.run_at,
                        "conns": c.conns.iter().map(|conn| Self::conn_json(conn, c)).collect::<Vec<_>>(),
                    })
                })
                .collect(),
        )
    }

    pub fn config_json(&self, t: &Tunnel) -> Value {
        json!({
            "account_id": self.account_id,
            "tunnel_id": t.id,
            "version": t.config_version,
            "config": t.config,
            "source": t.config_src,
            "created_at": t.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_real_shapes() {
        let u = uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!("89ab".contains(&u[19..20]), "{u}");
        assert_eq!(hex_id().len(), 32);
        assert!(token_shaped(&token_value()));
        assert!(!token_shaped("short"));
        assert!(!token_shaped(&"a".repeat(39)));
        assert!(!token_shaped(&format!("{}!", "a".repeat(39))));
    }

    #[test]
    fn tunnel_status_follows_its_connections() {
        let mut st = State::new("homelab", TxtRegistry::default());
        let id = st.add_tunnel("homelab", "example.com", "https://gw:443");
        assert_eq!(st.tunnel(&id).unwrap().status(), "healthy");
        let t = st.tunnels.iter_mut().find(|t| t.id == id).unwrap();
        t.connectors[0].conns[0].pending_reconnect = true;
        assert_eq!(t.status(), "degraded");
        t.connectors.clear();
        assert_eq!(t.status(), "down");
        t.conns_active_at = None;
        assert_eq!(t.status(), "inactive");
    }
}
