//! The proxmox stage: from Proxmox VE node(s) to running Ubuntu cloud-init VMs the k3s stage can
//! SSH into, exactly as `config/clusters/<name>.yaml` describes them.
//!
//! Steps, in order (ids in brackets):
//! 1. per PVE node that hosts VMs: the Ubuntu cloud image on `proxmox.image_storage` through
//!    `download-url` with the digest resolved from the definition (a literal, or the line of the
//!    release's `SHA256SUMS`, signature checked) [`image/<node>`]; a template VM created with
//!    `scsi0=<vm_storage>:0,import-from=<image>`, a cloud-init drive, serial console, guest agent,
//!    virtio-scsi [`template/<node>/create`], converted to a template [`template/<node>/convert`].
//!    The template on `template.node` gets `template.vmid`; other nodes get `template.vmid + k`
//!    (k = 1.. in the order of `proxmox.nodes`), because a local-storage template cannot be cloned
//!    across nodes.
//! 2. per VM: full clone [`vm/<name>/clone`]; disk resize [`vm/<name>/resize`]; cloud-init user,
//!    SSH keys (PVE's double encoding), static IP/gateway/DNS, vendor snippet installing
//!    qemu-guest-agent, cores, memory, tags [`vm/<name>/config`] (after the resize, because its tag
//!    marks the VM as configured); start [`vm/<name>/start`].
//! 3. per VM: wait for the guest agent to report the configured IP and for the SSH port to answer
//!    [`vm/<name>/wait`] (all VMs boot in parallel while earlier ones are waited on).
//! 4. per VM tagged as ours but absent from the definition: reported [`orphan/<name>`]; deleted only
//!    when reconciling *and* the operator types the VM's name.
//!
//! Ownership: the template carries the tag `<tag>-template` (and clones inherit it); the config step
//! replaces it with `<tag>;k3s-<role>`. So a VM tagged `<tag>` was configured by us (differences are
//! drift, reported unless reconciling), a VM tagged only `<tag>-template` is a clone of ours not yet
//! configured (a run killed mid-stage), and a VM without either is not ours and is never touched.
//! Swap: nothing here touches swap; the image and cloud-init keep it as they have it.

mod connect;
mod desired;
mod preflight;
pub mod snippet;
mod steps;

pub use connect::{Connection, connect, connect_hosts, connect_with, credentials, credentials_for};
pub use desired::load_public_keys;
pub use steps::{percent_in, ssh_banner};

use crate::backends::image_digest::{self, Resolved};
use crate::backends::pve::Hypervisor;
use crate::backends::pve::types::VmResource;
use crate::config::{ClusterConfig, VmConfig};
use crate::stages::engine::*;
use async_trait::async_trait;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

/// Name of the vendor snippet that installs qemu-guest-agent (see docs/proxmox-stage.md).
pub const VENDOR_SNIPPET: &str = "homelab-vendor.yaml";

/// Poll intervals and deadlines.
#[derive(Debug, Clone)]
pub struct StageTiming {
    pub poll: Duration,
    /// How long a VM may take from start to guest agent IP and SSH port.
    pub boot_timeout: Duration,
    /// How long one task may run.
    pub task_timeout: Duration,
}

impl Default for StageTiming {
    fn default() -> Self {
        StageTiming {
            poll: Duration::from_millis(700),
            boot_timeout: Duration::from_secs(600),
            task_timeout: Duration::from_secs(1800),
        }
    }
}

pub struct ProxmoxStage {
    cfg: ClusterConfig,
    pve: Arc<dyn Hypervisor>,
    /// Public keys (file contents) installed by cloud-init; errors reading them.
    keys: Vec<String>,
    key_errors: Vec<String>,
    timing: StageTiming,
    /// Root shells on the PVE nodes that write the vendor snippet (`proxmox.vendor_snippet:
    /// ssh`); without them no `snippet/<node>` step is planned.
    snippet_shells: std::collections::BTreeMap<String, Arc<dyn crate::backends::ssh::RemoteShell>>,
    /// The image digest, once resolved ([`ProxmoxStage::digest`]).
    digest: tokio::sync::OnceCell<Resolved>,
}

impl ProxmoxStage {
    pub fn new(cfg: ClusterConfig, pve: Arc<dyn Hypervisor>) -> Self {
        let (keys, key_errors) = load_public_keys(&cfg);
        ProxmoxStage {
            cfg,
            pve,
            keys,
            key_errors,
            timing: StageTiming::default(),
            snippet_shells: Default::default(),
            digest: tokio::sync::OnceCell::new(),
        }
    }

    /// Write the vendor snippet through these root shells, one per PVE node.
    pub fn with_snippet_shells(
        mut self,
        shells: std::collections::BTreeMap<String, Arc<dyn crate::backends::ssh::RemoteShell>>,
    ) -> Self {
        self.snippet_shells = shells;
        self
    }

