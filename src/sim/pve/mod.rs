//! A Proxmox VE API simulator on 127.0.0.1: HTTPS with a generated self-signed certificate (plain
//! HTTP only on request), the endpoints the proxmox stage uses with PVE's JSON shapes and reason
//! phrases (docs/reference/pve.md), token and ticket auth with CSRF on writes, privilege-separated
//! tokens with ACLs, async tasks with real-format UPIDs and task logs, guest agent interfaces once
//! a VM has "booted", and fault injection (5xx, slow answers, dropped connections, failing tasks,
//! 403s by revoking a privilege).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = homelab::sim::pve::PveSim::start(homelab::sim::pve::SimOptions::default()).await?;
//! println!("{} token {}={}", sim.url, sim.token_id, sim.token_secret);
//! # Ok(()) }
//! ```

pub mod api;
pub mod state;

use api::{ApiErr, Req};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
pub use state::{BOOTSTRAP_PRIVILEGES, Fault, FaultRule, Seen, SimImage, State, Timing, Token};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

type Shared = Arc<Mutex<State>>;

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub plain_http: bool,
    pub nodes: Vec<String>,
    pub timing: Timing,
    pub images: Vec<SimImage>,
    /// Booted VMs with a loopback static IP accept TCP on this port (SSH banner).
    pub ssh_port: Option<u16>,
    /// `8.4` by default; `8.3` makes `download-url content=import` fail as it does there.
    pub release: String,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            plain_http: false,
            nodes: vec!["pve".into()],
            timing: Timing::default(),
            images: vec![SimImage {
                url: "https://cloud-images.ubuntu.com/releases/noble/release-20251113/ubuntu-24.04-server-cloudimg-amd64.img".into(),
                size: 629_407_744,
                sha256: "1b7b2b6a2b1ef5a3d1f63d3b7c0ad5a1a3c5f3e0e1c9d9ea0b8f3b5f1a2c4d6e".into(),
            }],
            ssh_port: None,
            release: "8.4".into(),
        }
    }
}

/// Node names for `--nodes N`: `pve` for one, `pve1..pveN` for more.
pub fn node_names(n: u32) -> Vec<String> {
    if n <= 1 {
        vec!["pve".into()]
    } else {
        (1..=n).map(|i| format!("pve{i}")).collect()
    }
}

/// A running simulator. Dropping it (or [`PveSim::shutdown`]) stops the server.
pub struct PveSim {
    /// `https://127.0.0.1:PORT` (the API lives under `/api2/json`).
    pub url: String,
    pub addr: SocketAddr,
    /// A privilege-separated token with the bootstrap privileges on `/`.
    pub token_id: String,
    pub token_secret: String,
    /// `homelab@pve` password for ticket auth.
    pub password: String,
    /// SHA-256 of the served certificate (`None` over plain HTTP).
    pub fingerprint: Option<String>,
    pub state: Shared,
    stop: CancellationToken,
}

impl Drop for PveSim {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn random_hex(n: usize) -> String {
    use rand::RngCore;
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

fn uuid_like() -> String {
    let h = random_hex(16);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl PveSim {
    pub async fn start(opts: SimOptions) -> std::io::Result<PveSim> {
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let (acceptor, fingerprint) = if opts.plain_http {
            (None, None)
        } else {
            let (a, fp) = tls_acceptor(&addr)?;
            (Some(a), Some(fp))
        };
        let mut st = State::new(&opts.nodes, opts.timing.clone());
        st.release = opts.release.clone();
        st.version = format!("{}.1", opts.release);
        st.images = opts.images.clone();
        st.fingerprint = fingerprint.clone();
        st.ssh_port = opts.ssh_port;
        let password = random_hex(12);
        let token_secret = uuid_like();
        let token_id = "homelab@pve!bootstrap".to_owned();
        st.access
            .users
            .insert("homelab@pve".into(), password.clone());
        st.access.users.insert("root@pam".into(), random_hex(12));
        st.access.tokens.insert(
            token_id.clone(),
            Token {
                secret: token_secret.clone(),
                privsep: true,
            },
        );
        st.access.grant("homelab@pve", "/", BOOTSTRAP_PRIVILEGES);
        st.access.grant(&token_id, "/", BOOTSTRAP_PRIVILEGES);
        let state: Shared = Arc::new(Mutex::new(st));
        let stop = CancellationToken::new();
        let scheme = if acceptor.is_some() { "https" } else { "http" };
        tokio::spawn(accept_loop(listener, acceptor, state.clone(), stop.clone()));
        Ok(PveSim {
            url: format!("{scheme}://{addr}"),
            addr,
            token_id,
            token_secret,
            password,
            fingerprint,
            state,
            stop,
        })
    }

    pub fn shutdown(self) {
        self.stop.cancel();
    }

    /// Run `f` on the simulated cluster (inspect it, or change it: drift, ACLs, faults).
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.tick();
        f(&mut st)
    }

    /// Writes (POST/PUT/DELETE other than logins) the simulator has answered.
    pub fn writes(&self) -> usize {
        self.with(|s| s.writes())
    }

    pub fn inject(&self, rule: FaultRule) {
        self.with(|s| s.faults.push(rule));
    }

    /// Add another token with its own privileges on `/` (privilege-separated).
    pub fn add_token(&self, id: &str, privs: &[&str]) -> String {
        let secret = uuid_like();
        self.with(|s| {
            s.access.tokens.insert(
                id.to_owned(),
                Token {
                    secret: secret.clone(),
                    privsep: true,
                },
            );
            s.access.grant(id, "/", privs);
        });
        secret
    }
}

fn tls_acceptor(addr: &SocketAddr) -> std::io::Result<(tokio_rustls::TlsAcceptor, String)> {
    let names = vec![
        "localhost".to_owned(),
        addr.ip().to_string(),
        "pve".to_owned(),
    ];
    let ck = rcgen::generate_simple_self_signed(names).map_err(std::io::Error::other)?;
    let der = ck.cert.der().clone();
    let fp = crate::backends::pve::tls::fingerprint_of(der.as_ref());
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(crate::backends::pve::tls::provider())
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(vec![der], key)
        .map_err(std::io::Error::other)?;
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), fp))
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    state: Shared,
    stop: CancellationToken,
) {
    loop {
        let (sock, _) = tokio::select! {
            r = listener.accept() => match r { Ok(x) => x, Err(_) => continue },
            _ = stop.cancelled() => return,
        };
        let state = state.clone();
        let acceptor = acceptor.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            match acceptor {
                Some(a) => {
                    if let Ok(tls) = a.accept(sock).await {
                        serve(TokioIo::new(tls), state, stop).await;
                    }
                }
                None => serve(TokioIo::new(sock), state, stop).await,
            }
        });
    }
}

