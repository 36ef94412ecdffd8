//! source-controller: GitRepository (fetched with git2 from a local repository the simulator
//! serves for its URL, [`Controllers::serve_git`](super::super::controllers::Controllers::serve_git);
//! never the network), HelmRepository, OCIRepository and HelmChart. Conditions, reasons and
//! messages as source-controller writes them (`internal/controller/*_controller.go`):
//! Ready/ArtifactInStorage `Succeeded` "stored artifact for revision 'main@sha1:<40 hex>'",
//! failures `GitOperationFailed` "failed to checkout and determine revision: unable to clone
//! '<url>': <error>" with FetchFailed=True and a Warning Event.
//!
//! Simplified: no tarball is stored; the artifact's `digest` is the SHA-256 of the commit id,
//! HelmRepository and OCIRepository digests are SHA-256 of their URL (and tag).

use super::super::controllers::events::{Source, record};
use super::super::controllers::{Fault, Pass, key, meta};
use super::conditions::{self, generation};
use super::crds::SOURCE;
use super::duration;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

const MANAGER: &str = "source-controller";
const SRC: Source = Source {
    component: MANAGER,
    host: None,
};

/// When each GitRepository was last fetched, at which generation (it is fetched again after
/// `spec.interval`, for a new generation or a new `reconcile.fluxcd.io/requestedAt`; a
/// failing one too, so a failure is not retried on every pass).
#[derive(Default)]
pub(crate) struct Memory {
    fetched: BTreeMap<(String, String), (i64, Instant)>,
}

pub(crate) fn reconcile(p: &mut Pass, mem: &mut Memory) {
    for repo in p.list(&key(SOURCE, "gitrepositories"), None) {
        git_repository(p, mem, &repo);
    }
    for repo in p.list(&key(SOURCE, "helmrepositories"), None) {
        helm_repository(p, &repo);
    }
    for repo in p.list(&key(SOURCE, "ocirepositories"), None) {
        oci_repository(p, &repo);
    }
    for chart in p.list(&key(SOURCE, "helmcharts"), None) {
        helm_chart(p, &chart);
    }
}

