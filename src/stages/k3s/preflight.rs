//! Preflight facts of one node (from [`super::commands::preflight_probe`]) and the checks they
//! produce. Swap is reported, never changed.

use super::commands::{installed_version, supports_dropin};
use crate::config::{ClusterConfig, SwapBehavior, VmConfig};
use crate::stages::engine::Check;
use std::collections::BTreeMap;

/// Parsed `key=value` output of the probe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeFacts {
    pub os_id: String,
    pub os_version: String,
    pub arch: String,
    pub cpus: u32,
    pub mem_kib: u64,
    pub swap_kib: u64,
    pub cgroup_fs: String,
    pub ntp: String,
    pub hostname: String,
    pub listening: Vec<u16>,
    /// Installed k3s version, if any.
    pub k3s: Option<String>,
    pub downloader: String,
}

impl NodeFacts {
    pub fn parse(stdout: &str) -> NodeFacts {
        let kv: BTreeMap<&str, &str> = stdout
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let get = |k: &str| kv.get(k).copied().unwrap_or("").to_string();
        let (os_id, os_version) = {
            let os = get("os");
            let mut it = os.splitn(2, ' ');
            (
                it.next().unwrap_or("").to_string(),
                it.next().unwrap_or("").to_string(),
            )
        };
        NodeFacts {
            os_id,
            os_version,
            arch: get("arch"),
            cpus: get("cpus").parse().unwrap_or(0),
            mem_kib: get("mem_kib").parse().unwrap_or(0),
            swap_kib: get("swap_kib").parse().unwrap_or(0),
            cgroup_fs: get("cgroup"),
            ntp: get("ntp"),
            hostname: get("hostname"),
            listening: get("listening")
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect(),
            k3s: installed_version(&get("k3s")),
            downloader: get("downloader"),
        }
    }
}

fn gib(kib: u64) -> String {
    format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0)
}

