//! The Cloudflare tokens the ingress stage checks with: `CLOUDFLARE_API_TOKEN` and
//! `CLOUDFLARE_TUNNEL_TOKEN` of the cluster's SOPS env file (decrypted with the operator's age
//! identity, as the Flux stage does; the environment's variables of the same names win, as
//! the doctor's do), and the tunnel token's twin in the tree: the Flux stage renders it into
//! `cluster/kubernetes/platform/ingress/cloudflared/cloudflared-tunnel.sops.yaml`, Secret
//! `networking/cloudflared-tunnel` key `TUNNEL_TOKEN`, which cloudflared runs with. Both must
//! name the same account and tunnel, or the stage would check a tunnel cloudflared never
//! connects to.

use crate::backends::cloudflare::tunnel_token;
use crate::backends::doctor::connect::{ENV_API_TOKEN, ENV_TUNNEL_TOKEN};
use crate::secrets::EncryptedFile;
use crate::secrets::keys::identities_from_text;
use crate::secrets::tree::{Node, parse_path};
use crate::stages::engine::StageError;
use std::path::Path;
use zeroize::Zeroizing;

/// The in-tree Secret cloudflared reads its token from.
pub const TUNNEL_SECRET: (&str, &str, &str) = ("networking", "cloudflared-tunnel", "TUNNEL_TOKEN");

/// `(api token, tunnel token)`: the environment's, else the env file's (decrypted with the
/// identity in `identity_file`). Blocking (decryption): call on a blocking thread.
pub fn read(
    env_file: &Path,
    shown: &str,
    identity_file: &Path,
) -> Result<(Zeroizing<String>, Zeroizing<String>), StageError> {
    let var = |k: &str| {
        std::env::var(k)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(Zeroizing::new)
    };
    let (api, tunnel) = (var(ENV_API_TOKEN), var(ENV_TUNNEL_TOKEN));
    if let (Some(a), Some(t)) = (&api, &tunnel) {
        return Ok((a.clone(), t.clone()));
    }
    let text = std::fs::read_to_string(identity_file).map_err(|e| {
        StageError::new(format!("{}: {e}", identity_file.display())).with_hint(
            "run the secrets stage first (it creates the age identity), or point SOPS_AGE_KEY_FILE at it",
        )
    })?;
    let ids = identities_from_text(&Zeroizing::new(text), &identity_file.display().to_string());
    let opened = EncryptedFile::open_verified(env_file, &ids).map_err(|e| {
        StageError::new(format!("{shown}: {e}")).with_hint("run the secrets stage first")
    })?;
    let value = |key: &str| -> Result<Zeroizing<String>, StageError> {
        let path =
            parse_path(key).map_err(|e| StageError::new(format!("{shown}: `{key}`: {e}")))?;
        match opened.get(&path) {
            Some(Node::Scalar(s)) if !s.display_text().trim().is_empty() => {
                Ok(Zeroizing::new(s.display_text().trim().to_string()))
            }
            _ => Err(StageError::new(format!("{shown} has no `{key}`"))
                .with_hint(format!("add it with `homelab env set {shown} {key}`"))),
        }
    };
    let api = match api {
        Some(a) => a,
        None => value(ENV_API_TOKEN)?,
    };
    let tunnel = match tunnel {
        Some(t) => t,
        None => value(ENV_TUNNEL_TOKEN)?,
    };
    Ok((api, tunnel))
}

/// Whether the cluster's `cloudflared-tunnel` Secret (`in_cluster`) names the same account and
/// tunnel as the env file's token; the error names both tunnels (never the secrets).
pub fn same_tunnel(
    env_token: &str,
    in_cluster: Option<&str>,
    shown: &str,
) -> Result<String, StageError> {
    let (ns, name, key) = TUNNEL_SECRET;
    let want = tunnel_token::parse(env_token).map_err(|e| {
        StageError::new(format!("{shown}: {ENV_TUNNEL_TOKEN}: {e}")).with_hint(format!(
            "store the tunnel's token: `homelab env set {shown} {ENV_TUNNEL_TOKEN}`"
        ))
    })?;
    let rerender = "run the Flux stage again: it renders cluster/kubernetes/platform/ingress/cloudflared/cloudflared-tunnel.sops.yaml from the env file, commits and pushes it";
    let Some(have) = in_cluster else {
        return Err(StageError::new(format!(
            "Secret {ns}/{name} (key {key}) is not in the cluster: cloudflared has no tunnel token"
        ))
        .with_hint(rerender));
    };
    let have = tunnel_token::parse(have).map_err(|e| {
        StageError::new(format!("Secret {ns}/{name} key {key}: {e}")).with_hint(rerender)
    })?;
    if have.account_id != want.account_id || have.tunnel_id != want.tunnel_id {
        return Err(StageError::new(format!(
            "Secret {ns}/{name} runs cloudflared for tunnel {} (account {}), the env file's {ENV_TUNNEL_TOKEN} names tunnel {} (account {})",
            have.tunnel_id, have.account_id, want.tunnel_id, want.account_id
        ))
        .with_hint(rerender));
    }
    Ok(format!(
        "Secret {ns}/{name} holds the env file's tunnel token (tunnel {})",
        want.tunnel_id
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_in_cluster_token_must_name_the_env_files_tunnel() {
        let a = tunnel_token::encode("acct1", "11111111-1111-4111-8111-111111111111", &[1; 32]);
        let b = tunnel_token::encode("acct1", "22222222-2222-4222-8222-222222222222", &[2; 32]);
        assert!(same_tunnel(&a, Some(&a), "config/env/x.env").is_ok());
        let e = same_tunnel(&a, Some(&b), "config/env/x.env").unwrap_err();
        assert!(
            e.message.contains("22222222-2222-4222-8222-222222222222"),
            "{e:?}"
        );
        assert!(!e.message.contains(a.as_str()), "never the token itself");
        assert!(e.hint.unwrap().contains("cloudflared-tunnel.sops.yaml"));
        let e = same_tunnel(&a, None, "config/env/x.env").unwrap_err();
        assert!(e.message.contains("not in the cluster"), "{e:?}");
        assert!(same_tunnel("nope", Some(&a), "config/env/x.env").is_err());
    }
}
