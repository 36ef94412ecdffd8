//! The exact shell the k3s stage runs on nodes. Pure functions of the cluster definition, so the
//! plan shows precisely what apply runs, and tests can assert it. Nothing here touches swap:
//! there is no `swapoff`, no fstab edit, and the kubelet is told to run with swap on.

use super::airgap::{self, Staging};
use super::kube_vip;
use crate::backends::ssh::RemoteCommand;
use crate::config::{ClusterConfig, InstallMode, SwapBehavior};
use crate::shell_quote::quote;

pub const TOKEN_PATH: &str = "/var/lib/rancher/k3s/server/node-token";
pub const KUBECONFIG_PATH: &str = "/etc/rancher/k3s/k3s.yaml";
pub const DROPIN_DIR: &str = "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d";
pub const DROPIN_FILE: &str = "/var/lib/rancher/k3s/agent/etc/kubelet.conf.d/50-homelab-swap.conf";
pub const AIRGAP_IMAGES_DIR: &str = "/var/lib/rancher/k3s/agent/images";

pub use crate::domain::version::parse_version;

/// The version k3s prints: `k3s version v1.33.5+k3s1 (abcdef12)` -> `v1.33.5+k3s1`.
pub fn installed_version(k3s_version_output: &str) -> Option<String> {
    k3s_version_output
        .split_whitespace()
        .skip_while(|w| *w != "version")
        .nth(1)
        .map(str::to_string)
}

/// Kubelet config drop-ins (`--config-dir`) are honoured by k3s 1.32 and later.
pub fn supports_dropin(version: &str) -> bool {
    parse_version(version).is_some_and(|(maj, min, _)| maj > 1 || min >= 32)
}

/// The KubeletConfiguration drop-in that keeps the kubelet running with swap on, and (for
/// LimitedSwap) lets Burstable pods use a proportional share of it.
pub fn swap_dropin(behavior: SwapBehavior) -> String {
    let b = match behavior {
        SwapBehavior::LimitedSwap => "LimitedSwap",
        SwapBehavior::NoSwap => "NoSwap",
    };
    format!(
        "# Written by homelab (k3s stage). Swap stays ON on this node by policy; see docs/k3s-stage.md.\n\
         apiVersion: kubelet.config.k8s.io/v1beta1\n\
         kind: KubeletConfiguration\n\
         failSwapOn: false\n\
         memorySwap:\n  swapBehavior: {b}\n"
    )
}

/// Write `content` to `file` in `dir` as root: a temporary file renamed over it, so a reader
/// (the kubelet) never sees half a file. `content` travels in a quoted here-document.
fn write_root_file(dir: &str, file: &str, content: &str) -> RemoteCommand {
    RemoteCommand::root(format!(
        "mkdir -p {dir} && cat > {file}.tmp <<'HOMELAB_EOF'\n{content}HOMELAB_EOF\nmv {file}.tmp {file}",
        dir = quote(dir),
        file = quote(file),
    ))
    .idempotent()
}

/// A root-owned file's content (empty when it is absent).
fn read_root_file(file: &str) -> RemoteCommand {
    RemoteCommand::root(format!("cat {} 2>/dev/null || true", quote(file))).idempotent()
}

/// Write the drop-in (root). Only for versions that support it.
pub fn write_dropin(behavior: SwapBehavior) -> RemoteCommand {
    write_root_file(DROPIN_DIR, DROPIN_FILE, &swap_dropin(behavior))
}

pub fn read_dropin() -> RemoteCommand {
    read_root_file(DROPIN_FILE)
}

/// Write the kube-vip static pod manifest on a server (`None` without `k3s.vip`).
pub fn write_kube_vip(cluster: &ClusterConfig) -> Option<RemoteCommand> {
    let vip = cluster.k3s.vip.as_ref()?;
    Some(write_root_file(
        kube_vip::MANIFEST_DIR,
        kube_vip::MANIFEST_FILE,
        &kube_vip::manifest(cluster, vip),
    ))
}

pub fn read_kube_vip() -> RemoteCommand {
    read_root_file(kube_vip::MANIFEST_FILE)
}

/// `k3s --version` (empty output when absent).
pub fn probe_version() -> RemoteCommand {
    RemoteCommand::probe("if command -v k3s >/dev/null 2>&1; then k3s --version | head -n1; fi")
}

pub fn read_token() -> RemoteCommand {
    RemoteCommand::root(format!("cat {TOKEN_PATH}")).idempotent()
}

pub fn read_kubeconfig() -> RemoteCommand {
    RemoteCommand::root(format!("cat {KUBECONFIG_PATH}")).idempotent()
}

/// Which join a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// The first server: initialises the cluster.
    FirstServer,
    /// Another server, joining the first (embedded etcd).
    JoinServer,
    Agent,
}

/// The URL agents and joining servers use.
pub fn server_url(cluster: &ClusterConfig) -> String {
    format!("https://{}:{}", cluster.api_address(), api_port(cluster))
}

