//! backends/kube against the simulator: server-side apply of multi-document YAML (a CRD and its
//! custom resources in one batch, unchanged on the second run, dry run, conflicts and force),
//! waits on conditions (Established, Ready at the current generation, a PVC that never binds)
//! and an object's events.

use homelab::backends::kube::apply::{self, ApplyError, ApplyOptions, Outcome};
use homelab::backends::kube::client::client_for;
use homelab::backends::kube::discovery::Resolver;
use homelab::backends::kube::events;
use homelab::backends::kube::wait::{self, Readiness, WaitError};
use homelab::sim::kube::resources::TypeKey;
use homelab::sim::kube::{KubeSim, SimOptions};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};
use std::time::Duration;

/// The Kustomization CRD as the simulator's Flux installs it, placed last so the batch must
/// reorder it.
fn kustomization_crd() -> String {
    let crd = homelab::sim::kube::flux::crds()
        .into_iter()
        .find(|c| c["spec"]["names"]["kind"] == "Kustomization")
        .unwrap();
    serde_yaml::to_string(&crd).unwrap()
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n";

fn key(group: &str, plural: &str) -> TypeKey {
    (group.to_string(), plural.to_string())
}

async fn start() -> (KubeSim, kube::Client, tempfile::TempDir) {
    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, sim.kubeconfig(&sim.url())).unwrap();
    let client = client_for(&path, "default").await.unwrap();
    (sim, client, dir)
}

