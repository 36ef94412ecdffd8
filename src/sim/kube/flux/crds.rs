//! The Flux CRDs as the simulator installs them: the groups, kinds, names, short names,
//! categories, served versions and `additionalPrinterColumns` of the CRDs in Flux's
//! controllers (`config/crd/bases/*.yaml` of source-, kustomize-, helm- and
//! notification-controller, mid-2026: only v1 / v2 / v1beta3 are served). The schemas are not
//! copied: every version keeps unknown fields (`x-kubernetes-preserve-unknown-fields`).

use serde_json::{Value, json};

/// Ready and Status columns (`.status.conditions[?(@.type=="Ready")]`).
fn ready() -> Value {
    json!({"jsonPath": ".status.conditions[?(@.type==\"Ready\")].status", "name": "Ready", "type": "string"})
}

fn status() -> Value {
    json!({"jsonPath": ".status.conditions[?(@.type==\"Ready\")].message", "name": "Status", "type": "string"})
}

fn age() -> Value {
    json!({"jsonPath": ".metadata.creationTimestamp", "name": "Age", "type": "date"})
}

fn string(name: &str, path: &str) -> Value {
    json!({"jsonPath": path, "name": name, "type": "string"})
}

/// One Flux CRD: `group`, `kind`, plural, short names, category, version, columns, status.
struct Def {
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    short: &'static [&'static str],
    category: &'static str,
    version: &'static str,
    columns: Vec<Value>,
    status: bool,
}

fn crd(d: Def) -> Value {
    let mut version = json!({
        "name": d.version,
        "served": true,
        "storage": true,
        "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
        "additionalPrinterColumns": d.columns,
    });
    if d.status {
        version["subresources"] = json!({"status": {}});
    }
    let mut names = json!({
        "kind": d.kind,
        "listKind": format!("{}List", d.kind),
        "plural": d.plural,
        "singular": d.kind.to_lowercase(),
        "categories": ["all", "fluxcd", d.category],
    });
    if !d.short.is_empty() {
        names["shortNames"] = json!(d.short);
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": format!("{}.{}", d.plural, d.group),
            "labels": {
                "app.kubernetes.io/component": component(d.group),
                "app.kubernetes.io/instance": "flux-system",
                "app.kubernetes.io/part-of": "flux",
            },
        },
        "spec": {
            "group": d.group,
            "names": names,
            "scope": "Namespaced",
            "versions": [version],
        },
    })
}

fn component(group: &str) -> &'static str {
    match group {
        SOURCE => "source-controller",
        KUSTOMIZE => "kustomize-controller",
        HELM => "helm-controller",
        _ => "notification-controller",
    }
}

pub const SOURCE: &str = "source.toolkit.fluxcd.io";
pub const KUSTOMIZE: &str = "kustomize.toolkit.fluxcd.io";
pub const HELM: &str = "helm.toolkit.fluxcd.io";
pub const NOTIFICATION: &str = "notification.toolkit.fluxcd.io";

/// Every CRD `flux install` applies (default components), in that order.
pub fn crds() -> Vec<Value> {
    let sources = "fluxcd-sources";
    let appliers = "fluxcd-appliers";
    let notifications = "fluxcd-notifications";
    let rsa = || vec![age(), ready(), status()];
    vec![
        crd(Def {
            group: SOURCE,
            kind: "Bucket",
            plural: "buckets",
            short: &[],
            category: sources,
            version: "v1",
            columns: vec![
                string("Endpoint", ".spec.endpoint"),
                age(),
                ready(),
                status(),
            ],
            status: true,
        }),
        crd(Def {
            group: SOURCE,
            kind: "ExternalArtifact",
            plural: "externalartifacts",
            short: &["ea"],
            category: sources,
            version: "v1",
            columns: vec![
                age(),
                ready(),
                status(),
                string("Source", ".spec.sourceRef.name"),
            ],
            status: true,
        }),
        crd(Def {
            group: SOURCE,
            kind: "GitRepository",
            plural: "gitrepositories",
            short: &["gitrepo"],
            category: sources,
            version: "v1",
            columns: vec![string("URL", ".spec.url"), age(), ready(), status()],
            status: true,
        }),
        crd(Def {
            group: SOURCE,
            kind: "HelmChart",
            plural: "helmcharts",
            short: &["hc"],
            category: sources,
            version: "v1",
            columns: vec![
                string("Chart", ".spec.chart"),
                string("Version", ".spec.version"),
                string("Source Kind", ".spec.sourceRef.kind"),
                string("Source Name", ".spec.sourceRef.name"),
                age(),
                ready(),
                status(),
            ],
            status: true,
        }),
        crd(Def {
            group: SOURCE,
            kind: "HelmRepository",
            plural: "helmrepositories",
            short: &["helmrepo"],
            category: sources,
            version: "v1",
            columns: vec![string("URL", ".spec.url"), age(), ready(), status()],
            status: true,
        }),
        crd(Def {
            group: SOURCE,
            kind: "OCIRepository",
            plural: "ocirepositories",
            short: &["ocirepo"],
            category: sources,
            version: "v1",
            columns: vec![string("URL", ".spec.url"), ready(), status(), age()],
            status: true,
        }),
        crd(Def {
            group: KUSTOMIZE,
            kind: "Kustomization",
            plural: "kustomizations",
            short: &["ks"],
            category: appliers,
            version: "v1",
            columns: rsa(),
            status: true,
        }),
        crd(Def {
            group: HELM,
            kind: "HelmRelease",
            plural: "helmreleases",
            short: &["hr"],
            category: appliers,
            version: "v2",
            columns: rsa(),
            status: true,
        }),
        crd(Def {
            group: NOTIFICATION,
            kind: "Alert",
            plural: "alerts",
            short: &[],
            category: notifications,
            version: "v1beta3",
            columns: vec![age()],
            status: false,
        }),
        crd(Def {
            group: NOTIFICATION,
            kind: "Provider",
            plural: "providers",
            short: &[],
            category: notifications,
            version: "v1beta3",
            columns: vec![age()],
            status: false,
        }),
        crd(Def {
            group: NOTIFICATION,
            kind: "Receiver",
            plural: "receivers",
            short: &[],
            category: notifications,
            version: "v1",
            columns: rsa(),
            status: true,
        }),
    ]
}
