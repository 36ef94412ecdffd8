use super::*;
use crate::domain::health::{FluxObject, HealthObject, ListKind, PodHealth};

pub(crate) fn pod(ns: &str, name: &str, restarts: u32, looping: bool) -> PodHealth {
    PodHealth {
        namespace: ns.into(),
        name: name.into(),
        node: "k3s-1".into(),
        phase: "Running".into(),
        ready: !looping,
        restarts,
        waiting: looping.then(|| "CrashLoopBackOff".to_string()),
        last_terminated: looping.then(|| "Error (exit 1)".to_string()),
        owner: Some(("Deployment".into(), name.rsplit_once('-').unwrap().0.into())),
        container: "app".into(),
    }
}

fn flux(kind: FluxKind, ns: &str, name: &str, ready: Option<bool>) -> FluxObject {
    FluxObject {
        kind,
        namespace: ns.into(),
        name: name.into(),
        ready,
        reason: if ready == Some(true) {
            "ReconciliationSucceeded"
        } else {
            "InstallFailed"
        }
        .into(),
        message: "m".into(),
        suspended: false,
        depends_on: Vec::new(),
        source: None,
        inventory: Vec::new(),
        revision: String::new(),
    }
}

fn replace(list: ListKind, kind: &str, objects: Vec<HealthObject>) -> HealthChange {
    HealthChange::Replace {
        list,
        kind: kind.into(),
        objects,
    }
}

#[test]
fn a_relist_replaces_only_its_own_kind() {
    let mut p = HealthPane::empty(true);
    let hr = |n: &str| HealthObject::Flux(flux(FluxKind::HelmRelease, "a", n, Some(true)));
    let ks = |n: &str| HealthObject::Flux(flux(FluxKind::Kustomization, "a", n, Some(true)));
    p.apply(vec![
        replace(ListKind::Flux, "HelmRelease", vec![hr("one"), hr("two")]),
        replace(ListKind::Flux, "Kustomization", vec![ks("apps")]),
    ]);
    assert_eq!(p.model.flux.len(), 3);
    p.apply(vec![replace(
        ListKind::Flux,
        "HelmRelease",
        vec![hr("three")],
    )]);
    let keys: Vec<&String> = p.model.flux.keys().collect();
    assert_eq!(keys, ["HelmRelease/a/three", "Kustomization/a/apps"]);
}

#[test]
fn flux_listed_after_it_was_absent_is_installed_even_without_objects() {
    let mut p = HealthPane::empty(true);
    p.apply(vec![HealthChange::FluxAbsent]);
    assert!(p.model.flux_absent);
    // A source kind alone does not say Flux's controllers are there.
    p.apply(vec![replace(ListKind::Flux, "GitRepository", vec![])]);
    assert!(p.model.flux_absent);
    p.apply(vec![replace(ListKind::Flux, "Kustomization", vec![])]);
    assert!(!p.model.flux_absent);
}

#[test]
fn not_ready_flux_objects_come_first_with_their_cause() {
    let mut p = HealthPane::empty(true);
    p.apply(vec![replace(
        ListKind::Flux,
        "HelmRelease",
        vec![
            HealthObject::Flux(flux(FluxKind::HelmRelease, "a", "aaa", Some(true))),
            HealthObject::Flux(flux(FluxKind::HelmRelease, "z", "zzz", Some(false))),
        ],
    )]);
    let flux_rows: Vec<&Row> = p
        .model
        .rows
        .iter()
        .filter(|r| matches!(r, Row::Flux { .. } | Row::Cause { .. }))
        .collect();
    assert!(matches!(flux_rows[0], Row::Flux { key, .. } if key == "HelmRelease/z/zzz"));
    assert!(
        matches!(flux_rows[1], Row::Cause { label: "cause", text, .. } if text == "InstallFailed: m")
    );
    assert!(matches!(flux_rows[2], Row::Flux { key, .. } if key == "HelmRelease/a/aaa"));
}

#[test]
fn enter_on_a_crash_looping_pod_asks_for_its_logs_and_the_selection_stays() {
    let mut p = HealthPane::empty(true);
    p.apply(vec![replace(
        ListKind::Pods,
        "Pod",
        vec![HealthObject::Pod(pod(
            "media",
            "web-5d9c8f7b6d-abcde",
            4,
            true,
        ))],
    )]);
    let at = p
        .model
        .rows
        .iter()
        .position(|r| matches!(r, Row::Pod { .. }))
        .unwrap();
    p.selected = at;
    // Another batch (a node appears above): the selection follows the pod.
    p.apply(vec![HealthChange::Upsert(HealthObject::Node(
        crate::domain::health::NodeHealth {
            name: "k3s-1".into(),
            ready: Some(true),
            pressure: Vec::new(),
            unschedulable: false,
            cpu_millis: 4000,
            memory_bytes: 8 << 30,
        },
    ))]);
    assert!(matches!(&p.model.rows[p.selected], Row::Pod { .. }));
    p.on_action(ConsoleAction::Open, 0);
    let r = p.take_logs_request().unwrap();
    assert_eq!(
        r.logql,
        r#"{namespace="media", pod="web-5d9c8f7b6d-abcde"}"#
    );
    assert_eq!(r.pod.unwrap().container.as_deref(), Some("app"));
    assert!(p.take_logs_request().is_none(), "taken once");
}

#[test]
fn no_metrics_server_is_a_note_not_a_broken_connection() {
    let mut p = HealthPane::empty(true);
    p.on_event(Event::Changes(vec![
        replace(ListKind::Nodes, "Node", Vec::new()),
        HealthChange::UsageUnavailable("node metrics: 404".into()),
        HealthChange::Connected,
    ]));
    assert_eq!(p.conn, ConnState::Live);
    assert_eq!(p.model.usage_note.as_deref(), Some("node metrics: 404"));
    p.on_event(Event::Changes(vec![HealthChange::Trouble(
        "watch of Pods: 500".into(),
    )]));
    assert!(matches!(p.conn, ConnState::Reconnecting { .. }));
}
