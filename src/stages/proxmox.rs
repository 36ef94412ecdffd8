//! The proxmox stage: from Proxmox VE node(s) to running Ubuntu cloud-init VMs the k3s stage can
//! SSH into, exactly as `config/clusters/<name>.yaml` describes them.
//!
//! Steps, in order (ids in brackets):
//! 1. per PVE node that hosts VMs: the Ubuntu cloud image on `proxmox.image_storage` through
//!    `download-url` with its checksum [`image/<node>`]; a template VM created with
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

use crate::backends::pve::types::{self, Permissions, VmResource, guest_ipv4s, has_privilege};
use crate::backends::pve::{DownloadSpec, Hypervisor, PveError, TemplateSpec, Upid};
use crate::config::{ClusterConfig, VmConfig};
use crate::stages::engine::*;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How to reach the PVE API of a cluster definition.
pub enum Connection {
    Ready(crate::backends::pve::PveClient),
    /// No fingerprint pinned yet: probe `host:port`, show it, store it, connect again with it.
    NeedsTrust {
        host: String,
        port: u16,
    },
}

/// The cluster's encrypted env file: `config/env/<cluster>.env` under `repo`.
pub fn env_file(repo: &Path, cluster: &str) -> PathBuf {
    repo.join("config")
        .join("env")
        .join(format!("{cluster}.env"))
}

/// The PVE credentials for `cfg`: the API token secret (`PROXMOX_TOKEN_SECRET`, for token
/// `proxmox.token_id`) or a password (`PROXMOX_PASSWORD`, ticket login as the token's user).
///
/// `env` (the process environment in [`connect`]) is an explicit override; otherwise the value
/// comes from the SOPS-encrypted `env_file`, opened with `identities()` (called only then; sops'
/// discovery in [`connect`]). Errors name the file and the missing key, or the file's
/// recipients when no identity opens it. Decrypting is file I/O and crypto: call this off the
/// UI task (the wizard builds stages inside their tasks).
pub fn credentials(
    cfg: &ClusterConfig,
    env_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    identities: &dyn Fn() -> crate::secrets::Identities,
) -> Result<crate::backends::pve::Auth, String> {
    use crate::backends::pve::Auth;
    use crate::secrets::tree::{Node, PathStep, Scalar};
    use zeroize::Zeroizing;
    let p = &cfg.proxmox;
    let user = || {
        p.token_id
            .split('!')
            .next()
            .unwrap_or(&p.token_id)
            .to_owned()
    };
    let token = |secret: Zeroizing<String>| Auth::Token {
        id: p.token_id.clone(),
        secret,
    };
    let password = |password: Zeroizing<String>| Auth::Password {
        user: user(),
        password,
    };
    let env = |k: &str| env(k).filter(|s| !s.is_empty()).map(Zeroizing::new);
    if let Some(secret) = env("PROXMOX_TOKEN_SECRET") {
        return Ok(token(secret));
    }
    if let Some(pw) = env("PROXMOX_PASSWORD") {
        return Ok(password(pw));
    }
    let Some(file) = env_file else {
        return Err(format!(
            "no PVE credentials: set PROXMOX_TOKEN_SECRET (the secret of token {}) or PROXMOX_PASSWORD",
            p.token_id
        ));
    };
    if !file.exists() {
        return Err(format!(
            "no PVE credentials: {} does not exist (the secrets stage creates it) and neither PROXMOX_TOKEN_SECRET nor PROXMOX_PASSWORD is set in the environment",
            file.display()
        ));
    }
    let opened = crate::secrets::EncryptedFile::load(file)
        .and_then(|f| f.open(&identities()))
        .map_err(|e| format!("PVE credentials: {e}"))?;
    opened
        .require_mac()
        .map_err(|e| format!("PVE credentials: {e}"))?;
    let get = |k: &str| match opened.get(&[PathStep::Key(k.to_owned())]) {
        Some(Node::Scalar(Scalar::Str(v))) if !v.is_empty() => Some(Zeroizing::new(v.clone())),
        _ => None,
    };
    if let Some(secret) = get("PROXMOX_TOKEN_SECRET") {
        return Ok(token(secret));
    }
    if let Some(pw) = get("PROXMOX_PASSWORD") {
        return Ok(password(pw));
    }
    Err(format!(
        "{}: no PROXMOX_TOKEN_SECRET (the secret of token {}) or PROXMOX_PASSWORD; add it with `homelab env set {} PROXMOX_TOKEN_SECRET -`, or set it in the environment",
        file.display(),
        p.token_id,
        file.display()
    ))
}

/// Connect as the definition says, with [`credentials`] from the process environment (override)
/// or the encrypted `env_file` (opened with the identities sops would use). `pin` is a
/// fingerprint trusted after the file was loaded.
pub fn connect(
    cfg: &ClusterConfig,
    env_file: Option<&Path>,
    pin: Option<&str>,
) -> Result<Connection, String> {
    let auth = credentials(
        cfg,
        env_file,
        &|k| std::env::var(k).ok(),
        &crate::secrets::Identities::discover,
    )?;
    connect_with(cfg, auth, pin)
}

/// Connect with `auth` already resolved.
pub fn connect_with(
    cfg: &ClusterConfig,
    auth: crate::backends::pve::Auth,
    pin: Option<&str>,
) -> Result<Connection, String> {
    use crate::backends::pve::{PveClient, PveSettings, Trust};
    let p = &cfg.proxmox;
    let trust = match (p.tls.verify_ca, pin.or(p.tls.fingerprint.as_deref())) {
        (true, _) => Trust::CaVerified,
        (false, Some(fp)) => Trust::Pinned(fp.to_owned()),
        (false, None) if p.endpoint.starts_with("http://") => Trust::CaVerified,
        (false, None) => {
            let url = url::Url::parse(&p.endpoint)
                .map_err(|e| format!("proxmox.endpoint `{}`: {e}", p.endpoint))?;
            let host = url
                .host_str()
                .ok_or("proxmox.endpoint has no host")?
                .trim_matches(['[', ']'])
                .to_owned();
            return Ok(Connection::NeedsTrust {
                host,
                port: url.port().unwrap_or(8006),
            });
        }
    };
    PveClient::new(PveSettings::new(p.endpoint.clone(), auth, trust))
        .map(Connection::Ready)
        .map_err(|e| e.to_string())
}

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
}

/// Read `ssh.public_keys` (`~` expanded). Returns the keys and one message per unreadable file.
pub fn load_public_keys(cfg: &ClusterConfig) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for path in &cfg.ssh.public_keys {
        let expanded = expand_home(path);
        match std::fs::read_to_string(&expanded) {
            Ok(text) => {
                let found: Vec<String> = text
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with('#'))
                    .map(str::to_owned)
                    .collect();
                if found.is_empty() {
                    errors.push(format!("ssh.public_keys: {path} holds no key"));
                }
                keys.extend(found);
            }
            Err(e) => errors.push(format!(
                "ssh.public_keys: cannot read {path} ({}): {e}",
                expanded.display()
            )),
        }
    }
    (keys, errors)
}