/// This repository's `cluster/kubernetes/flux/apps.yaml`, its namespace and the CRD it needs.
fn flux_batch() -> String {
    let apps = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/kubernetes/flux/apps.yaml"),
    )
    .unwrap();
    format!("{apps}\n---\n{NAMESPACE}---\n{}", kustomization_crd())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_and_its_resources_apply_in_one_batch_then_all_unchanged() {
    let (sim, client, _dir) = start().await;
    let docs = apply::parse("flux/apps.yaml", &flux_batch()).unwrap();
    let kustomizations = docs
        .iter()
        .filter(|m| m.gvk.kind == "Kustomization")
        .count();
    assert!(kustomizations >= 3, "{kustomizations}");
    let mut resolver = Resolver::new(client.clone());
    let opts = ApplyOptions::default();
    let first = apply::apply(&client, &mut resolver, &docs, &opts)
        .await
        .unwrap();
    assert_eq!(first.len(), docs.len());
    assert_eq!(
        (first[0].kind.as_str(), first[1].kind.as_str()),
        ("CustomResourceDefinition", "Namespace")
    );
    assert!(
        first.iter().all(|a| a.outcome == Outcome::Created),
        "{first:?}"
    );
    assert!(
        first[2..]
            .iter()
            .all(|a| a.namespace.as_deref() == Some("flux-system"))
    );
    // Discovery ran before the batch and again once the CRD was Established.
    assert_eq!(resolver.runs, 2);
    let stored = sim
        .store()
        .get(
            &key("kustomize.toolkit.fluxcd.io", "kustomizations"),
            "flux-system",
            "apps-media",
        )
        .unwrap();
    assert_eq!(stored["spec"]["path"], "./cluster/kubernetes/apps/media");
    let owner = stored["metadata"]["managedFields"][0]["manager"].clone();
    assert_eq!(owner, "homelab");

    let second = apply::apply(&client, &mut resolver, &docs, &opts)
        .await
        .unwrap();
    assert!(
        second.iter().all(|a| a.outcome == Outcome::Unchanged),
        "{second:?}"
    );
    assert_eq!(
        resolver.runs, 3,
        "the cached discovery serves the second batch"
    );

    // A dry run of a change reports it and writes nothing.
    let changed = flux_batch().replace("interval: 30m", "interval: 45m");
    let docs2 = apply::parse("flux/apps.yaml", &changed).unwrap();
    let dry = ApplyOptions {
        dry_run: true,
        ..ApplyOptions::default()
    };
    let planned = apply::apply(&client, &mut resolver, &docs2, &dry)
        .await
        .unwrap();
    let configured: Vec<&str> = planned
        .iter()
        .filter(|a| a.outcome == Outcome::Configured)
        .map(|a| a.name.as_str())
        .collect();
    assert_eq!(configured.len(), kustomizations, "{planned:?}");
    assert!(planned.iter().all(|a| a.outcome != Outcome::Created));
    let after = sim
        .store()
        .get(
            &key("kustomize.toolkit.fluxcd.io", "kustomizations"),
            "flux-system",
            "apps-media",
        )
        .unwrap();
    assert_eq!(after["spec"]["interval"], "30m");
    assert_eq!(
        after["metadata"]["resourceVersion"],
        stored["metadata"]["resourceVersion"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kind_and_a_broken_document_are_named() {
    let (_sim, client, _dir) = start().await;
    let err = apply::parse("x.yaml", "kind: ConfigMap\nmetadata: {name: a}\n").unwrap_err();
    assert_eq!(err.to_string(), "x.yaml document 1: apiVersion is missing");
    let docs = apply::parse(
        "x.yaml",
        &format!(
            "{NAMESPACE}---\napiVersion: example.com/v1\nkind: Gadget\nmetadata: {{name: g}}\n"
        ),
    )
    .unwrap();
    let mut resolver = Resolver::new(client.clone());
    let err = apply::apply(&client, &mut resolver, &docs, &ApplyOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("x.yaml document 2: Gadget (example.com/v1) is not served"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_names_the_other_manager_and_force_takes_the_fields() {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};
    let (_sim, client, _dir) = start().await;
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "default"}, "data": {"color": "red"}});
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.patch(
        "settings",
        &PatchParams::apply("kubectl"),
        &Patch::Apply(&theirs),
    )
    .await
    .unwrap();
    let ours = apply::parse(
        "settings.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {color: blue}\n",
    )
    .unwrap();
    let mut resolver = Resolver::new(client.clone());
    let err = apply::apply(&client, &mut resolver, &ours, &ApplyOptions::default())
        .await
        .unwrap_err();
    match &err {
        ApplyError::Conflict { object, conflicts } => {
            assert_eq!(object, "ConfigMap default/settings");
            assert_eq!(conflicts.len(), 1);
            assert_eq!(
                (conflicts[0].manager.as_str(), conflicts[0].field.as_str()),
                ("\"kubectl\"", ".data.color")
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert!(
        err.to_string().contains("\"kubectl\" owns .data.color"),
        "{err}"
    );
    assert_eq!(
        cms.get("settings").await.unwrap().data.unwrap()["color"],
        "red"
    );
    // The operator confirmed: force.
    let force = ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    };
    let done = apply::apply(&client, &mut resolver, &ours, &force)
        .await
        .unwrap();
    assert_eq!(done[0].outcome, Outcome::Configured);
    let now = cms.get("settings").await.unwrap();
    assert_eq!(now.data.unwrap()["color"], "blue");
    // A plain apply now: ours, so no conflict and nothing to change.
    let again = apply::apply(&client, &mut resolver, &ours, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(again[0].outcome, Outcome::Unchanged);
}

fn status(reason: &str, ready: bool, observed: i64) -> Value {
    json!({"observedGeneration": observed, "conditions": [{
        "type": "Ready", "status": if ready { "True" } else { "False" },
        "reason": reason, "message": format!("{reason} message"),
        "lastTransitionTime": "2026-01-01T00:00:00Z"}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_follow_conditions_at_the_current_generation_and_time_out_with_the_last_reason() {
    let (sim, client, _dir) = start().await;
    let mut resolver = Resolver::new(client.clone());
    let docs = apply::parse(
        "ks.yaml",
        &format!(
            "{}---\n{NAMESPACE}---\napiVersion: kustomize.toolkit.fluxcd.io/v1\n\
             kind: Kustomization\nmetadata: {{name: apps, namespace: flux-system}}\nspec: {{path: ./apps}}\n",
            kustomization_crd()
        ),
    )
    .unwrap();
    apply::apply(&client, &mut resolver, &docs, &ApplyOptions::default())
        .await
        .unwrap();
    let crd_gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let crd = resolver.resolve(&crd_gvk).await.unwrap().unwrap();
    let est = wait::wait_ready(
        &client,
        &crd,
        None,
        "kustomizations.kustomize.toolkit.fluxcd.io",
        Duration::from_secs(30),
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!((est.condition.as_str(), est.ready), ("Established", true));

    // The Kustomization: the test plays its controller, one step per change the wait reports.
    let ks_gvk = GroupVersionKind::gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    let ks = resolver.resolve(&ks_gvk).await.unwrap().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Readiness>();
    let waiter = {
        let client = client.clone();
        tokio::spawn(async move {
            wait::wait_ready(
                &client,
                &ks,
                Some("flux-system"),
                "apps",
                Duration::from_secs(60),
                &mut move |r| {
                    let _ = tx.send(r.clone());
                },
            )
            .await
        })
    };
    let ks_key = key("kustomize.toolkit.fluxcd.io", "kustomizations");
    let store = sim.store().clone();
    let write = |st: Value| {
        let mut obj = store.get(&ks_key, "flux-system", "apps").unwrap();
        obj["status"] = st;
        store.put(&ks_key, obj, "kustomize-controller").unwrap();
    };
    let mut seen = vec![];
    while let Some(r) = rx.recv().await {
        seen.push(r.reason.clone());
        match r.reason.as_str() {
            // A Flux object without status.observedGeneration has not been seen by its controller.
            "NotObserved" => write(status("Progressing", false, 1)),
            // Ready=True, but for the previous generation: must not count.
            "Progressing" => write(status("ReconciliationSucceeded", true, 0)),
            "StaleStatus" => write(status("ReconciliationSucceeded", true, 1)),
            _ => {}
        }
        if r.ready {
            break;
        }
    }
    let done = waiter.await.unwrap().unwrap();
    assert_eq!(
        seen,
        [
            "NotObserved",
            "Progressing",
            "StaleStatus",
            "ReconciliationSucceeded"
        ]
    );
    assert_eq!(done.message, "ReconciliationSucceeded message");

    // A PVC that never binds: the timeout carries its last phase.
    let pvc_key = key("", "persistentvolumeclaims");
    store
        .put(
            &pvc_key,
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": {"name": "data", "namespace": "flux-system"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
                "status": {"phase": "Pending"}}),
            "test",
        )
        .unwrap();
    let pvc = resolver
        .resolve(&GroupVersionKind::gvk("", "v1", "PersistentVolumeClaim"))
        .await
        .unwrap()
        .unwrap();
    let err = wait::wait_ready(
        &client,
        &pvc,
        Some("flux-system"),
        "data",
        Duration::from_millis(500),
        &mut |_| {},
    )
    .await
    .unwrap_err();
    match err {
        WaitError::Timeout { what, last, .. } => {
            assert_eq!(what, "PersistentVolumeClaim flux-system/data");
            assert_eq!(
                (last.condition.as_str(), last.reason.as_str()),
                ("Bound", "Pending")
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_an_object_come_newest_first() {
    let (sim, client, _dir) = start().await;
    let ev_key = key("", "events");
    let event = |name: &str, object: &str, reason: &str, at: &str| {
        json!({"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": object, "namespace": "default"},
            "type": "Warning", "reason": reason, "message": format!("{reason} on {object}"),
            "count": 2, "lastTimestamp": at})
    };
    for ev in [
        event("e1", "web", "Scheduled", "2026-01-01T10:00:00Z"),
        event("e2", "web", "BackOff", "2026-01-01T10:05:00Z"),
        event("e3", "db", "BackOff", "2026-01-01T10:06:00Z"),
        event("e4", "web", "Pulled", "2026-01-01T10:01:00Z"),
    ] {
        sim.store().put(&ev_key, ev, "kubelet").unwrap();
    }
    let got = events::for_object(&client, "Pod", Some("default"), "web")
        .await
        .unwrap();
    let reasons: Vec<&str> = got.iter().map(|e| e.reason.as_str()).collect();
    assert_eq!(reasons, ["BackOff", "Pulled", "Scheduled"]);
    assert_eq!(got[0].message, "BackOff on web");
    assert_eq!((got[0].count, got[0].type_.as_str()), (2, "Warning"));
    assert_eq!(got[0].last_seen, "2026-01-01T10:05:00Z");
}
