//! How the proxmox stage reaches the PVE API: the credentials (process environment or the
//! cluster's SOPS env file) and the connection, pinned or waiting for the operator to trust it.

use crate::config::{ApiEndpoint, ClusterConfig};
use std::path::Path;
use std::sync::Arc;

/// How to reach the PVE API of a cluster definition.
pub enum Connection {
    Ready(crate::backends::pve::PveClient),
    /// Standalone hosts: one API per node behind a [`crate::backends::pve::router::NodeRouter`].
    Hosts(Arc<dyn crate::backends::pve::Hypervisor>),
    /// No fingerprint pinned yet: probe `host:port`, show it, store it in `field` (the
    /// cluster file's key: `proxmox.tls.fingerprint` or `proxmox.hosts[N].tls.fingerprint`),
    /// connect again with it.
    NeedsTrust {
        host: String,
        port: u16,
        field: String,
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
    let ep = first_endpoint(cfg)?;
    credentials_for(&ep, env_file, env, identities)
}

/// [`credentials`] of one endpoint: `ep.secret_key` (`PROXMOX_TOKEN_SECRET`, or
/// `PROXMOX_TOKEN_SECRET_<NODE>` for a standalone host) or `ep.password_key`.
pub fn credentials_for(
    ep: &ApiEndpoint,
    env_file: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    identities: &dyn Fn() -> crate::secrets::Identities,
) -> Result<crate::backends::pve::Auth, String> {
    use crate::backends::pve::Auth;
    use zeroize::Zeroizing;
    let p = ep;
    let (secret_key, password_key) = (p.secret_key.as_str(), p.password_key.as_str());
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
    if let Some(secret) = env(secret_key) {
        return Ok(token(secret));
    }
    if let Some(pw) = env(password_key) {
        return Ok(password(pw));
    }
    let Some(file) = env_file else {
        return Err(format!(
            "no PVE credentials: set {secret_key} (the secret of token {}) or {password_key}",
            p.token_id
        ));
    };
    if !file.exists() {
        return Err(format!(
            "no PVE credentials: {} does not exist (the secrets stage creates it) and neither {secret_key} nor {password_key} is set in the environment",
            file.display()
        ));
    }
    let opened = crate::secrets::EncryptedFile::open_verified(file, &identities())
        .map_err(|e| format!("PVE credentials: {e}"))?;
    if let Some(secret) = opened.top_level_str(secret_key).filter(|v| !v.is_empty()) {
        return Ok(token(secret));
    }
    if let Some(pw) = opened.top_level_str(password_key).filter(|v| !v.is_empty()) {
        return Ok(password(pw));
    }
    Err(format!(
        "{}: no {secret_key} (the secret of token {}) or {password_key}; add it with `homelab env set {} {secret_key} -`, or set it in the environment",
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
    let env = |k: &str| std::env::var(k).ok();
    if cfg.proxmox.standalone() {
        return connect_hosts(cfg, &|ep| {
            credentials_for(ep, env_file, &env, &crate::secrets::Identities::discover)
        });
    }
    let auth = credentials(cfg, env_file, &env, &crate::secrets::Identities::discover)?;
    connect_with(cfg, auth, pin)
}

/// Standalone hosts: a client per `proxmox.hosts` endpoint, each with its own credentials and
/// pin. The first host without a pin (in file order) is [`Connection::NeedsTrust`]; its pin is
/// stored in its own `hosts` entry ([`crate::backends::pve::trust::store_fingerprint`]) and
/// read from the file on the next build.
pub fn connect_hosts(
    cfg: &ClusterConfig,
    auth: &dyn Fn(&ApiEndpoint) -> Result<crate::backends::pve::Auth, String>,
) -> Result<Connection, String> {
    use crate::backends::pve::router::{NodeRouter, Route};
    use crate::backends::pve::{PveClient, PveSettings};
    // Every certificate question first (one host at a time), then the credentials.
    let mut trusted = Vec::new();
    for ep in cfg.proxmox.api_endpoints() {
        match trust_of(&ep, None)? {
            Ok(trust) => trusted.push((ep, trust)),
            Err(needs) => return Ok(needs),
        }
    }
    let mut routes = Vec::new();
    for (ep, trust) in trusted {
        let auth = auth(&ep).map_err(|e| format!("{}: {e}", ep.path))?;
        let client = PveClient::new(PveSettings::new(ep.endpoint.clone(), auth, trust))
            .map_err(|e| format!("{}: {e}", ep.path))?;
        routes.push(Route {
            nodes: ep.nodes.clone(),
            api: Arc::new(client),
        });
    }
    NodeRouter::new(routes).map(|r| Connection::Hosts(Arc::new(r)))
}

/// How to trust `ep`'s certificate, or the [`Connection::NeedsTrust`] that asks for it.
fn trust_of(
    ep: &ApiEndpoint,
    pin: Option<&str>,
) -> Result<Result<crate::backends::pve::Trust, Connection>, String> {
    use crate::backends::pve::Trust;
    Ok(Ok(
        match (ep.tls.verify_ca, pin.or(ep.tls.fingerprint.as_deref())) {
            (true, _) => Trust::CaVerified,
            (false, Some(fp)) => Trust::Pinned(fp.to_owned()),
            (false, None) if ep.endpoint.starts_with("http://") => Trust::CaVerified,
            (false, None) => {
                let url = url::Url::parse(&ep.endpoint)
                    .map_err(|e| format!("{}.endpoint `{}`: {e}", ep.path, ep.endpoint))?;
                let host = url
                    .host_str()
                    .ok_or_else(|| format!("{}.endpoint has no host", ep.path))?
                    .trim_matches(['[', ']'])
                    .to_owned();
                return Ok(Err(Connection::NeedsTrust {
                    host,
                    port: url.port().unwrap_or(8006),
                    field: format!("{}.tls.fingerprint", ep.path),
                }));
            }
        },
    ))
}

/// Connect with `auth` already resolved.
pub fn connect_with(
    cfg: &ClusterConfig,
    auth: crate::backends::pve::Auth,
    pin: Option<&str>,
) -> Result<Connection, String> {
    use crate::backends::pve::{PveClient, PveSettings};
    let ep = first_endpoint(cfg)?;
    let trust = match trust_of(&ep, pin)? {
        Ok(trust) => trust,
        Err(needs) => return Ok(needs),
    };
    PveClient::new(PveSettings::new(ep.endpoint.clone(), auth, trust))
        .map(Connection::Ready)
        .map_err(|e| e.to_string())
}

/// The first PVE endpoint of the definition (the only one of a PVE cluster).
fn first_endpoint(cfg: &ClusterConfig) -> Result<crate::config::ApiEndpoint, String> {
    cfg.proxmox
        .api_endpoints()
        .into_iter()
        .next()
        .ok_or_else(|| "the cluster file names no PVE endpoint".to_owned())
}
