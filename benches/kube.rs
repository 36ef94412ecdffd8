//! The Kubernetes side at scale, against the kube simulator on loopback (HTTPS, no controllers):
//!
//! - `sync`: kube::runtime reflectors (typed Pods, dynamic Flux objects: the caches the health
//!   pane keeps) list and watch 5,000 pods and 500 Flux objects until every store is ready and
//!   a change made after that has arrived through the pods watch;
//!   The health pane itself does not keep reflectors of whole objects: `pane_pipeline` times
//!   what it runs, `backends::kube::health::watch` (watchers converted to the pane's small
//!   records, batched) applied into the pane's `HealthModel`;
//! - `rss`: the same caches in a child process (this binary again), its VmHWM and VmRSS read
//!   from `/proc/self/status`; the last run holds the pane's model instead;
//! - `server`: the simulator's own list (full, paged by 500) and watch replay of the 5,000 pods;
//! - `apply`: server-side apply of every document `kubectl kustomize` renders for
//!   cluster/kubernetes (the Flux entry point and every Flux Kustomization path) through
//!   `backends::kube::apply`, into a fresh simulator whose CRDs are registered first;
//! - `discovery`: 200 CRDs served; `backends::kube::discovery` (kube-rs aggregated discovery)
//!   and, side by side, `kubectl api-resources` with a fresh cache.
//!
//! cargo bench --profile dev --bench kube            # all groups
//! cargo bench --profile dev --bench kube -- sync    # one group: sync | rss | server | apply | discovery
//! cargo bench --profile dev --bench kube -- 'sync|rss'   # several
//!
//! Method and figures: docs/performance.md, "Kubernetes".

use criterion::{BatchSize, Criterion, criterion_group};
use futures::StreamExt;
use homelab::backends::kube::apply::{self, ApplyOptions, Manifest};
use homelab::backends::kube::{client, discovery::Resolver, health};
use homelab::domain::health::{HealthChange, HealthObject};
use homelab::screens::console::panes::health::model::HealthModel;
use homelab::sim::kube::store::{Store, WriteOpts};
use homelab::sim::kube::{KubeSim, SimOptions};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use serde_json::{Value, json};
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PODS: usize = 5_000;
const NAMESPACES: usize = 50;
/// GitRepositories, HelmRepositories, Kustomizations, HelmReleases: 500 in all.
const FLUX: [(&str, &str, &str, &str, usize); 4] = [
    (
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        "gitrepositories",
        50,
    ),
    (
        "source.toolkit.fluxcd.io",
        "v1",
        "HelmRepository",
        "helmrepositories",
        50,
    ),
    (
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        "kustomizations",
        200,
    ),
    (
        "helm.toolkit.fluxcd.io",
        "v2",
        "HelmRelease",
        "helmreleases",
        200,
    ),
];
const DISCOVERY_CRDS: usize = 200;
const ROLE: &str = "HOMELAB_KUBE_BENCH_ROLE";
const KUBECONFIG: &str = "HOMELAB_KUBE_BENCH_KUBECONFIG";
/// "1": the child drops managedFields before caching (kube-rs `WatchStreamExt::modify`); "2":
/// it also cuts pods down to what the health pane shows; "3": it runs the health pane's own
/// pipeline (`backends::kube::health::watch` into a `HealthModel`) instead of reflectors.
const STRIP: &str = "HOMELAB_KUBE_BENCH_STRIP";

/// What the caches drop before storing an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strip {
    None,
    ManagedFields,
    Pane,
    PanePipeline,
}

/// Whether the command line's filter (criterion's, a substring here) selects `group`; groups
/// left out skip their setup too.
fn wanted(group: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty()
        || filters
            .iter()
            .flat_map(|f| f.split('|'))
            .any(|alt| group.starts_with(alt) || alt.starts_with(group))
}

fn key(group: &str, plural: &str) -> (String, String) {
    (group.to_string(), plural.to_string())
}

/// A CRD as the vendors ship them: status subresource, Ready/Status/Age printer columns.
fn crd(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                      "singular": kind.to_lowercase()},
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{
                "name": version, "served": true, "storage": true,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"},
                    {"name": "Status", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].message"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
                ],
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
            }]
        }
    })
}

