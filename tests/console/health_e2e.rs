//! The real binary in tmux against the kube simulator with a crash-looping pod: the health
//! pane shows it (through the real watches), and Enter on it shows its log in the logs pane
//! from the pod log API (the fixture's Loki URL does not resolve here: its tail fails, so the
//! console falls back; with no Loki it does the same).

use crate::support::manifest_dir;
use crate::support::tmux::{Has, Launch};
use homelab::sim::kube::controllers::{Fault, Timing};
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use std::time::Duration;

/// Bounds a hang only.
const T: Duration = Duration::from_secs(90);

const CRASHING: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: broken}
  template:
    metadata:
      labels: {app: broken}
    spec:
      containers:
      - name: app
        image: ghcr.io/example/broken:1.0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_pane_shows_a_crash_looping_pod_and_enter_shows_its_logs() {
    let sim = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(Duration::from_millis(50))),
        log_every: Duration::from_millis(50),
        ..Default::default()
    })
    .await
    .unwrap();
    for (i, name) in ["k3s-1", "k3s-2", "k3s-3"].iter().enumerate() {
        sim.upsert_node(NodeSpec {
            name: name.to_string(),
            ip: format!("127.0.0.{}", i + 41),
            server: i == 0,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    sim.inject(Fault::CrashLoop {
        namespace: "default".into(),
        name: "broken".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    // The context is named after the fixture cluster, as the k3s stage merges it.
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        sim.kubeconfig(&sim.url()).replace("default", "prox-n100"),
    )
    .unwrap();
    let client = homelab::backends::kube::client::client_for(&kubeconfig, "prox-n100")
        .await
        .unwrap();
    let docs = homelab::backends::kube::apply::parse("broken.yaml", CRASHING).unwrap();
    let mut resolver = homelab::backends::kube::discovery::Resolver::new(client.clone());
    homelab::backends::kube::apply::apply(&client, &mut resolver, &docs, &Default::default())
        .await
        .unwrap();

    let bin = env!("CARGO_BIN_EXE_homelab");
    let Some(launch) = Launch::new("health") else {
        return;
    };
    let term = launch
        .size(140, 50)
        .repo(&manifest_dir())
        .env("KUBECONFIG", kubeconfig.display().to_string())
        .run(&[bin, "console"]);
    term.wait_screen(
        &[
            Has("Kubernetes live"),
            Has("crash-looping"),
            Has("CrashLoopBackOff"),
            Has("Pod default/broken-"),
            Has("k3s-3"),
        ],
        T,
    );
    // Focus the health pane (alerts -> logs -> health), then down from the first node to the
    // crash-looping pod (the rows between are headers and notes, which the selection skips).
    term.press_until(&["Tab", "Tab"], &[Has("Enter logs")], T);
    term.keys(&["j", "j", "j"]);
    term.keys(&["Enter"]);
    term.wait_screen(
        &[
            Has("● pod log API"),
            Has("❯ pod log API: default/broken-"),
            Has("database unreachable"),
        ],
        T,
    );
    drop(term);
    drop(sim);
}
