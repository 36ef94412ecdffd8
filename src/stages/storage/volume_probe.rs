//! The volume probes: for a StorageClass, a PVC binds, a pod writes a random marker into it,
//! reads it back (into its termination message) and removes it; for Longhorn's backups, a
//! volume written by a pod is snapshotted and backed up to the backup target, the backup is
//! restored to a new PVC (a one-off StorageClass with `fromBackup`, WIRE-2 K.5) and a second
//! pod reads the marker back from the restored volume. "A backup nobody has restored is not a
//! backup."
//!
//! Every object has a fixed name in namespace [`NAMESPACE`] (cluster-scoped and
//! `longhorn-system` ones carry [`LABEL`] or a fixed name too), so there are never two of them:
//! [`cleanup`] runs before every probe (what a killed run left behind goes first) and after it,
//! also when it failed. It removes the pods, the claims, their volumes (the classes keep
//! volumes: `reclaimPolicy: Retain`, so the PV and Longhorn's Volume are deleted by name), the
//! backup (which Longhorn deletes from the target), the snapshot and the one-off class. The
//! namespace itself stays, empty.

use super::objects::{
    self, Kind, LH_BACKUP, LH_SNAPSHOT, LH_VOLUME, NAMESPACE as NS_KIND, POD, PV, PVC,
    STORAGE_CLASS, text,
};
use crate::stages::engine::{StageError, StageResult, StepCx};
use crate::stages::probe::{Evidence, Stopwatch, report};
use kube::Client;
use serde_json::{Value, json};
use std::time::Duration;

pub use crate::stages::probe::NAMESPACE;
/// Every probe object carries this label (value: what it probes).
pub const LABEL: &str = "homelab.dev/probe";
pub const IMAGE: &str = "busybox:1.37";
pub const FILE: &str = "/data/homelab-probe";
/// The restore probe's snapshot, backup and one-off StorageClass.
pub const RESTORE: &str = "homelab-probe-restore";
pub const LONGHORN_NS: &str = "longhorn-system";
const SIZE: &str = "1Gi";

/// How long each wait may take.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A claim binding, a snapshot or backup completing.
    pub bind: Duration,
    /// A pod running its script.
    pub run: Duration,
    /// A deleted object going.
    pub gone: Duration,
}

/// A random marker: `homelab-<16 hex digits>`.
pub fn marker() -> String {
    format!("homelab-{:016x}", rand::random::<u64>())
}

/// Writes the marker, reads it back into the termination message, removes it.
pub fn write_read_script() -> String {
    format!(
        "set -e; printf '%s' \"$MARKER\" > {FILE}; cat {FILE} > /dev/termination-log; rm -f {FILE}"
    )
}

/// Writes the marker and keeps the volume attached (for the snapshot).
pub fn writer_script() -> String {
    format!("set -e; printf '%s' \"$MARKER\" > {FILE}; sync; exec sleep 3600")
}

/// Reads the marker back from a restored volume.
pub fn reader_script() -> String {
    format!("set -e; cat {FILE} > /dev/termination-log")
}

fn labels(what: &str) -> Value {
    json!({ LABEL: what, "app.kubernetes.io/managed-by": "homelab" })
}

pub fn claim(name: &str, class: &str, what: &str) -> Value {
    let mode = if class == "nfs" {
        "ReadWriteMany"
    } else {
        "ReadWriteOnce"
    };
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(what)},
        "spec": {"storageClassName": class, "accessModes": [mode],
                 "resources": {"requests": {"storage": SIZE}}},
    })
}

pub fn pod(name: &str, claim: &str, script: &str, marker: Option<&str>, what: &str) -> Value {
    let env: Vec<Value> = marker
        .map(|m| json!({"name": "MARKER", "value": m}))
        .into_iter()
        .collect();
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": labels(what)},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "probe", "image": IMAGE,
                "command": ["sh", "-c", script],
                "env": env,
                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                "readinessProbe": {"exec": {"command": ["test", "-s", FILE]}, "periodSeconds": 1},
                "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}},
            }],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    })
}

