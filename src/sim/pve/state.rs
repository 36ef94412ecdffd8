//! The simulated cluster: nodes, storages and their volumes, VMs, tasks, users/tokens/ACLs,
//! injected faults, and a record of every request. Time-driven effects (a clone finishing, a VM
//! booting) are applied lazily by [`State::tick`] whenever the state is touched.

use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

/// A fault to inject into matching requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and reason phrase (e.g. 500 / 503).
    Status { status: u16, reason: String },
    /// Delay the answer.
    Slow(Duration),
    /// Close the connection without answering.
    Drop,
    /// Let the request start its task, and fail the task with this message.
    FailTask(String),
    /// Carry the request out, then answer with this status (the answer is lost on the way, as
    /// behind a proxy that gives up): the change happened although the caller sees a 5xx.
    ApplyThenStatus { status: u16, reason: String },
}

/// Inject `fault` into the next `times` requests whose method matches (if given) and whose path
/// contains `path_contains`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub method: Option<String>,
    pub path_contains: String,
    pub fault: Fault,
    pub times: u32,
}

/// One request the simulator saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
}

impl Seen {
    /// A write that reached the API (not a login).
    pub fn is_write(&self) -> bool {
        self.method != "GET" && self.path != "/api2/json/access/ticket"
    }
}

#[derive(Debug, Clone)]
pub struct Storage {
    pub name: String,
    pub kind: String,
    pub content: Vec<String>,
    pub shared: bool,
    pub total: u64,
    /// volid -> size
    pub volumes: BTreeMap<String, u64>,
    /// A directory standing in for this storage's `snippets/` folder (a test's node writes
    /// there over real SSH); its regular files are the storage's snippets.
    pub snippets_dir: Option<std::path::PathBuf>,
}

impl Storage {
    /// Every volume: the in-memory ones, and the files of `snippets_dir` when it is set.
    pub fn volume_list(&self) -> BTreeMap<String, u64> {
        let mut out = self.volumes.clone();
        let Some(dir) = &self.snippets_dir else {
            return out;
        };
        out.retain(|volid, _| !volid.starts_with(&format!("{}:snippets/", self.name)));
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_file() && !name.starts_with('.') {
                out.insert(format!("{}:snippets/{name}", self.name), meta.len());
            }
        }
        out
    }

    pub fn used(&self) -> u64 {
        self.volumes.values().sum()
    }
    pub fn avail(&self) -> u64 {
        self.total.saturating_sub(self.used())
    }
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub online: bool,
    pub storages: Vec<Storage>,
    pub bridges: Vec<String>,
}

impl Node {
    pub fn storage(&self, name: &str) -> Option<&Storage> {
        self.storages.iter().find(|s| s.name == name)
    }
    pub fn storage_mut(&mut self, name: &str) -> Option<&mut Storage> {
        self.storages.iter_mut().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone)]
pub struct Vm {
    pub vmid: u32,
    pub node: String,
    pub config: BTreeMap<String, String>,
    pub running: bool,
    pub started: Option<Instant>,
    pub lock: Option<String>,
}

impl Vm {
    /// A stopped, unlocked VM.
    pub fn new(vmid: u32, node: &str, config: BTreeMap<String, String>) -> Vm {
        Vm {
            vmid,
            node: node.to_owned(),
            config,
            running: false,
            started: None,
            lock: None,
        }
    }

    pub fn locked(mut self, lock: &str) -> Vm {
        self.lock = Some(lock.to_owned());
        self
    }

    pub fn name(&self) -> &str {
        self.config.get("name").map(String::as_str).unwrap_or("")
    }
    pub fn template(&self) -> bool {
        self.config.get("template").is_some_and(|t| t == "1")
    }
    pub fn cores(&self) -> u64 {
        let c: u64 = self
            .config
            .get("cores")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let s: u64 = self
            .config
            .get("sockets")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        c * s
    }
    pub fn memory_bytes(&self) -> u64 {
        self.config
            .get("memory")
            .and_then(|m| m.parse::<u64>().ok())
            .unwrap_or(512)
            << 20
    }
    pub fn disk_bytes(&self) -> u64 {
        self.config
            .get("scsi0")
            .and_then(|d| crate::backends::pve::types::disk_size(d))
            .unwrap_or(0)
    }
    /// The static address from `ipconfig0` (`ip=10.0.0.5/24,gw=...`).
    pub fn static_ip(&self) -> Option<(Ipv4Addr, u8)> {
        let ipc = self.config.get("ipconfig0")?;
        let ip = ipc.split(',').find_map(|kv| kv.strip_prefix("ip="))?;
        let (addr, prefix) = ip.split_once('/')?;
        Some((addr.parse().ok()?, prefix.parse().ok()?))
    }
}

