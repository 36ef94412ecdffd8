//! Typed schema of `config/clusters/<name>.yaml`. Field names are the YAML keys.
//!
//! Secrets never live here: anything secret is named by its key in the SOPS env file
//! (`config/env/<name>.env`), e.g. `PROXMOX_TOKEN_SECRET`.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// Root of a cluster definition file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// DNS-safe cluster name; must match the file name (`prox-n100` for `prox-n100.yaml`).
    pub name: String,
    /// Public domain; `*.domain` routes through the Cloudflare tunnel.
    pub domain: String,
    pub proxmox: ProxmoxConfig,
    pub template: TemplateConfig,
    pub network: NetworkConfig,
    pub ssh: SshConfig,
    pub vms: Vec<VmConfig>,
    pub k3s: K3sConfig,
    pub flux: FluxConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub observability: ObservabilityConfig,
    /// Accept plain `http://` for endpoints that carry credentials (the PVE token, observability
    /// credentials). Off by default: validation refuses them; when on, preflight warns.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_insecure_http: bool,
}

/// How to reach the Proxmox VE API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxConfig {
    /// `https://host:8006` (no `/api2/json`, no trailing slash). Empty (left out) for standalone
    /// hosts, whose endpoints are in `hosts` (config/pve_hosts.rs).
    #[serde(default)]
    pub endpoint: String,
    /// PVE node names VMs may be placed on (seed homelabs run two hosts).
    pub nodes: Vec<String>,
    /// API token id, `user@realm!tokenname`. The token secret is `PROXMOX_TOKEN_SECRET` in the env file.
    /// Empty (left out) for standalone hosts.
    #[serde(default)]
    pub token_id: String,
    #[serde(default)]
    pub tls: ProxmoxTls,
    /// Storage for VM disks (e.g. `local-lvm`).
    pub vm_storage: String,
    /// Storage that holds the downloaded cloud image (content `import`/`iso`, e.g. `local`).
    pub image_storage: String,
    /// Storage for cloud-init snippets (content `snippets`), e.g. `local`.
    #[serde(default = "default_snippets_storage")]
    pub snippets_storage: String,
    /// Bridge the VMs' first NIC attaches to.
    pub bridge: String,
    /// Tag that marks VMs as managed by homelab.
    #[serde(default = "default_tag")]
    pub tag: String,
    /// How the qemu-guest-agent vendor snippet reaches the nodes (`ssh` or `manual`).
    #[serde(default)]
    pub vendor_snippet: super::pve_hosts::SnippetDelivery,
    /// Per-node settings: SSH address and snippet directory; each node's own API for standalone
    /// hosts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<super::pve_hosts::PveHost>,
}

fn default_snippets_storage() -> String {
    "local".into()
}
fn default_tag() -> String {
    "homelab".into()
}

/// TLS trust for the PVE API: pinned fingerprint (TOFU) or normal CA verification.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxmoxTls {
    /// SHA-256 of the node's leaf certificate, `AB:CD:...`. Empty until trusted on first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Verify against the system/webpki roots instead of pinning.
    #[serde(default)]
    pub verify_ca: bool,
}

/// The Ubuntu cloud image and the template VM cloned from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateConfig {
    pub vmid: u32,
    pub name: String,
    /// PVE node that holds the template (clones to other nodes need shared storage or a template per node).
    pub node: String,
    pub image: CloudImage,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudImage {
    pub url: String,
    /// File name on the image storage (PVE requires `.img`/`.qcow2`/`.raw` for import content).
    pub file_name: String,
    /// A literal digest, `sha256:<hex>` or `sha512:<hex>` (air-gap, or an image no checksum
    /// file lists). Exactly one of `checksum` and `checksums` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    /// The release's checksum file, fetched over HTTPS when the proxmox stage plans
    /// (docs/proxmox-stage.md, "The image digest").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksums: Option<ChecksumFile>,
}

