//! The incident gatherer: from one alert to everything under it, across systems that share no
//! key. The alert's labels name a namespace and a pod or workload ([`target`]); Kubernetes
//! gives the workload and its pods ([`workload`]); Flux's ownership labels on the workload name
//! the HelmRelease or Kustomization ([`flux`]); Loki (or the pod log API when Loki cannot answer)
//! gives the five minutes before the alert ([`logs`]); the cluster definition maps each pod's
//! node to its Proxmox VM and PVE says how that VM is ([`vm`]).
//!
//! Each part is sent as an [`IncidentUpdate`] as soon as its source answers; a source that
//! fails is reported with its host and step, and the other parts go on. The console runs
//! [`gather`] in a task and forwards the updates to the view.

pub mod flux;
pub mod logs;
pub mod target;
pub mod vm;
pub mod workload;

use crate::backends::loki::LokiClient;
use crate::backends::pve::Hypervisor;
use crate::config::VmConfig;
use crate::domain::alerts::AlertLabels;
use crate::domain::incident::{IncidentUpdate, LOGS_BEFORE_SECS, Part, SourceFailure, VmRow};
use std::sync::Arc;
use tokio::sync::mpsc;
use workload::{Found, StepError};

/// The clients the gatherer asks. A client that could not be built is the failure every part
/// needing it reports.
#[derive(Clone)]
pub struct Sources {
    pub kube: Result<kube::Client, SourceFailure>,
    /// How the Kubernetes API is named in failures (`context home at https://...`).
    pub kube_host: String,
    /// `None`: Loki is not configured (the pod log API is used).
    pub loki: Option<LokiClient>,
    pub pve: Result<Arc<dyn Hypervisor>, SourceFailure>,
    /// How the PVE API is named in failures (its endpoint).
    pub pve_host: String,
    /// The cluster definition's VMs: Kubernetes node name (or address) -> PVE node and VMID.
    pub vms: Vec<VmConfig>,
    /// The cluster definition's file, for messages.
    pub definition: String,
}

/// What to gather.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub labels: AlertLabels,
    /// When the alert started (Unix seconds); `None`: `now_s` ends the logs window.
    pub starts_at: Option<i64>,
    pub now_s: i64,
}

impl Request {
    /// The logs window, Unix ns: `[start - 5 min, start)`.
    pub fn window_ns(&self) -> (i64, i64) {
        let end_s = self.starts_at.unwrap_or(self.now_s);
        let ns = |s: i64| s.saturating_mul(1_000_000_000);
        (ns(end_s.saturating_sub(LOGS_BEFORE_SECS)), ns(end_s))
    }
}

fn kube_failure(host: &str, e: StepError) -> SourceFailure {
    SourceFailure::new("Kubernetes", host, e.step, e.reason)
}

/// Gather everything about the alert of `req`, sending each part to `tx` as it is known, then
/// [`IncidentUpdate::Done`]. Returns early when the receiver is gone (the view was closed).
pub async fn gather(req: Request, src: Sources, tx: mpsc::Sender<IncidentUpdate>) {
    let target = target::read(&req.labels);
    let found: Result<Found, Part<()>> = match (&target.namespace, &target.workload) {
        (Some(ns), Some((kind, name))) => match &src.kube {
            Ok(client) => workload::find(client, ns, *kind, name)
                .await
                .map_err(|e| Part::Failed(kube_failure(&src.kube_host, e))),
            Err(f) => Err(Part::Failed(f.clone())),
        },
        _ => Err(Part::Skipped(
            target.missing(&req.labels).unwrap_or_default(),
        )),
    };
    let first = match &found {
        Ok(f) => Part::Ready(f.workload.clone()),
        Err(Part::Failed(f)) => Part::Failed(f.clone()),
        Err(Part::Skipped(s)) => Part::Skipped(s.clone()),
        Err(_) => Part::Skipped(String::new()),
    };
    if tx.send(IncidentUpdate::Workload(first)).await.is_err() {
        return;
    }
    let found = found.ok();
    tokio::join!(
        flux_part(&src, found.as_ref(), &tx),
        logs_part(&src, &req, target.namespace.as_deref(), found.as_ref(), &tx),
        vm_part(&src, &target, found.as_ref(), &tx),
    );
    let _ = tx.send(IncidentUpdate::Done).await;
}

