//! Flux inside the simulator: the CRDs `flux install` brings ([`crds`]) and the controllers
//! that reconcile them in the controller loop (`controllers/mod.rs` calls [`reconcile`] each
//! pass). Level-triggered like the other controllers: each pass reads the objects and their
//! status and writes only what changed.
//!
//! Files: `crds` (the CRDs), `conditions` (Flux's condition bookkeeping), `duration` (Go
//! durations), `source` (GitRepository fetched with git2 from a local repository the simulator
//! serves, HelmRepository, OCIRepository, HelmChart), `kustomization` (kustomize-controller:
//! build, SOPS decryption, server-side apply as `kustomize-controller`, inventory, prune,
//! dependsOn, health checks), `sops` (decryption with the project's SOPS code), `helm`
//! (helm-controller: install as a Deployment, chart CRDs, history), `observability` (the
//! Services and Promtail DaemonSet of the observability charts), `charts` (the CRDs the
//! charts of this repository bring), `kustomize/` (the kustomize subset).
//! What they do and leave out: docs/reference/kubernetes.md §7.

mod charts;
mod conditions;
pub mod crds;
mod duration;
mod helm;
pub mod install;
mod kustomization;
pub mod kustomize;
mod observability;
mod sops;
mod source;

pub use crds::crds;
pub use install::install_manifest;

/// Install the CRDs the chart `chart` brings (cert-manager, gateway-helm, ...; `charts.rs`),
/// as a HelmRelease's install would: for tests that seed a cluster without Flux.
pub fn install_chart_crds(store: &Store, chart: &str) -> Result<(), ApiError> {
    let crds = charts::crds_of(chart);
    if crds.is_empty() {
        return Err(ApiError::bad_request(format!(
            "no CRDs known for chart {chart}"
        )));
    }
    for crd in crds {
        store.put(&crd_key(), crd, "helm")?;
    }
    Ok(())
}

use super::controllers::Pass;
use super::errors::ApiError;
use super::resources::crd_key;
use super::store::Store;

/// Install the Flux CRDs (what `homelab sim kube --flux` does at start).
pub fn install(store: &Store) -> Result<(), ApiError> {
    for crd in crds() {
        store.put(&crd_key(), crd, "flux")?;
    }
    Ok(())
}

/// What the Flux controllers keep between passes.
#[derive(Default)]
pub(crate) struct Memory {
    source: source::Memory,
    kustomization: kustomization::Memory,
}

/// One pass of every Flux controller (nothing happens until the Flux CRDs are installed).
pub(crate) fn reconcile(p: &mut Pass, mem: &mut Memory) {
    if p.store
        .lookup(crds::SOURCE, "v1", "gitrepositories")
        .is_none()
    {
        return;
    }
    source::reconcile(p, &mut mem.source);
    helm::reconcile(p);
    observability::reconcile(p);
    kustomization::reconcile(p, &mut mem.kustomization);
}

/// Write `next`'s status onto the object as it is now (a controller's status update: the
/// spec and metadata others wrote since the pass read `old` stay).
pub(crate) fn save_status(
    p: &Pass,
    k: &super::resources::TypeKey,
    old: &serde_json::Value,
    next: serde_json::Value,
    manager: &str,
) {
    use super::controllers::meta;
    let cur = p
        .store
        .get(k, meta(old, "namespace"), meta(old, "name"))
        .unwrap_or_else(|_| old.clone());
    let mut new = serde_json::Value::clone(&cur);
    new["status"] = next["status"].clone();
    p.save(k, Some(&cur), new, manager);
}