fn register(store: &Store, crd: Value) {
    store
        .put(
            &key("apiextensions.k8s.io", "customresourcedefinitions"),
            crd,
            "bench",
        )
        .expect("CRD accepted");
}

/// A Running, Ready pod the way the kubelet reports one (about 3 KB of JSON).
fn pod(ns: &str, i: usize) -> Value {
    let app = format!("app-{}", i % 100);
    let conditions: Vec<Value> = [
        "PodReadyToStartContainers",
        "Initialized",
        "Ready",
        "ContainersReady",
        "PodScheduled",
    ]
    .iter()
    .map(|t| json!({"type": t, "status": "True", "lastTransitionTime": "2026-12-01T10:00:05Z"}))
    .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{app}-7d4b9c8f6d-{i:05}"), "namespace": ns,
            "labels": {"app.kubernetes.io/name": app, "pod-template-hash": "7d4b9c8f6d"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "name": format!("{app}-7d4b9c8f6d"), "uid": "0b6f1d0e-8d1c-4c59-9b83-2d4f0f1c2a11",
                "controller": true, "blockOwnerDeletion": true}]
        },
        "spec": {
            "nodeName": format!("k3s-agent-{}", i % 3),
            "containers": [{
                "name": "app", "image": format!("ghcr.io/example/{app}:1.4.2"),
                "ports": [{"name": "http", "containerPort": 8080}],
                "env": [{"name": "LOG_LEVEL", "value": "info"}],
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}}
            }]
        },
        "status": {
            "phase": "Running", "podIP": format!("10.42.{}.{}", i / 250, i % 250),
            "hostIP": format!("192.0.2.{}", i % 3), "startTime": "2026-12-01T10:00:00Z",
            "qosClass": "Burstable",
            "conditions": conditions,
            "containerStatuses": [{
                "name": "app", "ready": true, "started": true, "restartCount": 0,
                "image": format!("ghcr.io/example/{app}:1.4.2"),
                "imageID": format!("ghcr.io/example/{app}@sha256:{:064x}", i),
                "containerID": format!("containerd://{:064x}", i * 7919),
                "state": {"running": {"startedAt": "2026-12-01T10:00:04Z"}}
            }]
        }
    })
}

fn flux_object(kind: &str, group: &str, version: &str, i: usize) -> Value {
    let revision = format!("main@sha1:{:040x}", i * 104_729);
    let spec = match kind {
        "GitRepository" => json!({"url": format!("https://git.example.com/team-{i}/repo.git"),
            "interval": "1m", "ref": {"branch": "main"}}),
        "HelmRepository" => {
            json!({"url": format!("https://charts.example.com/{i}"), "interval": "1h"})
        }
        "Kustomization" => {
            json!({"path": format!("./cluster/kubernetes/apps/app-{i}"), "prune": true,
            "interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}})
        }
        _ => json!({"interval": "30m", "chart": {"spec": {"chart": format!("chart-{i}"),
            "version": "1.2.3", "sourceRef": {"kind": "HelmRepository", "name": format!("repo-{}", i % 50)}}}}),
    };
    json!({
        "apiVersion": format!("{group}/{version}"), "kind": kind,
        "metadata": {"name": format!("{}-{i}", kind.to_lowercase()), "namespace": "flux-system",
                     "finalizers": ["finalizers.fluxcd.io"]},
        "spec": spec,
        "status": {
            "observedGeneration": 1,
            "lastAppliedRevision": revision,
            "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                "message": format!("Applied revision: {revision}"), "observedGeneration": 1,
                "lastTransitionTime": "2026-12-01T10:00:00Z"}]
        }
    })
}

