//! `secrets/resolves`: every secret the tree's objects read resolves to a SOPS-encrypted Secret
//! in the tree, or to one the cluster definition says is made outside it. What Flux would
//! otherwise find only at apply time, as a pod stuck in `CreateContainerConfigError` or a
//! HelmRelease failing on its `valuesFrom`.
//!
//! References: `secretKeyRef` and `envFrom[].secretRef` (containers), any `secretRef` with a
//! name (Flux sources, decryption), `*SecretRef` mappings with a `key` (inputs such as
//! cert-manager's `apiTokenSecretRef`; those without a key are outputs a controller writes),
//! HelmRelease `spec.valuesFrom` of kind Secret, and chart `existingSecret` values.
//!
//! The rule applies once the repository has a `.sops.yaml` (the secrets stage writes it): before
//! that no Secret can be committed at all, and `secrets/documented` covers the references.

use super::references::secret_namespace;
use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlPath, walk};
use crate::secrets::cluster_secrets::MADE_OUTSIDE;
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const RESOLVES: Rule = Rule {
    id: "secrets/resolves",
    title: "Every secret reference resolves to a SOPS-encrypted Secret in the tree or one made outside it",
    hint: "render it from the env file with the Flux stage (<name>.sops.yaml next to the workload, encrypted to .sops.yaml's recipients), fix the name or namespace, or list `namespace/name` under `flux.secrets_made_outside` in the cluster definition when something in the cluster creates it",
};

/// `(field path, secret name, read in the object's own namespace)` of every input secret
/// reference in a document. Flux reads its objects' own references (`secretRef`,
/// `decryption.secretRef`, a HelmRelease's `valuesFrom`) in the object's namespace; what a
/// chart's values name lives where the release installs (`targetNamespace`).
fn references(d: &Doc) -> Vec<(YamlPath, String, bool)> {
    let flux = d
        .api_version()
        .is_some_and(|a| a.contains(".toolkit.fluxcd.io/"));
    let Some(v) = &d.value else { return Vec::new() };
    let helm_release = d.is("helm.toolkit.fluxcd.io/", "HelmRelease");
    let mut refs = Vec::new();
    walk(v, &mut YamlPath::default(), &mut |p, node| {
        let Some(last) = p.last_key() else { return };
        // HelmRelease `spec.valuesFrom[i]` items of kind Secret.
        if helm_release
            && last == "valuesFrom"
            && node.get("kind").and_then(Value::as_str) == Some("Secret")
            && p.to_string().starts_with("spec.valuesFrom[")
        {
            if let Some(n) = node.get("name").and_then(Value::as_str) {
                refs.push((p.join("name"), n.to_string(), true));
            }
            return;
        }
        let name = || {
            node.get("name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
        };
        let own = flux && !p.to_string().starts_with("spec.values.");
        if last == "secretKeyRef" || last == "secretRef" {
            if let Some(n) = name() {
                refs.push((p.join("name"), n.to_string(), own));
            }
        } else if last.ends_with("SecretRef") {
            if let (Some(n), Some(_)) = (name(), node.get("key")) {
                refs.push((p.join("name"), n.to_string(), own));
            }
        } else if last == "existingSecret"
            && let Some(n) = node.as_str().filter(|n| !n.is_empty())
        {
            refs.push((p.clone(), n.to_string(), own));
        }
    });
    refs
}

/// The `namespace/name` entries of `flux.secrets_made_outside` in every cluster definition.
fn made_outside_by_definitions(tree: &Tree) -> BTreeSet<String> {
    tree.docs()
        .filter(|(f, _)| f.rel.starts_with("config/clusters/"))
        .filter_map(|(_, d)| d.get(&["flux", "secrets_made_outside"]))
        .filter_map(Value::as_sequence)
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    if !tree.root.join(".sops.yaml").is_file() {
        return;
    }
    // (namespace, name) -> encrypted?
    let mut secrets: BTreeMap<(String, String), bool> = BTreeMap::new();
    for (f, d) in tree.docs().filter(|(f, _)| f.rel.starts_with("cluster/")) {
        if d.kind() == Some("Secret")
            && let Some(name) = d.name()
        {
            let key = (
                d.namespace().unwrap_or("default").to_string(),
                name.to_string(),
            );
            let encrypted = f.values().any(|doc| doc.get(&["sops"]).is_some());
            let e = secrets.entry(key).or_insert(false);
            *e |= encrypted;
        }
    }
    let outside = made_outside_by_definitions(tree);
    for (f, d) in tree.docs().filter(|(f, _)| f.rel.starts_with("cluster/")) {
        if d.kind() == Some("Secret") {
            continue;
        }
        for (path, name, own) in references(d) {
            let ns = if own {
                d.namespace().unwrap_or("default")
            } else {
                secret_namespace(d)
            };
            let qualified = format!("{ns}/{name}");
            let found = secrets.get(&(ns.to_string(), name.clone())).copied();
            if found == Some(true)
                || outside.contains(&qualified)
                || MADE_OUTSIDE.iter().any(|(n, s, _)| *n == ns && *s == name)
            {
                continue;
            }
            let why = match found {
                Some(_) => "is in the tree in plaintext (no sops metadata)",
                None => {
                    "is neither a SOPS-encrypted Secret in the tree nor listed under `flux.secrets_made_outside` in the cluster definition"
                }
            };
            out.push(Violation::new(
                &RESOLVES,
                &f.rel,
                Some(d.line_at(&path.to_string())),
                format!(
                    "{} `{}`: `{path}`: secret `{qualified}` {why}",
                    d.kind().unwrap_or("object"),
                    d.name().unwrap_or("?")
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Doc {
        crate::repo::tree::YamlFile::parse("cluster/x.yaml".into(), text)
            .docs
            .remove(0)
    }

    #[test]
    fn every_kind_of_input_reference_is_found_and_outputs_are_not() {
        let d = doc(
            "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: r, namespace: ns}\nspec:\n  valuesFrom:\n    - kind: ConfigMap\n      name: cm\n    - kind: Secret\n      name: vals\n  values:\n    admin:\n      existingSecret: admin\n    acme:\n      privateKeySecretRef: {name: account}\n      apiTokenSecretRef: {name: cf, key: api-token}\n    containers:\n      - envFrom:\n          - secretRef: {name: env-all}\n        env:\n          - valueFrom:\n              secretKeyRef: {name: one, key: K}\n",
        );
        let mut got: Vec<(String, String)> = references(&d)
            .into_iter()
            .map(|(p, n, _)| (p.to_string(), n))
            .collect();
        got.sort();
        assert_eq!(
            got,
            vec![
                (
                    "spec.values.acme.apiTokenSecretRef.name".into(),
                    "cf".into()
                ),
                ("spec.values.admin.existingSecret".into(), "admin".into()),
                (
                    "spec.values.containers[0].envFrom[0].secretRef.name".into(),
                    "env-all".into()
                ),
                (
                    "spec.values.containers[0].env[0].valueFrom.secretKeyRef.name".into(),
                    "one".into()
                ),
                ("spec.valuesFrom[1].name".into(), "vals".into()),
            ]
        );
        assert_eq!(d.line_at("spec.valuesFrom[1].name"), 9);
    }
}
