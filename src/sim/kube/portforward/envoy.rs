//! A port of a simulated Envoy proxy pod (the pods Envoy Gateway runs for a Gateway in
//! `envoy-gateway-system`, labelled `gateway.envoyproxy.io/owning-gateway-name|namespace`;
//! `controllers/routing.rs` creates them). Its container port `10000 + P` serves the Gateway's
//! listeners on port P as Envoy does:
//!
//! - an HTTPS listener terminates TLS with the certificate of its `certificateRefs[0]` Secret,
//!   chosen by SNI (the listener whose `hostname` covers the server name);
//! - the request's `Host` picks the listener and then an HTTPRoute attached to it (a
//!   `parentRefs` entry naming the Gateway, `sectionName` empty or the listener's name) that is
//!   `Accepted` for that Gateway and whose `hostnames` cover the host;
//! - the route's first backendRef (a Service) answers through a ready endpoint of its
//!   EndpointSlices, as an echo: the body names the pod and returns the request line
//!   (`GET /echo?msg=... HTTP/1.1`), so a probe finds its marker in the answer.
//!
//! No route: `404` with an empty body (Envoy's `NR`); no ready endpoint: `503` "no healthy
//! upstream" (Envoy's `UH`).

use crate::sim::kube::store::Store;
use serde_json::Value;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

const GATEWAY_NAME: &str = "gateway.envoyproxy.io/owning-gateway-name";
const GATEWAY_NS: &str = "gateway.envoyproxy.io/owning-gateway-namespace";
/// Envoy Gateway's listener ports are the Gateway's port plus this.
pub const PORT_OFFSET: u16 = 10000;
/// Request heads larger than this are refused.
const MAX_HEAD: usize = 16 * 1024;

fn s<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn arr<'v>(v: &'v Value, ptr: &str) -> impl Iterator<Item = &'v Value> {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The Gateway (namespace, name) whose Envoy `pod` is, if it is one.
pub fn gateway_of(pod: &Value) -> Option<(String, String)> {
    let labels = pod.pointer("/metadata/labels")?;
    let name = labels.get(GATEWAY_NAME)?.as_str()?;
    let ns = labels.get(GATEWAY_NS)?.as_str()?;
    Some((ns.to_string(), name.to_string()))
}

/// Whether listener or route hostname `pattern` (`*.example.com`, exact, empty = any) covers
/// `host`.
pub fn covers(pattern: &str, host: &str) -> bool {
    let (p, h) = (pattern.to_ascii_lowercase(), host.to_ascii_lowercase());
    match p.strip_prefix("*.") {
        _ if p.is_empty() => true,
        Some(suffix) => h.len() > suffix.len() + 1 && h.ends_with(&format!(".{suffix}")),
        None => p == h,
    }
}

/// Serve one connection to `port` of an Envoy pod of `gateway`.
pub async fn serve<S>(io: S, store: Arc<Store>, gateway: (String, String), port: u16)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let Some(listen) = port.checked_sub(PORT_OFFSET) else {
        return;
    };
    let gw = store
        .get(
            &("gateway.networking.k8s.io".into(), "gateways".into()),
            &gateway.0,
            &gateway.1,
        )
        .ok();
    let Some(gw) = gw else { return };
    let listeners: Vec<Value> = arr(&gw, "/spec/listeners")
        .filter(|l| l.get("port").and_then(Value::as_u64) == Some(u64::from(listen)))
        .cloned()
        .collect();
    let https = listeners.iter().any(|l| s(l, "/protocol") == "HTTPS");
    if https {
        let Some(config) = tls_config(&store, &gateway.0, &listeners) else {
            return;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        if let Ok(tls) = acceptor.accept(io).await {
            answer(tls, &store, &gateway, &listeners).await;
        }
    } else {
        answer(io, &store, &gateway, &listeners).await;
    }
}

/// The certificate of each HTTPS listener, picked by SNI.
#[derive(Debug)]
struct BySni(Vec<(String, Arc<rustls::sign::CertifiedKey>)>);

impl rustls::server::ResolvesServerCert for BySni {
    fn resolve(
        &self,
        hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        let name = hello.server_name().unwrap_or_default();
        self.0
            .iter()
            .find(|(pattern, _)| covers(pattern, name))
            .or_else(|| self.0.first())
            .map(|(_, k)| k.clone())
    }
}

