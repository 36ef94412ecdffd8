//! backends/kube/health against the simulator through the real watch path: the first lists
//! arrive as one `Replace` per watch, a pod that starts crash-looping (`Fault::CrashLoop`)
//! arrives as a change with CrashLoopBackOff and its BackOff warning event follows; node usage
//! carries swap from the kubelet Summary; Flux objects found by discovery arrive with their
//! Ready condition once their status is written, and no Flux CRD is "Flux not installed".

use homelab::backends::kube::apply::{self, ApplyOptions};
use homelab::backends::kube::client::client_for;
use homelab::backends::kube::discovery::Resolver;
use homelab::backends::kube::health;
use homelab::backends::kube::pod_logs::{self, PodLogEvent, PodLogRequest};
use homelab::domain::health::{FluxKind, HealthChange, HealthObject, ListKind};
use homelab::sim::kube::controllers::{Fault, Timing};
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use std::time::Duration;
use tokio::sync::mpsc;

/// Bounds a hang only (never a timing assert).
const T: Duration = Duration::from_secs(60);

const CRASHING: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: broken
  namespace: default
  labels:
    helm.toolkit.fluxcd.io/name: broken
    helm.toolkit.fluxcd.io/namespace: default
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
---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: broken
  namespace: default
spec:
  interval: 30m
  chart:
    spec:
      chart: broken
      sourceRef: {kind: HelmRepository, name: example, namespace: flux-system}
"#;

