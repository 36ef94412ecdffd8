//! The incident view in the console: opened on the selected alert by the keymap, filled in by
//! injected gatherer answers, closed with Esc, Enter on the logs section opening the logs pane at
//! the window. Frame snapshots (snapshots/console/incident_*): complete, partly loaded, each
//! source failing, an alert without namespace labels, a narrow terminal.

use crate::snapshots::{ev, frames, with_data};
use crate::support;
use homelab::app::App;
use homelab::domain::incident::{
    FluxOwner, IncidentUpdate, LogsOrigin, LogsWindow, Part, PodRow, SourceFailure, VmFacts, VmRow,
    Workload, WorkloadRef,
};
use homelab::domain::logs::{Labels, LogLine};
use homelab::screens::console::events::ConsoleEvent;
use homelab::screens::console::incident::Section;
use homelab::screens::console::state::PaneId;
use std::sync::Arc;

/// 17:39:00Z, when KubePodCrashLooping started (the fixture's activeAt), in seconds.
const STARTS: i64 = 1_795_455_540;
const POD_A: &str = "jellyseer-6d9f7c8b5-2xkqp";
const POD_B: &str = "jellyseer-6d9f7c8b5-h7x2m";

/// The console with KubePodCrashLooping selected and its incident view open.
fn opened() -> App {
    let mut app = with_data();
    support::press(&mut app, "j");
    support::press(&mut app, "i");
    let v = app
        .screens
        .console
        .state
        .incident
        .as_ref()
        .expect("i opens the incident view");
    assert_eq!(v.incident.alert.name, "KubePodCrashLooping");
    assert_eq!(v.incident.alert.starts_at, Some(STARTS));
    app
}

fn update(app: &mut App, update: IncidentUpdate) {
    let generation = app.screens.console.state.incident_generation;
    ev(app, ConsoleEvent::Incident { generation, update });
}

fn pod(name: &str, status: &str, ready: bool, restarts: i32, node: &str) -> PodRow {
    PodRow {
        name: name.into(),
        status: status.into(),
        ready,
        restarts,
        node: node.into(),
        last_termination: (restarts > 0).then(|| "Error".into()),
    }
}

fn workload() -> IncidentUpdate {
    IncidentUpdate::Workload(Part::Ready(Workload {
        workload: WorkloadRef {
            kind: "Deployment".into(),
            namespace: "media".into(),
            name: "jellyseer".into(),
        },
        pods: vec![
            pod(POD_A, "CrashLoopBackOff", false, 7, "k3s-agent-2"),
            pod(POD_B, "Running", true, 0, "k3s-agent-1"),
        ],
    }))
}

fn flux() -> IncidentUpdate {
    IncidentUpdate::Flux(Part::Ready(FluxOwner {
        kind: "HelmRelease".into(),
        namespace: "media".into(),
        name: "jellyseer".into(),
        ready: "False".into(),
        reason: "UpgradeFailed".into(),
        message: "Helm upgrade failed for release media/jellyseer with chart jellyseerr@2.3.0: context deadline exceeded".into(),
    }))
}

