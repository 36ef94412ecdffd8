//! What a pod's port is connected to: an attached loopback address, the built-in HTTP
//! responder, or nothing (connection refused, worded as containerd's port-forward does).

use crate::sim::kube::resources::TypeKey;
use crate::sim::kube::select::Selectors;
use crate::sim::kube::store::Store;
use serde_json::Value;
use sha2::Digest as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub fn pods() -> TypeKey {
    (String::new(), "pods".into())
}

/// A byte stream to a pod's port.
pub trait PortIo: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> PortIo for T {}

/// Which pods an attachment serves.
#[derive(Debug, Clone, PartialEq)]
pub enum PodMatch {
    /// One pod by name.
    Name(String),
    /// Every pod whose labels match (`app.kubernetes.io/name=loki`).
    Labels(Selectors),
}

impl PodMatch {
    /// `NAME`, or a label selector when the text has `=`, `!` or ` in ` in it.
    pub fn parse(text: &str) -> Result<PodMatch, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("a pod name or a label selector is needed".into());
        }
        if t.contains('=') || t.contains('!') || t.contains(" in ") || t.contains(" notin ") {
            return Selectors::parse(Some(t), None)
                .map(PodMatch::Labels)
                .map_err(|e| format!("selector {t:?}: {}", e.message));
        }
        Ok(PodMatch::Name(t.to_string()))
    }

    fn matches(&self, pod: &Value) -> bool {
        match self {
            PodMatch::Name(n) => {
                pod.pointer("/metadata/name").and_then(Value::as_str) == Some(n.as_str())
            }
            PodMatch::Labels(sel) => sel.matches(pod),
        }
    }
}

#[derive(Debug, Clone)]
struct Attachment {
    namespace: String,
    pods: PodMatch,
    port: u16,
    addr: SocketAddr,
}

/// Ports attached to loopback addresses; the newest attachment that matches wins.
#[derive(Debug, Default)]
pub struct Ports {
    list: Mutex<Vec<Attachment>>,
}

impl Ports {
    /// Connections to `port` of the pods `pods` matches in `namespace` go to `addr`, which
    /// must be a loopback address.
    pub fn attach(
        &self,
        namespace: &str,
        pods: PodMatch,
        port: u16,
        addr: SocketAddr,
    ) -> Result<(), String> {
        if !addr.ip().is_loopback() {
            return Err(format!(
                "{addr} is not a loopback address: the simulator only connects to 127.0.0.0/8 and ::1"
            ));
        }
        if port == 0 {
            return Err("port 0 cannot be forwarded".into());
        }
        let mut list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.push(Attachment {
            namespace: namespace.to_string(),
            pods,
            port,
            addr,
        });
        Ok(())
    }

    fn find(&self, namespace: &str, pod: &Value, port: u16) -> Option<SocketAddr> {
        let list = self.list.lock().unwrap_or_else(|p| p.into_inner());
        list.iter()
            .rev()
            .find(|a| a.namespace == namespace && a.port == port && a.pods.matches(pod))
            .map(|a| a.addr)
    }
}

/// What a port-forward session needs to open ports of one pod.
#[derive(Clone)]
pub struct Ctx {
    pub store: Arc<Store>,
    pub ports: Arc<Ports>,
    pub namespace: String,
    pub pod: String,
}

/// The sandbox id containerd would name for the pod (64 hex digits, stable per pod uid).
fn sandbox_id(pod: &Value) -> String {
    let uid = pod
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    hex::encode(sha2::Sha256::digest(uid.as_bytes()))
}

/// The kubelet's error for a port nothing listens on (kubelet `portforward/httpstream.go`
/// around containerd's `sandbox_portforward_linux.go`).
fn refused(pod: &Value, port: u16) -> String {
    let id = sandbox_id(pod);
    let netns = format!(
        "/var/run/netns/cni-{}-{}-{}-{}-{}",
        &id[0..8],
        &id[8..12],
        &id[12..16],
        &id[16..20],
        &id[20..32]
    );
    format!(
        "error forwarding port {port} to pod {id}, uid : failed to execute portforward in network namespace \"{netns}\": \
         failed to connect to localhost:{port} inside namespace \"{id}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection refused \
         IPv6 dial tcp6 [::1]:{port}: connect: connection refused "
    )
}

/// The container that declares `port` (`spec.containers[].ports[].containerPort`).
pub fn declaring_container(pod: &Value, port: u16) -> Option<String> {
    pod.pointer("/spec/containers")?
        .as_array()?
        .iter()
        .find(|c| {
            c["ports"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["containerPort"].as_u64() == Some(u64::from(port)))
            })
        })
        .and_then(|c| c["name"].as_str())
        .map(str::to_string)
}