async fn cluster() -> (KubeSim, kube::Client, tempfile::TempDir) {
    let sim = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(Duration::from_millis(20))),
        log_every: Duration::from_millis(20),
        ..Default::default()
    })
    .await
    .unwrap();
    for (i, name) in ["k3s-1", "k3s-2"].iter().enumerate() {
        sim.upsert_node(NodeSpec {
            name: name.to_string(),
            ip: format!("127.0.0.{}", i + 31),
            server: i == 0,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, sim.kubeconfig(&sim.url())).unwrap();
    let client = client_for(&path, "default").await.unwrap();
    (sim, client, dir)
}

async fn apply_yaml(client: &kube::Client, yaml: &str) {
    let docs = apply::parse("test.yaml", yaml).unwrap();
    let mut resolver = Resolver::new(client.clone());
    apply::apply(client, &mut resolver, &docs, &ApplyOptions::default())
        .await
        .unwrap();
}

/// Receive batches until `want` holds for one change; returns it. Bounded by [`T`].
async fn until(
    rx: &mut mpsc::Receiver<Vec<HealthChange>>,
    what: &str,
    want: impl Fn(&HealthChange) -> bool,
) -> HealthChange {
    let wait = async {
        while let Some(batch) = rx.recv().await {
            if let Some(c) = batch.into_iter().find(|c| want(c)) {
                return c;
            }
        }
        panic!("the watch ended before {what}");
    };
    tokio::time::timeout(T, wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within {T:?}"))
}

fn pods_in(c: &HealthChange) -> Vec<&HealthObject> {
    match c {
        HealthChange::Upsert(o) => vec![o],
        HealthChange::Replace { objects, .. } => objects.iter().collect(),
        _ => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pod_and_its_warning_event_arrive_through_the_watches() {
    let (sim, client, _dir) = cluster().await;
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(health::watch(client.clone(), tx));

    // The first lists: nodes as one Replace, no Flux CRDs, then Connected (all may come in
    // one batch).
    let (mut nodes, mut absent, mut connected) = (None, false, false);
    let first = async {
        while let Some(batch) = rx.recv().await {
            for c in batch {
                match c {
                    HealthChange::Replace {
                        list: ListKind::Nodes,
                        objects,
                        ..
                    } => nodes = Some(objects.len()),
                    HealthChange::FluxAbsent => absent = true,
                    HealthChange::Connected => connected = true,
                    _ => {}
                }
            }
            if connected {
                return;
            }
        }
    };
    tokio::time::timeout(T, first).await.expect("Connected");
    assert_eq!(nodes, Some(2));
    assert!(absent, "no Flux CRD served: FluxAbsent");

    // Usage with swap from the kubelet Summary (polled; the first poll runs at once).
    let usage = health::poll_usage(&client).await;
    let HealthChange::Usage(u) = usage else {
        panic!("{usage:?}")
    };
    assert_eq!(u.len(), 2, "{u:?}");
    assert!(
        u.iter()
            .all(|(_, n)| n.swap_bytes.is_some() && n.cpu_millis.unwrap() > 0)
    );

    // The crash loop: the pod's change and then the BackOff warning event.
    sim.inject(Fault::CrashLoop {
        namespace: "default".into(),
        name: "broken".into(),
    });
    apply_yaml(&client, CRASHING).await;
    // Seen in any order (one batch may carry several): the labelled Deployment, the pod
    // crash-looping (an Upsert: the list was over), its BackOff warning event.
    let mut seen = [false; 3];
    let wait = async {
        while let Some(batch) = rx.recv().await {
            for c in &batch {
                for o in pods_in(c) {
                    match o {
                        HealthObject::Workload(w) if w.name == "broken" => {
                            assert_eq!(w.release, Some(("default".into(), "broken".into())));
                            seen[0] = true;
                        }
                        HealthObject::Pod(p)
                            if p.name.starts_with("broken-") && p.crash_looping() =>
                        {
                            assert!(matches!(c, HealthChange::Upsert(_)), "{c:?}");
                            assert_eq!(p.owner, Some(("Deployment".into(), "broken".into())));
                            seen[1] = true;
                        }
                        HealthObject::Event(e)
                            if e.reason == "BackOff" && e.object_name.starts_with("broken-") =>
                        {
                            seen[2] = true;
                        }
                        _ => {}
                    }
                }
            }
            if seen.iter().all(|s| *s) {
                return;
            }
        }
    };
    tokio::time::timeout(T, wait).await.unwrap_or_else(|_| {
        panic!("seen (deployment, crash-looping pod, BackOff event): {seen:?}")
    });
    drop(rx);
    // The watch ends once nobody listens.
    tokio::time::timeout(T, watch).await.unwrap().unwrap();
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_flux_crds_flux_is_absent_and_a_helm_release_status_arrives_once_served() {
    let (sim, client, _dir) = cluster().await;
    // No Flux CRDs: FluxAbsent in the first batches.
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(health::watch(client.clone(), tx));
    until(&mut rx, "FluxAbsent", |c| *c == HealthChange::FluxAbsent).await;
    drop(rx);
    tokio::time::timeout(T, watch).await.unwrap().unwrap();

    // With the CRD and a HelmRelease whose status helm-controller would write.
    apply_yaml(&client, HELMRELEASE_CRD).await;
    let res = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        "helmreleases",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &res);
    let status = serde_json::json!({"status": {"conditions": [{
        "type": "Ready", "status": "False", "reason": "InstallFailed",
        "lastTransitionTime": "2026-11-23T17:59:00Z",
        "message": "Helm install failed for release default/broken with chart broken@1.0.0: context deadline exceeded"}]}});
    api.patch_status("broken", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(health::watch(client.clone(), tx));
    let c = until(&mut rx, "the HelmRelease list", |c| {
        matches!(c, HealthChange::Replace { list: ListKind::Flux, kind, .. } if kind == "HelmRelease")
    })
    .await;
    let HealthChange::Replace { objects, .. } = c else {
        unreachable!()
    };
    let [HealthObject::Flux(hr)] = objects.as_slice() else {
        panic!("{objects:?}")
    };
    assert_eq!(hr.kind, FluxKind::HelmRelease);
    assert_eq!(
        (hr.ready, hr.reason.as_str()),
        (Some(false), "InstallFailed")
    );
    assert_eq!(
        hr.source,
        Some((
            "HelmRepository".into(),
            "flux-system".into(),
            "example".into()
        ))
    );
    drop(rx);
    tokio::time::timeout(T, watch).await.unwrap().unwrap();
    drop(sim);
}

/// A watch started before Flux is installed follows Flux's kinds once their CRDs become
/// Established (the Flux stage installs them while the console is open), without a restart by
/// the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_crds_installed_while_watching_are_followed() {
    let (sim, client, _dir) = cluster().await;
    let (tx, mut rx) = mpsc::channel(64);
    let watch = tokio::spawn(health::watch(client.clone(), tx));
    // Both may come in one batch, in either order.
    let (mut absent, mut connected) = (false, false);
    tokio::time::timeout(T, async {
        while !(absent && connected) {
            let batch = rx.recv().await.expect("the watch ended");
            absent |= batch.contains(&HealthChange::FluxAbsent);
            connected |= batch.contains(&HealthChange::Connected);
        }
    })
    .await
    .expect("FluxAbsent and Connected");
    apply_yaml(&client, HELMRELEASE_CRD).await;
    let c = until(&mut rx, "the HelmRelease list", |c| {
        matches!(c, HealthChange::Replace { list: ListKind::Flux, kind, objects }
            if kind == "HelmRelease" && !objects.is_empty())
            || matches!(c, HealthChange::Upsert(HealthObject::Flux(_)))
    })
    .await;
    let names: Vec<String> = pods_in(&c)
        .into_iter()
        .filter_map(|o| match o {
            HealthObject::Flux(f) => Some(format!("{}/{}", f.kind.name(), f.name)),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["HelmRelease/broken"]);
    drop(rx);
    tokio::time::timeout(T, watch).await.unwrap().unwrap();
    drop(sim);
}

/// The pod log API follow: a crash-looping pod's last run, as LogLines labelled as Promtail
/// labels them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_looping_pods_log_is_followed() {
    let (sim, client, _dir) = cluster().await;
    sim.inject(Fault::CrashLoop {
        namespace: "default".into(),
        name: "broken".into(),
    });
    apply_yaml(&client, CRASHING).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), "default");
    let name = tokio::time::timeout(T, async {
        use futures::StreamExt;
        use kube::runtime::WatchStreamExt;
        let mut w = kube::runtime::watcher(pods.clone(), Default::default())
            .applied_objects()
            .boxed();
        while let Some(p) = w.next().await {
            let Ok(p) = p else { continue };
            let terminated = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c.last_state
                            .as_ref()
                            .is_some_and(|l| l.terminated.is_some())
                    })
                });
            if terminated {
                return p.metadata.name.clone().unwrap();
            }
        }
        panic!("the pod watch ended");
    })
    .await
    .expect("a pod with a terminated last state");
    let (tx, mut rx) = mpsc::channel(64);
    let req = PodLogRequest {
        namespace: "default".into(),
        pod: name.clone(),
        container: Some("app".into()),
    };
    tokio::spawn(pod_logs::follow(client.clone(), req, tx));
    let lines = tokio::time::timeout(T, async {
        let mut all = Vec::new();
        while let Some(e) = rx.recv().await {
            match e {
                PodLogEvent::Lines(l) => {
                    all.extend(l);
                    if all.iter().any(|l| l.line.contains("database unreachable")) {
                        return all;
                    }
                }
                PodLogEvent::Failed(f) => panic!("{f}"),
                _ => {}
            }
        }
        all
    })
    .await
    .unwrap();
    let l = lines
        .iter()
        .find(|l| l.line.contains("database unreachable"))
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert_eq!(l.labels.get("pod"), Some(&name));
    assert_eq!(
        l.labels.get("namespace").map(String::as_str),
        Some("default")
    );
    assert!(l.ts_ns > 0, "the timestamp comes from timestamps=true");
    drop(sim);
}
