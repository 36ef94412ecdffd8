//! Observability (Stage 1 memo 6.3, 6.4): one canonical OTel collector at one of the two memo
//! paths, receiving OTLP over gRPC and HTTP and exporting traces, logs and metrics; Grafana wired
//! to Prometheus, Loki and the traces backend.

use super::{Rule, Violation};
use crate::repo::tree::{Doc, Tree, YamlFile, YamlPath, walk};
use serde_yaml::Value;

pub const OTEL_COLLECTOR: Rule = Rule {
    id: "observability/otel-collector",
    title: "An OTel collector at platform/observability/otel-collector/ or platform/monitoring/otel-collector/",
    hint: "deploy the opentelemetry-collector chart in cluster/kubernetes/platform/monitoring/otel-collector/ with OTLP gRPC+HTTP receivers and traces, logs and metrics pipelines",
};
pub const GRAFANA_DATASOURCES: Rule = Rule {
    id: "observability/grafana-datasources",
    title: "Grafana has Prometheus, Loki and traces (Tempo/Jaeger) datasources",
    hint: "add the missing datasource under the grafana HelmRelease's values.datasources.\"datasources.yaml\".datasources (type prometheus, loki, tempo)",
};

pub const OTEL_PATHS: &[&str] = &[
    "cluster/kubernetes/platform/observability/otel-collector/",
    "cluster/kubernetes/platform/monitoring/otel-collector/",
];
const GRAFANA_DIR: &str = "cluster/kubernetes/platform/monitoring/grafana/";
const TRACE_TYPES: &[&str] = &["tempo", "jaeger", "zipkin"];

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    otel(tree, out);
    grafana(tree, out);
}

fn is_collector(d: &Doc) -> bool {
    if d.is("helm.toolkit.fluxcd.io/", "HelmRelease") {
        return d
            .get_str(&["spec", "chart", "spec", "chart"])
            .is_some_and(|c| c.contains("opentelemetry-collector"));
    }
    if d.kind() == Some("OpenTelemetryCollector") {
        return true;
    }
    let workload = matches!(d.kind(), Some("Deployment" | "DaemonSet" | "StatefulSet"));
    workload
        && d.get(&["spec", "template", "spec", "containers"])
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("image").and_then(Value::as_str))
            .any(|i| i.contains("opentelemetry-collector"))
}

fn otel(tree: &Tree, out: &mut Vec<Violation>) {
    let collectors: Vec<(&YamlFile, &Doc)> = tree.docs().filter(|(_, d)| is_collector(d)).collect();
    let canonical: Vec<&(&YamlFile, &Doc)> = collectors
        .iter()
        .filter(|(f, _)| OTEL_PATHS.iter().any(|p| f.rel.starts_with(p)))
        .collect();
    if canonical.is_empty() {
        for (f, d) in &collectors {
            out.push(Violation::new(
                &OTEL_COLLECTOR,
                &f.rel,
                Some(d.line_at("kind")),
                format!(
                    "OTel collector `{}` is outside the two canonical paths",
                    d.name().unwrap_or("?")
                ),
            ));
        }
        if collectors.is_empty() {
            out.push(Violation::new(
                &OTEL_COLLECTOR,
                OTEL_PATHS[1],
                None,
                "no OpenTelemetry collector is deployed at either canonical path",
            ));
        }
        return;
    }
    for (f, d) in canonical {
        collector_config(f, d, out);
    }
}

/// For a chart-based collector, the memo's receivers and exporters.
fn collector_config(f: &YamlFile, d: &Doc, out: &mut Vec<Violation>) {
    let Some(cfg) = d.get(&["spec", "values", "config"]) else {
        return;
    };
    let name = d.name().unwrap_or("?");
    let mut missing = Vec::new();
    let protocols = cfg
        .get("receivers")
        .and_then(|r| r.get("otlp"))
        .and_then(|o| o.get("protocols"));
    for proto in ["grpc", "http"] {
        if protocols
            .and_then(|p| p.as_mapping())
            .is_none_or(|m| !m.contains_key(proto))
        {
            missing.push(format!("an OTLP {proto} receiver"));
        }
    }
    let pipelines = cfg.get("service").and_then(|s| s.get("pipelines"));
    for signal in ["traces", "logs", "metrics"] {
        let has = pipelines
            .and_then(|p| p.as_mapping())
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, _)| {
                k.as_str()
                    .is_some_and(|k| k == signal || k.starts_with(&format!("{signal}/")))
            })
            .any(|(_, p)| {
                p.get("exporters")
                    .and_then(Value::as_sequence)
                    .is_some_and(|e| !e.is_empty())
            });
        if !has {
            missing.push(format!("a {signal} pipeline with an exporter"));
        }
    }
    if !missing.is_empty() {
        out.push(Violation::new(
            &OTEL_COLLECTOR,
            &f.rel,
            Some(d.line_at("spec.values.config")),
            format!("OTel collector `{name}` lacks {}", missing.join(", ")),
        ));
    }
}

/// Datasource types declared anywhere in `v` (chart values or embedded provisioning files).
fn datasource_types(v: &Value, types: &mut Vec<String>) {
    walk(v, &mut YamlPath::default(), &mut |p, node| {
        if p.last_key() == Some("datasources")
            && let Value::Sequence(items) = node
        {
            types.extend(
                items
                    .iter()
                    .filter_map(|i| i.get("type").and_then(Value::as_str))
                    .map(str::to_ascii_lowercase),
            );
        }
        if let Value::String(s) = node
            && s.contains("datasources")
            && let Ok(embedded) = serde_yaml::from_str::<Value>(s)
            && embedded.is_mapping()
        {
            datasource_types(&embedded, types);
        }
    });
}

fn grafana(tree: &Tree, out: &mut Vec<Violation>) {
    let grafanas: Vec<(&YamlFile, &Doc)> = tree
        .docs()
        .filter(|(_, d)| {
            d.is("helm.toolkit.fluxcd.io/", "HelmRelease")
                && d.get_str(&["spec", "chart", "spec", "chart"]) == Some("grafana")
        })
        .collect();
    let mut types = Vec::new();
    for (_, d) in tree.docs().filter(|(f, _)| f.rel.starts_with("cluster/")) {
        if let Some(v) = &d.value {
            datasource_types(v, &mut types);
        }
    }
    let mut missing = Vec::new();
    for want in ["prometheus", "loki"] {
        if !types.iter().any(|t| t == want) {
            missing.push(want.to_string());
        }
    }
    if !types.iter().any(|t| TRACE_TYPES.contains(&t.as_str())) {
        missing.push("a traces backend (tempo or jaeger)".to_string());
    }
    if missing.is_empty() {
        return;
    }
    let msg = format!("Grafana has no datasource for {}", missing.join(", "));
    match grafanas.first() {
        Some((f, d)) => {
            let line = d.line_at("spec.values.datasources");
            out.push(Violation::new(
                &GRAFANA_DATASOURCES,
                &f.rel,
                Some(line),
                msg,
            ));
        }
        None => out.push(Violation::new(
            &GRAFANA_DATASOURCES,
            GRAFANA_DIR,
            None,
            format!("{msg} (no Grafana HelmRelease found)"),
        )),
    }
}
