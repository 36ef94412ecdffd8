//! The k3s stage: from running Ubuntu VMs to a Ready k3s cluster over SSH, swap left ON.
//!
//! Steps (ids `<node>/<step>` or `cluster/<step>`):
//! 1. every node: `<node>/swap-config` writes the LimitedSwap/NoSwap kubelet drop-in (k3s >= 1.32),
//!    servers with `k3s.vip`: `<node>/kube-vip` writes the kube-vip static pod ([`kube_vip`]),
//!    `<node>/upload` (air-gap) puts the binary, images and install script in place over SFTP;
//! 2. the first server: `<node>/install` (pinned version, the env file's `K3S_TOKEN`
//!    ([`token`]), `--cluster-init` with several servers, `--tls-san`, traefik and servicelb
//!    disabled, `--kubelet-arg=fail-swap-on=false`);
//! 3. other servers: `<node>/join`, one at a time (etcd membership changes are serial);
//! 4. agents: `<node>/join`, all agents in PARALLEL (each agent's own steps in order);
//! 5. `cluster/kubeconfig`: fetch, rewrite the server address, merge into ~/.kube/config;
//! 6. `cluster/api-vip` (with `k3s.vip`): the API answers on the VIP, TLS against the cluster CA;
//! 7. `cluster/ready`: every node Ready through kube-rs.
//!
//! Each step first observes whether its effect holds (`k3s --version` equals the pinned version,
//! the drop-in has the expected content, the context is already merged), so a second run changes
//! nothing and a run killed half-way resumes where it stopped. A node on another version gets an
//! upgrade step that asks before it runs.
//!
//! Size: about 1200 lines. The commands and preflight facts are already in their own modules;
//! what is left is the plan, check and execute of the per-node steps, which share the node
//! table and its SSH sessions. Split it like `stages/proxmox/` when its next steps land.

pub mod airgap;
pub mod commands;
pub mod kube_vip;
pub mod preflight;
#[cfg(test)]
mod swap_policy;
pub mod token;

use crate::backends::kube::{kubeconfig, nodes as kube_nodes};
use crate::backends::ssh::{
    ExecOutcome, NodeShell, Prompter, RemoteCommand, RemoteShell, SshEnv, SshError, SshTarget,
    Stream,
};
use crate::config::{ClusterConfig, InstallMode, VmConfig, VmRole};
use crate::stages::engine::{
    Check, Holds, Intent, Plan, Prompt, RunCx, RunSummary, Stage, StageError, StageId, StageResult,
    Step, StepCx, Unit, begin_run, finish_run, run_step,
};
use async_trait::async_trait;
use commands::Role;
use preflight::NodeFacts;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};
use zeroize::Zeroizing;

/// A VM of the cluster and the shell that reaches it.
#[derive(Clone)]
pub struct K3sNode {
    pub vm: VmConfig,
    pub shell: Arc<dyn RemoteShell>,
}

/// Where the stage writes and how long it waits.
#[derive(Debug, Clone)]
pub struct K3sOptions {
    /// The operator's kubeconfig (`~/.kube/config`).
    pub kubeconfig: PathBuf,
    /// How long `cluster/ready` waits for every node.
    pub ready_timeout: Duration,
    /// How long a joining node waits for the first server's token to appear.
    pub token_timeout: Duration,
}

impl K3sOptions {
    /// `$KUBECONFIG` (first entry) or `~/.kube/config`.
    pub fn from_process() -> Self {
        let kubeconfig = std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).next())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
            .unwrap_or_else(|| PathBuf::from(".kube/config"));
        Self::with_kubeconfig(kubeconfig)
    }

    pub fn with_kubeconfig(kubeconfig: PathBuf) -> Self {
        Self {
            kubeconfig,
            ready_timeout: Duration::from_secs(300),
            token_timeout: Duration::from_secs(120),
        }
    }
}

pub struct K3sStage {
    cluster: ClusterConfig,
    nodes: Vec<K3sNode>,
    opts: K3sOptions,
    /// `K3S_TOKEN` of the env file: every server is installed with it.
    cluster_token: Option<token::TokenSource>,
    /// The token once loaded from its source; memory only.
    loaded_token: Mutex<Option<token::ClusterToken>>,
    /// The join token, read from the first server when first needed; memory only.
    token: Mutex<Option<Zeroizing<String>>>,
    /// Air-gap: node name -> the private staging directory this run uploaded to.
    staging: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

/// Step kinds, parsed back from step ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StepKind {
    SwapConfig,
    KubeVip,
    Upload,
    Install,
    Join,
    Kubeconfig,
    ApiVip,
    Ready,
}

fn step_kind(step: &Step) -> Option<StepKind> {
    Some(match step.id.rsplit('/').next()? {
        "swap-config" => StepKind::SwapConfig,
        "kube-vip" => StepKind::KubeVip,
        "api-vip" => StepKind::ApiVip,
        "upload" => StepKind::Upload,
        "install" => StepKind::Install,
        "join" => StepKind::Join,
        "kubeconfig" => StepKind::Kubeconfig,
        "ready" => StepKind::Ready,
        _ => return None,
    })
}

/// Lines and progress from a sync callback, forwarded to the async step log.
enum Report {
    Line(String),
    Progress(u64, u64),
}

async fn forwarding<T>(
    cx: &StepCx,
    work: impl AsyncFnOnce(mpsc::UnboundedSender<Report>) -> T,
) -> T {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let forward = async {
        while let Some(r) = rx.recv().await {
            match r {
                Report::Line(l) => cx.log(l).await,
                Report::Progress(done, total) => cx.progress(done, Some(total), Unit::Bytes).await,
            }
        }
    };
    let (out, ()) = tokio::join!(work(tx), forward);
    out
}