    /// Root SSH shells to every node in `proxmox.nodes` (alias `proxmox.hosts[].ssh_host`, else
    /// the node name, resolved through ~/.ssh/config), for [`Self::with_snippet_shells`].
    pub fn node_shells(
        cfg: &ClusterConfig,
        env: Arc<crate::backends::ssh::SshEnv>,
        prompter: Arc<dyn crate::backends::ssh::Prompter>,
    ) -> std::collections::BTreeMap<String, Arc<dyn crate::backends::ssh::RemoteShell>> {
        use crate::backends::ssh::{NodeShell, RemoteShell, SshTarget};
        cfg.proxmox
            .nodes
            .iter()
            .map(|node| {
                let target = SshTarget {
                    alias: cfg.proxmox.ssh_host(node),
                    user: Some("root".into()),
                    port: None,
                    identity_file: None,
                };
                let shell: Arc<dyn RemoteShell> =
                    Arc::new(NodeShell::new(env.clone(), target, prompter.clone()));
                (node.clone(), shell)
            })
            .collect()
    }

    /// Whether the stage writes the vendor snippet itself (step `snippet/<node>`).
    fn writes_snippet(&self) -> bool {
        !self.snippet_shells.is_empty()
    }

    /// Use these public keys instead of reading `ssh.public_keys`.
    pub fn with_keys(mut self, keys: Vec<String>) -> Self {
        self.keys = keys;
        self.key_errors.clear();
        self
    }

    pub fn with_timing(mut self, timing: StageTiming) -> Self {
        self.timing = timing;
        self
    }

    pub fn config(&self) -> &ClusterConfig {
        &self.cfg
    }

    fn tag(&self) -> &str {
        &self.cfg.proxmox.tag
    }

    fn template_tag(&self) -> String {
        format!("{}-template", self.tag())
    }

    /// PVE nodes that host VMs, template node first, then in the order of `proxmox.nodes`.
    pub fn vm_nodes(&self) -> Vec<String> {
        let mut nodes: Vec<String> = Vec::new();
        let used: BTreeSet<&str> = self.cfg.vms.iter().map(|v| v.node.as_str()).collect();
        if used.contains(self.cfg.template.node.as_str()) {
            nodes.push(self.cfg.template.node.clone());
        }
        for n in self
            .cfg
            .proxmox
            .nodes
            .iter()
            .chain(self.cfg.vms.iter().map(|v| &v.node))
        {
            if used.contains(n.as_str()) && !nodes.contains(n) {
                nodes.push(n.clone());
            }
        }
        nodes
    }

    /// `(vmid, name)` of the template on `node`.
    pub fn template_on(&self, node: &str) -> (u32, String) {
        let t = &self.cfg.template;
        if node == t.node {
            return (t.vmid, t.name.clone());
        }
        let others: Vec<String> = self
            .vm_nodes()
            .into_iter()
            .filter(|n| *n != t.node)
            .collect();
        let k = others.iter().position(|n| n == node).unwrap_or(0) as u32 + 1;
        (t.vmid + k, format!("{}-{node}", t.name))
    }

    /// File name on the image storage: PVE's `import` content refuses `.img`, so it becomes `.qcow2`.
    pub fn image_file(&self) -> String {
        let f = &self.cfg.template.image.file_name;
        match f.strip_suffix(".img") {
            Some(stem) => format!("{stem}.qcow2"),
            None => f.clone(),
        }
    }

    pub fn image_volid(&self) -> String {
        format!(
            "{}:import/{}",
            self.cfg.proxmox.image_storage,
            self.image_file()
        )
    }

    fn snippet_volid(&self) -> String {
        format!(
            "{}:snippets/{VENDOR_SNIPPET}",
            self.cfg.proxmox.snippets_storage
        )
    }

    /// The image digest PVE checks the download against, resolved once per stage (the checksum
    /// file is fetched, and its signature checked, on first use; a failure is retried next time).
    pub async fn digest(&self) -> StageResult<&Resolved> {
        self.digest
            .get_or_try_init(|| async {
                image_digest::resolve(&self.cfg.template.image)
                    .await
                    .map_err(|e| {
                        StageError::new(e).with_hint(
                            "see docs/proxmox-stage.md, \"The image digest\"; air-gapped, set template.image.checksum instead",
                        )
                    })
            })
            .await
    }

    fn prefix_len(&self) -> u8 {
        self.cfg
            .network
            .subnet
            .split_once('/')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(24)
    }

    fn in_subnet(&self, ip: Ipv4Addr) -> bool {
        let Some((net, p)) = self.cfg.network.subnet.split_once('/') else {
            return false;
        };
        let (Ok(net), Ok(p)) = (net.parse::<Ipv4Addr>(), p.parse::<u32>()) else {
            return false;
        };
        let mask = if p == 0 {
            0
        } else {
            u32::MAX << (32 - p.min(32))
        };
        (u32::from(net) & mask) == (u32::from(ip) & mask)
    }

    async fn snippet_present(&self, node: &str) -> bool {
        let s = &self.cfg.proxmox.snippets_storage;
        match self.pve.storage_content(node, s, "snippets").await {
            Ok(vols) => vols.iter().any(|v| v.volid == self.snippet_volid()),
            Err(_) => false,
        }
    }

