//! The health pane: frame snapshots (all healthy, each injected failure, narrow terminals) from
//! injected watch batches, and Enter -> the logs pane (Loki, or the pod log API without it).

use crate::support;
use homelab::app::App;
use homelab::backends::kube::pod_logs::PodLogRequest;
use homelab::domain::health::{
    FluxKind, FluxObject, HealthChange, HealthObject, InventoryRef, ListKind, NodeHealth,
    NodeUsage, PodHealth, WarningEvent, WorkloadHealth,
};
use homelab::msg::{Action, BackendEvent};
use homelab::screens::ScreenId;
use homelab::screens::console::events::{ConsoleEffect, ConsoleEvent};
use homelab::screens::console::panes::health::{Effect, Event};
use homelab::screens::console::panes::{PaneEffect, PaneEvent, PaneId};

/// The frames' clock (support::now), Unix seconds.
const NOW: i64 = 1_795_456_800;

fn console() -> App {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Console));
    app.screens.console.state.tz = jiff::tz::TimeZone::UTC;
    app
}

fn focus_health(app: &mut App) {
    while app.screens.console.state.focus != PaneId::Health {
        support::press(app, "tab");
    }
}

fn send(app: &mut App, batch: Vec<HealthChange>) {
    support::backend(
        app,
        BackendEvent::Console(ConsoleEvent::Pane(PaneEvent::Health(Event::Changes(batch)))),
    );
}

fn node(name: &str) -> NodeHealth {
    NodeHealth {
        name: name.into(),
        ready: Some(true),
        pressure: Vec::new(),
        unschedulable: false,
        cpu_millis: 4000,
        memory_bytes: 16 << 30,
    }
}

