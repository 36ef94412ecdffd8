//! A Kubernetes API server on 127.0.0.1 (HTTPS, bearer token) that kubectl and kube-rs take for
//! a cluster: discovery (legacy, aggregated, the OpenAPI v3 index), every built-in resource of the
//! groups a k3s server serves plus CRDs registered at runtime, get/list/watch with selectors,
//! paging, bookmarks and 410, create/update/patch/server-side apply with managedFields and
//! conflicts, the status subresource, deletion with finalizers and propagation, Table output.
//! docs/reference/kubernetes.md says what is served and what is not.
//!
//! Files: `store` (objects, versions, history, the one write path; `store/delete.rs`),
//! `fields` and `apply` (field ownership, server-side apply), `patch` (merge and JSON patch),
//! `select` (selectors), `watch`, `table`, `crd`, `discovery`, `routes` (HTTP), `resources`
//! (built-in types), `errors` (Status), `objects` (Node shapes), `tls`, `portforward` (the
//! `pods/{name}/portforward` subresource: websocket channels, SPDY and SPDY over websocket;
//! what a pod's port answers) on `spdy` (SPDY/3.1 framing).
//!
//! `controllers` (workloads, scheduler, kubelet, Events, injected faults) drives objects through
//! [`KubeSim::store`]: [`store::Store::put`] writes whole objects, status included, and every
//! write reaches watchers as an event.

pub mod apply;
pub mod controllers;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod errors;
pub mod fields;
pub mod flux;
pub mod logs;
pub mod metrics;
pub mod objects;
pub mod patch;
pub mod portforward;
pub mod resources;
pub mod routes;
pub mod select;
pub mod spdy;
pub mod store;
pub mod summary;
pub mod table;
pub mod tls;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// How many watch events are kept per resource type for resuming watches (older: 410 Gone).
pub const HISTORY: usize = 256;

/// A running simulator. Dropping it stops the server.
pub struct KubeSim {
    store: Arc<store::Store>,
    ports: Arc<portforward::Ports>,
    pub addr: SocketAddr,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// The bearer token clients must send.
    pub token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    controllers: controllers::Controllers,
    _stop_controllers: tokio::sync::watch::Sender<bool>,
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Options of [`KubeSim::start`].
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    /// gitVersion served by /version.
    pub version: String,
    pub bookmark_every: Duration,
    /// Watch events kept per resource type.
    pub history: usize,
    /// Run the controller loop (`controllers/`) with these delays; None: objects stay as
    /// written.
    pub controllers: Option<controllers::Timing>,
    /// One generated pod log line per this interval (`logs.rs`).
    pub log_every: Duration,
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            version: "v1.33.5+k3s1".into(),
            bookmark_every: Duration::from_secs(60),
            history: HISTORY,
            controllers: None,
            log_every: Duration::from_secs(1),
        }
    }
}

