//! The incident view's data: one alert followed across layers (the workload and its pods, the
//! Flux object that owns it, the logs of the five minutes before it, the Proxmox VM under each
//! node). Nothing joins these in any one system; the gatherer (`backends::incident`) looks each
//! part up on its own and reports it as an [`IncidentUpdate`] as soon as that source answers, so
//! a slow or failing source never hides the others.

use super::alerts::AlertLabels;
use super::logs::LogLine;

/// How far before the alert started the logs window opens.
pub const LOGS_BEFORE_SECS: i64 = 5 * 60;

/// One part of the view: still asked, answered, not applicable, or failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Part<T> {
    Loading,
    Ready(T),
    /// Nothing to look up, and why (the alert names no workload, no node maps to a VM).
    Skipped(String),
    Failed(SourceFailure),
}

impl<T> Part<T> {
    pub fn ready(&self) -> Option<&T> {
        match self {
            Part::Ready(t) => Some(t),
            _ => None,
        }
    }
    pub fn is_loading(&self) -> bool {
        matches!(self, Part::Loading)
    }
}

/// A source that did not answer: which system, where, at which step, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    /// `Kubernetes`, `Loki`, `Proxmox VE`.
    pub source: String,
    /// The host (or URL, or kubeconfig context) it was asked at.
    pub host: String,
    /// What was being done: `get pod media/web-1`, `query_range`, `status/current of VM 201`.
    pub step: String,
    pub reason: String,
}

impl SourceFailure {
    pub fn new(
        source: impl Into<String>,
        host: impl Into<String>,
        step: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            source: source.into(),
            host: host.into(),
            step: step.into(),
            reason: reason.into(),
        }
    }
}

impl std::fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at {}: {}: {}",
            self.source, self.host, self.step, self.reason
        )
    }
}

/// What the alert asks about, read from its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertFacts {
    pub name: String,
    pub severity: String,
    pub state: String,
    pub labels: AlertLabels,
    pub summary: Option<String>,
    /// When it started (Unix seconds); `None` when neither source said.
    pub starts_at: Option<i64>,
}

/// A workload as the incident names it: `Deployment media/jellyfin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadRef {
    /// `Deployment`, `StatefulSet`, `DaemonSet`, `Job`, or `Pod` for a bare pod.
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for WorkloadRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One pod of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRow {
    pub name: String,
    /// `Running`, `Pending`, or the waiting reason (`CrashLoopBackOff`) when there is one.
    pub status: String,
    pub ready: bool,
    pub restarts: i32,
    /// The node it runs on; empty when not scheduled.
    pub node: String,
    /// The last termination reason (`Error`, `OOMKilled`), when it restarted.
    pub last_termination: Option<String>,
}

/// The workload and its pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    pub workload: WorkloadRef,
    pub pods: Vec<PodRow>,
}

/// The Flux object that owns the workload, with its Ready condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FluxOwner {
    /// `HelmRelease` or `Kustomization`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `True`, `False`, `Unknown`, or empty when the object has no Ready condition yet.
    pub ready: String,
    pub reason: String,
    pub message: String,
}

/// Where the logs came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsOrigin {
    /// Loki, with this selector.
    Loki { selector: String },
    /// The pod log API of these pods, because Loki could not answer (`why`).
    PodApi { pods: Vec<String>, why: String },
}

/// The logs of the window before the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct LogsWindow {
    /// Unix ns, inclusive.
    pub from_ns: i64,
    /// Unix ns, exclusive (the alert's start).
    pub to_ns: i64,
    pub origin: LogsOrigin,
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// More lines matched than were kept.
    pub truncated: bool,
    /// Pods whose log could not be read (pod API fallback), each with its failure.
    pub failed_pods: Vec<SourceFailure>,
}

/// What PVE says about a VM (`GET /nodes/{node}/qemu/{vmid}/status/current`).
#[derive(Debug, Clone, PartialEq)]
pub struct VmFacts {
    /// `running` or `stopped`.
    pub status: String,
    /// `running`, `paused`, `prelaunch`...
    pub qmpstatus: Option<String>,
    /// CPU use as a fraction of the VM's CPUs (0.0-1.0 per CPU count, as PVE reports it).
    pub cpu: Option<f64>,
    pub cpus: Option<f64>,
    pub mem: Option<u64>,
    pub maxmem: Option<u64>,
    pub uptime: Option<u64>,
}

