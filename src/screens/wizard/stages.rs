//! Where stages plug into the wizard: [`build`] turns a stage id and the cluster definition into
//! a runnable [`Stage`]. Adding a stage to the wizard is one arm here (the views are generic over
//! the engine's plan, checks and events).

use crate::backends::ssh::Prompter;
use crate::config::ClusterConfig;
use crate::stages::engine::{Stage, StageId};
use crate::stages::proxmox::{Connection, ProxmoxStage, connect};
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
    matches!(id, StageId::Proxmox | StageId::K3s)
}

/// Build stage `id` for `cfg`. `pin` is a fingerprint trusted in this session (already written
/// to the cluster file, which the loaded `cfg` may predate). `ssh` answers the SSH backend's
/// questions (host keys, passphrases, sudo) through the wizard.
pub fn build(id: StageId, cfg: &ClusterConfig, pin: Option<&str>, ssh: Arc<dyn Prompter>) -> Build {
    match id {
        StageId::Proxmox => build_proxmox(cfg, pin),
        StageId::K3s => build_k3s(cfg, ssh),
        // --- other stages: add `StageId::X => build_x(cfg),` here ---
        other => Build::Unavailable(format!(
            "the {} stage is not in this build yet",
            other.title()
        )),
    }
}

fn build_proxmox(cfg: &ClusterConfig, pin: Option<&str>) -> Build {
    match connect(cfg, pin) {
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