/// A simulator (no controllers) holding 5,000 pods in 50 namespaces and 500 Flux objects.
async fn populated() -> KubeSim {
    let sim = KubeSim::start(SimOptions::default()).await.expect("sim");
    let store = sim.store();
    let ns_key = key("", "namespaces");
    let mut names: Vec<String> = (0..NAMESPACES).map(|i| format!("team-{i:02}")).collect();
    names.push("flux-system".into());
    for ns in &names {
        store
            .create(
                &ns_key,
                "",
                json!({"metadata": {"name": ns}}),
                &WriteOpts::manager("bench"),
            )
            .expect("namespace");
    }
    for i in 0..PODS {
        store
            .put(&key("", "pods"), pod(&names[i % NAMESPACES], i), "kubelet")
            .expect("pod");
    }
    for (group, version, kind, plural, n) in FLUX {
        register(store, crd(group, version, kind, plural, true));
        for i in 0..n {
            store
                .put(
                    &key(group, plural),
                    flux_object(kind, group, version, i),
                    "bench",
                )
                .expect("flux object");
        }
    }
    sim
}

/// Write the simulator's kubeconfig into `dir`.
fn kubeconfig(sim: &KubeSim, dir: &Path) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(&path, sim.kubeconfig(&sim.url())).expect("kubeconfig");
    path
}

/// The health pane's caches: reflectors on every Pod and on the four Flux kinds, each driven by
/// its own task. Resolves once every store is ready (the initial list is in) and a label the
/// caller changes after that (`touch`) has come through the pods watch. The stores are
/// returned so the caller can hold them (RSS) or drop them.
async fn sync_caches(
    client: &kube::Client,
    cfg: &watcher::Config,
    strip: Strip,
    touch: impl FnOnce(),
) -> (
    reflector::Store<Pod>,
    Vec<reflector::Store<DynamicObject>>,
    Vec<tokio::task::JoinHandle<()>>,
) {
    let mut tasks = vec![];
    let (pods, writer) = reflector::store::<Pod>();
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::channel::<()>(1);
    let stream = watcher(Api::<Pod>::all(client.clone()), cfg.clone())
        .default_backoff()
        .modify(move |p| {
            if strip != Strip::None {
                p.metadata.managed_fields = None;
            }
            if strip == Strip::Pane {
                p.metadata.annotations = None;
                let node = p.spec.as_ref().and_then(|s| s.node_name.clone());
                p.spec = Some(k8s_openapi::api::core::v1::PodSpec {
                    node_name: node,
                    ..Default::default()
                });
            }
        })
        .reflect(writer)
        .applied_objects();
    tasks.push(tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(ev) = stream.next().await {
            if let Ok(p) = ev
                && p.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("bench"))
                    .is_some()
            {
                let _ = seen_tx.try_send(());
            }
        }
    }));
    let mut flux = vec![];
    for (group, version, kind, plural, _) in FLUX {
        let ar =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let writer = reflector::store::Writer::<DynamicObject>::new(ar.clone());
        let reader = writer.as_reader();
        let api = Api::<DynamicObject>::all_with(client.clone(), &ar);
        let stream = watcher(api, cfg.clone())
            .default_backoff()
            .modify(move |o| {
                if strip != Strip::None {
                    o.metadata.managed_fields = None;
                }
            })
            .reflect(writer)
            .touched_objects();
        tasks.push(tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while stream.next().await.is_some() {}
        }));
        flux.push(reader);
    }
    pods.wait_until_ready().await.expect("pods ready");
    for f in &flux {
        f.wait_until_ready().await.expect("flux ready");
    }
    touch();
    seen_rx
        .recv()
        .await
        .expect("the change came through the watch");
    (pods, flux, tasks)
}

/// Change one pod's `bench` label (a MODIFIED event for the pods watch).
fn touch_pod(store: &Store, n: u64) {
    let k = key("", "pods");
    let mut p = store.get(&k, TOUCHED.0, TOUCHED.1).expect("pod 0");
    p["metadata"]["labels"]["bench"] = json!(n.to_string());
    store.put(&k, p, "bench").expect("touch");
}

/// The pod [`touch_pod`] changes.
const TOUCHED: (&str, &str) = ("team-00", "app-0-7d4b9c8f6d-00000");