async fn ensure_namespace(client: &Client) -> StageResult<()> {
    if objects::get(client, NS_KIND, None, NAMESPACE)
        .await?
        .is_none()
    {
        objects::create(
            client,
            NS_KIND,
            &json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": NAMESPACE, "labels": {"app.kubernetes.io/managed-by": crate::stages::probe::MANAGED_BY}}}),
        )
        .await?;
    }
    Ok(())
}

async fn delete_and_wait(
    client: &Client,
    cx: &StepCx,
    kind: Kind,
    ns: Option<&str>,
    name: &str,
    l: Limits,
) -> StageResult<bool> {
    let sent = objects::delete(client, kind, ns, name).await?;
    if sent {
        objects::wait_gone(client, cx, kind, ns, name, l.gone).await?;
    }
    Ok(sent)
}

/// Remove every probe object; returns what was removed (`Kind ns/name`).
pub async fn cleanup(client: &Client, cx: &StepCx, l: Limits) -> StageResult<Vec<String>> {
    let mut removed = Vec::new();
    let sel = Some(LABEL);
    for p in objects::list(client, POD, Some(NAMESPACE), sel).await? {
        let name = text(&p, "/metadata/name").to_string();
        if delete_and_wait(client, cx, POD, Some(NAMESPACE), &name, l).await? {
            removed.push(POD.label(Some(NAMESPACE), &name));
        }
    }
    for c in objects::list(client, PVC, Some(NAMESPACE), sel).await? {
        let name = text(&c, "/metadata/name").to_string();
        if delete_and_wait(client, cx, PVC, Some(NAMESPACE), &name, l).await? {
            removed.push(PVC.label(Some(NAMESPACE), &name));
        }
    }
    // The classes retain their volumes: the probe's PVs (claimed from NAMESPACE) go by name,
    // and Longhorn's Volume of the same name with them.
    for v in objects::list(client, PV, None, None).await? {
        if text(&v, "/spec/claimRef/namespace") != NAMESPACE {
            continue;
        }
        let name = text(&v, "/metadata/name").to_string();
        if delete_and_wait(client, cx, PV, None, &name, l).await? {
            removed.push(PV.label(None, &name));
        }
        if delete_and_wait(client, cx, LH_VOLUME, Some(LONGHORN_NS), &name, l).await? {
            removed.push(LH_VOLUME.label(Some(LONGHORN_NS), &name));
        }
    }
    for (kind, ns) in [
        (LH_BACKUP, Some(LONGHORN_NS)),
        (LH_SNAPSHOT, Some(LONGHORN_NS)),
        (STORAGE_CLASS, None),
    ] {
        if delete_and_wait(client, cx, kind, ns, RESTORE, l).await? {
            removed.push(kind.label(ns, RESTORE));
        }
    }
    Ok(removed)
}

/// Run `probe`, then clean up whatever it ended with; a cleanup failure after a probe failure
/// is logged, the probe's error is what is returned.
pub async fn with_cleanup<F>(
    client: &Client,
    cx: &StepCx,
    l: Limits,
    probe: F,
) -> StageResult<Evidence>
where
    F: std::future::Future<Output = StageResult<Evidence>>,
{
    let left = cleanup(client, cx, l).await?;
    if !left.is_empty() {
        cx.log(format!(
            "removed what an earlier run left: {}",
            left.join(", ")
        ))
        .await;
    }
    ensure_namespace(client).await?;
    let out = probe.await;
    let clean = cleanup(client, cx, l).await;
    match (out, clean) {
        (Ok(ev), Ok(_)) => Ok(ev),
        (Ok(_), Err(e)) => Err(e.context("cleaning up after the probe")),
        (Err(e), Ok(_)) => Err(e),
        (Err(e), Err(c)) => {
            cx.log(format!("cleanup after the failed probe: {}", c.message))
                .await;
            Err(e)
        }
    }
}

