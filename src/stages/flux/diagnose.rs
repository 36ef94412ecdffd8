//! Root cause of a Flux bootstrap that does not become Ready: never a bare timeout.
//!
//! Over a snapshot of the Flux objects (GitRepositories, Kustomizations, HelmReleases) the
//! diagnosis walks from what is not Ready to what it waits for: a Kustomization waits for its
//! source, its `dependsOn` and the Kustomizations and HelmReleases of its inventory (with
//! `wait: true` it is Ready only when they are); a HelmRelease waits for its `dependsOn`. The
//! walk ends at an object that is not Ready and waits for nothing that is not Ready (or for
//! something that does not exist): the root cause. Of several, the first in dependency order,
//! preferring a hard failure (Ready=False for a reason other than progress or a dependency)
//! over one still progressing. The stage adds its recent events and, for a HelmRelease, the
//! Helm messages ([`helm_lines`]); [`Diagnosis::lines`] is what the wizard and `--yes` show.

use crate::backends::kube::wait;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The kinds followed, as `(kind, apiVersion)`.
pub const GIT_REPOSITORY: &str = "GitRepository";
pub const KUSTOMIZATION: &str = "Kustomization";
pub const HELM_RELEASE: &str = "HelmRelease";

/// `(kind, namespace, name)`.
pub type Key = (String, String, String);

/// Reasons that mean "not yet", not "failed" (`ArtifactFailed`: the source has no artifact
/// yet; the source itself reports why).
const WAITING: &[&str] = &[
    "ArtifactFailed",
    "Progressing",
    "ProgressingWithRetry",
    "DependencyNotReady",
    "NoCondition",
    "NotObserved",
    "StaleStatus",
    "StaleCondition",
    "NotFound",
    "",
];

pub fn label(k: &Key) -> String {
    format!("{} {}/{}", k.0, k.1, k.2)
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub fn key_of(v: &Value) -> Key {
    (
        text(v, "/kind").to_string(),
        text(v, "/metadata/namespace").to_string(),
        text(v, "/metadata/name").to_string(),
    )
}

/// One object's state as the rows show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    pub ready: bool,
    /// Ready=False for a reason other than progress or a dependency.
    pub failed: bool,
    pub reason: String,
    pub message: String,
}

/// The Ready state of `obj` (observed generation checked, as `backends::kube::wait` does).
///
/// A failure counts even before the controller reports the generation: source-controller
/// retries a failing fetch without observing the generation (Reconciling
/// `ProgressingWithRetry`), and its Ready=False reason is the news.
pub fn state(obj: &Value) -> State {
    let r = wait::readiness(obj);
    let ready_cond = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    if !r.ready
        && let Some(c) = ready_cond
        && text(c, "/status") == "False"
        && !WAITING.contains(&text(c, "/reason"))
    {
        return State {
            ready: false,
            failed: true,
            reason: text(c, "/reason").to_string(),
            message: text(c, "/message").to_string(),
        };
    }
    State {
        ready: r.ready,
        failed: false,
        reason: r.reason,
        message: r.message,
    }
}