/// The VM under one Kubernetes node.
#[derive(Debug, Clone, PartialEq)]
pub struct VmRow {
    /// The Kubernetes node name.
    pub node: String,
    /// The VM of the cluster definition with that name, on PVE node `pve_node` as `vmid`.
    pub vm_name: String,
    pub pve_node: String,
    pub vmid: u32,
    pub facts: Part<VmFacts>,
}

/// Everything the view shows, filled in by [`IncidentUpdate`]s.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub alert: AlertFacts,
    pub workload: Part<Workload>,
    pub flux: Part<FluxOwner>,
    pub logs: Part<LogsWindow>,
    /// One row per node the pods run on (or the node the alert names); `Loading` until the
    /// nodes are known.
    pub vms: Part<Vec<VmRow>>,
}

/// One answer of the gatherer.
#[derive(Debug, Clone, PartialEq)]
pub enum IncidentUpdate {
    Workload(Part<Workload>),
    Flux(Part<FluxOwner>),
    Logs(Part<LogsWindow>),
    /// The VMs to look up are known (each `Loading`), or the part is skipped or failed.
    Vms(Part<Vec<VmRow>>),
    /// One VM's facts.
    Vm {
        node: String,
        facts: Part<VmFacts>,
    },
    /// Every source has answered.
    Done,
}

impl Incident {
    /// A view of `alert` with every part loading.
    pub fn new(alert: AlertFacts) -> Self {
        Self {
            alert,
            workload: Part::Loading,
            flux: Part::Loading,
            logs: Part::Loading,
            vms: Part::Loading,
        }
    }

    /// Take one answer in.
    pub fn apply(&mut self, update: IncidentUpdate) {
        match update {
            IncidentUpdate::Workload(p) => self.workload = p,
            IncidentUpdate::Flux(p) => self.flux = p,
            IncidentUpdate::Logs(p) => self.logs = p,
            IncidentUpdate::Vms(p) => self.vms = p,
            IncidentUpdate::Vm { node, facts } => {
                if let Part::Ready(rows) = &mut self.vms
                    && let Some(row) = rows.iter_mut().find(|r| r.node == node)
                {
                    row.facts = facts;
                }
            }
            IncidentUpdate::Done => {}
        }
    }

    /// Whether some part is still being asked.
    pub fn loading(&self) -> bool {
        self.workload.is_loading()
            || self.flux.is_loading()
            || self.logs.is_loading()
            || match &self.vms {
                Part::Loading => true,
                Part::Ready(rows) => rows.iter().any(|r| r.facts.is_loading()),
                _ => false,
            }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> AlertFacts {
        AlertFacts {
            name: "X".into(),
            severity: "warning".into(),
            state: "firing".into(),
            labels: Default::default(),
            summary: None,
            starts_at: Some(1),
        }
    }

    #[test]
    fn a_vm_answer_fills_its_row_only_once_the_rows_are_known() {
        let mut i = Incident::new(facts());
        let up = |node: &str| IncidentUpdate::Vm {
            node: node.into(),
            facts: Part::Skipped("x".into()),
        };
        i.apply(up("a"));
        assert!(i.vms.is_loading());
        let row = |node: &str| VmRow {
            node: node.into(),
            vm_name: node.into(),
            pve_node: "pve".into(),
            vmid: 1,
            facts: Part::Loading,
        };
        i.apply(IncidentUpdate::Vms(Part::Ready(vec![row("a"), row("b")])));
        i.apply(up("b"));
        let rows = i.vms.ready().unwrap();
        assert!(rows[0].facts.is_loading());
        assert_eq!(rows[1].facts, Part::Skipped("x".into()));
        for p in [
            IncidentUpdate::Workload(Part::Skipped("s".into())),
            IncidentUpdate::Flux(Part::Skipped("s".into())),
            IncidentUpdate::Logs(Part::Skipped("s".into())),
        ] {
            assert!(i.loading());
            i.apply(p);
        }
        assert!(i.loading(), "VM a still loading");
        i.apply(up("a"));
        assert!(!i.loading());
    }
}
