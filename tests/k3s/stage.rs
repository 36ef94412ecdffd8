//! The k3s stage end to end against sshd "VMs" (namespaces, see nodes.rs) with a stub installer
//! that records its arguments and environment, and the kube simulator as the API server.

use crate::nodes::{self, Node, NodeSpec, Operator, sh};
use homelab::backends::ssh::{NonInteractive, SshEnv};
use homelab::config::{ClusterConfig, InstallMode, VmConfig, VmRole};
use homelab::sim::kube::{KubeSim, SimOptions};
use homelab::stages::engine::{
    AutoConfirm, CheckStatus, EventKind, Intent, Journal, Outcome, RunCx, Stage, StageEvent,
};
use homelab::stages::k3s::token::ClusterToken;
use homelab::stages::k3s::{K3sOptions, K3sStage};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub const VERSION: &str = "v1.33.5+k3s1";
/// `K3S_TOKEN` of the lab's env file (the cluster token every server is installed with).
pub const CLUSTER_TOKEN: &str = "lab-cluster-token-0123456789abcdef";

/// The install script the nodes download (file:// URL): records `args`, the INSTALL_K3S_*/K3S_*
/// environment, uid and start/end times in /var/lib/homelab-test/calls/<n>, then does what the
/// real script's effects look like to the stage (it also records the directory it runs from,
/// `staging`, and that directory's mode, `staging_mode`): /usr/local/bin/k3s answering --version, and on
/// servers the node-token and /etc/rancher/k3s/k3s.yaml. /etc/homelab-stub-sleep makes it slow,
/// /etc/homelab-stub-fail makes it fail. /etc/homelab-stub-gate (`DIR COUNT`, DIR a host
/// directory every node sees) makes it wait, after recording its start, until COUNT installers
/// are inside (each leaves its hostname in DIR): installers that run one after the other fail
/// with `[ERROR] gate` after 120 s instead.
pub fn stub_script(kubeconfig_template: &Path) -> String {
    format!(
        r#"#!/bin/sh
set -e
rec=/var/lib/homelab-test/calls
mkdir -p "$rec"
n=$(ls "$rec" | wc -l); n=$((n+1))
{{
  echo "args=$*"
  for v in INSTALL_K3S_VERSION INSTALL_K3S_SKIP_DOWNLOAD INSTALL_K3S_EXEC K3S_TOKEN K3S_URL K3S_KUBECONFIG_MODE; do
    if [ -n "$(printenv $v)" ]; then echo "$v=$(printenv $v)"; fi
  done
  echo "uid=$(id -u)"
  echo "staging=$(cd "$(dirname "$0")" && pwd)"
  echo "staging_mode=$(stat -c %a "$(dirname "$0")")"
  echo "start=$(date +%s.%N)"
}} > "$rec/$n.partial"
[ -f /etc/homelab-stub-sleep ] && sleep "$(cat /etc/homelab-stub-sleep)"
if [ -f /etc/homelab-stub-gate ]; then
  read -r gate count < /etc/homelab-stub-gate
  : > "$gate/$(hostname)"
  waited=0
  while [ "$(ls "$gate" | wc -l)" -lt "$count" ]; do
    if [ "$waited" -ge 1200 ]; then
      echo "[ERROR]  gate: $(ls "$gate" | wc -l) of $count installers got here together" >&2
      exit 1
    fi
    sleep 0.1; waited=$((waited+1))
  done
fi
if [ -f /etc/homelab-stub-fail ]; then
  echo "[ERROR]  $(cat /etc/homelab-stub-fail)" >&2
  exit 1
fi
echo "[INFO]  Using $INSTALL_K3S_VERSION as release"
if [ "$INSTALL_K3S_SKIP_DOWNLOAD" != true ]; then
  mkdir -p /usr/local/bin
  printf '#!/bin/sh\n[ "$1" = --version ] && echo "k3s version %s (stub)" && echo "go version go1.24.4"\n' "$INSTALL_K3S_VERSION" > /usr/local/bin/k3s
  chmod 755 /usr/local/bin/k3s
fi
case "$1" in
  server)
    mkdir -p /var/lib/rancher/k3s/server /etc/rancher/k3s
    if [ ! -s /var/lib/rancher/k3s/server/node-token ]; then
      case "$K3S_TOKEN" in
        K10*) echo "$K3S_TOKEN" > /var/lib/rancher/k3s/server/node-token ;;
        ?*) echo "K10$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')::server:$K3S_TOKEN" > /var/lib/rancher/k3s/server/node-token ;;
        *) echo "K10$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')::server:$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" > /var/lib/rancher/k3s/server/node-token ;;
      esac
    fi
    cp {template} /etc/rancher/k3s/k3s.yaml
    chmod 600 /etc/rancher/k3s/k3s.yaml
    ;;
