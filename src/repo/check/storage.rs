//! Storage (Stage 1 memo 5): Longhorn for block, NFS subdir for bulk, nothing else.

use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, YamlPath, walk};
use serde_yaml::Value;

pub const STORAGE_CLASS: Rule = Rule {
    id: "storage/class",
    title: "Storage classes are only longhorn and nfs (no Ceph/Rook/ZFS/local-path)",
    hint: "use storageClassName: longhorn for databases and app state, nfs for media and bulk data; the dual Longhorn + NFS model may not be replaced",
};

pub const ALLOWED_CLASSES: &[&str] = &["longhorn", "nfs"];
/// Provisioners, charts and API groups of storage engines the memo rules out.
const FORBIDDEN: &[&str] = &["ceph", "rook", "zfs", "local-path", "openebs", "hostpath"];

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for (f, d) in tree.docs() {
        if let Some(v) = &d.value {
            class_references(f, d, v, out);
        }
        forbidden_engines(f, d, out);
    }
}

fn forbidden(s: &str) -> Option<&'static str> {
    let l = s.to_ascii_lowercase();
    FORBIDDEN.iter().copied().find(|f| l.contains(f))
}

/// storageClassName / storageClass anywhere (manifests, PVC templates, chart values).
fn class_references(f: &YamlFile, d: &Doc, v: &Value, out: &mut Vec<Violation>) {
    walk(v, &mut YamlPath::default(), &mut |p, node| {
        let Some(key) = p.last_key() else { return };
        if key != "storageClassName" && key != "storageClass" {
            return;
        }
        // chart values sometimes nest: storageClass: {name: nfs, ...}
        let (class, kp) = match node {
            Value::String(s) => (s.as_str(), p.clone()),
            Value::Mapping(_) => match node.get("name").and_then(Value::as_str) {
                Some(s) => (s, p.join("name")),
                None => return,
            },
            _ => return,
        };
        if class.is_empty() || class == "-" || ALLOWED_CLASSES.contains(&class) {
            return;
        }
        out.push(Violation::new(
            &STORAGE_CLASS,
            &f.rel,
            Some(d.line_at(&kp.to_string())),
            format!(
                "storage class `{class}` at {} is not longhorn or nfs",
                kp.keys_after(0)
            ),
        ));
    });
}

fn forbidden_engines(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    if d.kind() == Some("StorageClass") {
        let name = d.name().unwrap_or("?");
        let provisioner = d.get_str(&["provisioner"]).unwrap_or("");
        if !ALLOWED_CLASSES.contains(&name) || forbidden(provisioner).is_some() {
            out.push(Violation::new(
                &STORAGE_CLASS,
                &f.rel,
                Some(d.line_at("metadata.name")),
                format!("StorageClass `{name}` (provisioner {provisioner}) is outside the Longhorn + NFS model"),
            ));
        }
    }
    if let Some(group) = d.api_version().and_then(forbidden) {
        out.push(Violation::new(
            &STORAGE_CLASS,
            &f.rel,
            Some(d.line_at("apiVersion")),
            format!(
                "{} `{}` belongs to a {group} storage engine",
                d.kind().unwrap_or("object"),
                d.name().unwrap_or("?")
            ),
        ));
    }
    if d.is("helm.toolkit.fluxcd.io/", "HelmRelease")
        && let Some(chart) = d.get_str(&["spec", "chart", "spec", "chart"])
        && let Some(engine) = forbidden(chart)
    {
        out.push(Violation::new(
            &STORAGE_CLASS,
            &f.rel,
            Some(d.line_at("spec.chart.spec.chart")),
            format!("HelmRelease installs chart `{chart}`, a {engine} storage engine"),
        ));
    }
}
