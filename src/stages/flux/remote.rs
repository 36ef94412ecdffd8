//! The git host the Flux stage pushes to and Flux pulls from (`flux.repo`): [`GitRemote`] is
//! what the stage needs of it; [`SshRemote`] is the product's, on `backends::git_push` (git2
//! over our russh client, the operator's agent and keys, our host-key trust). Tests of the
//! whole stage against the kube simulator plug in a local bare repository through the same
//! trait; the SSH path is tested against OpenSSH sshd + git-shell.

use crate::backends::git_push::{self, SshAccess};
use crate::backends::ssh::known_hosts;
use async_trait::async_trait;
use std::path::Path;

#[async_trait]
pub trait GitRemote: Send + Sync {
    /// The URL, for plans and messages.
    fn url(&self) -> String;
    /// The commit `branch` points to on the remote (`None`: no such branch). An error says
    /// why the remote cannot be reached.
    async fn head(&self, repo: &Path, branch: &str) -> Result<Option<String>, String>;
    /// Push the local `branch` to the same branch (never forced). An error says why it was
    /// refused.
    async fn push(&self, repo: &Path, branch: &str) -> Result<String, String>;
    /// The `known_hosts` lines source-controller checks the host against (`host keytype key`,
    /// the host named as in the URL).
    async fn known_hosts(&self) -> Result<String, String>;
}

/// `flux.repo` over SSH.
pub struct SshRemote {
    pub url: String,
    pub access: SshAccess,
}

#[async_trait]
impl GitRemote for SshRemote {
    fn url(&self) -> String {
        self.url.clone()
    }

    async fn head(&self, repo: &Path, branch: &str) -> Result<Option<String>, String> {
        git_push::remote_head(repo, &self.url, branch, self.access.clone())
            .await
            .map(|o| o.map(|o| o.to_string()))
            .map_err(|e| e.to_string())
    }

    async fn push(&self, repo: &Path, branch: &str) -> Result<String, String> {
        git_push::push(repo, &self.url, branch, self.access.clone())
            .await
            .map(|p| p.head.to_string())
            .map_err(|e| e.to_string())
    }

    async fn known_hosts(&self) -> Result<String, String> {
        let url = git_push::parse_url(&self.url).map_err(|m| format!("{}: {m}", self.url))?;
        let target = crate::backends::ssh::SshTarget {
            alias: url.host.clone(),
            user: url.user.clone(),
            port: url.port,
            identity_file: None,
        };
        let route = crate::backends::ssh::resolve(&self.access.env, &target)
            .map_err(|e| format!("{}: {e}", self.url))?;
        let as_name = known_hosts::host_port_name(&url.host, url.port.unwrap_or(22));
        let t = &route.target;
        let lines = known_hosts::host_key_lines(&t.known_hosts, &t.host, t.port, &as_name);
        if lines.is_empty() {
            return Err(format!(
                "no host key for {as_name} in {}: Flux would refuse the host. Connect once \
                 (`ssh -T {}`), or add it with `ssh-keyscan`",
                t.known_hosts
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                url.host
            ));
        }
        Ok(lines.join("\n") + "\n")
    }
}

/// Where the operator adds the deploy key, for the hosts whose page is known.
pub fn deploy_key_page(url: &str) -> String {
    let (host, path) = match git_push::parse_url(url) {
        Ok(u) => (u.host, u.path),
        Err(_) => return "the repository's deploy keys on its git host (read access)".into(),
    };
    let repo = path
        .trim_start_matches('/')
        .trim_end_matches(".git")
        .to_string();
    match host.as_str() {
        "github.com" => format!(
            "https://github.com/{repo}/settings/keys/new (Deploy keys, read access is enough)"
        ),
        "gitlab.com" => format!(
            "https://gitlab.com/{repo}/-/settings/repository (Deploy keys, read access is enough)"
        ),
        "codeberg.org" => format!(
            "https://codeberg.org/{repo}/settings/keys (Deploy keys, read access is enough)"
        ),
        _ => format!(
            "the deploy keys of {repo} on {host} (read access is enough; for a plain git server, \
             the git user's authorized_keys)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_key_page_is_the_hosts_own() {
        assert_eq!(
            deploy_key_page("ssh://git@github.com/funoffshore/homelab.git"),
            "https://github.com/funoffshore/homelab/settings/keys/new (Deploy keys, read access is enough)"
        );
        assert!(
            deploy_key_page("git@gitlab.com:me/lab.git")
                .starts_with("https://gitlab.com/me/lab/-/")
        );
        assert!(deploy_key_page("ssh://git@127.0.0.1:2222/srv/lab.git").contains("on 127.0.0.1"));
    }
}