    fn vm(&self, name: &str) -> StageResult<&VmConfig> {
        self.cfg
            .vms
            .iter()
            .find(|v| v.name == name)
            .ok_or_else(|| StageError::new(format!("no VM `{name}` in the definition")))
    }

    async fn resources(&self) -> StageResult<Vec<VmResource>> {
        Ok(self.pve.vm_resources().await?)
    }

    /// The row of VM `vmid` on `node`. On standalone hosts a VM is (node, vmid): VMIDs repeat
    /// across hosts. In one PVE cluster a VMID is cluster-wide, so a row on another node is
    /// returned too (and reported as being on the wrong node).
    fn locate<'a>(
        &self,
        resources: &'a [VmResource],
        node: &str,
        vmid: u32,
    ) -> Option<&'a VmResource> {
        resources
            .iter()
            .find(|r| r.vmid == vmid && r.node == node)
            .or_else(|| {
                (!self.cfg.proxmox.standalone())
                    .then(|| resources.iter().find(|r| r.vmid == vmid))?
            })
    }

    /// Find VM `vmid` of `node` (see [`Self::locate`]).
    async fn find(&self, node: &str, vmid: u32) -> StageResult<Option<VmResource>> {
        let all = self.resources().await?;
        Ok(self.locate(&all, node, vmid).cloned())
    }

    /// The API(s) the stage talks to, for messages.
    fn api_label(&self) -> String {
        let eps = self.cfg.proxmox.api_endpoints();
        let urls: Vec<&str> = eps.iter().map(|e| e.endpoint.as_str()).collect();
        urls.join(", ")
    }

    /// How a VM is named in step and check ids: `201`, or `pve-a/201` on standalone hosts.
    fn vm_key(&self, node: &str, vmid: u32) -> String {
        if self.cfg.proxmox.standalone() {
            format!("{node}/{vmid}")
        } else {
            vmid.to_string()
        }
    }

    /// Whether a VM row is ours: tagged `<tag>` or `<tag>-template`.
    fn ours(&self, r: &VmResource) -> bool {
        r.has_tag(self.tag()) || r.has_tag(&self.template_tag())
    }

    fn not_ours(&self, r: &VmResource, want: &str) -> StageError {
        StageError::new(format!(
            "VMID {} is taken by `{}` on node {} ({}), which is not tagged `{}`; homelab will not touch it",
            r.vmid,
            r.name,
            r.node,
            if r.template { "a template" } else { "a VM" },
            self.tag()
        ))
        .with_hint(format!("give {want} another vmid in the cluster file, or tag that VM `{}` if it really is ours", self.tag()))
    }

    // ------------------------------------------------------------------------------------------
    // Tasks
    // ------------------------------------------------------------------------------------------
}

#[async_trait]
impl Stage for ProxmoxStage {
    fn id(&self) -> StageId {
        StageId::Proxmox
    }

    async fn plan(&self) -> StageResult<Plan> {
        self.plan_steps().await
    }

    async fn preflight(&self) -> Vec<Check> {
        self.preflight_checks().await
    }

    async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
        self.step_holds(step, cx).await
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        self.execute_step(step, cx).await
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let resources = self.resources().await?;
        let mut out = Vec::new();
        if self.writes_snippet() {
            out.extend(self.verify_snippets().await);
        }
        for vm in &self.cfg.vms {
            let id = format!("vm/{}", vm.name);
            let title = format!("{} ({})", vm.name, vm.vmid);
            let Some(r) = self.locate(&resources, &vm.node, vm.vmid) else {
                out.push(Check::fail(
                    id,
                    title,
                    "does not exist",
                    "run the proxmox stage",
                ));
                continue;
            };
            if !r.has_tag(self.tag()) {
                out.push(Check::fail(
                    id,
                    title,
                    format!("exists as `{}` but is not tagged {}", r.name, self.tag()),
                    "run the proxmox stage",
                ));
                continue;
            }
            let (changes, notes) = self.config_diff(vm).await?;
            let (agent_ok, ssh_ok, what) = if r.status == "running" {
                self.probe_vm(vm, self.snippet_present(&vm.node).await)
                    .await
            } else {
                (false, false, "stopped".to_owned())
            };
            let detail = format!(
                "{}, {} cores, {} MiB, {}; {what}",
                r.status,
                r.maxcpu.0,
                r.maxmem >> 20,
                crate::stages::printer::bytes(r.maxdisk)
            );
            if !changes.is_empty() {
                out.push(Check::warn(id, title, format!("{detail}; drift: {}", notes.join("; ")), "review the plan; `homelab bootstrap --stage proxmox --reconcile` changes it back"));
            } else if agent_ok && ssh_ok {
                out.push(Check::pass(id, title, detail));
            } else {
                out.push(Check::fail(
                    id,
                    title,
                    detail,
                    format!("check the VM's console (`qm terminal {}`)", vm.vmid),
                ));
            }
        }
        Ok(out)
    }
}