/// The health pane's own pipeline: `backends::kube::health::watch` (watchers on nodes, pods,
/// warning events, workloads and every Flux kind served, converted to the pane's records and
/// batched) applied batch by batch into the pane's `HealthModel` (which rebuilds its rows after
/// each batch, as on screen). Resolves once every watch has listed (`Connected`) and a change
/// made after that (`touch`) has arrived. The model is returned so the caller can hold it.
async fn sync_pane(
    client: &kube::Client,
    touch: impl FnOnce(),
) -> (HealthModel, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let task = tokio::spawn(health::watch(client.clone(), tx));
    let mut model = HealthModel::default();
    let mut touch = Some(touch);
    while let Some(batch) = rx.recv().await {
        let seen = touch.is_none()
            && batch.iter().any(|c| {
                matches!(c, HealthChange::Upsert(HealthObject::Pod(p))
                    if (p.namespace.as_str(), p.name.as_str()) == TOUCHED)
            });
        model.apply(batch);
        if seen {
            return (model, task);
        }
        if model.connected
            && let Some(touch) = touch.take()
        {
            touch();
        }
    }
    panic!("the health watch ended before the change arrived");
}

fn sync(c: &mut Criterion) {
    if !wanted("sync") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt.block_on(populated());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = kubeconfig(&sim, dir.path());
    let client = rt
        .block_on(client::client_for(&path, "default"))
        .expect("client");
    let mut g = c.benchmark_group("sync");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    let mut n = 0u64;
    // The default: a paged list (500 per page), then a watch from its version; and the
    // streaming list (`sendInitialEvents`): one watch that starts with every object.
    for (name, cfg) in [
        ("reflectors_5000_pods_500_flux", watcher::Config::default()),
        (
            "reflectors_5000_pods_500_flux_streaming_list",
            watcher::Config::default().streaming_lists(),
        ),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                rt.block_on(async {
                    let store = sim.store().clone();
                    let (pods, flux, tasks) =
                        sync_caches(&client, &cfg, Strip::None, || touch_pod(&store, n)).await;
                    assert_eq!(pods.state().len(), PODS);
                    assert_eq!(flux.iter().map(|f| f.state().len()).sum::<usize>(), 500);
                    for t in tasks {
                        t.abort();
                    }
                })
            })
        });
    }
    g.bench_function("health_pane_pipeline_5000_pods_500_flux", |b| {
        b.iter(|| {
            n += 1;
            rt.block_on(async {
                let store = sim.store().clone();
                let (model, task) = sync_pane(&client, || touch_pod(&store, n)).await;
                assert_eq!(model.pods.len(), PODS);
                assert_eq!(model.flux.len(), 500);
                task.abort();
            })
        })
    });
    g.finish();
    let store = sim.store().clone();
    let (wall, cpu) = (Instant::now(), cpu_ms());
    rt.block_on(async {
        let (_, task) = sync_pane(&client, || touch_pod(&store, 0)).await;
        task.abort();
    });
    println!(
        "sync: health pane pipeline: {} ms wall, {} ms CPU (client and simulator)",
        wall.elapsed().as_millis(),
        cpu_ms() - cpu
    );
    let (wall, cpu) = (Instant::now(), cpu_ms());
    rt.block_on(async {
        let (_, _, tasks) = sync_caches(&client, &watcher::Config::default(), Strip::None, || {
            touch_pod(&store, 0)
        })
        .await;
        for t in tasks {
            t.abort();
        }
    });
    println!(
        "sync: {} ms wall, {} ms CPU (client and simulator)",
        wall.elapsed().as_millis(),
        cpu_ms() - cpu
    );
}

