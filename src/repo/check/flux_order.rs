//! The dependsOn chain runs infrastructure, then configs, then apps (Stage 1 memo 4, 8): a Flux
//! Kustomization comes after every Kustomization that provides what its objects use: the CRDs
//! of their API group (the controller chart, [`CRD_PROVIDERS`]), the StorageClass their claims
//! name, the Gateway their routes attach to. Apps never come before the platform.

use super::flux_graph::FluxGraph;
use super::platform::chart_name;
use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, YamlPath, normalize, walk};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const FLUX_ORDER: Rule = Rule {
    id: "flux/order",
    title: "The dependsOn chain runs infrastructure, then configs, then apps",
    hint: "add the named Kustomizations to spec.dependsOn (cluster/kubernetes/flux/platform.yaml and apps.yaml): controllers first, then the configs that need their CRDs, then the apps on top",
};

/// API groups whose CRDs a controller chart installs: objects of the group come after it.
pub const CRD_PROVIDERS: &[(&str, &str)] = &[
    ("gateway.networking.k8s.io/", "gateway-helm"),
    ("gateway.envoyproxy.io/", "gateway-helm"),
    ("cert-manager.io/", "cert-manager"),
    ("acme.cert-manager.io/", "cert-manager"),
    ("longhorn.io/", "longhorn"),
    ("monitoring.coreos.com/", "kube-prometheus-stack"),
];
/// Charts that create a StorageClass of their own name by default.
const CLASS_CHARTS: &[&str] = &["longhorn"];
const APPS_DIR: &str = "./cluster/kubernetes/apps/";

/// Something an object uses and the Kustomizations that provide it.
struct Need {
    what: String,
    providers: Vec<String>,
}

fn is_app(tree_path: Option<&str>) -> bool {
    tree_path.is_some_and(|p| {
        let p = if p.starts_with("./") {
            p.to_string()
        } else {
            format!("./{p}")
        };
        p.starts_with(APPS_DIR) || p == APPS_DIR.trim_end_matches('/')
    })
}

pub fn check(tree: &Tree, graph: &FluxGraph, out: &mut Vec<Violation>) {
    let docs = graph.docs_of(tree);
    let providers = Providers::index(tree, &docs);
    for k in &graph.ks {
        // a path that is not a folder is `flux/path`'s finding
        if !k
            .doc
            .get_str(&["spec", "path"])
            .is_some_and(|p| tree.dirs.contains(&normalize(p)))
        {
            continue;
        }
        let ancestors = graph.ancestors(k.name);
        let app = is_app(k.doc.get_str(&["spec", "path"]));
        if !app {
            for dep in &ancestors {
                if graph
                    .get(dep)
                    .is_some_and(|d| is_app(d.doc.get_str(&["spec", "path"])))
                {
                    out.push(Violation::new(
                        &FLUX_ORDER,
                        &k.file.rel,
                        Some(k.doc.line_at("spec.dependsOn")),
                        format!(
                            "Kustomization `{}` (platform) comes after `{dep}` (apps): the platform reconciles before the apps",
                            k.name
                        ),
                    ));
                }
            }
        }
        let mut needs: Vec<Need> = Vec::new();
        for (_, d) in docs.get(k.name).into_iter().flatten() {
            needs_of(d, &providers, &mut needs);
        }
        // providers count only within k's own Flux tree (another cluster's do not reconcile here)
        let tree_of_k = graph.same_tree(k.name);
        for n in &mut needs {
            n.providers.retain(|p| tree_of_k.contains(p.as_str()));
        }
        // what is missing: a need none of whose providers is k itself or comes before k
        let mut missing: Vec<(String, String)> = Vec::new();
        for n in &needs {
            if n.providers.is_empty()
                || n.providers
                    .iter()
                    .any(|p| p == k.name || ancestors.contains(p.as_str()))
            {
                continue;
            }
            if !missing.iter().any(|(p, _)| *p == n.providers[0]) {
                missing.push((n.providers[0].clone(), n.what.clone()));
            }
        }
        // a provider another missing one already comes after is implied by adding that one
        let names: Vec<String> = missing.iter().map(|(p, _)| p.clone()).collect();
        missing.retain(|(p, _)| {
            !names
                .iter()
                .any(|q| q != p && graph.ancestors(q).contains(p.as_str()))
        });
        if !missing.is_empty() {
            let list: Vec<String> = missing
                .iter()
                .map(|(p, what)| format!("`{p}` ({what})"))
                .collect();
            out.push(Violation::new(
                &FLUX_ORDER,
                &k.file.rel,
                Some(k.doc.line_at("metadata.name")),
                format!(
                    "Kustomization `{}` ({}) does not come after {}: add {} to its spec.dependsOn",
                    k.name,
                    if app { "apps" } else { "platform" },
                    list.join(", "),
                    if missing.len() == 1 { "it" } else { "them" }
                ),
            ));
        } else if app && k.deps.is_empty() {
            out.push(Violation::new(
                &FLUX_ORDER,
                &k.file.rel,
                Some(k.doc.line_at("metadata.name")),
                format!(
                    "Kustomization `{}` (apps) has no dependsOn: apps come after the platform's infrastructure and configs",
                    k.name
                ),
            ));
        }
    }
}

/// Who provides what, indexed once: Kustomization names by the chart they install, the
/// StorageClass they create and the Gateway (namespace, name) they apply.
#[derive(Default)]
struct Providers {
    charts: BTreeMap<String, Vec<String>>,
    classes: BTreeMap<String, Vec<String>>,
    gateways: BTreeMap<(String, String), Vec<String>>,
}

