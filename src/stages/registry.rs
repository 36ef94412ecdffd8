//! The one list of bootstrap stages. Each [`StageSpec`] declares a stage once: its id, name
//! (`--stage NAME`, journal key), title, one-line blurb, the system its preflight reaches (the
//! wizard lights that top-bar badge), the stages it needs, and how it is built for a run. Both
//! the wizard and `homelab bootstrap --plan/--yes` read this list: the order of [`STAGES`] is the
//! bootstrap order, and a stage without a builder is "not in this build yet" everywhere.
//!
//! Adding a stage: its own module under `stages/` (listed in `stages/mod.rs`), a [`StageId`]
//! variant and a [`STAGES`] entry here. Nothing else needs editing: the wizard shows any stage
//! through the engine's plan, checks and events.

use super::engine::Stage;
use crate::backends::ssh::Prompter;
use crate::config::ClusterConfig;
use crate::stages::secrets::AskValues;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

/// The bootstrap stages. Their order, names and titles are the [`STAGES`] entries'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageId {
    Secrets,
    Proxmox,
    K3s,
    Flux,
    Storage,
    Ingress,
    Observability,
}

/// The system a stage's preflight reaches; the wizard shows its health as a top-bar badge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaches {
    /// The Proxmox VE API.
    Pve,
    /// The nodes over SSH.
    Ssh,
}

/// Everything a stage may need to be built: the repository, the cluster definition, and how
/// questions are answered (the wizard's prompts, or the terminal under `homelab bootstrap`).
#[derive(Clone)]
pub struct BuildCx {
    /// The repository root (holds `config/clusters/` and `config/env/`).
    pub repo: PathBuf,
    pub cfg: ClusterConfig,
    /// A PVE certificate fingerprint trusted in this session (already written to the cluster
    /// file, which `cfg` may predate).
    pub pin: Option<String>,
    /// Answers the SSH backend's questions (host keys, passphrases, sudo).
    pub ssh: Arc<dyn Prompter>,
    /// Where the secrets stage takes the env file's values from.
    pub values: Arc<dyn AskValues>,
    /// `--flux-manifest FILE`: the Flux install manifest to use instead of the release's
    /// (air-gap); `None` downloads it. Either way its SHA-256 must be `flux.install_sha256`.
    pub flux_manifest: Option<PathBuf>,
}

/// The outcome of building a stage.
pub enum Build {
    Ready(Arc<dyn Stage>),
    /// The PVE certificate is not pinned yet: probe it and ask the operator; trusting it
    /// stores it in the cluster file's `field`.
    NeedsTrust {
        host: String,
        port: u16,
        field: String,
    },
    /// Cannot run here (missing credentials...): the reason.
    Unavailable(String),
}

/// One stage, declared once.
pub struct StageSpec {
    pub id: StageId,
    /// `--stage NAME`, the journal's key, log prefixes.
    pub name: &'static str,
    /// Human title for headings.
    pub title: &'static str,
    /// One line on what the stage does (status bar, empty panes).
    pub blurb: &'static str,
    /// The system its preflight reaches, if any.
    pub reaches: Option<Reaches>,
    /// Stages whose result this one builds on (each comes earlier in [`STAGES`]).
    pub needs: &'static [StageId],
    /// How to build it for a run; `None`: not in this build yet.
    pub build: Option<fn(&BuildCx) -> Build>,
}

