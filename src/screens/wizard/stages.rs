//! Where stages plug into the wizard: [`build`] turns a stage id and the cluster definition into
//! a runnable [`Stage`]. Adding a stage to the wizard is one arm here (the views are generic over
//! the engine's plan, checks and events).

use crate::backends::ssh::Prompter;
use crate::config::ClusterConfig;
use crate::stages::engine::{Stage, StageId};
use crate::stages::proxmox::{Connection, ProxmoxStage, connect};
use std::path::Path;
use std::sync::Arc;

/// The outcome of building a stage.
pub enum Build {
    Ready(Arc<dyn Stage>),
    /// The PVE certificate is not pinned yet: probe it and ask the operator.
    NeedsTrust {
        host: String,
        port: u16,
    },
    /// Cannot run here (not in this build, missing credentials...): the reason.
    Unavailable(String),
}

/// Stages this build can run.
pub fn available(id: StageId) -> bool {
    matches!(id, StageId::Secrets | StageId::Proxmox | StageId::K3s)
}

/// Build stage `id` for `cfg` in the repository `repo`. `pin` is a fingerprint trusted in this session (already written
/// to the cluster file, which the loaded `cfg` may predate). `ssh` answers the SSH backend's
/// questions (host keys, passphrases, sudo) through the wizard.
pub fn build(
    id: StageId,
    repo: &Path,
    cfg: &ClusterConfig,
    pin: Option<&str>,
    ssh: Arc<dyn Prompter>,
) -> Build {
    match id {
        StageId::Proxmox => build_proxmox(repo, cfg, pin),
        StageId::Secrets => build_secrets(repo, cfg),
        StageId::K3s => build_k3s(cfg, ssh),
        // --- other stages: add `StageId::X => build_x(cfg),` here ---
        other => Build::Unavailable(format!(
            "the {} stage is not in this build yet",
            other.title()
        )),
    }
}

/// The PVE secret comes from the environment or `config/env/<cluster>.env` (decrypted here,
/// inside the stage's task, never on the UI task).
/// [`build`] on the blocking pool: building may read and decrypt the env file (and run
/// SOPS_AGE_KEY_CMD), which must not stall an async worker, let alone the UI task.
pub async fn build_blocking(
    id: StageId,
    repo: std::path::PathBuf,
    cfg: ClusterConfig,
    pin: Option<String>,
    ssh: Arc<dyn Prompter>,
) -> Build {
    tokio::task::spawn_blocking(move || build(id, &repo, &cfg, pin.as_deref(), ssh))
        .await
        .unwrap_or_else(|e| Build::Unavailable(format!("building the stage failed: {e}")))
}

fn build_proxmox(repo: &Path, cfg: &ClusterConfig, pin: Option<&str>) -> Build {
    let env_file = crate::config::env_file(repo, &cfg.name);
    match connect(cfg, Some(&env_file), pin) {
        Ok(Connection::Ready(client)) => {
            Build::Ready(Arc::new(ProxmoxStage::new(cfg.clone(), Arc::new(client))))
        }
        Ok(Connection::NeedsTrust { host, port }) => Build::NeedsTrust { host, port },
        Err(e) => Build::Unavailable(e),
    }
}

fn build_k3s(cfg: &ClusterConfig, ssh: Arc<dyn Prompter>) -> Build {
    match crate::backends::ssh::SshEnv::from_process() {
        Ok(env) => Build::Ready(Arc::new(crate::stages::k3s::K3sStage::over_ssh(
            cfg.clone(),
            Arc::new(env),
            ssh,
            crate::stages::k3s::K3sOptions::from_process(),
        ))),
        Err(e) => Build::Unavailable(e.to_string()),
    }
}

/// The secrets stage with values from the environment or their defaults (review, verify, and a
/// run whose env file already exists); the wizard's value form uses [`build_secrets_with`].
fn build_secrets(repo: &Path, cfg: &ClusterConfig) -> Build {
    build_secrets_with(
        repo.to_path_buf(),
        cfg,
        Arc::new(crate::stages::secrets::EnvValues),
    )
}

/// The secrets stage in `repo` taking its values from `ask` (the wizard's value form).
pub fn build_secrets_with(
    repo: std::path::PathBuf,
    cfg: &ClusterConfig,
    ask: Arc<dyn crate::stages::secrets::AskValues>,
) -> Build {
    use crate::stages::secrets::{SecretsStage, identity_location};
    let Some(identity) = identity_location() else {
        return Build::Unavailable(
            "no HOME or SOPS_AGE_KEY_FILE: cannot place the age identity".into(),
        );
    };
    Build::Ready(Arc::new(SecretsStage::new(repo, cfg, identity, ask)))
}