async fn warnings(client: &Client, kind: &str, name: &str) -> Vec<String> {
    match crate::backends::kube::events::for_object(client, kind, Some(NAMESPACE), name).await {
        Ok(list) => list
            .iter()
            .take(3)
            .map(|e| super::objects::clean(&format!("{} {}: {}", e.type_, e.reason, e.message)))
            .collect(),
        Err(e) => vec![format!("(events could not be read: {e})")],
    }
}

/// Create the claim and wait until it is Bound; returns its volume (PV) name.
pub async fn bind(
    client: &Client,
    cx: &StepCx,
    name: &str,
    class: &str,
    what: &str,
    l: Limits,
    hint: &str,
) -> StageResult<String> {
    objects::create(client, PVC, &claim(name, class, what)).await?;
    let deadline = tokio::time::Instant::now() + l.bind;
    let mut backoff = crate::stages::poll::Backoff::new(objects::POLL);
    loop {
        let c = objects::get(client, PVC, Some(NAMESPACE), name).await?;
        if let Some(c) = &c
            && text(c, "/status/phase") == "Bound"
        {
            let pv = text(c, "/spec/volumeName").to_string();
            cx.log(format!(
                "PersistentVolumeClaim {NAMESPACE}/{name} bound to {pv} (StorageClass {class})"
            ))
            .await;
            return Ok(pv);
        }
        if tokio::time::Instant::now() >= deadline {
            let events = warnings(client, "PersistentVolumeClaim", name).await;
            return Err(StageError::new(format!(
                "PersistentVolumeClaim {NAMESPACE}/{name} (StorageClass {class}) did not bind in {}s: {}",
                l.bind.as_secs(),
                if events.is_empty() { "no events".to_string() } else { events.join("; ") }
            ))
            .with_hint(hint.to_string()));
        }
        cx.sleep(backoff.next_interval()).await?;
    }
}

/// Create the pod and wait until its script ended; returns its termination message.
pub async fn run_pod(
    client: &Client,
    cx: &StepCx,
    pod_obj: &Value,
    l: Limits,
) -> StageResult<String> {
    let name = text(pod_obj, "/metadata/name").to_string();
    objects::create(client, POD, pod_obj).await?;
    let deadline = tokio::time::Instant::now() + l.run;
    let mut backoff = crate::stages::poll::Backoff::new(objects::POLL);
    loop {
        let p = objects::get(client, POD, Some(NAMESPACE), &name).await?;
        let phase = p
            .as_ref()
            .map(|p| text(p, "/status/phase").to_string())
            .unwrap_or_default();
        let term = |p: &Value, f: &str| {
            text(
                p,
                &format!("/status/containerStatuses/0/state/terminated/{f}"),
            )
            .to_string()
        };
        match (phase.as_str(), &p) {
            ("Succeeded", Some(p)) => return Ok(super::objects::clean(&term(p, "message"))),
            ("Failed", Some(p)) => {
                return Err(StageError::new(format!(
                    "Pod {NAMESPACE}/{name} failed (exit code {}): {}",
                    p.pointer("/status/containerStatuses/0/state/terminated/exitCode")
                        .map_or("?".into(), Value::to_string),
                    super::objects::clean(&term(p, "message"))
                ))
                .with_hint(format!(
                    "kubectl -n {NAMESPACE} logs {name}; the volume may be read-only or full"
                )));
            }
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            let waiting = p
                .as_ref()
                .map(|p| text(p, "/status/containerStatuses/0/state/waiting/reason").to_string())
                .unwrap_or_default();
            let events = warnings(client, "Pod", &name).await;
            return Err(StageError::new(format!(
                "Pod {NAMESPACE}/{name} did not finish in {}s (phase {}{}){}",
                l.run.as_secs(),
                if phase.is_empty() { "unknown" } else { &phase },
                if waiting.is_empty() {
                    String::new()
                } else {
                    format!(", {waiting}")
                },
                if events.is_empty() {
                    String::new()
                } else {
                    format!(": {}", events.join("; "))
                }
            ))
            .with_hint(format!(
                "kubectl -n {NAMESPACE} describe pod {name} (image {IMAGE} must be pullable)"
            )));
        }
        cx.sleep(backoff.next_interval()).await?;
    }
}

