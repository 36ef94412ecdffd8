//! Per-node settings of the Proxmox VE hosts (`proxmox.hosts`), and how the qemu-guest-agent
//! vendor snippet reaches them (`proxmox.vendor_snippet`: `ssh` or `manual`).
//!
//! Two layouts (docs/proxmox-stage.md, "One PVE cluster or standalone hosts"):
//! - **one PVE cluster**: `proxmox.endpoint` + `proxmox.token_id` serve every node; a
//!   `hosts` entry may only add the node's SSH address and snippet directory;
//! - **standalone hosts**: no `proxmox.endpoint`/`token_id`; every node in `proxmox.nodes` has a
//!   `hosts` entry with its own `endpoint`, `token_id` and pinned `tls.fingerprint`. VMIDs may
//!   repeat across hosts: a VM is identified by (node, vmid).

use super::schema::{ProxmoxConfig, ProxmoxTls};
use serde::{Deserialize, Serialize};

/// Where `local`'s snippets live on a PVE node.
pub const DEFAULT_SNIPPETS_DIR: &str = "/var/lib/vz/snippets";

/// How the vendor snippet gets onto each node's snippet storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnippetDelivery {
    /// The proxmox stage writes it over SSH as root (step `snippet/<node>`), comparing its hash.
    #[default]
    Ssh,
    /// The operator placed `infrastructure/proxmox/homelab-vendor.yaml` on each node; the stage
    /// only looks for it through the API (and waits for SSH only where it is missing).
    Manual,
}

/// One PVE node's own settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PveHost {
    /// The node name, one of `proxmox.nodes`.
    pub node: String,
    /// Standalone hosts: this node's API, `https://host:8006`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Standalone hosts: this node's API token id; its secret is
    /// `PROXMOX_TOKEN_SECRET_<NODE>` in the env file ([`token_secret_key`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Standalone hosts: this node's certificate pin (trusted on first use, like `proxmox.tls`).
    #[serde(default, skip_serializing_if = "is_default_tls")]
    pub tls: ProxmoxTls,
    /// SSH alias or address for root logins that write the snippet (default: the node name,
    /// looked up in ~/.ssh/config like `ssh <node>` would).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_host: Option<String>,
    /// Directory of `proxmox.snippets_storage` on the node (default `/var/lib/vz/snippets`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snippets_dir: Option<String>,
}

fn is_default_tls(t: &ProxmoxTls) -> bool {
    *t == ProxmoxTls::default()
}

/// Env-file key of a standalone host's token secret: `PROXMOX_TOKEN_SECRET_PVE_A` for `pve-a`.
pub fn token_secret_key(node: &str) -> String {
    format!("PROXMOX_TOKEN_SECRET_{}", key_suffix(node))
}

/// `pve-a` -> `PVE_A`.
fn key_suffix(node: &str) -> String {
    node.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// One API endpoint and the nodes it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiEndpoint {
    /// The field path of the endpoint (`proxmox` or `proxmox.hosts[1]`), for messages and for
    /// storing a trusted fingerprint.
    pub path: String,
    pub endpoint: String,
    pub token_id: String,
    pub tls: ProxmoxTls,
    /// Env-file key of the token secret.
    pub secret_key: String,
    /// Env-file key of a password for ticket login instead.
    pub password_key: String,
    pub nodes: Vec<String>,
}

impl ProxmoxConfig {
    /// This node's `hosts` entry, if any.
    pub fn host(&self, node: &str) -> Option<&PveHost> {
        self.hosts.iter().find(|h| h.node == node)
    }

    /// Whether every node has its own API (the standalone-hosts layout).
    pub fn standalone(&self) -> bool {
        self.endpoint.is_empty() && self.hosts.iter().any(|h| h.endpoint.is_some())
    }

    /// The API endpoints: one for a PVE cluster, one per node for standalone hosts.
    pub fn api_endpoints(&self) -> Vec<ApiEndpoint> {
        if !self.standalone() {
            return vec![ApiEndpoint {
                path: "proxmox".into(),
                endpoint: self.endpoint.clone(),
                token_id: self.token_id.clone(),
                tls: self.tls.clone(),
                secret_key: "PROXMOX_TOKEN_SECRET".into(),
                password_key: "PROXMOX_PASSWORD".into(),
                nodes: self.nodes.clone(),
            }];
        }
        self.hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                Some(ApiEndpoint {
                    path: format!("proxmox.hosts[{i}]"),
                    endpoint: h.endpoint.clone()?,
                    token_id: h.token_id.clone().unwrap_or_default(),
                    tls: h.tls.clone(),
                    secret_key: token_secret_key(&h.node),
                    password_key: format!("PROXMOX_PASSWORD_{}", key_suffix(&h.node)),
                    nodes: vec![h.node.clone()],
                })
            })
            .collect()
    }

    /// SSH alias of `node` for the snippet writes.
    pub fn ssh_host(&self, node: &str) -> String {
        self.host(node)
            .and_then(|h| h.ssh_host.clone())
            .unwrap_or_else(|| node.to_owned())
    }

    /// Directory of the snippet storage on `node`.
    pub fn snippets_dir(&self, node: &str) -> String {
        self.host(node)
            .and_then(|h| h.snippets_dir.clone())
            .unwrap_or_else(|| DEFAULT_SNIPPETS_DIR.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_env_names() {
        assert_eq!(token_secret_key("pve-a"), "PROXMOX_TOKEN_SECRET_PVE_A");
        assert_eq!(token_secret_key("n100"), "PROXMOX_TOKEN_SECRET_N100");
    }
}
