//! What the storage charts run in the simulator once their HelmReleases are Ready: the longhorn
//! chart's StorageClass `longhorn` (from the release's `persistence` values) and
//! longhorn-manager's `BackupTarget default`; the nfs-subdir chart's StorageClass (its
//! `storageClass` values). Then, as longhorn-manager and the kubelet would:
//!
//! - a Longhorn `Volume` per PV of `driver.longhorn.io`, attached while a running pod mounts
//!   its claim; a PV whose claim is gone is `Released` (and removed under `Delete`); a PV or
//!   Volume being deleted goes, and its data with it;
//! - `BackupTarget` status from its URL: `available` only when the URL is `nfs://server:/path`
//!   of an export the simulator serves ([`Memory::exports`], set by `KubeSim::serve_nfs`) and
//!   no [`Fault::BackupTargetUnavailable`](super::Fault) is injected (`Unavailable=True`
//!   otherwise, with longhorn-manager's wording);
//! - `Snapshot` (of an attached volume) and `Backup` (of a snapshot, to an available target:
//!   `Completed` with its `url`); a PV of a StorageClass whose `fromBackup` names a backup URL
//!   starts with that backup's data (a restore, WIRE-2 K.5);
//! - probe pods (label `homelab.dev/probe`): their `sh -c` script is not run but read by
//!   shape: `printf '%s' "$MARKER" > /data/F` writes the env's MARKER into the volume,
//!   `cat /data/F > /dev/termination-log` reads it into the container's termination message,
//!   `rm -f /data/F` removes it; a script ending in `sleep` keeps running, others end
//!   `Succeeded` (or `Failed` with cat's error). Data is kept per volume (PV name).

use super::{Fault, Pass, key, meta};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) const PROBE_LABEL: &str = "homelab.dev/probe";
const LONGHORN_DRIVER: &str = "driver.longhorn.io";
const NFS_PROVISIONER: &str = "cluster.local/nfs-subdir-external-provisioner";
const MANAGER: &str = "longhorn-manager";

/// Files of one volume.
type Files = BTreeMap<String, String>;

/// What longhorn-manager and the volumes hold between passes.
#[derive(Default)]
pub(crate) struct Memory {
    /// Exports served to the cluster (`server:/path` -> writable), from the controllers' handle.
    pub(crate) exports: BTreeMap<String, bool>,
    /// PV name -> its files.
    data: BTreeMap<String, Files>,
    /// Snapshot `ns/name` -> the files when it was taken.
    snapshots: BTreeMap<String, Files>,
    /// Backup URL -> the files it holds.
    backups: BTreeMap<String, Files>,
    /// Probe pods (uid) whose script already ran.
    ran: BTreeSet<String>,
}

fn ready(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn served(p: &Pass, group: &str, plural: &str) -> bool {
    p.store
        .types()
        .iter()
        .any(|t| t.group == group && t.plural == plural)
}

pub(super) fn reconcile(p: &mut Pass, mem: &mut Memory) {
    for hr in p.list(&key("helm.toolkit.fluxcd.io", "helmreleases"), None) {
        if !ready(&hr) {
            continue;
        }
        match hr.pointer("/spec/chart/spec/chart").and_then(Value::as_str) {
            Some("longhorn") => longhorn_installed(p, &hr),
            Some("nfs-subdir-external-provisioner") => nfs_installed(p, &hr),
            _ => {}
        }
    }
    volumes(p, mem);
    if served(p, "longhorn.io", "backuptargets") {
        targets(p, mem);
    }
    probe_pods(p, mem);
    if served(p, "longhorn.io", "snapshots") {
        snapshots(p, mem);
    }
    if served(p, "longhorn.io", "backups") {
        backups(p, mem);
    }
}

fn class(name: &str, provisioner: &str, default: bool, reclaim: &Value, params: Value) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "annotations": {"storageclass.kubernetes.io/is-default-class": if default { "true" } else { "false" }},
        },
        "provisioner": provisioner,
        "allowVolumeExpansion": true,
        "reclaimPolicy": if reclaim.is_string() { reclaim.clone() } else { json!("Delete") },
        "volumeBindingMode": "Immediate",
        "parameters": params,
    })
}

fn ensure(p: &mut Pass, k: &(String, String), ns: &str, obj: Value) {
    if p.store.get(k, ns, meta(&obj, "name")).is_err() {
        p.save(k, None, obj, "helm-controller");
    }
}