#[derive(Debug, Clone)]
pub enum Effect {
    None,
    AddVolume {
        node: String,
        storage: String,
        volid: String,
        size: u64,
    },
    Unlock {
        vmid: u32,
    },
    /// A failed create/clone removes the half-made VM.
    RemoveVm {
        vmid: u32,
    },
    MakeTemplate {
        vmid: u32,
    },
    Resize {
        vmid: u32,
        disk: String,
        bytes: u64,
    },
    Start {
        vmid: u32,
    },
    Destroy {
        vmid: u32,
    },
}

#[derive(Debug, Clone)]
pub struct Task {
    pub upid: String,
    pub node: String,
    pub kind: String,
    pub id: String,
    pub user: String,
    pub pid: u32,
    pub pstart: u32,
    pub starttime: i64,
    pub created: Instant,
    pub duration: Duration,
    /// Lines with the fraction of the duration after which they appear.
    pub lines: Vec<(f64, String)>,
    pub failure: Option<String>,
    pub effect: Effect,
    pub on_failure: Effect,
    pub finished: bool,
    /// Running until [`State::release`], whatever its duration (see [`State::hold`]).
    pub held: bool,
}

impl Task {
    pub fn done(&self, now: Instant) -> bool {
        !self.held && now.duration_since(self.created) >= self.duration
    }
    pub fn visible_lines(&self, now: Instant) -> Vec<String> {
        let mut frac = if self.duration.is_zero() {
            1.0
        } else {
            now.duration_since(self.created).as_secs_f64() / self.duration.as_secs_f64()
        };
        if self.held {
            frac = frac.min(0.5);
        }
        let mut out: Vec<String> = self
            .lines
            .iter()
            .filter(|(f, _)| *f <= frac)
            .map(|(_, l)| l.clone())
            .collect();
        if self.done(now) {
            out.push(match &self.failure {
                Some(m) => format!("TASK ERROR: {m}"),
                None => "TASK OK".into(),
            });
        }
        out
    }
    pub fn exitstatus(&self) -> String {
        self.failure.clone().unwrap_or_else(|| "OK".into())
    }
}

/// An image the simulator can "download": URL -> size and SHA-256 of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimImage {
    pub url: String,
    pub size: u64,
    pub sha256: String,
}

#[derive(Debug, Clone)]
pub struct Token {
    pub secret: String,
    pub privsep: bool,
}

/// Users, tokens and ACLs. Privileges per path; a path grants to its descendants unless its ACL
/// was set without propagation (`no_propagate`), then it grants on that exact path only.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// user -> password
    pub users: BTreeMap<String, String>,
    /// `user@realm!name` -> token
    pub tokens: BTreeMap<String, Token>,
    /// principal (user or token id) -> path -> privileges
    pub acl: BTreeMap<String, BTreeMap<String, BTreeSet<String>>>,
    /// `(principal, path)` whose ACL has `propagate=0`.
    pub no_propagate: BTreeSet<(String, String)>,
    /// ticket -> (user, csrf)
    pub tickets: BTreeMap<String, (String, String)>,
}

/// Every privilege the proxmox stage needs (the `HomelabBootstrap` role in docs/proxmox-stage.md).
pub const BOOTSTRAP_PRIVILEGES: &[&str] = &[
    "Sys.Audit",
    "Sys.Modify",
    "Sys.AccessNetwork",
    "Datastore.Audit",
    "Datastore.AllocateSpace",
    "Datastore.AllocateTemplate",
    "VM.Audit",
    "VM.Allocate",
    "VM.Clone",
    "VM.Config.CPU",
    "VM.Config.Memory",
    "VM.Config.Disk",
    "VM.Config.Network",
    "VM.Config.Cloudinit",
    "VM.Config.Options",
    "VM.Config.HWType",
    "VM.PowerMgmt",
    "VM.Monitor",
    "VM.GuestAgent.Audit",
    "SDN.Use",
];

impl Access {
    /// Privileges of `principal`'s own ACLs on `path`, each with whether it propagates below
    /// `path`: an ACL on `path` itself grants with its own flag, one on a parent path only when
    /// it propagates (and then propagates further).
    fn privs_of(&self, principal: &str, path: &str) -> BTreeMap<String, bool> {
        let mut out = BTreeMap::new();
        let Some(paths) = self.acl.get(principal) else {
            return out;
        };
        for (p, privs) in paths {
            let propagates = !self
                .no_propagate
                .contains(&(principal.to_owned(), p.clone()));
            let flag = if path == p {
                propagates
            } else if propagates && (p == "/" || path.starts_with(&format!("{p}/"))) {
                true
            } else {
                continue;
            };
            for privilege in privs {
                let e = out.entry(privilege.clone()).or_insert(false);
                *e |= flag;
            }
        }
        out
    }