/// What `obj` waits for: `(key, exists)`.
fn needs(obj: &Value, objects: &BTreeMap<Key, Value>) -> Vec<Key> {
    let (kind, ns, _) = key_of(obj);
    let mut out = Vec::new();
    if kind == KUSTOMIZATION {
        let src_kind = text(obj, "/spec/sourceRef/kind");
        let src_name = text(obj, "/spec/sourceRef/name");
        let src_ns = Some(text(obj, "/spec/sourceRef/namespace"))
            .filter(|s| !s.is_empty())
            .unwrap_or(&ns);
        if !src_kind.is_empty() && !src_name.is_empty() {
            out.push((
                src_kind.to_string(),
                src_ns.to_string(),
                src_name.to_string(),
            ));
        }
    }
    if let Some(deps) = obj.pointer("/spec/dependsOn").and_then(Value::as_array) {
        for d in deps {
            let name = text(d, "/name");
            let dns = Some(text(d, "/namespace"))
                .filter(|s| !s.is_empty())
                .unwrap_or(&ns);
            if !name.is_empty() {
                out.push((kind.clone(), dns.to_string(), name.to_string()));
            }
        }
    }
    if kind == KUSTOMIZATION
        && let Some(entries) = obj
            .pointer("/status/inventory/entries")
            .and_then(Value::as_array)
    {
        for e in entries {
            // `<ns>_<name>_<group>_<Kind>` (WIRE-2 H.5).
            let id = text(e, "/id");
            let parts: Vec<&str> = id.rsplitn(3, '_').collect();
            let [k, _group, rest] = parts.as_slice() else {
                continue;
            };
            if *k != KUSTOMIZATION && *k != HELM_RELEASE {
                continue;
            }
            if let Some((ons, oname)) = rest.split_once('_') {
                let key = (k.to_string(), ons.to_string(), oname.to_string());
                if objects.contains_key(&key) {
                    out.push(key);
                }
            }
        }
    }
    out
}

/// How deep `key` sits in the dependency graph (sources 0), for "dependency order". Memoized:
/// the follow asks on every watch event, and the graph shares its dependencies widely.
fn depth(
    key: &Key,
    objects: &BTreeMap<Key, Value>,
    memo: &mut BTreeMap<Key, usize>,
    visiting: &mut BTreeSet<Key>,
) -> usize {
    if let Some(d) = memo.get(key) {
        return *d;
    }
    let Some(obj) = objects.get(key) else {
        return 0;
    };
    // A cycle (Flux refuses those too) ends the walk.
    if !visiting.insert(key.clone()) {
        return 0;
    }
    let d = needs(obj, objects)
        .iter()
        .map(|n| depth(n, objects, memo, visiting).saturating_add(1))
        .max()
        .unwrap_or(0);
    visiting.remove(key);
    memo.insert(key.clone(), d);
    d
}

/// The root cause found in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub key: Key,
    pub reason: String,
    pub message: String,
    /// A dependency that does not exist (`Kind ns/name`), when that is the cause.
    pub missing: Option<Key>,
    /// What waits on it, directly or not (labels), nearest first.
    pub blocked: Vec<String>,
    pub failed: bool,
}

/// Walk from `start` to what it waits for, until an object waits for nothing not Ready.
fn descend(start: &Key, objects: &BTreeMap<Key, Value>) -> Cause {
    let mut at = start.clone();
    let mut path: Vec<Key> = Vec::new();
    while let Some(obj) = objects.get(&at) {
        let st = state(obj);
        let mut next = None;
        let mut next_failed = false;
        for n in needs(obj, objects) {
            if path.contains(&n) || n == at {
                continue;
            }
            match objects.get(&n) {
                None => {
                    let mut blocked: Vec<String> = path.iter().rev().map(label).collect();
                    blocked.dedup();
                    return Cause {
                        key: at.clone(),
                        reason: "DependencyNotFound".into(),
                        message: format!(
                            "{} waits for {}, which does not exist in the cluster",
                            label(&at),
                            label(&n)
                        ),
                        missing: Some(n),
                        blocked,
                        failed: true,
                    };
                }
                // A failed blocker before one still waiting: that is where the walk leads.
                Some(o) => {
                    let s = state(o);
                    if !s.ready && (next.is_none() || (s.failed && !next_failed)) {
                        next_failed = s.failed;
                        next = Some(n);
                    }
                }
            }
        }
        match next {
            Some(n) if path.len() < 1_000 => {
                path.push(at);
                at = n;
            }
            _ => {
                return Cause {
                    key: at.clone(),
                    reason: st.reason,
                    message: st.message,
                    missing: None,
                    blocked: path.iter().rev().map(label).collect(),
                    failed: st.failed,
                };
            }
        }
    }
    Cause {
        key: at.clone(),
        reason: "NotFound".into(),
        message: format!("{} does not exist", label(&at)),
        missing: None,
        blocked: path.iter().rev().map(label).collect(),
        failed: false,
    }
}

