//! The storage stage: the nodes get what Longhorn and the NFS provisioner need, the Synology's
//! export is proven writable from a node, the storage HelmReleases and StorageClasses are
//! there, Longhorn's backup target is the Synology of the cluster definition, and probes show
//! that a volume of each class keeps what is written and that a backup restores.
//!
//! Steps, in order (each journalled by the engine; each `check` observes whether its effect
//! holds, so a second run changes nothing and a killed run resumes):
//!
//! | step | what | holds when |
//! |---|---|---|
//! | `node/<vm>/prereqs` | over SSH: open-iscsi, nfs-common, iscsid enabled and active, `iscsi_tcp` + `dm_crypt` loaded and in `/etc/modules-load.d/`, the multipath blacklist ([`prereqs`]); apply, then check again | the node's facts show all of it |
//! | `nfs/export` | a test mount of `storage.nfs_server:storage.nfs_export` from the first node: write a marker, read it back, remove it, unmount ([`nfs_probe`]); evidence `nfs/<vm>` | the probe reads its marker back |
//! | `cluster/helmreleases` | HelmReleases `longhorn-system/longhorn` and `nfs-provisioner/nfs-subdir-external-provisioner` Ready; else the root cause ([`readiness`]) | both Ready |
//! | `cluster/storageclasses` | StorageClasses `longhorn` (the only default) and `nfs` exist | so |
//! | `longhorn/backup-target` | BackupTarget `longhorn-system/default` set to the cluster definition's target, then available ([`backup_target`]) | its URL is the definition's and it is available |
//! | `probe/longhorn`, `probe/nfs` | a PVC of the class binds, a pod writes a marker and reads it back; cleaned up ([`volume_probe`]); evidence `pvc/<class>` | the probe passes |
//! | `probe/restore` | snapshot and back up a written Longhorn volume, restore it to a new PVC, read the marker back; cleaned up; evidence `backup/restore` | the probe passes |
//!
//! The probes run in `check`: they leave nothing behind (everything they create is removed
//! before and after, see [`volume_probe`]), so a passing probe is an effect that holds and a
//! second run journals them as held. A failing probe fails its step with the diagnosis.
//!
//! Size: about 730 lines. The node scripts, the readings of the cluster, the backup target and
//! the probes are their own modules; what stays is the ten-odd steps' plan, check, execute and
//! verify, which share the node table and the cluster client.

pub mod backup_target;
pub mod nfs_probe;
pub mod objects;
pub mod prereqs;
pub mod readiness;
pub mod volume_probe;

use crate::backends::ssh::{ExecOutcome, RemoteCommand};
use crate::config::ClusterConfig;
use crate::stages::engine::{
    Check, Holds, Intent, Plan, Stage, StageError, StageId, StageResult, Step, StepCx,
};
use crate::stages::k3s::{K3sNode, failed_command, ssh_error};
use crate::stages::probe::{Evidence, Stopwatch, report};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;

pub const STEP_NFS: &str = "nfs/export";
pub const STEP_RELEASES: &str = "cluster/helmreleases";
pub const STEP_CLASSES: &str = "cluster/storageclasses";
pub const STEP_BACKUP_TARGET: &str = "longhorn/backup-target";
pub const STEP_PROBE_LONGHORN: &str = "probe/longhorn";
pub const STEP_PROBE_NFS: &str = "probe/nfs";
pub const STEP_PROBE_RESTORE: &str = "probe/restore";

/// The steps after the per-node ones, in order.
pub const CLUSTER_STEPS: [&str; 7] = [
    STEP_NFS,
    STEP_RELEASES,
    STEP_CLASSES,
    STEP_BACKUP_TARGET,
    STEP_PROBE_LONGHORN,
    STEP_PROBE_NFS,
    STEP_PROBE_RESTORE,
];

/// `node/<vm>/prereqs`.
pub fn prereqs_step(vm: &str) -> String {
    format!("node/{vm}/prereqs")
}

/// Where the stage reads and how long it waits.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    /// The operator's kubeconfig and the cluster's context in it (the k3s stage merged it).
    pub kubeconfig: PathBuf,
    pub context: String,
    /// How long the HelmReleases may take to become Ready, and the backup target available.
    pub ready_timeout: Duration,
    pub probe: volume_probe::Limits,
}