pub fn api_port(cluster: &ClusterConfig) -> u16 {
    cluster.k3s.api_port.unwrap_or(6443)
}

/// The k3s subcommand and flags for a node.
pub fn k3s_args(cluster: &ClusterConfig, role: &Role) -> Vec<String> {
    let k = &cluster.k3s;
    let mut a: Vec<String> = Vec::new();
    let several_servers = cluster.servers().count() > 1;
    match role {
        Role::FirstServer | Role::JoinServer => {
            a.push("server".into());
            if *role == Role::FirstServer && several_servers {
                a.push("--cluster-init".into());
            }
            if *role == Role::JoinServer {
                a.extend(["--server".into(), server_url(cluster)]);
            }
            a.extend(["--tls-san".into(), cluster.api_address()]);
            a.extend(["--disable".into(), "traefik".into()]);
            a.extend(["--disable".into(), "servicelb".into()]);
            a.extend(["--write-kubeconfig-mode".into(), "0600".into()]);
            if api_port(cluster) != 6443 {
                a.extend(["--https-listen-port".into(), api_port(cluster).to_string()]);
            }
            a.push("--kubelet-arg=fail-swap-on=false".into());
            a.extend(k.server_args.iter().cloned());
        }
        Role::Agent => {
            a.push("agent".into());
            a.push("--kubelet-arg=fail-swap-on=false".into());
            a.extend(k.agent_args.iter().cloned());
        }
    }
    a
}

/// Where the install script comes from.
fn script_source(cluster: &ClusterConfig) -> String {
    let i = &cluster.k3s.install;
    match i.mode {
        InstallMode::Online => i.script_url.clone(),
        InstallMode::Airgap => i.airgap_script.clone().unwrap_or_default(),
    }
}

/// The install (or join, or upgrade) command for a node. `token` is `None` for the first server.
/// In air-gap mode the binary, images and script were uploaded to `staging` before (see
/// [`super::airgap`]); without one (a plan made before the upload) the script shows the
/// `mktemp` template and placeholders for hashes it could not read.
pub fn install(
    cluster: &ClusterConfig,
    role: &Role,
    token: Option<&str>,
    staging: Option<&Staging>,
) -> RemoteCommand {
    let k = &cluster.k3s;
    let mut env: Vec<(String, String)> = vec![("INSTALL_K3S_VERSION".into(), k.version.clone())];
    if k.install.mode == InstallMode::Airgap {
        env.push(("INSTALL_K3S_SKIP_DOWNLOAD".into(), "true".into()));
    }
    if let Some(t) = token {
        env.push(("K3S_TOKEN".into(), t.to_string()));
        if *role == Role::Agent {
            env.push(("K3S_URL".into(), server_url(cluster)));
        }
    }
    let env_line: Vec<String> = env
        .iter()
        .map(|(k, v)| format!("{k}={}", quote(v)))
        .collect();
    let args: Vec<String> = k3s_args(cluster, role).iter().map(|a| quote(a)).collect();
    let mut script = String::from("set -e\n");
    match k.install.mode {
        InstallMode::Online => {
            script.push_str(&format!(
                "tmp=$(mktemp -d)\ntrap 'rm -rf \"$tmp\"' EXIT\ncurl -sfL {} -o \"$tmp/install.sh\"\n",
                quote(&script_source(cluster))
            ));
        }
        InstallMode::Airgap => {
            let planned = staging.cloned().unwrap_or_else(|| {
                airgap::staging(cluster, airgap::STAGING_TEMPLATE).unwrap_or_else(|_| {
                    let unknown = |name: &str| airgap::Verified {
                        name: name.into(),
                        sha256: "<from the checksum file>".into(),
                    };
                    Staging {
                        dir: airgap::STAGING_TEMPLATE.into(),
                        source: "k3s.install.airgap_checksums".into(),
                        binary: unknown("k3s"),
                        images: unknown("<images>"),
                    }
                })
            });
            script.push_str(&airgap::install_fragment(&planned, AIRGAP_IMAGES_DIR));
        }
    }
    if let Some(sum) = &k.install.script_sha256 {
        script.push_str(&format!(
            "actual=$(sha256sum \"$tmp/install.sh\" | cut -d' ' -f1)\n\
             if [ \"$actual\" != {want} ]; then printf 'install script checksum mismatch: expected %s, got %s (%s)\\n' {want} \"$actual\" {src} >&2; exit 3; fi\n",
            want = quote(sum),
            src = quote(&script_source(cluster)),
        ));
    }
    script.push_str(&format!(
        "{} sh \"$tmp/install.sh\" {}\n",
        env_line.join(" "),
        args.join(" ")
    ));
    let mut cmd = RemoteCommand::root(script);
    if let Some(t) = token {
        cmd = cmd.with_secret(t);
    }
    cmd
}