fn longhorn_installed(p: &mut Pass, hr: &Value) {
    let values = hr.pointer("/spec/values").cloned().unwrap_or(json!({}));
    let default = values.pointer("/persistence/defaultClass") != Some(&json!(false));
    let replicas = values
        .pointer("/persistence/defaultClassReplicaCount")
        .map_or("3".to_string(), |v| {
            v.to_string().trim_matches('"').to_string()
        });
    let sc = class(
        "longhorn",
        LONGHORN_DRIVER,
        default,
        values
            .pointer("/persistence/reclaimPolicy")
            .unwrap_or(&Value::Null),
        json!({"numberOfReplicas": replicas, "staleReplicaTimeout": "30", "fromBackup": "", "dataLocality": "disabled"}),
    );
    ensure(p, &key("storage.k8s.io", "storageclasses"), "", sc);
    let ns = meta(hr, "namespace").to_string();
    if served(p, "longhorn.io", "backuptargets") {
        let target = json!({
            "apiVersion": "longhorn.io/v1beta2",
            "kind": "BackupTarget",
            "metadata": {"name": "default", "namespace": ns},
            "spec": {"backupTargetURL": "", "credentialSecret": "", "pollInterval": "5m0s"},
        });
        ensure(p, &key("longhorn.io", "backuptargets"), &ns, target);
    }
}

fn nfs_installed(p: &mut Pass, hr: &Value) {
    let values = hr.pointer("/spec/values").cloned().unwrap_or(json!({}));
    let name = values
        .pointer("/storageClass/name")
        .and_then(Value::as_str)
        .unwrap_or("nfs-client")
        .to_string();
    let default = values.pointer("/storageClass/defaultClass") == Some(&json!(true));
    let sc = class(
        &name,
        NFS_PROVISIONER,
        default,
        values
            .pointer("/storageClass/reclaimPolicy")
            .unwrap_or(&Value::Null),
        json!({"archiveOnDelete": "true"}),
    );
    ensure(p, &key("storage.k8s.io", "storageclasses"), "", sc);
}

/// `server:/path` of an `nfs://server:/path?options` URL.
pub(crate) fn nfs_export_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("nfs://")?;
    let rest = rest.split('?').next().unwrap_or(rest);
    let (server, path) = rest.split_once(':')?;
    (!server.is_empty() && path.starts_with('/'))
        .then(|| format!("{server}:{}", path.trim_end_matches('/')))
}

fn target_state(p: &Pass, mem: &Memory, url: &str) -> Result<(), String> {
    if url.is_empty() {
        return Err("backup target URL is empty".into());
    }
    if p.faults
        .iter()
        .any(|f| matches!(f, Fault::BackupTargetUnavailable))
    {
        return Err(format!(
            "failed to init backup target clients: failed to list backup volumes in {url}: cannot mount nfs: mount.nfs: Connection timed out"
        ));
    }
    let Some(export) = nfs_export_of(url) else {
        return Err(format!(
            "failed to init backup target clients: unsupported backup target URL {url} (the simulator serves nfs:// only)"
        ));
    };
    let listed = mem.exports.keys().any(|e| {
        e.trim_end_matches('/') == export
            || export.starts_with(&format!("{}/", e.trim_end_matches('/')))
    });
    if listed {
        Ok(())
    } else {
        Err(format!(
            "failed to init backup target clients: cannot mount nfs {export}: mount.nfs: Connection timed out"
        ))
    }
}

fn targets(p: &mut Pass, mem: &Memory) {
    for bt in p.list(&key("longhorn.io", "backuptargets"), None) {
        let url = bt
            .pointer("/spec/backupTargetURL")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut next = Value::clone(&bt);
        let (available, cond) = match target_state(p, mem, url) {
            Ok(()) => (
                true,
                json!({"type": "Unavailable", "status": "False", "reason": "", "message": ""}),
            ),
            Err(m) => (
                false,
                json!({"type": "Unavailable", "status": "True", "reason": "Unavailable", "message": m}),
            ),
        };
        let old_cond = bt.pointer("/status/conditions/0").cloned();
        let mut cond = cond;
        let same = old_cond
            .as_ref()
            .is_some_and(|o| o["status"] == cond["status"] && o["message"] == cond["message"]);
        cond["lastTransitionTime"] = match (same, old_cond) {
            (true, Some(o)) => o["lastTransitionTime"].clone(),
            _ => json!(super::super::store::now()),
        };
        next["status"]["available"] = json!(available);
        next["status"]["conditions"] = json!([cond]);
        next["status"]["ownerID"] = json!("k3s-server-1");
        if bt.pointer("/status/available") != Some(&json!(available)) || !same {
            next["status"]["lastSyncedAt"] = json!(super::super::store::now());
            p.save(
                &key("longhorn.io", "backuptargets"),
                Some(&*bt),
                next,
                MANAGER,
            );
        }
    }
}

