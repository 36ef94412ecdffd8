//! What the reachability doctor takes from the repository (docs/doctor.md): the cluster
//! definition's `domain` with its line, and the tree's documents of the kinds the walk looks
//! up, so its fixes can name a file, a field and a line.

use super::tree::Tree;
use crate::domain::doctor::{Facts, Located, SourceDoc};
use std::path::Path;

/// The kinds the walk may name in a fix.
const KINDS: &[&str] = &[
    "Gateway",
    "HTTPRoute",
    "Service",
    "Certificate",
    "Namespace",
    "ConfigMap",
    "HelmRelease",
    "EnvoyProxy",
];

/// The facts of cluster `cluster` whose definition is `definition` (a path inside `root`):
/// reads the tree and the definition's text. An error names what could not be read.
pub fn read(root: &Path, definition: &Path, cluster: &str) -> Result<Facts, String> {
    let tree = Tree::load(root).map_err(|e| e.to_string())?;
    let rel = |p: &Path| {
        p.strip_prefix(root)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    let text = std::fs::read_to_string(definition)
        .map_err(|e| format!("cannot read {}: {e}", definition.display()))?;
    Ok(from_tree(
        &tree,
        &rel(definition),
        &text,
        cluster,
        &rel(&crate::config::env_file(root, cluster)),
    ))
}

/// The facts from an already read tree and the definition's text.
pub fn from_tree(
    tree: &Tree,
    definition: &str,
    definition_text: &str,
    cluster: &str,
    env_file: &str,
) -> Facts {
    let domain = serde_yaml::from_str::<serde_yaml::Value>(definition_text)
        .ok()
        .and_then(|v| v.get("domain")?.as_str().map(str::to_string))
        .map(|value| Located {
            value,
            file: definition.into(),
            line: crate::config::locate::locate(definition_text, "domain")
                .and_then(|(l, _)| u32::try_from(l).ok())
                .unwrap_or(1),
            field: "domain".into(),
        });
    let docs = tree
        .docs()
        .filter(|(_, d)| d.kind().is_some_and(|k| KINDS.contains(&k)))
        .filter_map(|(f, d)| {
            let value = serde_json::to_value(d.value.as_ref()?).ok()?;
            Some(SourceDoc {
                api_version: d.api_version().unwrap_or_default().into(),
                kind: d.kind()?.into(),
                namespace: d.namespace().map(str::to_string),
                name: d.name()?.into(),
                file: f.rel.clone(),
                start_line: d.start_line,
                text: d.lines.join("\n"),
                value,
            })
        })
        .collect();
    Facts {
        cluster: cluster.into(),
        domain,
        env_file: env_file.into(),
        docs,
    }
}

#[cfg(test)]
mod tests {
    /// The repository's own tree: the Gateway, the public route and external-dns are found
    /// with their lines.
    #[test]
    fn the_repository_tree_gives_the_gateway_routes_and_registry() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let facts = super::read(
            root,
            &root.join("config/clusters/prox-n100.yaml"),
            "prox-n100",
        )
        .unwrap();
        let domain = facts.domain.as_ref().unwrap();
        assert_eq!(domain.value, "funoffshore.com");
        assert_eq!(domain.file, "config/clusters/prox-n100.yaml");
        assert!(domain.line > 1);
        assert!(
            facts
                .doc("Gateway", Some("networking"), "homelab")
                .is_some()
        );
        let route = facts.doc("HTTPRoute", Some("media"), "jellyfin").unwrap();
        assert_eq!(
            route.file,
            "cluster/kubernetes/apps/media/jellyfin/httproute.yaml"
        );
        assert_eq!(facts.env_file, "config/env/prox-n100.env");
        assert!(facts.of_kind("ConfigMap").any(|c| c.name == "cloudflared"));
    }
    use std::path::Path;
}
