//! Cross-references a cluster would only reject at apply time: objects land in namespaces the
//! tree creates, and every secret a workload references is either in the tree (SOPS-encrypted)
//! or documented, with its keys, in a `SECRETS.md` next to the workload.

use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, YamlPath, parent, walk};
use serde_yaml::Value;
use std::collections::BTreeSet;

pub const NAMESPACE: Rule = Rule {
    id: "tree/namespace",
    title: "Every object's namespace is created by the tree",
    hint: "add the Namespace (with Pod Security labels) to cluster/kubernetes/platform/security/namespaces.yaml, or fix the namespace name",
};
pub const SECRET_DOCUMENTED: Rule = Rule {
    id: "secrets/documented",
    title: "Every referenced secret is in the tree or documented with its keys in a SECRETS.md",
    hint: "ship the secret as <name>.sops.yaml next to the workload, or list `namespace/name` and its keys in a SECRETS.md in the workload's folder (or a parent)",
};

/// Namespaces that exist on every k3s cluster with Flux.
const SYSTEM_NAMESPACES: &[&str] = &[
    "default",
    "kube-system",
    "kube-public",
    "kube-node-lease",
    "flux-system",
];
/// Where cert-manager looks for secrets of cluster-scoped issuers.
const CLUSTER_ISSUER_NAMESPACE: &str = "cert-manager";

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    let declared: BTreeSet<&str> = tree
        .docs()
        .filter(|(_, d)| d.kind() == Some("Namespace"))
        .filter_map(|(_, d)| d.name())
        .collect();
    let secrets: BTreeSet<(&str, &str)> = tree
        .docs()
        .filter(|(_, d)| d.kind() == Some("Secret"))
        .filter_map(|(_, d)| Some((d.namespace().unwrap_or("default"), d.name()?)))
        .collect();
    for (f, d) in tree.docs().filter(|(f, _)| f.rel.starts_with("cluster/")) {
        namespaces(f, d, &declared, out);
        secret_refs(tree, f, d, &secrets, out);
    }
}

fn known(ns: &str, declared: &BTreeSet<&str>) -> bool {
    declared.contains(ns) || SYSTEM_NAMESPACES.contains(&ns)
}

fn namespaces(f: &YamlFile, d: &Doc, declared: &BTreeSet<&str>, out: &mut Vec<Violation>) {
    for (path, ns) in [
        ("metadata.namespace", d.namespace()),
        (
            "spec.targetNamespace",
            d.get_str(&["spec", "targetNamespace"]),
        ),
    ] {
        if let Some(ns) = ns.filter(|ns| !known(ns, declared)) {
            out.push(Violation::new(
                &NAMESPACE,
                &f.rel,
                Some(d.line_at(path)),
                format!(
                    "{} `{}` is in namespace `{ns}`, which nothing in the tree creates",
                    d.kind().unwrap_or("object"),
                    d.name().unwrap_or("?")
                ),
            ));
        }
    }
}

/// The namespace a document's secret references resolve in.
pub(super) fn secret_namespace(d: &Doc) -> &str {
    if d.kind() == Some("ClusterIssuer") {
        return CLUSTER_ISSUER_NAMESPACE;
    }
    d.get_str(&["spec", "targetNamespace"])
        .or(d.namespace())
        .unwrap_or("default")
}

/// `(path, name, key)` of every secret reference: `secretKeyRef`/`*SecretRef` mappings with a
/// `key` (inputs the workload reads; refs without a key are outputs the controller writes) and
/// chart `existingSecret` values.
fn references(v: &Value) -> Vec<(YamlPath, String, Option<String>)> {
    let mut refs = Vec::new();
    walk(v, &mut YamlPath::default(), &mut |p, node| {
        let Some(last) = p.last_key() else { return };
        if last == "secretKeyRef" || last.ends_with("SecretRef") {
            let name = node.get("name").and_then(Value::as_str);
            let key = node.get("key").and_then(Value::as_str);
            if let (Some(name), Some(key)) = (name, key) {
                refs.push((p.join("name"), name.to_string(), Some(key.to_string())));
            }
        } else if last == "existingSecret"
            && let Some(name) = node.as_str().filter(|n| !n.is_empty())
        {
            refs.push((p.clone(), name.to_string(), None));
        }
    });
    refs
}

fn secret_refs(
    tree: &Tree,
    f: &YamlFile,
    d: &Doc,
    secrets: &BTreeSet<(&str, &str)>,
    out: &mut Vec<Violation>,
) {
    // The Flux stage creates the secrets Flux objects use (flux/README.md).
    if d.api_version()
        .is_some_and(|a| a.contains(".toolkit.fluxcd.io/"))
        && !d.is("helm.toolkit.fluxcd.io/", "HelmRelease")
    {
        return;
    }
    let Some(v) = &d.value else { return };
    let ns = secret_namespace(d);
    for (path, name, key) in references(v) {
        if secrets.contains(&(ns, name.as_str())) {
            continue;
        }
        let qualified = format!("{ns}/{name}");
        let documented = secret_docs_for(tree, &f.rel).any(|doc| {
            doc.contains(&qualified) && key.as_ref().is_none_or(|k| doc.contains(k.as_str()))
        });
        if !documented {
            let what = match &key {
                Some(k) => format!("secret `{qualified}` (key `{k}`)"),
                None => format!("secret `{qualified}`"),
            };
            out.push(Violation::new(
                &SECRET_DOCUMENTED,
                &f.rel,
                Some(d.line_at(&path.to_string())),
                format!(
                    "{what} is neither in the tree nor documented in a SECRETS.md beside {}",
                    parent(&f.rel)
                ),
            ));
        }
    }
}

/// The SECRETS.md texts in the folder of `rel` and its parents, up to `cluster/`.
fn secret_docs_for<'a>(tree: &'a Tree, rel: &str) -> impl Iterator<Item = &'a str> {
    let dir = parent(rel).to_string();
    tree.secret_docs
        .iter()
        .filter(move |doc| {
            let d = parent(&doc.rel);
            dir == d || dir.starts_with(&format!("{d}/"))
        })
        .map(|doc| doc.text.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_input_secret_references_only() {
        let v: Value = serde_yaml::from_str(
            "spec:\n  acme:\n    privateKeySecretRef: {name: account}\n    solvers:\n      - dns01:\n          cloudflare:\n            apiTokenSecretRef: {name: cf, key: api-token}\n  values:\n    admin:\n      existingSecret: grafana-admin\n    env:\n      - valueFrom:\n          secretKeyRef: {name: t, key: TOKEN}\n",
        )
        .expect("yaml");
        let refs: Vec<(String, String, Option<String>)> = references(&v)
            .into_iter()
            .map(|(p, n, k)| (p.to_string(), n, k))
            .collect();
        assert_eq!(
            refs,
            vec![
                (
                    "spec.acme.solvers[0].dns01.cloudflare.apiTokenSecretRef.name".into(),
                    "cf".into(),
                    Some("api-token".into())
                ),
                (
                    "spec.values.admin.existingSecret".into(),
                    "grafana-admin".into(),
                    None
                ),
                (
                    "spec.values.env[0].valueFrom.secretKeyRef.name".into(),
                    "t".into(),
                    Some("TOKEN".into())
                ),
            ]
        );
    }
}
