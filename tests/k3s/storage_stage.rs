//! The storage stage against the kube simulator, after the Flux stage synced this repository's
//! whole tree into it (so the storage HelmReleases are the tree's, and the simulated charts
//! install the StorageClasses, Longhorn's BackupTarget, volumes, snapshots, backups and
//! restores: `src/sim/kube/controllers/longhorn.rs`), and nodes simulated in process: each
//! node's shell answers the stage's scripts with the demo node's answers
//! (`src/sim/ssh_node/storage.rs`). What is real here: the stage, the kube API traffic
//! (kube-rs against the simulator's HTTPS API), the scripts' text; what is simulated: what a
//! node does with a script, and what Longhorn and the NFS provisioner do. The NFS probe against
//! a real NFS server (nfs-ganesha) is `storage_nfs_peer.rs`, which reuses this lab.
//!
//! Covered: a fresh run (evidence of every probe, nothing left behind) and a second run that
//! changes nothing; a kill at every step (and in the middle of each probe) followed by a rerun
//! that removes the leftovers and finishes with no duplicate; each injected failure diagnosed
//! by name: the NFS export not writable, the probe's PVC that does not bind, the backup target
//! unavailable.

use crate::flux_stage::{FluxLab, Setup, logs};
pub(crate) use crate::flux_stage::{evidence, failed_step, run};
use homelab::backends::ssh::{
    ExecOutcome, OutputLine, RemoteCommand, RemoteShell, SshError, Stream,
};
use homelab::sim::kube::controllers::Fault;
use homelab::sim::ssh_node::script::{NodeProfile, NodeState, Out, answer};
use homelab::stages::engine::{AutoConfirm, EventKind, Journal, RunCx, Stage};
use homelab::stages::k3s::K3sNode;
use homelab::stages::storage::{self, StorageOptions, StorageStage, volume_probe};
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) const SERVER: &str = "127.0.0.1";
pub(crate) const EXPORT: &str = "/srv/nfs/kubernetes";

/// Answers the NFS probe script (its text) in place of the simulator: a real NFS server behind
/// it (`storage_nfs_peer.rs`).
pub(crate) type NfsPeer = Arc<dyn Fn(&str) -> ExecOutcome + Send + Sync>;

/// A node whose shell is the demo node's script answers, in process; the NFS probe goes to
/// `nfs` when one is set.
struct SimShell {
    profile: NodeProfile,
    state: Mutex<NodeState>,
    nfs: Mutex<Option<NfsPeer>>,
}

#[async_trait::async_trait]
impl RemoteShell for SimShell {
    async fn run(
        &self,
        cmd: &RemoteCommand,
        on_line: &mut (dyn FnMut(OutputLine) + Send),
    ) -> Result<ExecOutcome, SshError> {
        let peer = self.nfs.lock().unwrap().clone();
        if let Some(peer) = peer.filter(|_| cmd.script.contains("mount -t nfs ")) {
            let out = peer(&cmd.script);
            for (stream, text) in [(Stream::Stdout, &out.stdout), (Stream::Stderr, &out.stderr)] {
                for l in text.lines() {
                    on_line(OutputLine {
                        stream,
                        text: l.to_string(),
                    });
                }
            }
            return Ok(out);
        }
        let a = {
            let mut st = self.state.lock().unwrap();
            answer(&self.profile, &mut st, &cmd.script, "")
        };
        let mut out = ExecOutcome {
            exit_status: Some(a.status),
            ..Default::default()
        };
        for l in a.lines {
            let text = l.text.trim_end_matches('\n').to_string();
            let stream = match l.out {
                Out::Stdout => {
                    out.stdout.push_str(&l.text);
                    Stream::Stdout
                }
                Out::Stderr => {
                    out.stderr.push_str(&l.text);
                    Stream::Stderr
                }
            };
            on_line(OutputLine { stream, text });
        }
        Ok(out)
    }

