//! Cluster health as the console's health pane shows it: nodes, pods, workloads, Flux objects
//! and warning events, already reduced from the Kubernetes objects (`backends::kube::health`
//! builds them; the pane model only reads these).

/// `(namespace, name)`; cluster-scoped objects have an empty namespace.
pub type NsName = (String, String);

/// Which watched list a change belongs to (a re-list replaces one list at a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ListKind {
    Nodes,
    Pods,
    Workloads,
    Flux,
    Events,
}

/// A Node's conditions and capacity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeHealth {
    pub name: String,
    /// The Ready condition: `None` when the node reports none (Unknown).
    pub ready: Option<bool>,
    /// Pressure conditions that are True (`MemoryPressure`, `DiskPressure`, `PIDPressure`,
    /// `NetworkUnavailable`).
    pub pressure: Vec<String>,
    pub unschedulable: bool,
    /// Allocatable CPU in millicores and memory in bytes (what `kubectl top` divides by).
    pub cpu_millis: u64,
    pub memory_bytes: u64,
}

/// What metrics.k8s.io and the kubelet summary say about one node now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeUsage {
    pub cpu_millis: Option<u64>,
    pub memory_bytes: Option<u64>,
    /// Swap in use (kubelet summary `node.swap.swapUsageBytes`); `None`: not reported.
    pub swap_bytes: Option<u64>,
    /// Swap still free (`node.swap.swapAvailableBytes`).
    pub swap_free_bytes: Option<u64>,
}

/// A pod's state as far as the pane cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodHealth {
    pub namespace: String,
    pub name: String,
    pub node: String,
    /// `status.phase` (`Pending`, `Running`, ...).
    pub phase: String,
    pub ready: bool,
    /// Sum of the containers' restart counts.
    pub restarts: u32,
    /// A container's `state.waiting.reason` (`CrashLoopBackOff`, `ImagePullBackOff`, ...).
    pub waiting: Option<String>,
    /// The last termination: `reason (exit N)` from `lastState.terminated`.
    pub last_terminated: Option<String>,
    /// The owning workload: (`Deployment`|`StatefulSet`|`DaemonSet`|other kind, name); a
    /// ReplicaSet owner is reported as its Deployment (the name without the template hash).
    pub owner: Option<(String, String)>,
    /// First container name (what the pod log API follows).
    pub container: String,
}

impl PodHealth {
    /// Crash-looping: a container waits in `CrashLoopBackOff`, or restarted and is not ready.
    pub fn crash_looping(&self) -> bool {
        self.waiting.as_deref() == Some("CrashLoopBackOff")
            || (self.restarts > 0 && !self.ready && self.phase == "Running")
    }
}

/// A Deployment, StatefulSet or DaemonSet that a HelmRelease made (its
/// `helm.toolkit.fluxcd.io/name` label) or a Kustomization lists in its inventory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadHealth {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub desired: u32,
    pub ready: u32,
    /// The HelmRelease that owns it (labels `helm.toolkit.fluxcd.io/{namespace,name}`).
    pub release: Option<NsName>,
}

/// The Flux kinds the pane follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FluxKind {
    Kustomization,
    HelmRelease,
    GitRepository,
    HelmRepository,
    OCIRepository,
}

impl FluxKind {
    pub const ALL: [FluxKind; 5] = [
        FluxKind::Kustomization,
        FluxKind::HelmRelease,
        FluxKind::GitRepository,
        FluxKind::HelmRepository,
        FluxKind::OCIRepository,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FluxKind::Kustomization => "Kustomization",
            FluxKind::HelmRelease => "HelmRelease",
            FluxKind::GitRepository => "GitRepository",
            FluxKind::HelmRepository => "HelmRepository",
            FluxKind::OCIRepository => "OCIRepository",
        }
    }

    /// `(group, version, plural)` as Flux v2 serves it (WIRE.md B.7).
    pub fn resource(self) -> (&'static str, &'static str, &'static str) {
        match self {
            FluxKind::Kustomization => ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations"),
            FluxKind::HelmRelease => ("helm.toolkit.fluxcd.io", "v2", "helmreleases"),
            FluxKind::GitRepository => ("source.toolkit.fluxcd.io", "v1", "gitrepositories"),
            FluxKind::HelmRepository => ("source.toolkit.fluxcd.io", "v1", "helmrepositories"),
            FluxKind::OCIRepository => ("source.toolkit.fluxcd.io", "v1beta2", "ocirepositories"),
        }
    }

    pub fn from_name(kind: &str) -> Option<FluxKind> {
        FluxKind::ALL.into_iter().find(|k| k.name() == kind)
    }

    /// Sources are shown as root causes, not as nodes of the tree.
    pub fn is_source(self) -> bool {
        matches!(
            self,
            FluxKind::GitRepository | FluxKind::HelmRepository | FluxKind::OCIRepository
        )
    }
}