    /// Effective privileges of `principal` on `path`, each with its propagate flag (what
    /// `GET /access/permissions` answers). A privilege-separated token gets only what its own
    /// ACLs grant (and its user has; it propagates only if both do); a token without separation
    /// acts as its user.
    pub fn effective_flags(&self, principal: &str, path: &str) -> BTreeMap<String, bool> {
        if principal == "root@pam" {
            return BOOTSTRAP_PRIVILEGES
                .iter()
                .map(|s| (s.to_string(), true))
                .collect();
        }
        match principal.split_once('!') {
            Some((user, _)) => {
                let token = self.tokens.get(principal);
                let user_privs = self.effective_flags(user, path);
                if token.is_some_and(|t| t.privsep) {
                    self.privs_of(principal, path)
                        .into_iter()
                        .filter_map(|(p, own)| user_privs.get(&p).map(|u| (p, own && *u)))
                        .collect()
                } else {
                    user_privs
                }
            }
            None => self.privs_of(principal, path),
        }
    }

    /// Effective privileges of `principal` on `path`.
    pub fn effective(&self, principal: &str, path: &str) -> BTreeSet<String> {
        self.effective_flags(principal, path).into_keys().collect()
    }

    pub fn allowed(&self, principal: &str, path: &str, privilege: &str) -> bool {
        self.effective(principal, path).contains(privilege)
    }

    pub fn grant(&mut self, principal: &str, path: &str, privs: &[&str]) {
        let e = self
            .acl
            .entry(principal.to_owned())
            .or_default()
            .entry(path.to_owned())
            .or_default();
        e.extend(privs.iter().map(|s| s.to_string()));
    }

    /// Like [`Access::grant`], for an ACL set with `propagate=0`: the privileges hold on `path`
    /// itself, not below it.
    pub fn grant_here(&mut self, principal: &str, path: &str, privs: &[&str]) {
        self.grant(principal, path, privs);
        self.no_propagate
            .insert((principal.to_owned(), path.to_owned()));
    }

    pub fn revoke(&mut self, principal: &str, privilege: &str) {
        if let Some(paths) = self.acl.get_mut(principal) {
            for privs in paths.values_mut() {
                privs.remove(privilege);
            }
        }
    }
}

/// How long simulated work takes.
#[derive(Debug, Clone)]
pub struct Timing {
    pub task: Duration,
    pub download: Duration,
    /// From start until the guest agent answers.
    pub boot: Duration,
    /// From the agent answering until it reports addresses.
    pub agent_ips: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            task: Duration::from_millis(200),
            download: Duration::from_millis(800),
            boot: Duration::from_millis(400),
            agent_ips: Duration::from_millis(200),
        }
    }
}

pub struct State {
    pub version: String,
    pub release: String,
    pub nodes: Vec<Node>,
    pub vms: BTreeMap<u32, Vm>,
    pub tasks: Vec<Task>,
    pub access: Access,
    pub faults: Vec<FaultRule>,
    pub seen: Vec<Seen>,
    pub images: Vec<SimImage>,
    pub timing: Timing,
    pub fingerprint: Option<String>,
    /// Booted VMs with a loopback `ipconfig0` address accept TCP on this port with an SSH banner.
    pub ssh_port: Option<u16>,
    pub ssh_listeners: BTreeMap<u32, tokio::task::JoinHandle<()>>,
    /// Task types (`qmclone`, `download`...) whose new tasks keep running until released, so a
    /// test can stop or restart a run while such a task runs, however slow the machine is.
    pub hold: BTreeSet<String>,
    next_pid: u32,
}

