//! The kube simulator's controller loop, seen through the real kubectl: a Deployment rolls out
//! (ReplicaSet, pods Running 1/1, Available), a DaemonSet gets one pod per node, a StatefulSet
//! its ordinals, the scheduler's and kubelet's Events appear, an injected crash loop shows as
//! CrashLoopBackOff with restarts.

use crate::kube_api::{Kubectl, words};
use crate::nodes::{require_peer, which};
use homelab::sim::kube::controllers::{Fault, Timing};
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use serde_json::Value;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

const WORKLOADS: &str = r#"apiVersion: v1
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
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: demo
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers:
      - name: agent
        image: grafana/alloy:v1.8.3
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
  namespace: demo
spec:
  replicas: 2
  serviceName: db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: postgres
        image: postgres:17
"#;

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

/// A sim with controllers (no start delay; crash back-off `backoff`) and three Ready nodes.
pub(crate) async fn cluster(backoff: Duration) -> KubeSim {
    let sim = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(backoff)),
        log_every: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    for (i, name) in ["k3s-server-1", "k3s-agent-1", "k3s-agent-2"]
        .iter()
        .enumerate()
    {
        sim.upsert_node(NodeSpec {
            name: name.to_string(),
            ip: format!("127.0.0.{}", i + 21),
            server: i == 0,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    sim
}

fn meta_name(o: &Value) -> &str {
    o.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Resolves once some pod satisfies `cond`, checked on every store event.
pub(crate) async fn until(sim: &KubeSim, cond: impl Fn(&Value) -> bool) {
    let store = sim.store().clone();
    let mut rx = store.subscribe();
    let pods = ("".to_string(), "pods".to_string());
    loop {
        let all = store
            .list(&pods, None, &Default::default(), None, None)
            .unwrap();
        if all.items.iter().any(&cond) {
            return;
        }
        let _ = rx.recv().await;
    }
}

fn rows_where<'a>(rows: &'a [Vec<&'a str>], prefix: &str) -> Vec<&'a Vec<&'a str>> {
    rows.iter()
        .filter(|r| r.first().is_some_and(|n| n.starts_with(prefix)))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workloads_roll_out_and_pods_run_as_kubectl_sees_them() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster(Duration::from_secs(3600)).await;
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sim, dir.path());
    let manifest = dir.path().join("w.yaml");
    std::fs::write(&manifest, WORKLOADS).unwrap();
    k.ok(&["apply", "--server-side", "-f", manifest.to_str().unwrap()])
        .await;

    let out = k
        .ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("successfully rolled out"), "{out}");
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    // `rollout status` reads spec.updateStrategy, which API-server defaulting writes
    // (src/sim/kube/defaults.rs): without it kubectl answers "rollout status is only
    // available for RollingUpdate strategy type".
    let out = k
        .ok(&[
            "rollout",
            "status",
            "statefulset/db",
            "-n",
            "demo",
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.contains("partitioned roll out complete: 2 new pods have been updated"),
        "{out}"
    );
    let out = k
        .ok(&[
            "rollout",
            "status",
            "daemonset/agent",
            "-n",
            "demo",
            "--timeout=60s",
        ])
        .await;
    assert!(
        out.contains("daemon set \"agent\" successfully rolled out"),
        "{out}"
    );

    let listed = k.ok(&["get", "pods", "-n", "demo", "-o", "wide"]).await;
    let rows = words(&listed);
    assert_eq!(rows[0][..5], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    let web = rows_where(&rows, "web-");
    assert_eq!(web.len(), 2, "{listed}");
    for r in &web {
        assert_eq!(r[1..4], ["1/1", "Running", "0"], "{listed}");
        assert!(r[5].starts_with("10.42."), "{listed}");
    }
    // One agent pod per node, each on a different node.
    let agents = rows_where(&rows, "agent-");
    let mut on: Vec<&str> = agents.iter().map(|r| r[6]).collect();
    on.sort();
    assert_eq!(
        on,
        ["k3s-agent-1", "k3s-agent-2", "k3s-server-1"],
        "{listed}"
    );
    assert!(
        rows.iter().any(|r| r[0] == "db-0") && rows.iter().any(|r| r[0] == "db-1"),
        "{listed}"
    );

    // The Deployment's status and its ReplicaSet as kube-controller-manager reports them.
    let d: Value = serde_json::from_str(
        &k.ok(&["get", "deployment", "web", "-n", "demo", "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(
        d["status"]["observedGeneration"],
        d["metadata"]["generation"]
    );
    for f in [
        "replicas",
        "readyReplicas",
        "availableReplicas",
        "updatedReplicas",
    ] {
        assert_eq!(d["status"][f], 2, "{f}: {}", d["status"]);
    }
    let rs = k.ok(&["get", "rs", "-n", "demo", "-o", "name"]).await;
    assert!(rs.trim().starts_with("replicaset.apps/web-"), "{rs}");
    let pod: Value = serde_json::from_str(
        &k.ok(&["get", "pod", "db-0", "-n", "demo", "-o", "json"])
            .await,
    )
    .unwrap();
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
    assert_eq!(pod["metadata"]["labels"]["app"], "db");
    assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
    assert_eq!(
        pod["status"]["containerStatuses"][0]["image"],
        "docker.io/library/postgres:17"
    );

    // The scheduler's and the kubelet's Events.
    let ev = k
        .ok(&[
            "get",
            "events",
            "-n",
            "demo",
            "--field-selector",
            "involvedObject.name=db-0",
        ])
        .await;
    for reason in ["Scheduled", "Pulling", "Pulled", "Created", "Started"] {
        assert!(ev.contains(reason), "{reason} missing:\n{ev}");
    }
    assert!(
        ev.contains("Successfully assigned demo/db-0 to k3s-"),
        "{ev}"
    );

    // metrics.k8s.io: kubectl top reads NodeMetrics and PodMetrics.
    let top = k.ok(&["top", "nodes"]).await;
    let rows = words(&top);
    assert_eq!(
        rows[0],
        ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"],
        "{top}"
    );
    assert_eq!(rows.len(), 4, "{top}");
    for r in &rows[1..] {
        assert!(
            r[1].ends_with('m') && r[2].ends_with('%') && r[3].ends_with("Mi"),
            "{top}"
        );
    }
    let top = k.ok(&["top", "pods", "-n", "demo", "--containers"]).await;
    assert!(top.contains("db-0") && top.contains("postgres"), "{top}");

    // Scaling down removes pods; the Deployment follows.
    // (The `scale` subresource is not served yet: a patch does the same.)
    k.ok(&[
        "patch",
        "deployment/web",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"replicas":1}}"#,
    ])
    .await;
    k.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "demo",
        "--timeout=60s",
    ])
    .await;
    let listed = k
        .ok(&["get", "pods", "-n", "demo", "-l", "app=web", "-o", "name"])
        .await;
    assert_eq!(listed.lines().count(), 1, "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_injected_crash_loop_shows_as_crashloopbackoff_with_restarts() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster(Duration::from_millis(20)).await;
    sim.inject(Fault::CrashLoop {
        namespace: "default".into(),
        name: "broken".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sim, dir.path());
    let manifest = dir.path().join("c.yaml");
    std::fs::write(&manifest, CRASHING).unwrap();
    k.ok(&["apply", "--server-side", "-f", manifest.to_str().unwrap()])
        .await;
    // Wait (on the store's events, not a sleep) until the container has restarted twice.
    let restarted = until(&sim, |pod| {
        meta_name(pod).starts_with("broken-")
            && pod
                .pointer("/status/containerStatuses/0/restartCount")
                .and_then(Value::as_u64)
                .is_some_and(|n| n >= 2)
    });
    tokio::time::timeout(Duration::from_secs(60), restarted)
        .await
        .expect("the crash-looping pod restarts");
    let listed = k.ok(&["get", "pods", "-l", "app=broken"]).await;
    let rows = words(&listed);
    assert_eq!(rows[0], ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]);
    assert_eq!(rows[1][1..3], ["0/1", "CrashLoopBackOff"], "{listed}");
    // RESTARTS as the real printer words it: `3 (1s ago)`.
    let restarts: u64 = rows[1][3].parse().unwrap_or(0);
    assert!(restarts >= 2, "{listed}");
    assert!(
        rows[1][4].starts_with('(') && rows[1][5] == "ago)",
        "{listed}"
    );
    let pod: Value = serde_json::from_str(
        &k.ok(&["get", "pods", "-l", "app=broken", "-o", "json"])
            .await,
    )
    .unwrap();
    let st = &pod["items"][0]["status"]["containerStatuses"][0];
    assert_eq!(st["lastState"]["terminated"]["reason"], "Error", "{st}");
    assert_eq!(st["lastState"]["terminated"]["exitCode"], 1, "{st}");
    let ev = k
        .ok(&["get", "events", "--field-selector", "type=Warning"])
        .await;
    assert!(
        ev.contains("BackOff") && ev.contains("Back-off restarting failed container app"),
        "{ev}"
    );
    let d = k
        .run(&[
            "wait",
            "--for=condition=Available",
            "deployment/broken",
            "--timeout=1s",
        ])
        .await;
    assert!(
        !d.status.success(),
        "a crash-looping deployment is not Available"
    );
}

const PROVISIONED: &str = r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: longhorn
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: driver.longhorn.io
reclaimPolicy: Retain
volumeBindingMode: Immediate
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: default
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 2Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: stuck
  namespace: default
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: longhorn
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gateways.gateway.networking.k8s.io
spec:
  group: gateway.networking.k8s.io
  scope: Namespaced
  names: {plural: gateways, singular: gateway, kind: Gateway, shortNames: [gtw]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources: {status: {}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: certificates.cert-manager.io
spec:
  group: cert-manager.io
  scope: Namespaced
  names: {plural: certificates, singular: certificate, kind: Certificate, shortNames: [cert]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources: {status: {}}
"#;

const GATEWAY_AND_CERT: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: public
  namespace: default
spec:
  gatewayClassName: envoy
  listeners:
  - {name: https, protocol: HTTPS, port: 443}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: wildcard
  namespace: default
spec:
  secretName: wildcard-tls
  dnsNames: ["*.example.com"]
  issuerRef: {name: letsencrypt, kind: ClusterIssuer}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_bind_gateways_are_programmed_certificates_ready_and_a_stuck_claim_stays_pending() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster(Duration::from_secs(3600)).await;
    sim.inject(Fault::PvcPending {
        namespace: "default".into(),
        name: "stuck".into(),
    });
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sim, dir.path());
    let first = dir.path().join("p.yaml");
    std::fs::write(&first, PROVISIONED).unwrap();
    k.ok(&["apply", "--server-side", "-f", first.to_str().unwrap()])
        .await;
    let second = dir.path().join("g.yaml");
    std::fs::write(&second, GATEWAY_AND_CERT).unwrap();
    k.ok(&["apply", "--server-side", "-f", second.to_str().unwrap()])
        .await;

    let out = k
        .ok(&[
            "wait",
            "--for=jsonpath={.status.phase}=Bound",
            "pvc/data",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let pvc: Value =
        serde_json::from_str(&k.ok(&["get", "pvc", "data", "-o", "json"]).await).unwrap();
    let pv_name = pvc["spec"]["volumeName"].as_str().unwrap().to_string();
    assert_eq!(
        pv_name,
        format!("pvc-{}", pvc["metadata"]["uid"].as_str().unwrap())
    );
    assert_eq!(pvc["status"]["capacity"]["storage"], "2Gi");
    let pv: Value =
        serde_json::from_str(&k.ok(&["get", "pv", &pv_name, "-o", "json"]).await).unwrap();
    assert_eq!(pv["status"]["phase"], "Bound");
    assert_eq!(pv["spec"]["claimRef"]["name"], "data");
    assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
    assert_eq!(pv["spec"]["storageClassName"], "longhorn");

    for (what, cond) in [
        ("gateway/public", "Programmed"),
        ("certificate/wildcard", "Ready"),
    ] {
        let out = k
            .ok(&[
                "wait",
                &format!("--for=condition={cond}"),
                what,
                "--timeout=60s",
            ])
            .await;
        assert!(out.contains("condition met"), "{out}");
    }
    let gw: Value =
        serde_json::from_str(&k.ok(&["get", "gateway", "public", "-o", "json"]).await).unwrap();
    assert!(
        gw["status"]["addresses"][0]["value"].is_string(),
        "{}",
        gw["status"]
    );
    assert_eq!(
        gw["status"]["listeners"][0]["name"], "https",
        "{}",
        gw["status"]
    );
    assert_eq!(
        gw["status"]["conditions"][0]["observedGeneration"],
        gw["metadata"]["generation"]
    );

    // The injected claim: Pending with the provisioner's warning.
    let store = sim.store().clone();
    let mut rx = store.subscribe();
    let events = ("".to_string(), "events".to_string());
    let failed = async {
        loop {
            let all = store
                .list(&events, None, &Default::default(), None, None)
                .unwrap();
            if all
                .items
                .iter()
                .any(|e| e["reason"] == "ProvisioningFailed")
            {
                return;
            }
            let _ = rx.recv().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(60), failed)
        .await
        .expect("ProvisioningFailed");
    let listed = k.ok(&["get", "pvc"]).await;
    let rows = words(&listed);
    assert_eq!(
        rows[0],
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );
    let data = rows_where(&rows, "data");
    assert_eq!(
        data[0][1..7],
        [
            "Bound",
            pv_name.as_str(),
            "2Gi",
            "RWO",
            "longhorn",
            "<unset>"
        ],
        "{listed}"
    );
    let stuck = rows_where(&rows, "stuck");
    assert_eq!(
        stuck[0][1..4],
        ["Pending", "longhorn", "<unset>"],
        "{listed}"
    );
    let ev = k
        .ok(&[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=stuck",
        ])
        .await;
    assert!(
        ev.contains("ProvisioningFailed") && ev.contains("Warning"),
        "{ev}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_logs_tails_timestamps_and_follows_a_running_pod() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster(Duration::from_secs(3600)).await;
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sim, dir.path());
    let manifest = dir.path().join("w.yaml");
    std::fs::write(&manifest, WORKLOADS).unwrap();
    k.ok(&["apply", "--server-side", "-f", manifest.to_str().unwrap()])
        .await;
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/db-0",
        "-n",
        "demo",
        "--timeout=60s",
    ])
    .await;

    let tail = k
        .ok(&["logs", "db-0", "-n", "demo", "--tail=3", "--timestamps"])
        .await;
    let lines: Vec<&str> = tail.lines().collect();
    assert_eq!(lines.len(), 3, "{tail}");
    for l in &lines {
        let (ts, rest) = l.split_once(' ').unwrap();
        assert!(ts.parse::<jiff::Timestamp>().is_ok(), "{l}");
        assert!(rest.contains("container=postgres"), "{l}");
    }
    let bad = k.run(&["logs", "db-0", "-n", "demo", "-c", "nope"]).await;
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("container nope is not valid for pod db-0")
    );

    // -f streams lines as they are produced: read past the backlog, then stop kubectl.
    let mut child = k
        .command(&["logs", "-f", "db-0", "-n", "demo", "--tail=1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = vec![];
    while seen.len() < 5 {
        let l = tokio::time::timeout(Duration::from_secs(30), out.next_line())
            .await
            .expect("a followed line")
            .unwrap()
            .expect("the stream stays open");
        let n: i64 = l.rsplit_once("n=").unwrap().1.parse().unwrap();
        seen.push(n);
    }
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    child.kill().await.unwrap();
}