    async fn upload(
        &self,
        _reader: &mut (dyn tokio::io::AsyncRead + Unpin + Send),
        _size: u64,
        _remote_path: &str,
        _mode: u32,
        _progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<u64, SshError> {
        Err(SshError::Setup("the storage stage uploads nothing".into()))
    }
}

pub(crate) struct StorageLab {
    pub(crate) flux: FluxLab,
    shells: Vec<Arc<SimShell>>,
    pub(crate) journal: std::path::PathBuf,
}

impl StorageLab {
    /// The Flux stage run to Ready on the tree, the export served to the cluster (Longhorn's
    /// backup target) and to the nodes (writable).
    pub(crate) async fn new() -> StorageLab {
        let mut flux = FluxLab::new(Setup::default()).await;
        let (result, events) = run(&flux.stage(), &flux.journal).await;
        result.unwrap_or_else(|e| panic!("flux: {e:?}\n{:#?}", logs(&events)));
        flux.cfg.storage.nfs_server = Some(SERVER.into());
        flux.cfg.storage.nfs_export = Some(EXPORT.into());
        flux.cfg.storage.backup_target = None;
        for (i, vm) in flux.cfg.vms.iter_mut().enumerate() {
            vm.ip = format!("127.0.0.{}", 21 + i).parse().unwrap();
        }
        let export = format!("{SERVER}:{EXPORT}");
        flux.sim.serve_nfs(&export, true);
        let shells = flux
            .cfg
            .vms
            .iter()
            .map(|vm| {
                let mut state = NodeState::default();
                state.storage.exports.insert(export.clone(), true);
                // A cloud image has open-iscsi already; the rest is the stage's.
                state.storage.packages.insert("open-iscsi".into());
                Arc::new(SimShell {
                    profile: NodeProfile {
                        name: vm.name.clone(),
                        cores: vm.cores,
                        memory_mib: vm.memory_mib,
                    },
                    state: Mutex::new(state),
                    nfs: Mutex::new(None),
                })
            })
            .collect();
        let journal = flux.journal.with_file_name("storage-journal.jsonl");
        StorageLab {
            flux,
            shells,
            journal,
        }
    }

    pub(crate) fn stage(&self, ready_timeout: Duration) -> StorageStage {
        let nodes = self
            .flux
            .cfg
            .vms
            .iter()
            .zip(&self.shells)
            .map(|(vm, s)| K3sNode {
                vm: vm.clone(),
                shell: s.clone(),
            })
            .collect();
        StorageStage::new(
            self.flux.cfg.clone(),
            nodes,
            StorageOptions {
                kubeconfig: self.flux.kubeconfig.clone(),
                context: "default".into(),
                ready_timeout,
                probe: volume_probe::Limits {
                    bind: Duration::from_secs(4),
                    run: Duration::from_secs(30),
                    gone: Duration::from_secs(30),
                },
            },
        )
    }

    fn set_writable(&self, writable: bool) {
        self.serve_to_nodes(&format!("{SERVER}:{EXPORT}"), writable);
    }

    /// The simulated nodes reach `target` (`server:/export`), writable or not.
    pub(crate) fn serve_to_nodes(&self, target: &str, writable: bool) {
        for s in &self.shells {
            s.state
                .lock()
                .unwrap()
                .storage
                .exports
                .insert(target.to_string(), writable);
        }
    }

    /// The nodes' NFS probe goes to `peer` (a real server), or to the simulator with `None`.
    pub(crate) fn set_nfs_peer(&self, peer: Option<NfsPeer>) {
        for s in &self.shells {
            *s.nfs.lock().unwrap() = peer.clone();
        }
    }

    fn list(&self, api: &str, kind: &str, ns: Option<&str>) -> Vec<Value> {
        let store = self.flux.sim.store();
        let Some(rt) = store.for_kind(api, kind) else {
            return vec![];
        };
        let all = homelab::sim::kube::select::Selectors::parse(None, None).unwrap_or_default();
        store
            .list(&rt.key(), ns, &all, None, None)
            .map(|l| l.items)
            .unwrap_or_default()
    }

