//! A Kubernetes API server subset on 127.0.0.1 (HTTPS, bearer token): `/version`, health,
//! legacy discovery (`/api`, `/apis`, `/api/v1`), and core/v1 nodes list / get / watch with the
//! shapes in docs/reference/kubernetes.md: `?&` queries, NDJSON watch, BOOKMARKs, a 410 ERROR for
//! a too-old resourceVersion, metav1.Status bodies on every error. Tests and `homelab sim kube`
//! drive node readiness through [`KubeSim`]; kube-rs and kubectl are its clients.

pub mod objects;
pub mod tls;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

/// How many watch events are kept for resuming watches (older ones answer 410 Gone).
const HISTORY: usize = 256;

/// One watch event: resourceVersion, type, object.
#[derive(Debug, Clone)]
struct WatchEvent {
    rv: u64,
    kind: &'static str,
    object: Value,
}

struct Store {
    rv: u64,
    nodes: BTreeMap<String, Value>,
    history: VecDeque<WatchEvent>,
}

struct Shared {
    store: Mutex<Store>,
    events: broadcast::Sender<WatchEvent>,
    token: String,
    version: String,
    bookmark_every: Duration,
}

/// A running simulator. Dropping it stops the server.
pub struct KubeSim {
    shared: Arc<Shared>,
    pub addr: SocketAddr,
    /// PEM of the CA that signed the server certificate.
    pub ca_pem: String,
    /// The bearer token clients must send.
    pub token: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
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
}

impl Default for SimOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            version: "v1.33.5+k3s1".into(),
            bookmark_every: Duration::from_secs(60),
        }
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Store> {
    shared.store.lock().unwrap_or_else(|p| p.into_inner())
}

impl KubeSim {
    pub async fn start(opts: SimOptions) -> Result<KubeSim, String> {
        let tls = tls::generate_for(&[opts.listen.ip()])?;
        let token = format!("homelab-sim-{:032x}", rand::random::<u128>());
        let (events, _) = broadcast::channel(1024);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store {
                rv: 100,
                nodes: BTreeMap::new(),
                history: VecDeque::new(),
            }),
            events,
            token: token.clone(),
            version: opts.version.clone(),
            bookmark_every: opts.bookmark_every,
        });
        let tcp = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| format!("{}: {e}", opts.listen))?;
        let listener = tls::TlsListener::new(tcp, tls.config).map_err(|e| e.to_string())?;
        let addr = axum::serve::Listener::local_addr(&listener).map_err(|e| e.to_string())?;
        let app = router(shared.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(KubeSim {
            shared,
            addr,
            ca_pem: tls.ca_pem,
            token,
            shutdown: Some(stop),
        })
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

    /// Add or replace a node (ADDED or MODIFIED event).
    pub fn upsert_node(&self, node: objects::NodeSpec) {
        let mut s = lock(&self.shared);
        s.rv += 1;
        let rv = s.rv;
        let kind = if s.nodes.contains_key(&node.name) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let created = s
            .nodes
            .get(&node.name)
            .and_then(|n| n.pointer("/metadata/creationTimestamp").cloned());
        let mut obj = objects::node(&node, rv);
        if let Some(c) = created {
            obj["metadata"]["creationTimestamp"] = c;
        }
        s.nodes.insert(node.name.clone(), obj.clone());
        Self::record(&mut s, &self.shared, kind, obj);
    }

    /// Flip a node's Ready condition. Unknown nodes are ignored (returns false).
    pub fn set_ready(&self, name: &str, ready: bool) -> bool {
        let mut s = lock(&self.shared);
        let Some(mut obj) = s.nodes.get(name).cloned() else {
            return false;
        };
        s.rv += 1;
        let rv = s.rv;
        objects::set_ready(&mut obj, ready, rv);
        s.nodes.insert(name.to_string(), obj.clone());
        Self::record(&mut s, &self.shared, "MODIFIED", obj);
        true
    }

    pub fn delete_node(&self, name: &str) {
        let mut s = lock(&self.shared);
        if let Some(mut obj) = s.nodes.remove(name) {
            s.rv += 1;
            obj["metadata"]["resourceVersion"] = json!(s.rv.to_string());
            Self::record(&mut s, &self.shared, "DELETED", obj);
        }
    }

    fn record(s: &mut Store, shared: &Shared, kind: &'static str, object: Value) {
        let ev = WatchEvent {
            rv: s.rv,
            kind,
            object,
        };
        s.history.push_back(ev.clone());
        while s.history.len() > HISTORY {
            s.history.pop_front();
        }
        let _ = shared.events.send(ev);
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/readyz", get(health))
        .route("/livez", get(health))
        .route("/healthz", get(health))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/api/v1", get(core_resources))
        .route("/api/v1/nodes", get(list_or_watch_nodes))
        .route("/api/v1/nodes/{name}", get(get_node))
        .fallback(not_found)
        .with_state(shared)
}

fn json_response(code: StatusCode, body: Value) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `Err(401 Status)` unless the request carries the bearer token.
fn authorized(shared: &Shared, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let ok = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|t| t == shared.token);
    if ok {
        Ok(())
    } else {
        Err(Box::new(json_response(
            StatusCode::UNAUTHORIZED,
            objects::status(401, "Unauthorized", "Unauthorized", None),
        )))
    }
}