/// The `rss` group: run this binary again as the client (`ROLE=client`), which syncs the caches
/// and prints its memory; the simulator stays in this process.
fn rss(c: &mut Criterion) {
    if !wanted("rss") {
        return;
    }
    let _ = c;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt.block_on(populated());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = kubeconfig(&sim, dir.path());
    let exe = std::env::current_exe().expect("own path");
    let store = sim.store().clone();
    for strip in ["0", "1", "2", "3"] {
        let server_cpu = cpu_ms();
        let out = rt.block_on(async {
            let mut child = tokio::process::Command::new(&exe)
                .env(ROLE, "client")
                .env(KUBECONFIG, &path)
                .env(STRIP, strip)
                .stdout(std::process::Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .expect("child");
            // The child asks for the change once its stores are ready (a line on stdout).
            let stdout = child.stdout.take().expect("stdout");
            let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
            let mut report = vec![];
            while let Ok(Some(l)) = lines.next_line().await {
                if l == "touch" {
                    touch_pod(&store, 1 + u64::from(strip.as_bytes()[0] - b'0'));
                } else {
                    report.push(l);
                }
            }
            let status = child.wait().await.expect("child status");
            assert!(status.success(), "client child failed: {status}");
            report
        });
        for l in out {
            println!("{l}");
        }
        println!(
            "rss: the simulator (this process) spent {} ms CPU serving that sync",
            cpu_ms() - server_cpu
        );
    }
}

/// CPU time (user + system) of this process so far, in ms.
fn cpu_ms() -> u64 {
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0;
    }
    let ms = |t: libc::timeval| (t.tv_sec as u64) * 1000 + (t.tv_usec as u64) / 1000;
    ms(u.ru_utime) + ms(u.ru_stime)
}

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The child: sync the caches once, hold them, print memory.
fn client_role() {
    let path = std::env::var(KUBECONFIG).expect("kubeconfig path");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let base = status_kib("VmRSS:");
    let strip = match std::env::var(STRIP).as_deref() {
        Ok("1") => Strip::ManagedFields,
        Ok("2") => Strip::Pane,
        Ok("3") => Strip::PanePipeline,
        _ => Strip::None,
    };
    rt.block_on(async {
        let client = client::client_for(Path::new(&path), "default")
            .await
            .expect("client");
        let started = Instant::now();
        let cpu = cpu_ms();
        if strip == Strip::PanePipeline {
            let (model, task) = sync_pane(&client, || println!("touch")).await;
            let cpu = cpu_ms() - cpu;
            println!(
                "rss: client holding the health pane's model ({} pods, {} Flux, {} rows): VmHWM {} MiB, VmRSS {} MiB (before the client: {} MiB); synced in {} ms wall, {cpu} ms CPU (client process)",
                model.pods.len(),
                model.flux.len(),
                model.rows.len(),
                status_kib("VmHWM:") / 1024,
                status_kib("VmRSS:") / 1024,
                base / 1024,
                started.elapsed().as_millis()
            );
            task.abort();
            return;
        }
        let (pods, flux, tasks) =
            sync_caches(&client, &watcher::Config::default(), strip, || {
                println!("touch")
            })
            .await;
        let cpu = cpu_ms() - cpu;
        let took = started.elapsed();
        let held: usize = pods.state().len() + flux.iter().map(|f| f.state().len()).sum::<usize>();
        println!(
            "rss: client holding {held} objects ({} pods, {} Flux){}: VmHWM {} MiB, VmRSS {} MiB (before the client: {} MiB); synced in {} ms wall, {cpu} ms CPU (client process)",
            pods.state().len(),
            held - pods.state().len(),
            match strip {
                Strip::None => "",
                Strip::ManagedFields => ", managedFields dropped",
                Strip::Pane => ", pods cut to what the pane shows (metadata without managedFields and annotations, spec.nodeName, status)",
                Strip::PanePipeline => unreachable!("answered above"),
            },
            status_kib("VmHWM:") / 1024,
            status_kib("VmRSS:") / 1024,
            base / 1024,
            took.as_millis()
        );
        for t in tasks {
            t.abort();
        }
    });
}