/// The probe of one StorageClass: bind, write, read back.
pub async fn class_probe(
    client: &Client,
    cx: &StepCx,
    class: &str,
    l: Limits,
    bind_hint: &str,
) -> StageResult<Evidence> {
    let name = format!("probe-{class}");
    let what = format!("pvc-{class}");
    let m = marker();
    let sw = Stopwatch::start();
    bind(client, cx, &name, class, &what, l, bind_hint).await?;
    let read = run_pod(
        client,
        cx,
        &pod(&name, &name, &write_read_script(), Some(&m), &what),
        l,
    )
    .await?;
    let ev = Evidence::new(
        format!("pvc/{class}"),
        m.clone(),
        read.clone(),
        sw.elapsed(),
        read == m,
    );
    report(cx, &ev).await;
    if !ev.ok {
        return Err(StageError::new(format!(
            "StorageClass {class}: the pod wrote {m:?} to its volume and read back {read:?}"
        ))
        .with_hint("the volume does not keep what is written: look at the provisioner's logs"));
    }
    Ok(ev)
}

async fn wait_for<T>(
    client: &Client,
    cx: &StepCx,
    kind: Kind,
    ns: &str,
    name: &str,
    limit: Duration,
    mut done: impl FnMut(&Value) -> Option<StageResult<T>>,
) -> StageResult<T> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut backoff = crate::stages::poll::Backoff::new(objects::POLL);
    loop {
        if let Some(o) = objects::get(client, kind, Some(ns), name).await?
            && let Some(r) = done(&o)
        {
            return r;
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StageError::new(format!(
                "{} did not complete in {}s",
                kind.label(Some(ns), name),
                limit.as_secs()
            ))
            .with_hint(format!(
                "kubectl -n {ns} get {} {name} -o yaml",
                kind.plural
            )));
        }
        cx.sleep(backoff.next_interval()).await?;
    }
}