fn flux(kind: FluxKind, ns: &str, name: &str) -> FluxObject {
    let (reason, message, revision) = match kind {
        FluxKind::Kustomization => (
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
            "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        ),
        FluxKind::HelmRelease => ("InstallSucceeded", "Helm install succeeded", "1.0.0"),
        _ => (
            "Succeeded",
            "stored artifact for revision 'main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07'",
            "main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        ),
    };
    FluxObject {
        kind,
        namespace: ns.into(),
        name: name.into(),
        ready: Some(true),
        reason: reason.into(),
        message: message.into(),
        suspended: false,
        depends_on: Vec::new(),
        source: None,
        inventory: Vec::new(),
        revision: revision.into(),
    }
}

fn inv(ns: &str, name: &str, group: &str, kind: &str) -> InventoryRef {
    InventoryRef {
        namespace: ns.into(),
        name: name.into(),
        group: group.into(),
        kind: kind.into(),
    }
}

fn deployment(ns: &str, name: &str, release: &str) -> WorkloadHealth {
    WorkloadHealth {
        kind: "Deployment".into(),
        namespace: ns.into(),
        name: name.into(),
        desired: 1,
        ready: 1,
        release: Some((ns.into(), release.into())),
    }
}

fn pod(ns: &str, deploy: &str, suffix: &str) -> PodHealth {
    PodHealth {
        namespace: ns.into(),
        name: format!("{deploy}-{suffix}"),
        node: "k3s-1".into(),
        phase: "Running".into(),
        ready: true,
        restarts: 0,
        waiting: None,
        last_terminated: None,
        owner: Some(("Deployment".into(), deploy.into())),
        container: deploy.into(),
    }
}

fn event(
    ns: &str,
    kind: &str,
    object: &str,
    reason: &str,
    message: &str,
    ago: i64,
) -> WarningEvent {
    WarningEvent {
        namespace: ns.into(),
        name: format!("{object}.{reason}").to_lowercase(),
        object_kind: kind.into(),
        object_name: object.into(),
        reason: reason.into(),
        message: message.into(),
        count: 3,
        last_seen: NOW - ago,
    }
}

/// The cluster this repository's tree makes, reduced: three nodes, the flux-system
/// Kustomization over platform and apps, three releases with their Deployments and pods.
struct Cluster {
    nodes: Vec<NodeHealth>,
    flux: Vec<FluxObject>,
    workloads: Vec<WorkloadHealth>,
    pods: Vec<PodHealth>,
    events: Vec<WarningEvent>,
}

fn healthy() -> Cluster {
    let mut root = flux(FluxKind::Kustomization, "flux-system", "flux-system");
    root.source = Some((
        "GitRepository".into(),
        "flux-system".into(),
        "flux-system".into(),
    ));
    root.inventory = vec![
        inv(
            "flux-system",
            "platform",
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
        ),
        inv(
            "flux-system",
            "apps",
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
        ),
    ];
    let mut platform = flux(FluxKind::Kustomization, "flux-system", "platform");
    platform.inventory = vec![
        inv(
            "longhorn-system",
            "longhorn",
            "helm.toolkit.fluxcd.io",
            "HelmRelease",
        ),
        inv("logging", "loki", "helm.toolkit.fluxcd.io", "HelmRelease"),
    ];
    let mut apps = flux(FluxKind::Kustomization, "flux-system", "apps");
    apps.depends_on = vec![("flux-system".into(), "platform".into())];
    apps.inventory = vec![inv(
        "media",
        "jellyfin",
        "helm.toolkit.fluxcd.io",
        "HelmRelease",
    )];
    let mut jellyfin = flux(FluxKind::HelmRelease, "media", "jellyfin");
    jellyfin.source = Some((
        "HelmRepository".into(),
        "flux-system".into(),
        "jellyfin".into(),
    ));
    Cluster {
        nodes: vec![node("k3s-1"), node("k3s-2"), node("k3s-3")],
        flux: vec![
            root,
            platform,
            apps,
            flux(FluxKind::HelmRelease, "longhorn-system", "longhorn"),
            flux(FluxKind::HelmRelease, "logging", "loki"),
            jellyfin,
            flux(FluxKind::GitRepository, "flux-system", "flux-system"),
            flux(FluxKind::HelmRepository, "flux-system", "jellyfin"),
        ],
        workloads: vec![
            deployment("longhorn-system", "longhorn-ui", "longhorn"),
            deployment("logging", "loki", "loki"),
            deployment("media", "jellyfin", "jellyfin"),
        ],
        pods: vec![
            pod("longhorn-system", "longhorn-ui", "7c9d5b8f4-x2v9q"),
            pod("logging", "loki", "6b7f9c5d8-k4m2p"),
            pod("media", "jellyfin", "5d9c8f7b6d-abcde"),
        ],
        events: Vec::new(),
    }
}

fn load(app: &mut App, c: Cluster) {
    let replace = |list, kind: &str, objects| HealthChange::Replace {
        list,
        kind: kind.into(),
        objects,
    };
    let mut batch = vec![
        replace(
            ListKind::Nodes,
            "Node",
            c.nodes.into_iter().map(HealthObject::Node).collect(),
        ),
        replace(
            ListKind::Pods,
            "Pod",
            c.pods.into_iter().map(HealthObject::Pod).collect(),
        ),
        replace(
            ListKind::Workloads,
            "Deployment",
            c.workloads
                .into_iter()
                .map(HealthObject::Workload)
                .collect(),
        ),
        replace(
            ListKind::Events,
            "Event",
            c.events.into_iter().map(HealthObject::Event).collect(),
        ),
    ];
    for kind in FluxKind::ALL {
        let objs = c
            .flux
            .iter()
            .filter(|f| f.kind == kind)
            .cloned()
            .map(HealthObject::Flux)
            .collect();
        batch.push(replace(ListKind::Flux, kind.name(), objs));
    }
    let usage = |cpu: u64, mem: u64, swap: u64| NodeUsage {
        cpu_millis: Some(cpu),
        memory_bytes: Some(mem),
        swap_bytes: Some(swap),
        swap_free_bytes: Some((2 << 30) - swap),
    };
    batch.push(HealthChange::Usage(vec![
        ("k3s-1".into(), usage(412, 6 << 30, 0)),
        ("k3s-2".into(), usage(1310, 11 << 30, 48 << 20)),
        ("k3s-3".into(), usage(205, 3 << 30, 0)),
    ]));
    batch.push(HealthChange::Connected);
    send(app, batch);
}

/// The health pane zoomed at `w`x`h`.
fn zoomed(name: &str, app: &mut App, w: u16, h: u16) {
    focus_health(app);
    if !app.screens.console.state.zoomed {
        support::press(app, "z");
    }
    support::assert_frame("console", name, app, w, h);
}

fn crash_loop(c: &mut Cluster) {
    let p = c.pods.iter_mut().find(|p| p.namespace == "media").unwrap();
    p.ready = false;
    p.restarts = 7;
    p.waiting = Some("CrashLoopBackOff".into());
    p.last_terminated = Some("Error (exit 1)".into());
    c.workloads[2].ready = 0;
    c.events.push(event(
        "media",
        "Pod",
        "jellyfin-5d9c8f7b6d-abcde",
        "BackOff",
        "Back-off restarting failed container jellyfin in pod jellyfin-5d9c8f7b6d-abcde_media(0f1e)",
        12,
    ));
}

#[test]
fn health_all_healthy() {
    let mut app = console();
    load(&mut app, healthy());
    focus_health(&mut app);
    support::assert_frame("console", "health_all_healthy", &mut app, 200, 60);
    zoomed("health_all_healthy_zoomed", &mut app, 80, 30);
    zoomed("health_all_healthy_zoomed", &mut app, 60, 30);
}

#[test]
fn health_crash_loop_back_off() {
    let mut app = console();
    let mut c = healthy();
    crash_loop(&mut c);
    load(&mut app, c);
    zoomed("health_crash_loop", &mut app, 120, 40);
    zoomed("health_crash_loop", &mut app, 80, 30);
    zoomed("health_crash_loop", &mut app, 60, 30);
}

#[test]
fn health_pvc_pending() {
    let mut app = console();
    let mut c = healthy();
    let p = c.pods.iter_mut().find(|p| p.namespace == "media").unwrap();
    p.ready = false;
    p.phase = "Pending".into();
    c.workloads[2].ready = 0;
    c.events.push(event(
        "media",
        "PersistentVolumeClaim",
        "jellyfin-config",
        "ProvisioningFailed",
        "failed to provision volume with StorageClass \"longhorn\": rpc error: code = Unavailable",
        30,
    ));
    c.events.push(event(
        "media",
        "Pod",
        "jellyfin-5d9c8f7b6d-abcde",
        "FailedScheduling",
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
        28,
    ));
    load(&mut app, c);
    zoomed("health_pvc_pending", &mut app, 120, 40);
}

#[test]
fn health_helm_release_install_failed() {
    let mut app = console();
    let mut c = healthy();
    let hr = c
        .flux
        .iter_mut()
        .find(|f| f.name == "jellyfin" && f.kind == FluxKind::HelmRelease)
        .unwrap();
    hr.ready = Some(false);
    hr.reason = "InstallFailed".into();
    hr.message = "Helm install failed for release media/jellyfin with chart jellyfin@2.1.0: context deadline exceeded".into();
    c.workloads[2].ready = 0;
    c.events.push(event(
        "media",
        "HelmRelease",
        "jellyfin",
        "InstallFailed",
        "Helm install failed for release media/jellyfin with chart jellyfin@2.1.0: context deadline exceeded",
        40,
    ));
    let apps = c.flux.iter_mut().find(|f| f.name == "apps").unwrap();
    apps.ready = Some(false);
    apps.reason = "HealthCheckFailed".into();
    apps.message = "health check failed after 5m0.021s: timeout waiting for: [HelmRelease/media/jellyfin status: 'Failed']".into();
    load(&mut app, c);
    zoomed("health_helm_release_install_failed", &mut app, 120, 40);
}

#[test]
fn health_kustomization_sops_decryption_failed() {
    let mut app = console();
    let mut c = healthy();
    let platform = c.flux.iter_mut().find(|f| f.name == "platform").unwrap();
    platform.ready = Some(false);
    platform.reason = "BuildFailed".into();
    platform.message = "kustomize build failed: failed to decrypt and format 'platform/logging/loki/secret.sops.yaml': Error getting data key: 0 successful groups required, got 0".into();
    // apps depends on platform: its cause is the dependency.
    let apps = c.flux.iter_mut().find(|f| f.name == "apps").unwrap();
    apps.ready = Some(false);
    apps.reason = "DependencyNotReady".into();
    apps.message = "dependency 'flux-system/platform' is not ready".into();
    load(&mut app, c);
    zoomed("health_kustomization_sops_failed", &mut app, 120, 40);
}

#[test]
fn health_git_repository_auth_failed() {
    let mut app = console();
    let mut c = healthy();
    let git = c
        .flux
        .iter_mut()
        .find(|f| f.kind == FluxKind::GitRepository)
        .unwrap();
    git.ready = Some(false);
    git.reason = "AuthenticationFailed".into();
    git.message = "failed to checkout and determine revision: unable to clone 'ssh://git@github.com/example/homelab': ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain".into();
    let root = c
        .flux
        .iter_mut()
        .find(|f| f.name == "flux-system" && f.kind == FluxKind::Kustomization)
        .unwrap();
    root.ready = Some(false);
    root.reason = "ArtifactFailed".into();
    root.message = "Source artifact not found, retrying in 30s".into();
    load(&mut app, c);
    zoomed("health_git_repository_auth_failed", &mut app, 120, 40);
}

#[test]
fn health_flux_not_installed_and_not_configured() {
    let mut app = console();
    send(
        &mut app,
        vec![
            HealthChange::Replace {
                list: ListKind::Nodes,
                kind: "Node".into(),
                objects: vec![HealthObject::Node(node("k3s-1"))],
            },
            HealthChange::FluxAbsent,
            HealthChange::Connected,
        ],
    );
    zoomed("health_flux_not_installed", &mut app, 80, 24);
}

/// Enter on the crash-looping pod: with Loki configured the logs pane runs its LogQL query;
/// without Loki it follows the pod log API, and the logs pane says which source it shows.
#[test]
fn enter_on_a_pod_opens_its_logs_from_loki_or_the_pod_log_api() {
    for loki in [false, true] {
        let mut app = console();
        // The fixture cluster names a Loki URL; the test decides.
        app.screens.console.state.endpoints.loki = loki.then(|| "http://127.0.0.1:3100".into());
        let mut c = healthy();
        crash_loop(&mut c);
        load(&mut app, c);
        focus_health(&mut app);
        // The first crash-looping pod row.
        for _ in 0..40 {
            let st = &app.screens.console.state;
            let p = &st.panes.health;
            if let Some(homelab::screens::console::panes::health::model::Row::Pod {
                prefix, ..
            }) = p.model.rows.get(p.selected)
                && prefix == homelab::screens::console::panes::health::model::SECTION_INDENT
            {
                break;
            }
            support::press(&mut app, "j");
        }
        let fx = app.screens.console.state.apply(
            homelab::screens::console::state::ConsoleAction::Open,
            NOW * 1_000_000_000,
        );
        let st = &app.screens.console.state;
        assert_eq!(st.focus, PaneId::Logs);
        let notice = st.logs.notice.clone().unwrap();
        if loki {
            assert!(
                fx.iter()
                    .any(|e| matches!(e, ConsoleEffect::QueryLogs { query, .. }
                    if query.query == r#"{namespace="media", pod="jellyfin-5d9c8f7b6d-abcde"}"#)),
                "{fx:?}"
            );
            assert!(notice.contains("from Loki"), "{notice}");
        } else {
            let generation = st.logs.generation();
            assert!(
                fx.contains(&ConsoleEffect::Pane(PaneEffect::Health(
                    Effect::FollowPodLogs {
                        generation,
                        request: PodLogRequest {
                            namespace: "media".into(),
                            pod: "jellyfin-5d9c8f7b6d-abcde".into(),
                            container: Some("jellyfin".into()),
                        },
                    }
                ))),
                "{fx:?}"
            );
            assert!(
                notice.contains("from the pod log API (Loki is not configured)"),
                "{notice}"
            );
            support::assert_frame("console", "health_enter_pod_log_api", &mut app, 120, 40);
        }
    }
}
