//! The tree holds together: YAML parses, kustomizations resolve, Flux Kustomizations point at
//! real folders and known dependencies, HelmReleases at real chart sources.

use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, normalize, parent};
use serde_yaml::Value;

pub const YAML_PARSE: Rule = Rule {
    id: "tree/yaml-parse",
    title: "Every YAML document parses",
    hint: "fix the syntax at the reported line (indentation, a missing quote or colon); `kubectl kustomize <dir>` shows the same error",
};
pub const KUSTOMIZE_ENTRY: Rule = Rule {
    id: "tree/kustomization-entry",
    title: "Every kustomization.yaml entry resolves",
    hint: "create the file or folder, or remove the entry from kustomization.yaml (paths are relative to the kustomization's folder)",
};
pub const FLUX_PATH: Rule = Rule {
    id: "flux/path",
    title: "Every Flux Kustomization path exists",
    hint: "spec.path is relative to the repository root, e.g. ./cluster/kubernetes/platform/certs; create the folder or fix the path",
};
pub const FLUX_DEPENDS_ON: Rule = Rule {
    id: "flux/depends-on",
    title: "Every Flux dependsOn names a Kustomization in the tree, without cycles",
    hint: "name an existing Flux Kustomization (see cluster/kubernetes/flux/platform.yaml and apps.yaml) or remove the dependency; a cycle never reconciles, so break it",
};
pub const FLUX_DECRYPTION: Rule = Rule {
    id: "flux/decryption",
    title: "Every Flux Kustomization decrypts SOPS files, prunes and waits",
    hint: "add `decryption: {provider: sops, secretRef: {name: sops-age}}`, `prune: true` and `wait: true` (or healthChecks) to spec",
};
pub const HELM_SOURCE: Rule = Rule {
    id: "helm/source",
    title: "Every HelmRelease's chart source exists in the tree",
    hint: "define the HelmRepository/OCIRepository in cluster/kubernetes/flux/repositories.yaml (namespace flux-system) or fix sourceRef/chartRef",
};

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for f in &tree.yaml {
        for d in &f.docs {
            if let Some((msg, line)) = &d.error {
                out.push(Violation::new(
                    &YAML_PARSE,
                    &f.rel,
                    Some(*line),
                    first_line(msg),
                ));
            }
        }
    }
    for f in tree.yaml.iter().filter(|f| is_kustomization_file(&f.rel)) {
        for d in f.values() {
            kustomization_entries(tree, f, d, out);
        }
    }
    let flux_names: Vec<&str> = tree
        .docs()
        .filter(|(_, d)| d.is("kustomize.toolkit.fluxcd.io/", "Kustomization"))
        .filter_map(|(_, d)| d.name())
        .collect();
    for (f, d) in tree.docs() {
        if d.is("kustomize.toolkit.fluxcd.io/", "Kustomization") {
            flux_kustomization(tree, f, d, &flux_names, out);
        }
        if d.is("helm.toolkit.fluxcd.io/", "HelmRelease") {
            helm_source(tree, f, d, out);
        }
    }
    dependency_cycles(tree, out);
}

/// Flux never reconciles a Kustomization that (transitively) depends on itself.
fn dependency_cycles(tree: &Tree, out: &mut Vec<Violation>) {
    use std::collections::BTreeMap;
    let mut graph: BTreeMap<&str, (Vec<&str>, &YamlFile, &Doc)> = BTreeMap::new();
    for (f, d) in tree
        .docs()
        .filter(|(_, d)| d.is("kustomize.toolkit.fluxcd.io/", "Kustomization"))
    {
        let Some(name) = d.name() else { continue };
        graph.insert(name, (depends_on(d), f, d));
    }
    // iterative DFS; 0 = unvisited, 1 = on the stack, 2 = done
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for &start in graph.keys() {
        if state.get(start).copied().unwrap_or(0) != 0 {
            continue;
        }
        let mut stack: Vec<(&str, usize)> = vec![(start, 0)];
        state.insert(start, 1);
        while let Some((node, next)) = stack.pop() {
            let deps = graph.get(node).map(|g| g.0.as_slice()).unwrap_or(&[]);
            let Some(&dep) = deps.get(next) else {
                state.insert(node, 2);
                continue;
            };
            stack.push((node, next + 1));
            match state.get(dep).copied().unwrap_or(0) {
                0 if graph.contains_key(dep) => {
                    state.insert(dep, 1);
                    stack.push((dep, 0));
                }
                1 => {
                    let cycle: Vec<&str> = stack
                        .iter()
                        .map(|(n, _)| *n)
                        .skip_while(|n| *n != dep)
                        .chain([dep])
                        .collect();
                    if let Some((_, f, d)) = graph.get(node) {
                        out.push(Violation::new(
                            &FLUX_DEPENDS_ON,
                            &f.rel,
                            Some(d.line_at(&format!("spec.dependsOn[{next}].name"))),
                            format!("dependency cycle: {}", cycle.join(" -> ")),
                        ));
                    }
                }
                _ => {}
            }
        }
    }
}

