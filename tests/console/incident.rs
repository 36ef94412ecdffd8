//! The incident gatherer against its peers' simulators: a Deployment that helm-controller
//! labelled, its pods and its HelmRelease (status written through the status subresource) in
//! the kube simulator, lines before, inside and after the window in the Loki simulator, the
//! VMs under the nodes in the PVE simulator. Then each source failing: Loki down (the pod log
//! API stands in, and says so), PVE unreachable (named, the rest still there), an alert without
//! namespace labels (says what is missing).

use homelab::backends::incident::{Request, Sources, gather};
use homelab::backends::kube::apply::{self, ApplyOptions};
use homelab::backends::kube::client::client_for;
use homelab::backends::kube::discovery::Resolver;
use homelab::backends::loki::LokiClient;
use homelab::backends::pve::{Auth, Hypervisor, PveClient, PveSettings, Trust};
use homelab::config::{VmConfig, VmRole};
use homelab::domain::alerts::AlertLabels;
use homelab::domain::incident::{
    AlertFacts, Incident, IncidentUpdate, LogsOrigin, Part, SourceFailure,
};
use homelab::domain::logs::Labels;
use homelab::sim::kube::controllers::Timing;
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use homelab::sim::pve::PveSim;
use homelab::sim::pve::state::Vm;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const HELMRELEASE_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: helmreleases.helm.toolkit.fluxcd.io
spec:
  group: helm.toolkit.fluxcd.io
  scope: Namespaced
  names: {plural: helmreleases, singular: helmrelease, kind: HelmRelease, shortNames: [hr]}
  versions:
  - name: v2
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources: {status: {}}
"#;

/// What helm-controller leaves: the release's namespace, the HelmRelease, and a Deployment
/// carrying helm-controller's ownership labels (and kustomize-controller's, from the
/// Kustomization that applied the HelmRelease: the HelmRelease is the nearer owner).
const APPS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: media
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: jellyfin
  namespace: media
spec:
  interval: 30m
  chart:
    spec: {chart: jellyfin, version: 2.1.0, sourceRef: {kind: HelmRepository, name: jellyfin, namespace: flux-system}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: jellyfin
  namespace: media
  labels:
    app.kubernetes.io/name: jellyfin
    helm.toolkit.fluxcd.io/name: jellyfin
    helm.toolkit.fluxcd.io/namespace: media
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: jellyfin}
  template:
    metadata:
      labels: {app.kubernetes.io/name: jellyfin}
    spec:
      containers:
      - name: jellyfin
        image: ghcr.io/jellyfin/jellyfin:10.10.3
"#;

const NODES: [&str; 2] = ["k3s-server-1", "k3s-agent-1"];

struct Lab {
    kube: KubeSim,
    client: kube::Client,
    _dir: tempfile::TempDir,
}

/// The kube simulator with controllers, two Ready nodes, the HelmRelease (Ready=False through
/// `/status`) and the Deployment's two pods running.
async fn lab() -> Lab {
    let kube = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(Duration::from_secs(10))),
        log_every: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    for (i, name) in NODES.iter().enumerate() {
        kube.upsert_node(NodeSpec {
            name: name.to_string(),
            ip: format!("127.0.0.{}", i + 21),
            server: i == 0,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kube.kubeconfig(&kube.url())).unwrap();
    let client = client_for(&path, "default").await.unwrap();
    let docs = apply::parse("apps.yaml", &format!("{HELMRELEASE_CRD}---\n{APPS}")).unwrap();
    let mut resolver = Resolver::new(client.clone());
    apply::apply(&client, &mut resolver, &docs, &ApplyOptions::default())
        .await
        .unwrap();
    // helm-controller's words for a failed upgrade (WIRE-2 H.4), through the status subresource.
    let gvk = kube::core::GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease");
    let hr: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        "media",
        &kube::api::ApiResource::from_gvk_with_plural(&gvk, "helmreleases"),
    );
    let status = json!({"status": {"observedGeneration": 1, "conditions": [
        {"type": "Ready", "status": "False", "reason": "UpgradeFailed",
         "message": "Helm upgrade failed for release media/jellyfin with chart jellyfin@2.1.0: context deadline exceeded",
         "lastTransitionTime": "2026-01-01T10:00:00Z", "observedGeneration": 1}]}});
    hr.patch_status(
        "jellyfin",
        &kube::api::PatchParams::default(),
        &kube::api::Patch::Merge(&status),
    )
    .await
    .unwrap();
    until_running(&kube, 2).await;
    Lab {
        kube,
        client,
        _dir: dir,
    }
}