fn server(c: &mut Criterion) {
    if !wanted("server") {
        return;
    }
    use homelab::sim::kube::select::Selectors;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt.block_on(populated());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = kubeconfig(&sim, dir.path());
    let client = rt
        .block_on(client::client_for(&path, "default"))
        .expect("client");
    let pods: Api<Pod> = Api::all(client);
    let store = sim.store().clone();
    let all = Selectors::parse(None, None).expect("selectors");
    let mut g = c.benchmark_group("server");
    g.sample_size(10);
    g.bench_function("store_list_5000_pods", |b| {
        b.iter(|| {
            black_box(
                store
                    .list_shared(&key("", "pods"), None, &all, None, None)
                    .expect("list"),
            )
        })
    });
    g.bench_function("store_list_5000_pods_paged_500", |b| {
        b.iter(|| {
            let mut cont: Option<String> = None;
            let mut n = 0;
            loop {
                let page = store
                    .list_shared(&key("", "pods"), None, &all, Some(500), cont.as_deref())
                    .expect("page");
                n += page.items.len();
                if page.continue_.is_empty() {
                    break;
                }
                cont = Some(page.continue_);
            }
            assert_eq!(n, PODS);
        })
    });
    g.bench_function("https_list_5000_pods", |b| {
        b.iter(|| {
            let l = rt
                .block_on(pods.list(&kube::api::ListParams::default()))
                .expect("list");
            assert_eq!(l.items.len(), PODS);
        })
    });
    g.bench_function("https_list_5000_pods_paged_500", |b| {
        b.iter(|| {
            let mut lp = kube::api::ListParams::default().limit(500);
            let mut n = 0;
            loop {
                let l = rt.block_on(pods.list(&lp)).expect("page");
                n += l.items.len();
                match l.metadata.continue_ {
                    Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
                    _ => break,
                }
            }
            assert_eq!(n, PODS);
        })
    });
    g.bench_function("store_watch_replay_5000_pods", |b| {
        b.iter(|| {
            black_box(
                store
                    .watch(&key("", "pods"), None)
                    .expect("watch")
                    .replay
                    .len(),
            )
        })
    });
    g.finish();
}

/// Every document of this repository's tree: the Flux entry point and each path a Flux
/// Kustomization in it names, each rendered by `kubectl kustomize`.
fn rendered_tree() -> Option<Vec<Manifest>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let flux = root.join("cluster/kubernetes/flux");
    let mut paths = vec![flux.clone()];
    for entry in std::fs::read_dir(&flux).ok()?.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for l in text.lines() {
            if let Some(p) = l.trim().strip_prefix("path: ./")
                && p != "cluster/kubernetes/flux"
            {
                paths.push(root.join(p));
            }
        }
    }
    let mut out = vec![];
    for p in paths {
        let o = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(&p)
            .output()
            .ok()?;
        assert!(
            o.status.success(),
            "kubectl kustomize {}: {}",
            p.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let text = String::from_utf8(o.stdout).expect("utf-8");
        out.extend(apply::parse(&p.display().to_string(), &text).expect("parse"));
    }
    Some(out)
}

const CLUSTER_SCOPED: &[&str] = &[
    "ClusterIssuer",
    "GatewayClass",
    "ClusterRole",
    "ClusterRoleBinding",
];

fn plural(kind: &str) -> String {
    let k = kind.to_lowercase();
    match k.strip_suffix('y') {
        Some(stem) if !stem.ends_with(['a', 'e', 'o', 'u']) => format!("{stem}ies"),
        _ if k.ends_with('s') => format!("{k}es"),
        _ => format!("{k}s"),
    }
}

/// A simulator with a CRD for every kind of `docs` it does not serve built in, and the
/// `flux-system` namespace `flux install` creates (the tree applies into it).
async fn sim_for(docs: &[Manifest]) -> KubeSim {
    let sim = KubeSim::start(SimOptions::default()).await.expect("sim");
    sim.store()
        .create(
            &key("", "namespaces"),
            "",
            json!({"metadata": {"name": "flux-system"}}),
            &WriteOpts::manager("flux"),
        )
        .expect("flux-system");
    let mut done = std::collections::BTreeSet::new();
    for m in docs {
        let gvk = &m.gvk;
        if sim
            .store()
            .for_kind(&gvk.api_version(), &gvk.kind)
            .is_some()
            || !done.insert((gvk.group.clone(), gvk.version.clone(), gvk.kind.clone()))
        {
            continue;
        }
        register(
            sim.store(),
            crd(
                &gvk.group,
                &gvk.version,
                &gvk.kind,
                &plural(&gvk.kind),
                !CLUSTER_SCOPED.contains(&gvk.kind.as_str()),
            ),
        );
    }
    sim
}