esac
echo "end=$(date +%s.%N)" >> "$rec/$n.partial"
mv "$rec/$n.partial" "$rec/$n"
echo "[INFO]  systemd: Starting k3s"
"#,
        template = kubeconfig_template.display()
    )
}

/// One recorded installer call.
#[derive(Debug, Clone)]
pub struct Call {
    pub args: String,
    pub env: BTreeMap<String, String>,
    pub uid: String,
    pub start: f64,
    pub end: f64,
}

/// Finished installer calls recorded in a node's overlay, in order.
fn finished(dir: &Path) -> Vec<u32> {
    let mut n: Vec<u32> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect();
    n.sort();
    n
}

pub fn calls(node: &Node) -> Vec<Call> {
    let dir = node.dir.join("up/var/lib/homelab-test/calls");
    let mut out = vec![];
    for i in finished(&dir) {
        let Ok(text) = std::fs::read_to_string(dir.join(i.to_string())) else {
            continue;
        };
        let mut c = Call {
            args: String::new(),
            env: BTreeMap::new(),
            uid: String::new(),
            start: 0.0,
            end: 0.0,
        };
        for l in text.lines() {
            let (k, v) = l.split_once('=').unwrap();
            match k {
                "args" => c.args = v.into(),
                "uid" => c.uid = v.into(),
                "start" => c.start = v.parse().unwrap(),
                "end" => c.end = v.parse().unwrap(),
                _ => {
                    c.env.insert(k.into(), v.into());
                }
            }
        }
        out.push(c);
    }
    out
}

/// Nodes, operator, simulator and a cluster definition pointing at them.
pub struct Lab {
    pub wd: tempfile::TempDir,
    pub op: Operator,
    pub nodes: Vec<Node>,
    pub sim: Arc<KubeSim>,
    pub cluster: ClusterConfig,
    pub stub: PathBuf,
    pub kubeconfig: PathBuf,
    pub journal: PathBuf,
    registrar: tokio::task::JoinHandle<()>,
    script_server: tokio::task::JoinHandle<()>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.registrar.abort();
        self.script_server.abort();
    }
}