/// Checks for one node. Ids are `node/<name>/<check>`.
pub fn node_checks(cluster: &ClusterConfig, vm: &VmConfig, f: &NodeFacts) -> Vec<Check> {
    let id = |c: &str| format!("node/{}/{c}", vm.name);
    let n = &vm.name;
    let mut out = Vec::new();

    let release = f
        .os_version
        .split_once('.')
        .and_then(|(y, m)| Some((y.parse::<u32>().ok()?, m.parse::<u32>().ok()?)));
    out.push(if f.os_id == "ubuntu" && release.is_some_and(|r| r < (22, 4)) {
        Check::warn(
            id("os"),
            format!("{n}: Ubuntu"),
            format!("Ubuntu {} predates 22.04 (cgroup v1 by default)", f.os_version),
            "rebuild the VM from a 22.04 or 24.04 LTS template",
        )
    } else if f.os_id == "ubuntu" {
        Check::pass(
            id("os"),
            format!("{n}: Ubuntu"),
            format!("Ubuntu {}", f.os_version),
        )
    } else {
        Check::fail(
            id("os"),
            format!("{n}: Ubuntu"),
            format!("found `{} {}`", f.os_id, f.os_version),
            "the k3s stage supports Ubuntu Server nodes; rebuild the VM from the Ubuntu template",
        )
    });

    out.push(match f.arch.as_str() {
        "x86_64" | "aarch64" | "armv7l" => {
            Check::pass(id("arch"), format!("{n}: architecture"), f.arch.clone())
        }
        other => Check::fail(
            id("arch"),
            format!("{n}: architecture"),
            format!("`{other}` has no k3s release"),
            "use an amd64 or arm64 VM",
        ),
    });

    out.push(if f.cpus >= vm.cores {
        Check::pass(
            id("cpu"),
            format!("{n}: CPUs"),
            format!("{} (config: {})", f.cpus, vm.cores),
        )
    } else {
        Check::warn(
            id("cpu"),
            format!("{n}: CPUs"),
            format!("{} online, config says {}", f.cpus, vm.cores),
            "check the VM's cores in Proxmox against config/clusters/*.yaml",
        )
    });

    let want_kib = vm.memory_mib * 1024;
    // The kernel keeps some memory for itself: accept 90 % of the configured size.
    out.push(if f.mem_kib * 10 >= want_kib * 9 {
        Check::pass(
            id("memory"),
            format!("{n}: memory"),
            format!("{} (config: {} MiB)", gib(f.mem_kib), vm.memory_mib),
        )
    } else {
        Check::warn(
            id("memory"),
            format!("{n}: memory"),
            format!(
                "{} visible, config says {} MiB",
                gib(f.mem_kib),
                vm.memory_mib
            ),
            "check the VM's memory (and ballooning) in Proxmox",
        )
    });

    out.push(if f.swap_kib > 0 {
        Check::pass(
            id("swap"),
            format!("{n}: swap"),
            format!(
                "ON, {} - left on by policy; kubelet runs with failSwapOn=false ({})",
                gib(f.swap_kib),
                swap_mode(cluster)
            ),
        )
    } else {
        Check::warn(
            id("swap"),
            format!("{n}: swap"),
            "OFF - homelab never changes swap; the cluster works, pods just cannot swap",
            "the Stage 1 design keeps swap on: add a swap file on the node if you want it (homelab will not)",
        )
    });

    let limited = cluster.k3s.swap_behavior == SwapBehavior::LimitedSwap;
    out.push(if f.cgroup_fs == "cgroup2fs" {
        Check::pass(id("cgroup"), format!("{n}: cgroup v2"), "cgroup2fs")
    } else if limited {
        Check::fail(
            id("cgroup"),
            format!("{n}: cgroup v2"),
            format!(
                "/sys/fs/cgroup is `{}`; LimitedSwap needs cgroup v2",
                f.cgroup_fs
            ),
            "use Ubuntu 22.04 or later (cgroup v2 by default) or set swap_behavior: NoSwap",
        )
    } else {
        Check::warn(
            id("cgroup"),
            format!("{n}: cgroup v2"),
            format!("/sys/fs/cgroup is `{}`", f.cgroup_fs),
            "cgroup v1 is deprecated; new k3s releases refuse it",
        )
    });

    out.push(match f.ntp.as_str() {
        "yes" => Check::pass(id("time"), format!("{n}: time sync"), "NTP synchronized"),
        other => Check::warn(
            id("time"),
            format!("{n}: time sync"),
            format!("NTPSynchronized={other}"),
            "enable systemd-timesyncd or chrony; etcd and TLS need correct clocks",
        ),
    });

    let wanted = [6443u16, 10250, 2379, 2380];
    let busy: Vec<u16> = wanted
        .iter()
        .copied()
        .filter(|p| f.listening.contains(p))
        .collect();
    out.push(if busy.is_empty() {
        Check::pass(
            id("ports"),
            format!("{n}: ports"),
            "6443, 10250, 2379-2380 free",
        )
    } else if f.k3s.is_some() {
        Check::pass(
            id("ports"),
            format!("{n}: ports"),
            format!("{busy:?} in use by the installed k3s"),
        )
    } else {
        Check::fail(
            id("ports"),
            format!("{n}: ports"),
            format!("{busy:?} already in use"),
            "stop whatever listens there (`sudo ss -ltnp`) before installing k3s",
        )
    });

    if f.downloader.is_empty() && cluster.k3s.install.mode == crate::config::InstallMode::Online {
        out.push(Check::fail(
            id("curl"),
            format!("{n}: downloader"),
            "neither curl nor wget found",
            "install curl on the node, or use install.mode: airgap",
        ));
    }

    out.push(match &f.k3s {
        None => Check::pass(id("k3s"), format!("{n}: k3s"), "not installed yet"),
        Some(v) if *v == cluster.k3s.version => Check::pass(
            id("k3s"),
            format!("{n}: k3s"),
            format!("{v} already installed"),
        ),
        Some(v) => Check::warn(
            id("k3s"),
            format!("{n}: k3s"),
            format!("{v} installed, config pins {}", cluster.k3s.version),
            "the plan offers an upgrade step; it asks before changing anything",
        ),
    });
    out
}

fn swap_mode(cluster: &ClusterConfig) -> &'static str {
    match (
        cluster.k3s.swap_behavior,
        supports_dropin(&cluster.k3s.version),
    ) {
        (SwapBehavior::LimitedSwap, true) => "LimitedSwap drop-in",
        (SwapBehavior::LimitedSwap, false) => "LimitedSwap needs k3s >= 1.32: NoSwap for pods",
        (SwapBehavior::NoSwap, _) => "NoSwap for pods",
    }
}

