//! The CRDs the charts of this repository's HelmReleases bring (their `crds/` folders or
//! `crds.enabled` templates), so the configs that need them (HTTPRoutes, ClusterIssuers,
//! RecurringJobs, the Alertmanager) apply after the simulated helm-controller installed the
//! chart, as on a real cluster. Names, scope and versions as upstream; schemas are not
//! copied (unknown fields kept).

use serde_json::{Value, json};

/// (group, version, kind, plural, scope, short names) per chart name.
type Def = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
);

const CERT_MANAGER: &[Def] = &[
    (
        "cert-manager.io",
        "v1",
        "Certificate",
        "certificates",
        "Namespaced",
        &["cert", "certs"],
    ),
    (
        "cert-manager.io",
        "v1",
        "CertificateRequest",
        "certificaterequests",
        "Namespaced",
        &["cr", "crs"],
    ),
    (
        "cert-manager.io",
        "v1",
        "Issuer",
        "issuers",
        "Namespaced",
        &[],
    ),
    (
        "cert-manager.io",
        "v1",
        "ClusterIssuer",
        "clusterissuers",
        "Cluster",
        &[],
    ),
    (
        "acme.cert-manager.io",
        "v1",
        "Order",
        "orders",
        "Namespaced",
        &[],
    ),
    (
        "acme.cert-manager.io",
        "v1",
        "Challenge",
        "challenges",
        "Namespaced",
        &[],
    ),
];

const GATEWAY_HELM: &[Def] = &[
    (
        "gateway.networking.k8s.io",
        "v1",
        "GatewayClass",
        "gatewayclasses",
        "Cluster",
        &["gc"],
    ),
    (
        "gateway.networking.k8s.io",
        "v1",
        "Gateway",
        "gateways",
        "Namespaced",
        &["gtw"],
    ),
    (
        "gateway.networking.k8s.io",
        "v1",
        "HTTPRoute",
        "httproutes",
        "Namespaced",
        &[],
    ),
    (
        "gateway.networking.k8s.io",
        "v1",
        "GRPCRoute",
        "grpcroutes",
        "Namespaced",
        &[],
    ),
    (
        "gateway.networking.k8s.io",
        "v1beta1",
        "ReferenceGrant",
        "referencegrants",
        "Namespaced",
        &["refgrant"],
    ),
    (
        "gateway.envoyproxy.io",
        "v1alpha1",
        "EnvoyProxy",
        "envoyproxies",
        "Namespaced",
        &[],
    ),
    (
        "gateway.envoyproxy.io",
        "v1alpha1",
        "ClientTrafficPolicy",
        "clienttrafficpolicies",
        "Namespaced",
        &["ctp"],
    ),
    (
        "gateway.envoyproxy.io",
        "v1alpha1",
        "BackendTrafficPolicy",
        "backendtrafficpolicies",
        "Namespaced",
        &["btp"],
    ),
    (
        "gateway.envoyproxy.io",
        "v1alpha1",
        "SecurityPolicy",
        "securitypolicies",
        "Namespaced",
        &["sp"],
    ),
];

const LONGHORN: &[Def] = &[
    (
        "longhorn.io",
        "v1beta2",
        "Volume",
        "volumes",
        "Namespaced",
        &["lhv"],
    ),
    (
        "longhorn.io",
        "v1beta2",
        "Setting",
        "settings",
        "Namespaced",
        &["lhs"],
    ),
    (
        "longhorn.io",
        "v1beta2",
        "RecurringJob",
        "recurringjobs",
        "Namespaced",
        &["lhrj"],
    ),
    (
        "longhorn.io",
        "v1beta2",
        "BackupTarget",
        "backuptargets",
        "Namespaced",
        &["lhbt"],
    ),
    (
        "longhorn.io",
        "v1beta2",
        "Backup",
        "backups",
        "Namespaced",
        &["lhb"],
    ),
    (
        "longhorn.io",
        "v1beta2",
        "Snapshot",
        "snapshots",
        "Namespaced",
        &["lhsnap"],
    ),
];

const KUBE_PROMETHEUS_STACK: &[Def] = &[
    (
        "monitoring.coreos.com",
        "v1",
        "Alertmanager",
        "alertmanagers",
        "Namespaced",
        &["am"],
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "Prometheus",
        "prometheuses",
        "Namespaced",
        &["prom"],
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "ServiceMonitor",
        "servicemonitors",
        "Namespaced",
        &["smon"],
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "PodMonitor",
        "podmonitors",
        "Namespaced",
        &["pmon"],
    ),
    (
        "monitoring.coreos.com",
        "v1",
        "PrometheusRule",
        "prometheusrules",
        "Namespaced",
        &["promrule"],
    ),
];

/// The CRDs chart `chart` brings (none for charts not listed).
pub(crate) fn crds_of(chart: &str) -> Vec<Value> {
    let defs: &[Def] = match chart {
        "cert-manager" => CERT_MANAGER,
        "gateway-helm" => GATEWAY_HELM,
        "longhorn" => LONGHORN,
        "kube-prometheus-stack" => KUBE_PROMETHEUS_STACK,
        _ => &[],
    };
    defs.iter()
        .map(|(group, version, kind, plural, scope, short)| {
            json!({
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": format!("{plural}.{group}")},
                "spec": {
                    "group": group,
                    "scope": scope,
                    "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural,
                              "singular": kind.to_lowercase(), "shortNames": short},
                    "versions": [{
                        "name": version, "served": true, "storage": true,
                        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
                        "subresources": {"status": {}},
                    }],
                },
            })
        })
        .collect()
}