/// An SSH shell per VM of `cluster` (the k3s and storage stages): per-node user and key from
/// the cluster config, the rest from ~/.ssh/config, ssh-agent and known_hosts in `env`, host
/// keys trusted through `prompter`.
pub fn node_shells(
    cluster: &ClusterConfig,
    env: Arc<SshEnv>,
    prompter: Arc<dyn Prompter>,
) -> Vec<K3sNode> {
    cluster
        .vms
        .iter()
        .map(|vm| {
            let target = SshTarget {
                alias: vm.ip.to_string(),
                user: Some(
                    vm.ssh_user
                        .clone()
                        .unwrap_or_else(|| cluster.ssh.user.clone()),
                ),
                port: (cluster.ssh.port != 22).then_some(cluster.ssh.port),
                identity_file: vm
                    .identity_file
                    .clone()
                    .or_else(|| cluster.ssh.identity_file.clone()),
            };
            K3sNode {
                vm: vm.clone(),
                shell: Arc::new(NodeShell::new(env.clone(), target, prompter.clone())),
            }
        })
        .collect()
}

pub(crate) fn ssh_error(node: &str, e: SshError) -> StageError {
    let hint = match &e {
        SshError::HostKeyChanged(_) => "known_hosts was left as it is; the run stopped",
        SshError::HostKeyNotTrusted { .. } => {
            "trust the host key in the prompt, or pass --accept-new"
        }
        SshError::HostKeyStrict { .. } => {
            "record the key (ssh-keyscan, after checking it on the node), or set \
             StrictHostKeyChecking accept-new for the host in ~/.ssh/config"
        }
        SshError::AuthFailed { .. } => {
            "check ssh.user / identity_file in the cluster config and ssh-agent"
        }
        SshError::Sudo { .. } => "the login user needs sudo rights on the node",
        _ if e.is_transient() => "the node may be booting or unreachable; retry the node",
        _ => "see the message above",
    };
    StageError::new(format!("{node}: {e}")).with_hint(hint)
}

