//! The Flux object that owns a workload. Flux labels what it applies: helm-controller with
//! `helm.toolkit.fluxcd.io/name` and `.../namespace` (the HelmRelease), kustomize-controller
//! with `kustomize.toolkit.fluxcd.io/name` and `.../namespace` (the Kustomization). A
//! HelmRelease's objects carry both (the HelmRelease itself is applied by a Kustomization): the
//! HelmRelease is the nearer owner and wins. Its `Ready` condition says how it is doing
//! (docs/reference/kubernetes.md, WIRE-2 H.4).

use super::workload::{StepError, call};
use crate::domain::incident::FluxOwner;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::GroupVersionKind;
use serde_json::Value;
use std::collections::BTreeMap;

/// A Flux kind that labels what it applies.
struct FluxKind {
    kind: &'static str,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
}

/// Nearest owner first.
const KINDS: [FluxKind; 2] = [
    FluxKind {
        kind: "HelmRelease",
        group: "helm.toolkit.fluxcd.io",
        version: "v2",
        plural: "helmreleases",
    },
    FluxKind {
        kind: "Kustomization",
        group: "kustomize.toolkit.fluxcd.io",
        version: "v1",
        plural: "kustomizations",
    },
];

/// The owner the labels name: (kind index, namespace, name). The namespace label may be
/// missing on old objects: the workload's own namespace then.
fn named(labels: &BTreeMap<String, String>, own_ns: &str) -> Option<(usize, String, String)> {
    KINDS.iter().enumerate().find_map(|(i, k)| {
        let name = labels.get(&format!("{}/name", k.group))?;
        let ns = labels
            .get(&format!("{}/namespace", k.group))
            .cloned()
            .unwrap_or_else(|| own_ns.to_owned());
        Some((i, ns, name.clone()))
    })
}

/// What the first of `label_sets` that names a Flux owner names, or `None` when none does.
pub fn owner_named(
    label_sets: &[&BTreeMap<String, String>],
    own_ns: &str,
) -> Option<(String, String, String)> {
    label_sets
        .iter()
        .find_map(|l| named(l, own_ns))
        .map(|(i, ns, name)| (KINDS[i].kind.to_owned(), ns, name))
}

/// Read the owner `kind` `ns/name` and its Ready condition.
pub async fn read(
    client: &Client,
    kind: &str,
    ns: &str,
    name: &str,
) -> Result<FluxOwner, StepError> {
    let k = KINDS.iter().find(|k| k.kind == kind).unwrap_or(&KINDS[0]);
    let gvk = GroupVersionKind::gvk(k.group, k.version, k.kind);
    let api: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, k.plural),
    );
    let obj = call(
        format!("get {} {ns}/{name} ({}/{})", k.kind, k.group, k.version),
        api.get(name),
    )
    .await?;
    let ready = obj
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"));
    let field = |f: &str| ready.and_then(|c| c[f].as_str()).unwrap_or("").to_owned();
    Ok(FluxOwner {
        kind: k.kind.to_owned(),
        namespace: ns.to_owned(),
        name: name.to_owned(),
        ready: field("status"),
        reason: field("reason"),
        message: field("message"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_helm_release_is_the_nearer_owner() {
        let l = labels(&[
            ("kustomize.toolkit.fluxcd.io/name", "apps"),
            ("kustomize.toolkit.fluxcd.io/namespace", "flux-system"),
            ("helm.toolkit.fluxcd.io/name", "jellyfin"),
            ("helm.toolkit.fluxcd.io/namespace", "media"),
        ]);
        assert_eq!(
            owner_named(&[&l], "media"),
            Some(("HelmRelease".into(), "media".into(), "jellyfin".into()))
        );
        let k = labels(&[("kustomize.toolkit.fluxcd.io/name", "apps")]);
        let none = labels(&[("app", "x")]);
        assert_eq!(
            owner_named(&[&none, &k], "media"),
            Some(("Kustomization".into(), "media".into(), "apps".into()))
        );
        assert_eq!(owner_named(&[&none], "media"), None);
    }
}
