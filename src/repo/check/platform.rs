//! The memo's platform pieces (Stage 1 memo 6.1-6.4) are deployed at their memo paths and reached
//! from the Flux tree, and Grafana has the memo's dashboards. [`PIECES`] and [`DASHBOARDS`] are
//! the tables.

use super::flux_graph::FluxGraph;
use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile};
use serde_yaml::Value;

pub const PLATFORM_PIECES: Rule = Rule {
    id: "platform/pieces",
    title: "The memo's platform pieces are at their memo paths and reached from Flux (Stage 1 memo 6)",
    hint: "deploy the piece in its memo folder (a HelmRelease of its chart) and give that folder a Flux Kustomization in cluster/kubernetes/flux/platform.yaml (path: ./<folder>)",
};
pub const GRAFANA_DASHBOARDS: Rule = Rule {
    id: "observability/grafana-dashboards",
    title: "Grafana has the memo's dashboards: cluster health, nodes, k3s control plane",
    hint: "add the dashboard JSON to cluster/kubernetes/platform/monitoring/grafana/dashboards/ and list it in that folder's configMapGenerator with the label grafana_dashboard: \"1\" (the Grafana sidecar loads it)",
};

/// A platform piece and how to recognise it.
pub struct Piece {
    pub name: &'static str,
    /// The memo section that names it.
    pub section: &'static str,
    /// The folders it may live in (the memo's paths).
    pub paths: &'static [&'static str],
    /// Chart names of a HelmRelease that deploys it.
    pub charts: &'static [&'static str],
    /// Kinds of an object that deploys it.
    pub kinds: &'static [&'static str],
    /// Whether this rule reports it missing (false: another rule already does).
    pub presence: bool,
}

pub const PIECES: &[Piece] = &[
    Piece {
        name: "Prometheus",
        section: "6.1",
        paths: &["cluster/kubernetes/platform/monitoring/prometheus/"],
        charts: &["kube-prometheus-stack", "prometheus"],
        kinds: &["Prometheus"],
        presence: true,
    },
    Piece {
        name: "Alertmanager",
        section: "6.1",
        paths: &["cluster/kubernetes/platform/monitoring/alertmanager/"],
        charts: &["alertmanager"],
        kinds: &["Alertmanager"],
        presence: true,
    },
    Piece {
        name: "metrics-server",
        section: "6.1",
        paths: &["cluster/kubernetes/platform/monitoring/metrics-server/"],
        charts: &["metrics-server"],
        kinds: &[],
        presence: true,
    },
    Piece {
        name: "Loki",
        section: "6.2",
        paths: &["cluster/kubernetes/platform/logging/loki/"],
        charts: &["loki"],
        kinds: &[],
        presence: true,
    },
    // Grafana Alloy is Promtail's upstream successor (Promtail is end-of-life): either fills
    // the memo's log-shipper DaemonSet at its path.
    Piece {
        name: "Promtail",
        section: "6.2",
        paths: &["cluster/kubernetes/platform/logging/promtail/"],
        charts: &["promtail", "alloy"],
        kinds: &[],
        presence: true,
    },
    Piece {
        name: "Grafana",
        section: "6.4",
        paths: &["cluster/kubernetes/platform/monitoring/grafana/"],
        charts: &["grafana"],
        kinds: &[],
        presence: true,
    },
    // Missing or misplaced collectors are `observability/otel-collector`'s findings.
    Piece {
        name: "OTel collector",
        section: "6.3",
        paths: super::observability::OTEL_PATHS,
        charts: &["opentelemetry-collector"],
        kinds: &["OpenTelemetryCollector"],
        presence: false,
    },
];

/// A dashboard the memo requires, by the uid its JSON carries.
pub struct Dashboard {
    pub topic: &'static str,
    pub uid: &'static str,
}

/// Stage 1 memo 6.4: Kubernetes cluster health, node metrics and node OS, k3s control plane.
pub const DASHBOARDS: &[Dashboard] = &[
    Dashboard {
        topic: "Kubernetes cluster health",
        uid: "homelab-cluster-health",
    },
    Dashboard {
        topic: "nodes (metrics and Ubuntu OS)",
        uid: "homelab-nodes",
    },
    Dashboard {
        topic: "k3s control plane",
        uid: "homelab-k3s-control-plane",
    },
];
const GRAFANA_DIR: &str = "cluster/kubernetes/platform/monitoring/grafana/";
const DASHBOARD_LABEL: &str = "grafana_dashboard";

/// The chart a HelmRelease installs: `spec.chart.spec.chart`, or the last segment of the
/// OCIRepository `spec.chartRef` names.
pub fn chart_name<'t>(tree: &'t Tree, d: &'t Doc) -> Option<&'t str> {
    if let Some(c) = d.get_str(&["spec", "chart", "spec", "chart"]) {
        return Some(c);
    }
    let r = d.get(&["spec", "chartRef"])?;
    let name = r.get("name").and_then(Value::as_str)?;
    let url = tree
        .docs()
        .find(|(_, s)| s.is("source.toolkit.fluxcd.io/", "OCIRepository") && s.name() == Some(name))
        .and_then(|(_, s)| s.get_str(&["spec", "url"]));
    Some(url.and_then(|u| u.rsplit('/').next()).unwrap_or(name))
}

