//! The ingress probe: a small echo server (agnhost `netexec`, whose `/echo?msg=X` answers X)
//! with its Service and an HTTPRoute on the shared Gateway's internal HTTPS listener, in the
//! namespace `homelab-probe`; a request with a random marker sent through the Envoy Service
//! (port-forwarded, TLS with the probe host as SNI, trusting the listener certificate's CA) with
//! `Host` the probe host; the answer must carry the marker. The objects carry
//! `app.kubernetes.io/managed-by: homelab-probe` and are deleted afterwards; the namespace
//! stays (empty) so the next probe never waits for a namespace to finish terminating.

use crate::backends::doctor::kube::{self as k, SECRET, SERVICE};
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use crate::stages::probe::NAMESPACE;
pub const NAME: &str = "echo";
pub use crate::stages::probe::MANAGED_BY;
/// Envoy Gateway's namespace.
pub const ENVOY_NS: &str = "envoy-gateway-system";
/// The agnhost image (Kubernetes' own e2e test server) and the port netexec listens on.
const IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";
const PORT: u16 = 8080;
/// The most of an answer read.
const ANSWER_CAP: u64 = 64 * 1024;

/// The probe's objects (Namespace, Deployment, Service, HTTPRoute) as one YAML stream.
pub fn manifest(host: &str, gateway: (&str, &str), section: &str) -> String {
    let (gns, gname) = gateway;
    format!(
        r#"apiVersion: v1
kind: Namespace
metadata:
  name: {NAMESPACE}
  labels:
    app.kubernetes.io/managed-by: {MANAGED_BY}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {NAME}
  namespace: {NAMESPACE}
  labels:
    app.kubernetes.io/name: {NAME}
    app.kubernetes.io/managed-by: {MANAGED_BY}
spec:
  replicas: 1
  selector:
    matchLabels:
      app.kubernetes.io/name: {NAME}
  template:
    metadata:
      labels:
        app.kubernetes.io/name: {NAME}
        app.kubernetes.io/managed-by: {MANAGED_BY}
    spec:
      containers:
        - name: echo
          image: {IMAGE}
          args: ["netexec", "--http-port={PORT}"]
          ports:
            - name: http
              containerPort: {PORT}
          readinessProbe:
            httpGet:
              path: /
              port: http
          resources:
            requests:
              cpu: 10m
              memory: 16Mi
---
apiVersion: v1
kind: Service
metadata:
  name: {NAME}
  namespace: {NAMESPACE}
  labels:
    app.kubernetes.io/managed-by: {MANAGED_BY}
spec:
  selector:
    app.kubernetes.io/name: {NAME}
  ports:
    - name: http
      port: {PORT}
      targetPort: http
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: {NAME}
  namespace: {NAMESPACE}
  labels:
    app.kubernetes.io/managed-by: {MANAGED_BY}
spec:
  parentRefs:
    - name: {gname}
      namespace: {gns}
      sectionName: {section}
  hostnames:
    - {host}
  rules:
    - backendRefs:
        - name: {NAME}
          port: {PORT}
"#
    )
}

/// The probe host: `homelab-probe.<suffix>` under the first HTTPS listener of `gw` that does
/// not publish through Cloudflare (its hostname is not under `public_domain`), else under any
/// wildcard HTTPS listener. Returns (host, listener name).
pub fn probe_host(gw: &Value, public_domain: Option<&str>) -> Option<(String, String)> {
    let listeners: Vec<&Value> = gw
        .pointer("/spec/listeners")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| l["protocol"] == "HTTPS")
        .filter(|l| l["hostname"].as_str().is_some_and(|h| h.starts_with("*.")))
        .collect();
    let public = |l: &Value| {
        let h = l["hostname"].as_str().unwrap_or_default();
        public_domain
            .is_some_and(|d| h.trim_start_matches("*.") == d || h.ends_with(&format!(".{d}")))
    };
    let l = listeners
        .iter()
        .find(|l| !public(l))
        .or_else(|| listeners.first())?;
    let suffix = l["hostname"].as_str()?.trim_start_matches("*.");
    Some((
        format!("homelab-probe.{suffix}"),
        l["name"].as_str().unwrap_or_default().to_string(),
    ))
}