pub(crate) fn failed_command(node: &str, cmd: &RemoteCommand, out: &ExecOutcome) -> StageError {
    let status = match (out.exit_status, &out.exit_signal) {
        (Some(s), _) => format!("exited with status {s}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        (None, None) => "ended without an exit status".into(),
    };
    let tail: Vec<&str> = out.stderr.lines().rev().take(20).collect();
    let stderr: Vec<&str> = tail.into_iter().rev().collect();
    StageError::new(format!(
        "{node}: `{}` {status}\nstderr:\n{}",
        cmd.display(),
        if stderr.is_empty() {
            "(empty)".to_string()
        } else {
            stderr.join("\n")
        }
    ))
    .with_hint("fix the cause on the node, then retry the node (r)")
}

impl K3sStage {
    pub fn new(cluster: ClusterConfig, nodes: Vec<K3sNode>, opts: K3sOptions) -> Self {
        Self {
            cluster,
            nodes,
            opts,
            cluster_token: None,
            loaded_token: Mutex::new(None),
            token: Mutex::new(None),
            staging: Default::default(),
        }
    }

    /// Real SSH shells for every VM: per-node user and key from the cluster config, the rest
    /// from ~/.ssh/config, ssh-agent and known_hosts in `env`.
    pub fn over_ssh(
        cluster: ClusterConfig,
        env: Arc<SshEnv>,
        prompter: Arc<dyn Prompter>,
        opts: K3sOptions,
    ) -> Self {
        let nodes = node_shells(&cluster, env, prompter);
        Self::new(cluster, nodes, opts)
    }

    pub fn cluster(&self) -> &ClusterConfig {
        &self.cluster
    }

    /// The cluster token (`K3S_TOKEN` of the env file) every server is installed with.
    pub fn with_cluster_token(self, token: token::ClusterToken) -> Self {
        self.with_token_source(token::TokenSource::Loaded(token))
    }

    /// Where the cluster token comes from (the env file, decrypted on first use).
    pub fn with_token_source(mut self, source: token::TokenSource) -> Self {
        self.cluster_token = Some(source);
        self
    }

    fn token_source_text(&self) -> String {
        self.cluster_token.as_ref().map_or_else(
            || format!("{} of config/env/{}.env", token::KEY, self.cluster.name),
            token::TokenSource::describe,
        )
    }

    /// The cluster token, loaded from its source the first time (on a blocking thread).
    async fn cluster_token(&self) -> StageResult<token::ClusterToken> {
        let mut slot = self.loaded_token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let hint = "run the secrets stage (it generates K3S_TOKEN) or `homelab env set`, then run this stage again";
        let Some(source) = self.cluster_token.clone() else {
            return Err(StageError::new(format!(
                "no cluster token: the k3s stage installs every server with {}",
                self.token_source_text()
            ))
            .with_hint(hint));
        };
        let t = tokio::task::spawn_blocking(move || source.load())
            .await
            .map_err(|e| StageError::new(format!("reading {}: {e}", token::KEY)))?
            .map_err(|e| StageError::new(e).with_hint(hint))?;
        *slot = Some(t.clone());
        Ok(t)
    }

    fn node(&self, name: &str) -> StageResult<&K3sNode> {
        self.nodes
            .iter()
            .find(|n| n.vm.name == name)
            .ok_or_else(|| StageError::new(format!("no node `{name}` in the cluster config")))
    }

    fn first_server(&self) -> StageResult<&K3sNode> {
        self.nodes
            .iter()
            .find(|n| n.vm.role == VmRole::Server)
            .ok_or_else(|| {
                StageError::new("the cluster config has no server VM")
                    .with_hint("give one VM `role: server` in config/clusters/*.yaml")
            })
    }

    fn role_of(&self, node: &K3sNode) -> Role {
        match node.vm.role {
            VmRole::Agent => Role::Agent,
            VmRole::Server => {
                if self.first_server().is_ok_and(|f| f.vm.name == node.vm.name) {
                    Role::FirstServer
                } else {
                    Role::JoinServer
                }
            }
        }
    }

    /// Run a command on `node`, streaming its output into the step log (when `cx` is given).
    /// Non-zero exits are errors naming the command and quoting stderr.
    async fn run(
        &self,
        node: &K3sNode,
        cmd: &RemoteCommand,
        cx: Option<&StepCx>,
    ) -> StageResult<ExecOutcome> {
        let name = &node.vm.name;
        let out = match cx {
            Some(cx) => {
                cx.log(format!("$ {}", cmd.display())).await;
                forwarding(cx, async |tx| {
                    let mut on_line = |l: crate::backends::ssh::OutputLine| {
                        let text = match l.stream {
                            Stream::Stdout => l.text,
                            Stream::Stderr => format!("! {}", l.text),
                        };
                        let _ = tx.send(Report::Line(text));
                    };
                    node.shell.run(cmd, &mut on_line).await
                })
                .await
            }
            None => node.shell.run(cmd, &mut |_| {}).await,
        }
        .map_err(|e| ssh_error(name, e))?;
        if !out.success() {
            return Err(failed_command(name, cmd, &out));
        }
        Ok(out)
    }

    /// A command whose output must not reach any log (token, kubeconfig).
    async fn run_silent(&self, node: &K3sNode, cmd: &RemoteCommand) -> StageResult<ExecOutcome> {
        let out = node
            .shell
            .run(cmd, &mut |_| {})
            .await
            .map_err(|e| ssh_error(&node.vm.name, e))?;
        if !out.success() {
            let redacted = ExecOutcome {
                stdout: String::new(),
                ..out
            };
            return Err(failed_command(&node.vm.name, cmd, &redacted));
        }
        Ok(out)
    }

    async fn installed_version(&self, node: &K3sNode) -> StageResult<Option<String>> {
        let out = self.run(node, &commands::probe_version(), None).await?;
        Ok(commands::installed_version(&out.stdout))
    }

    /// The join token from the first server (waits for it to appear after the install).
    async fn token(&self, cx: &StepCx) -> StageResult<Zeroizing<String>> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            return Ok(t.clone());
        }
        let first = self.first_server()?;
        let deadline = tokio::time::Instant::now() + self.opts.token_timeout;
        let mut backoff = crate::stages::poll::Backoff::new(Duration::from_secs(2));
        loop {
            match self.run_silent(first, &commands::read_token()).await {
                Ok(out) if !out.stdout.trim().is_empty() => {
                    let t = Zeroizing::new(out.stdout.trim().to_string());
                    let ours = self.cluster_token().await?;
                    if !ours.matches(&t) {
                        return Err(StageError::new(format!(
                            "{}: {} does not carry {}: the cluster was created with another token",
                            first.vm.name,
                            commands::TOKEN_PATH,
                            ours.source
                        ))
                        .with_hint(format!(
                            "set {} to the cluster's token (the part after `::server:` in {} on {}) with `homelab env set`, then retry",
                            token::KEY,
                            commands::TOKEN_PATH,
                            first.vm.name
                        )));
                    }
                    cx.log(format!(
                        "join token read from {}:{} (kept in memory only)",
                        first.vm.name,
                        commands::TOKEN_PATH
                    ))
                    .await;
                    *slot = Some(t.clone());
                    return Ok(t);
                }
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(e.context("reading the join token"));
                }
                _ if tokio::time::Instant::now() >= deadline => {
                    return Err(StageError::new(format!(
                        "{}: {} is empty",
                        first.vm.name,
                        commands::TOKEN_PATH
                    )));
                }
                _ => cx.sleep(backoff.next_interval()).await?,
            }
        }
    }

    fn wants_dropin(&self) -> bool {
        commands::supports_dropin(&self.cluster.k3s.version)
    }

    /// The server URL written into the operator's kubeconfig.
    fn kube_server(&self) -> String {
        commands::server_url(&self.cluster)
    }

    async fn fetch_kubeconfig(&self) -> StageResult<kube::config::Kubeconfig> {
        let first = self.first_server()?;
        let out = self.run_silent(first, &commands::read_kubeconfig()).await?;
        kubeconfig::rewrite(&out.stdout, &self.cluster.name, &self.kube_server())
            .map_err(|e| StageError::new(format!("{}: {e}", first.vm.name)))
    }

    /// Steps of one node, given what is installed there now.
    fn node_steps(&self, node: &K3sNode, installed: &Result<Option<String>, String>) -> Vec<Step> {
        let name = &node.vm.name;
        let k = &self.cluster.k3s;
        let role = self.role_of(node);
        let mut steps = Vec::new();
        let at_version = matches!(installed, Ok(Some(v)) if *v == k.version);
        if self.wants_dropin() {
            steps.push(
                Step::new(
                    format!("{name}/swap-config"),
                    name,
                    if at_version {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    format!(
                        "Kubelet swap drop-in ({:?}, swap stays on)",
                        k.swap_behavior
                    ),
                )
                .call(commands::write_dropin(k.swap_behavior).display()),
            );
        }
        if role != Role::Agent
            && let Some(write) = commands::write_kube_vip(&self.cluster)
        {
            steps.push(
                Step::new(
                    format!("{name}/kube-vip"),
                    name,
                    if at_version {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    format!(
                        "kube-vip static pod (API VIP {})",
                        self.cluster.api_address()
                    ),
                )
                .call(write.display()),
            );
        }
        if k.install.mode == InstallMode::Airgap {
            steps.push(
                Step::new(
                    format!("{name}/upload"),
                    name,
                    if at_version {
                        Intent::Verify
                    } else {
                        Intent::Create
                    },
                    "Upload k3s binary, images and install script (SFTP, private mktemp -d)",
                )
                .call(airgap::make_dir().display())
                .call(format!(
                    "sftp put {} {}/k3s",
                    k.install.airgap_binary.as_deref().unwrap_or("?"),
                    airgap::STAGING_TEMPLATE
                ))
                .call(format!(
                    "sftp put {} {}/images/",
                    k.install.airgap_images.as_deref().unwrap_or("?"),
                    airgap::STAGING_TEMPLATE
                ))
                .call(format!(
                    "sftp put {} {}/install.sh",
                    k.install.airgap_script.as_deref().unwrap_or("?"),
                    airgap::STAGING_TEMPLATE
                )),
            );
        }
        let (suffix, title) = match role {
            Role::FirstServer => (
                "install",
                format!("Install k3s {} (first server)", k.version),
            ),
            Role::JoinServer => ("join", format!("Join as server ({})", k.version)),
            Role::Agent => ("join", format!("Join as agent ({})", k.version)),
        };
        let (intent, note) = match installed {
            Ok(Some(v)) if *v == k.version => {
                (Intent::Verify, Some(format!("{v} already installed")))
            }
            Ok(Some(v)) => (
                Intent::Change,
                Some(format!("upgrade {v} -> {} (asks first)", k.version)),
            ),
            Ok(None) => (Intent::Create, None),
            Err(e) => (
                Intent::Create,
                Some(format!("not reachable while planning: {e}")),
            ),
        };
        let token = match role {
            Role::FirstServer => "<K3S_TOKEN>",
            _ => "<node-token>",
        };
        let mut step = Step::new(format!("{name}/{suffix}"), name, intent, title);
        if role == Role::FirstServer {
            step = step.call(format!(
                "cluster token: {} (kept in memory, masked)",
                self.token_source_text()
            ));
        } else {
            step = step.call(format!(
                "sudo cat {} on {} (token kept in memory, masked)",
                commands::TOKEN_PATH,
                self.first_server()
                    .map(|f| f.vm.name.as_str())
                    .unwrap_or("?")
            ));
        }
        step = step.call(commands::install(&self.cluster, &role, Some(token), None).display());
        if let Some(n) = note {
            step = step.with_note(n);
        }
        steps.push(step);
        steps
    }

    /// The plan restricted to one node's steps (retry a node).
    pub fn plan_for_node(plan: &Plan, node: &str) -> Plan {
        Plan {
            stage: plan.stage,
            steps: plan
                .steps
                .iter()
                .filter(|s| s.subject == node)
                .cloned()
                .collect(),
            notes: plan.notes.clone(),
        }
    }

    async fn check_install(&self, node: &K3sNode) -> StageResult<Holds> {
        let want = &self.cluster.k3s.version;
        Ok(match self.installed_version(node).await? {
            Some(v) if v == *want => Holds::Yes(format!("k3s {v} installed")),
            Some(v) => Holds::No(format!("k3s {v} installed, config pins {want}")),
            None => Holds::No("k3s is not installed".into()),
        })
    }

    async fn execute_install(&self, node: &K3sNode, cx: &StepCx) -> StageResult<()> {
        let want = &self.cluster.k3s.version;
        if let Some(v) = self.installed_version(node).await?
            && v != *want
        {
            let prompt = Prompt {
                title: format!("Upgrade k3s on {}?", node.vm.name),
                detail: format!(
                    "{} runs {v}; the cluster config pins {want}. Upgrading restarts k3s on this node.",
                    node.vm.name
                ),
                type_to_confirm: None,
            };
            if !cx.confirm(&prompt).await {
                return Err(StageError::new(format!(
                    "{}: upgrade {v} -> {want} declined; k3s left at {v}",
                    node.vm.name
                ))
                .with_hint(
                    "pin the installed version in the cluster config, or accept the upgrade",
                ));
            }
            cx.log(format!("upgrading {v} -> {want}")).await;
        }
        let role = self.role_of(node);
        let staging = self.staged(node)?;
        let cmd = match role {
            Role::FirstServer => {
                let ours = self.cluster_token().await?;
                cx.log(format!("cluster token: {} (masked)", ours.source))
                    .await;
                commands::install(
                    &self.cluster,
                    &role,
                    Some(ours.value.as_str()),
                    staging.as_ref(),
                )
            }
            _ => {
                let token = self.token(cx).await?;
                commands::install(&self.cluster, &role, Some(token.as_str()), staging.as_ref())
            }
        };
        cx.note("version", want)?;
        self.run(node, &cmd, Some(cx)).await?;
        let now = self.installed_version(node).await?;
        if now.as_deref() != Some(want.as_str()) {
            return Err(StageError::new(format!(
                "{}: the installer finished but `k3s --version` reports {}",
                node.vm.name,
                now.as_deref().unwrap_or("nothing")
            )));
        }
        Ok(())
    }

    async fn check_dropin(&self, node: &K3sNode) -> StageResult<Holds> {
        let want = commands::swap_dropin(self.cluster.k3s.swap_behavior);
        self.check_file(node, &commands::read_dropin(), commands::DROPIN_FILE, &want)
            .await
    }

    async fn check_kube_vip(&self, node: &K3sNode) -> StageResult<Holds> {
        let Some(vip) = &self.cluster.k3s.vip else {
            return Ok(Holds::Yes("no k3s.vip in the cluster config".into()));
        };
        let want = kube_vip::manifest(&self.cluster, vip);
        self.check_file(
            node,
            &commands::read_kube_vip(),
            kube_vip::MANIFEST_FILE,
            &want,
        )
        .await
    }

    /// Does the file `read` prints (`path`) on `node` hold exactly `want`?
    async fn check_file(
        &self,
        node: &K3sNode,
        read: &RemoteCommand,
        path: &str,
        want: &str,
    ) -> StageResult<Holds> {
        let out = self.run(node, read, None).await?;
        Ok(if out.stdout == want {
            Holds::Yes(format!("{path} has the expected content"))
        } else if out.stdout.is_empty() {
            Holds::No(format!("{path} is missing"))
        } else {
            Holds::No(format!("{path} differs; rewriting it"))
        })
    }

    /// `GET /version` on the API address (the VIP) through kube-rs, with the merged kubeconfig
    /// context: TLS is checked against the cluster CA, and the certificate must name the VIP.
    async fn probe_api(&self) -> Result<String, String> {
        let client = kube_nodes::client_for(&self.opts.kubeconfig, &self.cluster.name).await?;
        client
            .apiserver_version()
            .await
            .map(|v| {
                format!(
                    "{} answers ({}); its certificate checked against the cluster CA",
                    self.kube_server(),
                    v.git_version
                )
            })
            .map_err(|e| format!("GET {}/version: {e}", self.kube_server()))
    }

    async fn execute_api_vip(&self, cx: &StepCx) -> StageResult<()> {
        let deadline = tokio::time::Instant::now() + self.opts.ready_timeout;
        let mut backoff = crate::stages::poll::Backoff::new(Duration::from_secs(2));
        loop {
            match self.probe_api().await {
                Ok(answer) => {
                    cx.log(answer).await;
                    return Ok(());
                }
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(StageError::new(format!(
                        "the API does not answer on the VIP after {}s: {e}",
                        self.opts.ready_timeout.as_secs()
                    ))
                    .with_hint(
                        "on a server: `sudo crictl logs $(sudo crictl ps -q --name kube-vip)`; check k3s.vip.interface and that the VIP is free on the LAN",
                    ));
                }
                Err(e) => {
                    cx.log(format!("waiting for the VIP: {e}")).await;
                    cx.sleep(backoff.next_interval()).await?;
                }
            }
        }
    }

    /// Air-gap: the staging directory this run uploaded to on `node`, with the hashes the node
    /// must see. `None` for online installs.
    fn staged(&self, node: &K3sNode) -> StageResult<Option<airgap::Staging>> {
        if self.cluster.k3s.install.mode != InstallMode::Airgap {
            return Ok(None);
        }
        let dir = self
            .staging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&node.vm.name)
            .cloned()
            .ok_or_else(|| {
                StageError::new(format!(
                    "{}: the air-gap files were not uploaded in this run",
                    node.vm.name
                ))
                .with_hint("retry the node; its upload step runs first")
            })?;
        airgap::staging(&self.cluster, &dir).map(Some).map_err(|e| {
            StageError::new(e).with_hint("fix the air-gap paths in the cluster config")
        })
    }

    /// (local file, name inside the staging directory, mode).
    fn airgap_files(&self) -> StageResult<Vec<(PathBuf, String, u32)>> {
        let i = &self.cluster.k3s.install;
        let need = |p: &Option<String>, what: &str| {
            p.clone().map(PathBuf::from).ok_or_else(|| {
                StageError::new(format!("k3s.install.{what} is not set"))
                    .with_hint("set it in the cluster config")
            })
        };
        let bin = need(&i.airgap_binary, "airgap_binary")?;
        let images = need(&i.airgap_images, "airgap_images")?;
        let script = need(&i.airgap_script, "airgap_script")?;
        let image_name = images
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "k3s-airgap-images.tar".into());
        Ok(vec![
            (bin, "k3s".into(), 0o755),
            (images, format!("images/{image_name}"), 0o644),
            (script, "install.sh".into(), 0o755),
        ])
    }

    async fn execute_upload(&self, node: &K3sNode, cx: &StepCx) -> StageResult<()> {
        let files = self.airgap_files()?;
        // The checksum file must list both files before anything is sent.
        airgap::staging(&self.cluster, airgap::STAGING_TEMPLATE).map_err(|e| {
            StageError::new(e).with_hint("download sha256sum-<arch>.txt of the pinned release")
        })?;
        let out = self.run(node, &airgap::make_dir(), Some(cx)).await?;
        let dir = airgap::parse_dir(&out.stdout)
            .map_err(|e| StageError::new(format!("{}: {e}", node.vm.name)))?;
        let sent = self.upload_to(node, &dir, files, cx).await;
        if sent.is_err() {
            let _ = self.run(node, &airgap::remove_dir(&dir), None).await;
            return sent;
        }
        self.staging
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(node.vm.name.clone(), dir);
        Ok(())
    }

    async fn upload_to(
        &self,
        node: &K3sNode,
        dir: &str,
        files: Vec<(PathBuf, String, u32)>,
        cx: &StepCx,
    ) -> StageResult<()> {
        for (local, name, mode) in files {
            let remote = format!("{dir}/{name}");
            let mut f = tokio::fs::File::open(&local).await.map_err(|e| {
                StageError::new(format!("{}: {e}", local.display()))
                    .with_hint("check the air-gap paths in the cluster config")
            })?;
            let size = f.metadata().await.map(|m| m.len()).unwrap_or(0);
            cx.log(format!(
                "upload {} -> {}:{remote} ({size} bytes)",
                local.display(),
                node.vm.name
            ))
            .await;
            forwarding(cx, async |tx| {
                let mut progress = |done: u64, total: u64| {
                    let _ = tx.send(Report::Progress(done, total));
                };
                node.shell
                    .upload(&mut f, size, &remote, mode, &mut progress)
                    .await
            })
            .await
            .map_err(|e| ssh_error(&node.vm.name, e))?;
        }
        Ok(())
    }

    async fn check_kubeconfig(&self) -> StageResult<Holds> {
        let ours = self.fetch_kubeconfig().await?;
        let existing =
            kubeconfig::load(&self.opts.kubeconfig).map_err(|e| StageError::new(e.to_string()))?;
        Ok(
            match kubeconfig::merge_effect(&existing, &ours, &self.cluster.name) {
                kubeconfig::MergeEffect::AlreadyPresent => Holds::Yes(format!(
                    "context {} in {} is current",
                    self.cluster.name,
                    self.opts.kubeconfig.display()
                )),
                kubeconfig::MergeEffect::Added => Holds::No(format!(
                    "context {} not in {} yet",
                    self.cluster.name,
                    self.opts.kubeconfig.display()
                )),
                kubeconfig::MergeEffect::Replaces => Holds::No(format!(
                    "context {} in {} differs",
                    self.cluster.name,
                    self.opts.kubeconfig.display()
                )),
            },
        )
    }

    async fn execute_kubeconfig(&self, cx: &StepCx) -> StageResult<()> {
        let name = &self.cluster.name;
        let path = &self.opts.kubeconfig;
        let ours = self.fetch_kubeconfig().await?;
        let existing = kubeconfig::load(path).map_err(|e| StageError::new(e.to_string()))?;
        if kubeconfig::merge_effect(&existing, &ours, name) == kubeconfig::MergeEffect::Replaces {
            let prompt = Prompt {
                title: format!("Replace kubeconfig context {name}?"),
                detail: format!(
                    "{} already has a context, cluster or user named {name} with other content. \
                     Other contexts are kept; a backup is written first.",
                    path.display()
                ),
                type_to_confirm: None,
            };
            if !cx.confirm(&prompt).await {
                return Err(
                    StageError::new(format!("kubeconfig context {name} left unchanged"))
                        .with_hint("rename or remove the existing context, then retry"),
                );
            }
        }
        let merged = kubeconfig::merge(existing, ours, name);
        let backup = kubeconfig::save_with_backup(path, &merged)
            .map_err(|e| StageError::new(e.to_string()))?;
        if let Some(b) = backup {
            cx.log(format!(
                "backup of the previous kubeconfig: {}",
                b.display()
            ))
            .await;
        }
        cx.log(format!(
            "context {name} -> {} merged into {}",
            self.kube_server(),
            path.display()
        ))
        .await;
        Ok(())
    }

    fn expected_nodes(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.vm.name.clone()).collect()
    }

    async fn kube_client(&self) -> StageResult<kube::Client> {
        kube_nodes::client_for(&self.opts.kubeconfig, &self.cluster.name)
            .await
            .map_err(|e| StageError::new(e).with_hint("run the cluster/kubeconfig step first"))
    }

    async fn execute_ready(&self, cx: &StepCx) -> StageResult<()> {
        let client = self.kube_client().await?;
        let expected = self.expected_nodes();
        let res = forwarding(cx, async |tx| {
            let mut on_change = |r: &kube_nodes::NodeReadiness| {
                let state = if r.ready { "Ready" } else { "NotReady" };
                let _ = tx.send(Report::Line(format!(
                    "node {}: {state} {}",
                    r.name, r.detail
                )));
            };
            kube_nodes::wait_ready(&client, &expected, self.opts.ready_timeout, &mut on_change)
                .await
        })
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(last) => {
                let missing: Vec<String> = last
                    .iter()
                    .filter(|r| !r.ready)
                    .map(|r| format!("{} ({})", r.name, r.detail))
                    .collect();
                Err(StageError::new(format!(
                    "not Ready after {}s: {}",
                    self.opts.ready_timeout.as_secs(),
                    missing.join(", ")
                ))
                .with_hint("check `journalctl -u k3s` / `-u k3s-agent` on those nodes, then retry"))
            }
        }
    }

    /// Agents' subjects in plan order.
    fn is_agent(&self, subject: &str) -> bool {
        self.nodes
            .iter()
            .any(|n| n.vm.name == subject && n.vm.role == VmRole::Agent)
    }

    async fn apply_inner(&self, plan: &Plan, run: &RunCx) -> StageResult<RunSummary> {
        let mut summary = RunSummary::default();
        let (agents, others): (Vec<&Step>, Vec<&Step>) =
            plan.steps.iter().partition(|s| self.is_agent(&s.subject));
        let (before, after): (Vec<&Step>, Vec<&Step>) =
            others.into_iter().partition(|s| s.subject != "cluster");
        for step in before {
            if run.cancel.is_cancelled() {
                return Err(StageError::cancelled());
            }
            summary.count(run_step(self, step, run).await?);
        }
        // Agents in parallel; each agent's own steps in order. Every agent runs to its end even
        // when another fails, so one bad node does not leave the others half-done.
        let mut by_agent: Vec<(String, Vec<&Step>)> = Vec::new();
        for s in agents {
            match by_agent.iter_mut().find(|(n, _)| *n == s.subject) {
                Some((_, v)) => v.push(s),
                None => by_agent.push((s.subject.clone(), vec![s])),
            }
        }
        let results = futures::future::join_all(by_agent.iter().map(|(_, steps)| async move {
            let mut outcomes = Vec::new();
            for step in steps {
                if run.cancel.is_cancelled() {
                    return (outcomes, Err(StageError::cancelled()));
                }
                match run_step(self, step, run).await {
                    Ok(o) => outcomes.push(o),
                    Err(e) => return (outcomes, Err(e)),
                }
            }
            (outcomes, Ok(()))
        }))
        .await;
        let mut errors = Vec::new();
        for (outcomes, res) in results {
            outcomes.into_iter().for_each(|o| summary.count(o));
            if let Err(e) = res {
                errors.push(e);
            }
        }
        if let Some(first) = errors.first() {
            if errors.len() == 1 {
                return Err(first.clone());
            }
            let msgs: Vec<String> = errors.iter().map(|e| e.message.clone()).collect();
            return Err(StageError {
                message: format!("{} agents failed:\n{}", errors.len(), msgs.join("\n")),
                hint: first.hint.clone(),
                cancelled: errors.iter().all(|e| e.cancelled),
            });
        }
        for step in after {
            if run.cancel.is_cancelled() {
                return Err(StageError::cancelled());
            }
            summary.count(run_step(self, step, run).await?);
        }
        Ok(summary)
    }

    /// Facts of every node (in parallel); unreachable nodes give the error text.
    async fn gather_facts(&self) -> Vec<(String, Result<NodeFacts, String>)> {
        futures::future::join_all(self.nodes.iter().map(|n| async move {
            let res = self
                .run(n, &commands::preflight_probe(), None)
                .await
                .map(|o| NodeFacts::parse(&o.stdout))
                .map_err(|e| e.message);
            (n.vm.name.clone(), res)
        }))
        .await
    }
}

