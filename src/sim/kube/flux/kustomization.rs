//! kustomize-controller (Kustomization v1): when its source has an artifact and every
//! `dependsOn` Kustomization is Ready at that revision, build `spec.path` of the artifact with
//! the kustomize subset (`kustomize/`), decrypt SOPS documents with the Secret in
//! `spec.decryption` (`sops.rs`), apply every object with server-side apply as field manager
//! `kustomize-controller` (CRDs and Namespaces first; objects labelled
//! `kustomize.toolkit.fluxcd.io/name` and `/namespace`), record `status.inventory`
//! (`<ns>_<name>_<group>_<Kind>`, `v`), prune what left the inventory (`prune: true`), wait
//! for health (`wait: true`, `healthChecks`) and report Ready `ReconciliationSucceeded`
//! "Applied revision: main@sha1:<hex>" with `lastAppliedRevision`. Reasons and messages as
//! kustomize-controller (`internal/controller/kustomization_controller.go`) and fluxcd/pkg
//! `ssa` word them: `ArtifactFailed`, `DependencyNotReady` "dependency 'ns/name' is not
//! ready", `BuildFailed` (kustomize and SOPS errors), `ReconciliationFailed` ("Kind/ns/name
//! dry-run failed: ..."), `HealthCheckFailed`.
//!
//! Simplified: a build or apply of one revision is not retried at `retryInterval` (an apply
//! that failed on a kind not served yet is retried once a CRD registers a new type); health
//! checks treat Flux objects as healthy when Ready=True at their generation, Deployments when
//! Available, everything else at once; no postBuild substitution (this repository's tree uses
//! none), no `patches`/`images`/`targetNamespace`/`components` in the Kustomization spec.

use super::super::controllers::events::{Source, record};
use super::super::controllers::{Fault, Pass, key, meta};
use super::super::store::{Patch, WriteOpts};
use super::conditions::{self, generation};
use super::crds::{KUSTOMIZE, SOURCE};
use super::kustomize::{self, GitTree};
use super::{duration, sops, source};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

const MANAGER: &str = "kustomize-controller";
const SRC: Source = Source {
    component: MANAGER,
    host: None,
};
const REQUEUE: &str = "30s";

#[derive(Default)]
pub(crate) struct Memory {
    /// (namespace, name) -> the revision whose health checks run, and since when.
    health: BTreeMap<(String, String), (String, Instant)>,
    /// (namespace, name) -> how many types were served when its apply failed.
    failed_at_types: BTreeMap<(String, String), usize>,
}

fn s<'v>(v: &'v Value, p: &str) -> &'v str {
    v.pointer(p).and_then(Value::as_str).unwrap_or_default()
}

pub(crate) fn reconcile(p: &mut Pass, mem: &mut Memory) {
    for ks in p.list(&key(KUSTOMIZE, "kustomizations"), None) {
        if ks.pointer("/metadata/deletionTimestamp").is_some()
            || ks.pointer("/spec/suspend") == Some(&json!(true))
        {
            continue;
        }
        one(p, mem, &ks);
    }
}

/// Save `next`; record an Event when its Ready condition changed.
fn save(p: &mut Pass, ks: &Value, next: Value, event: Option<(bool, &str, &str)>) {
    let changed = conditions::get(ks, "Ready") != conditions::get(&next, "Ready");
    super::save_status(p, &key(KUSTOMIZE, "kustomizations"), ks, next, MANAGER);
    if let (true, Some((warning, reason, msg))) = (changed, event) {
        record(p, ks, warning, reason, msg, &SRC, None);
    }
}

fn timeout_of(ks: &Value) -> Duration {
    ks.pointer("/spec/timeout")
        .or(ks.pointer("/spec/interval"))
        .and_then(Value::as_str)
        .and_then(duration::parse)
        .unwrap_or(Duration::from_secs(300))
}