fn expand_home(path: &str) -> std::path::PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(std::path::PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => std::path::PathBuf::from(path),
    }
}

/// What we want a VM's config to hold.
struct Desired {
    params: Vec<(String, String)>,
}

/// Compare one config key; `None` when equal.
fn differs(key: &str, want: &str, have: Option<&str>) -> Option<String> {
    let have_s = have.unwrap_or("");
    let equal = match key {
        "sshkeys" => types::decode_sshkeys(have_s).trim() == types::decode_sshkeys(want).trim(),
        "tags" => {
            let a: BTreeSet<&str> = types::split_tags(want).collect();
            let b: BTreeSet<&str> = types::split_tags(have_s).collect();
            a == b
        }
        "agent" => have_s.contains('1') == want.contains('1'),
        "nameserver" => {
            let a: Vec<&str> = want.split_whitespace().collect();
            let b: Vec<&str> = have_s.split_whitespace().collect();
            a == b
        }
        _ => have_s == want,
    };
    if equal {
        return None;
    }
    let shown = |v: &str| {
        if key == "sshkeys" {
            format!("{} key(s)", types::decode_sshkeys(v).lines().count())
        } else {
            v.to_owned()
        }
    };
    Some(match have {
        Some(h) => format!("{key}: {} (definition: {})", shown(h), shown(want)),
        None => format!("{key}: unset (definition: {})", shown(want)),
    })
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
        }
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

    fn checksum(&self) -> Result<(String, String), String> {
        let c = &self.cfg.template.image.checksum;
        let (algo, hex) = c
            .split_once(':')
            .ok_or_else(|| format!("template.image.checksum `{c}` must look like sha256:<hex>"))?;
        let len = match algo {
            "sha256" => 64,
            "sha512" => 128,
            "sha384" => 96,
            "sha224" => 56,
            "sha1" => 40,
            "md5" => 32,
            _ => {
                return Err(format!(
                    "template.image.checksum: unknown algorithm `{algo}` (sha256, sha512, ...)"
                ));
            }
        };
        if hex.len() != len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "template.image.checksum: a {algo} is {len} hex digits, got `{hex}`"
            ));
        }
        Ok((algo.to_owned(), hex.to_lowercase()))
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

    fn desired(&self, vm: &VmConfig, snippet: bool) -> Desired {
        let p = |k: &str, v: String| (k.to_owned(), v);
        let mut params = vec![
            p("cores", vm.cores.to_string()),
            p("memory", vm.memory_mib.to_string()),
            p(
                "ciuser",
                vm.ssh_user
                    .clone()
                    .unwrap_or_else(|| self.cfg.ssh.user.clone()),
            ),
            p("sshkeys", types::encode_sshkeys(&self.keys)),
            p(
                "ipconfig0",
                format!(
                    "ip={}/{},gw={}",
                    vm.ip,
                    self.prefix_len(),
                    self.cfg.network.gateway
                ),
            ),
            p(
                "nameserver",
                self.cfg
                    .network
                    .dns
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            p("agent", "enabled=1".into()),
            p("onboot", "1".into()),
            p("tags", format!("{};k3s-{}", self.tag(), vm.role.as_str())),
        ];
        if let Some(sd) = &self.cfg.network.search_domain {
            params.push(p("searchdomain", sd.clone()));
        }
        if snippet {
            params.push(p("cicustom", format!("vendor={}", self.snippet_volid())));
        }
        Desired { params }
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

    /// Find a VMID in the cluster.
    async fn find(&self, vmid: u32) -> StageResult<Option<VmResource>> {
        Ok(self.resources().await?.into_iter().find(|r| r.vmid == vmid))
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

    /// Poll a task to its end, streaming its log into the step log and percentages into progress.
    async fn wait_task(&self, cx: &StepCx, upid: &Upid) -> StageResult<()> {
        let started = Instant::now();
        let mut next_line = 0u64;
        let mut last_pct = None;
        loop {
            let status = self.pve.task_status(upid).await?;
            if let Ok(lines) = self.pve.task_log(upid, next_line).await {
                for (_, text) in &lines {
                    if let Some(pct) = percent_in(text)
                        && Some(pct) != last_pct
                    {
                        last_pct = Some(pct);
                        cx.progress(pct, Some(100), Unit::Percent).await;
                    }
                    cx.log(text.clone()).await;
                }
                next_line += lines.len() as u64;
            }
            if !status.running {
                return match status.exitstatus.as_deref() {
                    Some("OK") => Ok(()),
                    Some(s) if s.starts_with("WARNINGS") => {
                        cx.log(format!("task ended with {s}")).await;
                        Ok(())
                    }
                    other => Err(PveError::new(
                        format!("task {} on {}", upid.kind, upid.node),
                        crate::backends::pve::PveErrorKind::Task {
                            upid: upid.raw.clone(),
                            exitstatus: other.unwrap_or("unknown").to_owned(),
                        },
                    )
                    .into()),
                };
            }
            if started.elapsed() > self.timing.task_timeout {
                return Err(StageError::new(format!(
                    "task {upid} still running after {:?}",
                    self.timing.task_timeout
                ))
                .with_hint(
                    "look at the task in the PVE web UI (Tasks) and retry when it has finished",
                ));
            }
            cx.sleep(self.timing.poll).await?;
        }
    }

    /// Start-and-wait, journalling the UPID first so a killed run can find the task again.
    async fn run_task(&self, cx: &StepCx, upid: Upid) -> StageResult<()> {
        cx.note("upid", &upid.raw)?;
        cx.log(format!("task {upid}")).await;
        self.wait_task(cx, &upid).await
    }

    /// A VM locked by a task we started in an earlier (killed) run: wait for that task.
    async fn wait_unlocked(&self, cx: &StepCx, vmid: u32) -> StageResult<()> {
        if let Some(upid) = cx
            .notes(cx.step_id())
            .get("upid")
            .and_then(|u| Upid::parse(u).ok())
        {
            cx.log(format!(
                "resuming: waiting for task {upid} started by an earlier run"
            ))
            .await;
            let _ = self.wait_task(cx, &upid).await;
        }
        let deadline = Instant::now() + self.timing.task_timeout;
        while let Some(r) = self.find(vmid).await? {
            match r.lock {
                Some(l) if Instant::now() < deadline => {
                    cx.log(format!("VM {vmid} is locked ({l}); waiting")).await;
                    cx.sleep(self.timing.poll).await?;
                }
                Some(l) => return Err(StageError::new(format!("VM {vmid} stays locked ({l})"))),
                None => break,
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------------------------------
    // Per-step checks and actions
    // ------------------------------------------------------------------------------------------

    async fn check_image(&self, node: &str) -> StageResult<Holds> {
        let vols = self
            .pve
            .storage_content(node, &self.cfg.proxmox.image_storage, "import")
            .await?;
        let volid = self.image_volid();
        Ok(match vols.iter().find(|v| v.volid == volid) {
            Some(v) => Holds::Yes(format!(
                "{volid} on {node} ({})",
                crate::stages::printer::bytes(v.size)
            )),
            None => Holds::No(format!("{volid} is not on {node}")),
        })
    }

    async fn check_template_created(&self, node: &str, cx: &StepCx) -> StageResult<Holds> {
        let (vmid, name) = self.template_on(node);
        match self.find(vmid).await? {
            None => Ok(Holds::No(format!("template VM {vmid} does not exist"))),
            Some(r) if !self.ours(&r) => Err(self.not_ours(&r, &format!("template.vmid ({vmid})"))),
            Some(r) if r.node != node => Err(StageError::new(format!(
                "VM {vmid} ({}) is on node {}, expected {node}",
                r.name, r.node
            ))),
            Some(r) => {
                if r.lock.is_some() {
                    self.wait_unlocked(cx, vmid).await?;
                    if self.find(vmid).await?.is_none() {
                        return Ok(Holds::No(format!(
                            "the earlier creation of VM {vmid} failed; creating it again"
                        )));
                    }
                }
                Ok(Holds::Yes(format!("VM {vmid} ({name}) exists on {node}")))
            }
        }
    }

    async fn check_template_converted(&self, node: &str) -> StageResult<Holds> {
        let (vmid, _) = self.template_on(node);
        Ok(match self.find(vmid).await? {
            Some(r) if r.template => Holds::Yes(format!("VM {vmid} is a template")),
            Some(_) => Holds::No(format!("VM {vmid} is not a template yet")),
            None => {
                return Err(StageError::new(format!(
                    "template VM {vmid} does not exist"
                )));
            }
        })
    }

    async fn check_clone(&self, vm: &VmConfig, cx: &StepCx) -> StageResult<Holds> {
        match self.find(vm.vmid).await? {
            None => Ok(Holds::No(format!("VM {} does not exist", vm.vmid))),
            Some(r) if !self.ours(&r) => Err(self.not_ours(&r, &format!("VM {}", vm.name))),
            Some(r) if r.node != vm.node => Err(StageError::new(format!(
                "VM {} ({}) is on node {}, the definition puts it on {}",
                vm.vmid, r.name, r.node, vm.node
            ))
            .with_hint("migrate it in PVE or change vms[].node in the cluster file")),
            Some(r) if r.template => Err(StageError::new(format!(
                "VMID {} is one of our templates, not a VM",
                vm.vmid
            ))),
            Some(r) => {
                if r.lock.is_some() {
                    self.wait_unlocked(cx, vm.vmid).await?;
                    if self.find(vm.vmid).await?.is_none() {
                        return Ok(Holds::No(format!(
                            "the earlier clone to VM {} failed; cloning again",
                            vm.vmid
                        )));
                    }
                }
                Ok(Holds::Yes(format!(
                    "VM {} ({}) exists on {}",
                    vm.vmid, r.name, r.node
                )))
            }
        }
    }

    /// Differences between the VM's config and the definition.
    async fn config_diff(
        &self,
        vm: &VmConfig,
    ) -> StageResult<(Vec<(String, String)>, Vec<String>)> {
        let have = self.pve.vm_config(&vm.node, vm.vmid).await?;
        let snippet = self.snippet_present(&vm.node).await;
        let want = self.desired(vm, snippet);
        let mut changes = Vec::new();
        let mut notes = Vec::new();
        for (k, v) in &want.params {
            if let Some(d) = differs(k, v, have.get(k).map(String::as_str)) {
                changes.push((k.clone(), v.clone()));
                notes.push(d);
            }
        }
        Ok((changes, notes))
    }

    async fn check_config(&self, vm: &VmConfig, reconcile: bool) -> StageResult<Holds> {
        let r = self
            .find(vm.vmid)
            .await?
            .ok_or_else(|| StageError::new(format!("VM {} does not exist", vm.vmid)))?;
        let (changes, notes) = self.config_diff(vm).await?;
        if changes.is_empty() {
            return Ok(Holds::Yes(format!(
                "VM {} config matches the definition",
                vm.vmid
            )));
        }
        let configured = r.has_tag(self.tag());
        let what = notes.join("; ");
        Ok(if configured && !reconcile {
            Holds::Drift(format!("VM {} ({}): {what}", vm.vmid, vm.name))
        } else {
            Holds::No(what)
        })
    }

    async fn apply_config(&self, vm: &VmConfig, cx: &StepCx) -> StageResult<()> {
        let (changes, _) = self.config_diff(vm).await?;
        let r = self.find(vm.vmid).await?;
        let keys: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
        cx.log(format!(
            "PUT /nodes/{}/qemu/{}/config {}",
            vm.node,
            vm.vmid,
            keys.join(" ")
        ))
        .await;
        self.pve
            .set_vm_config(&vm.node, vm.vmid, &changes)
            .await
            .map_err(|e| StageError::from(e).context(&vm.name))?;
        let reboot_keys = [
            "cores",
            "memory",
            "ipconfig0",
            "nameserver",
            "searchdomain",
            "sshkeys",
            "ciuser",
            "cicustom",
        ];
        if r.is_some_and(|r| r.status == "running") && keys.iter().any(|k| reboot_keys.contains(k))
        {
            cx.log(format!("{} is running: the changed settings take effect at its next reboot (homelab does not reboot it)", vm.name))
                .await;
        }
        Ok(())
    }

    async fn check_resize(&self, vm: &VmConfig, reconcile: bool) -> StageResult<Holds> {
        let r = self
            .find(vm.vmid)
            .await?
            .ok_or_else(|| StageError::new(format!("VM {} does not exist", vm.vmid)))?;
        let have = self.disk_bytes(vm).await?;
        let want = vm.disk_bytes();
        let show = crate::stages::printer::bytes;
        Ok(if have >= want {
            if have > want {
                Holds::Yes(format!(
                    "scsi0 is {} (definition {}; disks are never shrunk)",
                    show(have),
                    show(want)
                ))
            } else {
                Holds::Yes(format!("scsi0 is {}", show(have)))
            }
        } else if r.has_tag(self.tag()) && !reconcile {
            Holds::Drift(format!(
                "VM {} ({}): scsi0 is {}, definition {}",
                vm.vmid,
                vm.name,
                show(have),
                show(want)
            ))
        } else {
            Holds::No(format!(
                "scsi0 is {}, growing to {}",
                show(have),
                show(want)
            ))
        })
    }

    /// Size of the VM's boot disk (`scsi0`), 0 when unknown.
    async fn disk_bytes(&self, vm: &VmConfig) -> StageResult<u64> {
        let cfg = self.pve.vm_config(&vm.node, vm.vmid).await?;
        Ok(cfg
            .get("scsi0")
            .and_then(|d| types::disk_size(d))
            .unwrap_or(0))
    }

    async fn check_start(&self, vm: &VmConfig) -> StageResult<Holds> {
        let s = self.pve.vm_status(&vm.node, vm.vmid).await?;
        Ok(if s.running {
            Holds::Yes(format!("VM {} is running", vm.vmid))
        } else {
            Holds::No(format!("VM {} is stopped", vm.vmid))
        })
    }

    /// One probe: (agent IP matches, SSH answers), with a description.
    async fn probe_vm(&self, vm: &VmConfig, agent: bool) -> (bool, bool, String) {
        let mut parts = Vec::new();
        let agent_ok = if agent {
            match self.pve.guest_interfaces(&vm.node, vm.vmid).await {
                Ok(ifaces) => {
                    let ips = guest_ipv4s(&ifaces);
                    if ips.contains(&vm.ip) {
                        parts.push(format!("guest agent reports {}", vm.ip));
                        true
                    } else if ips.is_empty() {
                        parts.push("guest agent runs, no IPv4 yet".to_owned());
                        false
                    } else {
                        let list: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                        parts.push(format!(
                            "guest agent reports {} (expected {})",
                            list.join(", "),
                            vm.ip
                        ));
                        false
                    }
                }
                Err(e) => {
                    parts.push(format!(
                        "guest agent: {}",
                        e.reason().unwrap_or("no answer")
                    ));
                    false
                }
            }
        } else {
            true
        };
        let port = self.cfg.ssh.port;
        let ssh_ok = ssh_banner(vm.ip, port, Duration::from_millis(800)).await;
        parts.push(match &ssh_ok {
            Ok(banner) => format!("SSH {}:{port} answers ({banner})", vm.ip),
            Err(e) => format!("SSH {}:{port}: {e}", vm.ip),
        });
        (agent_ok, ssh_ok.is_ok(), parts.join("; "))
    }

    async fn check_wait(&self, vm: &VmConfig) -> StageResult<Holds> {
        let agent = self.snippet_present(&vm.node).await;
        let (a, s, what) = self.probe_vm(vm, agent).await;
        Ok(if a && s {
            Holds::Yes(what)
        } else {
            Holds::No(what)
        })
    }

    async fn wait_boot(&self, vm: &VmConfig, cx: &StepCx) -> StageResult<()> {
        let agent = self.snippet_present(&vm.node).await;
        if !agent {
            cx.log(format!("no vendor snippet {} on {}: qemu-guest-agent is not installed, waiting for SSH only", self.snippet_volid(), vm.node))
                .await;
        }
        let started = Instant::now();
        let mut last = String::new();
        loop {
            let (a, s, what) = self.probe_vm(vm, agent).await;
            if what != last {
                cx.log(format!("{} ({}s)", what, started.elapsed().as_secs()))
                    .await;
                last = what.clone();
            }
            if a && s {
                return Ok(());
            }
            if started.elapsed() > self.timing.boot_timeout {
                return Err(StageError::new(format!("{} did not come up within {:?}: {what}", vm.name, self.timing.boot_timeout))
                    .with_hint(format!(
                        "open the serial console (`qm terminal {}` on {}) and check cloud-init; check network.gateway, vms[].ip and the bridge",
                        vm.vmid, vm.node
                    )));
            }
            cx.sleep(self.timing.poll).await?;
        }
    }

    fn orphans(&self, resources: &[VmResource]) -> Vec<VmResource> {
        let ours: BTreeSet<u32> = self.cfg.vms.iter().map(|v| v.vmid).collect();
        resources
            .iter()
            .filter(|r| !r.template && r.has_tag(self.tag()) && !ours.contains(&r.vmid))
            .cloned()
            .collect()
    }

    // ------------------------------------------------------------------------------------------
    // Preflight pieces
    // ------------------------------------------------------------------------------------------

    /// The privileges each call needs: (path, privileges any-of, what for).
    fn required_privileges(&self) -> Vec<(String, Vec<&'static str>, &'static str)> {
        let p = &self.cfg.proxmox;
        let mut out = vec![
            (
                format!("/storage/{}", p.image_storage),
                vec!["Datastore.AllocateTemplate"],
                "download-url of the cloud image",
            ),
            (
                format!("/storage/{}", p.image_storage),
                vec!["Datastore.Audit"],
                "listing the image storage",
            ),
            (
                format!("/storage/{}", p.vm_storage),
                vec!["Datastore.AllocateSpace"],
                "disks of the template and clones",
            ),
        ];
        for node in self.vm_nodes() {
            out.push((
                format!("/nodes/{node}"),
                vec!["Sys.Audit"],
                "listing bridges",
            ));
            out.push((
                format!("/nodes/{node}"),
                vec!["Sys.AccessNetwork", "Sys.Modify"],
                "download-url (network access)",
            ));
            let (tid, _) = self.template_on(&node);
            out.push((
                format!("/vms/{tid}"),
                vec!["VM.Allocate"],
                "creating the template",
            ));
            out.push((
                format!("/vms/{tid}"),
                vec!["VM.Clone"],
                "cloning the template",
            ));
            for (privilege, why) in [
                (
                    "VM.Config.HWType",
                    "template hardware (scsihw, serial0, vga)",
                ),
                ("VM.Config.CPU", "template cores and cpu type"),
                ("VM.Config.Memory", "template memory"),
                (
                    "VM.Config.Disk",
                    "template disk import and cloud-init drive",
                ),
                ("VM.Config.Network", "template NIC"),
                ("VM.Config.Options", "template tags and agent"),
            ] {
                out.push((format!("/vms/{tid}"), vec![privilege], why));
            }
        }
        out.push((
            format!("/sdn/zones/localnetwork/{}", p.bridge),
            vec!["SDN.Use"],
            "attaching NICs to the bridge",
        ));
        for vm in &self.cfg.vms {
            let path = format!("/vms/{}", vm.vmid);
            for (privs, why) in [
                (vec!["VM.Allocate"], "creating the clone"),
                (vec!["VM.Audit"], "reading its config"),
                (vec!["VM.Config.CPU"], "setting cores"),
                (vec!["VM.Config.Memory"], "setting memory"),
                (vec!["VM.Config.Disk"], "resizing the disk"),
                (vec!["VM.Config.Cloudinit"], "cloud-init user, keys, IP"),
                (vec!["VM.Config.Options"], "tags, onboot"),
                (vec!["VM.PowerMgmt"], "starting it"),
                (
                    vec!["VM.GuestAgent.Audit", "VM.Monitor"],
                    "reading guest agent interfaces",
                ),
            ] {
                out.push((path.clone(), privs, why));
            }
        }
        out
    }

    fn privilege_checks(&self, perms: &Permissions) -> Vec<Check> {
        let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut total = 0;
        for (path, any_of, why) in self.required_privileges() {
            total += 1;
            let ok = any_of.iter().any(|p| has_privilege(perms, &path, p))
                || (any_of.contains(&"Sys.AccessNetwork")
                    && has_privilege(perms, "/", "Sys.Audit")
                    && has_privilege(perms, "/", "Sys.Modify"));
            if !ok {
                missing
                    .entry(any_of.join(" or "))
                    .or_default()
                    .push(format!("{path} ({why})"));
            }
        }
        if missing.is_empty() {
            return vec![Check::pass(
                "privileges",
                "Token privileges",
                format!("{total} privilege checks pass for {}", self.pve.principal()),
            )];
        }
        let token = self.pve.principal();
        missing
            .into_iter()
            .map(|(privilege, paths)| {
                let first = paths[0].split(' ').next().unwrap_or("/").to_owned();
                Check::fail(
                    format!("privilege/{privilege}"),
                    format!("Privilege {privilege}"),
                    format!("{token} lacks {privilege} on {}", paths.join(", ")),
                    format!("pveum acl modify {first} --tokens '{token}' --roles HomelabBootstrap (role: docs/proxmox-stage.md)"),
                )
            })
            .collect()
    }
}

/// The last percentage in a PVE task log line (domain::task_log, where the fuzz target runs it).
pub use crate::domain::task_log::percent_in;

/// Connect to `ip:port` and read an SSH banner.
pub async fn ssh_banner(ip: Ipv4Addr, port: u16, timeout: Duration) -> Result<String, String> {
    use tokio::io::AsyncReadExt;
    let work = async {
        let mut s = tokio::net::TcpStream::connect((ip, port))
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 128];
        let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&buf[..n]).trim().to_owned();
        if text.starts_with("SSH-") {
            Ok(text)
        } else {
            Err(format!("not an SSH server (`{text}`)"))
        }
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| "no answer".to_owned())?
}

#[async_trait]
impl Stage for ProxmoxStage {
    fn id(&self) -> StageId {
        StageId::Proxmox
    }

    async fn plan(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Proxmox);
        let resources = self.resources().await?;
        let by_id: BTreeMap<u32, &VmResource> = resources.iter().map(|r| (r.vmid, r)).collect();
        let (algo, sum) = self.checksum().map_err(StageError::new)?;
        let p = &self.cfg.proxmox;
        if self.image_file() != self.cfg.template.image.file_name {
            plan.notes.push(format!(
                "the image is stored as {} (PVE's import content refuses .img; the file is the same qcow2)",
                self.image_file()
            ));
        }
        for node in self.vm_nodes() {
            let have_image = matches!(self.check_image(&node).await?, Holds::Yes(_));
            plan.steps.push(
                Step::new(format!("image/{node}"), "image", if have_image { Intent::Verify } else { Intent::Create },
                    format!("Ubuntu cloud image on {node}:{}", p.image_storage))
                .call(format!("GET /nodes/{node}/storage/{}/content?content=import", p.image_storage))
                .call(format!(
                    "POST /nodes/{node}/storage/{}/download-url content=import filename={} url={} checksum-algorithm={algo} checksum={sum}",
                    p.image_storage,
                    self.image_file(),
                    self.cfg.template.image.url
                ))
                .call(format!("GET /nodes/{node}/tasks/<upid>/status + /log until stopped")),
            );
            let (tid, tname) = self.template_on(&node);
            let spec = self.template_spec(&node);
            let params: Vec<String> = spec
                .params()
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let existing = by_id.get(&tid);
            let (ci, cnote) = match existing {
                Some(r) if !self.ours(r) => (
                    Intent::Drift,
                    Some(format!("VMID {tid} is taken by `{}`, not ours", r.name)),
                ),
                Some(_) => (Intent::Verify, None),
                None => (Intent::Create, None),
            };
            let mut s = Step::new(
                format!("template/{node}/create"),
                "template",
                ci,
                format!("Template VM {tid} ({tname}) on {node}"),
            )
            .call(format!("POST /nodes/{node}/qemu {}", params.join(" ")));
            s.note = cnote;
            plan.steps.push(s);
            let converted = existing.is_some_and(|r| r.template);
            plan.steps.push(
                Step::new(
                    format!("template/{node}/convert"),
                    "template",
                    if converted {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    format!("Convert VM {tid} to a template"),
                )
                .call(format!("POST /nodes/{node}/qemu/{tid}/template")),
            );
        }
        for vm in &self.cfg.vms {
            let existing = by_id.get(&vm.vmid).copied();
            let (tid, _) = self.template_on(&vm.node);
            let subject = vm.name.clone();
            let ours = existing.is_some_and(|r| self.ours(r));
            let configured = existing.is_some_and(|r| r.has_tag(self.tag()));
            let mut clone = Step::new(
                format!("vm/{}/clone", vm.name),
                &subject,
                if existing.is_some() {
                    Intent::Verify
                } else {
                    Intent::Create
                },
                format!(
                    "Full clone of template {tid} to VM {} ({}) on {}",
                    vm.vmid, vm.name, vm.node
                ),
            )
            .call(format!(
                "POST /nodes/{}/qemu/{tid}/clone newid={} name={} full=1 storage={}",
                vm.node, vm.vmid, vm.name, p.vm_storage
            ));
            if let Some(r) = existing.filter(|_| !ours) {
                clone.intent = Intent::Drift;
                clone.note = Some(format!(
                    "VMID {} is taken by `{}` on {}, not tagged {}: the run will stop here",
                    r.vmid,
                    r.name,
                    r.node,
                    self.tag()
                ));
            }
            plan.steps.push(clone);

            let (config_intent, config_note, resize_intent, resize_note) =
                if existing.is_some() && ours {
                    let (changes, notes) = self.config_diff(vm).await?;
                    let ci = match (changes.is_empty(), configured) {
                        (true, _) => Intent::Verify,
                        (false, true) => Intent::Drift,
                        (false, false) => Intent::Create,
                    };
                    let have = self.disk_bytes(vm).await?;
                    let want = vm.disk_bytes();
                    let (ri, rn) = if have >= want {
                        (
                            Intent::Verify,
                            (have > want).then(|| {
                                format!(
                                    "disk is {} (larger than the definition; never shrunk)",
                                    crate::stages::printer::bytes(have)
                                )
                            }),
                        )
                    } else if configured {
                        (
                            Intent::Drift,
                            Some(format!(
                                "disk {} < definition {}",
                                crate::stages::printer::bytes(have),
                                crate::stages::printer::bytes(want)
                            )),
                        )
                    } else {
                        (Intent::Create, None)
                    };
                    (ci, (!notes.is_empty()).then(|| notes.join("; ")), ri, rn)
                } else {
                    (Intent::Create, None, Intent::Create, None)
                };
            let mut rs = Step::new(
                format!("vm/{}/resize", vm.name),
                &subject,
                resize_intent,
                format!("Disk scsi0 to {} GiB", vm.disk_gib),
            )
            .call(format!(
                "PUT /nodes/{}/qemu/{}/resize disk=scsi0 size={}G",
                vm.node, vm.vmid, vm.disk_gib
            ));
            rs.note = resize_note;
            plan.steps.push(rs);
            let snippet = self.snippet_present(&vm.node).await;
            let want = self.desired(vm, snippet);
            let params: Vec<String> = want
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let mut cs = Step::new(
                format!("vm/{}/config", vm.name),
                &subject,
                config_intent,
                format!(
                    "Cloud-init, {} cores, {} MiB, tags for VM {}",
                    vm.cores, vm.memory_mib, vm.vmid
                ),
            )
            .call(format!(
                "PUT /nodes/{}/qemu/{}/config {}",
                vm.node,
                vm.vmid,
                params.join(" ")
            ));
            cs.note = config_note;
            plan.steps.push(cs);
            let running = existing.is_some_and(|r| r.status == "running");
            plan.steps.push(
                Step::new(
                    format!("vm/{}/start", vm.name),
                    &subject,
                    if running {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    format!("Start VM {}", vm.vmid),
                )
                .call(format!(
                    "POST /nodes/{}/qemu/{}/status/start",
                    vm.node, vm.vmid
                )),
            );
        }
        for vm in &self.cfg.vms {
            plan.steps.push(
                Step::new(
                    format!("vm/{}/wait", vm.name),
                    &vm.name,
                    Intent::Wait,
                    format!("Wait for {} at {}:{}", vm.name, vm.ip, self.cfg.ssh.port),
                )
                .call(format!(
                    "GET /nodes/{}/qemu/{}/agent/network-get-interfaces until {} shows",
                    vm.node, vm.vmid, vm.ip
                ))
                .call(format!(
                    "TCP {}:{} until an SSH banner answers",
                    vm.ip, self.cfg.ssh.port
                )),
            );
        }
        for r in self.orphans(&resources) {
            plan.steps.push(
                Step::new(format!("orphan/{}", r.vmid), &r.name, Intent::Drift, format!("VM {} ({}) on {} is tagged {} but not in the definition", r.vmid, r.name, r.node, self.tag()))
                    .call(format!("POST /nodes/{}/qemu/{}/status/stop; DELETE /nodes/{}/qemu/{} (only when reconciling and the operator types `{}`)", r.node, r.vmid, r.node, r.vmid, r.name)),
            );
        }
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let p = &self.cfg.proxmox;
        match self.pve.version().await {
            Ok(v) => {
                let major = v.major().unwrap_or(0);
                let minor: u32 = v
                    .release
                    .split('.')
                    .nth(1)
                    .and_then(|m| m.parse().ok())
                    .unwrap_or(0);
                checks.push(Check::pass(
                    "api",
                    "PVE API reachable",
                    format!("{} answers as PVE {}", p.endpoint, v.version),
                ));
                if major < 8 {
                    checks.push(Check::fail(
                        "version",
                        "PVE version",
                        format!("PVE {} is older than 8", v.version),
                        "upgrade Proxmox VE to 8.4 or newer",
                    ));
                } else if major == 8 && minor < 4 {
                    checks.push(Check::fail("version", "PVE version", format!("PVE {} lacks the `import` storage content (8.4+) used for cloud images", v.version),
                        "upgrade to PVE 8.4 (apt update && apt full-upgrade on the node)"));
                } else {
                    checks.push(Check::pass(
                        "version",
                        "PVE version",
                        format!("PVE {} (>= 8.4)", v.version),
                    ));
                }
            }
            Err(e) => {
                let hint = e.hint().unwrap_or_else(|| "check proxmox.endpoint".into());
                checks.push(Check::fail("api", "PVE API reachable", e.to_string(), hint));
                return checks;
            }
        }
        if let Err(e) = self.checksum() {
            checks.push(Check::fail(
                "checksum",
                "Image checksum",
                e,
                "copy the image's line from SHA256SUMS next to the image URL",
            ));
        }
        if self.keys.is_empty() || !self.key_errors.is_empty() {
            let detail = if self.key_errors.is_empty() {
                "no SSH public key configured".to_owned()
            } else {
                self.key_errors.join("; ")
            };
            checks.push(Check::fail("ssh-keys", "SSH public keys", detail, "list readable public key files in ssh.public_keys (ssh-keygen -t ed25519 makes one)"));
        } else {
            checks.push(Check::pass(
                "ssh-keys",
                "SSH public keys",
                format!("{} key(s) for cloud-init", self.keys.len()),
            ));
        }
        // Nodes
        let nodes = match self.pve.nodes().await {
            Ok(n) => n,
            Err(e) => {
                checks.push(Check::fail(
                    "nodes",
                    "PVE nodes",
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                ));
                return checks;
            }
        };
        let mut wanted: Vec<String> = self.vm_nodes();
        if !wanted.contains(&self.cfg.template.node) {
            checks.push(Check::warn(
                "template-node",
                "Template node",
                format!(
                    "template.node {} hosts no VM; templates are made on the VM nodes",
                    self.cfg.template.node
                ),
                "set template.node to a node that hosts VMs",
            ));
        }
        wanted.sort();
        for n in &wanted {
            match nodes.iter().find(|x| &x.node == n) {
                Some(x) if x.online => checks.push(Check::pass(
                    format!("node/{n}"),
                    format!("Node {n}"),
                    "online",
                )),
                Some(_) => checks.push(Check::fail(
                    format!("node/{n}"),
                    format!("Node {n}"),
                    "offline",
                    format!("start {n} or move its VMs to another node"),
                )),
                None => {
                    let known: Vec<&str> = nodes.iter().map(|x| x.node.as_str()).collect();
                    checks.push(Check::fail(
                        format!("node/{n}"),
                        format!("Node {n}"),
                        format!("not in the cluster (nodes: {})", known.join(", ")),
                        "fix vms[].node / proxmox.nodes in the cluster file",
                    ));
                }
            }
        }
        if let Some(pin) = &p.tls.fingerprint {
            let matches = nodes.iter().any(|n| {
                n.ssl_fingerprint
                    .as_deref()
                    .is_some_and(|f| f.eq_ignore_ascii_case(pin))
            });
            if matches {
                checks.push(Check::pass(
                    "tls",
                    "TLS pin",
                    "the pinned fingerprint is a node's certificate",
                ));
            } else {
                checks.push(Check::warn(
                    "tls",
                    "TLS pin",
                    "the pinned fingerprint matches no node's ssl_fingerprint",
                    "a proxy may sit in front of the API; compare with `pvenode cert info`",
                ));
            }
        }
        // Privileges
        match self.pve.permissions().await {
            Ok(perms) => checks.extend(self.privilege_checks(&perms)),
            Err(e) => checks.push(Check::warn(
                "privileges",
                "Token privileges",
                format!("cannot read /access/permissions: {e}"),
                "grant Sys.Audit on / so privileges can be checked up front",
            )),
        }
        // Storage and bridges
        let need_per_node: BTreeMap<String, u64> =
            self.cfg.vms.iter().fold(BTreeMap::new(), |mut m, v| {
                let need = m.entry(v.node.clone()).or_default();
                *need = need.saturating_add(v.disk_bytes());
                m
            });
        let resources = self.resources().await.unwrap_or_default();
        for node in self.vm_nodes() {
            match self.pve.storages(&node).await {
                Ok(st) => {
                    let existing: u64 = self
                        .cfg
                        .vms
                        .iter()
                        .filter(|v| v.node == node && resources.iter().any(|r| r.vmid == v.vmid))
                        .map(|v| v.disk_bytes())
                        .fold(0u64, u64::saturating_add);
                    let need = need_per_node
                        .get(&node)
                        .copied()
                        .unwrap_or(0)
                        .saturating_sub(existing)
                        .saturating_add(4 << 30);
                    match st.iter().find(|s| s.storage == p.vm_storage) {
                        Some(s) if !s.content.contains("images") => checks.push(Check::fail(
                            format!("storage/{node}/{}", s.storage),
                            format!("VM storage {} on {node}", s.storage),
                            "content `images` is not enabled",
                            "Datacenter > Storage > Edit: enable Disk image",
                        )),
                        Some(s) if s.avail < need => checks.push(Check::fail(
                            format!("storage/{node}/{}", s.storage),
                            format!("VM storage {} on {node}", s.storage),
                            format!(
                                "{} free, {} needed",
                                crate::stages::printer::bytes(s.avail),
                                crate::stages::printer::bytes(need)
                            ),
                            "free space or lower vms[].disk_gib",
                        )),
                        Some(s) => checks.push(Check::pass(
                            format!("storage/{node}/{}", s.storage),
                            format!("VM storage {} on {node}", s.storage),
                            format!(
                                "{} free, {} needed",
                                crate::stages::printer::bytes(s.avail),
                                crate::stages::printer::bytes(need)
                            ),
                        )),
                        None => checks.push(Check::fail(
                            format!("storage/{node}/{}", p.vm_storage),
                            format!("VM storage {} on {node}", p.vm_storage),
                            "does not exist on this node",
                            "fix proxmox.vm_storage",
                        )),
                    }
                    match st.iter().find(|s| s.storage == p.image_storage) {
                        Some(s) if s.content.contains("import") => checks.push(Check::pass(
                            format!("storage/{node}/{}/import", s.storage),
                            format!("Image storage {} on {node}", s.storage),
                            "content `import` enabled",
                        )),
                        Some(s) => checks.push(Check::fail(
                            format!("storage/{node}/{}/import", s.storage),
                            format!("Image storage {} on {node}", s.storage),
                            "content `import` is not enabled",
                            format!(
                                "pvesm set {} --content {},import",
                                s.storage,
                                s.content.iter().cloned().collect::<Vec<_>>().join(",")
                            ),
                        )),
                        None => checks.push(Check::fail(
                            format!("storage/{node}/{}/import", p.image_storage),
                            format!("Image storage {} on {node}", p.image_storage),
                            "does not exist on this node",
                            "fix proxmox.image_storage",
                        )),
                    }
                }
                Err(e) => checks.push(Check::fail(
                    format!("storage/{node}"),
                    format!("Storages on {node}"),
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                )),
            }
            if self.snippet_present(&node).await {
                checks.push(Check::pass(
                    format!("snippet/{node}"),
                    format!("Vendor snippet on {node}"),
                    self.snippet_volid(),
                ));
            } else {
                checks.push(Check::warn(format!("snippet/{node}"), format!("Vendor snippet on {node}"),
                    format!("{} is missing: qemu-guest-agent will not be installed, the stage waits for SSH only", self.snippet_volid()),
                    "run infrastructure/proxmox/cluster_bootstrap.sh on the node (writes /var/lib/vz/snippets/homelab-vendor.yaml), see docs/proxmox-stage.md"));
            }
            match self.pve.bridges(&node).await {
                Ok(b) if b.iter().any(|b| b.iface == p.bridge) => checks.push(Check::pass(
                    format!("bridge/{node}"),
                    format!("Bridge {} on {node}", p.bridge),
                    "exists",
                )),
                Ok(b) => {
                    let names: Vec<&str> = b.iter().map(|b| b.iface.as_str()).collect();
                    checks.push(Check::fail(
                        format!("bridge/{node}"),
                        format!("Bridge {} on {node}", p.bridge),
                        format!("missing (bridges: {})", names.join(", ")),
                        "fix proxmox.bridge or create the bridge in System > Network",
                    ));
                }
                Err(e) => checks.push(Check::fail(
                    format!("bridge/{node}"),
                    format!("Bridge {} on {node}", p.bridge),
                    e.to_string(),
                    e.hint().unwrap_or_default(),
                )),
            }
        }
        // VMIDs
        let mut ids: Vec<(u32, String)> = self
            .vm_nodes()
            .iter()
            .map(|n| self.template_on(n))
            .collect();
        ids.extend(self.cfg.vms.iter().map(|v| (v.vmid, v.name.clone())));
        for (vmid, name) in &ids {
            match resources.iter().find(|r| r.vmid == *vmid) {
                None => checks.push(Check::pass(
                    format!("vmid/{vmid}"),
                    format!("VMID {vmid} ({name})"),
                    "free",
                )),
                Some(r) if self.ours(r) => checks.push(Check::pass(
                    format!("vmid/{vmid}"),
                    format!("VMID {vmid} ({name})"),
                    format!("ours ({} on {})", r.name, r.node),
                )),
                Some(r) => checks.push(Check::fail(
                    format!("vmid/{vmid}"),
                    format!("VMID {vmid} ({name})"),
                    format!(
                        "taken by `{}` on {}, not tagged {}",
                        r.name,
                        r.node,
                        self.tag()
                    ),
                    "choose another vmid in the cluster file",
                )),
            }
        }
        // IPs
        let mut seen_ips = BTreeSet::new();
        let our_ids: BTreeSet<u32> = ids.iter().map(|(i, _)| *i).collect();
        let mut foreign_ips: BTreeMap<Ipv4Addr, String> = BTreeMap::new();
        for r in resources
            .iter()
            .filter(|r| !our_ids.contains(&r.vmid) && !r.template)
        {
            if let Ok(cfg) = self.pve.vm_config(&r.node, r.vmid).await
                && let Some(ip) = cfg
                    .get("ipconfig0")
                    .and_then(|i| i.split(',').find_map(|kv| kv.strip_prefix("ip=")))
                    .and_then(|i| i.split('/').next()?.parse().ok())
            {
                foreign_ips.insert(ip, format!("{} ({})", r.vmid, r.name));
            }
        }
        for vm in &self.cfg.vms {
            let id = format!("ip/{}", vm.name);
            let title = format!("IP {} ({})", vm.ip, vm.name);
            if !seen_ips.insert(vm.ip) {
                checks.push(Check::fail(
                    id,
                    title,
                    "used by two VMs in the definition",
                    "give each VM its own vms[].ip",
                ));
            } else if !self.in_subnet(vm.ip) {
                checks.push(Check::fail(
                    id,
                    title,
                    format!("outside network.subnet {}", self.cfg.network.subnet),
                    "fix vms[].ip or network.subnet",
                ));
            } else if let Some(other) = foreign_ips.get(&vm.ip) {
                checks.push(Check::fail(
                    id,
                    title,
                    format!("already configured on VM {other}"),
                    "choose a free address",
                ));
            } else if !resources.iter().any(|r| r.vmid == vm.vmid)
                && ssh_banner(vm.ip, self.cfg.ssh.port, Duration::from_millis(300))
                    .await
                    .is_ok()
            {
                checks.push(Check::warn(
                    id,
                    title,
                    "something already answers SSH at this address",
                    "make sure the address is free (DHCP range, other hosts)",
                ));
            } else {
                checks.push(Check::pass(id, title, "free or ours"));
            }
        }
        checks
    }

    async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
        let reconcile = cx.options().reconcile;
        let parts: Vec<&str> = step.id.split('/').collect();
        match parts.as_slice() {
            ["image", node] => {
                // A download started by a killed run may still be running: wait for it rather
                // than starting a second one.
                if let Holds::No(_) = self.check_image(node).await?
                    && let Some(upid) = cx
                        .notes(&step.id)
                        .get("upid")
                        .and_then(|u| Upid::parse(u).ok())
                    && self.pve.task_status(&upid).await.is_ok_and(|t| t.running)
                {
                    cx.log(format!(
                        "resuming: waiting for download task {upid} started by an earlier run"
                    ))
                    .await;
                    let _ = self.wait_task(cx, &upid).await;
                }
                self.check_image(node).await
            }
            ["template", node, "create"] => self.check_template_created(node, cx).await,
            ["template", node, "convert"] => self.check_template_converted(node).await,
            ["vm", name, "clone"] => self.check_clone(self.vm(name)?, cx).await,
            ["vm", name, "config"] => self.check_config(self.vm(name)?, reconcile).await,
            ["vm", name, "resize"] => self.check_resize(self.vm(name)?, reconcile).await,
            ["vm", name, "start"] => self.check_start(self.vm(name)?).await,
            ["vm", name, "wait"] => self.check_wait(self.vm(name)?).await,
            ["orphan", id] => {
                let vmid: u32 = id
                    .parse()
                    .map_err(|_| StageError::new(format!("bad step {}", step.id)))?;
                Ok(match self.find(vmid).await? {
                    None => Holds::Yes(format!("VM {vmid} is gone")),
                    Some(r) if reconcile => {
                        Holds::No(format!("VM {vmid} ({}) is not in the definition", r.name))
                    }
                    Some(r) => Holds::Drift(format!(
                        "VM {vmid} ({}) on {} is tagged {} but not in the definition",
                        r.name,
                        r.node,
                        self.tag()
                    )),
                })
            }
            _ => Err(StageError::new(format!("unknown step {}", step.id))),
        }
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        let parts: Vec<&str> = step.id.split('/').collect();
        let p = &self.cfg.proxmox;
        match parts.as_slice() {
            ["image", node] => {
                let (algo, sum) = self.checksum().map_err(StageError::new)?;
                let spec = DownloadSpec {
                    url: self.cfg.template.image.url.clone(),
                    filename: self.image_file(),
                    content: "import".into(),
                    checksum_algorithm: algo,
                    checksum: sum,
                };
                let upid = self.pve.download_url(node, &p.image_storage, &spec).await?;
                self.run_task(cx, upid).await
            }
            ["template", node, "create"] => {
                let spec = self.template_spec(node);
                let upid = self.pve.create_vm(node, &spec).await?;
                self.run_task(cx, upid).await
            }
            ["template", node, "convert"] => {
                let (vmid, _) = self.template_on(node);
                match self.pve.make_template(node, vmid).await? {
                    Some(upid) => self.run_task(cx, upid).await,
                    None => Ok(()),
                }
            }
            ["vm", name, "clone"] => {
                let vm = self.vm(name)?;
                let (tid, _) = self.template_on(&vm.node);
                let upid = self
                    .pve
                    .clone_vm(&vm.node, tid, vm.vmid, &vm.name, &p.vm_storage)
                    .await
                    .map_err(|e| StageError::from(e).context(&vm.name))?;
                self.run_task(cx, upid).await
            }
            ["vm", name, "config"] => self.apply_config(self.vm(name)?, cx).await,
            ["vm", name, "resize"] => {
                let vm = self.vm(name)?;
                let upid = self
                    .pve
                    .resize_disk(&vm.node, vm.vmid, "scsi0", vm.disk_gib)
                    .await?;
                self.run_task(cx, upid).await
            }
            ["vm", name, "start"] => {
                let vm = self.vm(name)?;
                let upid = self.pve.start_vm(&vm.node, vm.vmid).await?;
                self.run_task(cx, upid).await
            }
            ["vm", name, "wait"] => self.wait_boot(self.vm(name)?, cx).await,
            ["orphan", id] => {
                let vmid: u32 = id
                    .parse()
                    .map_err(|_| StageError::new(format!("bad step {}", step.id)))?;
                let Some(r) = self.find(vmid).await? else {
                    return Ok(());
                };
                let prompt = Prompt {
                    title: format!("Delete VM {vmid} ({})?", r.name),
                    detail: format!(
                        "VM {vmid} on {} is tagged {} but is not in the cluster definition. Deleting destroys its disks.",
                        r.node,
                        self.tag()
                    ),
                    type_to_confirm: Some(r.name.clone()),
                };
                if !cx.confirm(&prompt).await {
                    cx.log(format!(
                        "VM {vmid} ({}) left in place: deletion was not confirmed",
                        r.name
                    ))
                    .await;
                    return Ok(());
                }
                if r.status == "running" {
                    let upid = self.pve.stop_vm(&r.node, vmid).await?;
                    self.run_task(cx, upid).await?;
                }
                let upid = self.pve.destroy_vm(&r.node, vmid).await?;
                self.run_task(cx, upid).await
            }
            _ => Err(StageError::new(format!("unknown step {}", step.id))),
        }
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let resources = self.resources().await?;
        let mut out = Vec::new();
        for vm in &self.cfg.vms {
            let id = format!("vm/{}", vm.name);
            let title = format!("{} ({})", vm.name, vm.vmid);
            let Some(r) = resources.iter().find(|r| r.vmid == vm.vmid) else {
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

impl ProxmoxStage {
    fn template_spec(&self, node: &str) -> TemplateSpec {
        let (vmid, name) = self.template_on(node);
        TemplateSpec {
            vmid,
            name,
            import_from: self.image_volid(),
            vm_storage: self.cfg.proxmox.vm_storage.clone(),
            bridge: self.cfg.proxmox.bridge.clone(),
            tags: self.template_tag(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_from_task_log_lines() {
        assert_eq!(
            percent_in("transferred 1.8 GiB of 3.5 GiB (50.00%)"),
            Some(50)
        );
        assert_eq!(
            percent_in("    62M ........ ........  10% 42.5M 9s"),
            Some(10)
        );
        assert_eq!(percent_in("TASK OK"), None);
        assert_eq!(
            percent_in("Removing image: 100% complete...done."),
            Some(100)
        );
    }

    #[test]
    fn config_comparison_is_semantic() {
        assert!(differs("tags", "homelab;k3s-server", Some("k3s-server;homelab")).is_none());
        assert!(differs("nameserver", "1.1.1.1 8.8.8.8", Some("1.1.1.1  8.8.8.8")).is_none());
        let d = differs("cores", "4", Some("2")).unwrap();
        assert_eq!(d, "cores: 2 (definition: 4)");
        let keys = vec!["ssh-ed25519 AAAA me@x".to_string()];
        assert!(
            differs(
                "sshkeys",
                &types::encode_sshkeys(&keys),
                Some("ssh-ed25519%20AAAA%20me%40x")
            )
            .is_none()
        );
    }
}