/// The restore probe: write, snapshot, back up, restore to a new claim, read back.
pub async fn restore_probe(
    client: &Client,
    cx: &StepCx,
    l: Limits,
    cluster: &str,
) -> StageResult<Evidence> {
    let what = "backup-restore";
    let m = marker();
    let sw = Stopwatch::start();
    let hint = "Longhorn could not provision it: kubectl -n longhorn-system get nodes.longhorn.io,volumes.longhorn.io";
    let volume = bind(
        client,
        cx,
        "probe-restore-source",
        "longhorn",
        what,
        l,
        hint,
    )
    .await?;
    let writer = pod(
        "probe-restore-writer",
        "probe-restore-source",
        &writer_script(),
        Some(&m),
        what,
    );
    objects::create(client, POD, &writer).await?;
    wait_for(
        client,
        cx,
        POD,
        NAMESPACE,
        "probe-restore-writer",
        l.run,
        |p| {
            let ready = p
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c["type"] == "Ready" && c["status"] == "True")
                });
            match text(p, "/status/phase") {
                "Failed" | "Succeeded" => Some(Err(StageError::new(format!(
                    "Pod {NAMESPACE}/probe-restore-writer ended before the snapshot: {}",
                    text(p, "/status/containerStatuses/0/state/terminated/message")
                )))),
                _ if ready => Some(Ok(())),
                _ => None,
            }
        },
    )
    .await?;
    cx.log(format!("wrote {m} to Longhorn volume {volume}"))
        .await;
    let snapshot = json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Snapshot",
        "metadata": {"name": RESTORE, "namespace": LONGHORN_NS, "labels": labels(what)},
        "spec": {"volume": volume, "createSnapshot": true},
    });
    objects::create(client, LH_SNAPSHOT, &snapshot).await?;
    wait_for(client, cx, LH_SNAPSHOT, LONGHORN_NS, RESTORE, l.bind, |s| {
        let err = text(s, "/status/error");
        if !err.is_empty() {
            return Some(Err(StageError::new(format!(
                "Snapshot {LONGHORN_NS}/{RESTORE} of volume {volume}: {}",
                super::objects::clean(err)
            ))));
        }
        (s.pointer("/status/readyToUse") == Some(&json!(true))).then_some(Ok(()))
    })
    .await?;
    let backup = json!({
        "apiVersion": "longhorn.io/v1beta2", "kind": "Backup",
        "metadata": {"name": RESTORE, "namespace": LONGHORN_NS,
                     "labels": {LABEL: what, "backup-volume": volume}},
        "spec": {"snapshotName": RESTORE, "labels": {}},
    });
    objects::create(client, LH_BACKUP, &backup).await?;
    let url = wait_for(
        client,
        cx,
        LH_BACKUP,
        LONGHORN_NS,
        RESTORE,
        l.bind,
        |b| match text(b, "/status/state") {
            "Completed" => Some(Ok(text(b, "/status/url").to_string())),
            "Error" => Some(Err(StageError::new(format!(
                "Backup {LONGHORN_NS}/{RESTORE} of volume {volume} failed: {}",
                super::objects::clean(text(b, "/status/error"))
            ))
            .with_hint(format!(
                "check BackupTarget {LONGHORN_NS}/default (the longhorn/backup-target step) and \
                 storage.backup_target in config/clusters/{cluster}.yaml"
            )))),
            _ => None,
        },
    )
    .await?;
    cx.log(format!("backed up to {}", super::objects::clean(&url)))
        .await;
    delete_and_wait(client, cx, POD, Some(NAMESPACE), "probe-restore-writer", l).await?;
    let class = json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": RESTORE, "labels": labels(what)},
        "provisioner": "driver.longhorn.io",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
        "parameters": {"numberOfReplicas": "1", "staleReplicaTimeout": "30", "fromBackup": url},
    });
    objects::create(client, STORAGE_CLASS, &class).await?;
    bind(client, cx, "probe-restore-target", RESTORE, what, l, hint).await?;
    let read = run_pod(
        client,
        cx,
        &pod(
            "probe-restore-reader",
            "probe-restore-target",
            &reader_script(),
            None,
            what,
        ),
        l,
    )
    .await?;
    let ev = Evidence::new(
        "backup/restore",
        m.clone(),
        read.clone(),
        sw.elapsed(),
        read == m,
    );
    report(cx, &ev).await;
    if !ev.ok {
        return Err(StageError::new(format!(
            "the volume restored from {url} holds {read:?}, the backed-up volume held {m:?}"
        ))
        .with_hint(
            "the backup does not restore what was written: look at the Longhorn manager's logs",
        ));
    }
    Ok(ev)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_objects_carry_the_label_the_cleanup_selects_and_the_scripts_use_one_file() {
        let c = claim("probe-nfs", "nfs", "pvc-nfs");
        assert_eq!(c["spec"]["accessModes"][0], "ReadWriteMany");
        assert_eq!(c["metadata"]["labels"][LABEL], "pvc-nfs");
        let p = pod("p", "c", &write_read_script(), Some("m-1"), "pvc-nfs");
        assert_eq!(p["spec"]["containers"][0]["env"][0]["value"], "m-1");
        assert_eq!(p["spec"]["restartPolicy"], "Never");
        for s in [write_read_script(), writer_script(), reader_script()] {
            assert!(s.contains(FILE), "{s}");
        }
        let m = marker();
        assert!(m.starts_with("homelab-") && m.len() == 24, "{m}");
        assert_ne!(m, marker());
    }
}