fn one(p: &mut Pass, mem: &mut Memory, ks: &Value) {
    let (ns, name) = (meta(ks, "namespace"), meta(ks, "name"));
    let id = (ns.to_string(), name.to_string());
    let mut next = Value::clone(ks);
    let src_kind = match s(ks, "/spec/sourceRef/kind") {
        "" => "GitRepository",
        k => k,
    };
    let plural = match src_kind {
        "OCIRepository" => "ocirepositories",
        "Bucket" => "buckets",
        "ExternalArtifact" => "externalartifacts",
        _ => "gitrepositories",
    };
    let src_ns = match s(ks, "/spec/sourceRef/namespace") {
        "" => ns,
        n => n,
    };
    let src = p
        .store
        .get(&key(SOURCE, plural), src_ns, s(ks, "/spec/sourceRef/name"))
        .ok();
    let Some((src, revision)) = src.and_then(|o| {
        let r = o
            .pointer("/status/artifact/revision")?
            .as_str()?
            .to_string();
        Some((o, r))
    }) else {
        let msg = format!("Source artifact not found, retrying in {REQUEUE}");
        conditions::set(&mut next, "Ready", "False", "ArtifactFailed", &msg);
        save(p, ks, next, Some((false, "ArtifactFailed", &msg)));
        return;
    };
    let observed = ks
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == Some(generation(ks));
    let attempted = ks.pointer("/status/lastAttemptedRevision") == Some(&json!(revision));
    // `flux reconcile` asks for a run by annotating; the run echoes it in the status.
    let requested = ks
        .pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
        .cloned();
    let asked =
        requested.is_some() && requested.as_ref() != ks.pointer("/status/lastHandledReconcileAt");
    if let Some(at) = requested {
        next["status"]["lastHandledReconcileAt"] = at;
    }
    if observed && attempted && !asked {
        match conditions::get(ks, "Ready").map(|c| c.1) {
            Some("ReconciliationSucceeded" | "BuildFailed" | "HealthCheckFailed") => return,
            Some("ReconciliationFailed")
                if mem.failed_at_types.get(&id) == Some(&p.store.types().len()) =>
            {
                return;
            }
            Some("Progressing") => {
                health(p, mem, ks, next, &revision);
                return;
            }
            _ => {}
        }
    }
    for dep in ks
        .pointer("/spec/dependsOn")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let d_name = s(dep, "/name");
        let d_ns = match s(dep, "/namespace") {
            "" => ns,
            n => n,
        };
        let msg = match p.store.get(&key(KUSTOMIZE, "kustomizations"), d_ns, d_name) {
            Err(e) => Some(format!(
                "dependency '{d_ns}/{d_name}' not found: {}",
                e.message
            )),
            Ok(d) => {
                let same_source = s(&d, "/spec/sourceRef/name") == s(ks, "/spec/sourceRef/name")
                    && s(&d, "/spec/sourceRef/kind") == s(ks, "/spec/sourceRef/kind");
                let at_revision = !same_source
                    || d.pointer("/status/lastAppliedRevision") == Some(&json!(revision));
                (!(conditions::ready_now(&d) && at_revision))
                    .then(|| format!("dependency '{d_ns}/{d_name}' is not ready"))
            }
        };
        if let Some(msg) = msg {
            conditions::set(&mut next, "Ready", "False", "DependencyNotReady", &msg);
            let ev = format!("Dependencies do not meet ready condition, retrying in {REQUEUE}");
            save(p, ks, next, Some((false, "DependencyNotReady", &ev)));
            return;
        }
    }
    next["status"]["lastAttemptedRevision"] = json!(revision);
    next["status"]["observedGeneration"] = json!(generation(ks));
    let built = match build(p, ks, &src) {
        Ok(b) => b,
        Err(msg) => {
            conditions::remove(&mut next, "Reconciling");
            conditions::set(&mut next, "Ready", "False", "BuildFailed", &msg);
            save(p, ks, next, Some((true, "BuildFailed", &msg)));
            return;
        }
    };
    let (entries, changes) = match apply(p, ks, built) {
        Ok(r) => r,
        Err(msg) => {
            mem.failed_at_types.insert(id, p.store.types().len());
            conditions::remove(&mut next, "Reconciling");
            conditions::set(&mut next, "Ready", "False", "ReconciliationFailed", &msg);
            save(p, ks, next, Some((true, "ReconciliationFailed", &msg)));
            return;
        }
    };
    mem.failed_at_types.remove(&id);
    if ks.pointer("/spec/prune") == Some(&json!(true)) {
        prune(p, ks, &entries);
    }
    next["status"]["inventory"] = json!({"entries": entries});
    if !changes.is_empty() {
        record(p, ks, false, "Progressing", &changes.join("\n"), &SRC, None);
    }
    let waits = ks.pointer("/spec/wait") == Some(&json!(true))
        || ks
            .pointer("/spec/healthChecks")
            .and_then(Value::as_array)
            .is_some_and(|h| !h.is_empty());
    if waits {
        mem.health.insert(id, (revision.clone(), p.now));
        let msg = format!(
            "Running health checks for revision {revision} with a timeout of {}",
            duration::format(timeout_of(ks))
        );
        conditions::progressing(&mut next, &msg);
        save(p, ks, next, None);
        return;
    }
    succeed(p, ks, next, &revision, Duration::ZERO);
}