fn is_piece(tree: &Tree, p: &Piece, d: &Doc) -> bool {
    if d.is("helm.toolkit.fluxcd.io/", "HelmRelease") {
        return chart_name(tree, d).is_some_and(|c| p.charts.contains(&c));
    }
    d.kind().is_some_and(|k| p.kinds.contains(&k))
}

pub fn check(tree: &Tree, graph: &FluxGraph, out: &mut Vec<Violation>) {
    for p in PIECES {
        piece(tree, graph, p, out);
    }
    dashboards(tree, graph, out);
}

fn piece(tree: &Tree, graph: &FluxGraph, p: &Piece, out: &mut Vec<Violation>) {
    let found: Vec<(&YamlFile, &Doc)> = tree
        .docs()
        .filter(|(f, _)| p.paths.iter().any(|path| f.rel.starts_with(path)))
        .filter(|(_, d)| is_piece(tree, p, d))
        .collect();
    if found.is_empty() {
        if p.presence {
            let charts: Vec<String> = p.charts.iter().map(|c| format!("`{c}`")).collect();
            let mut what = vec![format!("HelmRelease of chart {}", charts.join(" or "))];
            what.extend(p.kinds.iter().map(|k| format!("{k} object")));
            out.push(Violation::new(
                &PLATFORM_PIECES,
                p.paths[0],
                None,
                format!(
                    "{} (Stage 1 memo {}) is not deployed at {}: the folder holds no {}",
                    p.name,
                    p.section,
                    p.paths.join(" or "),
                    what.join(" and no ")
                ),
            ));
        }
        return;
    }
    if found.iter().any(|(f, _)| graph.reached.contains(&f.rel)) {
        return;
    }
    let (f, d) = found[0];
    out.push(Violation::new(
        &PLATFORM_PIECES,
        &f.rel,
        Some(d.line_at("kind")),
        format!(
            "{} (Stage 1 memo {}) is not reached from the Flux tree: no Flux Kustomization that a cluster's flux.path reaches applies {}",
            p.name,
            p.section,
            f.rel
        ),
    ));
}

/// The dashboard uids provisioned through the sidecar: JSON files of configMapGenerators that
/// carry the label, and ConfigMaps with the label, in files Flux applies.
fn provisioned(tree: &Tree, graph: &FluxGraph) -> Vec<String> {
    let mut texts: Vec<&str> = Vec::new();
    for (f, d) in tree.docs().filter(|(f, _)| graph.reached.contains(&f.rel)) {
        if d.kind() == Some("ConfigMap")
            && d.get(&["metadata", "labels", DASHBOARD_LABEL]).is_some()
            && let Some(Value::Mapping(data)) = d.get(&["data"])
        {
            texts.extend(data.values().filter_map(Value::as_str));
        }
        if d.is("kustomize.config.k8s.io/", "Kustomization") {
            let dir = crate::repo::tree::parent(&f.rel);
            let shared = d
                .get(&["generatorOptions", "labels", DASHBOARD_LABEL])
                .is_some();
            for g in d
                .get(&["configMapGenerator"])
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
            {
                let labelled = shared
                    || g.get("options")
                        .and_then(|o| o.get("labels"))
                        .and_then(|l| l.get(DASHBOARD_LABEL))
                        .is_some();
                if !labelled {
                    continue;
                }
                for e in super::structure::seq_strs(g.get("files")) {
                    let file = e.split_once('=').map_or(e, |(_, p)| p);
                    let rel = crate::repo::tree::normalize(&format!("{dir}/{file}"));
                    if let Some(j) = tree.json.iter().find(|j| j.rel == rel) {
                        texts.push(&j.text);
                    }
                }
            }
        }
    }
    texts
        .into_iter()
        .filter_map(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .filter(|j| {
            j.get("panels")
                .and_then(serde_json::Value::as_array)
                .is_some_and(|p| !p.is_empty())
        })
        .filter_map(|j| j.get("uid")?.as_str().map(str::to_string))
        .collect()
}

fn dashboards(tree: &Tree, graph: &FluxGraph, out: &mut Vec<Violation>) {
    let uids = provisioned(tree, graph);
    for want in DASHBOARDS {
        if uids.iter().any(|u| u == want.uid) {
            continue;
        }
        out.push(Violation::new(
            &GRAFANA_DASHBOARDS,
            GRAFANA_DIR,
            None,
            format!(
                "Grafana has no {} dashboard (Stage 1 memo 6.4): no dashboard JSON with uid `{}` and panels in a ConfigMap labelled {DASHBOARD_LABEL} that Flux applies",
                want.topic, want.uid
            ),
        ));
    }
}
