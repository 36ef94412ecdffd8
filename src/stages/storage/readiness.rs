//! Readiness of what the tree's storage platform installs: the Longhorn and nfs-subdir
//! HelmReleases Ready (when not, the root cause among all Flux objects, as the Flux stage
//! diagnoses it: `flux::diagnose` and `flux::follow::diagnosis`), and the StorageClasses
//! `longhorn` (the cluster's default) and `nfs`.

use super::objects::{self, HELM_RELEASE, STORAGE_CLASS, text};
use crate::stages::engine::{StageError, StageResult};
use crate::stages::flux::{self, diagnose, follow};
use kube::Client;
use serde_json::Value;

/// The HelmReleases of `cluster/kubernetes/platform/storage/`: (namespace, name).
pub const RELEASES: [(&str, &str); 2] = [
    ("longhorn-system", "longhorn"),
    ("nfs-provisioner", "nfs-subdir-external-provisioner"),
];

/// The classes: (name, must be the default). `longhorn` from the longhorn chart's
/// `persistence.defaultClass`, `nfs` from the nfs-subdir chart's `storageClass.name`.
pub const CLASSES: [(&str, bool); 2] = [("longhorn", true), ("nfs", false)];

pub const DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";

/// The releases that are not Ready yet, in words (empty: all are).
pub async fn releases_not_ready(client: &Client) -> StageResult<Vec<String>> {
    let mut out = Vec::new();
    for (ns, name) in RELEASES {
        match objects::get(client, HELM_RELEASE, Some(ns), name).await? {
            None => out.push(format!("HelmRelease {ns}/{name} does not exist")),
            Some(hr) => {
                let st = diagnose::state(&hr);
                if !st.ready {
                    out.push(format!(
                        "HelmRelease {ns}/{name}: {} {}",
                        st.reason, st.message
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Why the releases are not Ready: the root cause among all Flux objects, with its events,
/// Helm's words and the fix.
pub async fn diagnosis(
    client: &Client,
    waited: std::time::Duration,
    missing: &[String],
) -> StageError {
    let objects = match flux::snapshot(client).await {
        Ok(o) => o,
        Err(e) => return e,
    };
    let headline = format!("not Ready after {}s", waited.as_secs());
    match diagnose::root_cause(&objects) {
        Some(cause) => {
            let d = follow::diagnosis(client, &objects, cause, headline, None).await;
            StageError::new(d.lines().join("\n")).with_hint(d.fix)
        }
        None => StageError::new(format!("{headline}: {}", missing.join("; "))).with_hint(
            "run the Flux stage (it syncs cluster/kubernetes/platform/storage/); check that the \
             platform Kustomization lists the storage folder",
        ),
    }
}

/// What is wrong with the StorageClasses, in words (empty: both exist, `longhorn` is the
/// default and no other class is).
pub async fn classes_wrong(client: &Client) -> StageResult<Vec<String>> {
    let all = objects::list(client, STORAGE_CLASS, None, None).await?;
    let is_default = |c: &Value| {
        c.pointer("/metadata/annotations")
            .and_then(|a| a.get(DEFAULT_CLASS))
            .and_then(Value::as_str)
            == Some("true")
    };
    let mut out = Vec::new();
    for (name, default) in CLASSES {
        match all.iter().find(|c| text(c, "/metadata/name") == name) {
            None => out.push(format!("StorageClass {name} does not exist")),
            Some(c) if default && !is_default(c) => out.push(format!(
                "StorageClass {name} is not the default ({DEFAULT_CLASS} is not \"true\")"
            )),
            Some(_) => {}
        }
    }
    for c in all.iter().filter(|c| is_default(c)) {
        let name = text(c, "/metadata/name");
        if !CLASSES.iter().any(|(n, d)| *n == name && *d) {
            out.push(format!("StorageClass {name} is also marked default"));
        }
    }
    Ok(out)
}