/// Resolves once `n` pods of media are Running with a node, checked on every store event.
async fn until_running(sim: &KubeSim, n: usize) {
    let store = sim.store().clone();
    let mut rx = store.subscribe();
    let pods = (String::new(), "pods".to_string());
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let all = store
                .list(&pods, Some("media"), &Default::default(), None, None)
                .unwrap();
            let running = all
                .items
                .iter()
                .filter(|p| {
                    p.pointer("/status/phase") == Some(&json!("Running"))
                        && p.pointer("/spec/nodeName").is_some()
                })
                .count();
            if running >= n {
                return;
            }
            let _ = rx.recv().await;
        }
    })
    .await
    .expect("the pods never ran");
}

fn pod_names(sim: &KubeSim) -> Vec<String> {
    let pods = (String::new(), "pods".to_string());
    let mut names: Vec<String> = sim
        .store()
        .list(&pods, Some("media"), &Default::default(), None, None)
        .unwrap()
        .items
        .iter()
        .filter_map(|p| p.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

fn vm_config(name: &str, node: &str, vmid: u32, last: u8) -> VmConfig {
    VmConfig {
        name: name.into(),
        role: VmRole::Agent,
        node: node.into(),
        vmid,
        cores: 4,
        memory_mib: 8192,
        disk_gib: 40,
        ip: std::net::Ipv4Addr::new(10, 0, 0, last),
        ssh_user: None,
        identity_file: None,
    }
}

/// The PVE simulator holding the two VMs, running.
async fn pve() -> PveSim {
    let sim = PveSim::start(homelab::sim::pve::SimOptions {
        nodes: vec!["pve1".into(), "pve2".into()],
        ..Default::default()
    })
    .await
    .unwrap();
    sim.with(|st| {
        for (vmid, name, node) in [(201, NODES[0], "pve1"), (202, NODES[1], "pve2")] {
            let config = [("name", name), ("cores", "4"), ("memory", "8192")]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let mut vm = Vm::new(vmid, node, config);
            vm.running = true;
            vm.started = Some(std::time::Instant::now());
            st.vms.insert(vmid, vm);
        }
    });
    sim
}

fn pve_client(url: &str, sim: &PveSim) -> Arc<dyn Hypervisor> {
    let auth = Auth::Token {
        id: sim.token_id.clone(),
        secret: zeroize::Zeroizing::new(sim.token_secret.clone()),
    };
    let trust = Trust::Pinned(sim.fingerprint.clone().unwrap());
    let mut settings = PveSettings::new(url, auth, trust);
    settings.retries = 0;
    Arc::new(PveClient::new(settings).unwrap())
}

fn sources(
    lab: &Lab,
    loki: Option<LokiClient>,
    pve: Arc<dyn Hypervisor>,
    pve_host: &str,
) -> Sources {
    Sources {
        kube: Ok(lab.client.clone()),
        kube_host: format!("context default at {}", lab.kube.url()),
        loki,
        pve: Ok(pve),
        pve_host: pve_host.to_owned(),
        vms: vec![
            vm_config(NODES[0], "pve1", 201, 21),
            vm_config(NODES[1], "pve2", 202, 31),
        ],
        definition: "clusters/simlab.yaml".into(),
    }
}

fn labels(pairs: &[(&str, &str)]) -> AlertLabels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Run the gatherer to its end; the updates in the order they came.
async fn run(req: Request, src: Sources) -> (Incident, Vec<IncidentUpdate>) {
    let (tx, mut rx) = mpsc::channel(64);
    let facts = AlertFacts {
        name: req.labels.get("alertname").cloned().unwrap_or_default(),
        severity: "warning".into(),
        state: "firing".into(),
        labels: req.labels.clone(),
        summary: None,
        starts_at: req.starts_at,
    };
    let task = tokio::spawn(gather(req, src, tx));
    let mut incident = Incident::new(facts);
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(u) = rx.recv().await {
            seen.push(u.clone());
            incident.apply(u);
        }
    })
    .await
    .expect("the gatherer never finished");
    task.await.unwrap();
    assert!(
        matches!(seen.last(), Some(IncidentUpdate::Done)),
        "{seen:?}"
    );
    assert!(!incident.loading(), "{incident:#?}");
    (incident, seen)
}