/// Every stage, in bootstrap order.
pub const STAGES: &[StageSpec] = &[
    StageSpec {
        id: StageId::Secrets,
        name: "secrets",
        title: "Secrets",
        blurb: "age key, SOPS rules and the encrypted env file",
        reaches: None,
        needs: &[],
        build: Some(build_secrets),
    },
    StageSpec {
        id: StageId::Proxmox,
        name: "proxmox",
        title: "Proxmox VMs",
        blurb: "Ubuntu cloud-init VMs on Proxmox VE through its API",
        reaches: Some(Reaches::Pve),
        needs: &[StageId::Secrets],
        build: Some(build_proxmox),
    },
    StageSpec {
        id: StageId::K3s,
        name: "k3s",
        title: "k3s",
        blurb: "k3s over SSH: server, then agents; swap stays on",
        reaches: Some(Reaches::Ssh),
        needs: &[StageId::Proxmox],
        build: Some(build_k3s),
    },
    StageSpec {
        id: StageId::Flux,
        name: "flux",
        title: "Flux",
        blurb: "Flux with SOPS + age decryption, pointed at this repository",
        reaches: None,
        needs: &[StageId::Secrets, StageId::K3s],
        build: Some(build_flux),
    },
    StageSpec {
        id: StageId::Storage,
        name: "storage",
        title: "Storage",
        blurb: "Longhorn and NFS subdir on the Synology",
        reaches: Some(Reaches::Ssh),
        needs: &[StageId::Flux],
        build: Some(build_storage),
    },
    StageSpec {
        id: StageId::Ingress,
        name: "ingress",
        title: "Ingress",
        blurb: "Gateway API on Envoy Gateway, cloudflared, external-dns",
        reaches: None,
        needs: &[StageId::Flux],
        build: Some(build_ingress),
    },
    StageSpec {
        id: StageId::Observability,
        name: "observability",
        title: "Observability",
        blurb: "Prometheus, Alertmanager, Loki, Promtail, Grafana, OTel",
        reaches: None,
        needs: &[StageId::Storage],
        build: Some(build_observability),
    },
];

// Entry `i` declares the variant with discriminant `i`, so [`StageId::spec`] is an index.
const _: () = {
    let mut i = 0;
    while i < STAGES.len() {
        assert!(
            STAGES[i].id as usize == i,
            "STAGES must follow StageId's order"
        );
        i += 1;
    }
};

impl StageId {
    /// Every stage, in bootstrap order.
    pub fn all() -> impl Iterator<Item = StageId> {
        STAGES.iter().map(|s| s.id)
    }

    /// This stage's declaration.
    pub fn spec(self) -> &'static StageSpec {
        // `STAGES[i]` declares the variant with discriminant `i` (checked when compiling, below);
        // the stand-in is for a variant added without its entry.
        STAGES.get(self as usize).unwrap_or(&STAGES[0])
    }

    pub fn as_str(self) -> &'static str {
        self.spec().name
    }

    /// Human title for headings.
    pub fn title(self) -> &'static str {
        self.spec().title
    }

    /// One line on what the stage does.
    pub fn blurb(self) -> &'static str {
        self.spec().blurb
    }

    /// Whether this build can run the stage.
    pub fn available(self) -> bool {
        self.spec().build.is_some()
    }
}

impl fmt::Display for StageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StageId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StageId::all()
            .find(|id| id.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<_> = StageId::all().map(|i| i.as_str()).collect();
                format!("unknown stage `{s}`; stages are: {}", names.join(", "))
            })
    }
}

/// Build stage `id` for a run. A stage not in this build is [`Build::Unavailable`] with the
/// sentence the wizard and the CLI show.
pub fn build(id: StageId, cx: &BuildCx) -> Build {
    match id.spec().build {
        Some(build) => build(cx),
        None => Build::Unavailable(not_in_build(id)),
    }
}

/// "the Flux stage is not in this build yet".
pub fn not_in_build(id: StageId) -> String {
    format!("the {} stage is not in this build yet", id.title())
}

/// [`build`] on the blocking pool: building may read and decrypt the env file (and run
/// SOPS_AGE_KEY_CMD), which must not stall an async worker, let alone the UI task.
pub async fn build_blocking(id: StageId, cx: BuildCx) -> Build {
    tokio::task::spawn_blocking(move || build(id, &cx))
        .await
        .unwrap_or_else(|e| Build::Unavailable(format!("building the stage failed: {e}")))
}

