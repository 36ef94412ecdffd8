//! The doctor's clients for one cluster: the Cloudflare API with the token from the
//! environment or the cluster's SOPS env file (`CLOUDFLARE_API_TOKEN`), the tunnel from the
//! tunnel token (`CLOUDFLARE_TUNNEL_TOKEN`: only its account and tunnel ids are kept), and
//! Kubernetes from the operator's kubeconfig at the context named after the cluster. A doctor
//! for internal hosts takes no token: their walk never reaches Cloudflare.
//! Blocking parts (the env file's decryption) run on a blocking thread.

use super::{Cloudflare, Doctor};
use crate::backends::cloudflare::{API_BASE, CloudflareClient, tunnel_token};
use crate::domain::doctor::{Exposure, Facts};
use crate::secrets::tree::{Node, parse_path};
use crate::secrets::{EncryptedFile, Identities};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Where the doctor's credentials and endpoints come from.
#[derive(Debug, Clone)]
pub struct Setup {
    pub kubeconfig: PathBuf,
    /// The kubeconfig context (the cluster's name).
    pub context: String,
    /// The cluster's SOPS env file.
    pub env_file: PathBuf,
    /// `CLOUDFLARE_BASE_URL`, else Cloudflare's.
    pub api_base: String,
    /// `HOMELAB_CLOUDFLARE_CA`: a CA to trust for the API (the simulator's).
    pub ca_file: Option<PathBuf>,
    /// `CLOUDFLARE_API_TOKEN` / `CLOUDFLARE_TUNNEL_TOKEN` from the environment, which win over
    /// the env file.
    pub api_token: Option<Zeroizing<String>>,
    pub tunnel_token: Option<Zeroizing<String>>,
}

/// The environment variables [`Setup::from_process`] reads.
pub const ENV_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
pub const ENV_TUNNEL_TOKEN: &str = "CLOUDFLARE_TUNNEL_TOKEN";
pub const ENV_BASE_URL: &str = "CLOUDFLARE_BASE_URL";
pub const ENV_CA: &str = "HOMELAB_CLOUDFLARE_CA";

impl Setup {
    /// The setup for `context` with the process environment's overrides.
    pub fn from_process(kubeconfig: PathBuf, context: &str, env_file: PathBuf) -> Setup {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Setup {
            kubeconfig,
            context: context.into(),
            env_file,
            api_base: var(ENV_BASE_URL).unwrap_or_else(|| API_BASE.into()),
            ca_file: var(ENV_CA).map(PathBuf::from),
            api_token: var(ENV_API_TOKEN).map(Zeroizing::new),
            tunnel_token: var(ENV_TUNNEL_TOKEN).map(Zeroizing::new),
        }
    }
}

/// One value of the SOPS env file.
fn env_value(env_file: &Path, key: &str, ids: &Identities) -> Result<Zeroizing<String>, String> {
    let file = env_file.display();
    let opened = EncryptedFile::open_verified(env_file, ids)
        .map_err(|e| format!("{file}: {e}; or set {key} in the environment"))?;
    let path = parse_path(key).map_err(|e| format!("{file}: `{key}`: {e}"))?;
    match opened.get(&path) {
        Some(Node::Scalar(s)) => Ok(Zeroizing::new(s.display_text().trim().to_string())),
        _ => Err(format!(
            "{file} has no `{key}`: add it with `homelab env set {file} {key}`"
        )),
    }
}

/// Build the doctor for `facts` (read from the repository by the caller), for public hosts.
pub async fn connect(setup: &Setup, facts: Facts) -> Result<Doctor, String> {
    connect_for(setup, facts, Exposure::Public).await
}

/// Build the doctor for hosts of `exposure`: an internal host's walk never reaches Cloudflare,
/// so it needs no token, only the cluster.
pub async fn connect_for(
    setup: &Setup,
    facts: Facts,
    exposure: Exposure,
) -> Result<Doctor, String> {
    let cloudflare = match exposure {
        Exposure::Public => Some(cloudflare(setup).await?),
        Exposure::Internal => None,
    };
    let kube = crate::backends::kube::client::client_for(&setup.kubeconfig, &setup.context).await?;
    Ok(Doctor {
        cloudflare,
        kube,
        facts,
    })
}

/// The Cloudflare API and the tunnel, from the tokens of the environment or the env file.
async fn cloudflare(setup: &Setup) -> Result<Cloudflare, String> {
    let (api, tunnel) = {
        let s = setup.clone();
        tokio::task::spawn_blocking(move || -> Result<_, String> {
            let ids = std::cell::OnceCell::new();
            let ids = || ids.get_or_init(Identities::discover);
            let api = match s.api_token {
                Some(t) => t,
                None => env_value(&s.env_file, ENV_API_TOKEN, ids())?,
            };
            let tunnel = match s.tunnel_token {
                Some(t) => t,
                None => env_value(&s.env_file, ENV_TUNNEL_TOKEN, ids())?,
            };
            Ok((api, tunnel))
        })
        .await
        .map_err(|e| e.to_string())??
    };
    let tunnel = tunnel_token::parse(&tunnel).map_err(|e| format!("{ENV_TUNNEL_TOKEN}: {e}"))?;
    let api = CloudflareClient::new(&setup.api_base, &api, setup.ca_file.as_deref())
        .map_err(|e| e.to_string())?;
    Ok(Cloudflare { api, tunnel })
}
