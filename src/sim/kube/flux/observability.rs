//! What the observability charts of this repository's tree create beyond the one Deployment
//! helm-controller installs per release (`helm.rs`): the Services the observability stage and
//! the console reach by port-forward, and Promtail's DaemonSet (one pod per node). Each Service
//! selects the release's Deployment pods (the stand-in for the chart's workloads), so a
//! listener attached with `KubeSim::serve_port` on that port answers behind it. Created once the
//! release's Deployment exists; never changed afterwards.
//!
//! | release | creates |
//! |---|---|
//! | monitoring/kube-prometheus-stack | Services `kube-prometheus-stack-prometheus:9090` and `alertmanager-operated:9093` (the operator's, for the tree's Alertmanager) |
//! | logging/loki | Service `loki:3100` |
//! | logging/promtail | DaemonSet `promtail` |
//! | monitoring/grafana | Service `grafana:80` |
//! | monitoring/otel-collector | Service `otel-collector-opentelemetry-collector:4318` |
//! | monitoring/tempo | Service `tempo:3200` |

use super::super::controllers::{Pass, key, meta};
use serde_json::{Value, json};

const MANAGER: &str = "helm-controller";

/// A release's Services: (release namespace, release name, Services as (name, port)).
type ReleaseServices = (&'static str, &'static str, &'static [(&'static str, u16)]);

const SERVICES: &[ReleaseServices] = &[
    (
        "monitoring",
        "kube-prometheus-stack",
        &[
            ("kube-prometheus-stack-prometheus", 9090),
            ("alertmanager-operated", 9093),
        ],
    ),
    ("logging", "loki", &[("loki", 3100)]),
    ("monitoring", "grafana", &[("grafana", 80)]),
    (
        "monitoring",
        "otel-collector",
        &[("otel-collector-opentelemetry-collector", 4318)],
    ),
    ("monitoring", "tempo", &[("tempo", 3200)]),
];

/// Releases whose chart runs as a DaemonSet (named after the release).
const DAEMONSETS: &[(&str, &str)] = &[("logging", "promtail")];

pub(crate) fn reconcile(p: &mut Pass) {
    let deploy_key = key("apps", "deployments");
    for (ns, release, services) in SERVICES {
        let Ok(d) = p.store.get(&deploy_key, ns, release) else {
            continue;
        };
        let selector = d
            .pointer("/spec/selector/matchLabels")
            .cloned()
            .unwrap_or_default();
        for (name, port) in *services {
            if p.store.get(&key("", "services"), ns, name).is_ok() {
                continue;
            }
            let svc = json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name, "namespace": ns, "labels": labels(&d)},
                "spec": {
                    "type": "ClusterIP",
                    "selector": selector,
                    "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}],
                },
            });
            p.save(&key("", "services"), None, svc, MANAGER);
        }
    }
    for (ns, release) in DAEMONSETS {
        let Ok(d) = p.store.get(&deploy_key, ns, release) else {
            continue;
        };
        if p.store.get(&key("apps", "daemonsets"), ns, release).is_ok() {
            continue;
        }
        let ds = json!({
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": {"name": release, "namespace": ns, "labels": labels(&d)},
            "spec": {
                "selector": d.pointer("/spec/selector").cloned().unwrap_or_default(),
                "template": d.pointer("/spec/template").cloned().unwrap_or_default(),
            },
        });
        p.save(&key("apps", "daemonsets"), None, ds, MANAGER);
    }
}

/// The release's Helm labels, as the chart puts them on everything it renders.
fn labels(d: &Value) -> Value {
    let mut l = d
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or_else(|| json!({}));
    if l.get("app.kubernetes.io/instance").is_none() {
        l["app.kubernetes.io/instance"] = json!(meta(d, "name"));
    }
    l
}