#[async_trait]
impl Stage for K3sStage {
    fn id(&self) -> StageId {
        StageId::K3s
    }

    async fn plan(&self) -> StageResult<Plan> {
        let first = self.first_server()?;
        let mut plan = Plan::new(StageId::K3s);
        let k = &self.cluster.k3s;
        plan.notes.push(format!(
            "k3s {} ({:?} install), API {} (tls-san), first server {}",
            k.version,
            k.install.mode,
            self.kube_server(),
            first.vm.name
        ));
        if let Some(vip) = &k.vip {
            plan.notes.push(format!(
                "API VIP {} on {} of every server: kube-vip static pod ({}, ARP, leader election)",
                vip.address,
                vip.interface,
                kube_vip::image(vip)
            ));
        }
        plan.notes.push(if self.wants_dropin() {
            format!(
                "swap stays ON: kubelet failSwapOn=false, swapBehavior {:?} via {}",
                k.swap_behavior,
                commands::DROPIN_FILE
            )
        } else {
            "swap stays ON: kubelet --fail-swap-on=false (k3s < 1.32: no drop-in, pods do not swap)"
                .into()
        });
        let installed = futures::future::join_all(
            self.nodes
                .iter()
                .map(|n| async move { self.installed_version(n).await.map_err(|e| e.message) }),
        )
        .await;
        let mut servers = Vec::new();
        let mut agents = Vec::new();
        for (n, inst) in self.nodes.iter().zip(&installed) {
            let steps = self.node_steps(n, inst);
            match self.role_of(n) {
                Role::FirstServer => servers.splice(0..0, steps),
                Role::JoinServer => servers.splice(servers.len().., steps),
                Role::Agent => agents.splice(agents.len().., steps),
            };
        }
        plan.steps.extend(servers);
        plan.steps.extend(agents);
        plan.steps.push(
            Step::new(
                "cluster/kubeconfig",
                "cluster",
                Intent::Create,
                "Merge kubeconfig context",
            )
            .call(format!(
                "sudo cat {} on {}",
                commands::KUBECONFIG_PATH,
                first.vm.name
            ))
            .call(format!(
                "rename default -> {n}, server -> {}, merge into {} (backup first)",
                self.kube_server(),
                self.opts.kubeconfig.display(),
                n = self.cluster.name
            )),
        );
        if k.vip.is_some() {
            plan.steps.push(
                Step::new(
                    "cluster/api-vip",
                    "cluster",
                    Intent::Wait,
                    "API answers on the VIP",
                )
                .call(format!(
                    "GET {}/version (kube-rs, TLS against the cluster CA)",
                    self.kube_server()
                )),
            );
        }
        plan.steps.push(
            Step::new("cluster/ready", "cluster", Intent::Wait, "Every node Ready")
                .call("GET /api/v1/nodes, then watch until Ready=True on every node"),
        );
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        let mut facts = Vec::new();
        for (name, res) in self.gather_facts().await {
            let Some(node) = self.nodes.iter().find(|n| n.vm.name == name) else {
                continue;
            };
            match res {
                Ok(f) => {
                    checks.push(Check::pass(
                        format!("node/{name}/reach"),
                        format!("{name}: SSH"),
                        format!("reached {}", node.vm.ip),
                    ));
                    checks.extend(preflight::node_checks(&self.cluster, &node.vm, &f));
                    facts.push((name, f));
                }
                Err(e) => checks.push(Check::fail(
                    format!("node/{name}/reach"),
                    format!("{name}: SSH"),
                    e,
                    "is the VM running and its IP right? try `ssh` to it with the same user and key",
                )),
            }
        }
        checks.extend(preflight::cluster_checks(&self.cluster, &facts));
        checks.push(match self.cluster_token().await {
            Ok(t) => Check::pass(
                "cluster/token",
                "Cluster token",
                format!("{} (kept in memory, masked)", t.source),
            ),
            Err(e) => Check::fail(
                "cluster/token",
                "Cluster token",
                e.message,
                e.hint.unwrap_or_default(),
            ),
        });
        checks
    }

