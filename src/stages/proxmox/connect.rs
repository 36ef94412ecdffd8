//! How the proxmox stage reaches the PVE API: the credentials (process environment or the
//! cluster's SOPS env file) and the connection, pinned or waiting for the operator to trust it.

use crate::config::ClusterConfig;
use std::path::Path;

/// How to reach the PVE API of a cluster definition.
pub enum Connection {
    Ready(crate::backends::pve::PveClient),
    /// No fingerprint pinned yet: probe `host:port`, show it, store it, connect again with it.
    NeedsTrust {
        host: String,
        port: u16,
    },
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
    let opened = crate::secrets::EncryptedFile::open_verified(file, &identities())
        .map_err(|e| format!("PVE credentials: {e}"))?;
    if let Some(secret) = opened.top_level_str("PROXMOX_TOKEN_SECRET") {
        return Ok(token(secret));
    }
    if let Some(pw) = opened.top_level_str("PROXMOX_PASSWORD") {
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
