//! After the commit reaches the cluster: follow the scaffolded app until it is Ready, with the
//! kube backend's watches (never polling). In order: the group's Flux Kustomization
//! (`flux-system/apps-<category>`) Ready at the pushed commit, then the app's HelmRelease (a
//! chart) or Deployment (an image), then every pod of its namespace Ready. Each change is
//! reported as a [`Progress`]; the route is left to the reachability doctor.

use crate::backends::kube::discovery::{Resolved, Resolver};
use crate::backends::kube::wait::{self, Readiness};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::Api;
use kube::core::GroupVersionKind;
use kube::runtime::{WatchStreamExt, watcher};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;

/// What to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The app's name (its namespace too).
    pub name: String,
    /// The group's Flux Kustomization in flux-system (`apps-tools`).
    pub kustomization: String,
    /// A chart (HelmRelease) or an image (Deployment).
    pub chart: bool,
    /// The commit Flux must have applied (hex); `None`: any revision.
    pub commit: Option<String>,
}

/// One step of the follow and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// `Kustomization flux-system/apps-tools`, `Deployment whoami/whoami`, `Pod whoami/...`.
    pub what: String,
    pub ready: bool,
    /// The deciding condition's reason and message (`Progressing: ...`), raw: sanitize to print.
    pub detail: String,
}

impl Progress {
    fn of(what: &str, r: &Readiness) -> Progress {
        let detail = match (r.reason.is_empty(), r.message.is_empty()) {
            (true, true) => r.condition.clone(),
            (false, true) => r.reason.clone(),
            (true, false) => r.message.clone(),
            (false, false) => format!("{}: {}", r.reason, r.message),
        };
        Progress {
            what: what.to_string(),
            ready: r.ready,
            detail,
        }
    }
}

fn gvk(group: &str, version: &str, kind: &str) -> GroupVersionKind {
    GroupVersionKind::gvk(group, version, kind)
}

async fn resolve(r: &mut Resolver, g: &GroupVersionKind) -> Result<Resolved, String> {
    r.resolve(g).await?.ok_or_else(|| {
        format!(
            "the cluster does not serve {} {}/{}: is Flux installed (homelab bootstrap --stage flux)?",
            g.kind, g.group, g.version
        )
    })
}

/// The Kustomization is Ready and has applied `commit` (its `lastAppliedRevision` is
/// `<branch>@sha1:<commit>`).
fn at_commit(commit: Option<&str>) -> impl Fn(&Value) -> Readiness + Send + Sync + '_ {
    move |obj| {
        let r = wait::readiness(obj);
        let Some(c) = commit else { return r };
        let applied = obj
            .pointer("/status/lastAppliedRevision")
            .and_then(Value::as_str)
            .unwrap_or("");
        if r.ready && !applied.ends_with(c) {
            let shown = if applied.is_empty() {
                "nothing yet"
            } else {
                applied
            };
            return Readiness::not(
                "Ready",
                "WaitingForCommit",
                format!(
                    "applied {shown}; waiting for {} (Flux fetches it, then applies it)",
                    &c[..c.len().min(12)]
                ),
            );
        }
        r
    }
}