    async fn check(&self, step: &Step, _cx: &StepCx) -> StageResult<Holds> {
        let kind = step_kind(step)
            .ok_or_else(|| StageError::new(format!("unknown k3s step `{}`", step.id)))?;
        match kind {
            StepKind::Kubeconfig => self.check_kubeconfig().await,
            StepKind::Ready => Ok(Holds::No("waiting for every node to be Ready".into())),
            StepKind::ApiVip => Ok(match self.probe_api().await {
                Ok(answer) => Holds::Yes(answer),
                Err(e) => Holds::No(e),
            }),
            StepKind::SwapConfig => self.check_dropin(self.node(&step.subject)?).await,
            StepKind::KubeVip => self.check_kube_vip(self.node(&step.subject)?).await,
            StepKind::Install | StepKind::Join => {
                self.check_install(self.node(&step.subject)?).await
            }
            StepKind::Upload => {
                let node = self.node(&step.subject)?;
                match self.check_install(node).await? {
                    Holds::Yes(d) => Ok(Holds::Yes(format!("{d}; nothing to upload"))),
                    _ => Ok(Holds::No("uploading the air-gap files".into())),
                }
            }
        }
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        let kind = step_kind(step)
            .ok_or_else(|| StageError::new(format!("unknown k3s step `{}`", step.id)))?;
        match kind {
            StepKind::Kubeconfig => self.execute_kubeconfig(cx).await,
            StepKind::Ready => self.execute_ready(cx).await,
            StepKind::ApiVip => self.execute_api_vip(cx).await,
            StepKind::KubeVip => {
                let node = self.node(&step.subject)?;
                let write = commands::write_kube_vip(&self.cluster).ok_or_else(|| {
                    StageError::new("no k3s.vip in the cluster config")
                        .with_hint("plan again: the step is planned only with k3s.vip")
                })?;
                self.run(node, &write, Some(cx)).await.map(|_| ())
            }
            StepKind::SwapConfig => {
                let node = self.node(&step.subject)?;
                self.run(
                    node,
                    &commands::write_dropin(self.cluster.k3s.swap_behavior),
                    Some(cx),
                )
                .await
                .map(|_| ())
            }
            StepKind::Upload => self.execute_upload(self.node(&step.subject)?, cx).await,
            StepKind::Install | StepKind::Join => {
                self.execute_install(self.node(&step.subject)?, cx).await
            }
        }
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let mut checks = Vec::new();
        let want = &self.cluster.k3s.version;
        for (name, res) in self.gather_facts().await {
            if let Ok(f) = &res {
                checks.push(if f.swap_kib > 0 {
                    Check::pass(
                        format!("node/{name}/swap"),
                        format!("{name}: swap"),
                        format!("still ON ({} KiB), untouched", f.swap_kib),
                    )
                } else {
                    Check::warn(
                        format!("node/{name}/swap"),
                        format!("{name}: swap"),
                        "OFF (homelab did not change it)",
                        "the Stage 1 design keeps swap on; add swap on the node if you want it",
                    )
                });
            }
            checks.push(match res {
                Ok(f) if f.k3s.as_deref() == Some(want.as_str()) => Check::pass(
                    format!("node/{name}/k3s"),
                    format!("{name}: k3s"),
                    want.clone(),
                ),
                Ok(f) => Check::fail(
                    format!("node/{name}/k3s"),
                    format!("{name}: k3s"),
                    format!("found {}", f.k3s.as_deref().unwrap_or("nothing")),
                    "apply the k3s stage",
                ),
                Err(e) => Check::fail(
                    format!("node/{name}/reach"),
                    format!("{name}: SSH"),
                    e,
                    "check the node",
                ),
            });
        }
        match self.kube_client().await {
            Ok(client) => match kube_nodes::list(&client).await {
                Ok(list) => {
                    for name in self.expected_nodes() {
                        let r = list.iter().find(|r| r.name == name);
                        checks.push(match r {
                            Some(r) if r.ready => Check::pass(
                                format!("node/{name}/ready"),
                                format!("{name}: Ready"),
                                format!("kubelet {}", r.version),
                            ),
                            Some(r) => Check::fail(
                                format!("node/{name}/ready"),
                                format!("{name}: Ready"),
                                r.detail.clone(),
                                "check the k3s service on the node",
                            ),
                            None => Check::fail(
                                format!("node/{name}/ready"),
                                format!("{name}: Ready"),
                                "not registered",
                                "check the k3s service on the node",
                            ),
                        });
                    }
                }
                Err(e) => checks.push(Check::fail(
                    "cluster/api",
                    "Kubernetes API",
                    e,
                    "is the first server up?",
                )),
            },
            Err(e) => checks.push(Check::fail(
                "cluster/api",
                "Kubernetes API",
                e.message,
                "apply the k3s stage",
            )),
        }
        if let Some(vip) = &self.cluster.k3s.vip {
            checks.push(match self.probe_api().await {
                Ok(answer) => Check::pass("cluster/api-vip", "API on the VIP", answer),
                Err(e) => Check::fail(
                    "cluster/api-vip",
                    "API on the VIP",
                    e,
                    format!(
                        "is kube-vip running on the servers, and is {} the interface of {}?",
                        vip.interface, vip.address
                    ),
                ),
            });
        }
        Ok(checks)
    }

    async fn apply(&self, plan: &Plan, run: &RunCx) -> StageResult<RunSummary> {
        begin_run(StageId::K3s, plan, run).await?;
        let res = self.apply_inner(plan, run).await;
        finish_run(StageId::K3s, run, res).await
    }
}
