//! The health pane (docs/performance.md, "Health pane"): with 5,000 pods and 500 Flux objects
//! in the model (50 Kustomizations listing 450 HelmReleases, each with a Deployment and its
//! pods; 1 pod in 100 crash-looping; 30 nodes; 200 warning events):
//! - frame: the console drawn at 200x60 with the health pane zoomed (and not zoomed);
//! - rebuild: the initial list applied as one batch (the rows rebuilt once).
//!
//! Run: `cargo bench --profile dev --bench health-pane`.

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::domain::health::{
    FluxKind, FluxObject, HealthChange, HealthObject, InventoryRef, ListKind, NodeHealth,
    NodeUsage, PodHealth, WarningEvent, WorkloadHealth,
};
use homelab::screens::console::panes::health::HealthPane;
use homelab::screens::console::state::{ConsoleState, EndpointsShown, PaneId};
use homelab::screens::console::view::{Cx, render_console};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;

const PODS: usize = 5_000;
const KUSTOMIZATIONS: usize = 50;
const RELEASES_PER_KS: usize = 9;
const NOW: i64 = 1_795_456_800;

fn flux(kind: FluxKind, ns: &str, name: &str, ready: bool) -> FluxObject {
    FluxObject {
        kind,
        namespace: ns.into(),
        name: name.into(),
        ready: Some(ready),
        reason: if ready {
            "ReconciliationSucceeded"
        } else {
            "InstallFailed"
        }
        .into(),
        message: if ready {
            "Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07".into()
        } else {
            "Helm install failed for release: context deadline exceeded".into()
        },
        suspended: false,
        depends_on: Vec::new(),
        source: None,
        inventory: Vec::new(),
        revision: "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07".into(),
    }
}

/// The initial lists of a large cluster as the watches deliver them.
pub fn initial_batch() -> Vec<HealthChange> {
    let mut fluxes = Vec::new();
    let mut workloads = Vec::new();
    let mut releases = Vec::new();
    for k in 0..KUSTOMIZATIONS {
        let mut ks = flux(
            FluxKind::Kustomization,
            "flux-system",
            &format!("ks-{k:02}"),
            k % 10 != 3,
        );
        for r in 0..RELEASES_PER_KS {
            let ns = format!("ns-{k:02}");
            let name = format!("app-{r}");
            ks.inventory.push(InventoryRef {
                namespace: ns.clone(),
                name: name.clone(),
                group: "helm.toolkit.fluxcd.io".into(),
                kind: "HelmRelease".into(),
            });
            fluxes.push(HealthObject::Flux(flux(
                FluxKind::HelmRelease,
                &ns,
                &name,
                (k + r) % 17 != 0,
            )));
            workloads.push(HealthObject::Workload(WorkloadHealth {
                kind: "Deployment".into(),
                namespace: ns.clone(),
                name: name.clone(),
                desired: 2,
                ready: 2,
                release: Some((ns.clone(), name.clone())),
            }));
            releases.push((ns, name));
        }
        fluxes.push(HealthObject::Flux(ks));
    }
    let pods = (0..PODS)
        .map(|i| {
            let (ns, deploy) = &releases[i % releases.len()];
            let looping = i % 100 == 7;
            HealthObject::Pod(PodHealth {
                namespace: ns.clone(),
                name: format!("{deploy}-5d9c8f7b6d-{i:05}"),
                node: format!("node-{:02}", i % 30),
                phase: "Running".into(),
                ready: !looping,
                restarts: if looping { (i % 13) as u32 + 1 } else { 0 },
                waiting: looping.then(|| "CrashLoopBackOff".to_string()),
                last_terminated: looping.then(|| "Error (exit 1)".to_string()),
                owner: Some(("Deployment".into(), deploy.clone())),
                container: "app".into(),
            })
        })
        .collect();
    let nodes = (0..30)
        .map(|i| {
            HealthObject::Node(NodeHealth {
                name: format!("node-{i:02}"),
                ready: Some(i != 4),
                pressure: if i == 9 {
                    vec!["MemoryPressure".into()]
                } else {
                    Vec::new()
                },
                unschedulable: false,
                cpu_millis: 8000,
                memory_bytes: 32 << 30,
            })
        })
        .collect();
    let events = (0..200)
        .map(|i| {
            HealthObject::Event(WarningEvent {
                namespace: format!("ns-{:02}", i % KUSTOMIZATIONS),
                name: format!("ev-{i}"),
                object_kind: "Pod".into(),
                object_name: format!("app-{}-5d9c8f7b6d-{i:05}", i % 9),
                reason: "BackOff".into(),
                message: "Back-off restarting failed container app".into(),
                count: 3,
                last_seen: NOW - i as i64,
            })
        })
        .collect();
    let replace = |list, kind: &str, objects| HealthChange::Replace {
        list,
        kind: kind.into(),
        objects,
    };
    let (ks, hr): (Vec<_>, Vec<_>) = fluxes
        .into_iter()
        .partition(|o| matches!(o, HealthObject::Flux(f) if f.kind == FluxKind::Kustomization));
    vec![
        replace(ListKind::Nodes, "Node", nodes),
        replace(ListKind::Pods, "Pod", pods),
        replace(ListKind::Workloads, "Deployment", workloads),
        replace(ListKind::Flux, "Kustomization", ks),
        replace(ListKind::Flux, "HelmRelease", hr),
        replace(ListKind::Events, "Event", events),
        HealthChange::Usage(
            (0..30)
                .map(|i| {
                    (
                        format!("node-{i:02}"),
                        NodeUsage {
                            cpu_millis: Some(1200),
                            memory_bytes: Some(9 << 30),
                            swap_bytes: Some(0),
                            swap_free_bytes: Some(2 << 30),
                        },
                    )
                })
                .collect(),
        ),
        HealthChange::Connected,
    ]
}

fn state() -> ConsoleState {
    let mut st = ConsoleState::new("bench", EndpointsShown::default());
    st.panes.health = HealthPane::empty(true);
    st.panes.health.apply(initial_batch());
    st.panes.health.conn = homelab::screens::console::conn::ConnState::Live;
    st.focus = PaneId::Health;
    st
}

fn frame(c: &mut Criterion) {
    let theme = homelab::theme::ThemeCatalog::builtin()
        .load("homelab-dark")
        .0;
    let keymap = homelab::keymap::Keymap::builtin();
    let cx = Cx {
        theme: &theme,
        keymap: &keymap,
        now_s: NOW,
    };
    let mut st = state();
    assert!(st.panes.health.model.pods.len() == PODS && st.panes.health.model.flux.len() == 500);
    let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
    let mut g = c.benchmark_group("frame");
    st.zoomed = true;
    g.bench_function("health_zoomed_200x60", |b| {
        b.iter(|| {
            term.draw(|f| render_console(black_box(&st), f, f.area(), &cx))
                .unwrap();
        })
    });
    st.zoomed = false;
    g.bench_function("console_with_health_200x60", |b| {
        b.iter(|| {
            term.draw(|f| render_console(black_box(&st), f, f.area(), &cx))
                .unwrap();
        })
    });
    g.finish();
}

fn rebuild(c: &mut Criterion) {
    let batch = initial_batch();
    c.bench_function("initial_batch_apply", |b| {
        b.iter(|| {
            let mut p = HealthPane::empty(true);
            p.apply(black_box(batch.clone()));
            black_box(p.model.rows.len())
        })
    });
}

criterion_group!(benches, frame, rebuild);
criterion_main!(benches);