impl StorageOptions {
    /// `$KUBECONFIG` (first entry) or `~/.kube/config`, context = the cluster's name; 10 min
    /// for the releases, 3 min per claim, 5 min per pod, 2 min per deletion.
    pub fn from_process(cfg: &ClusterConfig) -> Self {
        let kubeconfig = std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).next())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
            .unwrap_or_else(|| PathBuf::from(".kube/config"));
        StorageOptions {
            kubeconfig,
            context: cfg.name.clone(),
            ready_timeout: Duration::from_secs(600),
            probe: volume_probe::Limits {
                bind: Duration::from_secs(180),
                run: Duration::from_secs(300),
                gone: Duration::from_secs(120),
            },
        }
    }
}

pub struct StorageStage {
    cfg: ClusterConfig,
    nodes: Vec<K3sNode>,
    opts: StorageOptions,
}

impl StorageStage {
    pub fn new(cfg: ClusterConfig, nodes: Vec<K3sNode>, opts: StorageOptions) -> Self {
        StorageStage { cfg, nodes, opts }
    }

    fn file(&self) -> String {
        format!("config/clusters/{}.yaml", self.cfg.name)
    }

    async fn client(&self) -> StageResult<kube::Client> {
        crate::stages::flux::cluster::connect(&self.opts.kubeconfig, &self.opts.context).await
    }

    fn node(&self, name: &str) -> StageResult<&K3sNode> {
        self.nodes
            .iter()
            .find(|n| n.vm.name == name)
            .ok_or_else(|| StageError::new(format!("no node `{name}` in {}", self.file())))
    }

    /// The node the NFS probe mounts from: the first VM of the definition.
    fn probe_node(&self) -> StageResult<&K3sNode> {
        self.nodes.first().ok_or_else(|| {
            StageError::new(format!("{}: no VMs", self.file()))
                .with_hint("define the cluster's VMs (vms:) first")
        })
    }

    fn export(&self) -> StageResult<(String, String)> {
        match (&self.cfg.storage.nfs_server, &self.cfg.storage.nfs_export) {
            (Some(s), Some(e)) if !s.is_empty() && e.starts_with('/') => Ok((s.clone(), e.clone())),
            _ => Err(StageError::new(format!(
                "{}: storage.nfs_server and storage.nfs_export (an absolute path) must be set",
                self.file()
            ))
            .with_hint(format!(
                "set them to the Synology's address and export in {}",
                self.file()
            ))),
        }
    }

    /// Run `cmd` on `node`; a non-zero exit is `Ok` (the caller reads it).
    async fn exec(&self, node: &K3sNode, cmd: &RemoteCommand) -> StageResult<ExecOutcome> {
        node.shell
            .run(cmd, &mut |_| {})
            .await
            .map_err(|e| ssh_error(&node.vm.name, e))
    }

    async fn facts(&self, node: &K3sNode) -> StageResult<prereqs::Facts> {
        let cmd = prereqs::check();
        let out = self.exec(node, &cmd).await?;
        if !out.success() {
            return Err(failed_command(&node.vm.name, &cmd, &out));
        }
        Ok(prereqs::Facts::parse(&out.stdout))
    }

    async fn prereqs_hold(&self, node: &K3sNode) -> StageResult<Holds> {
        let missing = self.facts(node).await?.missing();
        Ok(if missing.is_empty() {
            Holds::Yes(format!(
                "{}: {} installed, iscsid running, {} loaded and persisted, multipath blacklisted",
                node.vm.name,
                prereqs::PACKAGES.join(", "),
                prereqs::MODULES.join(", ")
            ))
        } else {
            Holds::No(format!("{}: missing {}", node.vm.name, missing.join(", ")))
        })
    }

    async fn install_prereqs(&self, node: &K3sNode, cx: &StepCx) -> StageResult<()> {
        let cmd = prereqs::apply();
        cx.log(format!("$ {}", cmd.display())).await;
        let out = self.exec(node, &cmd).await?;
        for l in out
            .stdout
            .lines()
            .chain(out.stderr.lines().map(|l| l.trim_end()))
        {
            if !l.trim().is_empty() {
                cx.log(objects::clean(l)).await;
            }
        }
        if out.exit_status == Some(prereqs::EXIT_MULTIPATH_SECTION) {
            return Err(StageError::new(format!(
                "{}: {} has a blacklist section of its own without Longhorn's {}",
                node.vm.name,
                prereqs::MULTIPATH_CONF,
                prereqs::BLACKLIST_LINE
            ))
            .with_hint(format!(
                "add the line {} inside that blacklist section on {} (then `sudo systemctl restart multipathd`), and run the stage again",
                prereqs::BLACKLIST_LINE,
                node.vm.name
            )));
        }
        if !out.success() {
            return Err(failed_command(&node.vm.name, &cmd, &out));
        }
        match self.prereqs_hold(node).await? {
            Holds::Yes(_) => Ok(()),
            Holds::No(d) | Holds::Drift(d) => Err(StageError::new(format!(
                "{d} after installing them"
            ))
            .with_hint(format!(
                "look on {}: `systemctl status iscsid`, `lsmod | grep -e iscsi_tcp -e dm_crypt` (a kernel without these modules needs linux-modules-extra)",
                node.vm.name
            ))),
        }
    }

