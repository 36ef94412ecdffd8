//! A Cloudflare API v4 simulator: HTTPS on 127.0.0.1 with its own CA, bearer API tokens with
//! permissions, the v4 envelope, zones, DNS records (with external-dns's ownership TXT
//! records), and Cloudflare Tunnels with connectors and remote configuration. The official
//! Python SDK and `backends::cloudflare` talk to it over the socket
//! (tests/cloudflare.rs). What it follows: docs/reference/cloudflare.md.
//!
//! It starts with one account, one zone, a connected tunnel routing `*.<zone>` to the
//! Gateway, and for each host a proxied CNAME to the tunnel with its owner TXT record, as
//! external-dns writes them. [`Fault`]s break one link each, for the doctor's tests.

pub mod cluster_link;
pub mod envelope;
pub mod routes;
pub mod state;

use crate::backends::cloudflare::{Permission, TxtRegistry, tunnel_token};
use crate::sim::server::SimServer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use tokio_util::sync::CancellationToken;
use zeroize::Zeroizing;

/// What the simulator starts with.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub account_name: String,
    pub zone: String,
    /// Hosts with a proxied CNAME to the tunnel and their owner TXT record.
    pub hosts: Vec<String>,
    pub tunnel_name: String,
    /// Where the tunnel's wildcard rule sends traffic (the Gateway's Service).
    pub gateway_service: String,
    /// How the seeded TXT records are named and whose they are.
    pub registry: TxtRegistry,
    /// The account, main API token and tunnel to use instead of random ones (the demo lab
    /// chooses them before its environment is set, so the doctor holds the simulator's).
    pub credentials: Option<Credentials>,
}

/// The simulator's identities chosen up front (see [`SimOptions::credentials`]).
#[derive(Clone)]
pub struct Credentials {
    pub account_id: String,
    /// The API token with every permission.
    pub api_token: String,
    pub tunnel_id: String,
    pub tunnel_secret: [u8; 32],
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account_id", &self.account_id)
            .field("api_token", &"(redacted)")
            .field("tunnel_id", &self.tunnel_id)
            .field("tunnel_secret", &"(redacted)")
            .finish()
    }
}

impl Credentials {
    /// New random identities of the shapes Cloudflare issues.
    pub fn random() -> Self {
        Self {
            account_id: state::hex_id(),
            api_token: state::token_value(),
            tunnel_id: state::uuid(),
            tunnel_secret: rand::random(),
        }
    }

    /// The tunnel token cloudflared would run with (`CLOUDFLARE_TUNNEL_TOKEN`).
    pub fn tunnel_token(&self) -> Zeroizing<String> {
        tunnel_token::encode(&self.account_id, &self.tunnel_id, &self.tunnel_secret)
    }
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            account_name: "homelab".into(),
            zone: "example.com".into(),
            hosts: vec!["echo.example.com".into()],
            tunnel_name: "homelab".into(),
            gateway_service: "https://homelab-gateway.envoy-gateway-system.svc.cluster.local:443"
                .into(),
            registry: TxtRegistry::default(),
            credentials: None,
        }
    }
}

/// A failure to inject: each breaks one link the reachability doctor checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Every cloudflared of every tunnel is gone: no connectors, status `down`.
    TunnelWithoutConnectors,
    /// The A/AAAA/CNAME records of this host are DNS-only (`proxied: false`).
    RecordNotProxied { host: String },
    /// The external-dns ownership TXT records of this host are gone.
    RecordWithoutOwner { host: String },
    /// The main token ([`CloudflareSim::token`]) loses this permission.
    TokenMissing(Permission),
    /// The next `n` requests answer 500.
    Unavailable(u32),
}

/// A running simulator; [`CloudflareSim::stop`] (or dropping the runtime) ends it.
pub struct CloudflareSim {
    server: SimServer,
    shared: Arc<routes::Shared>,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// An API token with every permission.
    pub token: String,
    pub account_id: String,
    pub zone_id: String,
    pub tunnel_id: String,
    /// The token cloudflared would run the tunnel with (base64 `{a, t, s}`).
    pub tunnel_token: Zeroizing<String>,
}

