//! `homelab bootstrap --plan` of the whole lab before anything exists: a stage whose inputs are
//! produced by an earlier stage of the same run (the env file the secrets stage writes, the VMs
//! the proxmox stage creates) cannot be connected yet. Its plan says so and what it will use,
//! and the plan goes on with the next stage.

use super::engine::StageId;
use crate::config::ClusterConfig;
use std::path::Path;

/// What the proxmox stage will connect with, for a plan made before its credentials exist.
pub fn proxmox(cfg: &ClusterConfig, env_file: &Path, repo: &Path) -> Vec<String> {
    let rel = env_file.strip_prefix(repo).unwrap_or(env_file);
    let mut out = Vec::new();
    for ep in cfg.proxmox.api_endpoints() {
        out.push(format!("PVE API {} as token {}", ep.endpoint, ep.token_id));
        out.push(format!(
            "token secret: {} from {} (the secrets stage writes it), or from the environment",
            ep.secret_key,
            rel.display()
        ));
    }
    out.push(format!(
        "VMs: {}",
        cfg.vms
            .iter()
            .map(|v| format!("{} ({} on {})", v.name, v.vmid, v.node))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    out
}

/// Whether a stage that cannot be planned yet is only waiting for an earlier stage of this run:
/// the env file is missing and the secrets stage (which writes it) runs before `id`.
pub fn waits_for_earlier(id: StageId, stages: &[StageId], env_file: &Path) -> bool {
    !env_file.exists()
        && stages
            .iter()
            .position(|s| *s == StageId::Secrets)
            .zip(stages.iter().position(|s| *s == id))
            .is_some_and(|(secrets, me)| secrets < me)
}

/// The lines printed for a stage planned without its inputs.
pub fn deferred(now: &str, id: StageId, why: &str, uses: &[String]) -> String {
    let mut out = format!(
        "{now} {:<8} inputs not there yet ({why}); the plan shows what it will use\n",
        id.as_str()
    );
    for u in uses {
        out.push_str(&format!("  will use: {u}\n"));
    }
    out
}
