//! Shared helpers for the PVE tests: a fast simulator, a cluster definition pointing at it, a
//! client pinned to its certificate, and a run harness collecting events.
#![allow(dead_code)]

use homelab::backends::pve::{Auth, PveClient, PveSettings, Trust};
use homelab::config::ClusterConfig;
use homelab::sim::pve::{PveSim, SimImage, SimOptions, Timing};
use homelab::stages::engine::*;
use homelab::stages::proxmox::{ProxmoxStage, StageTiming};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

pub const IMAGE_URL: &str = "https://cloud-images.ubuntu.com/releases/noble/release-20251113/ubuntu-24.04-server-cloudimg-amd64.img";
pub const IMAGE_SHA: &str = "1b7b2b6a2b1ef5a3d1f63d3b7c0ad5a1a3c5f3e0e1c9d9ea0b8f3b5f1a2c4d6e";
/// A real ed25519 public key (`ssh.public_keys` entries are parsed as OpenSSH keys).
pub const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAzlt2yd53h+6JAgTnFghwd3kxEwb98eWAWUPVkyb1/G tester@homelab";

/// Like `tests/support`'s `require_peer`, for peers that are not programs on PATH (a Python
/// module): skip (printing why) when missing, except under HOMELAB_REQUIRE_PEERS=1.
pub fn require_peer(name: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if std::env::var("HOMELAB_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("peer `{name}` is missing and HOMELAB_REQUIRE_PEERS=1");
    }
    eprintln!("SKIP: peer `{name}` is not installed");
    false
}

/// The port the simulated VMs answer SSH on (the simulator listens on each booted VM's address
/// with it). Free on 127.0.0.1 a moment ago; the VMs' addresses are the simulator's own
/// ([`vm_ip`]), so another test taking the same number in between changes nothing.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn fast_timing() -> Timing {
    Timing {
        task: Duration::from_millis(40),
        download: Duration::from_millis(150),
        boot: Duration::from_millis(120),
        agent_ips: Duration::from_millis(60),
    }
}

pub async fn sim(nodes: &[&str], ssh_port: u16) -> PveSim {
    let opts = SimOptions {
        nodes: nodes.iter().map(|s| s.to_string()).collect(),
        timing: fast_timing(),
        images: vec![SimImage {
            url: IMAGE_URL.into(),
            size: 629_407_744,
            sha256: IMAGE_SHA.into(),
        }],
        ssh_port: Some(ssh_port),
        ..SimOptions::default()
    };
    PveSim::start(opts).await.expect("simulator starts")
}

/// The address of VM `host` (21: the server, 31: the agent) in `sim`'s cluster definition:
/// `127.A.B.host` with A.B drawn from the simulator's random token, so the SSH listeners of
/// tests running at the same time (in this run or another one) never share an address.
pub fn vm_ip(sim: &PveSim, host: u8) -> std::net::Ipv4Addr {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    sim.token_secret.hash(&mut h);
    let [a, b, ..] = h.finish().to_be_bytes();
    std::net::Ipv4Addr::new(127, 1 + a % 254, b, host)
}

/// A cluster definition for `sim`: one server on the first node, one agent on the last. The
/// vendor snippet is `manual` (the simulator's nodes start with it, and no SSH reaches them);
/// [`cluster_yaml_with`] writes it over SSH.
pub fn cluster_yaml(sim: &PveSim, nodes: &[&str], ssh_port: u16) -> String {
    cluster_yaml_with(sim, nodes, ssh_port, "manual")
}

/// [`cluster_yaml`] with `proxmox.vendor_snippet: <snippet>`.
pub fn cluster_yaml_with(sim: &PveSim, nodes: &[&str], ssh_port: u16, snippet: &str) -> String {
    let first = nodes[0];
    let last = nodes[nodes.len() - 1];
    let (server_ip, agent_ip) = (vm_ip(sim, 21), vm_ip(sim, 31));
    format!(
        r#"name: simlab
domain: example.test
proxmox:
  endpoint: {url}
  nodes: [{nodes}]
  token_id: {token}
  tls:
    fingerprint: "{fp}"
  vm_storage: local-lvm
  image_storage: local
  bridge: vmbr0
  tag: homelab
  vendor_snippet: {snippet}
template:
  vmid: 9000
  name: ubuntu-2404-cloud
  node: {first}
  image:
    url: {IMAGE_URL}
    file_name: ubuntu-24.04-server-cloudimg-amd64.img
    checksum: sha256:{IMAGE_SHA}
network:
  subnet: 127.0.0.0/8
  gateway: 127.0.0.1
  dns: [1.1.1.1, 9.9.9.9]
  search_domain: lan
ssh:
  user: ubuntu
  public_keys: [/nonexistent/id_ed25519.pub]
  port: {ssh_port}
vms:
  - {{ name: k3s-server-1, role: server, node: {first}, vmid: 201, cores: 2, memory_mib: 4096, disk_gib: 32, ip: {server_ip} }}
  - {{ name: k3s-agent-1, role: agent, node: {last}, vmid: 211, cores: 2, memory_mib: 2048, disk_gib: 40, ip: {agent_ip} }}
k3s:
  version: v1.33.5+k3s1
flux:
  repo: ssh://git@example.test/homelab.git
  version: v2.7.3
"#,
        url = sim.url,
        nodes = nodes.join(", "),
        token = sim.token_id,
        fp = sim.fingerprint.clone().unwrap_or_default(),
    )
}

pub fn cluster(sim: &PveSim, nodes: &[&str], ssh_port: u16) -> ClusterConfig {
    serde_yaml::from_str(&cluster_yaml(sim, nodes, ssh_port)).expect("test cluster parses")
}

pub fn settings(sim: &PveSim) -> PveSettings {
    let mut s = PveSettings::new(
        sim.url.clone(),
        Auth::Token {
            id: sim.token_id.clone(),
            secret: Zeroizing::new(sim.token_secret.clone()),
        },
        Trust::Pinned(sim.fingerprint.clone().expect("https sim")),
    );
    s.backoff = Duration::from_millis(20);
    s.timeout = Duration::from_secs(5);
    s
}

pub fn client(sim: &PveSim) -> PveClient {
    PveClient::new(settings(sim)).expect("client")
}

pub fn stage(sim: &PveSim, cfg: ClusterConfig) -> ProxmoxStage {
    ProxmoxStage::new(cfg, Arc::new(client(sim)))
        .with_keys(vec![KEY.to_string()])
        .with_timing(StageTiming {
            poll: Duration::from_millis(15),
            boot_timeout: Duration::from_secs(10),
            task_timeout: Duration::from_secs(20),
        })
}

pub struct Outcome {
    pub result: StageResult<RunSummary>,
    pub events: Vec<StageEvent>,
}

impl Outcome {
    pub fn logs(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Log { line, .. } => Some(line.clone()),
                _ => None,
            })
            .collect()
    }
}

pub async fn apply(stage: &dyn Stage, journal: &Path, options: RunOptions) -> Outcome {
    let (tx, mut rx) = tokio::sync::mpsc::channel(100_000);
    let run = RunCx::new(tx, Journal::at(journal).unwrap()).with_options(options);
    let plan = stage.plan().await.expect("plan");
    let result = stage.apply(&plan, &run).await;
    drop(run);
    let mut events = Vec::new();
    while let Some(e) = rx.recv().await {
        events.push(e);
    }
    Outcome { result, events }
}