/// One probe that gathers every preflight fact as `key=value` lines.
pub fn preflight_probe() -> RemoteCommand {
    RemoteCommand::probe(
        r#"echo "os=$(. /etc/os-release 2>/dev/null; echo "$ID $VERSION_ID")"
echo "arch=$(uname -m)"
echo "cpus=$(nproc)"
echo "mem_kib=$(awk '/^MemTotal:/{print $2}' /proc/meminfo)"
echo "swap_kib=$(awk 'NR>1{s+=$3} END{print s+0}' /proc/swaps)"
echo "cgroup=$(stat -fc %T /sys/fs/cgroup 2>/dev/null)"
echo "ntp=$(timedatectl show -p NTPSynchronized --value 2>/dev/null || echo unknown)"
echo "hostname=$(hostname)"
echo "listening=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | sort -un | tr '\n' ' ')"
echo "k3s=$(command -v k3s >/dev/null 2>&1 && k3s --version 2>/dev/null | head -n1)"
echo "downloader=$(command -v curl || command -v wget)""#,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster() -> ClusterConfig {
        let text = include_str!("../../../config/clusters/prox-n100.yaml");
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("v1.33.5+k3s1"), Some((1, 33, 5)));
        assert_eq!(parse_version("v1.31.4-rc1+k3s1"), Some((1, 31, 4)));
        assert!(supports_dropin("v1.32.0+k3s1"));
        assert!(!supports_dropin("v1.31.9+k3s1"));
        assert_eq!(
            installed_version("k3s version v1.33.5+k3s1 (a1b2c3d4)").as_deref(),
            Some("v1.33.5+k3s1")
        );
        assert_eq!(installed_version(""), None);
    }

    #[test]
    fn first_server_flags() {
        let c = cluster();
        let args = k3s_args(&c, &Role::FirstServer).join(" ");
        assert_eq!(
            args,
            "server --tls-san 192.168.1.21 --disable traefik --disable servicelb \
             --write-kubeconfig-mode 0600 --kubelet-arg=fail-swap-on=false \
             --disable=local-storage --disable=metrics-server"
        );
        let mut ha = c.clone();
        let mut s2 = ha.vms[0].clone();
        s2.name = "k3s-server-2".into();
        ha.vms.push(s2);
        assert!(k3s_args(&ha, &Role::FirstServer).contains(&"--cluster-init".to_string()));
        let join = k3s_args(&ha, &Role::JoinServer).join(" ");
        assert!(
            join.starts_with("server --server https://192.168.1.21:6443 "),
            "{join}"
        );
    }

    #[test]
    fn agent_install_masks_the_token_and_never_touches_swap() {
        let mut c = cluster();
        c.k3s.install.script_sha256 = Some("ab".repeat(32));
        let cmd = install(&c, &Role::Agent, Some("K10secret::server:xyz"), None);
        assert!(cmd.script.contains("K3S_TOKEN=K10secret::server:xyz"));
        assert!(cmd.script.contains("K3S_URL=https://192.168.1.21:6443"));
        assert!(cmd.script.contains("INSTALL_K3S_VERSION=v1.33.5+k3s1"));
        assert!(!cmd.display().contains("K10secret"));
        assert!(cmd.script.contains("checksum mismatch"));
        for text in [cmd.script.as_str(), &swap_dropin(SwapBehavior::LimitedSwap)] {
            assert!(
                !text.contains("swapoff") && !text.contains("fstab"),
                "{text}"
            );
        }
        assert!(swap_dropin(SwapBehavior::LimitedSwap).contains("swapBehavior: LimitedSwap"));
    }

    /// The payload from issue 12: before quoting it ran `touch` as root when the checksum differed.
    /// The script runs in a real `sh` with `curl` and `touch` replaced by recorders on PATH.
    #[test]
    fn a_hostile_script_url_is_data_not_code() {
        use std::os::unix::fs::PermissionsExt;
        let payload = "https://get.k3s.io/?x=\"; touch /tmp/PWNED; echo \"";
        let mut c = cluster();
        c.k3s.install.script_url = payload.into();
        c.k3s.install.script_sha256 = Some("ab".repeat(32));
        let cmd = install(&c, &Role::FirstServer, None, None);
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let log = dir.path().join("ran");
        for (name, body) in [
            (
                "curl",
                "#!/bin/sh\nfor a; do printf 'curl [%s]\\n' \"$a\"; done >> \"$LOG\"\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then shift; echo 'echo installer ran' > \"$1\"; fi; shift; done\n",
            ),
            ("touch", "#!/bin/sh\necho \"TOUCH RAN: $*\" >> \"$LOG\"\n"),
        ] {
            let p = bin.join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd.script)
            .env("PATH", path)
            .env("LOG", &log)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let ran = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(out.status.code(), Some(3), "{stderr}\n{ran}");
        assert!(!ran.contains("TOUCH RAN"), "the payload ran: {ran}");
        // curl got the URL as one argument, and the error names it byte for byte.
        assert!(ran.contains(&format!("curl [{payload}]\n")), "{ran}");
        assert!(stderr.contains(&format!("({payload})")), "{stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("installer ran"));
    }
}