async fn version(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    json_response(StatusCode::OK, objects::version(&s.version))
}

async fn health() -> &'static str {
    "ok"
}

async fn api_versions(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    json_response(
        StatusCode::OK,
        json!({"kind":"APIVersions","versions":["v1"],
               "serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"127.0.0.1:6443"}]}),
    )
}

async fn api_groups(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    json_response(
        StatusCode::OK,
        json!({"kind":"APIGroupList","apiVersion":"v1","groups":[]}),
    )
}

async fn core_resources(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    json_response(StatusCode::OK, objects::core_v1_resources())
}

async fn not_found(uri: axum::http::Uri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        objects::status(
            404,
            "NotFound",
            &format!(
                "the server could not find the requested resource ({})",
                uri.path()
            ),
            None,
        ),
    )
}

async fn get_node(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    let node = lock(&s).nodes.get(&name).cloned();
    match node {
        Some(n) => json_response(StatusCode::OK, n),
        None => json_response(
            StatusCode::NOT_FOUND,
            objects::status(
                404,
                "NotFound",
                &format!("nodes \"{name}\" not found"),
                Some(json!({"name": name, "kind": "nodes"})),
            ),
        ),
    }
}

/// Query pairs; tolerates kube-rs' `?&a=b` and a trailing `?`.
fn query(raw: Option<String>) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn list_or_watch_nodes(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(r) = authorized(&s, &headers) {
        return *r;
    }
    let q = query(raw);
    let watching = matches!(q.get("watch").map(String::as_str), Some("true" | "1"));
    let wants_table = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("as=Table"));
    if !watching && wants_table {
        let st = lock(&s);
        let nodes: Vec<Value> = st.nodes.values().cloned().collect();
        return (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/json;as=Table;v=v1;g=meta.k8s.io",
            )],
            objects::node_table(&nodes, st.rv).to_string(),
        )
            .into_response();
    }
    if !watching {
        let st = lock(&s);
        return json_response(
            StatusCode::OK,
            json!({"apiVersion":"v1","kind":"NodeList",
                   "metadata":{"resourceVersion": st.rv.to_string(), "continue": ""},
                   "items": st.nodes.values().cloned().collect::<Vec<_>>()}),
        );
    }
    let timeout = q
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(290)
        .min(295);
    let bookmarks = q.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let since = q
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v != 0);
    watch(s, since, Duration::from_secs(timeout), bookmarks)
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut text = json!({"type": kind, "object": object}).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn watch(s: Arc<Shared>, since: Option<u64>, timeout: Duration, bookmarks: bool) -> Response {
    // Subscribe before reading the store so nothing falls between replay and live events.
    let mut live = s.events.subscribe();
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    let (replay, mut last_rv, gone) = {
        let st = lock(&s);
        match since {
            None => (
                st.nodes
                    .values()
                    .map(|n| line("ADDED", n))
                    .collect::<Vec<_>>(),
                st.rv,
                None,
            ),
            Some(rv) => {
                let oldest = st.history.front().map(|e| e.rv).unwrap_or(st.rv + 1);
                if rv + 1 < oldest && rv < st.rv {
                    (vec![], st.rv, Some((rv, st.rv)))
                } else {
                    let events: Vec<Bytes> = st
                        .history
                        .iter()
                        .filter(|e| e.rv > rv)
                        .map(|e| line(e.kind, &e.object))
                        .collect();
                    (events, st.rv.max(rv), None)
                }
            }
        }
    };
    let every = s.bookmark_every;
    tokio::spawn(async move {
        if let Some((asked, now)) = gone {
            let status = objects::status(
                410,
                "Expired",
                &format!("too old resource version: {asked} ({now})"),
                None,
            );
            let _ = tx.send(Ok(line("ERROR", &status))).await;
            return;
        }
        for l in replay {
            if tx.send(Ok(l)).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tick.tick(), if bookmarks => {
                    let bm = json!({"kind":"Node","apiVersion":"v1",
                                    "metadata":{"resourceVersion": last_rv.to_string()}});
                    if tx.send(Ok(line("BOOKMARK", &bm))).await.is_err() { return; }
                }
                ev = live.recv() => match ev {
                    Ok(ev) if ev.rv > last_rv => {
                        last_rv = ev.rv;
                        if tx.send(Ok(line(ev.kind, &ev.object))).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    // Lagged or closed: end the stream; the client re-watches from its last rv.
                    Err(_) => return,
                },
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
