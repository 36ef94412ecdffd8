//! The kube simulator as kube-rs and kubectl see it.

use crate::nodes::{require_peer, which};
use homelab::backends::kube::nodes as kube_nodes;
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use std::process::Command;
use std::time::Duration;

pub fn node(name: &str, server: bool, ready: bool) -> NodeSpec {
    NodeSpec {
        name: name.into(),
        ip: "10.0.0.1".into(),
        server,
        ready,
        kubelet_version: "v1.33.5+k3s1".into(),
    }
}

async fn client(sim: &KubeSim, dir: &std::path::Path) -> (kube::Client, std::path::PathBuf) {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, sim.kubeconfig(&sim.url())).unwrap();
    (
        kube_nodes::client_for(&path, "default").await.unwrap(),
        path,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_lists_and_watches_nodes_until_ready() {
    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    sim.upsert_node(node("s1", true, true));
    sim.upsert_node(node("a1", false, false));
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = client(&sim, dir.path()).await;
    let listed = kube_nodes::list(&client).await.unwrap();
    assert_eq!(listed.len(), 2);
    let a1 = listed.iter().find(|n| n.name == "a1").unwrap();
    assert!(!a1.ready);
    assert!(a1.detail.starts_with("KubeletNotReady"), "{}", a1.detail);
    assert_eq!(a1.version, "v1.33.5+k3s1");

    // a1 becomes Ready and a2 registers Ready while we watch: once the watch has reported a1
    // NotReady (a fixed delay could pass before the watch's first list on a loaded machine,
    // and a1 would never be seen NotReady).
    let expected = vec!["s1".to_string(), "a1".into(), "a2".into()];
    let (watching, watched) = tokio::sync::oneshot::channel();
    let mut watching = Some(watching);
    let flip = async {
        watched.await.expect("the watch reports a1");
        sim.set_ready("a1", true);
        sim.upsert_node(node("a2", false, true));
    };
    let mut seen = vec![];
    let mut record = |r: &kube_nodes::NodeReadiness| {
        seen.push((r.name.clone(), r.ready));
        if r.name == "a1"
            && !r.ready
            && let Some(tx) = watching.take()
        {
            let _ = tx.send(());
        }
    };
    let (res, ()) = tokio::join!(
        kube_nodes::wait_ready(&client, &expected, Duration::from_secs(20), &mut record),
        flip
    );
    let done = res.unwrap();
    assert!(done.iter().all(|r| r.ready));
    assert!(
        seen.contains(&("a1".to_string(), false)) && seen.contains(&("a1".to_string(), true)),
        "{seen:?}"
    );

    // A node that never becomes Ready: the deadline returns the last state. A deadline that
    // passes before the watch's first list (a loaded machine) returns nodes not seen yet;
    // try again with a longer one until the state is the watched one.
    sim.set_ready("a2", false);
    let mut deadline = Duration::from_millis(800);
    let err = loop {
        let err = kube_nodes::wait_ready(&client, &expected, deadline, &mut |_| {})
            .await
            .unwrap_err();
        if err.iter().all(|r| !r.detail.contains("not registered")) || deadline.as_secs() >= 60 {
            break err;
        }
        deadline *= 2;
    };
    let not_ready: Vec<&str> = err
        .iter()
        .filter(|r| !r.ready)
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(not_ready, ["a2"], "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wire_details_status_objects_410_and_auth() {
    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    for i in 0..300 {
        sim.upsert_node(node(&format!("n{}", i % 3), false, i % 2 == 0));
    }
    let dir = tempfile::tempdir().unwrap();
    let (client, _) = client(&sim, dir.path()).await;
    let api: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    // get: present and missing (404 Status mapped by kube-rs).
    assert_eq!(
        api.get("n1").await.unwrap().metadata.name.as_deref(),
        Some("n1")
    );
    match api.get("nope").await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 404);
            assert_eq!(s.reason, "NotFound");
            assert_eq!(s.message, "nodes \"nope\" not found");
        }
        other => panic!("{other}"),
    }
    // watch from a resourceVersion older than the kept history: ERROR 410 Expired.
    use futures::StreamExt;
    let wp = kube::api::WatchParams::default().timeout(5);
    let mut stream = api.watch(&wp, "101").await.unwrap().boxed();
    match stream.next().await.unwrap() {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (410, "Expired")),
        Ok(kube::api::WatchEvent::Error(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (410, "Expired"))
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // Bookmarks keep an idle watch alive and carry the current resourceVersion.
    drop(stream);
    let quick = KubeSim::start(SimOptions {
        bookmark_every: Duration::from_millis(100),
        ..SimOptions::default()
    })
    .await
    .unwrap();
    quick.upsert_node(node("b1", false, true));
    let path = dir.path().join("quick");
    std::fs::write(&path, quick.kubeconfig(&quick.url())).unwrap();
    let qc = kube_nodes::client_for(&path, "default").await.unwrap();
    let qapi: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(qc);
    let wp = kube::api::WatchParams::default().timeout(5); // allowWatchBookmarks=true by default
    let mut stream = qapi.watch(&wp, "0").await.unwrap().boxed();
    let mut kinds = vec![];
    while let Some(ev) = stream.next().await {
        match ev.unwrap() {
            kube::api::WatchEvent::Added(n) => {
                kinds.push(format!("ADDED {}", n.metadata.name.unwrap()))
            }
            kube::api::WatchEvent::Bookmark(b) => {
                kinds.push(format!("BOOKMARK {}", b.metadata.resource_version));
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(kinds, vec!["ADDED b1".to_string(), "BOOKMARK 101".into()]);
    // version through kube-rs.
    let v = client.apiserver_version().await.unwrap();
    assert_eq!(
        (v.major.as_str(), v.minor.as_str(), v.git_version.as_str()),
        ("1", "33", "v1.33.5+k3s1")
    );
    // A wrong token is refused with a 401 Status.
    let path = dir.path().join("bad");
    std::fs::write(
        &path,
        sim.kubeconfig(&sim.url()).replace(&sim.token, "wrong"),
    )
    .unwrap();
    let bad = kube_nodes::client_for(&path, "default").await.unwrap();
    let err = kube_nodes::list(&bad).await.unwrap_err();
    assert!(err.contains("401") || err.contains("Unauthorized"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_the_same_nodes() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    sim.upsert_node(node("k3s-server-1", true, true));
    sim.upsert_node(node("k3s-agent-1", false, false));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, sim.kubeconfig(&sim.url())).unwrap();
    let home = dir.path().to_path_buf();
    let run = move |args: &[&str]| {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&path)
            .args(args)
            .env("HOME", &home)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let table = tokio::task::spawn_blocking(move || {
        let t = run(&["get", "nodes"]);
        let j = run(&[
            "get",
            "node",
            "k3s-agent-1",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        (t, j)
    })
    .await
    .unwrap();
    let (t, ready) = table;
    let lines: Vec<&str> = t.lines().collect();
    assert!(
        lines[0]
            .split_whitespace()
            .eq(["NAME", "STATUS", "ROLES", "AGE", "VERSION"]),
        "{t}"
    );
    let agent: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("k3s-agent-1"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(agent[1], "NotReady");
    assert_eq!(agent[4], "v1.33.5+k3s1");
    let server: Vec<&str> = lines
        .iter()
        .find(|l| l.starts_with("k3s-server-1"))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(server[1], "Ready");
    assert_eq!(server[2], "control-plane,etcd,master");
    assert_eq!(ready, "False");
}

#[test]
fn homelab_sim_kube_standalone_answers_kubectl() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    use std::io::BufRead;
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args(["sim", "kube", "--listen", "127.0.0.1:0"])
        .env("TMPDIR", home.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut kubeconfig = None;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(p) = line.strip_prefix("kubeconfig: ") {
            kubeconfig = Some(p.to_string());
            break;
        }
    }
    let kubeconfig = kubeconfig.expect("the simulator prints its kubeconfig path");
    let out = Command::new("kubectl")
        .args(["--kubeconfig", &kubeconfig, "get", "nodes", "--no-headers"])
        .env("HOME", home.path())
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(names, vec!["k3s-agent-1", "k3s-agent-2", "k3s-server-1"]);
    assert!(
        text.lines()
            .all(|l| l.split_whitespace().nth(1) == Some("Ready")),
        "{text}"
    );
}