    /// The export probe; `Ok` only when the marker came back.
    async fn nfs_probe(&self, cx: &StepCx) -> StageResult<Evidence> {
        let (server, export) = self.export()?;
        let node = self.probe_node()?;
        let target = nfs_probe::target(&server, &export);
        let marker = volume_probe::marker();
        let sw = Stopwatch::start();
        let out = self
            .exec(node, &nfs_probe::script(&target, &marker))
            .await?;
        let took = sw.elapsed();
        let probe = format!("nfs/{}", node.vm.name);
        let fix_file = self.file();
        match nfs_probe::Outcome::parse(&out) {
            nfs_probe::Outcome::ReadBack { read, removed } => {
                let ev = Evidence::new(probe, marker.clone(), read.clone(), took, read == marker);
                report(cx, &ev).await;
                if !removed {
                    cx.log(format!("{target}: the marker file could not be removed")).await;
                }
                if ev.ok {
                    Ok(ev)
                } else {
                    Err(StageError::new(format!(
                        "NFS export {target}: {} wrote {marker:?} and read back {read:?}",
                        node.vm.name
                    ))
                    .with_hint("another writer or a caching layer changes the file: check the Synology"))
                }
            }
            nfs_probe::Outcome::NotMounted { why } => Err(StageError::new(format!(
                "NFS export {target} is not reachable from {}: {why}",
                node.vm.name
            ))
            .with_hint(format!(
                "on the Synology: Control Panel > Shared Folder > NFS Permissions must allow the nodes' addresses; \
                 check storage.nfs_server and storage.nfs_export in {fix_file}"
            ))),
            nfs_probe::Outcome::NotWritable { why } => Err(StageError::new(format!(
                "NFS export {target} is not writable from {}: {why}",
                node.vm.name
            ))
            .with_hint(
                "on the Synology: the NFS rule for the nodes must be Read/Write, with Squash \
                 `Map all users to admin` (or no mapping) so that root on a node may write",
            )),
            nfs_probe::Outcome::Failed { why } => Err(StageError::new(format!(
                "NFS probe on {} failed: {why}",
                node.vm.name
            ))
            .with_hint("the probe runs as root through sudo: check sudo on the node")),
        }
    }

    async fn releases_hold(&self) -> StageResult<Holds> {
        let not = readiness::releases_not_ready(&self.client().await?).await?;
        Ok(if not.is_empty() {
            Holds::Yes("HelmReleases longhorn and nfs-subdir-external-provisioner are Ready".into())
        } else {
            Holds::No(not.join("; "))
        })
    }

    async fn wait_releases(&self, cx: &StepCx) -> StageResult<()> {
        let client = self.client().await?;
        let deadline = tokio::time::Instant::now() + self.opts.ready_timeout;
        let mut last = Vec::new();
        let mut backoff = crate::stages::poll::Backoff::new(Duration::from_secs(1));
        loop {
            let not = readiness::releases_not_ready(&client).await?;
            if not.is_empty() {
                cx.log("HelmReleases longhorn and nfs-subdir-external-provisioner are Ready")
                    .await;
                return Ok(());
            }
            if not != last {
                for l in &not {
                    cx.log(objects::clean(l)).await;
                }
                last = not.clone();
            }
            let failed = self.any_release_failed(&client).await?;
            if failed || tokio::time::Instant::now() >= deadline {
                return Err(readiness::diagnosis(&client, self.opts.ready_timeout, &not).await);
            }
            cx.sleep(backoff.next_interval()).await?;
        }
    }

