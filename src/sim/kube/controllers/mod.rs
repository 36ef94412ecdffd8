//! The controller loop inside the simulator: one tokio task subscribed to the store that moves
//! objects through the states their real controllers report. Level-triggered: every store event
//! (and every due deadline) runs one pass over the current objects; each pass makes at most one
//! step per object and writes only what changed, so passes settle.
//!
//! Files: `workloads` (Deployment -> ReplicaSet -> Pods, StatefulSet, DaemonSet and their
//! status), `kubelet` (scheduling, Pending -> Running and Ready, injected crash loops),
//! `provision` (PVC binding, Gateways, Certificates), `longhorn` (what the storage charts
//! run: StorageClasses, BackupTarget, volumes, backups, restores, probe pods), `routing` (Envoy Services, HTTPRoute
//! status, EndpointSlices, Certificate Secrets), `events` (core/v1 Events as the
//! scheduler and kubelet word them).

pub(crate) mod events;
mod kubelet;
pub(crate) mod longhorn;
mod provision;
mod routing;
mod workloads;

use super::errors::ApiError;
use super::resources::TypeKey;
use super::select::Selectors;
use super::store::Store;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// How long each transition takes. `scaled` divides them for `--speed`; zero makes every
/// transition happen in the pass after the one that made it due (tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// Scheduled -> containers Running and Ready (image pull and start).
    pub start: Duration,
    /// First back-off of a crash-looping container (doubles per restart, capped at 5 min).
    pub crash_backoff: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            start: Duration::from_secs(3),
            crash_backoff: Duration::from_secs(10),
        }
    }
}

impl Timing {
    /// Every delay divided by `speed` (a speed of 0 or less is taken as 1).
    pub fn scaled(self, speed: f64) -> Timing {
        let f = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        Timing {
            start: self.start.div_f64(f),
            crash_backoff: self.crash_backoff.div_f64(f),
        }
    }

    /// A timing for tests: containers start at once, crash loops restart every `backoff`.
    pub fn instant(backoff: Duration) -> Timing {
        Timing {
            start: Duration::ZERO,
            crash_backoff: backoff,
        }
    }
}

/// Failures the controllers inject on request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Pods of the workload `name` in `namespace` (the pod itself, or pods named `name-...`)
    /// crash: CrashLoopBackOff, restartCount growing, lastState.terminated reason Error.
    CrashLoop { namespace: String, name: String },
    /// The PersistentVolumeClaim `name` in `namespace` never binds: Pending, with a
    /// `ProvisioningFailed` warning from its StorageClass's provisioner.
    PvcPending { namespace: String, name: String },
    /// The GitRepository `name` cannot authenticate: Ready=False `GitOperationFailed` with the
    /// SSH handshake error source-controller reports (`flux/source.rs`).
    GitAuth { namespace: String, name: String },
    /// The Kustomization `name` fails to decrypt its SOPS files, as if its `sops-age` Secret
    /// held a key none of them is encrypted for (`flux/sops.rs`).
    SopsDecryption { namespace: String, name: String },
    /// The HelmRelease `name` fails its install: its workload's pods crash-loop and Helm's
    /// wait gives up (`InstallFailed`, `flux/helm.rs`).
    HelmInstall { namespace: String, name: String },
    /// The Gateway `name` gets no address: `Programmed=False AddressNotAssigned`, as Envoy
    /// Gateway reports it when nothing gives its Envoy Service an address (`provision.rs`).
    GatewayUnprogrammed { namespace: String, name: String },
    /// The HTTPRoute `name` in `namespace` is refused by every Gateway it names:
    /// `Accepted=False NotAllowedByListeners`, as Envoy Gateway words it (`routing.rs`).
    RouteNotAccepted { namespace: String, name: String },
    /// The Certificate `name` fails to renew: its certificate ends in `days` days, `Ready`
    /// stays True and `Issuing` is False (`routing.rs`).
    CertificateExpiring {
        namespace: String,
        name: String,
        days: u32,
    },
    /// Longhorn's `BackupTarget` cannot reach its store: `available: false`,
    /// `Unavailable=True` (`longhorn.rs`).
    BackupTargetUnavailable,
}

impl Fault {
    fn hits_pod(&self, ns: &str, pod: &str) -> bool {
        match self {
            Fault::CrashLoop { namespace, name } | Fault::HelmInstall { namespace, name } => {
                ns == namespace
                    && (pod == name
                        || pod
                            .strip_prefix(name.as_str())
                            .is_some_and(|r| r.starts_with('-')))
            }
            Fault::PvcPending { .. }
            | Fault::GitAuth { .. }
            | Fault::SopsDecryption { .. }
            | Fault::GatewayUnprogrammed { .. }
            | Fault::RouteNotAccepted { .. }
            | Fault::CertificateExpiring { .. }
            | Fault::BackupTargetUnavailable => false,
        }
    }
}

/// What the loop keeps between passes: due times, injected faults, IP counters.
#[derive(Default)]
pub(crate) struct Memory {
    /// (namespace, pod name, uid) -> when its next kubelet step is due.
    due: BTreeMap<(String, String, String), Instant>,
    next_ip: u32,
    flux: super::flux::Memory,
    longhorn: longhorn::Memory,
}