fn succeed(p: &mut Pass, ks: &Value, mut next: Value, revision: &str, took: Duration) {
    conditions::remove(&mut next, "Reconciling");
    conditions::set(
        &mut next,
        "Ready",
        "True",
        "ReconciliationSucceeded",
        &format!("Applied revision: {revision}"),
    );
    next["status"]["lastAppliedRevision"] = json!(revision);
    let interval = ks
        .pointer("/spec/interval")
        .and_then(Value::as_str)
        .and_then(duration::parse)
        .unwrap_or(Duration::from_secs(600));
    let msg = format!(
        "Reconciliation finished in {}, next run in {}",
        duration::format(Duration::from_millis(took.as_millis().max(1) as u64)),
        duration::format(interval)
    );
    save(p, ks, next, Some((false, "ReconciliationSucceeded", &msg)));
}

/// The built and decrypted objects of the Kustomization's path in the source artifact.
fn build(p: &Pass, ks: &Value, src: &Value) -> Result<Vec<Value>, String> {
    let (ns, name) = (meta(ks, "namespace"), meta(ks, "name"));
    let (repo_path, commit) = source::checkout(p.git, src)
        .ok_or_else(|| format!("Source is not ready, artifact not found, retrying in {REQUEUE}"))?;
    let repo = git2::Repository::open(repo_path)
        .map_err(|e| format!("failed to open the source artifact: {}", e.message()))?;
    let tree = GitTree::new(&repo, commit)?;
    let path = match s(ks, "/spec/path") {
        "" => "./",
        p => p,
    };
    let built =
        kustomize::build(&tree, path).map_err(|e| format!("kustomize build failed: {e}"))?;
    let decryption = s(ks, "/spec/decryption/provider") == "sops";
    let ids = if decryption {
        let secret_name = s(ks, "/spec/decryption/secretRef/name");
        let ids = if secret_name.is_empty() {
            sops::identities(&json!({}))
        } else {
            let secret = p
                .store
                .get(&key("", "secrets"), ns, secret_name)
                .map_err(|e| {
                    format!(
                        "cannot get sops decryption Secret '{ns}/{secret_name}': {}",
                        e.message
                    )
                })?;
            sops::identities(&secret)
        };
        let faulted = p.faults.iter().any(|f| {
            matches!(f, Fault::SopsDecryption { namespace, name: n } if namespace == ns && n == name)
        });
        Some(if faulted {
            sops::identities(&json!({}))
        } else {
            ids
        })
    } else {
        None
    };
    let mut out = Vec::with_capacity(built.len());
    for b in built {
        match (&b.sops_text, &ids) {
            (None, _) => out.push(b.object),
            (Some(_), Some(ids)) => out.push(sops::decrypt(&b, ids)?),
            (Some(_), None) => {
                return Err(format!(
                    "{} is SOPS encrypted, configuring decryption is required for this secret to be reconciled",
                    fmt_object(&b.object)
                ));
            }
        }
    }
    Ok(out)
}