    async fn any_release_failed(&self, client: &kube::Client) -> StageResult<bool> {
        for (ns, name) in readiness::RELEASES {
            if let Some(hr) = objects::get(client, objects::HELM_RELEASE, Some(ns), name).await?
                && crate::stages::flux::diagnose::state(&hr).failed
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn classes_hold(&self) -> StageResult<Holds> {
        let wrong = readiness::classes_wrong(&self.client().await?).await?;
        Ok(if wrong.is_empty() {
            Holds::Yes("StorageClasses longhorn (default) and nfs exist".into())
        } else {
            Holds::No(wrong.join("; "))
        })
    }

    async fn target_state(&self) -> StageResult<(String, backup_target::State)> {
        let url = backup_target::url(&self.cfg)?;
        let bt = objects::get(
            &self.client().await?,
            objects::BACKUP_TARGET,
            Some(backup_target::NAMESPACE),
            backup_target::NAME,
        )
        .await?;
        let st = backup_target::state(bt.as_ref(), &url);
        Ok((url, st))
    }

    async fn set_backup_target(&self, cx: &StepCx) -> StageResult<()> {
        let client = self.client().await?;
        let deadline = tokio::time::Instant::now() + self.opts.ready_timeout;
        let mut applied = false;
        let mut backoff = crate::stages::poll::Backoff::new(Duration::from_secs(1));
        loop {
            let (url, st) = self.target_state().await?;
            match st {
                backup_target::State::Available => {
                    cx.log(format!(
                        "BackupTarget longhorn-system/default: {url} is available"
                    ))
                    .await;
                    return Ok(());
                }
                backup_target::State::Elsewhere(_) | backup_target::State::Unavailable(_)
                    if !applied =>
                {
                    objects::apply(
                        &client,
                        objects::BACKUP_TARGET,
                        &backup_target::object(&url),
                    )
                    .await?;
                    cx.log(format!(
                        "BackupTarget longhorn-system/default: backupTargetURL set to {url}"
                    ))
                    .await;
                    applied = true;
                }
                backup_target::State::Unavailable(why)
                    if tokio::time::Instant::now() >= deadline =>
                {
                    return Err(backup_target::unavailable(&url, &why, &self.cfg.name));
                }
                backup_target::State::Missing | backup_target::State::Elsewhere(_)
                    if tokio::time::Instant::now() >= deadline =>
                {
                    return Err(StageError::new(
                        "BackupTarget longhorn-system/default does not exist: longhorn-manager creates it",
                    )
                    .with_hint("check the Longhorn HelmRelease (cluster/helmreleases) and `kubectl -n longhorn-system get pods`"));
                }
                _ => {}
            }
            cx.sleep(backoff.next_interval()).await?;
        }
    }

    async fn probe(&self, id: &str, cx: &StepCx) -> StageResult<Evidence> {
        let client = self.client().await?;
        let l = self.opts.probe;
        match id {
            STEP_PROBE_LONGHORN => {
                let hint = "Longhorn could not provision the volume: `kubectl -n longhorn-system get nodes.longhorn.io` \
                            (Ready, Schedulable, disks with free space), and the node prerequisites (node/*/prereqs)";
                volume_probe::with_cleanup(
                    &client,
                    cx,
                    l,
                    volume_probe::class_probe(&client, cx, "longhorn", l, hint),
                )
                .await
            }
            STEP_PROBE_NFS => {
                let (server, export) = self.export()?;
                let hint = format!(
                    "the nfs-subdir provisioner could not create the claim's directory on {server}:{export}: \
                     run the nfs/export step's probe, and `kubectl -n nfs-provisioner logs deploy/nfs-subdir-external-provisioner`"
                );
                volume_probe::with_cleanup(
                    &client,
                    cx,
                    l,
                    volume_probe::class_probe(&client, cx, "nfs", l, &hint),
                )
                .await
            }
            _ => {
                volume_probe::with_cleanup(
                    &client,
                    cx,
                    l,
                    volume_probe::restore_probe(&client, cx, l, &self.cfg.name),
                )
                .await
            }
        }
    }

    async fn holds(&self, id: &str, cx: &StepCx) -> StageResult<Holds> {
        if let Some(vm) = id
            .strip_prefix("node/")
            .and_then(|r| r.strip_suffix("/prereqs"))
        {
            return self.prereqs_hold(self.node(vm)?).await;
        }
        match id {
            STEP_NFS => Ok(Holds::Yes(self.nfs_probe(cx).await?.human())),
            STEP_RELEASES => self.releases_hold().await,
            STEP_CLASSES => self.classes_hold().await,
            STEP_BACKUP_TARGET => Ok(match self.target_state().await? {
                (url, backup_target::State::Available) => Holds::Yes(format!(
                    "BackupTarget longhorn-system/default is {url}, available"
                )),
                (url, backup_target::State::Missing) => Holds::No(format!(
                    "BackupTarget longhorn-system/default does not exist yet (to be {url})"
                )),
                (url, backup_target::State::Elsewhere(have)) => Holds::No(format!(
                    "BackupTarget longhorn-system/default is `{}`, the definition says {url}",
                    objects::clean(&have)
                )),
                (url, backup_target::State::Unavailable(why)) => Holds::No(format!(
                    "BackupTarget longhorn-system/default ({url}) is not available: {why}"
                )),
            }),
            STEP_PROBE_LONGHORN | STEP_PROBE_NFS | STEP_PROBE_RESTORE => {
                Ok(Holds::Yes(self.probe(id, cx).await?.human()))
            }
            other => Err(StageError::new(format!("storage: unknown step {other}"))),
        }
    }

    /// Every step, before the observed state decides each intent.
    pub fn steps(&self) -> Vec<Step> {
        let mut out: Vec<Step> = self
            .nodes
            .iter()
            .map(|n| {
                Step::new(
                    prereqs_step(&n.vm.name),
                    n.vm.name.clone(),
                    Intent::Create,
                    "Node prerequisites for Longhorn and NFS",
                )
                .call(format!(
                    "ssh {}: {}",
                    n.vm.name, "check packages, iscsid, modules, multipath blacklist"
                ))
                .call(format!("ssh {}: {}", n.vm.name, prereqs::apply().display()))
            })
            .collect();
        let target = self
            .export()
            .map(|(s, e)| nfs_probe::target(&s, &e))
            .unwrap_or_else(|e| e.message);
        let probe_node = self
            .nodes
            .first()
            .map_or("(no node)", |n| n.vm.name.as_str());
        let backup = backup_target::url(&self.cfg).unwrap_or_else(|e| e.message);
        out.push(
            Step::new(STEP_NFS, "nfs", Intent::Wait, "The NFS export is writable from a node")
                .call(format!("ssh {probe_node}: mount -t nfs {target} on a temporary directory, write a marker, read it back, remove it, unmount")),
        );
        out.push(
            Step::new(STEP_RELEASES, "cluster", Intent::Wait, "Longhorn and nfs-subdir HelmReleases Ready")
                .call("read HelmReleases longhorn-system/longhorn, nfs-provisioner/nfs-subdir-external-provisioner"),
        );
        out.push(
            Step::new(
                STEP_CLASSES,
                "cluster",
                Intent::Verify,
                "StorageClasses longhorn (default) and nfs",
            )
            .call("read StorageClasses"),
        );
        out.push(
            Step::new(STEP_BACKUP_TARGET, "longhorn", Intent::Create, "Longhorn's backup target is the Synology")
                .call(format!("server-side apply BackupTarget longhorn-system/default spec.backupTargetURL={backup}"))
                .call("wait for status.available"),
        );
        for class in ["longhorn", "nfs"] {
            out.push(
                Step::new(
                    format!("probe/{class}"),
                    "probe",
                    Intent::Wait,
                    format!("Probe StorageClass {class}"),
                )
                .call(format!(
                    "create PVC {}/probe-{class} (StorageClass {class}), wait Bound",
                    volume_probe::NAMESPACE
                ))
                .call(format!(
                    "pod probe-{class}: write a marker to {}, read it back, remove it",
                    volume_probe::FILE
                ))
                .call("delete the pod, the claim and its volume"),
            );
        }
        out.push(
            Step::new(STEP_PROBE_RESTORE, "probe", Intent::Wait, "Back up a volume and restore it")
                .call("PVC probe-restore-source (longhorn), a pod writes a marker")
                .call(format!("Snapshot and Backup longhorn-system/{} to {backup}", volume_probe::RESTORE))
                .call(format!("StorageClass {} (fromBackup), PVC probe-restore-target, a pod reads the marker back", volume_probe::RESTORE))
                .call("delete everything, the backup included"),
        );
        out
    }
}

#[async_trait]
impl Stage for StorageStage {
    fn id(&self) -> StageId {
        StageId::Storage
    }

    async fn plan(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Storage);
        for mut step in self.steps() {
            if step.id.starts_with("node/") {
                if let Some(node) = self
                    .nodes
                    .iter()
                    .find(|n| step.id == prereqs_step(&n.vm.name))
                {
                    match self.prereqs_hold(node).await {
                        Ok(Holds::Yes(d)) => {
                            step.intent = Intent::Verify;
                            step.note = Some(d);
                        }
                        Ok(Holds::No(d) | Holds::Drift(d)) => step.note = Some(d),
                        Err(e) => step.note = Some(format!("not known yet: {}", e.message)),
                    }
                }
            } else if step.id == STEP_BACKUP_TARGET {
                match self.target_state().await {
                    Ok((_, backup_target::State::Available)) => {
                        step.intent = Intent::Verify;
                        step.note = Some("already set and available".into());
                    }
                    Ok(_) => {}
                    Err(e) => step.note = Some(format!("not known yet: {}", e.message)),
                }
            }
            plan.steps.push(step);
        }
        plan.notes.push(format!(
            "the cluster through context {} of {}; nodes over SSH",
            self.opts.context,
            self.opts.kubeconfig.display()
        ));
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        checks.push(match self.export() {
            Ok((s, e)) => Check::pass(
                "nfs/defined",
                "NFS export defined",
                nfs_probe::target(&s, &e),
            ),
            Err(e) => Check::fail(
                "nfs/defined",
                "NFS export defined",
                e.message,
                e.hint.unwrap_or_default(),
            ),
        });
        checks.push(match backup_target::url(&self.cfg) {
            Ok(u) => Check::pass("backup/defined", "Backup target defined", u),
            Err(e) => Check::fail(
                "backup/defined",
                "Backup target defined",
                e.message,
                e.hint.unwrap_or_default(),
            ),
        });
        checks.push(
            crate::stages::flux::cluster::reachable(&self.opts.kubeconfig, &self.opts.context)
                .await,
        );
        if self.nodes.is_empty() {
            checks.push(Check::fail(
                "nodes",
                "Nodes",
                format!("{}: no VMs", self.file()),
                "define the cluster's VMs",
            ));
        }
        checks
    }

    async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
        self.holds(&step.id, cx).await
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        if let Some(vm) = step
            .id
            .strip_prefix("node/")
            .and_then(|r| r.strip_suffix("/prereqs"))
        {
            return self.install_prereqs(self.node(vm)?, cx).await;
        }
        match step.id.as_str() {
            STEP_RELEASES => self.wait_releases(cx).await,
            STEP_CLASSES => {
                let wrong = readiness::classes_wrong(&self.client().await?).await?;
                Err(StageError::new(wrong.join("; ")).with_hint(
                    "the classes come from the HelmReleases' values (persistence.defaultClass of \
                     platform/storage/longhorn/helmrelease.yaml, storageClass of \
                     platform/storage/nfs-subdir/helmrelease.yaml); another default class must lose \
                     its storageclass.kubernetes.io/is-default-class annotation",
                ))
            }
            STEP_BACKUP_TARGET => self.set_backup_target(cx).await,
            // The probes and the export probe run in `check`: they either hold or fail there.
            other => Err(StageError::new(format!(
                "storage: {other} has nothing to execute"
            ))),
        }
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let mut checks = Vec::new();
        for n in &self.nodes {
            let id = format!("prereqs/{}", n.vm.name);
            checks.push(match self.prereqs_hold(n).await {
                Ok(Holds::Yes(d)) => Check::pass(id, "Node prerequisites", d),
                Ok(Holds::No(d) | Holds::Drift(d)) => {
                    Check::fail(id, "Node prerequisites", d, "run the storage stage")
                }
                Err(e) => Check::fail(
                    id,
                    "Node prerequisites",
                    e.message,
                    e.hint.unwrap_or_default(),
                ),
            });
        }
        for (id, title, holds) in [
            (
                "helmreleases",
                "Storage HelmReleases Ready",
                self.releases_hold().await,
            ),
            (
                "storageclasses",
                "StorageClasses",
                self.classes_hold().await,
            ),
        ] {
            checks.push(match holds {
                Ok(Holds::Yes(d)) => Check::pass(id, title, d),
                Ok(Holds::No(d) | Holds::Drift(d)) => {
                    Check::fail(id, title, d, "run the storage stage")
                }
                Err(e) => Check::fail(id, title, e.message, e.hint.unwrap_or_default()),
            });
        }
        checks.push(match self.target_state().await {
            Ok((url, backup_target::State::Available)) => {
                Check::pass("backup-target", "Backup target available", url)
            }
            Ok((url, st)) => Check::fail(
                "backup-target",
                "Backup target available",
                format!("{url}: {st:?}"),
                "run the storage stage",
            ),
            Err(e) => Check::fail(
                "backup-target",
                "Backup target available",
                e.message,
                e.hint.unwrap_or_default(),
            ),
        });
        Ok(checks)
    }
}