/// The root cause of what is not Ready in `objects`, `None` when everything is Ready.
pub fn root_cause(objects: &BTreeMap<Key, Value>) -> Option<Cause> {
    let mut memo = BTreeMap::new();
    let mut not_ready: Vec<(usize, &Key)> = objects
        .iter()
        .filter(|(_, v)| !state(v).ready)
        .map(|(k, _)| (depth(k, objects, &mut memo, &mut BTreeSet::new()), k))
        .collect();
    not_ready.sort();
    let causes: Vec<Cause> = not_ready.iter().map(|(_, k)| descend(k, objects)).collect();
    let mut ranked: Vec<(usize, usize, &Cause)> = causes
        .iter()
        .enumerate()
        .map(|(i, c)| (usize::from(!c.failed), i, c))
        .collect();
    ranked.sort_by_key(|(hard, i, _)| (*hard, *i));
    let mut chosen = ranked.first().map(|(_, _, c)| (*c).clone())?;
    // Everything whose walk ends there waits on it, nearest (shallowest path) first.
    for ((_, k), c) in not_ready.iter().zip(&causes) {
        let l = label(k);
        if c.key == chosen.key && **k != chosen.key && !chosen.blocked.contains(&l) {
            chosen.blocked.push(l);
        }
    }
    Some(chosen)
}

/// Whether `objects` hold a dependency that does not exist while the root Kustomization (which
/// applies every other one) is Ready: it will never appear.
pub fn missing_for_good(objects: &BTreeMap<Key, Value>, root: &Key) -> Option<Cause> {
    let root_ready = objects.get(root).is_some_and(|r| state(r).ready);
    if !root_ready {
        return None;
    }
    // Cheap first (the follow asks on every watch event): a dependsOn naming nothing.
    let names_a_missing = |v: &Value| {
        let ns = text(v, "/metadata/namespace");
        v.pointer("/spec/dependsOn")
            .and_then(Value::as_array)
            .is_some_and(|deps| {
                deps.iter().any(|d| {
                    let dns = Some(text(d, "/namespace"))
                        .filter(|s| !s.is_empty())
                        .unwrap_or(ns);
                    let key = (
                        KUSTOMIZATION.to_string(),
                        dns.to_string(),
                        text(d, "/name").to_string(),
                    );
                    !objects.contains_key(&key)
                })
            })
    };
    objects
        .iter()
        .filter(|(k, v)| k.0 == KUSTOMIZATION && names_a_missing(v) && !state(v).ready)
        .map(|(k, _)| descend(k, objects))
        .find(|c| c.missing.as_ref().is_some_and(|m| m.0 == KUSTOMIZATION))
}

/// What Helm said about a HelmRelease: its Released / Remediated / TestSuccess / Stalled
/// conditions, the failure counters and the latest release in its history.
pub fn helm_lines(hr: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(cs) = hr.pointer("/status/conditions").and_then(Value::as_array) {
        for c in cs {
            let ty = text(c, "/type");
            if ["Released", "Remediated", "TestSuccess", "Stalled"].contains(&ty) {
                out.push(format!(
                    "{ty}={} {}: {}",
                    text(c, "/status"),
                    text(c, "/reason"),
                    text(c, "/message")
                ));
            }
        }
    }
    let failures = hr.pointer("/status/failures").and_then(Value::as_i64);
    let installs = hr
        .pointer("/status/installFailures")
        .and_then(Value::as_i64);
    let upgrades = hr
        .pointer("/status/upgradeFailures")
        .and_then(Value::as_i64);
    if failures.is_some() || installs.is_some() || upgrades.is_some() {
        out.push(format!(
            "failures {}, install failures {}, upgrade failures {}",
            failures.unwrap_or(0),
            installs.unwrap_or(0),
            upgrades.unwrap_or(0)
        ));
    }
    if let Some(h) = hr
        .pointer("/status/history")
        .and_then(Value::as_array)
        .and_then(|h| h.first())
    {
        out.push(format!(
            "release v{} {} ({}@{})",
            h.get("version").and_then(Value::as_i64).unwrap_or(0),
            text(h, "/status"),
            text(h, "/chartName"),
            text(h, "/chartVersion")
        ));
    }
    out
}