/// Follow `target` until everything is Ready or `timeout` passes. `on` gets every change.
pub async fn follow(
    client: &Client,
    target: &Target,
    timeout: Duration,
    on: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    let left = || deadline.saturating_duration_since(Instant::now());
    let mut resolver = Resolver::new(client.clone());
    let ks = resolve(
        &mut resolver,
        &gvk("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
    )
    .await?;
    let what = format!("Kustomization flux-system/{}", target.kustomization);
    if target.commit.is_some() {
        // As `flux reconcile kustomization --with-source`: fetch the pushed commit now rather
        // than at the source's interval. Without it Flux still gets there, later.
        let asked = request_reconcile(client, &mut resolver, &ks, &target.kustomization).await;
        on(match asked {
            Ok(source) => Progress {
                what: source,
                ready: true,
                detail: format!("reconcile requested ({RECONCILE_ANNOTATION})"),
            },
            Err(e) => Progress {
                what: what.clone(),
                ready: false,
                detail: format!(
                    "could not ask Flux to fetch now ({e}); it fetches at the source's interval"
                ),
            },
        });
    }
    let judge = at_commit(target.commit.as_deref());
    let r = wait::wait_until(
        client,
        &ks,
        Some("flux-system"),
        &target.kustomization,
        left(),
        &judge,
        &mut |r| on(Progress::of(&what, r)),
    )
    .await
    .map_err(|e| e.to_string())?;
    on(Progress::of(&what, &r));
    let ns = target.name.as_str();
    let (workload, g) = if target.chart {
        (
            "HelmRelease",
            gvk("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
        )
    } else {
        ("Deployment", gvk("apps", "v1", "Deployment"))
    };
    let res = resolve(&mut resolver, &g).await?;
    let what = format!("{workload} {ns}/{}", target.name);
    let r = wait::wait_ready(client, &res, Some(ns), &target.name, left(), &mut |r| {
        on(Progress::of(&what, r))
    })
    .await
    .map_err(|e| e.to_string())?;
    on(Progress::of(&what, &r));
    pods_ready(client, ns, left(), on).await
}

/// The annotation `flux reconcile` sets: a new value makes the controller reconcile now.
pub const RECONCILE_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// Annotate the Kustomization flux-system/`name` and the source it names (its
/// `spec.sourceRef`, a GitRepository unless it says otherwise) with [`RECONCILE_ANNOTATION`]
/// set to now. The source as `Kind namespace/name`.
async fn request_reconcile(
    client: &Client,
    resolver: &mut Resolver,
    ks: &Resolved,
    name: &str,
) -> Result<String, String> {
    use kube::api::{DynamicObject, Patch, PatchParams};
    let now = jiff::Timestamp::now().to_string();
    let patch = Patch::Merge(serde_json::json!({
        "metadata": {"annotations": {RECONCILE_ANNOTATION: now}}
    }));
    let ks_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), "flux-system", &ks.resource);
    let obj = ks_api
        .get(name)
        .await
        .map_err(|e| format!("reading Kustomization flux-system/{name}: {e}"))?;
    let source = obj.data.pointer("/spec/sourceRef");
    let field = |k: &str| source.and_then(|s| s.get(k)).and_then(Value::as_str);
    let kind = field("kind").unwrap_or("GitRepository");
    let src_name = field("name")
        .ok_or_else(|| format!("Kustomization flux-system/{name} names no spec.sourceRef.name"))?;
    let src_ns = field("namespace").unwrap_or("flux-system");
    let gvk = match kind {
        "GitRepository" | "OCIRepository" | "Bucket" => {
            GroupVersionKind::gvk("source.toolkit.fluxcd.io", "v1", kind)
        }
        other => return Err(format!("a {other} source cannot be asked to fetch")),
    };
    let src = resolve(resolver, &gvk).await?;
    let src_api: Api<DynamicObject> = Api::namespaced_with(client.clone(), src_ns, &src.resource);
    let params = PatchParams::default();
    src_api
        .patch(src_name, &params, &patch)
        .await
        .map_err(|e| format!("annotating {kind} {src_ns}/{src_name}: {e}"))?;
    ks_api
        .patch(name, &params, &patch)
        .await
        .map_err(|e| format!("annotating Kustomization flux-system/{name}: {e}"))?;
    Ok(format!("{kind} {src_ns}/{src_name}"))
}

/// Every pod of `ns` Ready (at least one), watched.
async fn pods_ready(
    client: &Client,
    ns: &str,
    timeout: Duration,
    on: &mut (dyn FnMut(Progress) + Send),
) -> Result<(), String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let mut stream =
        Box::pin(watcher(api, watcher::Config::default().timeout(60)).default_backoff());
    let mut pods: BTreeMap<String, Progress> = BTreeMap::new();
    let mut listing = true;
    let deadline = Instant::now() + timeout;
    loop {
        let ev = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(ev)) => ev,
            Ok(None) | Err(_) => {
                let waiting: Vec<String> = pods
                    .values()
                    .filter(|p| !p.ready)
                    .map(|p| format!("{} ({})", p.what, p.detail))
                    .collect();
                return Err(if pods.is_empty() {
                    format!(
                        "no pod appeared in namespace {ns} within {}s",
                        timeout.as_secs()
                    )
                } else {
                    format!(
                        "pods of {ns} not Ready after {}s: {}",
                        timeout.as_secs(),
                        waiting.join(", ")
                    )
                });
            }
        };
        match ev {
            Ok(watcher::Event::Init) => {
                listing = true;
                pods.clear();
            }
            Ok(watcher::Event::InitDone) => listing = false,
            Ok(watcher::Event::Apply(p)) | Ok(watcher::Event::InitApply(p)) => {
                let name = p.metadata.name.clone().unwrap_or_default();
                let mut json = serde_json::to_value(&p).unwrap_or(Value::Null);
                json["kind"] = Value::String("Pod".into());
                json["apiVersion"] = Value::String("v1".into());
                let what = format!("Pod {ns}/{name}");
                let now = Progress::of(&what, &wait::readiness(&json));
                if pods.get(&name) != Some(&now) {
                    on(now.clone());
                    pods.insert(name, now);
                }
            }
            Ok(watcher::Event::Delete(p)) => {
                pods.remove(&p.metadata.name.unwrap_or_default());
            }
            Err(e) => on(Progress {
                what: format!("Pods of {ns}"),
                ready: false,
                detail: format!("WatchError: {e}"),
            }),
        }
        if !listing && !pods.is_empty() && pods.values().all(|p| p.ready) {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_kustomization_counts_only_at_the_pushed_commit() {
        let ks = |rev: &str| {
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": {"generation": 1},
                "status": {"observedGeneration": 1, "lastAppliedRevision": rev,
                    "conditions": [{"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded",
                        "message": format!("Applied revision: {rev}")}]}})
        };
        let judge = at_commit(Some("abc123"));
        let old = judge(&ks("main@sha1:fff000"));
        assert!(!old.ready);
        assert_eq!(old.reason, "WaitingForCommit");
        assert!(old.message.contains("applied main@sha1:fff000"), "{old:?}");
        assert!(judge(&ks("main@sha1:abc123")).ready);
        assert!(at_commit(None)(&ks("main@sha1:fff000")).ready);
    }
}