async fn serve<I>(io: I, state: Shared, stop: CancellationToken)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let kill = Arc::new(tokio::sync::Notify::new());
    let k = kill.clone();
    let svc = hyper::service::service_fn(move |req| respond(req, state.clone(), k.clone()));
    let conn = hyper::server::conn::http1::Builder::new().serve_connection(io, svc);
    tokio::select! {
        _ = conn => {}
        _ = kill.notified() => {}
        _ = stop.cancelled() => {}
    }
}

fn reply(status: u16, reason: &str, body: String) -> hyper::Response<axum::body::Body> {
    let mut resp = hyper::Response::new(axum::body::Body::from(body));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(r) = hyper::ext::ReasonPhrase::try_from(reason.as_bytes().to_vec()) {
        resp.extensions_mut().insert(r);
    }
    let h = resp.headers_mut();
    h.insert(
        "Server",
        hyper::header::HeaderValue::from_static("pve-api-daemon/3.0"),
    );
    h.insert(
        "Content-Type",
        hyper::header::HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    h.insert(
        "Cache-Control",
        hyper::header::HeaderValue::from_static("max-age=0"),
    );
    resp
}

fn error_reply(e: &ApiErr) -> hyper::Response<axum::body::Body> {
    let body = match (&e.errors, e.status) {
        (Some(errors), _) => serde_json::json!({"data": null, "errors": errors}).to_string(),
        (None, 401) => String::new(),
        _ => "{\"data\":null}".into(),
    };
    reply(e.status, &e.reason, body)
}

fn percent_decode_path(seg: &str) -> String {
    crate::backends::pve::types::percent_decode(seg)
}

fn parse_params(
    headers: &hyper::HeaderMap,
    query: Option<&str>,
    body: &[u8],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if let Some(q) = query {
        out.extend(url::form_urlencoded::parse(q.as_bytes()).into_owned());
    }
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ctype.starts_with("application/x-www-form-urlencoded") {
        out.extend(url::form_urlencoded::parse(body).into_owned());
    } else if ctype.starts_with("application/json")
        && let Ok(serde_json::Value::Object(map)) =
            serde_json::from_slice::<serde_json::Value>(body)
    {
        for (k, v) in map {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(b) => (if b { "1" } else { "0" }).into(),
                serde_json::Value::Null => continue,
                other => other.to_string(),
            };
            out.insert(k, s);
        }
    }
    // Any other content type: pveproxy does not read the body (the bug of clients that omit it).
    out
}