/// The diagnosis the stage shows: the cause, what it blocks, its events, Helm's words, the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    /// `timed out after 10m0s` or `failed`.
    pub headline: String,
    pub cause: Cause,
    /// Newest first: `Warning InstallFailed (x3): message`.
    pub events: Vec<String>,
    pub helm: Vec<String>,
    pub fix: String,
}

/// Events shown per diagnosis.
pub const EVENTS_SHOWN: usize = 5;

impl Diagnosis {
    /// One line per part, for the log, the wizard and `--yes`.
    pub fn lines(&self) -> Vec<String> {
        let c = &self.cause;
        let mut out = vec![format!(
            "root cause: {}: {} {}: {}",
            label(&c.key),
            if c.failed { "failed" } else { "not ready" },
            c.reason,
            c.message
        )];
        if !c.blocked.is_empty() {
            out.push(format!("waiting on it: {}", c.blocked.join(", ")));
        }
        for e in &self.events {
            out.push(format!("event: {e}"));
        }
        for h in &self.helm {
            out.push(format!("helm: {h}"));
        }
        out.push(format!("fix: {}", self.fix));
        out
    }

    /// The whole diagnosis on one line (the step's error).
    pub fn message(&self) -> String {
        let mut lines = self.lines();
        lines.pop();
        format!("{}: {}", self.headline, lines.join("; "))
    }
}

