//! A Flux install manifest the simulator accepts, in the shape of the release's
//! `install.yaml` (what `flux install --export` prints): the `flux-system` Namespace, the Flux
//! CRDs as the simulator knows them ([`super::crds`]), and the four controllers' Deployments.
//! The demo lab pins it (`flux.install_sha256`) and the Flux stage installs it; tests of the
//! stage use it too. Deterministic: the same text, so the same SHA-256, on every call.
//!
//! A stand-in, not the release's file: the controllers' images are tagged with the Flux
//! version asked for (the simulator runs no image; a release's install.yaml names each
//! controller's own version), and their resources are the release's defaults (requests 100m
//! and 64Mi, limits 1 CPU and 1Gi), so the tree it lands in still passes `homelab check`
//! (pinned images, resource requests).

use serde_json::Value;

/// The controllers of a default `flux install`.
pub const CONTROLLERS: [&str; 4] = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
];

/// The manifest, labelled with Flux `version` (`v2.7.3`) as the release labels its objects.
pub fn install_manifest(version: &str) -> String {
    let labels = format!(
        "    app.kubernetes.io/instance: flux-system\n    app.kubernetes.io/part-of: flux\n    app.kubernetes.io/version: {version}\n"
    );
    let mut docs = vec![format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n  labels:\n{labels}"
    )];
    for mut crd in super::crds() {
        if let Some(m) = crd.get_mut("metadata").and_then(Value::as_object_mut) {
            m.retain(|k, _| k == "name" || k == "labels" || k == "annotations");
        }
        if let Some(o) = crd.as_object_mut() {
            o.remove("status");
        }
        docs.push(serde_yaml::to_string(&crd).unwrap_or_default());
    }
    for c in CONTROLLERS {
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {c}\n  namespace: flux-system\n  labels:\n{labels}    app.kubernetes.io/component: {c}\n    control-plane: controller\nspec:\n  replicas: 1\n  selector:\n    matchLabels:\n      app: {c}\n  template:\n    metadata:\n      labels:\n        app: {c}\n    spec:\n      containers:\n      - name: manager\n        image: ghcr.io/fluxcd/{c}:{version}\n        resources:\n          requests:\n            cpu: 100m\n            memory: 64Mi\n          limits:\n            cpu: 1000m\n            memory: 1Gi\n"
        ));
    }
    docs.join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_the_same_text_every_time_and_holds_what_flux_installs() {
        let a = install_manifest("v2.7.3");
        assert_eq!(a, install_manifest("v2.7.3"));
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&a)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        let kinds = |k: &str| docs.iter().filter(|d| d["kind"] == k).count();
        assert_eq!(kinds("Namespace"), 1);
        assert_eq!(
            kinds("CustomResourceDefinition"),
            super::super::crds().len()
        );
        assert_eq!(kinds("Deployment"), 4);
        assert!(a.contains("app.kubernetes.io/version: v2.7.3"));
        assert!(a.contains("image: ghcr.io/fluxcd/helm-controller:v2.7.3\n"));
    }
}