fn skip(obj: &Value) -> bool {
    obj.pointer("/metadata/deletionTimestamp").is_some()
        || obj.pointer("/spec/suspend") == Some(&json!(true))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn observed(obj: &Value) -> bool {
    obj.pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == Some(generation(obj))
}

fn requested_at(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations/reconcile.fluxcd.io~1requestedAt")
        .and_then(Value::as_str)
}

fn artifact(kind: &str, obj: &Value, file: &str, revision: &str, digest: &str) -> Value {
    let path = format!(
        "{kind}/{}/{}/{file}",
        meta(obj, "namespace"),
        meta(obj, "name")
    );
    json!({
        "digest": format!("sha256:{digest}"),
        "lastUpdateTime": super::super::store::now(),
        "path": path,
        "revision": revision,
        "url": format!("http://source-controller.flux-system.svc.cluster.local./{path}"),
    })
}

/// Ready and ArtifactInStorage True `Succeeded`, for the current generation.
fn stored(obj: &mut Value, message: &str) {
    conditions::remove(obj, "FetchFailed");
    conditions::remove(obj, "Reconciling");
    conditions::set(obj, "Ready", "True", "Succeeded", message);
    conditions::set(obj, "ArtifactInStorage", "True", "Succeeded", message);
    obj["status"]["observedGeneration"] = json!(generation(obj));
}

fn git_repository(p: &mut Pass, mem: &mut Memory, repo: &Value) {
    if skip(repo) {
        return;
    }
    let id = (
        meta(repo, "namespace").to_string(),
        meta(repo, "name").to_string(),
    );
    let interval = repo
        .pointer("/spec/interval")
        .and_then(Value::as_str)
        .and_then(duration::parse)
        .unwrap_or(Duration::from_secs(60))
        .max(Duration::from_secs(1));
    let handled = repo
        .pointer("/status/lastHandledReconcileAt")
        .and_then(Value::as_str);
    let last = mem.fetched.get(&id).copied();
    let fresh = requested_at(repo) == handled
        && last.is_some_and(|(g, at)| g == generation(repo) && p.now.duration_since(at) < interval);
    if fresh {
        if let Some((_, at)) = last {
            p.wake_at(at + interval);
        }
        return;
    }
    mem.fetched.insert(id.clone(), (generation(repo), p.now));
    p.wake_at(p.now + interval);
    let url = repo
        .pointer("/spec/url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut next = Value::clone(repo);
    if let Some(at) = requested_at(repo) {
        next["status"]["lastHandledReconcileAt"] = json!(at);
    }
    match fetch(p, repo, url) {
        Ok(fetched) => {
            let message = format!("stored artifact for revision '{}'", fetched.revision);
            let new_revision =
                repo.pointer("/status/artifact/revision") != Some(&json!(fetched.revision));
            if new_revision {
                next["status"]["artifact"] = artifact(
                    "gitrepository",
                    repo,
                    &format!("{}.tar.gz", fetched.commit),
                    &fetched.revision,
                    &sha256_hex(fetched.commit.as_bytes()),
                );
            }
            stored(&mut next, &message);
            super::save_status(p, &key(SOURCE, "gitrepositories"), repo, next, MANAGER);
            if new_revision {
                let msg = format!("stored artifact for commit '{}'", fetched.subject);
                record(p, repo, false, "NewArtifact", &msg, &SRC, None);
            }
        }
        Err(err) => {
            let message = format!("failed to checkout and determine revision: {err}");
            let reason = "GitOperationFailed";
            if !observed(repo) {
                let old = repo
                    .pointer("/status/observedGeneration")
                    .and_then(Value::as_i64)
                    .unwrap_or(0);
                let msg = format!(
                    "processing object: new generation {old} -> {}",
                    generation(repo)
                );
                conditions::set(
                    &mut next,
                    "Reconciling",
                    "True",
                    "ProgressingWithRetry",
                    &msg,
                );
            }
            conditions::set(&mut next, "Ready", "False", reason, &message);
            conditions::set(&mut next, "FetchFailed", "True", reason, &message);
            super::save_status(p, &key(SOURCE, "gitrepositories"), repo, next, MANAGER);
            record(p, repo, true, reason, &message, &SRC, None);
        }
    }
}

struct Fetched {
    revision: String,
    commit: String,
    subject: String,
}

/// Resolve `spec.ref` in the local repository served for `url` (what a clone would check
/// out). The error text is go-git's, after `unable to clone '<url>': `.
fn fetch(p: &Pass, repo: &Value, url: &str) -> Result<Fetched, String> {
    let clone_err = |e: &str| format!("unable to clone '{url}': {e}");
    let (ns, name) = (meta(repo, "namespace"), meta(repo, "name"));
    let auth_fails = p.faults.iter().any(
        |f| matches!(f, Fault::GitAuth { namespace, name: n } if namespace == ns && n == name),
    );
    if auth_fails {
        return Err(clone_err(
            "ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain",
        ));
    }
    let Some(path) = p.git.get(url) else {
        return Err(clone_err("repository not found"));
    };
    let git = git2::Repository::open(path).map_err(|_| clone_err("repository not found"))?;
    let r = |f: &str| {
        repo.pointer(&format!("/spec/ref/{f}"))
            .and_then(Value::as_str)
    };
    let (name, refname) = match (r("commit"), r("tag"), r("branch")) {
        (Some(c), _, _) => (None, c.to_string()),
        (None, Some(t), _) => (Some(t), format!("refs/tags/{t}")),
        (None, None, b) => {
            let b = b.unwrap_or("master");
            (Some(b), format!("refs/heads/{b}"))
        }
    };
    let commit = match name {
        None => git2::Oid::from_str(&refname)
            .and_then(|oid| git.find_commit(oid))
            .map_err(|_| {
                clone_err(&format!(
                    "failed to resolve commit object for '{refname}': object not found"
                ))
            })?,
        Some(_) => git
            .find_reference(&refname)
            .and_then(|r| r.peel_to_commit())
            .map_err(|_| clone_err(&format!("couldn't find remote ref \"{refname}\"")))?,
    };
    let id = commit.id().to_string();
    let revision = match name {
        Some(n) => format!("{n}@sha1:{id}"),
        None => format!("sha1:{id}"),
    };
    Ok(Fetched {
        revision,
        commit: id,
        subject: String::from_utf8_lossy(commit.summary_bytes().unwrap_or_default()).into_owned(),
    })
}

/// The local repository and commit behind a GitRepository's artifact (for kustomize).
pub(crate) fn checkout<'g>(
    git: &'g BTreeMap<String, std::path::PathBuf>,
    repo: &Value,
) -> Option<(&'g Path, git2::Oid)> {
    let url = repo.pointer("/spec/url").and_then(Value::as_str)?;
    let path = git.get(url)?;
    let revision = repo
        .pointer("/status/artifact/revision")
        .and_then(Value::as_str)?;
    let sha = revision.rsplit("sha1:").next()?;
    Some((path.as_path(), git2::Oid::from_str(sha).ok()?))
}

fn helm_repository(p: &mut Pass, repo: &Value) {
    if skip(repo) || observed(repo) {
        return;
    }
    let mut next = Value::clone(repo);
    if repo.pointer("/spec/type") == Some(&json!("oci")) {
        // An OCI HelmRepository is static: source-controller clears its status.
        if let Some(st) = next.get_mut("status").and_then(Value::as_object_mut) {
            st.remove("conditions");
            st.remove("artifact");
        }
        next["status"]["observedGeneration"] = json!(generation(repo));
    } else {
        let url = repo
            .pointer("/spec/url")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let digest = sha256_hex(url.as_bytes());
        let revision = format!("sha256:{digest}");
        next["status"]["artifact"] = artifact(
            "helmrepository",
            repo,
            &format!("index-{digest}.yaml"),
            &revision,
            &digest,
        );
        next["status"]["url"] = json!(format!(
            "http://source-controller.flux-system.svc.cluster.local./helmrepository/{}/{}/index.yaml",
            meta(repo, "namespace"),
            meta(repo, "name")
        ));
        stored(
            &mut next,
            &format!("stored artifact: revision '{revision}'"),
        );
    }
    super::save_status(p, &key(SOURCE, "helmrepositories"), repo, next, MANAGER);
}

fn oci_repository(p: &mut Pass, repo: &Value) {
    if skip(repo) || observed(repo) {
        return;
    }
    let url = repo
        .pointer("/spec/url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let tag = repo
        .pointer("/spec/ref/tag")
        .and_then(Value::as_str)
        .unwrap_or("latest");
    let digest = sha256_hex(format!("{url}:{tag}").as_bytes());
    let revision = format!("{tag}@sha256:{digest}");
    let mut next = Value::clone(repo);
    next["status"]["artifact"] = artifact(
        "ocirepository",
        repo,
        &format!("{digest}.tar.gz"),
        &revision,
        &digest,
    );
    next["status"]["url"] = json!(format!(
        "http://source-controller.flux-system.svc.cluster.local./ocirepository/{}/{}/{digest}.tar.gz",
        meta(repo, "namespace"),
        meta(repo, "name")
    ));
    stored(
        &mut next,
        &format!("stored artifact for digest '{revision}'"),
    );
    super::save_status(p, &key(SOURCE, "ocirepositories"), repo, next, MANAGER);
}

/// A HelmChart (written by helm-controller for a HelmRelease's `chart.spec`) is pulled once
/// its HelmRepository has an artifact.
fn helm_chart(p: &mut Pass, chart: &Value) {
    if skip(chart) || (observed(chart) && conditions::ready_now(chart)) {
        return;
    }
    let s = |f: &str| {
        chart
            .pointer(&format!("/spec/{f}"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let (name, version, source) = (s("chart"), s("version"), s("sourceRef/name"));
    let ns = meta(chart, "namespace");
    let repo = p
        .store
        .get(&key(SOURCE, "helmrepositories"), ns, source)
        .ok();
    let mut next = Value::clone(chart);
    match repo.filter(|r| r.pointer("/status/artifact").is_some()) {
        Some(_) => {
            let version = if version.is_empty() || version == "*" {
                "0.1.0"
            } else {
                version
            };
            next["status"]["artifact"] = artifact(
                "helmchart",
                chart,
                &format!("{name}-{version}.tgz"),
                version,
                &sha256_hex(format!("{name}-{version}").as_bytes()),
            );
            stored(
                &mut next,
                &format!("pulled '{name}' chart with version '{version}'"),
            );
        }
        None => {
            let msg = format!("no artifact available for HelmRepository source '{source}'");
            conditions::set(&mut next, "Ready", "False", "NoSourceArtifact", &msg);
            conditions::set(&mut next, "FetchFailed", "True", "NoSourceArtifact", &msg);
        }
    }
    super::save_status(p, &key(SOURCE, "helmcharts"), chart, next, MANAGER);
}