/// fluxcd/pkg `FmtUnstructured`: `Kind/namespace/name`, or `Kind/name`.
fn fmt_object(o: &Value) -> String {
    let kind = o["kind"].as_str().unwrap_or_default();
    match (s(o, "/metadata/namespace"), s(o, "/metadata/name")) {
        ("", n) => format!("{kind}/{n}"),
        (ns, n) => format!("{kind}/{ns}/{n}"),
    }
}

/// Apply every object (CRDs, then Namespaces, then the rest in build order) as
/// `kustomize-controller` with force; returns the inventory entries and the change set.
fn apply(p: &Pass, ks: &Value, objects: Vec<Value>) -> Result<(Vec<Value>, Vec<String>), String> {
    let rank = |o: &Value| match o["kind"].as_str() {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    };
    let mut objects = objects;
    objects.sort_by_key(rank);
    let mut entries = vec![];
    let mut changes = vec![];
    for mut obj in objects {
        let api = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let Some(rt) = p.store.for_kind(&api, &kind) else {
            return Err(format!(
                "{} dry-run failed: no matches for kind \"{kind}\" in version \"{api}\"",
                fmt_object(&obj)
            ));
        };
        let labels = &mut obj["metadata"]["labels"];
        if !labels.is_object() {
            *labels = json!({});
        }
        labels["kustomize.toolkit.fluxcd.io/name"] = json!(meta(ks, "name"));
        labels["kustomize.toolkit.fluxcd.io/namespace"] = json!(meta(ks, "namespace"));
        let ns = if rt.namespaced {
            let ns = s(&obj, "/metadata/namespace").to_string();
            if ns.is_empty() {
                return Err(format!("{} namespace not specified", fmt_object(&obj)));
            }
            ns
        } else {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            String::new()
        };
        let name = s(&obj, "/metadata/name").to_string();
        let k = rt.key();
        let before = p
            .store
            .get(&k, &ns, &name)
            .ok()
            .map(|o| s(&o, "/metadata/resourceVersion").to_string());
        let opts = WriteOpts {
            force: true,
            ..WriteOpts::manager(MANAGER)
        };
        let shown = fmt_object(&obj);
        let after = p
            .store
            .patch(&k, &ns, &name, Patch::Apply(obj), &opts)
            .map_err(|e| format!("{shown} dry-run failed: {}", e.message))?;
        let action = match before {
            None => "created",
            Some(rv) if rv != s(&after, "/metadata/resourceVersion") => "configured",
            Some(_) => "unchanged",
        };
        if action != "unchanged" {
            changes.push(format!("{shown} {action}"));
        }
        let version = api.rsplit('/').next().unwrap_or_default();
        entries.push(json!({
            "id": format!("{ns}_{name}_{}_{kind}", rt.group),
            "v": version,
        }));
    }
    entries.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok((entries, changes))
}

/// Delete what the last inventory held and the new one does not.
fn prune(p: &Pass, ks: &Value, entries: &[Value]) {
    let old = ks
        .pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for e in old
        .iter()
        .filter(|e| !entries.iter().any(|n| n["id"] == e["id"]))
    {
        let id = e["id"].as_str().unwrap_or_default();
        let parts: Vec<&str> = id.splitn(4, '_').collect();
        let [ns, name, group, kind] = parts[..] else {
            continue;
        };
        let v = e["v"].as_str().unwrap_or_default();
        let api = if group.is_empty() {
            v.to_string()
        } else {
            format!("{group}/{v}")
        };
        if let Some(rt) = p.store.for_kind(&api, kind) {
            let _ = p.store.delete(&rt.key(), ns, name, &Default::default());
        }
    }
}