impl CloudflareSim {
    pub async fn start(opts: SimOptions) -> Result<Self, String> {
        let tls = crate::sim::kube::tls::generate_for(&[opts.listen.ip()])?;
        let mut st = state::State::new(&opts.account_name, opts.registry.clone());
        let mut token = st.add_token(&Permission::ALL);
        let zone_id = st.add_zone(&opts.zone);
        let mut tunnel_id = st.add_tunnel(&opts.tunnel_name, &opts.zone, &opts.gateway_service);
        if let Some(c) = &opts.credentials {
            st.account_id = c.account_id.clone();
            if let Some(t) = st.tokens.iter_mut().find(|t| t.value == token) {
                t.value = c.api_token.clone();
            }
            token = c.api_token.clone();
            if let Some(t) = st.tunnels.iter_mut().find(|t| t.id == tunnel_id) {
                t.id = c.tunnel_id.clone();
                t.secret = c.tunnel_secret;
            }
            tunnel_id = c.tunnel_id.clone();
        }
        for host in &opts.hosts {
            st.add_external_dns_host(&zone_id, host, &tunnel_id);
        }
        let account_id = st.account_id.clone();
        let secret = st.tunnel(&tunnel_id).map(|t| t.secret).unwrap_or_default();
        let tunnel_token = tunnel_token::encode(&account_id, &tunnel_id, &secret);
        let shared = Arc::new(routes::Shared {
            state: std::sync::Mutex::new(st),
            fail_next: Default::default(),
            log: Default::default(),
        });
        let server = SimServer::start_tls(
            opts.listen,
            routes::router(shared.clone()),
            CancellationToken::new(),
            tls.config,
        )
        .await
        .map_err(|e| format!("{}: {e}", opts.listen))?;
        Ok(Self {
            server,
            shared,
            ca_pem: tls.ca_pem,
            token,
            account_id,
            zone_id,
            tunnel_id,
            tunnel_token,
        })
    }

    /// The API base URL, `https://127.0.0.1:PORT/client/v4` (the SDK's `base_url`).
    pub fn url(&self) -> String {
        format!("{}/client/v4", self.server.url())
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// A new API token holding only `permissions`.
    pub fn add_token(&self, permissions: &[Permission]) -> String {
        self.shared.lock().add_token(permissions)
    }

    /// Read or change the state directly.
    pub fn with<R>(&self, f: impl FnOnce(&mut state::State) -> R) -> R {
        f(&mut self.shared.lock())
    }

    /// `METHOD /path?query` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.shared
            .log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn inject(&self, fault: Fault) {
        if let Fault::Unavailable(n) = fault {
            self.shared.fail_next.store(n, Ordering::SeqCst);
            return;
        }
        let mut st = self.shared.lock();
        match fault {
            Fault::TunnelWithoutConnectors => {
                st.connectors_down = true;
                let at = state::now();
                for t in &mut st.tunnels {
                    t.connectors.clear();
                    t.conns_inactive_at = Some(at.clone());
                }
            }
            Fault::RecordNotProxied { host } => {
                let host = host.to_ascii_lowercase();
                for r in st.records.iter_mut().filter(|r| r.name == host) {
                    r.proxied = false;
                }
            }
            Fault::RecordWithoutOwner { host } => {
                let names: Vec<String> = ["A", "AAAA", "CNAME"]
                    .iter()
                    .map(|t| st.registry.txt_name(&host, t))
                    .collect();
                st.records
                    .retain(|r| !(r.record_type == "TXT" && names.contains(&r.name)));
            }
            Fault::TokenMissing(p) => {
                let main = self.token.clone();
                if let Some(t) = st.tokens.iter_mut().find(|t| t.value == main) {
                    // Without Read there is no Edit either.
                    t.permissions.retain(|held| !held.covers(p));
                }
            }
            Fault::Unavailable(_) => {}
        }
    }

    /// Follow the kube simulator's cloudflared and external-dns (`cluster_link`) every
    /// `every` until `stop` fires.
    pub fn follow_cluster(
        &self,
        store: std::sync::Arc<crate::sim::kube::store::Store>,
        every: std::time::Duration,
        stop: CancellationToken,
    ) {
        cluster_link::spawn(self.shared.clone(), store, every, stop);
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}