fn media(pod: &str) -> Arc<Labels> {
    Arc::new(
        [("namespace", "media"), ("pod", pod)]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_layer_of_a_crash_alert_comes_together() {
    let lab = lab().await;
    let pods = pod_names(&lab.kube);
    assert_eq!(pods.len(), 2, "{pods:?}");
    let loki = LokiSim::start(
        "127.0.0.1:0".parse().unwrap(),
        LokiSimOptions {
            rate: 0,
            history_secs: 0,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let starts = jiff::Timestamp::now().as_second() - 60;
    let at = |s: i64| s * 1_000_000_000;
    let store = loki.store();
    store.push_at(at(starts - 400), media(&pods[0]), "before the window");
    store.push_at(at(starts - 200), media(&pods[0]), "inside, first pod");
    store.push_at(at(starts - 10), media(&pods[1]), "inside, second pod");
    store.push_at(
        at(starts),
        media(&pods[1]),
        "at the alert: the window ends before it",
    );
    store.push_at(at(starts + 30), media(&pods[0]), "after the alert");
    let mut other = (*media("sonarr-0")).clone();
    other.insert("namespace".into(), "arr".into());
    store.push_at(at(starts - 100), Arc::new(other), "another namespace");
    let loki_client = LokiClient::new(&loki.url(), Default::default(), Default::default()).unwrap();
    let pve = pve().await;
    let src = sources(
        &lab,
        Some(loki_client),
        pve_client(&pve.url, &pve),
        &pve.url,
    );
    let req = Request {
        labels: labels(&[
            ("alertname", "KubePodCrashLooping"),
            ("namespace", "media"),
            ("pod", &pods[1]),
            ("severity", "warning"),
        ]),
        starts_at: Some(starts),
        now_s: starts + 60,
    };
    let (incident, seen) = run(req, src).await;
    assert!(matches!(seen[0], IncidentUpdate::Workload(_)), "{seen:?}");

    let w = incident.workload.ready().expect("workload");
    assert_eq!(w.workload.to_string(), "Deployment media/jellyfin");
    let names: Vec<&str> = w.pods.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, pods.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        w.pods.iter().all(|p| p.status == "Running" && p.ready),
        "{w:?}"
    );

    let flux = incident.flux.ready().expect("flux owner");
    assert_eq!(
        (
            flux.kind.as_str(),
            flux.namespace.as_str(),
            flux.name.as_str(),
            flux.ready.as_str(),
            flux.reason.as_str()
        ),
        ("HelmRelease", "media", "jellyfin", "False", "UpgradeFailed")
    );
    assert!(flux.message.contains("context deadline exceeded"));

    let logs = incident.logs.ready().expect("logs");
    let texts: Vec<&str> = logs.lines.iter().map(|l| l.line.as_str()).collect();
    assert_eq!(texts, ["inside, first pod", "inside, second pod"]);
    assert_eq!((logs.from_ns, logs.to_ns), (at(starts - 300), at(starts)));
    match &logs.origin {
        LogsOrigin::Loki { selector } => {
            assert!(
                selector.starts_with(r#"{namespace="media", pod=~""#),
                "{selector}"
            )
        }
        other => panic!("{other:?}"),
    }

    let rows = incident.vms.ready().expect("vms");
    let mut nodes: Vec<&str> = w.pods.iter().map(|p| p.node.as_str()).collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(
        rows.iter().map(|r| r.node.as_str()).collect::<Vec<_>>(),
        nodes
    );
    for r in rows {
        let f = r.facts.ready().unwrap_or_else(|| panic!("{r:?}"));
        assert_eq!(f.status, "running");
        assert_eq!(f.maxmem, Some(8192 << 20));
        assert!(f.cpu.is_some_and(|c| c > 0.0), "{f:?}");
        assert!(f.uptime.is_some() && f.mem.is_some(), "{f:?}");
        let expected = if r.node == NODES[0] { 201 } else { 202 };
        assert_eq!(r.vmid, expected);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_down_falls_back_to_the_pod_log_api_and_pve_unreachable_is_named() {
    let lab = lab().await;
    let pods = pod_names(&lab.kube);
    // Nothing listens on a fresh address of 127.0.0.0/8.
    let dead_loki = format!("http://{}", crate::support::net::free_addr());
    let dead_pve = format!("https://{}", crate::support::net::free_addr());
    let loki_client = LokiClient::new(&dead_loki, Default::default(), Default::default()).unwrap();
    let pve = pve().await;
    let src = sources(
        &lab,
        Some(loki_client),
        pve_client(&dead_pve, &pve),
        &dead_pve,
    );
    let now = jiff::Timestamp::now();
    // The alert starts now: the window holds every line the pods logged since they started.
    let req = Request {
        labels: labels(&[
            ("alertname", "KubeDeploymentReplicasMismatch"),
            ("namespace", "media"),
            ("deployment", "jellyfin"),
        ]),
        starts_at: Some(now.as_second() + 1),
        now_s: now.as_second() + 1,
    };
    let (from_ns, to_ns) = req.window_ns();
    let (incident, _) = run(req, src).await;
    assert_eq!(incident.workload.ready().unwrap().pods.len(), 2);
    assert_eq!(incident.flux.ready().unwrap().reason, "UpgradeFailed");

    let logs = incident.logs.ready().expect("pod log fallback");
    match &logs.origin {
        LogsOrigin::PodApi { pods: asked, why } => {
            assert_eq!(asked, &pods);
            assert!(why.contains("unreachable"), "{why}");
            assert!(why.contains(&dead_loki), "{why}");
        }
        other => panic!("{other:?}"),
    }
    assert!(logs.failed_pods.is_empty(), "{:?}", logs.failed_pods);
    assert!(!logs.lines.is_empty());
    assert!(
        logs.lines
            .iter()
            .all(|l| l.ts_ns >= from_ns && l.ts_ns < to_ns && l.line.contains("request handled")),
        "{:?}",
        logs.lines.first()
    );
    let from: std::collections::BTreeSet<&str> = logs
        .lines
        .iter()
        .filter_map(|l| l.labels.get("pod").map(String::as_str))
        .collect();
    assert_eq!(from.len(), 2, "both pods' logs: {from:?}");

    // The simulator honours `sinceTime` as the kubelet does: nothing older comes back. The cut
    // is the whole second after the oldest line; asked again until the pod has logged past it.
    let api: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(lab.client.clone(), "media");
    let oldest = logs.lines.first().unwrap().ts_ns;
    let cut = jiff::Timestamp::from_second(oldest / 1_000_000_000 + 1).unwrap();
    let params = kube::api::LogParams {
        since_time: Some(cut),
        timestamps: true,
        ..Default::default()
    };
    let stamps = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let text = api.logs(&pods[0], &params).await.unwrap();
            let stamps: Vec<jiff::Timestamp> = text
                .lines()
                .map(|l| l.split_once(' ').unwrap().0.parse().unwrap())
                .collect();
            if !stamps.is_empty() {
                return stamps;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the pod never logged past the cut");
    assert!(
        stamps.iter().all(|t| *t >= cut),
        "{:?} < {cut}",
        stamps.first()
    );

    for r in incident.vms.ready().expect("rows") {
        match &r.facts {
            Part::Failed(SourceFailure {
                source,
                host,
                step,
                reason,
            }) => {
                assert_eq!(
                    (source.as_str(), host.as_str()),
                    ("Proxmox VE", dead_pve.as_str())
                );
                assert!(
                    step.starts_with(&format!("status/current of VM {}", r.vmid)),
                    "{step}"
                );
                assert!(!reason.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_without_namespace_labels_says_what_is_missing() {
    let down = |what: &str| SourceFailure::new(what, "nowhere", "connect", "not asked");
    let src = Sources {
        kube: Err(down("Kubernetes")),
        kube_host: "nowhere".into(),
        loki: None,
        pve: Err(down("Proxmox VE")),
        pve_host: "nowhere".into(),
        vms: vec![vm_config(NODES[0], "pve1", 201, 21)],
        definition: "clusters/simlab.yaml".into(),
    };
    let req = Request {
        labels: labels(&[("alertname", "Watchdog"), ("severity", "none")]),
        starts_at: Some(1_000),
        now_s: 2_000,
    };
    let (incident, _) = run(req, src.clone()).await;
    let skipped = |p: &Part<_>| match p {
        Part::Skipped(s) => s.clone(),
        other => panic!("{other:?}"),
    };
    let w = skipped(&incident.workload.clone().map_unit());
    assert!(
        w.contains("no namespace label") && w.contains("alertname, severity"),
        "{w}"
    );
    assert!(skipped(&incident.flux.clone().map_unit()).contains("no workload"));
    assert!(skipped(&incident.logs.clone().map_unit()).contains("no namespace label"));
    assert!(skipped(&incident.vms.clone().map_unit()).contains("names no node"));

    // A node-exporter alert names its node by address: the VM is found, and PVE's failure is
    // the one said.
    let req = Request {
        labels: labels(&[
            ("alertname", "NodeFilesystemAlmostOutOfSpace"),
            ("instance", "10.0.0.21:9100"),
        ]),
        starts_at: Some(1_000),
        now_s: 2_000,
    };
    let (incident, _) = run(req, src).await;
    let rows = incident.vms.ready().unwrap();
    assert_eq!((rows[0].vm_name.as_str(), rows[0].vmid), (NODES[0], 201));
    assert_eq!(rows[0].facts, Part::Failed(down("Proxmox VE")));
}

/// `Part<T>` without its payload, to compare skip messages of different parts.
trait MapUnit {
    fn map_unit(self) -> Part<()>;
}

impl<T> MapUnit for Part<T> {
    fn map_unit(self) -> Part<()> {
        match self {
            Part::Loading => Part::Loading,
            Part::Ready(_) => Part::Ready(()),
            Part::Skipped(s) => Part::Skipped(s),
            Part::Failed(f) => Part::Failed(f),
        }
    }
}