impl Providers {
    fn index(tree: &Tree, docs: &BTreeMap<&str, Vec<(&YamlFile, &Doc)>>) -> Providers {
        let mut p = Providers::default();
        for (k, ds) in docs {
            for (_, d) in ds {
                let add = |map: &mut BTreeMap<_, Vec<String>>, key| {
                    let v: &mut Vec<String> = map.entry(key).or_default();
                    if v.last().map(String::as_str) != Some(*k) {
                        v.push(k.to_string());
                    }
                };
                if d.is("helm.toolkit.fluxcd.io/", "HelmRelease") {
                    if let Some(c) = chart_name(tree, d) {
                        add(&mut p.charts, c.to_string());
                        if CLASS_CHARTS.contains(&c) {
                            add(&mut p.classes, c.to_string());
                        }
                    }
                    if let Some(c) = d.get_str(&["spec", "values", "storageClass", "name"]) {
                        add(&mut p.classes, c.to_string());
                    }
                }
                if d.kind() == Some("StorageClass")
                    && let Some(n) = d.name()
                {
                    add(&mut p.classes, n.to_string());
                }
                if d.is("gateway.networking.k8s.io/", "Gateway")
                    && let Some(n) = d.name()
                {
                    let ns = d.namespace().unwrap_or("default").to_string();
                    let v = p.gateways.entry((ns, n.to_string())).or_default();
                    if v.last().map(String::as_str) != Some(*k) {
                        v.push(k.to_string());
                    }
                }
            }
        }
        p
    }

    fn get<K: Ord>(map: &BTreeMap<K, Vec<String>>, key: &K) -> Vec<String> {
        map.get(key).cloned().unwrap_or_default()
    }
}

/// What `d` uses that another Kustomization provides.
fn needs_of(d: &Doc, providers: &Providers, out: &mut Vec<Need>) {
    let kind = d.kind().unwrap_or("object");
    let name = d.name().unwrap_or("?");
    if let Some(api) = d.api_version()
        && let Some((group, chart)) = CRD_PROVIDERS.iter().find(|(g, _)| api.starts_with(g))
    {
        out.push(Need {
            what: format!(
                "the {} CRDs of its {kind} `{name}`",
                group.trim_end_matches('/')
            ),
            providers: Providers::get(&providers.charts, &chart.to_string()),
        });
    }
    if let Some(v) = &d.value {
        let mut classes: BTreeSet<String> = BTreeSet::new();
        walk(v, &mut YamlPath::default(), &mut |p, node| {
            if matches!(p.last_key(), Some("storageClassName" | "storageClass"))
                && let Value::String(c) = node
                && !c.is_empty()
                && c != "-"
            {
                classes.insert(c.clone());
            }
        });
        for class in classes {
            out.push(Need {
                providers: Providers::get(&providers.classes, &class),
                what: format!("StorageClass `{class}` for {kind} `{name}`"),
            });
        }
    }
    if kind.ends_with("Route") {
        for r in d
            .get(&["spec", "parentRefs"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            let Some(gw) = r.get("name").and_then(Value::as_str) else {
                continue;
            };
            let ns = r
                .get("namespace")
                .and_then(Value::as_str)
                .or(d.namespace())
                .unwrap_or("default");
            out.push(Need {
                what: format!("Gateway `{ns}/{gw}` for {kind} `{name}`"),
                providers: Providers::get(&providers.gateways, &(ns.to_string(), gw.to_string())),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::tree::YamlFile;

    fn ks(name: &str, path: &str, deps: &[&str]) -> String {
        let deps: String = deps.iter().map(|d| format!("    - name: {d}\n")).collect();
        let deps = if deps.is_empty() {
            String::new()
        } else {
            format!("  dependsOn:\n{deps}")
        };
        format!(
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: {name}\n  namespace: flux-system\nspec:\n{deps}  path: {path}\n"
        )
    }

    fn tree(flux: &str, files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::default();
        let mut add = |rel: &str, text: &str| {
            t.yaml.push(YamlFile::parse(rel.to_string(), text));
            t.files.insert(rel.to_string());
            let mut dir = crate::repo::tree::parent(rel);
            while !dir.is_empty() {
                t.dirs.insert(dir.to_string());
                dir = crate::repo::tree::parent(dir);
            }
        };
        add("cluster/kubernetes/flux/all.yaml", flux);
        for (rel, text) in files {
            add(rel, text);
        }
        t
    }

    fn messages(t: &Tree) -> Vec<String> {
        let graph = FluxGraph::build(t);
        let mut out = Vec::new();
        check(t, &graph, &mut out);
        out.into_iter().map(|v| v.message).collect()
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: x\n";

    #[test]
    fn an_app_without_depends_on_is_out_of_order_even_when_it_needs_nothing() {
        let t = tree(
            &ks("apps-a", "./cluster/kubernetes/apps/a", &[]),
            &[("cluster/kubernetes/apps/a/cm.yaml", CM)],
        );
        assert_eq!(
            messages(&t),
            [
                "Kustomization `apps-a` (apps) has no dependsOn: apps come after the platform's infrastructure and configs"
            ]
        );
    }

    #[test]
    fn the_platform_never_comes_after_an_app() {
        let flux = format!(
            "{}---\n{}---\n{}",
            ks("base", "./cluster/kubernetes/platform/base", &[]),
            ks("apps-a", "./cluster/kubernetes/apps/a", &["base"]),
            ks("late", "./cluster/kubernetes/platform/late", &["apps-a"]),
        );
        let t = tree(
            &flux,
            &[
                ("cluster/kubernetes/platform/base/cm.yaml", CM),
                ("cluster/kubernetes/apps/a/cm.yaml", CM),
                ("cluster/kubernetes/platform/late/cm.yaml", CM),
            ],
        );
        assert_eq!(
            messages(&t),
            [
                "Kustomization `late` (platform) comes after `apps-a` (apps): the platform reconciles before the apps"
            ]
        );
    }
}