/// Where the cloud image's digest comes from: the release's `SHA256SUMS`, optionally signed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecksumFile {
    /// `https://` URL of the release's `SHA256SUMS` (the line for the image's file is taken).
    pub url: String,
    /// OpenPGP keyring file (binary, as `gpg --export` writes it; `~/` expanded) that signed
    /// `<url>.gpg`. Given: the detached signature is fetched and checked with `gpgv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    /// PEM CA file trusted for this download besides the platform store (a private mirror).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// IPv4 CIDR the VMs live in, e.g. `192.168.1.0/24`.
    pub subnet: String,
    pub gateway: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    #[serde(default)]
    pub search_domain: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshConfig {
    /// Login user created by cloud-init on every VM.
    pub user: String,
    /// Public keys (paths, `~` expanded) installed by cloud-init.
    pub public_keys: Vec<String>,
    /// Private key used by homelab (else ssh-agent and ~/.ssh/config decide).
    #[serde(default)]
    pub identity_file: Option<String>,
    #[serde(default = "default_ssh_port")]
    pub port: u16,
}

fn default_ssh_port() -> u16 {
    22
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VmRole {
    Server,
    Agent,
}

impl VmRole {
    pub fn as_str(self) -> &'static str {
        match self {
            VmRole::Server => "server",
            VmRole::Agent => "agent",
        }
    }
}

/// One k3s node VM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmConfig {
    /// DNS-safe hostname, also the VM name in PVE.
    pub name: String,
    pub role: VmRole,
    /// PVE node this VM runs on.
    pub node: String,
    pub vmid: u32,
    pub cores: u32,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// Boot disk size in GiB.
    pub disk_gib: u64,
    pub ip: Ipv4Addr,
    /// Per-node SSH user override.
    #[serde(default)]
    pub ssh_user: Option<String>,
    /// Per-node SSH key override.
    #[serde(default)]
    pub identity_file: Option<String>,
}