/// Serve the stub like get.k3s.io does, over HTTP on `host` (the host side of a node's link:
/// every node reaches it through its default route; nothing else does).
async fn serve_script(
    host: std::net::Ipv4Addr,
    body: String,
) -> (u16, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().route(
        "/install.sh",
        axum::routing::get(move || {
            let body = body.clone();
            async move { body }
        }),
    );
    let listener = tokio::net::TcpListener::bind((host, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, task)
}

impl Lab {
    pub async fn start(servers: usize, agents: usize) -> Lab {
        Self::start_with(servers, agents, SimOptions::default()).await
    }

    /// A lab whose API server (the kube simulator) listens where `sim` says, e.g. on a
    /// loopback address standing in for the cluster's VIP.
    pub async fn start_with(servers: usize, agents: usize, sim: SimOptions) -> Lab {
        let wd = nodes::workdir();
        let op = Operator::new(wd.path());
        let mut specs = vec![];
        for i in 1..=servers {
            specs.push((format!("k3s-server-{i}"), VmRole::Server));
        }
        for i in 1..=agents {
            specs.push((format!("k3s-agent-{i}"), VmRole::Agent));
        }
        let pubkey = op.pubkey();
        let base = wd.path().to_path_buf();
        let started: Vec<Node> = futures::future::join_all(specs.iter().map(|(n, _)| {
            let (base, pubkey, n) = (base.clone(), pubkey.clone(), n.clone());
            tokio::task::spawn_blocking(move || {
                Node::start(&base, &NodeSpec::isolated(&n), &pubkey)
            })
        }))
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();

        let sim = Arc::new(KubeSim::start(sim).await.unwrap());
        let template = wd.path().join("k3s.yaml");
        std::fs::write(&template, sim.kubeconfig("https://127.0.0.1:6443")).unwrap();
        let stub = wd.path().join("install-stub.sh");
        std::fs::write(&stub, stub_script(&template)).unwrap();
        sh(&format!(
            "chmod 644 {} {}",
            stub.display(),
            template.display()
        ))
        .unwrap();
        let sha = sh(&format!("sha256sum {}", stub.display())).unwrap();

        let mut cluster: ClusterConfig =
            serde_yaml::from_str(include_str!("../../config/clusters/prox-n100.yaml")).unwrap();
        cluster.name = "lab".into();
        cluster.ssh.user = "ubuntu".into();
        cluster.ssh.identity_file = Some(op.key.display().to_string());
        cluster.vms = specs
            .iter()
            .zip(&started)
            .enumerate()
            .map(|(i, ((name, role), node))| VmConfig {
                name: name.clone(),
                role: *role,
                node: "pve-n100".into(),
                vmid: 200 + i as u32,
                cores: 1,
                memory_mib: 512,
                disk_gib: 10,
                ip: node.addr.parse().unwrap(),
                ssh_user: None,
                identity_file: None,
            })
            .collect();
        cluster.k3s.version = VERSION.into();
        cluster.k3s.api_address = Some("127.0.0.1".into());
        cluster.k3s.api_port = Some(sim.addr.port());
        let gateway = started[0].addr.trim_end_matches(".2").to_string() + ".1";
        let (port, script_server) = serve_script(
            gateway.parse().unwrap(),
            std::fs::read_to_string(&stub).unwrap(),
        )
        .await;
        cluster.k3s.install.script_url = format!("http://{gateway}:{port}/install.sh");
        cluster.k3s.install.script_sha256 = Some(sha.split_whitespace().next().unwrap().into());

        // The "kubelets": a node registers (NotReady) once its installer ran, Ready shortly after.
        let registrar = {
            let sim = sim.clone();
            let watch: Vec<(String, PathBuf, String, bool)> = specs
                .iter()
                .zip(&started)
                .map(|((n, r), node)| {
                    (
                        n.clone(),
                        node.dir.join("up/var/lib/homelab-test/calls"),
                        node.addr.clone(),
                        *r == VmRole::Server,
                    )
                })
                .collect();
            tokio::spawn(async move {
                let mut state: BTreeMap<String, u8> = BTreeMap::new();
                loop {
                    for (n, marker, ip, server) in &watch {
                        let s = state.entry(n.clone()).or_default();
                        if *s == 0 && !finished(marker).is_empty() {
                            sim.upsert_node(homelab::sim::kube::objects::NodeSpec {
                                name: n.clone(),
                                ip: ip.clone(),
                                server: *server,
                                ready: false,
                                kubelet_version: VERSION.into(),
                            });
                            *s = 1;
                        } else if *s >= 1 && *s < 4 {
                            *s += 1;
                        } else if *s == 4 {
                            sim.set_ready(n, true);
                            *s = 5;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        let kubeconfig = op.home.join(".kube/config");
        let journal = wd.path().join("state/lab/journal.jsonl");
        Lab {
            wd,
            op,
            nodes: started,
            sim,
            cluster,
            stub,
            kubeconfig,
            journal,
            registrar,
            script_server,
        }
    }

    pub fn stage(&self) -> K3sStage {
        self.stage_with(self.cluster.clone())
    }

    pub fn stage_with(&self, cluster: ClusterConfig) -> K3sStage {
        let env = Arc::new(SshEnv::for_home(&self.op.home, None).unwrap());
        let mut opts = K3sOptions::with_kubeconfig(self.kubeconfig.clone());
        opts.ready_timeout = Duration::from_secs(30);
        opts.token_timeout = Duration::from_secs(20);
        K3sStage::over_ssh(
            cluster,
            env,
            Arc::new(NonInteractive { accept_new: true }),
            opts,
        )
        .with_cluster_token(
            ClusterToken::new(
                zeroize::Zeroizing::new(CLUSTER_TOKEN.into()),
                "K3S_TOKEN in config/env/lab.env",
            )
            .unwrap(),
        )
    }

    pub fn node(&self, name: &str) -> &Node {
        self.nodes.iter().find(|n| n.name == name).unwrap()
    }

    /// Apply `stage`'s fresh plan, collecting events.
    pub async fn apply(
        &self,
        stage: &K3sStage,
        confirm: bool,
    ) -> (
        Result<homelab::stages::engine::RunSummary, homelab::stages::engine::StageError>,
        Vec<StageEvent>,
    ) {
        let plan = stage.plan().await.unwrap();
        self.apply_plan(stage, &plan, confirm).await
    }

    pub async fn apply_plan(
        &self,
        stage: &K3sStage,
        plan: &homelab::stages::engine::Plan,
        confirm: bool,
    ) -> (
        Result<homelab::stages::engine::RunSummary, homelab::stages::engine::StageError>,
        Vec<StageEvent>,
    ) {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let collect = tokio::spawn(async move {
            let mut v = vec![];
            while let Some(e) = rx.recv().await {
                v.push(e);
            }
            v
        });
        let run = RunCx::new(tx, Journal::at(&self.journal).unwrap())
            .with_confirm(Arc::new(AutoConfirm(confirm)));
        let res = stage.apply(plan, &run).await;
        drop(run);
        (res, collect.await.unwrap())
    }

    /// What swap looks like on every node (swapon --show, fstab, swapoff calls).
    pub fn swap_state(&self) -> Vec<(String, String, String, Option<String>)> {
        self.nodes
            .iter()
            .map(|n| {
                (
                    n.exec("swapon --show").unwrap(),
                    n.exec("cat /proc/swaps").unwrap(),
                    n.read_file("/etc/fstab").unwrap_or_default(),
                    n.read_file("/var/lib/homelab-test/swapoff-calls"),
                )
            })
            .collect()
    }
}

pub fn ready() -> bool {
    nodes::have_sshd() && nodes::have_netns() && nodes::have_sudo()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ha_servers_then_parallel_agents_with_token_flow_swap_untouched_and_idempotent() {
    if !ready() {
        return;
    }
    let lab = Lab::start(2, 2).await;
    // The operator already has another cluster in ~/.kube/config: it must survive.
    std::fs::create_dir_all(lab.kubeconfig.parent().unwrap()).unwrap();
    let other = "apiVersion: v1\nkind: Config\ncurrent-context: work\nclusters:\n- name: work\n  cluster: {server: 'https://work.example:6443'}\nusers:\n- name: work\n  user: {token: work-token}\ncontexts:\n- name: work\n  context: {cluster: work, user: work}\n";
    std::fs::write(&lab.kubeconfig, other).unwrap();
    // The agents' installers only finish once both are running: sequential joins would fail.
    let gate = lab.wd.path().join("agents-gate");
    std::fs::create_dir_all(&gate).unwrap();
    for n in lab.nodes.iter().filter(|n| n.name.contains("agent")) {
        n.exec(&format!(
            "echo '{} 2' > /etc/homelab-stub-gate",
            gate.display()
        ))
        .unwrap();
    }
    let swap_before = lab.swap_state();
    assert!(
        swap_before[0].0.contains("/swap.img"),
        "{:?}",
        swap_before[0]
    );

    let stage = lab.stage();
    let checks = stage.preflight().await;
    let fails: Vec<_> = checks
        .iter()
        .filter(|c| c.status == CheckStatus::Fail)
        .collect();
    assert!(fails.is_empty(), "{fails:#?}");
    let swap = checks
        .iter()
        .find(|c| c.id == "node/k3s-agent-1/swap")
        .unwrap();
    assert!(
        swap.detail.starts_with("ON, 2.0 GiB - left on by policy"),
        "{}",
        swap.detail
    );

    let plan = stage.plan().await.unwrap();
    let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "k3s-server-1/swap-config",
            "k3s-server-1/install",
            "k3s-server-2/swap-config",
            "k3s-server-2/join",
            "k3s-agent-1/swap-config",
            "k3s-agent-1/join",
            "k3s-agent-2/swap-config",
            "k3s-agent-2/join",
            "cluster/kubeconfig",
            "cluster/ready",
        ]
    );
    let all_calls = plan
        .steps
        .iter()
        .flat_map(|s| s.calls.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !all_calls.contains("swapoff") && !all_calls.contains("fstab"),
        "{all_calls}"
    );

    let (res, events) = lab.apply_plan(&stage, &plan, true).await;
    let summary = res.unwrap_or_else(|e| panic!("{}\n{:?}", e.message, e.hint));
    assert_eq!(summary.changed, 10);

    // First server: cluster-init, pinned version, no token given.
    let s1 = calls(lab.node("k3s-server-1"));
    assert_eq!(s1.len(), 1);
    let api = format!("https://127.0.0.1:{}", lab.sim.addr.port());
    assert_eq!(
        s1[0].args,
        format!(
            "server --cluster-init --tls-san 127.0.0.1 --disable traefik --disable servicelb --write-kubeconfig-mode 0600 --https-listen-port {} --kubelet-arg=fail-swap-on=false --disable=local-storage --disable=metrics-server",
            lab.sim.addr.port()
        )
    );
    assert_eq!(
        s1[0].env.get("INSTALL_K3S_VERSION").map(String::as_str),
        Some(VERSION)
    );
    // The first server gets the env file's K3S_TOKEN (k3s reads it as --token), never in argv.
    assert_eq!(
        s1[0].env.get("K3S_TOKEN").map(String::as_str),
        Some(CLUSTER_TOKEN)
    );
    assert!(!s1[0].args.contains(CLUSTER_TOKEN));
    assert_eq!(s1[0].uid, "0", "installed as root through sudo");
    let token = lab
        .node("k3s-server-1")
        .read_file("/var/lib/rancher/k3s/server/node-token")
        .unwrap();
    let token = token.trim();
    assert!(
        token.starts_with("K10") && token.ends_with(&format!("::server:{CLUSTER_TOKEN}")),
        "{token}"
    );

    let s2 = calls(lab.node("k3s-server-2"));
    assert_eq!(
        s2[0].args,
        format!(
            "server --server {api} --tls-san 127.0.0.1 --disable traefik --disable servicelb --write-kubeconfig-mode 0600 --https-listen-port {} --kubelet-arg=fail-swap-on=false --disable=local-storage --disable=metrics-server",
            lab.sim.addr.port()
        )
    );
    assert_eq!(s2[0].env.get("K3S_TOKEN").map(String::as_str), Some(token));
    assert!(!s2[0].env.contains_key("K3S_URL"));
    for a in ["k3s-agent-1", "k3s-agent-2"] {
        let c = calls(lab.node(a));
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].args, "agent --kubelet-arg=fail-swap-on=false");
        assert_eq!(c[0].env.get("K3S_TOKEN").map(String::as_str), Some(token));
        assert_eq!(c[0].env.get("K3S_URL"), Some(&api));
        assert_eq!(
            c[0].env.get("INSTALL_K3S_VERSION").map(String::as_str),
            Some(VERSION)
        );
        // The kubelet drop-in is in place.
        let dropin = lab
            .node(a)
            .read_file("/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-homelab-swap.conf")
            .unwrap();
        assert!(
            dropin.contains("failSwapOn: false") && dropin.contains("swapBehavior: LimitedSwap")
        );
    }
    // Agents ran concurrently: their installer runs overlap; servers ran before them.
    let (a1, a2) = (
        &calls(lab.node("k3s-agent-1"))[0],
        &calls(lab.node("k3s-agent-2"))[0],
    );
    assert!(
        a1.start < a2.end && a2.start < a1.end,
        "agents did not overlap: {a1:?} {a2:?}"
    );
    assert!(s2[0].end <= a1.start.min(a2.start));

    // The token never reached the event log.
    let text: String = events.iter().map(|e| format!("{:?}\n", e.kind)).collect();
    assert!(!text.contains(token), "token leaked into events");
    assert!(
        !text.contains(CLUSTER_TOKEN),
        "cluster token leaked into events"
    );
    let journal = std::fs::read_to_string(&lab.journal).unwrap();
    assert!(!journal.contains(CLUSTER_TOKEN) && !journal.contains(token));
    let plan_text = format!("{plan:?}");
    assert!(
        !plan_text.contains(CLUSTER_TOKEN),
        "cluster token in the plan"
    );
    assert!(text.contains("K3S_TOKEN=••••"));

    // kubeconfig: ours added, the other context kept, a backup written, current-context kept.
    let kc = homelab::backends::kube::kubeconfig::load(&lab.kubeconfig).unwrap();
    let names: Vec<_> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, vec!["work", "lab"]);
    assert_eq!(kc.current_context.as_deref(), Some("work"));
    let lab_cluster = kc.clusters.iter().find(|c| c.name == "lab").unwrap();
    assert_eq!(
        lab_cluster.cluster.as_ref().unwrap().server.as_deref(),
        Some(api.as_str())
    );
    let backups: Vec<_> = std::fs::read_dir(lab.kubeconfig.parent().unwrap())
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.homelab-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read_to_string(backups[0].path()).unwrap(), other);

    // Verify reads the observed state (k3s versions over SSH, Ready through kube-rs).
    let checks = stage.verify().await.unwrap();
    assert!(
        checks.iter().all(|c| c.status == CheckStatus::Pass),
        "{checks:#?}"
    );
    assert_eq!(
        checks.iter().filter(|c| c.id.ends_with("/ready")).count(),
        4
    );
    assert_eq!(
        checks.iter().filter(|c| c.id.ends_with("/swap")).count(),
        4,
        "verify reports swap still on for every node"
    );

    // Nothing touched swap.
    assert_eq!(lab.swap_state(), swap_before);
    assert!(swap_before.iter().all(|s| s.3.is_none()));

    // Second run: everything holds, the installer is not called again.
    let stage = lab.stage();
    let plan = stage.plan().await.unwrap();
    assert!(
        plan.steps
            .iter()
            .filter(|s| s.subject != "cluster")
            .all(|s| s.intent == Intent::Verify)
    );
    let (res, events) = lab.apply_plan(&stage, &plan, false).await;
    let summary = res.unwrap();
    assert_eq!(
        (summary.changed, summary.held),
        (1, 9),
        "only the Ready wait runs"
    );
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::StepDone { outcome: Outcome::Held, step } if step == "k3s-agent-2/join")));
    for n in &lab.nodes {
        assert_eq!(calls(n).len(), 1, "{} installed twice", n.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killed_mid_stage_then_run_again_resumes_and_finishes() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 3).await;
    for n in lab.nodes.iter().filter(|n| n.name.contains("agent")) {
        n.exec("echo 2 > /etc/homelab-stub-sleep").unwrap();
    }
    let stage = Arc::new(lab.stage());
    let plan = stage.plan().await.unwrap();
    let run = {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
        RunCx::new(tx, Journal::at(&lab.journal).unwrap()).with_confirm(Arc::new(AutoConfirm(true)))
    };
    let task = {
        let (stage, plan, run) = (stage.clone(), plan.clone(), run.clone());
        tokio::spawn(async move { stage.apply(&plan, &run).await })
    };
    // Kill once the agents' installers are running (the server is done).
    let marker = lab
        .node("k3s-agent-1")
        .dir
        .join("up/var/lib/homelab-test/calls/1.partial");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "agents never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
    let _ = task.await;
    drop(stage);
    // The aborted run left a journal that says it started and never finished.
    let journal = std::fs::read_to_string(&lab.journal).unwrap();
    assert!(journal.contains("\"k3s-server-1/install\"") && !journal.contains("run_finished"));

    // A fresh stage (a new process would be the same) picks up where it stopped.
    let stage = lab.stage();
    let (res, events) = lab.apply(&stage, true).await;
    res.unwrap_or_else(|e| panic!("{}", e.message));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::StepDone { outcome: Outcome::Held, step } if step == "k3s-server-1/install")));
    assert_eq!(
        calls(lab.node("k3s-server-1")).len(),
        1,
        "the server was not reinstalled"
    );
    for n in lab.nodes.iter().filter(|n| n.name.contains("agent")) {
        let c = calls(n);
        assert!(!c.is_empty(), "{} never installed", n.name);
        assert_eq!(
            n.exec("k3s --version | head -n1").unwrap().trim(),
            format!("k3s version {VERSION} (stub)")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failing_agent_reports_command_and_stderr_others_finish_then_retry_that_node() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 2).await;
    lab.node("k3s-agent-2")
        .exec("echo 'Failed to download k3s-agent binary: 503' > /etc/homelab-stub-fail")
        .unwrap();
    let stage = lab.stage();
    let (res, events) = lab.apply(&stage, true).await;
    let err = res.unwrap_err();
    assert!(
        err.message.starts_with("k3s-agent-2: `sudo sh -c "),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("exited with status 1"),
        "{}",
        err.message
    );
    assert!(
        err.message
            .contains("[ERROR]  Failed to download k3s-agent binary: 503"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("K3S_TOKEN=••••"),
        "the command is shown masked: {}",
        err.message
    );
    let token = lab
        .node("k3s-server-1")
        .read_file("/var/lib/rancher/k3s/server/node-token")
        .unwrap();
    assert!(!err.message.contains(token.trim()));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::StepDone { step, outcome: Outcome::Changed } if step == "k3s-agent-1/join")), "the healthy agent finished");
    assert!(events.iter().any(
        |e| matches!(&e.kind, EventKind::StepFailed { step, .. } if step == "k3s-agent-2/join")
    ));
    assert!(!events.iter().any(
        |e| matches!(&e.kind, EventKind::StepStarted { step, .. } if step == "cluster/kubeconfig")
    ));

    // Fix the node, retry only that node.
    lab.node("k3s-agent-2")
        .exec("rm /etc/homelab-stub-fail")
        .unwrap();
    let plan = stage.plan().await.unwrap();
    let only = K3sStage::plan_for_node(&plan, "k3s-agent-2");
    assert!(only.steps.iter().all(|s| s.subject == "k3s-agent-2"));
    let (res, _) = lab.apply_plan(&stage, &only, true).await;
    res.unwrap();
    assert_eq!(calls(lab.node("k3s-agent-1")).len(), 1);
    assert_eq!(
        calls(lab.node("k3s-agent-2")).len(),
        1,
        "the failed call never finished recording"
    );
    assert!(
        lab.node("k3s-agent-2")
            .dir
            .join("up/var/lib/homelab-test/calls/1.partial")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn upgrade_is_offered_asks_and_checksum_mismatch_stops() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 1).await;
    let mut old = lab.cluster.clone();
    old.k3s.version = "v1.32.3+k3s1".into();
    let (res, _) = lab.apply(&lab.stage_with(old), true).await;
    res.unwrap();

    let stage = lab.stage();
    let plan = stage.plan().await.unwrap();
    let join = plan.step("k3s-agent-1/join").unwrap();
    assert_eq!(join.intent, Intent::Change);
    assert_eq!(
        join.note.as_deref(),
        Some("upgrade v1.32.3+k3s1 -> v1.33.5+k3s1 (asks first)")
    );
    let (res, _) = lab.apply_plan(&stage, &plan, false).await;
    let err = res.unwrap_err();
    assert!(
        err.message
            .contains("upgrade v1.32.3+k3s1 -> v1.33.5+k3s1 declined"),
        "{}",
        err.message
    );
    assert_eq!(
        calls(lab.node("k3s-server-1")).len(),
        1,
        "nothing ran without consent"
    );
    let (res, _) = lab.apply_plan(&stage, &plan, true).await;
    res.unwrap();
    let c = calls(lab.node("k3s-agent-1"));
    assert_eq!(c.len(), 2);
    assert_eq!(
        c[1].env.get("INSTALL_K3S_VERSION").map(String::as_str),
        Some(VERSION)
    );

    // A script that is not the pinned one is refused before it runs.
    let mut tampered = lab.cluster.clone();
    tampered.k3s.version = "v1.34.1+k3s1".into();
    tampered.k3s.install.script_sha256 = Some("0".repeat(64));
    let (res, _) = lab.apply(&lab.stage_with(tampered), true).await;
    let err = res.unwrap_err();
    assert!(
        err.message.contains("install script checksum mismatch"),
        "{}",
        err.message
    );
    assert_eq!(calls(lab.node("k3s-server-1")).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn airgap_uploads_over_sftp_and_skips_the_download() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 1).await;
    let bin = lab.wd.path().join("k3s");
    std::fs::write(
        &bin,
        format!("#!/bin/sh\n[ \"$1\" = --version ] && echo \"k3s version {VERSION} (airgap)\"\n"),
    )
    .unwrap();
    let images = lab.wd.path().join("k3s-airgap-images-amd64.tar.zst");
    std::fs::write(&images, vec![7u8; 2 * 1024 * 1024]).unwrap();
    let c = airgap_cluster(&lab, &bin, &images);
    let stage = lab.stage_with(c);
    let checks = stage.preflight().await;
    assert!(
        checks
            .iter()
            .any(|c| c.id == "cluster/airgap" && c.status == CheckStatus::Pass)
    );
    let (res, events) = lab.apply(&stage, true).await;
    res.unwrap_or_else(|e| panic!("{}", e.message));
    for n in &lab.nodes {
        let call = &calls(n)[0];
        assert_eq!(
            call.env
                .get("INSTALL_K3S_SKIP_DOWNLOAD")
                .map(String::as_str),
            Some("true")
        );
        assert_eq!(
            n.exec("k3s --version").unwrap().trim(),
            format!("k3s version {VERSION} (airgap)")
        );
        assert_eq!(
            n.exec("sha256sum /var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst | cut -d' ' -f1").unwrap(),
            sh(&format!("sha256sum {} | cut -d' ' -f1", images.display())).unwrap()
        );
    }
    let progress = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Progress { .. }))
        .count();
    assert!(progress > 10, "uploads report progress ({progress} events)");
    // Issue 12: staged in a private mktemp -d directory, removed afterwards.
    for n in &lab.nodes {
        let call = &calls(n)[0];
        let staging = call.env.get("staging").cloned().unwrap_or_default();
        assert!(staging.starts_with("/tmp/homelab-k3s."), "{staging}");
        assert_eq!(
            call.env.get("staging_mode").map(String::as_str),
            Some("700")
        );
        assert_eq!(
            n.exec("ls -A /tmp").unwrap().trim(),
            "",
            "staging left behind"
        );
    }
}

