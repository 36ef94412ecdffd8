//! Where stages plug into the wizard: [`build`] turns a stage id and the cluster definition into
//! a runnable [`Stage`]. Adding a stage to the wizard is one arm here (the views are generic over
//! the engine's plan, checks and events).

use crate::backends::pve::{Auth, PveClient, PveSettings, Trust};
use crate::config::ClusterConfig;
use crate::stages::engine::{Stage, StageId};
use crate::stages::proxmox::ProxmoxStage;
use std::sync::Arc;
use zeroize::Zeroizing;

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
    matches!(id, StageId::Proxmox)
}

/// Build stage `id` for `cfg`. `pin` is a fingerprint trusted in this session (already written
/// to the cluster file, which the loaded `cfg` may predate).
pub fn build(id: StageId, cfg: &ClusterConfig, pin: Option<&str>) -> Build {
    match id {
        StageId::Proxmox => build_proxmox(cfg, pin),
        // --- other stages: add `StageId::X => build_x(cfg),` here ---
        other => Build::Unavailable(format!(
            "the {} stage is not in this build yet",
            other.title()
        )),
    }
}

fn build_proxmox(cfg: &ClusterConfig, pin: Option<&str>) -> Build {
    let p = &cfg.proxmox;
    let auth = if let Some(secret) = std::env::var("PROXMOX_TOKEN_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Auth::Token {
            id: p.token_id.clone(),
            secret: Zeroizing::new(secret),
        }
    } else if let Some(password) = std::env::var("PROXMOX_PASSWORD")
        .ok()
        .filter(|s| !s.is_empty())
    {
        let user = p
            .token_id
            .split('!')
            .next()
            .unwrap_or(&p.token_id)
            .to_owned();
        Auth::Password {
            user,
            password: Zeroizing::new(password),
        }
    } else {
        return Build::Unavailable(format!(
            "no PVE credentials: start homelab with PROXMOX_TOKEN_SECRET set (the secret of token {})",
            p.token_id
        ));
    };
    let trust = match (p.tls.verify_ca, pin.or(p.tls.fingerprint.as_deref())) {
        (true, _) => Trust::CaVerified,
        (false, Some(fp)) => Trust::Pinned(fp.to_owned()),
        (false, None) if p.endpoint.starts_with("http://") => Trust::CaVerified,
        (false, None) => {
            let Ok(url) = url::Url::parse(&p.endpoint) else {
                return Build::Unavailable(format!(
                    "proxmox.endpoint `{}` is not a URL",
                    p.endpoint
                ));
            };
            let host = url
                .host_str()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .to_owned();
            return Build::NeedsTrust {
                host,
                port: url.port().unwrap_or(8006),
            };
        }
    };
    match PveClient::new(PveSettings::new(p.endpoint.clone(), auth, trust)) {
        Ok(client) => Build::Ready(Arc::new(ProxmoxStage::new(cfg.clone(), Arc::new(client)))),
        Err(e) => Build::Unavailable(e.to_string()),
    }
}
