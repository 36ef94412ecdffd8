//! Port-forward end to end against the kube simulator: the real `kubectl port-forward` (SPDY/3.1
//! tunnelled in a websocket, and the plain SPDY upgrade it falls back to) to a Service and to a
//! pod, reaching a server attached with `KubeSim::serve_port`, the built-in responder of a
//! declared port, and the error of a port nothing listens on.

use crate::kube_api::Kubectl;
use crate::kube_ctrl::{cluster, until};
use crate::nodes::{require_peer, which};
use homelab::sim::kube::KubeSim;
use serde_json::Value;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

const WEB: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
        ports:
        - {name: http, containerPort: 8080}
        - {name: admin, containerPort: 9090}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: admin, port: 90, targetPort: 9090}
"#;

/// A loopback HTTP server answering every request with `marker` and the request line.
pub(crate) async fn marker_server(marker: &'static str) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let body = format!("{marker} {line}\n");
                let _ = s
                    .write_all(
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                        .as_bytes(),
                    )
                    .await;
            });
        }
    });
    addr
}

/// One HTTP/1.1 GET through `port` on 127.0.0.1; the whole answer (empty when the forward
/// closes the connection without one).
pub(crate) async fn http_get(port: u16, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// `kubectl port-forward` running until dropped, with the local port it printed.
struct Forward {
    child: tokio::process::Child,
    port: u16,
    stderr: tokio::task::JoinHandle<String>,
}

impl Forward {
    async fn start(k: &Kubectl, args: &[&str], websockets: bool) -> Forward {
        let mut cmd = k.command(args);
        cmd.env(
            "KUBECTL_PORT_FORWARD_WEBSOCKETS",
            if websockets { "true" } else { "false" },
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = tokio::io::BufReader::new(child.stderr.take().unwrap());
        let stderr = tokio::spawn(async move {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s).await;
            s
        });
        let port = loop {
            let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
                .await
                .expect("kubectl port-forward printed nothing for 60 s")
                .unwrap();
            let Some(line) = line else {
                let _ = child.wait().await;
                panic!("kubectl port-forward ended: {}", stderr.await.unwrap());
            };
            // "Forwarding from 127.0.0.1:41233 -> 8080"
            if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
                break rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap();
            }
        };
        // Keep reading stdout ("Handling connection for ...") so kubectl never blocks on it.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Forward {
            child,
            port,
            stderr,
        }
    }

    async fn stop(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.stderr.await.unwrap_or_default()
    }
}

async fn web_cluster(dir: &std::path::Path) -> (KubeSim, Kubectl, String) {
    let sim = cluster(Duration::from_secs(3600)).await;
    let k = Kubectl::new(&sim, dir);
    let manifest = dir.join("web.yaml");
    std::fs::write(&manifest, WEB).unwrap();
    k.ok(&["apply", "--server-side", "-f", manifest.to_str().unwrap()])
        .await;
    until(&sim, |p| {
        p.pointer("/metadata/labels/app").and_then(Value::as_str) == Some("web")
            && p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
    })
    .await;
    let pods = k.ok(&["get", "pods", "-n", "demo", "-o", "name"]).await;
    let pod = pods.trim().strip_prefix("pod/").unwrap().to_string();
    (sim, k, pod)
}

fn kubectl_here() -> bool {
    require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    )
}

async fn forwards_service_and_pod(websockets: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (sim, k, pod) = web_cluster(dir.path()).await;
    let attached = marker_server("attached-server").await;
    sim.serve_port("demo", "app=web", 8080, attached).unwrap();

    // svc/web 0:80 -> targetPort "http" -> containerPort 8080 -> the attached server.
    let f = Forward::start(
        &k,
        &["port-forward", "-v=6", "-n", "demo", "svc/web", "0:80"],
        websockets,
    )
    .await;
    let first = http_get(f.port, "/one").await;
    assert!(
        first.contains("attached-server GET /one HTTP/1.1"),
        "{first}"
    );
    // A second connection is a second stream pair on the same connection.
    let second = http_get(f.port, "/two").await;
    assert!(
        second.contains("attached-server GET /two HTTP/1.1"),
        "{second}"
    );
    let log = f.stop().await;
    // The transport kubectl says it used: a websocket GET, or the SPDY upgrade POST.
    let upgraded = |method: &str| {
        log.lines().any(|l| {
            l.contains(&format!("verb=\"{method}\""))
                && l.contains(&format!("/pods/{pod}/portforward\""))
                && l.contains("status=\"101 Switching Protocols\"")
        })
    };
    if websockets {
        assert!(upgraded("GET") && !upgraded("POST"), "{log}");
        assert!(
            log.contains("negotiated protocol: portforward.k8s.io"),
            "{log}"
        );
    } else {
        assert!(upgraded("POST") && !upgraded("GET"), "{log}");
    }

    // pod/NAME 0:9090: declared, nothing attached: the built-in responder names the pod.
    let target = format!("pod/{pod}");
    let f = Forward::start(
        &k,
        &["port-forward", "-n", "demo", &target, "0:9090"],
        websockets,
    )
    .await;
    let answer = http_get(f.port, "/hi").await;
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(
        answer.contains(&format!(
            "pod demo/{pod} container app port 9090: GET /hi HTTP/1.1"
        )),
        "{answer}"
    );
    f.stop().await;

    // A port nothing listens on: no answer, and kubectl reports the kubelet's error.
    let f = Forward::start(
        &k,
        &["port-forward", "-n", "demo", &target, "0:7000"],
        websockets,
    )
    .await;
    let answer = http_get(f.port, "/").await;
    assert_eq!(answer, "", "a refused port answers nothing");
    let stderr = f.stop().await;
    assert!(
        stderr.contains("error forwarding port 7000 to pod")
            && stderr.contains("dial tcp4 127.0.0.1:7000: connect: connection refused"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_over_websocket_reaches_the_attached_server() {
    if !kubectl_here() {
        return;
    }
    forwards_service_and_pod(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_port_forward_over_spdy_upgrade_reaches_the_attached_server() {
    if !kubectl_here() {
        return;
    }
    forwards_service_and_pod(false).await;
}