    /// Every probe object still in the cluster.
    fn leftovers(&self) -> Vec<String> {
        let mut out = Vec::new();
        let name = |v: &Value| v["metadata"]["name"].as_str().unwrap_or("").to_string();
        for (api, kind, ns) in [
            ("v1", "Pod", Some(volume_probe::NAMESPACE)),
            ("v1", "PersistentVolumeClaim", Some(volume_probe::NAMESPACE)),
            ("longhorn.io/v1beta2", "Backup", Some("longhorn-system")),
            ("longhorn.io/v1beta2", "Snapshot", Some("longhorn-system")),
        ] {
            for o in self.list(api, kind, ns) {
                out.push(format!("{kind} {}", name(&o)));
            }
        }
        for pv in self.list("v1", "PersistentVolume", None) {
            if pv["spec"]["claimRef"]["namespace"] == volume_probe::NAMESPACE {
                out.push(format!("PersistentVolume {}", name(&pv)));
            }
        }
        // Longhorn Volumes without a PV (the tree's own claims keep theirs).
        let pvs: Vec<String> = self
            .list("v1", "PersistentVolume", None)
            .iter()
            .map(name)
            .collect();
        for v in self.list("longhorn.io/v1beta2", "Volume", Some("longhorn-system")) {
            if !pvs.contains(&name(&v)) {
                out.push(format!("Volume {}", name(&v)));
            }
        }
        for c in self.list("storage.k8s.io/v1", "StorageClass", None) {
            if name(&c) == volume_probe::RESTORE {
                out.push(format!("StorageClass {}", name(&c)));
            }
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_run_installs_probes_and_backs_up_then_a_second_run_changes_nothing() {
    let lab = StorageLab::new().await;
    let stage = lab.stage(Duration::from_secs(60));
    let pre = stage.preflight().await;
    assert!(homelab::stages::engine::preflight_ok(&pre), "{pre:#?}");
    let plan = stage.plan().await.unwrap();
    // Three nodes' prerequisites and the backup target.
    assert_eq!(plan.writes(), 4, "{plan:#?}");
    let (result, events) = run(&stage, &lab.journal).await;
    let summary = result.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert_eq!(summary.changed, 4, "{summary:?}");

    // Every node got its prerequisites.
    for s in &lab.shells {
        let st = s.state.lock().unwrap();
        assert!(st.storage.packages.contains("nfs-common"));
        assert_eq!(st.storage.services.get("iscsid"), Some(&(true, true)));
        assert!(st.storage.modules.contains("dm_crypt"));
        assert_eq!(
            st.files
                .get(storage::prereqs::MODULES_FILE)
                .map(String::as_str),
            Some("iscsi_tcp\ndm_crypt\n")
        );
        assert!(
            st.files[storage::prereqs::MULTIPATH_CONF].contains(storage::prereqs::BLACKLIST_LINE)
        );
    }
    // One piece of evidence per probe, each read back what it wrote.
    let ev = evidence(&events);
    let probes: Vec<&str> = ev.iter().map(|e| e.probe.as_str()).collect();
    assert_eq!(
        probes,
        [
            "nfs/k3s-server-1",
            "pvc/longhorn",
            "pvc/nfs",
            "backup/restore"
        ],
        "{ev:#?}"
    );
    for e in &ev {
        assert!(
            e.ok && e.wrote.starts_with("homelab-") && e.wrote == e.read,
            "{e:?}"
        );
    }
    // The backup target is the definition's, and available.
    let bt = lab.list(
        "longhorn.io/v1beta2",
        "BackupTarget",
        Some("longhorn-system"),
    );
    assert_eq!(
        bt[0]["spec"]["backupTargetURL"],
        format!("nfs://{SERVER}:{EXPORT}")
    );
    assert_eq!(bt[0]["status"]["available"], true);
    assert_eq!(lab.leftovers(), Vec::<String>::new());
    let verify = stage.verify().await.unwrap();
    assert!(
        verify
            .iter()
            .all(|c| c.status == homelab::stages::engine::CheckStatus::Pass),
        "{verify:#?}"
    );

    // Again: nothing to write, the probes pass again, nothing left behind.
    let plan = stage.plan().await.unwrap();
    assert_eq!(plan.writes(), 0, "{plan:#?}");
    let (again, events) = run(&stage, &lab.journal).await;
    let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert_eq!(again.changed, 0, "{again:?}");
    assert_eq!(evidence(&events).len(), 4);
    assert_eq!(lab.leftovers(), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_step_and_inside_each_probe_a_rerun_cleans_up_and_finishes() {
    let lab = StorageLab::new().await;
    let stage = Arc::new(lab.stage(Duration::from_secs(60)));
    let steps: Vec<String> = stage.steps().iter().map(|s| s.id.clone()).collect();
    // (step, the log line of that step after which the run is killed; "" = as it starts)
    let mut kills: Vec<(String, &str)> = steps.iter().map(|s| (s.clone(), "")).collect();
    for p in [
        storage::STEP_PROBE_LONGHORN,
        storage::STEP_PROBE_NFS,
        storage::STEP_PROBE_RESTORE,
    ] {
        kills.push((p.to_string(), "bound to"));
    }
    kills.push((storage::STEP_PROBE_RESTORE.to_string(), "backed up to"));
    for (step, after) in kills {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let cx = RunCx::new(tx, Journal::at(lab.journal.clone()).unwrap())
            .with_confirm(Arc::new(AutoConfirm(true)));
        let plan = stage.plan().await.unwrap();
        let s2 = stage.clone();
        let task = tokio::spawn(async move { s2.apply(&plan, &cx).await });
        let mut reached = false;
        let mut started = false;
        while let Some(ev) = rx.recv().await {
            match &ev.kind {
                EventKind::StepStarted { step: s, .. } if *s == step => {
                    started = true;
                    if after.is_empty() {
                        reached = true;
                        break;
                    }
                }
                EventKind::Log {
                    step: Some(s),
                    line,
                } if *s == step && started && line.contains(after) => {
                    reached = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(reached, "killed at {step} after {after:?}");
        task.abort();
        let _ = task.await;

        let (result, events) = run(&*stage, &lab.journal).await;
        result
            .unwrap_or_else(|e| panic!("killed at {step} ({after}): {e:?}\n{:#?}", logs(&events)));
        assert_eq!(
            lab.leftovers(),
            Vec::<String>::new(),
            "killed at {step} ({after})"
        );
        let (again, events) = run(&*stage, &lab.journal).await;
        let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
        assert_eq!(again.changed, 0, "killed at {step}: {again:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_injected_failure_is_diagnosed_by_name() {
    let lab = StorageLab::new().await;

    // The export is read-only for the nodes.
    lab.set_writable(false);
    let stage = lab.stage(Duration::from_secs(3));
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("a read-only export fails");
    let (step, _) = failed_step(&events).unwrap();
    assert_eq!(step, storage::STEP_NFS);
    assert!(
        err.message.contains(&format!(
            "NFS export {SERVER}:{EXPORT} is not writable from k3s-server-1"
        )) && err.message.contains("Read-only file system"),
        "{err:?}"
    );
    assert!(
        err.hint.as_deref().unwrap().contains("Read/Write"),
        "{err:?}"
    );
    lab.set_writable(true);

    // The longhorn probe's claim never binds: named, with the provisioner's event; cleaned up.
    lab.flux.sim.inject(Fault::PvcPending {
        namespace: volume_probe::NAMESPACE.into(),
        name: "probe-longhorn".into(),
    });
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("an unbound claim fails");
    let (step, _) = failed_step(&events).unwrap();
    assert_eq!(step, storage::STEP_PROBE_LONGHORN);
    assert!(
        err.message.contains("PersistentVolumeClaim homelab-probe/probe-longhorn (StorageClass longhorn) did not bind")
            && err.message.contains("ProvisioningFailed"),
        "{err:?}"
    );
    assert!(
        err.hint.as_deref().unwrap().contains("nodes.longhorn.io"),
        "{err:?}"
    );
    assert_eq!(lab.leftovers(), Vec::<String>::new());

    // The backup target cannot reach its store.
    lab.flux.sim.inject(Fault::BackupTargetUnavailable);
    // longhorn-manager notices on its next poll.
    for _ in 0..100 {
        let bt = lab.list(
            "longhorn.io/v1beta2",
            "BackupTarget",
            Some("longhorn-system"),
        );
        if bt[0]["status"]["available"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("an unavailable target fails");
    let (step, _) = failed_step(&events).unwrap();
    assert_eq!(step, storage::STEP_BACKUP_TARGET);
    assert!(
        err.message.contains("BackupTarget longhorn-system/default (nfs://127.0.0.1:/srv/nfs/kubernetes) is not available")
            && err.message.contains("Connection timed out"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap()
            .contains("storage.backup_target"),
        "{err:?}"
    );
}
