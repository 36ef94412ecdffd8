//! What the observability stage checks, as this repository's tree deploys it: the HelmReleases
//! (`cluster/kubernetes/platform/monitoring/` and `logging/`), Promtail's DaemonSet, and the
//! Service each probe reaches by port-forward.

use crate::config::service_target::ServiceTarget;

/// A Service port of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Human name: `Prometheus`.
    pub what: &'static str,
    pub namespace: &'static str,
    pub name: &'static str,
    pub port: u16,
}

impl Service {
    pub fn target(&self) -> ServiceTarget {
        ServiceTarget::new(self.namespace, self.name, self.port)
    }
    /// `monitoring/grafana:80`.
    pub fn label(&self) -> String {
        self.target().to_string()
    }
}

/// kube-prometheus-stack's Prometheus (`monitoring/prometheus/helmrelease.yaml`).
pub const PROMETHEUS: Service = Service {
    what: "Prometheus",
    namespace: "monitoring",
    name: "kube-prometheus-stack-prometheus",
    port: 9090,
};
/// The Service the Prometheus Operator creates for `monitoring/alertmanager/alertmanager.yaml`.
pub const ALERTMANAGER: Service = Service {
    what: "Alertmanager",
    namespace: "monitoring",
    name: "alertmanager-operated",
    port: 9093,
};
/// `logging/loki/helmrelease.yaml` (release `loki`, its gateway-less single binary).
pub const LOKI: Service = Service {
    what: "Loki",
    namespace: "logging",
    name: "loki",
    port: 3100,
};
/// `monitoring/grafana/helmrelease.yaml`: the chart's Service on port 80.
pub const GRAFANA: Service = Service {
    what: "Grafana",
    namespace: "monitoring",
    name: "grafana",
    port: 80,
};
/// `monitoring/otel-collector/helmrelease.yaml`: the chart names the Service
/// `<release>-opentelemetry-collector`; OTLP/HTTP on 4318.
pub const OTEL_COLLECTOR: Service = Service {
    what: "OTel collector",
    namespace: "monitoring",
    name: "otel-collector-opentelemetry-collector",
    port: 4318,
};
/// `monitoring/tempo/helmrelease.yaml`: Tempo's HTTP API on 3200.
pub const TEMPO: Service = Service {
    what: "Tempo",
    namespace: "monitoring",
    name: "tempo",
    port: 3200,
};

/// Every Service that must have a Ready pod, in the order they are checked.
pub const SERVICES: [Service; 6] = [
    PROMETHEUS,
    ALERTMANAGER,
    LOKI,
    GRAFANA,
    OTEL_COLLECTOR,
    TEMPO,
];

/// The HelmReleases (namespace, name) that must be Ready.
pub const RELEASES: [(&str, &str); 6] = [
    ("monitoring", "kube-prometheus-stack"),
    ("logging", "loki"),
    ("logging", "promtail"),
    ("monitoring", "grafana"),
    ("monitoring", "otel-collector"),
    ("monitoring", "tempo"),
];

/// Promtail's DaemonSet (the chart names it after the release).
pub const PROMTAIL: (&str, &str) = ("logging", "promtail");

/// The Secret holding Grafana's admin login (`admin.existingSecret` of the Grafana release;
/// rendered from the env file by the Flux stage).
pub const GRAFANA_ADMIN: (&str, &str) = ("monitoring", "grafana-admin");
pub const GRAFANA_USER_KEY: &str = "admin-user";
pub const GRAFANA_PASSWORD_KEY: &str = "admin-password";

/// The label Promtail's default scrape config gives every stream: the pod's node.
pub const NODE_LABEL: &str = "node_name";

#[cfg(test)]
mod tests {
    use super::*;

    /// A rename in the tree without the stage would leave the stage waiting for a release that
    /// never comes.
    #[test]
    fn the_releases_named_here_are_the_trees() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cluster/kubernetes/platform");
        for (ns, name) in RELEASES {
            let file = root
                .join(if ns == "logging" {
                    "logging"
                } else {
                    "monitoring"
                })
                .join(match name {
                    "kube-prometheus-stack" => "prometheus",
                    n => n,
                })
                .join("helmrelease.yaml");
            let text = std::fs::read_to_string(&file)
                .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let hr: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            assert_eq!(
                hr["metadata"]["name"].as_str(),
                Some(name),
                "{}",
                file.display()
            );
            assert_eq!(
                hr["metadata"]["namespace"].as_str(),
                Some(ns),
                "{}",
                file.display()
            );
        }
        let grafana =
            std::fs::read_to_string(root.join("monitoring/grafana/helmrelease.yaml")).unwrap();
        assert!(grafana.contains("existingSecret: grafana-admin"));
    }
}