fn tls_config(store: &Store, ns: &str, listeners: &[Value]) -> Option<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut keys = Vec::new();
    for l in listeners.iter().filter(|l| s(l, "/protocol") == "HTTPS") {
        let secret = s(l, "/tls/certificateRefs/0/name");
        let Ok(sec) = store.get(&(String::new(), "secrets".into()), ns, secret) else {
            continue;
        };
        let field = |k: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD
                .decode(s(&sec, &format!("/data/{k}")))
                .ok()
        };
        let (Some(crt), Some(key)) = (field("tls.crt"), field("tls.key")) else {
            continue;
        };
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&crt)
            .filter_map(Result::ok)
            .collect();
        let Ok(key) = rustls::pki_types::PrivateKeyDer::from_pem_slice(&key) else {
            continue;
        };
        let Ok(signer) = provider.key_provider.load_private_key(key) else {
            continue;
        };
        keys.push((
            s(l, "/hostname").to_string(),
            Arc::new(rustls::sign::CertifiedKey::new(certs, signer)),
        ));
    }
    if keys.is_empty() {
        return None;
    }
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(BySni(keys)));
    Some(config)
}

/// Read one request head, route it, write the answer, close.
async fn answer<S>(mut io: S, store: &Store, gateway: &(String, String), listeners: &[Value])
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next().unwrap_or_default().trim().to_string();
    let host = text
        .lines()
        .skip(1)
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("host").then(|| v.trim())
        })
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h).to_string();
    let (status, body) = match route(store, gateway, listeners, &host) {
        Some(Ok((ns, pod, port))) => (
            "200 OK",
            format!("homelab sim: pod {ns}/{pod} port {port}: {line}\n"),
        ),
        Some(Err(())) => ("503 Service Unavailable", "no healthy upstream".to_string()),
        None => ("404 Not Found", String::new()),
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nServer: envoy\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = io.write_all(answer.as_bytes()).await;
    let _ = io.shutdown().await;
}

/// The backend pod (namespace, name, port) for `host`: `None` no route, `Err` no ready
/// endpoint.
#[allow(clippy::type_complexity)]
fn route(
    store: &Store,
    gateway: &(String, String),
    listeners: &[Value],
    host: &str,
) -> Option<Result<(String, String, u64), ()>> {
    let listener = listeners.iter().find(|l| covers(s(l, "/hostname"), host))?;
    let lname = s(listener, "/name");
    let all = crate::sim::kube::select::Selectors::parse(None, None).unwrap_or_default();
    let list = |group: &str, plural: &str, ns: Option<&str>| {
        store
            .list(&(group.into(), plural.into()), ns, &all, None, None)
            .map(|l| l.items)
            .unwrap_or_default()
    };
    let (gns, gname) = gateway;
    let routes = list("gateway.networking.k8s.io", "httproutes", None);
    let route = routes.iter().find(|r| {
        let rns = s(r, "/metadata/namespace");
        let refers = |p: &Value| {
            s(p, "/name") == gname
                && [s(p, "/namespace"), rns]
                    .iter()
                    .find(|n| !n.is_empty())
                    .is_some_and(|n| n == gns)
        };
        let attached = arr(r, "/spec/parentRefs")
            .any(|p| refers(p) && [lname, ""].contains(&s(p, "/sectionName")));
        let accepted = arr(r, "/status/parents").any(|p| {
            refers(&p["parentRef"])
                && arr(p, "/conditions")
                    .any(|c| s(c, "/type") == "Accepted" && s(c, "/status") == "True")
        });
        let hosts: Vec<&str> = arr(r, "/spec/hostnames")
            .filter_map(Value::as_str)
            .collect();
        attached && accepted && (hosts.is_empty() || hosts.iter().any(|h| covers(h, host)))
    })?;
    let rns = s(route, "/metadata/namespace");
    let backend = arr(route, "/spec/rules")
        .flat_map(|rule| arr(rule, "/backendRefs"))
        .next()?;
    let svc_ns = Some(s(backend, "/namespace"))
        .filter(|n| !n.is_empty())
        .unwrap_or(rns);
    let svc = s(backend, "/name");
    let slices = list("discovery.k8s.io", "endpointslices", Some(svc_ns));
    let found = slices
        .iter()
        .filter(|sl| s(sl, "/metadata/labels/kubernetes.io~1service-name") == svc)
        .find_map(|sl| {
            let port = arr(sl, "/ports")
                .next()
                .and_then(|p| p.get("port"))
                .and_then(Value::as_u64)?;
            arr(sl, "/endpoints")
                .find(|e| e.pointer("/conditions/ready") == Some(&Value::Bool(true)))
                .map(|e| (s(e, "/targetRef/name").to_string(), port))
        });
    Some(
        found
            .map(|(pod, port)| (svc_ns.to_string(), pod, port))
            .ok_or(()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_cover_as_listeners_do() {
        assert!(covers("*.demo.lan", "probe.demo.lan"));
        assert!(!covers("*.demo.lan", "demo.lan"));
        assert!(!covers("*.demo.lan", "probe.other.lan"));
        assert!(covers("", "anything.example"));
        assert!(covers("Echo.Example.com", "echo.example.com"));
    }
}