/// The Envoy Service of Gateway `ns/name` (labelled with its owning Gateway).
pub async fn envoy_service(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<String>, String> {
    let sel = format!(
        "gateway.envoyproxy.io/owning-gateway-name={name},gateway.envoyproxy.io/owning-gateway-namespace={ns}"
    );
    let svcs = k::list(client, SERVICE, Some(ENVOY_NS), Some(&sel)).await?;
    Ok(svcs.first().map(|s| k::meta(s, "name").to_string()))
}

/// The CA the listener's certificate chains to: `ca.crt` of its Secret, else the last
/// certificate of `tls.crt` (a self-signed or chain-terminating certificate).
pub async fn listener_ca(
    client: &kube::Client,
    ns: &str,
    secret: &str,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use base64::Engine;
    use rustls::pki_types::pem::PemObject;
    let Some(sec) = k::get(client, SECRET, ns, secret).await? else {
        return Err(format!(
            "Secret {ns}/{secret} (the listener's certificate) does not exist"
        ));
    };
    let field = |f: &str| {
        sec.pointer(&format!("/data/{}", f.replace('/', "~1")))
            .and_then(Value::as_str)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .filter(|b| !b.is_empty())
    };
    let pem = field("ca.crt")
        .map(|ca| (ca, false))
        .or_else(|| field("tls.crt").map(|c| (c, true)))
        .ok_or_else(|| format!("Secret {ns}/{secret} holds no ca.crt or tls.crt"))?;
    let mut certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem.0)
        .filter_map(Result::ok)
        .collect();
    if pem.1 && certs.len() > 1 {
        certs = certs.split_off(certs.len() - 1);
    }
    if certs.is_empty() {
        return Err(format!("Secret {ns}/{secret}: no PEM certificate in it"));
    }
    Ok(certs)
}

/// Send `GET /echo?msg=<marker>` with `Host: host` over TLS (SNI `host`, trusting `roots`) to
/// `addr`; the status line and body of the answer.
pub async fn request(
    addr: SocketAddr,
    host: &str,
    marker: &str,
    roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    timeout: Duration,
) -> Result<(String, String), String> {
    let mut store = rustls::RootCertStore::empty();
    for c in roots {
        store
            .add(c)
            .map_err(|e| format!("the listener's CA: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(store)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| format!("{host}: {e}"))?;
    let run = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to the port-forward {addr}: {e}"))?;
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with the Gateway as {host}: {e}"))?;
        let req = format!(
            "GET /echo?msg={marker} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: homelab-probe\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(req.as_bytes())
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        let mut buf = Vec::new();
        let _ = (&mut tls).take(ANSWER_CAP).read_to_end(&mut buf).await;
        let text = String::from_utf8_lossy(&buf).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head.lines().next().unwrap_or_default().trim().to_string();
        if status.is_empty() {
            return Err("the Gateway closed the connection without an answer".into());
        }
        Ok((status, body.trim().to_string()))
    };
    tokio::time::timeout(timeout, run)
        .await
        .map_err(|_| format!("no answer within {} s", timeout.as_secs()))?
}

/// A random marker: `homelab-` and 16 hex digits.
pub fn marker() -> String {
    format!("homelab-{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_probe_host_is_under_the_internal_listener() {
        let gw = json!({"spec": {"listeners": [
            {"name": "http", "protocol": "HTTP", "port": 80},
            {"name": "public", "protocol": "HTTPS", "hostname": "*.example.com"},
            {"name": "internal", "protocol": "HTTPS", "hostname": "*.example.lan"},
        ]}});
        assert_eq!(
            probe_host(&gw, Some("example.com")),
            Some(("homelab-probe.example.lan".into(), "internal".into()))
        );
        let only_public = json!({"spec": {"listeners": [
            {"name": "public", "protocol": "HTTPS", "hostname": "*.example.com"}]}});
        assert_eq!(
            probe_host(&only_public, Some("example.com")),
            Some(("homelab-probe.example.com".into(), "public".into()))
        );
        assert_eq!(probe_host(&json!({}), None), None);
        let m = marker();
        assert!(m.starts_with("homelab-") && m.len() == 24, "{m}");
        assert_ne!(m, marker());
        let yaml = manifest(
            "homelab-probe.example.lan",
            ("networking", "homelab"),
            "internal",
        );
        assert!(yaml.contains("sectionName: internal"));
        assert_eq!(yaml.matches("\n---\n").count(), 3);
    }
}