/// An entry of `status.inventory.entries` (`<ns>_<name>_<group>_<Kind>`, WIRE-2.md H.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRef {
    pub namespace: String,
    pub name: String,
    pub group: String,
    pub kind: String,
}

impl InventoryRef {
    /// Parse an inventory id. Names and namespaces cannot hold `_` (RFC 1123), so splitting
    /// from the left is exact for them; the group may be empty.
    pub fn parse(id: &str) -> Option<InventoryRef> {
        let mut it = id.splitn(4, '_');
        let (namespace, name, group, kind) = (it.next()?, it.next()?, it.next()?, it.next()?);
        if name.is_empty() || kind.is_empty() {
            return None;
        }
        Some(InventoryRef {
            namespace: namespace.into(),
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
        })
    }
}

/// A Flux object's readiness and what it points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxObject {
    pub kind: FluxKind,
    pub namespace: String,
    pub name: String,
    /// The Ready condition (`None`: Unknown or absent, i.e. still reconciling).
    pub ready: Option<bool>,
    pub reason: String,
    pub message: String,
    pub suspended: bool,
    /// `spec.dependsOn` (namespace defaults to the object's own).
    pub depends_on: Vec<NsName>,
    /// `spec.sourceRef` (Kustomization) or `spec.chart.spec.sourceRef` / `spec.chartRef`
    /// (HelmRelease): (kind, namespace, name).
    pub source: Option<(String, String, String)>,
    /// `status.inventory.entries` (Kustomization).
    pub inventory: Vec<InventoryRef>,
    /// `status.lastAppliedRevision` / `status.artifact.revision` / `lastAttemptedRevision`.
    pub revision: String,
}

impl FluxObject {
    pub fn is_ready(&self) -> bool {
        self.ready == Some(true)
    }
}

/// A Warning Event (core/v1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarningEvent {
    pub namespace: String,
    /// The Event object's own name (its key).
    pub name: String,
    /// `involvedObject` kind and name.
    pub object_kind: String,
    pub object_name: String,
    pub reason: String,
    pub message: String,
    pub count: u32,
    /// Last seen, Unix seconds (0 when the event carries no time).
    pub last_seen: i64,
}

/// One object of a watched list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthObject {
    Node(NodeHealth),
    Pod(PodHealth),
    Workload(WorkloadHealth),
    Flux(FluxObject),
    Event(WarningEvent),
}

impl HealthObject {
    /// The kind that scopes a [`HealthChange::Replace`] (`Node`, `Pod`, `Deployment`, ...).
    pub fn kind(&self) -> &str {
        match self {
            HealthObject::Node(_) => "Node",
            HealthObject::Pod(_) => "Pod",
            HealthObject::Workload(w) => &w.kind,
            HealthObject::Flux(f) => f.kind.name(),
            HealthObject::Event(_) => "Event",
        }
    }

    pub fn list(&self) -> ListKind {
        match self {
            HealthObject::Node(_) => ListKind::Nodes,
            HealthObject::Pod(_) => ListKind::Pods,
            HealthObject::Workload(_) => ListKind::Workloads,
            HealthObject::Flux(_) => ListKind::Flux,
            HealthObject::Event(_) => ListKind::Events,
        }
    }

    /// The object's key inside its list: `kind/namespace/name`.
    pub fn key(&self) -> String {
        match self {
            HealthObject::Node(n) => n.name.clone(),
            HealthObject::Pod(p) => format!("{}/{}", p.namespace, p.name),
            HealthObject::Workload(w) => format!("{}/{}/{}", w.kind, w.namespace, w.name),
            HealthObject::Flux(f) => format!("{}/{}/{}", f.kind.name(), f.namespace, f.name),
            HealthObject::Event(e) => format!("{}/{}", e.namespace, e.name),
        }
    }
}

/// One change reported by the watches; the backend sends them in batches.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthChange {
    /// Added or modified.
    Upsert(HealthObject),
    /// Deleted: (list, key as [`HealthObject::key`]).
    Delete(ListKind, String),
    /// A watch (re-)listed: every object of `list` whose kind is `kind` is replaced by
    /// `objects` (the first list and every re-list after a watch broke, as one change).
    Replace {
        list: ListKind,
        kind: String,
        objects: Vec<HealthObject>,
    },
    /// No Flux CRDs are served: "Flux not installed" (not an error).
    FluxAbsent,
    /// Node usage from the last poll (metrics.k8s.io has no watch), by node name.
    Usage(Vec<(String, NodeUsage)>),
    /// A watch failed and is retried; the text says what and why.
    Trouble(String),
    /// The usage poll failed (no metrics-server): said, but the watches are fine.
    UsageUnavailable(String),
    /// Every watch answered its first list.
    Connected,
}
