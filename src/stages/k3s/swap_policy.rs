//! Swap stays ON (Stage 1 policy): every command the k3s stage can produce, over a matrix of
//! cluster definitions, leaves swap alone and keeps the kubelet running with swap on.
//!
//! `check`'s swap rule reads the tree's YAML and scripts; this reads homelab's own command
//! builders (`commands.rs`, `airgap.rs`, `kube_vip.rs`). A new public builder in those files
//! fails [`every_builder_is_enumerated`] until it is added to the matrix below.

use super::airgap::{self, Staging, Verified};
use super::commands::{self, Role};
use super::kube_vip;
use crate::config::{ClusterConfig, InstallMode, K3sVip, SwapBehavior, VmRole};

/// What no command may contain (lower-cased): turning swap off, editing the swap lines of
/// fstab, tuning swappiness away, or a kubelet that refuses to start with swap on.
const FORBIDDEN: &[&str] = &[
    "swapoff",
    "fstab",
    "swappiness",
    "vm.swap",
    "/proc/sys/vm",
    "mkswap",
    "fail-swap-on=true",
    "fail-swap-on\"=true",
    "fail_swap_on=true",
    "failswapon: true",
    "failswapon=true",
];

/// The kubelet flag that keeps it running with swap on (k3s passes it on every version).
const KEEP_SWAP_ON: &str = "--kubelet-arg=fail-swap-on=false";

fn base() -> ClusterConfig {
    serde_yaml::from_str(include_str!("../../../config/clusters/prox-n100.yaml")).unwrap()
}

/// One definition of the matrix.
struct Case {
    label: String,
    cluster: ClusterConfig,
}

/// HA on/off x air-gap on/off x k3s before/after kubelet drop-ins x swap behaviour.
fn matrix() -> Vec<Case> {
    let mut out = Vec::new();
    for ha in [false, true] {
        for airgap in [false, true] {
            for version in ["v1.31.9+k3s1", "v1.33.5+k3s1"] {
                for behavior in [SwapBehavior::LimitedSwap, SwapBehavior::NoSwap] {
                    let mut c = base();
                    c.k3s.version = version.into();
                    c.k3s.swap_behavior = behavior;
                    c.k3s.install.script_sha256 = Some("ab".repeat(32));
                    if airgap {
                        c.k3s.install.mode = InstallMode::Airgap;
                        c.k3s.install.airgap_binary = Some("/srv/k3s/k3s".into());
                        c.k3s.install.airgap_images =
                            Some("/srv/k3s/k3s-airgap-images-amd64.tar.zst".into());
                        c.k3s.install.airgap_script = Some("/srv/k3s/install.sh".into());
                        c.k3s.install.airgap_checksums =
                            Some("/nonexistent/sha256sum-amd64.txt".into());
                    }
                    if ha {
                        let template = c.vms[0].clone();
                        for i in 2..=3u8 {
                            let mut s = template.clone();
                            s.name = format!("k3s-server-{i}");
                            s.vmid += u32::from(i);
                            s.ip = std::net::Ipv4Addr::new(192, 168, 1, 20 + i);
                            c.vms.insert(usize::from(i) - 1, s);
                        }
                        c.k3s.api_address = None;
                        c.k3s.vip = Some(K3sVip {
                            address: "192.168.1.20".parse().unwrap(),
                            interface: "eth0".into(),
                            image: None,
                        });
                    }
                    out.push(Case {
                        label: format!("ha={ha} airgap={airgap} {version} {behavior:?}"),
                        cluster: c,
                    });
                }
            }
        }
    }
    out
}

fn staged() -> Staging {
    Staging {
        dir: "/tmp/homelab-k3s.Ab12Cd34Ef".into(),
        source: "sha256sum-amd64.txt".into(),
        binary: Verified {
            name: "k3s".into(),
            sha256: "a".repeat(64),
        },
        images: Verified {
            name: "k3s-airgap-images-amd64.tar.zst".into(),
            sha256: "b".repeat(64),
        },
    }
}

