//! What Flux applies: each Flux Kustomization with the files its `spec.path` brings in (through
//! `kustomization.yaml` resources and generator files, or every YAML file of the folder when it
//! has none, as kustomize-controller generates it), and which of them each cluster's root (the
//! `flux.path` of its definition in config/clusters/) reaches. The platform and ordering rules read it.

use super::structure::{depends_on, seq_strs};
use crate::repo::tree::{Doc, Tree, YamlFile, normalize};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

/// The folder Flux syncs when a cluster definition names none (`flux.path`'s default).
const ROOT_DIR: &str = "cluster/kubernetes/flux";
/// Folders deeper than this below a Kustomization's path are not followed (a loop guard).
const MAX_DEPTH: usize = 32;

/// One Flux Kustomization.
pub struct FluxKs<'a> {
    pub name: &'a str,
    pub file: &'a YamlFile,
    pub doc: &'a Doc,
    /// Its `spec.dependsOn` names.
    pub deps: Vec<&'a str>,
    /// Every file it applies (YAML manifests and generator files), repository-relative.
    pub files: BTreeSet<String>,
}

/// Every Flux Kustomization in the tree, and what the roots reach.
pub struct FluxGraph<'a> {
    pub ks: Vec<FluxKs<'a>>,
    /// Files applied by the roots and every Kustomization they reach, transitively.
    pub reached: BTreeSet<String>,
    /// Per root (the `flux.path` of a cluster definition), the Kustomizations it reaches.
    pub trees: Vec<BTreeSet<&'a str>>,
}

fn kustomization_file(tree: &Tree, dir: &str) -> Option<String> {
    ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| format!("{dir}/{n}"))
        .find(|f| tree.files.contains(f))
}

/// Files applied from folder `dir` (repository-relative).
pub fn applied_files(tree: &Tree, dir: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut seen = BTreeSet::new();
    collect(tree, &normalize(dir), 0, &mut seen, &mut out);
    out
}

fn collect(
    tree: &Tree,
    dir: &str,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut BTreeSet<String>,
) {
    if depth > MAX_DEPTH || !seen.insert(dir.to_string()) {
        return;
    }
    let Some(kfile) = kustomization_file(tree, dir) else {
        // kustomize-controller generates a kustomization of every manifest below the folder
        let prefix = format!("{dir}/");
        let files: Vec<String> = tree
            .files
            .iter()
            .filter(|f| f.starts_with(&prefix) && (f.ends_with(".yaml") || f.ends_with(".yml")))
            .cloned()
            .collect();
        out.extend(files);
        return;
    };
    out.insert(kfile.clone());
    let Some(file) = tree.yaml.iter().find(|f| f.rel == kfile) else {
        return;
    };
    for d in file.values() {
        let mut entries: Vec<&str> = Vec::new();
        for key in ["resources", "components", "patchesStrategicMerge"] {
            entries.extend(seq_strs(d.get(&[key])));
        }
        for generator in ["configMapGenerator", "secretGenerator"] {
            for g in d
                .get(&[generator])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                entries.extend(
                    seq_strs(g.get("files")).map(|e| e.split_once('=').map_or(e, |(_, p)| p)),
                );
            }
        }
        for e in entries {
            let target = normalize(&format!("{dir}/{e}"));
            if tree.dirs.contains(&target) {
                collect(tree, &target, depth + 1, seen, out);
            } else if tree.files.contains(&target) {
                out.insert(target);
            }
        }
    }
}

impl<'a> FluxGraph<'a> {
    pub fn build(tree: &'a Tree) -> FluxGraph<'a> {
        let mut ks = Vec::new();
        for (file, doc) in tree
            .docs()
            .filter(|(_, d)| d.is("kustomize.toolkit.fluxcd.io/", "Kustomization"))
        {
            let Some(name) = doc.name() else { continue };
            let deps = depends_on(doc);
            let files = doc
                .get_str(&["spec", "path"])
                .map(|p| applied_files(tree, p))
                .unwrap_or_default();
            ks.push(FluxKs {
                name,
                file,
                doc,
                deps,
                files,
            });
        }
        let mut graph = FluxGraph {
            ks,
            reached: BTreeSet::new(),
            trees: Vec::new(),
        };
        for root in roots(tree) {
            let (files, names) = graph.reach(tree, &root);
            graph.reached.extend(files);
            graph.trees.push(names);
        }
        graph
    }

    /// The files and Kustomizations Flux applies from the folder `root`.
    fn reach(&self, tree: &Tree, root: &str) -> (BTreeSet<String>, BTreeSet<&'a str>) {
        let mut reached = applied_files(tree, root);
        let mut done: BTreeSet<&str> = BTreeSet::new();
        loop {
            let next: Vec<&FluxKs<'a>> = self
                .ks
                .iter()
                .filter(|k| !done.contains(k.name) && reached.contains(&k.file.rel))
                .collect();
            if next.is_empty() {
                return (reached, done);
            }
            for k in next {
                done.insert(k.name);
                reached.extend(k.files.iter().cloned());
            }
        }
    }

    /// The Kustomizations in the same Flux tree as `name` (every one when no root reaches it).
    pub fn same_tree(&self, name: &str) -> BTreeSet<&'a str> {
        let mine: BTreeSet<&str> = self
            .trees
            .iter()
            .filter(|t| t.contains(name))
            .flatten()
            .copied()
            .collect();
        if mine.is_empty() {
            self.ks.iter().map(|k| k.name).collect()
        } else {
            mine
        }
    }

    pub fn get(&self, name: &str) -> Option<&FluxKs<'a>> {
        self.ks.iter().find(|k| k.name == name)
    }

    /// Every Kustomization `name` depends on, directly or through its dependencies.
    pub fn ancestors(&self, name: &str) -> BTreeSet<&'a str> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<&str> = self.get(name).map(|k| k.deps.clone()).unwrap_or_default();
        while let Some(d) = todo.pop() {
            if out.insert(d)
                && let Some(k) = self.get(d)
            {
                todo.extend(k.deps.iter().copied());
            }
        }
        out
    }

    /// Documents each Kustomization applies, by name.
    pub fn docs_of<'t>(&self, tree: &'t Tree) -> BTreeMap<&'a str, Vec<(&'t YamlFile, &'t Doc)>> {
        let mut out: BTreeMap<&str, Vec<(&YamlFile, &Doc)>> = BTreeMap::new();
        for k in &self.ks {
            out.entry(k.name)
                .or_default()
                .extend(tree.docs().filter(|(f, _)| k.files.contains(&f.rel)));
        }
        out
    }
}

/// The Flux roots: each cluster definition's `flux.path` (default [`ROOT_DIR`]).
fn roots(tree: &Tree) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = tree
        .yaml
        .iter()
        .filter(|f| f.rel.starts_with("config/clusters/"))
        .flat_map(|f| f.values())
        .map(|d| normalize(d.get_str(&["flux", "path"]).unwrap_or(ROOT_DIR)))
        .collect();
    if out.is_empty() {
        out.insert(ROOT_DIR.to_string());
    }
    out
}