fn apply_tree(c: &mut Criterion) {
    if !wanted("apply") {
        return;
    }
    let Some(docs) = rendered_tree() else {
        eprintln!("SKIP apply: kubectl is not on PATH");
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("apply");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    let n = docs.len();
    g.bench_function(format!("ssa_whole_tree_{n}_docs"), |b| {
        b.iter_batched(
            || {
                rt.block_on(async {
                    let sim = sim_for(&docs).await;
                    let path = kubeconfig(&sim, dir.path());
                    let client = client::client_for(&path, "default").await.expect("client");
                    let mut resolver = Resolver::new(client.clone());
                    resolver.refresh().await.expect("discovery");
                    (sim, client, resolver)
                })
            },
            |(sim, client, mut resolver)| {
                let applied = rt
                    .block_on(apply::apply(
                        &client,
                        &mut resolver,
                        &docs,
                        &ApplyOptions::default(),
                    ))
                    .expect("apply");
                assert_eq!(applied.len(), n);
                drop(sim);
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
    // One more run, its CPU time (client and simulator: both in this process).
    let (sim, client, mut resolver) = rt.block_on(async {
        let sim = sim_for(&docs).await;
        let path = kubeconfig(&sim, dir.path());
        let client = client::client_for(&path, "default").await.expect("client");
        let mut resolver = Resolver::new(client.clone());
        resolver.refresh().await.expect("discovery");
        (sim, client, resolver)
    });
    let (wall, cpu) = (Instant::now(), cpu_ms());
    rt.block_on(apply::apply(
        &client,
        &mut resolver,
        &docs,
        &ApplyOptions::default(),
    ))
    .expect("apply");
    println!(
        "apply: {n} documents in {} ms wall, {} ms CPU (client and simulator)",
        wall.elapsed().as_millis(),
        cpu_ms() - cpu
    );
    drop(sim);
}

fn discovery(c: &mut Criterion) {
    if !wanted("discovery") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let sim = rt
        .block_on(KubeSim::start(SimOptions::default()))
        .expect("sim");
    for i in 0..DISCOVERY_CRDS {
        let group = format!("g{}.bench.example.com", i / 4);
        let version = ["v1", "v1beta1", "v2", "v1alpha1"][i % 4];
        let kind = format!("Widget{i}");
        register(
            sim.store(),
            crd(&group, version, &kind, &format!("widget{i}s"), i % 5 != 0),
        );
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let path = kubeconfig(&sim, dir.path());
    let client = rt
        .block_on(client::client_for(&path, "default"))
        .expect("client");
    let mut g = c.benchmark_group("discovery");
    g.sample_size(10);
    g.bench_function(format!("kube_rs_aggregated_{DISCOVERY_CRDS}_crds"), |b| {
        b.iter(|| {
            let mut r = Resolver::new(client.clone());
            rt.block_on(r.refresh()).expect("discovery");
            let gvk = GroupVersionKind::gvk("g49.bench.example.com", "v1alpha1", "Widget199");
            assert!(rt.block_on(r.resolve(&gvk)).expect("resolve").is_some());
        })
    });
    if which_kubectl() {
        let mut run = 0u32;
        g.bench_function(
            format!("kubectl_api_resources_{DISCOVERY_CRDS}_crds"),
            |b| {
                b.iter(|| {
                    run += 1;
                    // A fresh discovery cache each run: kubectl asks the server every time.
                    let cache = dir.path().join(format!("cache-{run}"));
                    let o = std::process::Command::new("kubectl")
                        .arg("--kubeconfig")
                        .arg(&path)
                        .arg("--cache-dir")
                        .arg(&cache)
                        .args(["api-resources", "--no-headers"])
                        .env("HOME", dir.path())
                        .output()
                        .expect("kubectl");
                    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
                    let rows = String::from_utf8_lossy(&o.stdout).lines().count();
                    assert!(rows > DISCOVERY_CRDS, "{rows} rows");
                })
            },
        );
    }
    g.finish();
}

fn which_kubectl() -> bool {
    std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok_and(|o| o.status.success())
}

criterion_group!(benches, sync, rss, server, apply_tree, discovery);

fn main() {
    if std::env::var(ROLE).as_deref() == Ok("client") {
        client_role();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
