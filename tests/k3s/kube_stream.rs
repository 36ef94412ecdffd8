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

/// Loki as the cluster tree reaches it (cluster/kubernetes/platform/logging/loki): Service
/// `logging/loki` port 3100 to the pods' named port `http-metrics`. The chart runs a
/// StatefulSet; a Deployment here gives a replacement pod a new name, which is what the
/// forward's re-resolution is for.
pub(crate) const LOKI: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: logging
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: loki
  namespace: logging
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: loki}
  template:
    metadata:
      labels: {app.kubernetes.io/name: loki}
    spec:
      containers:
      - name: loki
        image: grafana/loki:3.5.0
        ports:
        - {name: http-metrics, containerPort: 3100}
---
apiVersion: v1
kind: Service
metadata:
  name: loki
  namespace: logging
spec:
  selector: {app.kubernetes.io/name: loki}
  ports:
  - {name: http-metrics, port: 3100, targetPort: http-metrics}
"#;

/// The Loki simulator behind Service logging/loki of a kube simulator with controllers.
pub(crate) async fn loki_behind_service(
    dir: &std::path::Path,
) -> (KubeSim, homelab::sim::loki::LokiSim, std::path::PathBuf) {
    use homelab::backends::kube::apply::{self, ApplyOptions};
    use homelab::backends::kube::client::client_for;
    use homelab::backends::kube::discovery::Resolver;
    let sim = cluster(Duration::from_secs(3600)).await;
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig(&sim.url())).unwrap();
    let client = client_for(&kubeconfig, "default").await.unwrap();
    let docs = apply::parse("loki.yaml", LOKI).unwrap();
    let mut resolver = Resolver::new(client.clone());
    apply::apply(&client, &mut resolver, &docs, &ApplyOptions::default())
        .await
        .unwrap();
    until(&sim, |p| {
        p.pointer("/metadata/namespace").and_then(Value::as_str) == Some("logging")
            && p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
    })
    .await;
    let loki = homelab::sim::loki::LokiSim::start(
        "127.0.0.1:0".parse().unwrap(),
        homelab::sim::loki::LokiSimOptions::default(),
    )
    .await
    .unwrap();
    sim.serve_port("logging", "app.kubernetes.io/name=loki", 3100, loki.addr())
        .unwrap();
    (sim, loki, kubeconfig)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_forwards_to_loki_behind_its_service_and_follows_a_new_pod() {
    use homelab::backends::kube::client::client_for;
    use homelab::backends::kube::port_forward::{self, ForwardEvent};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let (sim, _loki, kubeconfig) = loki_behind_service(dir.path()).await;
    let client = client_for(&kubeconfig, "default").await.unwrap();
    let events: Arc<Mutex<Vec<ForwardEvent>>> = Arc::default();
    let seen = events.clone();
    let fwd = port_forward::forward_service(
        client.clone(),
        "logging",
        "loki",
        3100,
        Arc::new(move |e| seen.lock().unwrap().push(e)),
    )
    .await
    .unwrap();
    assert!(fwd.local.ip().is_loopback());
    let first = fwd.target().unwrap();
    assert!(
        first.pod.starts_with("loki-") && first.port == 3100,
        "{first:?}"
    );
    // A new connection per request: each one is its own forward (no pooled connection).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let labels = |base: String| {
        let http = http.clone();
        async move {
            http.get(format!("{base}/loki/api/v1/labels"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let base = format!("http://{}", fwd.local);
    let body = labels(base.clone()).await;
    assert!(body.contains("\"status\":\"success\""), "{body}");
    // Two at once: each connection is its own forward.
    let (a, b) = tokio::join!(labels(base.clone()), labels(base.clone()));
    assert!(a.contains("success") && b.contains("success"), "{a} {b}");

    // The pod goes away; the ReplicaSet makes a new one with another name; the next
    // connection finds the old one gone, resolves again and reaches Loki through the new one.
    sim.store()
        .delete(
            &("".into(), "pods".into()),
            "logging",
            &first.pod,
            &Default::default(),
        )
        .unwrap();
    let old = first.pod.clone();
    until(&sim, move |p| {
        p.pointer("/metadata/namespace").and_then(Value::as_str) == Some("logging")
            && p.pointer("/metadata/name").and_then(Value::as_str) != Some(old.as_str())
            && p.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
    })
    .await;
    let body = labels(base.clone()).await;
    assert!(body.contains("\"status\":\"success\""), "{body}");
    let now = fwd.target().unwrap();
    assert_ne!(now.pod, first.pod);
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_forward_failures_name_service_and_step() {
    use homelab::backends::kube::client::client_for;
    use homelab::backends::kube::port_forward::{self, Step};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let (sim, _loki, kubeconfig) = loki_behind_service(dir.path()).await;
    let client = client_for(&kubeconfig, "default").await.unwrap();
    let err =
        port_forward::forward_service(client.clone(), "logging", "nosuch", 3100, Arc::new(|_| {}))
            .await
            .err()
            .unwrap();
    assert_eq!(err.step, Step::Service);
    assert_eq!(err.service, "logging/nosuch:3100");
    assert!(
        err.message.contains("services \"nosuch\" not found"),
        "{err}"
    );
    let err =
        port_forward::forward_service(client.clone(), "logging", "loki", 80, Arc::new(|_| {}))
            .await
            .err()
            .unwrap();
    assert!(err.to_string().contains("has no port 80"), "{err}");
    // No Ready pod: every node gone, the pod deleted, nothing runs it again.
    for n in ["k3s-server-1", "k3s-agent-1", "k3s-agent-2"] {
        sim.delete_node(n);
    }
    let pods = sim
        .store()
        .list(
            &("".into(), "pods".into()),
            Some("logging"),
            &Default::default(),
            None,
            None,
        )
        .unwrap();
    for p in pods.items {
        let name = p["metadata"]["name"].as_str().unwrap().to_string();
        sim.store()
            .delete(
                &("".into(), "pods".into()),
                "logging",
                &name,
                &Default::default(),
            )
            .unwrap();
    }
    let err = port_forward::forward_service(client, "logging", "loki", 3100, Arc::new(|_| {}))
        .await
        .err()
        .unwrap();
    assert_eq!(err.step, Step::Pods);
    assert!(
        err.message
            .contains("no Ready pod matches app.kubernetes.io/name=loki in logging"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_reaches_loki_through_a_port_forward_when_the_cluster_gives_no_url() {
    use homelab::backends::endpoint::{Auth, Timeouts};
    use homelab::backends::loki::LokiClient;
    use homelab::config::ObservabilityConfig;
    use homelab::screens::console::endpoints::{self, EndpointOverrides, Origin};
    use homelab::screens::console::forwarded::{self, Kube};
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let (_sim, _loki, kubeconfig) = loki_behind_service(dir.path()).await;
    // Prometheus has a URL in the cluster definition; Loki and Alertmanager have none.
    let cfg = ObservabilityConfig {
        prometheus_url: Some("https://prometheus.example.internal".into()),
        ..Default::default()
    };
    let mut r = endpoints::resolve(
        &EndpointOverrides::default(),
        Some(&cfg),
        &dir.path().join("x.env"),
        &|_| None,
    );
    assert!(r.loki.is_none());
    let events = Arc::new(Mutex::new(Vec::new()));
    let seen = events.clone();
    let (_forwards, notes) = forwarded::fill(
        &mut r,
        &Kube {
            kubeconfig,
            context: "default".into(),
        },
        Arc::new(move |e| seen.lock().unwrap().push(e.to_string())),
    );
    let loki = r.loki.clone().unwrap();
    assert_eq!(loki.origin, Origin::PortForward(forwarded::LOKI));
    assert!(loki.url.starts_with("http://127.0.0.1:"), "{}", loki.url);
    assert_eq!(r.prometheus.as_ref().unwrap().origin, Origin::ClusterConfig);
    assert_eq!(
        r.alertmanager.as_ref().unwrap().origin,
        Origin::PortForward(forwarded::ALERTMANAGER)
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("via port-forward to logging/loki:3100")),
        "{notes:?}"
    );
    // The console's own Loki client, on that URL, reaches the Loki simulator.
    let client = LokiClient::new(&loki.url, Auth::None, Timeouts::default()).unwrap();
    client.ready().await.unwrap();
    let labels = client.labels(3600).await.unwrap();
    assert!(!labels.is_empty(), "{labels:?}");
    assert!(
        events.lock().unwrap().is_empty(),
        "{:?}",
        events.lock().unwrap()
    );
    // Alertmanager has no Service in this cluster: the forward says which and where.
    let am = r.alertmanager.clone().unwrap();
    let _ = reqwest::get(format!("{}/api/v2/status", am.url)).await;
    let seen = events.lock().unwrap().clone();
    assert!(
        seen.iter()
            .any(|e| e.contains("monitoring/alertmanager-operated:9093")
                && e.contains("reading the service")),
        "{seen:?}"
    );
}
