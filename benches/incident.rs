//! The incident view's frame (docs/performance.md, "Incident view"): the whole console drawn
//! with the incident overlay open and every section answered, 50 pods and a 2,000-line logs
//! window (the most the gatherer keeps), at 200x60 and 80x24.
//!
//! Run: `cargo bench --bench incident` (a release build), or `cargo bench --profile dev --bench
//! incident` for figures on a dev build (say which next to them).

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::domain::alerts::{Alert, AlertState};
use homelab::domain::incident::{
    FluxOwner, Incident, IncidentUpdate, LogsOrigin, LogsWindow, Part, PodRow, VmFacts, VmRow,
    Workload, WorkloadRef,
};
use homelab::domain::logs::LogLine;
use homelab::screens::console::incident::{IncidentView, Section};
use homelab::screens::console::state::{ConsoleState, EndpointsShown};
use homelab::screens::console::view::{Cx, render_console};
use homelab::sim::loki::Generator;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;

const STARTS: i64 = 1_795_455_540;

fn state() -> ConsoleState {
    let labels = [
        ("alertname", "KubePodCrashLooping"),
        ("namespace", "media"),
        ("pod", "web-0"),
        ("severity", "warning"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut alert = Alert::new(labels, Default::default(), AlertState::Firing);
    alert.active_since = Some(STARTS);
    let mut st = ConsoleState::new("bench", EndpointsShown::default());
    st.alerts.alerts = vec![alert.clone()];
    st.alerts.select_first();
    let facts = homelab::screens::console::incident::facts(&alert);
    let mut incident = Incident::new(facts);
    let pods: Vec<PodRow> = (0..50)
        .map(|i| PodRow {
            name: format!("web-7d9c8b5f4-{i:05}"),
            status: if i % 7 == 0 {
                "CrashLoopBackOff"
            } else {
                "Running"
            }
            .into(),
            ready: i % 7 != 0,
            restarts: i % 7,
            node: format!("k3s-agent-{}", i % 5),
            last_termination: (i % 7 == 0).then(|| "Error".into()),
        })
        .collect();
    let mut g = Generator::new(5);
    let lines: Vec<LogLine> = (0..2_000)
        .map(|i| {
            let ts = (STARTS - 300) * 1_000_000_000 + i * 150_000_000;
            let (labels, text) = g.line(ts);
            LogLine::new(ts, labels, text)
        })
        .collect();
    for u in [
        IncidentUpdate::Workload(Part::Ready(Workload {
            workload: WorkloadRef {
                kind: "Deployment".into(),
                namespace: "media".into(),
                name: "web".into(),
            },
            pods,
        })),
        IncidentUpdate::Flux(Part::Ready(FluxOwner {
            kind: "HelmRelease".into(),
            namespace: "media".into(),
            name: "web".into(),
            ready: "False".into(),
            reason: "UpgradeFailed".into(),
            message: "Helm upgrade failed for release media/web with chart web@1.2.3: context deadline exceeded".into(),
        })),
        IncidentUpdate::Logs(Part::Ready(LogsWindow {
            from_ns: (STARTS - 300) * 1_000_000_000,
            to_ns: STARTS * 1_000_000_000,
            origin: LogsOrigin::Loki {
                selector: r#"{namespace="media", pod=~"web-.*"}"#.into(),
            },
            lines,
            truncated: true,
            failed_pods: Vec::new(),
        })),
        IncidentUpdate::Vms(Part::Ready(
            (0..5)
                .map(|i| VmRow {
                    node: format!("k3s-agent-{i}"),
                    vm_name: format!("k3s-agent-{i}"),
                    pve_node: format!("pve{}", i % 2 + 1),
                    vmid: 211 + i,
                    facts: Part::Ready(VmFacts {
                        status: "running".into(),
                        qmpstatus: Some("running".into()),
                        cpu: Some(0.25),
                        cpus: Some(4.0),
                        mem: Some(3 << 30),
                        maxmem: Some(8 << 30),
                        uptime: Some(86_400),
                    }),
                })
                .collect(),
        )),
    ] {
        incident.apply(u);
    }
    st.incident = Some(IncidentView {
        incident,
        generation: 1,
        section: Section::Logs,
    });
    st
}

fn frame(c: &mut Criterion) {
    let st = state();
    let theme = homelab::theme::ThemeCatalog::builtin()
        .load("homelab-dark")
        .0;
    let keymap = homelab::keymap::Keymap::builtin();
    let cx = Cx {
        theme: &theme,
        keymap: &keymap,
        now_s: STARTS + 600,
    };
    // The same console without the overlay: what the view adds is the difference.
    let mut bare = state();
    bare.incident = None;
    let mut g = c.benchmark_group("frame");
    for (w, h) in [(200u16, 60u16), (80, 24)] {
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        g.bench_function(format!("console_{w}x{h}_without_the_view"), |b| {
            b.iter(|| {
                term.draw(|f| render_console(black_box(&bare), f, f.area(), &cx))
                    .unwrap();
            })
        });
        g.bench_function(format!("incident_{w}x{h}_50_pods_2000_lines"), |b| {
            b.iter(|| {
                term.draw(|f| render_console(black_box(&st), f, f.area(), &cx))
                    .unwrap();
            })
        });
    }
    g.finish();
}

criterion_group!(benches, frame);
criterion_main!(benches);