/// kstatus as the simulator judges it: Current, or why not.
fn current(p: &Pass, api: &str, kind: &str, ns: &str, name: &str) -> Result<(), String> {
    let Some(rt) = p.store.for_kind(api, kind) else {
        return Err("NotFound".into());
    };
    let Ok(obj) = p.store.get(&rt.key(), ns, name) else {
        return Err("NotFound".into());
    };
    if rt.group.ends_with("toolkit.fluxcd.io") {
        let has_ready = conditions::get(&obj, "Ready").is_some();
        let static_source = kind == "HelmRepository" && s(&obj, "/spec/type") == "oci";
        if static_source || (has_ready && conditions::ready_now(&obj)) {
            return Ok(());
        }
        let failed = conditions::get(&obj, "Stalled").is_some_and(|c| c.0 == "True");
        return Err(if failed { "Failed" } else { "InProgress" }.into());
    }
    if kind == "Deployment" {
        let observed = obj
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == Some(generation(&obj));
        let available = conditions::get(&obj, "Available").is_some_and(|c| c.0 == "True");
        return if observed && available {
            Ok(())
        } else {
            Err("InProgress".into())
        };
    }
    Ok(())
}

fn health(p: &mut Pass, mem: &mut Memory, ks: &Value, next: Value, revision: &str) {
    let id = (
        meta(ks, "namespace").to_string(),
        meta(ks, "name").to_string(),
    );
    let started = match mem.health.get(&id) {
        Some((r, at)) if r == revision => *at,
        _ => {
            mem.health.insert(id.clone(), (revision.to_string(), p.now));
            p.now
        }
    };
    let mut targets: Vec<(String, String, String, String)> = vec![];
    if ks.pointer("/spec/wait") == Some(&json!(true)) {
        for e in ks
            .pointer("/status/inventory/entries")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let parts: Vec<&str> = e["id"]
                .as_str()
                .unwrap_or_default()
                .splitn(4, '_')
                .collect();
            if let [ns, name, group, kind] = parts[..] {
                let v = e["v"].as_str().unwrap_or_default();
                let api = if group.is_empty() {
                    v.to_string()
                } else {
                    format!("{group}/{v}")
                };
                targets.push((api, kind.into(), ns.into(), name.into()));
            }
        }
    }
    for h in ks
        .pointer("/spec/healthChecks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let ns = match s(h, "/namespace") {
            "" => meta(ks, "namespace"),
            n => n,
        };
        targets.push((
            s(h, "/apiVersion").into(),
            s(h, "/kind").into(),
            ns.into(),
            s(h, "/name").into(),
        ));
    }
    let waiting: Vec<String> = targets
        .iter()
        .filter_map(|(api, kind, ns, name)| {
            current(p, api, kind, ns, name).err().map(|st| {
                let at = if ns.is_empty() {
                    format!("{kind}/{name}")
                } else {
                    format!("{kind}/{ns}/{name}")
                };
                format!("{at} status: '{st}'")
            })
        })
        .collect();
    let took = p.now.duration_since(started);
    if waiting.is_empty() {
        let mut next = next;
        conditions::set(
            &mut next,
            "Healthy",
            "True",
            "Succeeded",
            &format!(
                "Health check passed in {}",
                duration::format(Duration::from_millis(took.as_millis() as u64))
            ),
        );
        mem.health.remove(&id);
        succeed(p, ks, next, revision, took);
        return;
    }
    let deadline = started + timeout_of(ks);
    if p.now < deadline {
        p.wake_at(deadline);
        return;
    }
    let msg = format!(
        "health check failed after {}: timeout waiting for: [{}]",
        duration::format(took),
        waiting.join(", ")
    );
    let mut next = next;
    conditions::remove(&mut next, "Reconciling");
    conditions::set(&mut next, "Healthy", "False", "HealthCheckFailed", &msg);
    conditions::set(&mut next, "Ready", "False", "HealthCheckFailed", &msg);
    mem.health.remove(&id);
    save(p, ks, next, Some((true, "HealthCheckFailed", &msg)));
}