/// Every text the builders produce for `c`: (which builder and inputs, text). Scripts and
/// their displayed forms both.
fn produced(c: &ClusterConfig) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut cmd = |name: String, r: crate::backends::ssh::RemoteCommand| {
        out.push((format!("{name} (display)"), r.display()));
        out.push((name, r.script));
    };
    let staging = staged();
    let roles = [Role::FirstServer, Role::JoinServer, Role::Agent];
    for role in &roles {
        for token in [None, Some("K10abc::server:s3cret")] {
            for stage in [None, Some(&staging)] {
                cmd(
                    format!(
                        "install({role:?}, token={}, staging={})",
                        token.is_some(),
                        stage.is_some()
                    ),
                    commands::install(c, role, token, stage),
                );
            }
        }
    }
    for b in [SwapBehavior::LimitedSwap, SwapBehavior::NoSwap] {
        cmd(format!("write_dropin({b:?})"), commands::write_dropin(b));
    }
    cmd("read_dropin".into(), commands::read_dropin());
    if let Some(w) = commands::write_kube_vip(c) {
        cmd("write_kube_vip".into(), w);
    }
    cmd("read_kube_vip".into(), commands::read_kube_vip());
    cmd("probe_version".into(), commands::probe_version());
    cmd("read_token".into(), commands::read_token());
    cmd("read_kubeconfig".into(), commands::read_kubeconfig());
    cmd("preflight_probe".into(), commands::preflight_probe());
    cmd("airgap::make_dir".into(), airgap::make_dir());
    cmd(
        "airgap::remove_dir".into(),
        airgap::remove_dir(&staging.dir),
    );
    for role in &roles {
        out.push((
            format!("k3s_args({role:?})"),
            commands::k3s_args(c, role).join(" "),
        ));
    }
    for b in [SwapBehavior::LimitedSwap, SwapBehavior::NoSwap] {
        out.push((format!("swap_dropin({b:?})"), commands::swap_dropin(b)));
    }
    out.push(("server_url".into(), commands::server_url(c)));
    out.push((
        "airgap::install_fragment".into(),
        airgap::install_fragment(&staging, commands::AIRGAP_IMAGES_DIR),
    ));
    if let Some(vip) = &c.k3s.vip {
        out.push(("kube_vip::manifest".into(), kube_vip::manifest(c, vip)));
        out.push(("kube_vip::image".into(), kube_vip::image(vip).to_owned()));
    }
    out
}

/// Public functions of the builder files, each either enumerated by [`produced`] or not a
/// builder of node text (parsers and predicates).
const ENUMERATED: &[&str] = &[
    "install",
    "write_dropin",
    "read_dropin",
    "write_kube_vip",
    "read_kube_vip",
    "probe_version",
    "read_token",
    "read_kubeconfig",
    "preflight_probe",
    "make_dir",
    "remove_dir",
    "k3s_args",
    "swap_dropin",
    "server_url",
    "install_fragment",
    "manifest",
    "image",
];
const NOT_BUILDERS: &[&str] = &[
    "installed_version",
    "supports_dropin",
    "api_port",
    "parse_checksums",
    "staging",
    "parse_dir",
];

#[test]
fn no_command_of_the_k3s_stage_turns_swap_off() {
    let mut seen = 0usize;
    for case in matrix() {
        let texts = produced(&case.cluster);
        assert!(texts.len() > 30, "{}: the matrix lost builders", case.label);
        for (builder, text) in &texts {
            let lower = text.to_ascii_lowercase();
            for bad in FORBIDDEN {
                assert!(
                    !lower.contains(bad),
                    "{}: {builder} contains `{bad}`; swap stays ON on every node (Stage 1 policy):\n{text}",
                    case.label
                );
            }
            for line in lower.lines().filter(|l| l.contains("systemctl")) {
                assert!(
                    !line.contains("swap"),
                    "{}: {builder} touches a swap unit: {line}",
                    case.label
                );
            }
            seen += 1;
        }
        // The kubelet is told to run with swap on, whatever the role and the install mode.
        for role in [Role::FirstServer, Role::JoinServer, Role::Agent] {
            let args = commands::k3s_args(&case.cluster, &role);
            assert!(
                args.iter().any(|a| a == KEEP_SWAP_ON),
                "{}: {role:?} lacks {KEEP_SWAP_ON}: {args:?}",
                case.label
            );
            for token in [None, Some("t")] {
                let script = commands::install(&case.cluster, &role, token, None).script;
                assert!(
                    script.contains(KEEP_SWAP_ON),
                    "{}: the {role:?} install does not pass {KEEP_SWAP_ON}:\n{script}",
                    case.label
                );
            }
        }
        let dropin = commands::swap_dropin(case.cluster.k3s.swap_behavior);
        assert!(dropin.contains("failSwapOn: false\n"), "{dropin}");
        assert!(
            dropin.contains(&format!(
                "swapBehavior: {:?}\n",
                case.cluster.k3s.swap_behavior
            )),
            "{dropin}"
        );
        let servers = case
            .cluster
            .vms
            .iter()
            .filter(|v| v.role == VmRole::Server)
            .count();
        assert_eq!(
            commands::write_kube_vip(&case.cluster).is_some(),
            servers > 1,
            "{}",
            case.label
        );
    }
    assert!(seen > 16 * 30, "only {seen} texts checked");
}

/// The matrix must cover every public function of the builder files: a new builder fails here
/// until it is added to [`produced`] (or listed as not producing node text).
#[test]
fn every_builder_is_enumerated() {
    let sources = [
        ("commands.rs", include_str!("commands.rs")),
        ("airgap.rs", include_str!("airgap.rs")),
        ("kube_vip.rs", include_str!("kube_vip.rs")),
    ];
    let mut found = Vec::new();
    for (file, text) in sources {
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub fn ") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                ENUMERATED.contains(&name.as_str()) || NOT_BUILDERS.contains(&name.as_str()),
                "{file}: `pub fn {name}` is not in the swap-policy matrix; add it to produced() in src/stages/k3s/swap_policy.rs"
            );
            found.push(name);
        }
    }
    for name in ENUMERATED.iter().chain(NOT_BUILDERS) {
        assert!(
            found.iter().any(|f| f == name),
            "`{name}` is listed but no longer exists"
        );
    }
}