/// The PVE secret comes from the environment or `config/env/<cluster>.env` (decrypted here,
/// inside the stage's task, never on the UI task).
fn build_proxmox(cx: &BuildCx) -> Build {
    use super::proxmox::{Connection, ProxmoxStage, connect};
    use crate::config::env_file;
    let env_file = env_file(&cx.repo, &cx.cfg.name);
    let cfg = with_stored_host_pins(cx);
    let pve: Arc<dyn crate::backends::pve::Hypervisor> =
        match connect(&cfg, Some(&env_file), cx.pin.as_deref()) {
            Ok(Connection::Ready(client)) => Arc::new(client),
            Ok(Connection::Hosts(router)) => router,
            Ok(Connection::NeedsTrust { host, port, field }) => {
                return Build::NeedsTrust { host, port, field };
            }
            Err(e) => return Build::Unavailable(e),
        };
    let stage = ProxmoxStage::new(cfg.clone(), pve);
    if cfg.proxmox.vendor_snippet != crate::config::SnippetDelivery::Ssh {
        return Build::Ready(Arc::new(stage));
    }
    match crate::backends::ssh::SshEnv::from_process() {
        Ok(env) => {
            let shells = ProxmoxStage::node_shells(&cfg, Arc::new(env), cx.ssh.clone());
            Build::Ready(Arc::new(stage.with_snippet_shells(shells)))
        }
        Err(e) => Build::Unavailable(format!("the vendor snippet is written over SSH: {e}")),
    }
}

/// Standalone hosts: the pins trusted this session are stored in each host's own entry of the
/// cluster file, which `cx.cfg` may predate; take them (and only them) from the file.
fn with_stored_host_pins(cx: &BuildCx) -> crate::config::ClusterConfig {
    let mut cfg = cx.cfg.clone();
    if !cfg.proxmox.standalone() {
        return cfg;
    }
    let file = crate::config::cluster_file(&cx.repo, &cfg.name);
    if let Ok(stored) = crate::config::valid_cluster(&cx.repo, &file) {
        for h in &mut cfg.proxmox.hosts {
            if let Some(s) = stored.proxmox.host(&h.node)
                && s.endpoint == h.endpoint
                && h.tls.fingerprint.is_none()
            {
                h.tls.fingerprint = s.tls.fingerprint.clone();
            }
        }
    }
    cfg
}

/// `K3S_TOKEN` comes from `config/env/<cluster>.env`, decrypted when the stage first needs it
/// (preflight, or the first install), on a blocking thread.
fn build_k3s(cx: &BuildCx) -> Build {
    use super::k3s::token;
    let file = crate::config::env_file(&cx.repo, &cx.cfg.name);
    let shown = file
        .strip_prefix(&cx.repo)
        .unwrap_or(&file)
        .display()
        .to_string();
    let cluster_token = token::TokenSource::EnvFile { file, shown };
    match crate::backends::ssh::SshEnv::from_process() {
        Ok(env) => Build::Ready(Arc::new(
            super::k3s::K3sStage::over_ssh(
                cx.cfg.clone(),
                Arc::new(env),
                cx.ssh.clone(),
                super::k3s::K3sOptions::from_process(),
            )
            .with_token_source(cluster_token),
        )),
        Err(e) => Build::Unavailable(e.to_string()),
    }
}

/// Flux pushes over the operator's SSH (agent, keys, ssh_config, known_hosts) and reads the
/// age identity the secrets stage placed; the install manifest from `--flux-manifest` or the
/// release.
fn build_flux(cx: &BuildCx) -> Build {
    use super::flux::{FluxOptions, FluxStage, manifest, remote::SshRemote};
    let Some(identity) = super::secrets::identity_location() else {
        return Build::Unavailable(
            "no HOME or SOPS_AGE_KEY_FILE: cannot find the age identity".into(),
        );
    };
    let env = match crate::backends::ssh::SshEnv::from_process() {
        Ok(env) => Arc::new(env),
        Err(e) => return Build::Unavailable(format!("the push to flux.repo goes over SSH: {e}")),
    };
    let remote = SshRemote {
        url: cx.cfg.flux.repo.clone(),
        access: crate::backends::git_push::SshAccess {
            env,
            prompter: cx.ssh.clone(),
            identity_file: None,
        },
    };
    let source = match &cx.flux_manifest {
        Some(file) => manifest::Source::File(file.clone()),
        None => manifest::Source::Release,
    };
    let opts = FluxOptions::from_process(&cx.cfg, identity, source);
    Build::Ready(Arc::new(FluxStage::new(
        cx.repo.clone(),
        cx.cfg.clone(),
        Arc::new(remote),
        opts,
    )))
}