/// Cluster-wide checks over all nodes' facts.
pub fn cluster_checks(cluster: &ClusterConfig, facts: &[(String, NodeFacts)]) -> Vec<Check> {
    let mut out = Vec::new();
    let mut by_host: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (vm, f) in facts {
        by_host.entry(f.hostname.as_str()).or_default().push(vm);
    }
    let dups: Vec<String> = by_host
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|(h, v)| format!("`{h}` on {}", v.join(", ")))
        .collect();
    out.push(if dups.is_empty() {
        Check::pass("cluster/hostnames", "unique hostnames", format!("{} nodes", facts.len()))
    } else {
        Check::fail(
            "cluster/hostnames",
            "unique hostnames",
            dups.join("; "),
            "every node needs its own hostname (k3s uses it as the node name): set it with hostnamectl",
        )
    });
    for (vm, f) in facts {
        if !f.hostname.is_empty() && f.hostname != *vm {
            out.push(Check::warn(
                format!("node/{vm}/hostname"),
                format!("{vm}: hostname"),
                format!("hostname is `{}`", f.hostname),
                "the Ready check looks nodes up by VM name; set the hostname to match",
            ));
        }
    }
    let k = &cluster.k3s;
    out.push(match k.install.mode {
        crate::config::InstallMode::Online if k.install.script_sha256.is_none() => Check::fail(
            "cluster/script-checksum",
            "install script pinned",
            format!("no k3s.install.script_sha256 for {}", k.install.script_url),
            format!(
                "review the script, then pin it: `curl -sfL {} | sha256sum` into k3s.install.script_sha256",
                k.install.script_url
            ),
        ),
        crate::config::InstallMode::Online => Check::pass(
            "cluster/script-checksum",
            "install script pinned",
            format!("sha256 {}", k.install.script_sha256.as_deref().unwrap_or("")),
        ),
        crate::config::InstallMode::Airgap => {
            let missing: Vec<&str> = [
                ("airgap_binary", k.install.airgap_binary.as_deref()),
                ("airgap_images", k.install.airgap_images.as_deref()),
                ("airgap_script", k.install.airgap_script.as_deref()),
                ("airgap_checksums", k.install.airgap_checksums.as_deref()),
            ]
            .iter()
            .filter(|(_, p)| p.is_none_or(|p| !std::path::Path::new(p).exists()))
            .map(|(n, _)| *n)
            .collect();
            if !missing.is_empty() {
                Check::fail(
                    "cluster/airgap",
                    "air-gap files",
                    format!("missing or unset: {}", missing.join(", ")),
                    "download k3s, k3s-airgap-images, sha256sum-<arch>.txt and install.sh for the pinned version and set their paths",
                )
            } else if let Err(e) = super::airgap::staging(cluster, super::airgap::STAGING_TEMPLATE) {
                Check::fail(
                    "cluster/airgap",
                    "air-gap files",
                    e,
                    "use the files and the checksum file of the same k3s release, under their release names",
                )
            } else {
                Check::pass("cluster/airgap", "air-gap files", "binary, images, install script and checksum file present; the node checks the hashes")
            }
        }
    });
    if k.swap_behavior == SwapBehavior::LimitedSwap && !supports_dropin(&k.version) {
        out.push(Check::warn(
            "cluster/limited-swap",
            "LimitedSwap",
            format!("{} predates kubelet drop-ins in k3s (1.32)", k.version),
            "pods will not swap (NoSwap); pin k3s >= v1.32 for LimitedSwap",
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::engine::CheckStatus;

    const PROBE: &str = "os=ubuntu 24.04\narch=x86_64\ncpus=2\nmem_kib=6000000\nswap_kib=2097148\ncgroup=cgroup2fs\nntp=yes\nhostname=k3s-server-1\nlistening=22 53 \nk3s=\ndownloader=/usr/bin/curl\n";

    fn cluster() -> ClusterConfig {
        serde_yaml::from_str(include_str!("../../../config/clusters/prox-n100.yaml")).unwrap()
    }

    #[test]
    fn healthy_node_passes_and_reports_swap_on() {
        let c = cluster();
        let f = NodeFacts::parse(PROBE);
        assert_eq!(f.swap_kib, 2097148);
        let checks = node_checks(&c, &c.vms[0], &f);
        assert!(
            checks.iter().all(|c| c.status == CheckStatus::Pass),
            "{checks:#?}"
        );
        let swap = checks.iter().find(|c| c.id.ends_with("/swap")).unwrap();
        assert!(
            swap.detail.starts_with("ON, 2.0 GiB - left on"),
            "{}",
            swap.detail
        );
    }

    #[test]
    fn busy_ports_wrong_os_and_duplicate_hostnames_fail() {
        let c = cluster();
        let text = PROBE
            .replace("ubuntu 24.04", "debian 12")
            .replace("listening=22 53", "listening=22 6443 10250")
            .replace("swap_kib=2097148", "swap_kib=0");
        let f = NodeFacts::parse(&text);
        let checks = node_checks(&c, &c.vms[0], &f);
        let status = |s: &str| checks.iter().find(|c| c.id.ends_with(s)).unwrap().status;
        assert_eq!(status("/os"), CheckStatus::Fail);
        assert_eq!(status("/ports"), CheckStatus::Fail);
        assert_eq!(status("/swap"), CheckStatus::Warn);
        let old = NodeFacts::parse(&PROBE.replace("24.04", "20.04"));
        let checks = node_checks(&c, &c.vms[0], &old);
        let os = checks.iter().find(|c| c.id.ends_with("/os")).unwrap();
        assert_eq!(os.status, CheckStatus::Warn, "{os:?}");
        let same = vec![("a".to_string(), f.clone()), ("b".to_string(), f)];
        let cc = cluster_checks(&c, &same);
        assert_eq!(cc[0].status, CheckStatus::Fail);
        assert!(cc[0].detail.contains("a, b"));
        assert!(
            cc.iter()
                .any(|c| c.id == "cluster/script-checksum" && c.status == CheckStatus::Fail)
        );
    }
}