impl Ctx {
    /// Resolves once the pod is deleted, replaced (another uid) or no longer Running: its
    /// ports are gone, so forwarded connections end as the kubelet's do when a container dies.
    pub async fn gone(&self) {
        let mut rx = self.store.subscribe();
        let uid = |p: &Value| p.pointer("/metadata/uid").cloned();
        let Ok(first) = self.store.get(&pods(), &self.namespace, &self.pod) else {
            return;
        };
        let want = uid(&first);
        loop {
            match self.store.get(&pods(), &self.namespace, &self.pod) {
                Ok(p)
                    if uid(&p) == want
                        && p.pointer("/metadata/deletionTimestamp").is_none()
                        && p.pointer("/status/phase").and_then(Value::as_str)
                            == Some("Running") => {}
                _ => return,
            }
            match rx.recv().await {
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Open `port` of the pod: the attached address, the built-in responder, or the error text
    /// the client sees on the port's error channel.
    pub async fn open(&self, port: u16) -> Result<Box<dyn PortIo>, String> {
        let pod = self
            .store
            .get(&pods(), &self.namespace, &self.pod)
            .map_err(|e| e.message)?;
        if let Some(addr) = self.ports.find(&self.namespace, &pod, port) {
            return match tokio::net::TcpStream::connect(addr).await {
                Ok(s) => Ok(Box::new(s)),
                Err(_) => Err(refused(&pod, port)),
            };
        }
        let Some(container) = declaring_container(&pod, port) else {
            return Err(refused(&pod, port));
        };
        if let Some(gateway) = super::envoy::gateway_of(&pod) {
            let (ours, theirs) = tokio::io::duplex(64 * 1024);
            tokio::spawn(super::envoy::serve(
                theirs,
                self.store.clone(),
                gateway,
                port,
            ));
            return Ok(Box::new(ours));
        }
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let who = format!(
            "{}/{} container {container} port {port}",
            self.namespace, self.pod
        );
        tokio::spawn(respond(theirs, who));
        Ok(Box::new(ours))
    }
}

/// Request heads larger than this are answered without reading on.
const MAX_HEAD: usize = 16 * 1024;

/// The built-in responder: reads one HTTP request head, answers 200 naming the pod, closes.
async fn respond(mut io: tokio::io::DuplexStream, who: String) {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while head.len() < MAX_HEAD && !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match io.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = head
        .split(|b| *b == b'\n')
        .next()
        .map(|l| String::from_utf8_lossy(l).trim().to_string())
        .unwrap_or_default();
    let body = format!("homelab sim: pod {who}: {line}\n");
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = io.write_all(answer.as_bytes()).await;
    let _ = io.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_match_parses_names_and_selectors() {
        assert_eq!(
            PodMatch::parse("loki-0").unwrap(),
            PodMatch::Name("loki-0".into())
        );
        let m = PodMatch::parse("app.kubernetes.io/name=loki").unwrap();
        assert!(
            m.matches(&json!({"metadata":{"name":"x","labels":{"app.kubernetes.io/name":"loki"}}}))
        );
        assert!(!m.matches(&json!({"metadata":{"name":"x","labels":{"app":"loki"}}})));
        assert!(PodMatch::parse(" ").is_err());
    }

    #[test]
    fn attach_refuses_other_than_loopback() {
        let p = Ports::default();
        let e = p
            .attach(
                "ns",
                PodMatch::Name("a".into()),
                80,
                "192.168.1.5:80".parse().unwrap(),
            )
            .unwrap_err();
        assert!(e.contains("not a loopback"), "{e}");
        p.attach(
            "ns",
            PodMatch::Name("a".into()),
            80,
            "127.0.0.1:9".parse().unwrap(),
        )
        .unwrap();
        p.attach(
            "ns",
            PodMatch::Name("a".into()),
            80,
            "127.0.0.2:9".parse().unwrap(),
        )
        .unwrap();
        let pod = json!({"metadata":{"name":"a"}});
        assert_eq!(p.find("ns", &pod, 80), Some("127.0.0.2:9".parse().unwrap()));
        assert_eq!(p.find("other", &pod, 80), None);
        assert_eq!(p.find("ns", &pod, 81), None);
    }

    #[test]
    fn refused_reads_as_containerd_words_it() {
        let pod = json!({"metadata":{"uid":"u-1"}});
        let m = refused(&pod, 3100);
        assert!(m.starts_with("error forwarding port 3100 to pod "), "{m}");
        assert!(
            m.contains("dial tcp4 127.0.0.1:3100: connect: connection refused"),
            "{m}"
        );
    }
}
