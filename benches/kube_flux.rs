//! The simulator's Flux on this repository's tree: the kustomize subset building every path
//! the tree's Flux Kustomizations point at, and a whole reconcile (gotk-sync applied, then
//! every Kustomization Ready: source fetch, 25 builds, server-side apply of the tree, 13 Helm
//! installs with their Deployments and pods, health checks) in the in-process simulator.
//!
//! cargo bench --profile dev --bench kube-flux   (figures in docs/performance.md)

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::sim::kube::controllers::Timing;
use homelab::sim::kube::flux::kustomize::{Dir, build};
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::store::{Patch, WriteOpts};
use homelab::sim::kube::{KubeSim, SimOptions};
use serde::Deserialize as _;
use serde_json::Value;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const URL: &str = "ssh://git@github.com/funoffshore/homelab.git";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter_map(|y| serde_json::to_value(y).ok())
        .filter(|v: &Value| v.is_object())
        .collect()
}

/// The paths of the tree's Flux Kustomizations.
fn paths() -> Vec<String> {
    ["gotk-sync.yaml", "platform.yaml", "apps.yaml"]
        .iter()
        .flat_map(|f| docs(&root().join("cluster/kubernetes/flux").join(f)))
        .filter(|d| d["kind"] == "Kustomization")
        .map(|d| d["spec"]["path"].as_str().unwrap().to_string())
        .collect()
}

fn kustomize_tree(c: &mut Criterion) {
    let files = Dir(root());
    let paths = paths();
    c.bench_function("kustomize_build_every_flux_path", |b| {
        b.iter(|| {
            let n: usize = paths.iter().map(|p| build(&files, p).unwrap().len()).sum();
            black_box(n)
        })
    });
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn git_copy(dir: &Path) -> PathBuf {
    let work = dir.join("repo");
    copy_dir(
        &root().join("cluster/kubernetes"),
        &work.join("cluster/kubernetes"),
    );
    let repo = git2::Repository::init_opts(
        &work,
        git2::RepositoryInitOptions::new().initial_head("main"),
    )
    .unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("bench", "bench@example.invalid").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "tree", &tree, &[])
        .unwrap();
    work
}

fn all_ready(sim: &KubeSim, want: usize) -> bool {
    let k = (
        "kustomize.toolkit.fluxcd.io".to_string(),
        "kustomizations".to_string(),
    );
    let all = homelab::sim::kube::select::Selectors::parse(None, None).unwrap_or_default();
    let Ok(list) = sim.store().list(&k, None, &all, None, None) else {
        return false;
    };
    list.items.len() == want
        && list.items.iter().all(|ks| {
            ks["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            })
        })
}

/// One whole reconcile: start, bootstrap, wait until every Kustomization is Ready.
async fn reconcile(work: &Path, want: usize) -> Duration {
    let sim = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(Duration::from_secs(3600))),
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
    sim.install_flux().unwrap();
    sim.serve_git(URL, work);
    let mut events = sim.store().subscribe();
    let start = Instant::now();
    let store = sim.store();
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}});
    store
        .put(&("".into(), "namespaces".into()), ns, "kubectl")
        .unwrap();
    for doc in docs(&work.join("cluster/kubernetes/flux/gotk-sync.yaml")) {
        let rt = store
            .for_kind(
                doc["apiVersion"].as_str().unwrap(),
                doc["kind"].as_str().unwrap(),
            )
            .unwrap();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        store
            .patch(
                &rt.key(),
                "flux-system",
                &name,
                Patch::Apply(doc),
                &WriteOpts::manager("kubectl"),
            )
            .unwrap();
    }
    // The Kustomizations decrypt with sops-age: an empty key set is enough (nothing is encrypted).
    let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "sops-age", "namespace": "flux-system"}, "data": {}});
    store
        .put(&("".into(), "secrets".into()), secret, "kubectl")
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    while !all_ready(&sim, want) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => panic!("the tree did not reconcile in 300 s"),
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(_)) => panic!("store closed"),
        }
    }
    start.elapsed()
}

fn flux_tree(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let work = git_copy(dir.path());
    let want = paths().len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("flux");
    g.sample_size(10);
    g.bench_function(
        "reconcile_the_whole_tree_until_every_kustomization_is_ready",
        |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(reconcile(&work, want));
                }
                total
            })
        },
    );
    g.finish();
}

criterion_group!(benches, kustomize_tree, flux_tree);
criterion_main!(benches);
