//! What the tree already says that a request depends on: the zones of the shared Gateway's
//! listeners (hostnames go under them) and every name an app could collide with.

use crate::repo::tree::Tree;
use serde_yaml::Value;
use std::collections::BTreeMap;

/// The shared Gateway every app route attaches to (platform/ingress/gateway-api/gateway/).
pub const GATEWAY_NAME: &str = "homelab";
pub const GATEWAY_NAMESPACE: &str = "networking";

/// Facts read from the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFacts {
    /// `funoffshore.internal`: the `internal` listener's `*.<zone>`.
    pub internal_zone: String,
    /// `funoffshore.com`: the `public` listener's `*.<zone>` (the cluster's domain).
    pub public_zone: String,
    /// Names an app may not take, each with where it is used (`file`).
    pub taken: BTreeMap<String, String>,
    /// The Flux Kustomization that applies each app group (`media` ->
    /// cluster/kubernetes/flux/apps.yaml's `apps-media`).
    pub flux_groups: BTreeMap<String, FluxGroup>,
}

/// A Flux Kustomization of an app group, where it is and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxGroup {
    pub file: String,
    pub name: String,
    /// The document's first line (1-based) and its number of lines.
    pub first_line: usize,
    pub line_count: usize,
    pub depends_on: Vec<String>,
}

/// The Flux Kustomizations that provide the StorageClasses (cluster/kubernetes/flux/platform.yaml).
pub const LONGHORN_KUSTOMIZATION: &str = "longhorn";
pub const NFS_KUSTOMIZATION: &str = "nfs-subdir";

impl TreeFacts {
    /// Read the facts; an error names what is missing and where it was looked for.
    pub fn read(tree: &Tree) -> Result<TreeFacts, String> {
        let gateway = tree
            .docs()
            .find(|(_, d)| {
                d.is("gateway.networking.k8s.io/", "Gateway")
                    && d.name() == Some(GATEWAY_NAME)
                    && d.namespace() == Some(GATEWAY_NAMESPACE)
            })
            .ok_or_else(|| {
                format!("the tree has no Gateway `{GATEWAY_NAMESPACE}/{GATEWAY_NAME}` (cluster/kubernetes/platform/ingress/gateway-api/gateway/gateway.yaml): apps attach their routes to it, so scaffold needs it first")
            })?;
        let (file, doc) = gateway;
        let zone = |listener: &str| -> Result<String, String> {
            doc.get(&["spec", "listeners"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .find(|l| l.get("name").and_then(Value::as_str) == Some(listener))
                .and_then(|l| l.get("hostname").and_then(Value::as_str))
                .and_then(|h| h.strip_prefix("*."))
                .map(str::to_string)
                .ok_or_else(|| {
                    format!(
                        "{}: the Gateway `{GATEWAY_NAME}` has no listener `{listener}` with a wildcard hostname (*.<zone>)",
                        file.rel
                    )
                })
        };
        let internal_zone = zone("internal")?;
        let public_zone = zone("public")?;
        let mut taken = BTreeMap::new();
        let mut flux_groups = BTreeMap::new();
        for (f, d) in tree.docs() {
            if !d.is("kustomize.toolkit.fluxcd.io/", "Kustomization") {
                continue;
            }
            let path = d.get_str(&["spec", "path"]).unwrap_or("");
            let path = path.trim_start_matches("./").trim_end_matches('/');
            let Some(group) = path.strip_prefix(&format!("{}/", super::request::APPS_DIR)) else {
                continue;
            };
            if group.contains('/') {
                continue;
            }
            let depends_on = d
                .get(&["spec", "dependsOn"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|x| x.get("name").and_then(Value::as_str))
                .map(str::to_string)
                .collect();
            flux_groups.entry(group.to_string()).or_insert(FluxGroup {
                file: f.rel.clone(),
                name: d.name().unwrap_or("?").to_string(),
                first_line: d.start_line as usize,
                line_count: d.lines.len(),
                depends_on,
            });
        }
        for f in &tree.yaml {
            if let Some(rest) = f
                .rel
                .strip_prefix(&format!("{}/", super::request::APPS_DIR))
            {
                let parts: Vec<&str> = rest.split('/').collect();
                if parts.len() >= 3 {
                    taken.entry(parts[1].to_string()).or_insert_with(|| {
                        format!(
                            "the app folder {}/{}/{}",
                            super::request::APPS_DIR,
                            parts[0],
                            parts[1]
                        )
                    });
                }
            }
            for d in f.values() {
                let Some(n) = d.name() else { continue };
                let what = if d.kind() == Some("Namespace") {
                    "Namespace"
                } else if d
                    .api_version()
                    .is_some_and(|a| a.starts_with("source.toolkit.fluxcd.io/"))
                    && d.namespace() == Some("flux-system")
                {
                    d.kind().unwrap_or("source")
                } else {
                    continue;
                };
                taken
                    .entry(n.to_string())
                    .or_insert_with(|| format!("{what} `{n}` in {}", f.rel));
            }
        }
        Ok(TreeFacts {
            internal_zone,
            public_zone,
            taken,
            flux_groups,
        })
    }
}