async fn flux_part(src: &Sources, found: Option<&Found>, tx: &mpsc::Sender<IncidentUpdate>) {
    let part = match found {
        None => Part::Skipped("no workload to follow to its Flux owner (see Pods)".into()),
        Some(f) => {
            let w = &f.workload.workload;
            match flux::owner_named(&[&f.labels, &f.pod_labels], &w.namespace) {
                None => Part::Skipped(format!(
                    "{w} carries no helm.toolkit.fluxcd.io/name or kustomize.toolkit.fluxcd.io/name label: Flux does not manage it"
                )),
                Some((kind, ns, name)) => match &src.kube {
                    Err(e) => Part::Failed(e.clone()),
                    Ok(client) => match flux::read(client, &kind, &ns, &name).await {
                        Ok(owner) => Part::Ready(owner),
                        Err(e) => Part::Failed(kube_failure(&src.kube_host, e)),
                    },
                },
            }
        }
    };
    let _ = tx.send(IncidentUpdate::Flux(part)).await;
}

async fn logs_part(
    src: &Sources,
    req: &Request,
    namespace: Option<&str>,
    found: Option<&Found>,
    tx: &mpsc::Sender<IncidentUpdate>,
) {
    let part = match namespace {
        None => Part::Skipped("the alert has no namespace label: no selector for the logs".into()),
        Some(ns) => Part::from_result(logs_window(src, req, ns, found).await),
    };
    let _ = tx.send(IncidentUpdate::Logs(part)).await;
}

impl<T> Part<T> {
    fn from_result(r: Result<T, SourceFailure>) -> Self {
        match r {
            Ok(t) => Part::Ready(t),
            Err(f) => Part::Failed(f),
        }
    }
}

async fn logs_window(
    src: &Sources,
    req: &Request,
    ns: &str,
    found: Option<&Found>,
) -> Result<crate::domain::incident::LogsWindow, SourceFailure> {
    let (from_ns, to_ns) = req.window_ns();
    let pods: Vec<String> = found
        .map(|f| f.workload.pods.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default();
    let (loki_host, why) = match &src.loki {
        Some(loki) => {
            let host = loki.endpoint().base().to_string();
            match logs::from_loki(loki, ns, &pods, from_ns, to_ns).await {
                Ok(w) => return Ok(w),
                Err(why) => (host, why),
            }
        }
        None => (
            "(not configured)".to_owned(),
            "Loki is not configured".to_owned(),
        ),
    };
    let containers: &[(String, Vec<String>)] =
        found.map(|f| f.containers.as_slice()).unwrap_or(&[]);
    let no_fallback = |reason: String| {
        SourceFailure::new(
            "Loki",
            loki_host.clone(),
            "query_range",
            format!("{why}; the pod log API cannot stand in: {reason}"),
        )
    };
    match &src.kube {
        Err(e) => Err(no_fallback(e.to_string())),
        Ok(_) if containers.is_empty() => Err(no_fallback("no pods are known".into())),
        Ok(client) => {
            Ok(
                logs::from_pod_api(client, &src.kube_host, ns, containers, from_ns, to_ns, why)
                    .await,
            )
        }
    }
}

async fn vm_part(
    src: &Sources,
    target: &target::Target,
    found: Option<&Found>,
    tx: &mpsc::Sender<IncidentUpdate>,
) {
    let mut nodes: Vec<String> = found
        .map(|f| {
            f.workload
                .pods
                .iter()
                .map(|p| p.node.clone())
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes.dedup();
    if nodes.is_empty()
        && let Some(n) = &target.node
    {
        nodes.push(n.clone());
    }
    if nodes.is_empty() {
        let why = match found {
            Some(f) if !f.workload.pods.is_empty() => "no pod is scheduled on a node yet",
            Some(_) => "the workload has no pods, so no node",
            None => "the alert names no node or instance, and no pods were found",
        };
        let _ = tx
            .send(IncidentUpdate::Vms(Part::Skipped(why.into())))
            .await;
        return;
    }
    let rows: Vec<VmRow> = nodes
        .iter()
        .map(|n| vm::row_for(n, &src.vms, &src.definition))
        .collect();
    if tx
        .send(IncidentUpdate::Vms(Part::Ready(rows.clone())))
        .await
        .is_err()
    {
        return;
    }
    let asked = rows.iter().filter(|r| r.facts.is_loading());
    let answers = asked.map(|row| async move {
        let facts = match &src.pve {
            Err(e) => Part::Failed(e.clone()),
            Ok(pve) => vm::facts(pve.as_ref(), &src.pve_host, row).await,
        };
        let _ = tx
            .send(IncidentUpdate::Vm {
                node: row.node.clone(),
                facts,
            })
            .await;
    });
    futures::future::join_all(answers).await;
}