impl VmConfig {
    /// `disk_gib` in bytes, saturating (validation bounds it; the arithmetic never panics).
    pub fn disk_bytes(&self) -> u64 {
        self.disk_gib.saturating_mul(1 << 30)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InstallMode {
    #[default]
    Online,
    Airgap,
}

/// Pod swap behaviour. `NoSwap` tolerates swap (kubelet `failSwapOn: false`) without letting pods
/// use it; `LimitedSwap` lets Burstable pods swap (k3s >= 1.32 via a kubelet drop-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SwapBehavior {
    NoSwap,
    #[default]
    LimitedSwap,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K3sConfig {
    /// Pinned release, `v1.33.5+k3s1`.
    pub version: String,
    /// Address the kubeconfig points at and that goes into `--tls-san` (first server's IP by default).
    #[serde(default)]
    pub api_address: Option<String>,
    /// API server port (k3s `--https-listen-port`); 6443 unless set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_port: Option<u16>,
    /// A virtual IP in front of the API servers (kube-vip on every server); the kubeconfig,
    /// `--tls-san` and `K3S_URL` use it. Needed with more than one server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip: Option<K3sVip>,
    #[serde(default)]
    pub install: K3sInstall,
    #[serde(default)]
    pub swap_behavior: SwapBehavior,
    #[serde(default)]
    pub server_args: Vec<String>,
    #[serde(default)]
    pub agent_args: Vec<String>,
}

/// The API's virtual IP: kube-vip as a static pod on every server, ARP mode, leader election.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K3sVip {
    /// The address: inside `network.subnet`, no VM's address.
    pub address: Ipv4Addr,
    /// The servers' network interface that carries it, e.g. `eth0`.
    pub interface: String,
    /// The kube-vip image (tag and preferably `@sha256:` digest); a pinned default otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K3sInstall {
    #[serde(default)]
    pub mode: InstallMode,
    #[serde(default = "default_script_url")]
    pub script_url: String,
    /// SHA-256 of the install script; the run stops if the downloaded script differs.
    #[serde(default)]
    pub script_sha256: Option<String>,
    /// Air-gap: local paths of the k3s binary and the images tarball to upload over SFTP.
    #[serde(default)]
    pub airgap_binary: Option<String>,
    #[serde(default)]
    pub airgap_images: Option<String>,
    /// Air-gap: local path of the k3s install script to upload (checked against script_sha256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airgap_script: Option<String>,
    /// Air-gap: local path of the release's `sha256sum-<arch>.txt`; the node checks the binary
    /// and the images against it before installing them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub airgap_checksums: Option<String>,
}

impl Default for K3sInstall {
    fn default() -> Self {
        Self {
            mode: InstallMode::Online,
            script_url: default_script_url(),
            script_sha256: None,
            airgap_binary: None,
            airgap_images: None,
            airgap_script: None,
            airgap_checksums: None,
        }
    }
}

fn default_script_url() -> String {
    "https://get.k3s.io".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FluxConfig {
    /// Git URL Flux pulls from (ssh:// or https://).
    pub repo: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Path of the Flux entry point inside the repo.
    #[serde(default = "default_flux_path")]
    pub path: String,
    /// Pinned Flux release, `v2.7.3`.
    pub version: String,
    /// SHA-256 (64 hex digits) of that release's `install.yaml`, as `flux_<version>_checksums.txt`
    /// lists it. The Flux stage refuses an install manifest (downloaded or `--flux-manifest`)
    /// that differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install_sha256: Option<String>,
    /// Secrets the tree's objects reference that something in the cluster creates, not a
    /// `*.sops.yaml` file (`namespace/name`; `homelab check` rule `secrets/resolves`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets_made_outside: Vec<String>,
}

fn default_branch() -> String {
    "main".into()
}
fn default_flux_path() -> String {
    "cluster/kubernetes/flux".into()
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// Synology NFS server address and export used by nfs-subdir and Longhorn backups.
    #[serde(default)]
    pub nfs_server: Option<String>,
    #[serde(default)]
    pub nfs_export: Option<String>,
    /// Longhorn's backup target (`nfs://server:/path[?nfsOptions=...]`); unset: the export above,
    /// `nfs://<nfs_server>:<nfs_export>`. The storage stage sets it on BackupTarget `default`.
    #[serde(default)]
    pub backup_target: Option<String>,
}

impl StorageConfig {
    /// `storage.backup_target`, or `nfs://<nfs_server>:<nfs_export>` (`None`: neither is set).
    pub fn backup_target(&self) -> Option<String> {
        if let Some(t) = &self.backup_target {
            return Some(t.clone());
        }
        match (&self.nfs_server, &self.nfs_export) {
            (Some(s), Some(e)) => Some(format!("nfs://{s}:{e}")),
            _ => None,
        }
    }
}

/// Day-two endpoints. Credentials are named by env-file key, never stored here.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObservabilityConfig {
    #[serde(default)]
    pub loki_url: Option<String>,
    #[serde(default)]
    pub prometheus_url: Option<String>,
    #[serde(default)]
    pub alertmanager_url: Option<String>,
    /// Env-file key of a basic-auth `user:password` pair for the endpoints.
    #[serde(default)]
    pub basic_auth_env: Option<String>,
    /// Env-file key of a bearer token for the endpoints.
    #[serde(default)]
    pub bearer_token_env: Option<String>,
    /// PEM file (relative to the repository root) of a private CA that signed the endpoint's
    /// certificate, trusted besides the platform store, by queries and the Loki tail alike.
    #[serde(default)]
    pub loki_ca_file: Option<String>,
    #[serde(default)]
    pub prometheus_ca_file: Option<String>,
    #[serde(default)]
    pub alertmanager_ca_file: Option<String>,
    /// Port-forward targets `namespace/service:port` (`config::service_target`) the
    /// observability stage probed and wrote: the Services the console forwards to when no URL
    /// above is set (`screens/console/forwarded.rs`; without them, the tree's defaults).
    #[serde(default)]
    pub loki_service: Option<String>,
    #[serde(default)]
    pub prometheus_service: Option<String>,
    #[serde(default)]
    pub alertmanager_service: Option<String>,
}

impl ClusterConfig {
    pub fn servers(&self) -> impl Iterator<Item = &VmConfig> {
        self.vms.iter().filter(|v| v.role == VmRole::Server)
    }
    pub fn agents(&self) -> impl Iterator<Item = &VmConfig> {
        self.vms.iter().filter(|v| v.role == VmRole::Agent)
    }
    /// The API address the kubeconfig, `K3S_URL` and `--tls-san` use: the VIP when there is
    /// one, else `k3s.api_address`, else the first server's IP.
    pub fn api_address(&self) -> String {
        self.k3s
            .vip
            .as_ref()
            .map(|v| v.address.to_string())
            .or_else(|| self.k3s.api_address.clone())
            .or_else(|| self.servers().next().map(|s| s.ip.to_string()))
            .unwrap_or_default()
    }
}