/// Storage reaches the nodes over the operator's SSH (as the k3s stage) and the cluster
/// through the kubeconfig the k3s stage merged.
fn build_storage(cx: &BuildCx) -> Build {
    use super::storage::{StorageOptions, StorageStage};
    match crate::backends::ssh::SshEnv::from_process() {
        Ok(env) => {
            let nodes = super::k3s::node_shells(&cx.cfg, Arc::new(env), cx.ssh.clone());
            Build::Ready(Arc::new(StorageStage::new(
                cx.cfg.clone(),
                nodes,
                StorageOptions::from_process(&cx.cfg),
            )))
        }
        Err(e) => Build::Unavailable(format!("the storage stage reaches the nodes over SSH: {e}")),
    }
}

/// The cluster through the operator's kubeconfig; Cloudflare through the env file's tokens
/// (read when a step first needs them, as the doctor reads them).
fn build_ingress(cx: &BuildCx) -> Build {
    use super::ingress::{IngressOptions, IngressStage};
    let Some(identity) = super::secrets::identity_location() else {
        return Build::Unavailable(
            "no HOME or SOPS_AGE_KEY_FILE: cannot find the age identity".into(),
        );
    };
    let opts = IngressOptions::from_process(&cx.cfg, cx.repo.clone(), identity);
    Build::Ready(Arc::new(IngressStage::new(cx.cfg.clone(), opts)))
}

/// The observability stage reads the cluster through the operator's kubeconfig and writes the
/// console's port-forward targets into the cluster definition.
fn build_observability(cx: &BuildCx) -> Build {
    use super::observability::{ObservabilityOptions, ObservabilityStage};
    Build::Ready(Arc::new(ObservabilityStage::new(
        cx.repo.clone(),
        cx.cfg.clone(),
        ObservabilityOptions::from_process(&cx.cfg),
    )))
}

fn build_secrets(cx: &BuildCx) -> Build {
    use super::secrets::{SecretsStage, identity_location};
    let Some(identity) = identity_location() else {
        return Build::Unavailable(
            "no HOME or SOPS_AGE_KEY_FILE: cannot place the age identity".into(),
        );
    };
    Build::Ready(Arc::new(SecretsStage::new(
        cx.repo.clone(),
        &cx.cfg,
        identity,
        cx.values.clone(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stage_is_declared_once_and_needs_only_earlier_stages() {
        let ids: Vec<StageId> = StageId::all().collect();
        for (i, spec) in STAGES.iter().enumerate() {
            assert_eq!(
                ids.iter().filter(|id| **id == spec.id).count(),
                1,
                "{} is declared once",
                spec.name
            );
            assert_eq!(spec.id.spec().name, spec.name);
            for need in spec.needs {
                let at = ids.iter().position(|id| id == need).unwrap();
                assert!(at < i, "{} needs {need}, which runs later", spec.name);
            }
        }
        // Every variant has its entry (the serde name is the registry's name).
        for id in ids {
            let serde = serde_json::to_string(&id).unwrap();
            assert_eq!(serde, format!("\"{}\"", id.as_str()));
        }
    }

    #[test]
    fn stages_without_a_builder_are_not_in_this_build() {
        let available: Vec<&str> = StageId::all()
            .filter(|id| id.available())
            .map(StageId::as_str)
            .collect();
        assert_eq!(
            available,
            [
                "secrets",
                "proxmox",
                "k3s",
                "flux",
                "storage",
                "ingress",
                "observability"
            ]
        );
        assert_eq!(
            not_in_build(StageId::Ingress),
            "the Ingress stage is not in this build yet"
        );
    }
}