/// A cluster definition for an air-gap install of `bin` and `images`, with a checksum file
/// (sha256sum-amd64.txt) that lists both as they are.
fn airgap_cluster(lab: &Lab, bin: &Path, images: &Path) -> ClusterConfig {
    let sums = lab.wd.path().join("sha256sum-amd64.txt");
    let listing = sh(&format!(
        "cd {} && sha256sum {} {}",
        lab.wd.path().display(),
        bin.file_name().unwrap().to_string_lossy(),
        images.file_name().unwrap().to_string_lossy()
    ))
    .unwrap();
    std::fs::write(&sums, listing).unwrap();
    let mut c = lab.cluster.clone();
    c.k3s.install.mode = InstallMode::Airgap;
    c.k3s.install.airgap_binary = Some(bin.display().to_string());
    c.k3s.install.airgap_images = Some(images.display().to_string());
    c.k3s.install.airgap_script = Some(lab.stub.display().to_string());
    c.k3s.install.airgap_checksums = Some(sums.display().to_string());
    c
}

/// Issue 12: a k3s binary that is not the released one (the checksum file disagrees) is refused
/// on the node before it is installed, and the staging directory is removed anyway.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn airgap_refuses_a_binary_that_does_not_match_the_release_checksums() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 0).await;
    let bin = lab.wd.path().join("k3s");
    std::fs::write(&bin, "#!/bin/sh\necho released\n").unwrap();
    let images = lab.wd.path().join("k3s-airgap-images-amd64.tar.zst");
    std::fs::write(&images, vec![7u8; 4096]).unwrap();
    let c = airgap_cluster(&lab, &bin, &images);
    // Swapped after the checksum file was made: not the released binary.
    std::fs::write(
        &bin,
        format!("#!/bin/sh\necho \"k3s version {VERSION} (evil)\"\n"),
    )
    .unwrap();
    let (res, _) = lab.apply(&lab.stage_with(c), true).await;
    let err = res.unwrap_err();
    assert!(
        err.message.contains("k3s: checksum mismatch: expected ")
            && err.message.contains("(from sha256sum-amd64.txt), got "),
        "{}",
        err.message
    );
    let n = lab.node("k3s-server-1");
    assert!(calls(n).is_empty(), "the installer must not run");
    assert!(
        n.exec("test -e /usr/local/bin/k3s").is_err(),
        "k3s was installed"
    );
    assert_eq!(
        n.exec("ls -A /tmp").unwrap().trim(),
        "",
        "staging left behind"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cli_bootstrap_k3s_plan_then_yes_with_accept_new() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 1).await;
    let repo = lab.wd.path().join("repo");
    std::fs::create_dir_all(repo.join("config/clusters")).unwrap();
    let mut c = lab.cluster.clone();
    for vm in &mut c.vms {
        vm.memory_mib = 1024;
    }
    c.network.subnet = "10.213.0.0/16".into();
    c.network.gateway = "10.213.0.1".parse().unwrap();
    std::fs::write(
        repo.join("config/clusters/lab.yaml"),
        serde_yaml::to_string(&c).unwrap(),
    )
    .unwrap();
    let (secret, recipient) = homelab::secrets::keys::generate_identity();
    let (repo2, home, kube, state, age_key) = (
        repo.clone(),
        lab.op.home.clone(),
        lab.kubeconfig.clone(),
        lab.wd.path().join("state"),
        secret.to_string(),
    );
    let run = move |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_homelab"))
            .args(["--repo", &repo2.display().to_string()])
            .args(args)
            .env("HOME", &home)
            .env("KUBECONFIG", &kube)
            .env("HOMELAB_STATE_DIR", &state)
            .env("SOPS_AGE_KEY", &age_key)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove("SSH_AUTH_SOCK")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };
    // No env file yet: the stage is not built, and the message names the file and the key.
    let run0 = run.clone();
    let none =
        tokio::task::spawn_blocking(move || run0(&["bootstrap", "--stage", "k3s", "--plan"]))
            .await
            .unwrap();
    let both = format!(
        "{}{}",
        String::from_utf8_lossy(&none.stdout),
        String::from_utf8_lossy(&none.stderr)
    );
    assert!(!none.status.success(), "{both}");
    assert!(
        both.contains("config/env/lab.env does not exist, so there is no K3S_TOKEN"),
        "{both}"
    );
    assert!(calls(lab.node("k3s-server-1")).is_empty());
    // The env file as the secrets stage writes it (SOPS dotenv, age).
    std::fs::create_dir_all(repo.join("config/env")).unwrap();
    homelab::secrets::Opened::new_plain(
        &repo.join("config/env/lab.env"),
        homelab::secrets::Format::Dotenv,
        &format!("K3S_TOKEN={CLUSTER_TOKEN}\n"),
        homelab::secrets::metadata::CryptRule::default(),
        false,
        &[recipient],
    )
    .unwrap()
    .save()
    .unwrap();
    let run2 = run.clone();
    let plan =
        tokio::task::spawn_blocking(move || run2(&["bootstrap", "--stage", "k3s", "--plan"]))
            .await
            .unwrap();
    let out = String::from_utf8_lossy(&plan.stdout).into_owned();
    // Without --accept-new and without a terminal, unknown hosts are refused: preflight fails.
    assert_eq!(
        plan.status.code(),
        Some(1),
        "{out}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(
        out.contains("was not trusted"),
        "{out}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(!lab.op.home.join(".ssh/known_hosts").exists());

    let yes = tokio::task::spawn_blocking(move || {
        run(&["bootstrap", "--stage", "k3s", "--yes", "--accept-new"])
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&yes.stdout).into_owned();
    assert!(
        yes.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&yes.stderr)
    );
    assert!(out.contains("k3s-agent-1/join"), "{out}");
    assert!(out.contains("K3S_TOKEN=••••"), "{out}");
    let token = lab
        .node("k3s-server-1")
        .read_file("/var/lib/rancher/k3s/server/node-token")
        .unwrap();
    assert!(!out.contains(token.trim()), "token leaked to stdout");
    assert!(
        !out.contains(CLUSTER_TOKEN),
        "cluster token leaked to stdout"
    );
    assert_eq!(
        calls(lab.node("k3s-server-1"))[0]
            .env
            .get("K3S_TOKEN")
            .map(String::as_str),
        Some(CLUSTER_TOKEN),
        "the first server got the env file's token"
    );
    assert_eq!(calls(lab.node("k3s-agent-1")).len(), 1);
    assert!(lab.op.home.join(".ssh/known_hosts").exists());
}