/// Claims mounted by a running pod: (namespace, claim).
fn mounted_claims(p: &Pass) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for pod in p.list(&key("", "pods"), None) {
        if pod.pointer("/status/phase") != Some(&json!("Running")) {
            continue;
        }
        for v in pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(c) = v
                .pointer("/persistentVolumeClaim/claimName")
                .and_then(Value::as_str)
            {
                out.insert((meta(&pod, "namespace").to_string(), c.to_string()));
            }
        }
    }
    out
}

fn volumes(p: &mut Pass, mem: &mut Memory) {
    let pvk = key("", "persistentvolumes");
    let claims = p.list(&key("", "persistentvolumeclaims"), None);
    let mounted = mounted_claims(p);
    let with_volumes = served(p, "longhorn.io", "volumes");
    let mut alive = BTreeSet::new();
    for pv in p.list(&pvk, None) {
        let driver = pv
            .pointer("/spec/csi/driver")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if driver != LONGHORN_DRIVER && driver != NFS_PROVISIONER {
            continue;
        }
        let name = meta(&pv, "name").to_string();
        if pv.pointer("/metadata/deletionTimestamp").is_some() {
            let mut next = Value::clone(&pv);
            next["metadata"]["finalizers"] = json!([]);
            p.save(&pvk, Some(&*pv), next, "kube-controller-manager");
            let _ = p.store.delete(&pvk, "", &name, &Default::default());
            mem.data.remove(&name);
            continue;
        }
        alive.insert(name.clone());
        let ns = pv
            .pointer("/spec/claimRef/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let claim = pv
            .pointer("/spec/claimRef/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let uid = pv
            .pointer("/spec/claimRef/uid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let claimed = claims.iter().any(|c| {
            meta(c, "namespace") == ns && meta(c, "name") == claim && meta(c, "uid") == uid
        });
        if !claimed && pv.pointer("/status/phase") == Some(&json!("Bound")) {
            if pv.pointer("/spec/persistentVolumeReclaimPolicy") == Some(&json!("Delete")) {
                let _ = p.store.delete(&pvk, "", &name, &Default::default());
                continue;
            }
            let mut next = Value::clone(&pv);
            next["status"]["phase"] = json!("Released");
            p.save(&pvk, Some(&*pv), next, "kube-controller-manager");
        }
        if driver == LONGHORN_DRIVER && with_volumes {
            let attached = claimed && mounted.contains(&(ns.to_string(), claim.to_string()));
            longhorn_volume(p, &pv, attached);
        }
    }
    if with_volumes {
        let vk = key("longhorn.io", "volumes");
        for v in p.list(&vk, None) {
            if v.pointer("/metadata/deletionTimestamp").is_some() {
                let mut next = Value::clone(&v);
                next["metadata"]["finalizers"] = json!([]);
                p.save(&vk, Some(&*v), next, MANAGER);
                let _ = p.store.delete(
                    &vk,
                    meta(&v, "namespace"),
                    meta(&v, "name"),
                    &Default::default(),
                );
                mem.data.remove(meta(&v, "name"));
            } else {
                alive.insert(meta(&v, "name").to_string());
            }
        }
    }
    mem.data.retain(|k, _| alive.contains(k));
}

fn longhorn_volume(p: &mut Pass, pv: &Value, attached: bool) {
    let vk = key("longhorn.io", "volumes");
    let name = meta(pv, "name");
    let old = p.store.get(&vk, "longhorn-system", name).ok();
    if old
        .as_ref()
        .is_some_and(|v| v.pointer("/metadata/deletionTimestamp").is_some())
    {
        return;
    }
    let (state, robustness) = if attached {
        ("attached", "healthy")
    } else {
        ("detached", "unknown")
    };
    let mut next = old.clone().unwrap_or_else(|| {
        json!({
            "apiVersion": "longhorn.io/v1beta2",
            "kind": "Volume",
            "metadata": {"name": name, "namespace": "longhorn-system"},
            "spec": {"size": "1073741824", "numberOfReplicas": 2, "frontend": "blockdev", "dataEngine": "v1"},
        })
    });
    next["status"]["state"] = json!(state);
    next["status"]["robustness"] = json!(robustness);
    next["status"]["kubernetesStatus"]["pvName"] = json!(name);
    if old.as_ref() != Some(&next) {
        p.save(&vk, old.as_ref(), next, MANAGER);
    }
}

fn env_value(c: &Value, name: &str) -> Option<String> {
    c.pointer("/env")
        .and_then(Value::as_array)?
        .iter()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .map(str::to_string)
}

/// The word after `prefix` in `script` (up to a space, `;` or newline).
fn path_after(script: &str, prefix: &str) -> Option<String> {
    let rest = script.split_once(prefix)?.1;
    let end = rest.find([' ', ';', '\n']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

/// The files of the volume behind `claim` in `ns`: the PV's name, created from the backup its
/// StorageClass restores (`fromBackup`), if any.
fn volume_of(p: &Pass, mem: &mut Memory, ns: &str, claim: &str) -> Option<String> {
    let pvc = p
        .store
        .get(&key("", "persistentvolumeclaims"), ns, claim)
        .ok()?;
    let pv = pvc
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)?
        .to_string();
    if !mem.data.contains_key(&pv) {
        let class = pvc
            .pointer("/spec/storageClassName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let restored = p
            .store
            .get(&key("storage.k8s.io", "storageclasses"), "", class)
            .ok()
            .and_then(|c| {
                c.pointer("/parameters/fromBackup")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .and_then(|url| mem.backups.get(&url).cloned())
            .unwrap_or_default();
        mem.data.insert(pv.clone(), restored);
    }
    Some(pv)
}

fn probe_pods(p: &mut Pass, mem: &mut Memory) {
    let podk = key("", "pods");
    let pods = p.list(&podk, None);
    mem.ran
        .retain(|uid| pods.iter().any(|pod| meta(pod, "uid") == uid));
    for pod in pods {
        let is_probe = pod
            .pointer("/metadata/labels")
            .and_then(|l| l.get(PROBE_LABEL))
            .is_some();
        let uid = meta(&pod, "uid").to_string();
        if !is_probe
            || mem.ran.contains(&uid)
            || pod.pointer("/status/phase") != Some(&json!("Running"))
            || pod.pointer("/metadata/deletionTimestamp").is_some()
        {
            continue;
        }
        let Some(c) = pod.pointer("/spec/containers/0").cloned() else {
            continue;
        };
        let script = c
            .pointer("/command")
            .and_then(Value::as_array)
            .and_then(|a| a.last())
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let ns = meta(&pod, "namespace").to_string();
        let claim = pod
            .pointer("/spec/volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find_map(|v| {
                v.pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
            })
            .unwrap_or_default()
            .to_string();
        let Some(pv) = volume_of(p, mem, &ns, &claim) else {
            continue;
        };
        mem.ran.insert(uid);
        let files = mem.data.entry(pv).or_default();
        let mut message = String::new();
        let mut failed = None;
        if let Some(f) = path_after(&script, "\"$MARKER\" > ") {
            files.insert(f, env_value(&c, "MARKER").unwrap_or_default());
        }
        if let Some(f) = path_after(&script, "cat ") {
            match files.get(&f) {
                Some(text) => message = text.clone(),
                None => failed = Some(format!("cat: can't open '{f}': No such file or directory")),
            }
        }
        if failed.is_none()
            && let Some(f) = path_after(&script, "rm -f ")
        {
            files.remove(&f);
        }
        if failed.is_none() && script.contains("sleep ") {
            continue;
        }
        let mut next = Value::clone(&pod);
        let now = super::super::store::now();
        let (phase, code, reason, msg) = match failed {
            None => ("Succeeded", 0, "Completed", message),
            Some(e) => ("Failed", 1, "Error", e),
        };
        next["status"]["phase"] = json!(phase);
        if let Some(statuses) = next
            .pointer_mut("/status/containerStatuses")
            .and_then(Value::as_array_mut)
        {
            for s in statuses {
                s["ready"] = json!(false);
                s["started"] = json!(false);
                s["state"] = json!({"terminated": {"exitCode": code, "reason": reason, "message": msg,
                    "startedAt": now, "finishedAt": now}});
            }
        }
        super::workloads::set_condition(&mut next, "Ready", "False", "PodCompleted", "");
        p.save(&podk, Some(&*pod), next, "kubelet");
    }
}

fn snapshots(p: &mut Pass, mem: &mut Memory) {
    let sk = key("longhorn.io", "snapshots");
    let attached: BTreeSet<String> = p
        .list(&key("longhorn.io", "volumes"), None)
        .iter()
        .filter(|v| v.pointer("/status/state") == Some(&json!("attached")))
        .map(|v| meta(v, "name").to_string())
        .collect();
    let list = p.list(&sk, None);
    let names: BTreeSet<String> = list
        .iter()
        .map(|s| format!("{}/{}", meta(s, "namespace"), meta(s, "name")))
        .collect();
    mem.snapshots.retain(|k, _| names.contains(k));
    for s in list {
        let id = format!("{}/{}", meta(&s, "namespace"), meta(&s, "name"));
        if s.pointer("/metadata/deletionTimestamp").is_some() {
            let mut next = Value::clone(&s);
            next["metadata"]["finalizers"] = json!([]);
            p.save(&sk, Some(&*s), next, MANAGER);
            let _ = p.store.delete(
                &sk,
                meta(&s, "namespace"),
                meta(&s, "name"),
                &Default::default(),
            );
            continue;
        }
        if s.pointer("/status/readyToUse") == Some(&json!(true))
            || s.pointer("/status/error").is_some_and(|e| e != "")
        {
            continue;
        }
        let volume = s
            .pointer("/spec/volume")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut next = Value::clone(&s);
        if attached.contains(volume) {
            mem.snapshots
                .insert(id, mem.data.get(volume).cloned().unwrap_or_default());
            next["status"]["readyToUse"] = json!(true);
            next["status"]["creationTime"] = json!(super::super::store::now());
            next["status"]["parent"] = json!("volume-head");
        } else {
            next["status"]["readyToUse"] = json!(false);
            next["status"]["error"] = json!(format!(
                "cannot create snapshot of volume {volume}: the volume is not attached"
            ));
        }
        p.save(&sk, Some(&*s), next, MANAGER);
    }
}

fn backups(p: &mut Pass, mem: &mut Memory) {
    let bk = key("longhorn.io", "backups");
    let list = p.list(&bk, None);
    let targets = p.list(&key("longhorn.io", "backuptargets"), None);
    let urls: BTreeSet<String> = list
        .iter()
        .filter_map(|b| {
            b.pointer("/status/url")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    mem.backups.retain(|u, _| urls.contains(u));
    for b in list {
        if b.pointer("/metadata/deletionTimestamp").is_some() {
            let mut next = Value::clone(&b);
            next["metadata"]["finalizers"] = json!([]);
            p.save(&bk, Some(&*b), next, MANAGER);
            let _ = p.store.delete(
                &bk,
                meta(&b, "namespace"),
                meta(&b, "name"),
                &Default::default(),
            );
            continue;
        }
        let state = b
            .pointer("/status/state")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if state == "Completed" || state == "Error" {
            continue;
        }
        let ns = meta(&b, "namespace");
        let snap = b
            .pointer("/spec/snapshotName")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let target = targets
            .iter()
            .find(|t| meta(t, "name") == "default" && meta(t, "namespace") == ns);
        let url = target
            .and_then(|t| t.pointer("/spec/backupTargetURL").and_then(Value::as_str))
            .unwrap_or_default()
            .to_string();
        let available =
            target.is_some_and(|t| t.pointer("/status/available") == Some(&json!(true)));
        let snapshot = mem.snapshots.get(&format!("{ns}/{snap}")).cloned();
        let volume = p
            .store
            .get(&key("longhorn.io", "snapshots"), ns, snap)
            .ok()
            .and_then(|s| {
                s.pointer("/spec/volume")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default();
        let mut next = Value::clone(&b);
        next["status"]["snapshotName"] = json!(snap);
        next["status"]["volumeName"] = json!(volume);
        next["status"]["backupTargetName"] = json!("default");
        match (available, snapshot) {
            (true, Some(files)) => {
                let base = url.split('?').next().unwrap_or(&url);
                let full = format!("{base}?backup={}&volume={volume}", meta(&b, "name"));
                mem.backups.insert(full.clone(), files);
                next["status"]["state"] = json!("Completed");
                next["status"]["progress"] = json!(100);
                next["status"]["url"] = json!(full);
                next["status"]["backupCreatedAt"] = json!(super::super::store::now());
            }
            (false, _) => {
                next["status"]["state"] = json!("Error");
                next["status"]["error"] =
                    json!(format!("backup target default is unavailable ({url})"));
            }
            (true, None) => {
                next["status"]["state"] = json!("Error");
                next["status"]["error"] = json!(format!("snapshot {snap} not found or not ready"));
            }
        }
        p.save(&bk, Some(&*b), next, MANAGER);
    }
}