impl KubeSim {
    pub async fn start(opts: SimOptions) -> Result<KubeSim, String> {
        let tls = tls::generate_for(&[opts.listen.ip()])?;
        let token = format!("homelab-sim-{:032x}", rand::random::<u128>());
        let store = Arc::new(store::Store::new(opts.history));
        let ports = Arc::new(portforward::Ports::default());
        let shared = Arc::new(routes::Shared {
            store: store.clone(),
            token: token.clone(),
            version: opts.version.clone(),
            bookmark_every: opts.bookmark_every,
            log_every: opts.log_every,
            ports: ports.clone(),
        });
        let tcp = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| format!("{}: {e}", opts.listen))?;
        let listener = tls::TlsListener::new(tcp, tls.config).map_err(|e| e.to_string())?;
        let addr = axum::serve::Listener::local_addr(&listener).map_err(|e| e.to_string())?;
        let app = routes::router(shared);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let ctl = controllers::Controllers::default();
        let (stop_ctl, ctl_stopped) = tokio::sync::watch::channel(false);
        if let Some(timing) = opts.controllers {
            ctl.spawn(store.clone(), timing, ctl_stopped);
        }
        Ok(KubeSim {
            controllers: ctl,
            _stop_controllers: stop_ctl,
            store,
            ports,
            addr,
            ca_pem: tls.ca_pem,
            token,
            shutdown: Some(stop),
        })
    }

    /// The object store: what a controller loop reads, writes and subscribes to.
    pub fn store(&self) -> &Arc<store::Store> {
        &self.store
    }

    /// Port-forwards to `port` of the pods `pod_or_selector` names in `namespace` (a pod name,
    /// or a label selector such as `app.kubernetes.io/name=loki`) connect to `addr`, a
    /// loopback address: how a test puts the Loki, Prometheus or Alertmanager simulator behind
    /// a Service. The newest attachment that matches wins. Without one, a port a container
    /// declares answers with a built-in HTTP responder naming the pod; any other port refuses.
    pub fn serve_port(
        &self,
        namespace: &str,
        pod_or_selector: &str,
        port: u16,
        addr: SocketAddr,
    ) -> Result<(), String> {
        let pods = portforward::PodMatch::parse(pod_or_selector)?;
        self.ports.attach(namespace, pods, port, addr)
    }

    /// Inject a failure into the controller loop (see [`controllers::Fault`]).
    pub fn inject(&self, fault: controllers::Fault) {
        self.controllers.inject(fault);
    }

    /// Install the Flux CRDs (`flux::crds`); the Flux controllers in the loop act from then on.
    pub fn install_flux(&self) -> Result<(), String> {
        flux::install(&self.store).map_err(|e| e.message)
    }

    /// Install the CRDs of chart `chart` (`gateway-helm`, `cert-manager`, ...) without Flux.
    pub fn install_chart_crds(&self, chart: &str) -> Result<(), String> {
        flux::install_chart_crds(&self.store, chart).map_err(|e| e.message)
    }

    /// Let GitRepositories with `spec.url == url` fetch the local repository at `path`.
    pub fn serve_git(&self, url: &str, path: &std::path::Path) {
        self.controllers.serve_git(url, path);
    }

    /// The cluster reaches the NFS export `server:/path` (Longhorn's backup target there
    /// becomes available).
    pub fn serve_nfs(&self, export: &str, writable: bool) {
        self.controllers.serve_nfs(export, writable);
    }

    /// `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// A kubeconfig the way k3s writes it (`default` names), pointing at `server`.
    pub fn kubeconfig(&self, server: &str) -> String {
        use base64::Engine as _;
        let ca = base64::engine::general_purpose::STANDARD.encode(&self.ca_pem);
        format!(
            "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: {ca}\n    server: {server}\n  name: default\n\
             contexts:\n- context:\n    cluster: default\n    user: default\n  name: default\n\
             current-context: default\nkind: Config\npreferences: {{}}\nusers:\n- name: default\n  user:\n    token: {}\n",
            self.token
        )
    }

    /// Add or replace a node (ADDED or MODIFIED event); a replaced node keeps its uid and age.
    pub fn upsert_node(&self, node: objects::NodeSpec) {
        let obj = objects::node(&node, self.store.resource_version() + 1);
        if let Err(e) = self.store.put(&resources::node_key(), obj, "k3s") {
            tracing::warn!("sim kube: node {}: {}", node.name, e.message);
        }
    }

    /// Flip a node's Ready condition. Unknown nodes are ignored (returns false).
    pub fn set_ready(&self, name: &str, ready: bool) -> bool {
        let key = resources::node_key();
        let Ok(mut obj) = self.store.get(&key, "", name) else {
            return false;
        };
        objects::set_ready(&mut obj, ready);
        self.store.put(&key, obj, "k3s").is_ok()
    }

    pub fn delete_node(&self, name: &str) {
        let _ = self.store.delete(
            &resources::node_key(),
            "",
            name,
            &store::DeleteOpts::default(),
        );
    }
}
