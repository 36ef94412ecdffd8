//! The resource types the simulator serves: the built-in ones of a k3s 1.33 server (the groups
//! `kubectl api-resources` lists for core, apps, batch, storage, networking, coordination, rbac,
//! policy, events.k8s.io and apiextensions) and, added at runtime, the ones an Established CRD
//! defines (`crd.rs`).

use serde_json::Value;

/// (group, plural): how the store files objects. Core is the empty group.
pub type TypeKey = (String, String);

/// One `additionalPrinterColumns` entry of a CRD version (table.rs prints it).
#[derive(Debug, Clone, PartialEq)]
pub struct PrinterColumn {
    pub name: String,
    pub type_: String,
    pub json_path: String,
    pub priority: u64,
    pub description: String,
}

/// What discovery says about one resource, and how the store treats it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    /// Served versions, preferred first.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Has a `/status` subresource: the main resource ignores status changes, `/status` ignores
    /// everything else.
    pub status: bool,
    /// Printer columns (CRDs only; built-ins have their own in table.rs).
    pub columns: Vec<PrinterColumn>,
    /// Defined by a CustomResourceDefinition (no conversion: every version shares the objects).
    pub custom: bool,
}

impl ResourceType {
    pub fn key(&self) -> TypeKey {
        (self.group.clone(), self.plural.clone())
    }

    pub fn preferred(&self) -> &str {
        self.versions.first().map(String::as_str).unwrap_or("v1")
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// `deployments.apps`, `configmaps`: the resource as Status messages name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.plural.clone()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The verbs every stored resource answers (Events and the rest alike).
    pub fn verbs(&self) -> Vec<&'static str> {
        vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ]
    }

    /// Does this type carry `metadata.generation` (bumped on spec changes)?
    /// Whether the server keeps `metadata.generation` for this object: custom resources and
    /// built-ins with a spec, except the kinds whose registry strategy never sets it
    /// (Namespace, Node, Service, PersistentVolume, PersistentVolumeClaim).
    pub fn has_generation(&self, obj: &Value) -> bool {
        const NO_GENERATION: [&str; 5] = [
            "Namespace",
            "Node",
            "Service",
            "PersistentVolume",
            "PersistentVolumeClaim",
        ];
        self.custom || (obj.get("spec").is_some() && !NO_GENERATION.contains(&self.kind.as_str()))
    }
}

/// (group, version, plural, singular, kind, namespaced, short names, categories, status)
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
    &'static [&'static str],
    bool,
);

const ALL: &[&str] = &["all"];
const NONE: &[&str] = &[];

/// The built-in types (names, short names and categories as a k3s 1.33 server lists them).
#[rustfmt::skip]
const BUILTIN: &[Row] = &[
    ("", "v1", "configmaps", "configmap", "ConfigMap", true, &["cm"], NONE, false),
    ("", "v1", "endpoints", "endpoints", "Endpoints", true, &["ep"], NONE, false),
    ("", "v1", "events", "event", "Event", true, &["ev"], NONE, false),
    ("", "v1", "limitranges", "limitrange", "LimitRange", true, &["limits"], NONE, false),
    ("", "v1", "namespaces", "namespace", "Namespace", false, &["ns"], NONE, true),
    ("", "v1", "nodes", "node", "Node", false, &["no"], NONE, true),
    ("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", true, &["pvc"], NONE, true),
    ("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", false, &["pv"], NONE, true),
    ("", "v1", "pods", "pod", "Pod", true, &["po"], ALL, true),
    ("", "v1", "podtemplates", "podtemplate", "PodTemplate", true, NONE, NONE, false),
    ("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", true, &["rc"], ALL, true),
    ("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", true, &["quota"], NONE, true),
    ("", "v1", "secrets", "secret", "Secret", true, NONE, NONE, false),
    ("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", true, &["sa"], NONE, false),
    ("", "v1", "services", "service", "Service", true, &["svc"], ALL, true),
    ("apps", "v1", "controllerrevisions", "controllerrevision", "ControllerRevision", true, NONE, NONE, false),
    ("apps", "v1", "daemonsets", "daemonset", "DaemonSet", true, &["ds"], ALL, true),
    ("apps", "v1", "deployments", "deployment", "Deployment", true, &["deploy"], ALL, true),
    ("apps", "v1", "replicasets", "replicaset", "ReplicaSet", true, &["rs"], ALL, true),
    ("apps", "v1", "statefulsets", "statefulset", "StatefulSet", true, &["sts"], ALL, true),
    ("batch", "v1", "cronjobs", "cronjob", "CronJob", true, &["cj"], ALL, true),
    ("batch", "v1", "jobs", "job", "Job", true, NONE, ALL, true),
    ("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", false, NONE, NONE, false),
    ("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", false, NONE, NONE, false),
    ("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", false, &["sc"], NONE, false),
    ("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", false, NONE, NONE, true),
    ("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", false, NONE, NONE, false),
    ("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", true, &["ing"], NONE, true),
    ("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", true, &["netpol"], NONE, false),
    ("coordination.k8s.io", "v1", "leases", "lease", "Lease", true, NONE, NONE, false),
    ("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", true, NONE, NONE, false),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", false, NONE, NONE, false),
    ("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", false, NONE, NONE, false),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "rolebinding", "RoleBinding", true, NONE, NONE, false),
    ("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", true, NONE, NONE, false),
    ("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", true, &["pdb"], NONE, true),
    ("events.k8s.io", "v1", "events", "event", "Event", true, &["ev"], NONE, false),
    ("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", false, &["crd", "crds"], NONE, true),
    // metrics-server's aggregated API (k3s bundles it); computed on read by `metrics.rs`.
    ("metrics.k8s.io", "v1beta1", "nodes", "", "NodeMetrics", false, NONE, NONE, false),
    ("metrics.k8s.io", "v1beta1", "pods", "", "PodMetrics", true, NONE, NONE, false),
];

/// The groups in the order `/apis` lists them (core is served under `/api`).
pub const BUILTIN_GROUPS: &[&str] = &[
    "apps",
    "events.k8s.io",
    "batch",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "networking.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "apiextensions.k8s.io",
    "metrics.k8s.io",
];

pub fn builtins() -> Vec<ResourceType> {
    BUILTIN
        .iter()
        .map(
            |&(group, version, plural, singular, kind, namespaced, short, cats, status)| {
                ResourceType {
                    group: group.into(),
                    versions: vec![version.into()],
                    plural: plural.into(),
                    singular: singular.into(),
                    kind: kind.into(),
                    namespaced,
                    short_names: short.iter().map(|s| s.to_string()).collect(),
                    categories: cats.iter().map(|s| s.to_string()).collect(),
                    status,
                    columns: vec![],
                    custom: false,
                }
            },
        )
        .collect()
}

pub fn crd_key() -> TypeKey {
    (
        "apiextensions.k8s.io".into(),
        "customresourcedefinitions".into(),
    )
}

pub fn namespace_key() -> TypeKey {
    (String::new(), "namespaces".into())
}

pub fn node_key() -> TypeKey {
    (String::new(), "nodes".into())
}