/// The handle the simulator keeps: faults can be injected while the loop runs.
#[derive(Clone, Default)]
pub struct Controllers {
    faults: Arc<Mutex<Vec<Fault>>>,
    /// Wakes the loop when a fault is injected.
    wake: Arc<tokio::sync::Notify>,
    /// Git repositories the Flux source-controller may fetch: URL -> local path.
    git: Arc<Mutex<BTreeMap<String, PathBuf>>>,
    /// NFS exports the cluster reaches (`server:/path` -> writable): Longhorn's backup target.
    nfs: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Controllers {
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut f) = self.faults.lock() {
            f.push(fault);
        }
        self.wake.notify_one();
    }

    /// Serve the local repository at `path` to GitRepositories whose `spec.url` is `url`
    /// (the simulator never reaches the network).
    pub fn serve_git(&self, url: &str, path: &Path) {
        if let Ok(mut g) = self.git.lock() {
            g.insert(url.to_string(), path.to_path_buf());
        }
        self.wake.notify_one();
    }

    /// Let the cluster reach the NFS export `server:/path` (`longhorn.rs`).
    pub fn serve_nfs(&self, export: &str, writable: bool) {
        if let Ok(mut n) = self.nfs.lock() {
            n.insert(export.to_string(), writable);
        }
        self.wake.notify_one();
    }

    fn git(&self) -> BTreeMap<String, PathBuf> {
        self.git.lock().map(|g| g.clone()).unwrap_or_default()
    }

    fn faults(&self) -> Vec<Fault> {
        self.faults.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// Start the loop on `store`; it ends when `stop` fires or the store's sender is gone.
    pub fn spawn(
        &self,
        store: Arc<Store>,
        timing: Timing,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let me = self.clone();
        let mut rx = store.subscribe();
        tokio::spawn(async move {
            let mut mem = Memory::default();
            loop {
                mem.longhorn.exports = me.nfs.lock().map(|n| n.clone()).unwrap_or_default();
                let next = Pass::run(&store, &timing, &me.faults(), &me.git(), &mut mem);
                let wake = async {
                    match next {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = wake => {}
                    _ = me.wake.notified() => {}
                    ev = rx.recv() => match ev {
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            // Take whatever else is queued: one pass serves them all.
                            while rx.try_recv().is_ok() {}
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        });
    }
}

/// One pass: the workload controllers, then the scheduler and kubelet.
pub(crate) struct Pass<'a> {
    pub(crate) store: &'a Store,
    timing: &'a Timing,
    pub(crate) faults: &'a [Fault],
    /// Git repositories served to the Flux source-controller (URL -> local path).
    pub(crate) git: &'a BTreeMap<String, PathBuf>,
    pub(crate) now: Instant,
    /// The earliest deadline still ahead.
    next: Option<Instant>,
}

impl<'a> Pass<'a> {
    fn run(
        store: &Store,
        timing: &Timing,
        faults: &[Fault],
        git: &BTreeMap<String, PathBuf>,
        mem: &mut Memory,
    ) -> Option<Instant> {
        let mut p = Pass {
            store,
            timing,
            faults,
            git,
            now: Instant::now(),
            next: None,
        };
        workloads::reconcile(&mut p);
        kubelet::reconcile(&mut p, mem);
        provision::reconcile(&mut p);
        routing::reconcile(&mut p);
        super::flux::reconcile(&mut p, &mut mem.flux);
        longhorn::reconcile(&mut p, &mut mem.longhorn);
        p.next
    }

    pub(crate) fn wake_at(&mut self, at: Instant) {
        self.next = Some(self.next.map_or(at, |n| n.min(at)));
    }

    /// The objects of a type, shared with the store (a pass reads many and changes few: the
    /// ones it changes it copies).
    pub(crate) fn list(&self, key: &TypeKey, ns: Option<&str>) -> Vec<Arc<Value>> {
        let all = Selectors::parse(None, None).unwrap_or_default();
        self.store
            .list_shared(key, ns, &all, None, None)
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// Write `new` when it differs from `old` (None: create).
    /// An update (`old` Some) of an object deleted since this pass listed it is dropped: a
    /// controller's status write never brings a deleted object back.
    pub(crate) fn save(&self, key: &TypeKey, old: Option<&Value>, new: Value, manager: &str) {
        if old == Some(&new) {
            return;
        }
        if let Some(o) = old {
            let uid = |v: &Value| v.pointer("/metadata/uid").cloned();
            let ns = meta(o, "namespace");
            match self.store.get(key, ns, meta(o, "name")) {
                Ok(now) if uid(&now) == uid(o) => {}
                _ => return,
            }
        }
        if let Err(e) = self.store.put(key, new, manager) {
            log_err(manager, &e);
        }
    }
}

fn log_err(who: &str, e: &ApiError) {
    tracing::debug!("sim kube {who}: {}", e.message);
}

pub(crate) fn key(group: &str, plural: &str) -> TypeKey {
    (group.to_string(), plural.to_string())
}

pub(crate) fn meta<'v>(o: &'v Value, f: &str) -> &'v str {
    o.pointer(&format!("/metadata/{f}"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}