/// What to do about `cause`, from its kind, reason and message.
pub fn fix_for(cause: &Cause, deploy_key: Option<&str>) -> String {
    let (kind, ns, name) = &cause.key;
    let m = cause.message.to_lowercase();
    if let Some(missing) = &cause.missing {
        return format!(
            "add {} to the tree (cluster/kubernetes/flux), or remove it from the dependsOn of {}; \
             commit, and run the stage again",
            label(missing),
            label(&cause.key)
        );
    }
    if kind == GIT_REPOSITORY
        && (m.contains("unable to authenticate") || m.contains("authentication"))
    {
        return match deploy_key {
            Some(page) => format!(
                "source-controller cannot log in to the git host: add the deploy key (the \
                 `identity.pub` of Secret flux-system/flux-system, shown by the stage) at {page}; \
                 Flux retries by itself"
            ),
            None => "source-controller cannot log in to the git host: add the deploy key (the \
                     `identity.pub` of Secret flux-system/flux-system) to the repository; Flux \
                     retries by itself"
                .into(),
        };
    }
    if kind == GIT_REPOSITORY {
        return "check flux.repo and flux.branch in the cluster definition, and that the branch \
                is pushed; then run the stage again"
            .into();
    }
    if m.contains("decryption failed") || m.contains("sops") {
        return format!(
            "flux-system/sops-age cannot decrypt a file of {kind} {ns}/{name}: run the stage again \
             with the age identity of .sops.yaml's recipients (it applies sops-age again), or \
             re-encrypt the file to the recipient in sops-age (`sops updatekeys`)"
        );
    }
    if kind == HELM_RELEASE {
        return format!(
            "the release's workloads did not become ready: `kubectl -n {ns} get pods -l \
             helm.toolkit.fluxcd.io/name={name}` and `kubectl -n {ns} describe` them; fix the \
             chart values in the tree, commit, and Flux retries"
        );
    }
    if cause.reason == "BuildFailed" {
        return format!(
            "the Kustomization's path does not build: run `kubectl kustomize` on its spec.path \
             and fix what it reports; `homelab check` finds most of these ({kind} {ns}/{name})"
        );
    }
    "fix what the message says in the tree, commit, and run the stage again (`homelab \
     bootstrap --stage flux`)"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(kind: &str, name: &str, ready: (&str, &str, &str), spec: Value, status: Value) -> Value {
        let mut st = status;
        st["observedGeneration"] = json!(1);
        st["conditions"] = json!([{"type": "Ready", "status": ready.0, "reason": ready.1, "message": ready.2, "observedGeneration": 1}]);
        let api = match kind {
            GIT_REPOSITORY => "source.toolkit.fluxcd.io/v1",
            KUSTOMIZATION => "kustomize.toolkit.fluxcd.io/v1",
            _ => "helm.toolkit.fluxcd.io/v2",
        };
        json!({"apiVersion": api, "kind": kind, "metadata": {"name": name, "namespace": "flux-system", "generation": 1}, "spec": spec, "status": st})
    }

    fn ks(name: &str, deps: &[&str], ready: (&str, &str, &str), inventory: &[&str]) -> Value {
        let deps: Vec<Value> = deps.iter().map(|d| json!({"name": d})).collect();
        let entries: Vec<Value> = inventory
            .iter()
            .map(|i| json!({"id": i, "v": "v2"}))
            .collect();
        obj(
            KUSTOMIZATION,
            name,
            ready,
            json!({"dependsOn": deps, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}),
            json!({"inventory": {"entries": entries}}),
        )
    }

    fn snapshot(objs: Vec<Value>) -> BTreeMap<Key, Value> {
        objs.into_iter().map(|o| (key_of(&o), o)).collect()
    }

    const OK: (&str, &str, &str) = (
        "True",
        "ReconciliationSucceeded",
        "Applied revision: main@sha1:1",
    );
    const DEP: (&str, &str, &str) = (
        "False",
        "DependencyNotReady",
        "dependency 'flux-system/x' is not ready",
    );

    #[test]
    fn the_walk_ends_at_the_helm_release_a_waiting_kustomization_holds() {
        let mut hr = obj(
            HELM_RELEASE,
            "grafana",
            (
                "False",
                "InstallFailed",
                "Helm install failed for release flux-system/grafana",
            ),
            json!({}),
            json!({"failures": 1, "installFailures": 1, "history": [{"version": 1, "status": "failed", "chartName": "grafana", "chartVersion": "8.0.0"}]}),
        );
        hr["status"]["conditions"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "Released", "status": "False", "reason": "InstallFailed", "message": "context deadline exceeded"}));
        let objects = snapshot(vec![
            obj(
                GIT_REPOSITORY,
                "flux-system",
                ("True", "Succeeded", "stored"),
                json!({}),
                json!({}),
            ),
            ks("flux-system", &[], OK, &[]),
            ks("loki", &[], OK, &[]),
            ks(
                "grafana",
                &["loki"],
                (
                    "False",
                    "HealthCheckFailed",
                    "health check failed after 10m",
                ),
                &["flux-system_grafana_helm.toolkit.fluxcd.io_HelmRelease"],
            ),
            ks("apps-demos", &["grafana"], DEP, &[]),
            hr,
        ]);
        let c = root_cause(&objects).unwrap();
        assert_eq!(label(&c.key), "HelmRelease flux-system/grafana");
        assert_eq!(c.reason, "InstallFailed");
        assert!(c.failed);
        assert_eq!(
            c.blocked,
            vec![
                "Kustomization flux-system/grafana",
                "Kustomization flux-system/apps-demos"
            ]
        );
        let helm = helm_lines(&objects[&c.key]);
        assert!(
            helm.iter()
                .any(|h| h.contains("Released=False InstallFailed: context deadline exceeded")),
            "{helm:?}"
        );
        assert!(
            helm.iter()
                .any(|h| h == "release v1 failed (grafana@8.0.0)"),
            "{helm:?}"
        );
        assert!(fix_for(&c, None).contains("helm.toolkit.fluxcd.io/name=grafana"));
    }

    #[test]
    fn a_failing_source_is_the_cause_of_everything_and_a_missing_dependency_is_named() {
        let objects = snapshot(vec![
            obj(
                GIT_REPOSITORY,
                "flux-system",
                ("False", "GitOperationFailed", "ssh: unable to authenticate"),
                json!({}),
                json!({}),
            ),
            ks(
                "flux-system",
                &[],
                ("False", "ArtifactFailed", "Source artifact not found"),
                &[],
            ),
        ]);
        let c = root_cause(&objects).unwrap();
        assert_eq!(label(&c.key), "GitRepository flux-system/flux-system");
        assert_eq!(c.blocked, vec!["Kustomization flux-system/flux-system"]);
        assert!(fix_for(&c, Some("https://x/keys")).contains("https://x/keys"));

        let objects = snapshot(vec![
            obj(
                GIT_REPOSITORY,
                "flux-system",
                ("True", "Succeeded", "stored"),
                json!({}),
                json!({}),
            ),
            ks("flux-system", &[], OK, &[]),
            ks("apps-demos", &["ghost"], DEP, &[]),
        ]);
        let c = root_cause(&objects).unwrap();
        assert_eq!(
            c.missing.as_ref().map(label).as_deref(),
            Some("Kustomization flux-system/ghost")
        );
        assert!(c.message.contains("which does not exist"), "{c:?}");
        let root = (
            KUSTOMIZATION.to_string(),
            "flux-system".to_string(),
            "flux-system".to_string(),
        );
        assert!(missing_for_good(&objects, &root).is_some());
        assert!(
            fix_for(&c, None)
                .contains("remove it from the dependsOn of Kustomization flux-system/apps-demos")
        );

        let all_ready = snapshot(vec![ks("flux-system", &[], OK, &[])]);
        assert_eq!(root_cause(&all_ready), None);
    }

    #[test]
    fn the_walk_follows_the_failed_blocker_not_the_first_waiting_one() {
        let hr = |name: &str, ready: (&str, &str, &str)| {
            obj(HELM_RELEASE, name, ready, json!({}), json!({}))
        };
        let objects = snapshot(vec![
            obj(
                GIT_REPOSITORY,
                "flux-system",
                ("True", "Succeeded", "stored"),
                json!({}),
                json!({}),
            ),
            ks(
                "platform",
                &[],
                ("Unknown", "Progressing", "Running health checks"),
                &[
                    "flux-system_a_helm.toolkit.fluxcd.io_HelmRelease",
                    "flux-system_b_helm.toolkit.fluxcd.io_HelmRelease",
                ],
            ),
            hr("a", ("Unknown", "Progressing", "Running 'install' action")),
            hr("b", ("False", "InstallFailed", "Helm install failed")),
        ]);
        let c = root_cause(&objects).unwrap();
        assert_eq!(label(&c.key), "HelmRelease flux-system/b");
        assert_eq!(c.blocked, vec!["Kustomization flux-system/platform"]);
    }

    #[test]
    fn a_hard_failure_wins_over_one_still_progressing() {
        let objects = snapshot(vec![
            obj(
                GIT_REPOSITORY,
                "flux-system",
                ("True", "Succeeded", "stored"),
                json!({}),
                json!({}),
            ),
            ks(
                "a",
                &[],
                ("Unknown", "Progressing", "Reconciliation in progress"),
                &[],
            ),
            ks(
                "b",
                &[],
                (
                    "False",
                    "BuildFailed",
                    "decryption failed for 'Secret.v1.[noGrp]/x'",
                ),
                &[],
            ),
        ]);
        let c = root_cause(&objects).unwrap();
        assert_eq!(label(&c.key), "Kustomization flux-system/b");
        assert!(fix_for(&c, None).contains("sops-age cannot decrypt"));
        let d = Diagnosis {
            headline: "failed".into(),
            cause: c,
            events: vec!["Warning BuildFailed: decryption failed".into()],
            helm: vec![],
            fix: "do x".into(),
        };
        assert_eq!(d.lines().last().unwrap(), "fix: do x");
        assert!(
            d.message()
                .starts_with("failed: root cause: Kustomization flux-system/b: failed BuildFailed")
        );
    }
}