fn log_line(secs_before: i64, pod: &str, text: &str) -> LogLine {
    let labels: Labels = [("namespace", "media"), ("pod", pod)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    LogLine::new(
        (STARTS - secs_before) * 1_000_000_000,
        Arc::new(labels),
        text.into(),
    )
}

fn window(origin: LogsOrigin) -> LogsWindow {
    LogsWindow {
        from_ns: (STARTS - 300) * 1_000_000_000,
        to_ns: STARTS * 1_000_000_000,
        origin,
        lines: vec![
            log_line(
                290,
                POD_B,
                "level=info msg=\"request handled\" path=/api/v1/status n=4412",
            ),
            log_line(
                250,
                POD_A,
                "level=info msg=\"starting jellyseerr\" version=2.3.0",
            ),
            log_line(
                249,
                POD_A,
                "level=warn msg=\"database not ready, retrying\" attempt=1",
            ),
            log_line(
                244,
                POD_A,
                "level=error msg=\"connect to postgres:5432: connection refused\"",
            ),
            log_line(243, POD_A, "level=fatal msg=\"exiting\" code=1"),
            log_line(
                120,
                POD_B,
                "level=info msg=\"request handled\" path=/api/v1/request n=4413",
            ),
            log_line(
                61,
                POD_A,
                "level=info msg=\"starting jellyseerr\" version=2.3.0",
            ),
            log_line(
                55,
                POD_A,
                "level=error msg=\"connect to postgres:5432: connection refused\"",
            ),
            log_line(54, POD_A, "level=fatal msg=\"exiting\" code=1"),
        ],
        truncated: false,
        failed_pods: Vec::new(),
    }
}

fn loki_window() -> IncidentUpdate {
    IncidentUpdate::Logs(Part::Ready(window(LogsOrigin::Loki {
        selector: format!(r#"{{namespace="media", pod=~"{POD_A}|{POD_B}"}}"#),
    })))
}

fn row(node: &str, vm: &str, pve: &str, vmid: u32) -> VmRow {
    VmRow {
        node: node.into(),
        vm_name: vm.into(),
        pve_node: pve.into(),
        vmid,
        facts: Part::Loading,
    }
}

fn vm_rows() -> IncidentUpdate {
    IncidentUpdate::Vms(Part::Ready(vec![
        row("k3s-agent-1", "k3s-agent-1", "pve1", 211),
        row("k3s-agent-2", "k3s-agent-2", "pve2", 212),
    ]))
}

fn vm(node: &str, cpu: f64, mem_gib: u64, uptime: u64) -> IncidentUpdate {
    IncidentUpdate::Vm {
        node: node.into(),
        facts: Part::Ready(VmFacts {
            status: "running".into(),
            qmpstatus: Some("running".into()),
            cpu: Some(cpu),
            cpus: Some(4.0),
            mem: Some(mem_gib << 30),
            maxmem: Some(8 << 30),
            uptime: Some(uptime),
        }),
    }
}

fn complete() -> App {
    let mut app = opened();
    for u in [
        workload(),
        flux(),
        loki_window(),
        vm_rows(),
        vm("k3s-agent-1", 0.07, 3, 1_209_600),
        vm("k3s-agent-2", 0.93, 7, 86_400 + 3_600 * 5),
        IncidentUpdate::Done,
    ] {
        update(&mut app, u);
    }
    assert!(
        !app.screens
            .console
            .state
            .incident
            .as_ref()
            .unwrap()
            .incident
            .loading()
    );
    app
}

#[test]
fn incident_complete() {
    let mut app = complete();
    frames("incident_complete", &mut app);
    // The logs section selected shows the Enter hint.
    for _ in 0..3 {
        support::press(&mut app, "j");
    }
    support::assert_frame(
        "console",
        "incident_complete_logs_selected",
        &mut app,
        200,
        60,
    );
}

#[test]
fn incident_partly_loaded() {
    let mut app = opened();
    update(&mut app, workload());
    update(&mut app, vm_rows());
    update(&mut app, vm("k3s-agent-1", 0.07, 3, 1_209_600));
    frames("incident_partly_loaded", &mut app);
}

fn failure(source: &str, host: &str, step: &str, reason: &str) -> SourceFailure {
    SourceFailure::new(source, host, step, reason)
}

#[test]
fn incident_kubernetes_down() {
    let mut app = opened();
    let kube = failure(
        "Kubernetes",
        "context home of /home/op/.kube/config",
        "connect",
        "error trying to connect: tcp connect error: Connection refused (os error 111)",
    );
    update(
        &mut app,
        IncidentUpdate::Workload(Part::Failed(kube.clone())),
    );
    update(
        &mut app,
        IncidentUpdate::Flux(Part::Skipped(
            "no workload to follow to its Flux owner (see Pods)".into(),
        )),
    );
    update(
        &mut app,
        IncidentUpdate::Logs(Part::Failed(failure(
            "Loki",
            "http://loki.home.arpa:3100/",
            "query_range",
            &format!(
                "Loki at http://loki.home.arpa:3100/ is unreachable: connection refused; is it running and is the URL right?; the pod log API cannot stand in: {kube}"
            ),
        ))),
    );
    update(
        &mut app,
        IncidentUpdate::Vms(Part::Skipped(
            "the alert names no node or instance, and no pods were found".into(),
        )),
    );
    update(&mut app, IncidentUpdate::Done);
    frames("incident_kubernetes_down", &mut app);
}

#[test]
fn incident_loki_and_proxmox_down() {
    let mut app = opened();
    update(&mut app, workload());
    update(&mut app, flux());
    let mut w = window(LogsOrigin::PodApi {
        pods: vec![POD_A.into(), POD_B.into()],
        why: "Loki at http://loki.home.arpa:3100/ is unreachable: connection refused; is it running and is the URL right?".into(),
    });
    w.failed_pods.push(failure(
        "Kubernetes",
        "context home of /home/op/.kube/config",
        &format!("logs of pod media/{POD_B} container jellyseer"),
        "no answer within 10s",
    ));
    update(&mut app, IncidentUpdate::Logs(Part::Ready(w)));
    update(&mut app, vm_rows());
    for (node, vmid) in [("k3s-agent-1", 211), ("k3s-agent-2", 212)] {
        update(
            &mut app,
            IncidentUpdate::Vm {
                node: node.into(),
                facts: Part::Failed(failure(
                    "Proxmox VE",
                    "https://pve.home.arpa:8006",
                    &format!("status/current of VM {vmid} ({node}) on pve{}", vmid - 210),
                    &format!(
                        "GET /nodes/pve{n}/qemu/{vmid}/status/current: could not connect: Connection refused (os error 111)",
                        n = vmid - 210
                    ),
                )),
            },
        );
    }
    update(&mut app, IncidentUpdate::Done);
    frames("incident_loki_and_proxmox_down", &mut app);
    // The logs came from the pod API: Enter cannot open them in the (Loki) logs pane; it says so.
    for _ in 0..3 {
        support::press(&mut app, "j");
    }
    support::press(&mut app, "enter");
    let st = &app.screens.console.state;
    assert!(st.incident.is_some());
}

#[test]
fn incident_alert_without_namespace() {
    let mut app = with_data();
    // The first alert, NodeFilesystemAlmostOutOfSpace, has no namespace, only an instance.
    support::press(&mut app, "i");
    let v = app.screens.console.state.incident.as_ref().unwrap();
    assert_eq!(v.incident.alert.name, "NodeFilesystemAlmostOutOfSpace");
    update(&mut app, IncidentUpdate::Workload(Part::Skipped(
        "the alert has no namespace label and no pod or workload label (its labels: alertname, instance, job, mountpoint, severity)".into(),
    )));
    update(
        &mut app,
        IncidentUpdate::Flux(Part::Skipped(
            "no workload to follow to its Flux owner (see Pods)".into(),
        )),
    );
    update(
        &mut app,
        IncidentUpdate::Logs(Part::Skipped(
            "the alert has no namespace label: no selector for the logs".into(),
        )),
    );
    update(
        &mut app,
        IncidentUpdate::Vms(Part::Ready(vec![row(
            "k3s-agent-2",
            "k3s-agent-2",
            "pve2",
            212,
        )])),
    );
    update(&mut app, vm("k3s-agent-2", 0.41, 5, 3_600 * 30));
    update(&mut app, IncidentUpdate::Done);
    frames("incident_no_namespace", &mut app);
}

#[test]
fn incident_narrow_terminal() {
    let mut app = complete();
    support::assert_frame("console", "incident_narrow", &mut app, 60, 20);
    // The last section, scrolled into view.
    support::press(&mut app, "G");
    support::assert_frame("console", "incident_narrow_scrolled", &mut app, 60, 20);
}

#[test]
fn enter_on_the_logs_opens_the_window_and_esc_closes() {
    let mut app = complete();
    for _ in 0..3 {
        support::press(&mut app, "j");
    }
    assert_eq!(
        app.screens.console.state.incident.as_ref().unwrap().section,
        Section::Logs
    );
    support::press(&mut app, "enter");
    let st = &app.screens.console.state;
    assert!(st.incident.is_none());
    assert_eq!(st.focus, PaneId::Logs);
    assert_eq!(
        st.logs.query,
        format!(r#"{{namespace="media", pod=~"{POD_A}|{POD_B}"}}"#)
    );
    assert!(!st.logs.following(), "history from the window, not live");

    // Esc closes the view and nothing else; answers for a closed view are dropped.
    let mut app = complete();
    support::press(&mut app, "esc");
    let st = &app.screens.console.state;
    assert!(st.incident.is_none());
    assert_eq!(st.focus, PaneId::Alerts);
    update(&mut app, workload());
    assert!(app.screens.console.state.incident.is_none());
}

#[test]
fn leaving_the_console_mid_way_asks_again_on_return() {
    use homelab::screens::console::events::ConsoleEffect;
    let gathers = |fx: &[ConsoleEffect]| {
        fx.iter()
            .filter_map(|e| match e {
                ConsoleEffect::GatherIncident { generation, .. } => Some(*generation),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut app = opened();
    update(&mut app, workload());
    let g = app.screens.console.state.incident_generation;
    let fx = app.screens.console.state.resume(0);
    assert_eq!(gathers(&fx), [g + 1]);
    let v = app.screens.console.state.incident.as_ref().unwrap();
    assert!(v.incident.workload.is_loading(), "asked again from scratch");
    // A view that has every answer is not asked again.
    let mut app = complete();
    assert!(gathers(&app.screens.console.state.resume(0)).is_empty());
}