fn authenticate(st: &State, headers: &hyper::HeaderMap, write: bool) -> Result<String, ApiErr> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    if let Some(auth) = header("authorization") {
        let Some(rest) = auth.strip_prefix("PVEAPIToken=") else {
            return Err(ApiErr::new(401, "No ticket"));
        };
        let (id, secret) = rest
            .rsplit_once('=')
            .or_else(|| rest.rsplit_once(':'))
            .unwrap_or((rest, ""));
        return match st.access.tokens.get(id) {
            Some(t) if t.secret == secret => Ok(id.to_owned()),
            _ => Err(ApiErr::new(401, "permission denied - invalid PVE ticket")),
        };
    }
    let ticket = header("cookie").and_then(|c| {
        c.split(';')
            .map(str::trim)
            .find_map(|kv| kv.strip_prefix("PVEAuthCookie="))
            .map(crate::backends::pve::types::percent_decode)
    });
    let Some(ticket) = ticket else {
        return Err(ApiErr::new(401, "No ticket"));
    };
    let Some((user, csrf)) = st.access.tickets.get(&ticket) else {
        return Err(ApiErr::new(401, "permission denied - invalid PVE ticket"));
    };
    if write && header("csrfpreventiontoken") != Some(csrf.as_str()) {
        return Err(ApiErr::new(401, "Permission denied - invalid csrf token"));
    }
    Ok(user.clone())
}

fn login(st: &mut State, params: &BTreeMap<String, String>) -> Result<serde_json::Value, ApiErr> {
    let mut user = params.get("username").cloned().unwrap_or_default();
    if !user.contains('@') {
        user = format!(
            "{user}@{}",
            params.get("realm").map(String::as_str).unwrap_or("pam")
        );
    }
    let password = params.get("password").cloned().unwrap_or_default();
    let by_password = st.access.users.get(&user).is_some_and(|p| *p == password);
    let by_ticket = st
        .access
        .tickets
        .get(&password)
        .is_some_and(|(u, _)| *u == user);
    if !(by_password || by_ticket) {
        return Err(ApiErr::new(401, "authentication failure"));
    }
    let now = jiff::Timestamp::now().as_second();
    let ticket = format!("PVE:{user}:{now:08X}::{}", base64_sig());
    let csrf = format!("{now:08X}:{}", base64_sig());
    st.access
        .tickets
        .insert(ticket.clone(), (user.clone(), csrf.clone()));
    Ok(
        serde_json::json!({"ticket": ticket, "CSRFPreventionToken": csrf, "username": user, "cap": {}}),
    )
}

fn base64_sig() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 30];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::STANDARD.encode(b)
}

async fn respond(
    req: hyper::Request<Incoming>,
    state: Shared,
    kill: Arc<tokio::sync::Notify>,
) -> Result<hyper::Response<axum::body::Body>, std::convert::Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(axum::body::Body::new(req.into_body()), 64 << 20)
        .await
        .unwrap_or_default();

    let fault = state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take_fault(&method, &path);
    let mut fail_task = None;
    let mut lost_answer = None;
    match fault {
        Some(Fault::Drop) => {
            kill.notify_one();
            std::future::pending::<()>().await;
        }
        Some(Fault::Slow(d)) => tokio::time::sleep(d).await,
        Some(Fault::Status { status, reason }) => {
            let resp = error_reply(&ApiErr::new(status, reason));
            record(&state, &method, &path, status);
            return Ok(resp);
        }
        Some(Fault::FailTask(m)) => fail_task = Some(m),
        Some(Fault::ApplyThenStatus { status, reason }) => {
            lost_answer = Some(ApiErr::new(status, reason))
        }
        None => {}
    }

    let Some(rest) = path.strip_prefix("/api2/json/") else {
        return Ok(reply(404, "Not Found", String::new()));
    };
    let segs: Vec<String> = rest
        .trim_end_matches('/')
        .split('/')
        .map(percent_decode_path)
        .collect();
    let params = parse_params(&headers, query.as_deref(), &body);
    let write = method != "GET";

    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    let result = if method == "POST" && segs == ["access", "ticket"] {
        login(&mut st, &params)
    } else {
        match authenticate(&st, &headers, write) {
            Ok(who) => {
                let req = Req {
                    method: method.clone(),
                    segs: segs.clone(),
                    params,
                    fail_task,
                };
                api::handle(&mut st, &who, &req)
            }
            Err(e) => Err(e),
        }
    };
    let result = match (result, lost_answer) {
        (_, Some(lost)) => Err(lost),
        (r, None) => r,
    };
    let resp = match result {
        Ok(data) => {
            let mut env = serde_json::json!({ "data": data });
            if let Some(total) = api::log_total(&st, &segs) {
                env["total"] = serde_json::json!(total);
            }
            st.seen.push(Seen {
                method: method.clone(),
                path: path.clone(),
                status: 200,
            });
            reply(200, "OK", env.to_string())
        }
        Err(e) => {
            st.seen.push(Seen {
                method: method.clone(),
                path: path.clone(),
                status: e.status,
            });
            error_reply(&e)
        }
    };
    Ok(resp)
}

fn record(state: &Shared, method: &str, path: &str, status: u16) {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.seen.push(Seen {
        method: method.to_owned(),
        path: path.to_owned(),
        status,
    });
}