impl State {
    pub fn new(nodes: &[String], timing: Timing) -> State {
        let nodes = nodes
            .iter()
            .map(|n| Node {
                name: n.clone(),
                online: true,
                storages: vec![
                    Storage {
                        name: "local".into(),
                        kind: "dir".into(),
                        content: ["iso", "vztmpl", "backup", "import", "snippets"]
                            .map(String::from)
                            .to_vec(),
                        shared: false,
                        total: 100 << 30,
                        volumes: BTreeMap::from([(
                            "local:snippets/homelab-vendor.yaml".to_owned(),
                            412u64,
                        )]),
                        snippets_dir: None,
                    },
                    Storage {
                        name: "local-lvm".into(),
                        kind: "lvmthin".into(),
                        content: ["images", "rootdir"].map(String::from).to_vec(),
                        shared: false,
                        total: 400 << 30,
                        volumes: BTreeMap::new(),
                        snippets_dir: None,
                    },
                ],
                bridges: vec!["vmbr0".into()],
            })
            .collect();
        State {
            version: "8.4.1".into(),
            release: "8.4".into(),
            nodes,
            vms: BTreeMap::new(),
            tasks: Vec::new(),
            access: Access::default(),
            faults: Vec::new(),
            seen: Vec::new(),
            images: Vec::new(),
            timing,
            fingerprint: None,
            ssh_port: None,
            ssh_listeners: BTreeMap::new(),
            hold: BTreeSet::new(),
            next_pid: 0x000A_1B2C,
        }
    }

    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }
    pub fn node_mut(&mut self, name: &str) -> Option<&mut Node> {
        self.nodes.iter_mut().find(|n| n.name == name)
    }

    /// Serve `node`'s `local` snippets from `dir` (its files, nothing else), as a real node's
    /// directory storage does from /var/lib/vz/snippets.
    pub fn snippets_from(&mut self, node: &str, dir: &std::path::Path) {
        if let Some(s) = self
            .node_mut(node)
            .and_then(|n| n.storages.iter_mut().find(|s| s.name == "local"))
        {
            s.snippets_dir = Some(dir.to_owned());
        }
    }

    /// Writes seen so far (POST/PUT/DELETE other than logins).
    pub fn writes(&self) -> usize {
        self.seen.iter().filter(|s| s.is_write()).count()
    }

    /// Take the first fault matching this request (decrementing its count).
    pub fn take_fault(&mut self, method: &str, path: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|f| {
            f.times > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method))
                && path.contains(&f.path_contains)
        })?;
        self.faults[i].times -= 1;
        let fault = self.faults[i].fault.clone();
        if self.faults[i].times == 0 {
            self.faults.remove(i);
        }
        Some(fault)
    }

    /// Start a task; returns its UPID.
    #[allow(clippy::too_many_arguments)]
    pub fn start_task(
        &mut self,
        node: &str,
        kind: &str,
        id: &str,
        user: &str,
        duration: Duration,
        lines: Vec<(f64, String)>,
        failure: Option<String>,
        effect: Effect,
        on_failure: Effect,
    ) -> String {
        self.next_pid += 0x1F3;
        let starttime = jiff::Timestamp::now().as_second();
        let pstart = (starttime as u32).wrapping_mul(7) & 0x0FFF_FFFF;
        let upid = format!(
            "UPID:{node}:{:08X}:{pstart:08X}:{starttime:08X}:{kind}:{id}:{user}:",
            self.next_pid
        );
        self.tasks.push(Task {
            upid: upid.clone(),
            node: node.to_owned(),
            kind: kind.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
            pid: self.next_pid,
            pstart,
            starttime,
            created: Instant::now(),
            duration,
            lines,
            failure,
            effect,
            on_failure,
            finished: false,
            held: self.hold.contains(kind),
        });
        upid
    }

    /// Let the held tasks of type `kind` finish (at once when their duration has passed) and
    /// stop holding new ones.
    pub fn release(&mut self, kind: &str) {
        self.hold.remove(kind);
        for t in self.tasks.iter_mut().filter(|t| t.kind == kind) {
            t.held = false;
        }
    }

    /// Apply the effects of tasks that have finished and of VMs that have booted.
    pub fn tick(&mut self) {
        let now = Instant::now();
        let mut effects = Vec::new();
        for t in &mut self.tasks {
            if !t.finished && t.done(now) {
                t.finished = true;
                effects.push(if t.failure.is_some() {
                    t.on_failure.clone()
                } else {
                    t.effect.clone()
                });
            }
        }
        for e in effects {
            self.apply(e);
        }
        self.open_ssh_ports(now);
    }

    fn apply(&mut self, effect: Effect) {
        match effect {
            Effect::None => {}
            Effect::AddVolume {
                node,
                storage,
                volid,
                size,
            } => {
                if let Some(s) = self.node_mut(&node).and_then(|n| n.storage_mut(&storage)) {
                    s.volumes.insert(volid, size);
                }
            }
            Effect::Unlock { vmid } => {
                if let Some(vm) = self.vms.get_mut(&vmid) {
                    vm.lock = None;
                }
            }
            Effect::RemoveVm { vmid } | Effect::Destroy { vmid } => {
                if let Some(vm) = self.vms.remove(&vmid) {
                    self.drop_disks(&vm);
                }
                if let Some(h) = self.ssh_listeners.remove(&vmid) {
                    h.abort();
                }
            }
            Effect::MakeTemplate { vmid } => {
                if let Some(vm) = self.vms.get_mut(&vmid) {
                    vm.config.insert("template".into(), "1".into());
                    vm.lock = None;
                    if let Some(d) = vm.config.get("scsi0").cloned() {
                        vm.config.insert(
                            "scsi0".into(),
                            d.replacen(&format!("vm-{vmid}-disk"), &format!("base-{vmid}-disk"), 1),
                        );
                    }
                }
            }
            Effect::Resize { vmid, disk, bytes } => {
                if let Some(vm) = self.vms.get_mut(&vmid)
                    && let Some(d) = vm.config.get(&disk).cloned()
                {
                    let opts: Vec<String> = d
                        .split(',')
                        .map(|kv| {
                            if kv.starts_with("size=") {
                                format!("size={}G", bytes >> 30)
                            } else {
                                kv.to_owned()
                            }
                        })
                        .collect();
                    vm.config.insert(disk, opts.join(","));
                    vm.lock = None;
                }
            }
            Effect::Start { vmid } => {
                if let Some(vm) = self.vms.get_mut(&vmid) {
                    vm.running = true;
                    vm.started = Some(Instant::now());
                }
            }
        }
    }

    fn drop_disks(&mut self, vm: &Vm) {
        if let Some(n) = self.node_mut(&vm.node) {
            for s in &mut n.storages {
                s.volumes.retain(|volid, _| {
                    !volid.contains(&format!("-{}-disk", vm.vmid))
                        && !volid.contains(&format!("vm-{}-cloudinit", vm.vmid))
                });
            }
        }
    }

    /// Whether the VM's guest agent answers (booted, agent enabled, qemu-guest-agent installed by
    /// a vendor snippet that exists).
    pub fn agent_state(&self, vm: &Vm) -> Result<bool, &'static str> {
        if !vm.running {
            return Err("not running");
        }
        let enabled = vm
            .config
            .get("agent")
            .is_some_and(|a| a == "1" || a.contains("enabled=1"));
        if !enabled {
            return Err("No QEMU guest agent configured");
        }
        let booted = vm.started.is_some_and(|s| s.elapsed() >= self.timing.boot);
        if !booted || !self.vendor_snippet_present(vm) {
            return Err("QEMU guest agent is not running");
        }
        Ok(vm
            .started
            .is_some_and(|s| s.elapsed() >= self.timing.boot + self.timing.agent_ips))
    }

    fn vendor_snippet_present(&self, vm: &Vm) -> bool {
        let Some(cicustom) = vm.config.get("cicustom") else {
            return false;
        };
        let Some(vendor) = cicustom
            .split(',')
            .find_map(|kv| kv.strip_prefix("vendor="))
        else {
            return false;
        };
        let storage = vendor.split(':').next().unwrap_or_default();
        self.node(&vm.node)
            .and_then(|n| n.storage(storage))
            .is_some_and(|s| s.volume_list().contains_key(vendor))
    }

    fn open_ssh_ports(&mut self, now: Instant) {
        let Some(port) = self.ssh_port else { return };
        let booted: Vec<(u32, Ipv4Addr)> = self
            .vms
            .values()
            .filter(|vm| {
                vm.running
                    && vm
                        .started
                        .is_some_and(|s| now.duration_since(s) >= self.timing.boot)
            })
            .filter_map(|vm| vm.static_ip().map(|(ip, _)| (vm.vmid, ip)))
            .filter(|(id, ip)| ip.is_loopback() && !self.ssh_listeners.contains_key(id))
            .collect();
        for (vmid, ip) in booted {
            let Ok(std_listener) = std::net::TcpListener::bind((ip, port)) else {
                continue;
            };
            let _ = std_listener.set_nonblocking(true);
            let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                continue;
            };
            let handle = tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                while let Ok((mut sock, _)) = listener.accept().await {
                    let _ = sock
                        .write_all(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n")
                        .await;
                }
            });
            self.ssh_listeners.insert(vmid, handle);
        }
    }

    /// Stable config digest (PVE returns a SHA-1 of the config file; a SHA-256 prefix here).
    pub fn digest(vm: &Vm) -> String {
        let mut h = Sha256::new();
        for (k, v) in &vm.config {
            h.update(k.as_bytes());
            h.update(b": ");
            h.update(v.as_bytes());
            h.update(b"\n");
        }
        hex::encode(h.finalize())[..40].to_owned()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        for h in self.ssh_listeners.values() {
            h.abort();
        }
    }
}