/// The names a Flux Kustomization's `spec.dependsOn` lists.
pub(super) fn depends_on(doc: &Doc) -> Vec<&str> {
    doc.get(&["spec", "dependsOn"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|x| x.get("name").and_then(Value::as_str))
        .collect()
}

fn first_line(msg: &str) -> String {
    msg.lines().next().unwrap_or(msg).to_string()
}

fn is_kustomization_file(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name == "kustomization.yaml" || name == "kustomization.yml" || name == "Kustomization"
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@")
}

/// `resources`, `components`, `patches[].path`, `patchesStrategicMerge`, generator `files`.
fn kustomization_entries(tree: &Tree, f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    let dir = parent(&f.rel);
    let mut check_entry = |entry: &str| {
        if is_remote(entry) {
            return;
        }
        // generator files may be `key=path`
        let file = entry.split_once('=').map(|(_, p)| p).unwrap_or(entry);
        let target = normalize(&format!("{dir}/{file}"));
        if !tree.exists(&target) {
            // entries are sequence items, not keys: find the item's own line
            let line = d.line_containing(file);
            out.push(Violation::new(
                &KUSTOMIZE_ENTRY,
                &f.rel,
                Some(line),
                format!("`{entry}` does not exist (looked for {target})"),
            ));
        }
    };
    for key in ["resources", "components", "patchesStrategicMerge"] {
        for e in seq_strs(d.get(&[key])) {
            check_entry(e);
        }
    }
    if let Some(Value::Sequence(patches)) = d.get(&["patches"]) {
        for p in patches {
            if let Some(path) = p.get("path").and_then(Value::as_str) {
                check_entry(path);
            }
        }
    }
    for generator in ["configMapGenerator", "secretGenerator"] {
        if let Some(Value::Sequence(gens)) = d.get(&[generator]) {
            for g in gens {
                for e in seq_strs(g.get("files")) {
                    check_entry(e);
                }
            }
        }
    }
}

/// Sequence of strings at `v` (anything else yields nothing).
pub(super) fn seq_strs(v: Option<&Value>) -> impl Iterator<Item = &str> {
    v.and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn flux_kustomization(
    tree: &Tree,
    f: &YamlFile,
    d: &Doc,
    names: &[&str],
    out: &mut Vec<Violation>,
) {
    let name = d.name().unwrap_or("?");
    match d.get_str(&["spec", "path"]) {
        Some(p) => {
            let target = normalize(p);
            if !target.is_empty() && !tree.dirs.contains(&target) {
                out.push(Violation::new(
                    &FLUX_PATH,
                    &f.rel,
                    Some(d.line_at("spec.path")),
                    format!("Kustomization `{name}`: path `{p}` is not a folder in the repository"),
                ));
            }
        }
        None => out.push(Violation::new(
            &FLUX_PATH,
            &f.rel,
            Some(d.line_at("spec")),
            format!(
                "Kustomization `{name}` has no spec.path (Flux would apply the repository root)"
            ),
        )),
    }
    if let Some(Value::Sequence(deps)) = d.get(&["spec", "dependsOn"]) {
        for (i, dep) in deps.iter().enumerate() {
            let Some(dn) = dep.get("name").and_then(Value::as_str) else {
                continue;
            };
            if !names.contains(&dn) {
                out.push(Violation::new(
                    &FLUX_DEPENDS_ON,
                    &f.rel,
                    Some(d.line_at(&format!("spec.dependsOn[{i}].name"))),
                    format!("Kustomization `{name}` depends on `{dn}`, which no Flux Kustomization in the tree is named"),
                ));
            }
        }
    }
    let provider = d.get_str(&["spec", "decryption", "provider"]);
    let secret = d.get_str(&["spec", "decryption", "secretRef", "name"]);
    let mut missing = Vec::new();
    if provider != Some("sops") || secret != Some("sops-age") {
        missing.push("decryption with provider sops and secretRef sops-age");
    }
    if d.get(&["spec", "prune"]).and_then(Value::as_bool) != Some(true) {
        missing.push("prune: true");
    }
    let waits = d.get(&["spec", "wait"]).and_then(Value::as_bool) == Some(true)
        || d.get(&["spec", "healthChecks"])
            .and_then(Value::as_sequence)
            .is_some_and(|s| !s.is_empty());
    if !waits {
        missing.push("wait: true or healthChecks");
    }
    if !missing.is_empty() {
        out.push(Violation::new(
            &FLUX_DECRYPTION,
            &f.rel,
            Some(d.line_at("metadata.name")),
            format!("Kustomization `{name}` lacks {}", missing.join(", ")),
        ));
    }
}

fn helm_source(tree: &Tree, f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    let hr_ns = d.namespace().unwrap_or("default");
    let (reference, path): (Option<&Value>, &[&str]) = if let Some(r) = d.get(&["spec", "chartRef"])
    {
        (Some(r), &["spec", "chartRef"])
    } else {
        (
            d.get(&["spec", "chart", "spec", "sourceRef"]),
            &["spec", "chart", "spec", "sourceRef"],
        )
    };
    let name = d.name().unwrap_or("?");
    let Some(r) = reference else {
        out.push(Violation::new(
            &HELM_SOURCE,
            &f.rel,
            Some(d.line_at("spec")),
            format!("HelmRelease `{name}` has neither spec.chart.spec.sourceRef nor spec.chartRef"),
        ));
        return;
    };
    let kind = r.get("kind").and_then(Value::as_str).unwrap_or("");
    let src = r.get("name").and_then(Value::as_str).unwrap_or("");
    let ns = r.get("namespace").and_then(Value::as_str).unwrap_or(hr_ns);
    let found = tree.docs().any(|(_, s)| {
        s.kind() == Some(kind)
            && s.api_version()
                .is_some_and(|a| a.starts_with("source.toolkit.fluxcd.io/"))
            && s.name() == Some(src)
            && s.namespace().unwrap_or("default") == ns
    });
    if !found {
        out.push(Violation::new(
            &HELM_SOURCE,
            &f.rel,
            Some(d.line_at(&format!("{}.name", path.join(".")))),
            format!(
                "HelmRelease `{name}` uses {kind} `{ns}/{src}`, which is not defined in the tree"
            ),
        ));
    }
}
