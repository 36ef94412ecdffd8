//! Media libraries go to NFS (Stage 1 memo 5.2, 8.1): a big Longhorn claim in the `media`
//! namespace is a library in the wrong place. Longhorn is only for app state and metadata there.

use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, normalize, parent};
use serde_yaml::Value;

pub const MEDIA_ON_NFS: Rule = Rule {
    id: "storage/media-on-nfs",
    title: "Media libraries are on NFS: no Longhorn claim over 100Gi in the media namespace (Stage 1 memo 5.2, 8.1)",
    hint: "put the library on the Synology: storageClassName: nfs (see cluster/kubernetes/apps/media/library-pvc.yaml); keep Longhorn claims in media to app state and metadata, under 100Gi",
};

/// The namespace the rule watches and the largest Longhorn claim allowed there.
pub const MEDIA_NAMESPACE: &str = "media";
pub const LONGHORN_MEDIA_LIMIT: &str = "100Gi";
/// Longhorn is the cluster's default StorageClass: a claim without a class lands there.
const DEFAULT_CLASS: &str = "longhorn";

/// Bytes of a Kubernetes quantity (`2Ti`, `500G`, `1.5e12`, `1024`); `None` if it is not one.
pub fn quantity_bytes(q: &str) -> Option<f64> {
    crate::domain::units::quantity(q)
}

/// The namespace a document lands in: its own, else the nearest kustomization.yaml above it
/// that sets one.
fn namespace_of<'t>(tree: &'t Tree, f: &YamlFile, d: &'t Doc) -> Option<&'t str> {
    if let Some(ns) = d.namespace() {
        return Some(ns);
    }
    let mut dir = parent(&f.rel).to_string();
    for _ in 0..32 {
        let k = normalize(&format!("{dir}/kustomization.yaml"));
        if let Some(ns) = tree
            .yaml
            .iter()
            .filter(|y| y.rel == k)
            .flat_map(|y| y.values())
            .find_map(|kd| kd.get_str(&["namespace"]))
        {
            return Some(ns);
        }
        if dir.is_empty() {
            return None;
        }
        dir = parent(&dir).to_string();
    }
    None
}

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    let Some(limit) = quantity_bytes(LONGHORN_MEDIA_LIMIT) else {
        return;
    };
    for (f, d) in tree.docs() {
        if namespace_of(tree, f, d) != Some(MEDIA_NAMESPACE) {
            continue;
        }
        let name = d.name().unwrap_or("?");
        match d.kind() {
            Some("PersistentVolumeClaim") => {
                if let Some(spec) = d.get(&["spec"]) {
                    claim(
                        f,
                        d,
                        spec,
                        "spec",
                        &format!("PersistentVolumeClaim `{MEDIA_NAMESPACE}/{name}`"),
                        limit,
                        out,
                    );
                }
            }
            Some("StatefulSet") => {
                for (i, t) in d
                    .get(&["spec", "volumeClaimTemplates"])
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let Some(spec) = t.get("spec") else { continue };
                    let tname = t
                        .get("metadata")
                        .and_then(|m| m.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or("?");
                    claim(
                        f,
                        d,
                        spec,
                        &format!("spec.volumeClaimTemplates[{i}].spec"),
                        &format!("StatefulSet `{MEDIA_NAMESPACE}/{name}` claim template `{tname}`"),
                        limit,
                        out,
                    );
                }
            }
            _ => {}
        }
    }
}

fn claim(
    f: &YamlFile,
    d: &Doc,
    spec: &Value,
    at: &str,
    what: &str,
    limit: f64,
    out: &mut Vec<Violation>,
) {
    let class = spec.get("storageClassName").and_then(Value::as_str);
    if class.unwrap_or(DEFAULT_CLASS) != DEFAULT_CLASS {
        return;
    }
    let Some(size) = spec
        .get("resources")
        .and_then(|r| r.get("requests"))
        .and_then(|r| r.get("storage"))
        .and_then(|s| match s {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    else {
        return;
    };
    if quantity_bytes(&size).is_none_or(|b| b <= limit) {
        return;
    }
    let default = if class.is_none() {
        " (no storageClassName: the default class, longhorn)"
    } else {
        ""
    };
    out.push(Violation::new(
        &MEDIA_ON_NFS,
        &f.rel,
        Some(d.line_at(&format!("{at}.resources.requests.storage"))),
        format!(
            "{what} asks Longhorn for {size}{default}, over the {LONGHORN_MEDIA_LIMIT} Longhorn allows in `{MEDIA_NAMESPACE}`: a media library belongs on NFS (storageClassName: nfs)"
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::quantity_bytes;

    #[test]
    fn quantities() {
        assert_eq!(quantity_bytes("2Ti"), Some(2.0 * 1099511627776.0));
        assert_eq!(quantity_bytes("100Gi"), Some(107374182400.0));
        assert_eq!(quantity_bytes("500G"), Some(5e11));
        assert_eq!(quantity_bytes("1e12"), Some(1e12));
        assert_eq!(quantity_bytes("1024"), Some(1024.0));
        assert_eq!(quantity_bytes("lots"), None);
        assert_eq!(quantity_bytes("-1Gi"), None);
        assert_eq!(quantity_bytes("1e999"), None);
    }
}
