//! Semantic checks serde cannot do. Each problem names the field (`vms[1].vmid`), where it is
//! (`file:line:column`, found in the source text), what is wrong and what is expected.

mod insecure_http;
mod pve_hosts;
mod shell_safe;
mod vip;

pub use insecure_http::insecure_endpoints;

use super::locate::locate;
use super::schema::{ClusterConfig, InstallMode, VmRole};
use crate::diag::Diagnostic;
use regex::Regex;
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::LazyLock;

static K3S_VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^v\d+\.\d+\.\d+\+k3s\d+$").expect("regex"));
static FLUX_VERSION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^v\d+\.\d+\.\d+$").expect("regex"));
static TOKEN_ID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^@!\s]+@[A-Za-z0-9._-]+![A-Za-z0-9._-]+$").expect("regex"));
static FINGERPRINT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){31}$").expect("regex"));
static CHECKSUM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128})$").expect("regex"));
static SHA256: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[0-9a-f]{64}$").expect("regex"));
static UNIX_USER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z_][a-z0-9_-]{0,31}$").expect("regex"));

/// Smallest and largest VM id Proxmox VE accepts.
const VMID_RANGE: std::ops::RangeInclusive<u32> = 100..=999_999_999;
const MIN_MEMORY_MIB: u64 = 1024;
const MIN_DISK_GIB: u64 = 10;
/// Upper bounds: far beyond any homelab VM, low enough that sums and byte counts never overflow.
const MAX_CORES: u32 = 512;
const MAX_MEMORY_MIB: u64 = 4 << 20; // 4 TiB
const MAX_DISK_GIB: u64 = 128 << 10; // 128 TiB

struct Checker<'a> {
    display: &'a str,
    text: &'a str,
    out: Vec<Diagnostic>,
}

impl Checker<'_> {
    fn err(&mut self, path: &str, message: impl AsRef<str>) {
        let (line, column) = locate(self.text, path).unwrap_or((0, 0));
        self.out.push(Diagnostic::new(
            self.display,
            line,
            column,
            format!("{path}: {}", message.as_ref()),
        ));
    }

    fn dns_label(&mut self, path: &str, value: &str) {
        if !is_dns_label(value) {
            self.err(path, format!("`{value}` is not DNS-safe; expected 1-63 lower-case letters, digits and `-`, starting and ending with a letter or digit"));
        }
    }

    /// A PVE API endpoint: a URL with scheme, host and port, no path.
    fn endpoint(&mut self, path: &str, value: &str) {
        self.url(path, value, &["https", "http"]);
        if value.ends_with('/') || value.contains("/api2") {
            self.err(path, format!("`{value}` has a path; expected just scheme, host and port, e.g. https://192.168.1.10:8006"));
        }
    }

    fn token_id(&mut self, path: &str, value: &str) {
        if !TOKEN_ID.is_match(value) {
            self.err(
                path,
                format!(
                    "`{value}` is not a token id; expected user@realm!tokenname, e.g. homelab@pve!bootstrap"
                ),
            );
        }
    }

    fn fingerprint(&mut self, path: &str, value: Option<&str>) {
        if let Some(fp) = value
            && !FINGERPRINT.is_match(fp)
        {
            self.err(
                path,
                "is not a SHA-256 fingerprint; expected 32 hex byte pairs separated by `:`",
            );
        }
    }

    fn url(&mut self, path: &str, value: &str, schemes: &[&str]) {
        let ok = schemes.iter().any(|s| {
            value
                .strip_prefix(s)
                .and_then(|r| r.strip_prefix("://"))
                .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        });
        if !ok {
            let list = schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ");
            self.err(
                path,
                format!("`{value}` is not a URL; expected {list} followed by a host"),
            );
        }
    }
}

/// RFC 1123 label.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `a.b.c` of DNS-safe labels, at least two, at most 253 characters.
pub fn is_dns_name(s: &str) -> bool {
    s.len() <= 253 && s.contains('.') && s.split('.').all(is_dns_label)
}

/// Parse `a.b.c.d/n` into (network, prefix).
pub fn parse_cidr(s: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, prefix) = s.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    (prefix <= 32).then_some((ip, prefix))
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

fn in_subnet(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    u32::from(ip) & mask(prefix) == u32::from(net) & mask(prefix)
}

/// The index that used `key` first, or None (and `index` is recorded) when it is new.
fn first_user<K: std::hash::Hash + Eq>(
    seen: &mut HashMap<K, usize>,
    key: K,
    index: usize,
) -> Option<usize> {
    match seen.entry(key) {
        std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(index);
            None
        }
    }
}

/// Check `cfg` (parsed from `text`, shown as `display`, file stem `name`).
pub fn validate(cfg: &ClusterConfig, name: &str, display: &str, text: &str) -> Vec<Diagnostic> {
    let mut c = Checker {
        display,
        text,
        out: Vec::new(),
    };

    // --- identity ---
    c.dns_label("name", &cfg.name);
    if cfg.name != name {
        c.err(
            "name",
            format!(
                "`{}` does not match the file name; expected `{name}` (the file is {name}.yaml)",
                cfg.name
            ),
        );
    }
    if !is_dns_name(&cfg.domain) {
        c.err(
            "domain",
            format!(
                "`{}` is not a domain name; expected DNS labels joined by dots, e.g. example.com",
                cfg.domain
            ),
        );
    }

    // --- proxmox ---
    let p = &cfg.proxmox;
    // Standalone hosts carry endpoint and token per node (validate/pve_hosts.rs).
    let standalone = p.standalone();
    if !standalone && !p.endpoint.is_empty() {
        c.endpoint("proxmox.endpoint", &p.endpoint);
    }
    if p.nodes.is_empty() {
        c.err(
            "proxmox.nodes",
            "is empty; expected at least one Proxmox node name",
        );
    }
    for (i, n) in p.nodes.iter().enumerate() {
        c.dns_label(&format!("proxmox.nodes[{i}]"), n);
        if p.nodes[..i].contains(n) {
            c.err(
                &format!("proxmox.nodes[{i}]"),
                format!("`{n}` is listed twice; expected each node once"),
            );
        }
    }
    if !standalone && !p.endpoint.is_empty() {
        c.token_id("proxmox.token_id", &p.token_id);
        c.fingerprint("proxmox.tls.fingerprint", p.tls.fingerprint.as_deref());
    }
    for (path, v) in [
        ("proxmox.vm_storage", &p.vm_storage),
        ("proxmox.image_storage", &p.image_storage),
        ("proxmox.snippets_storage", &p.snippets_storage),
        ("proxmox.bridge", &p.bridge),
        ("proxmox.tag", &p.tag),
    ] {
        if v.trim().is_empty() {
            c.err(
                path,
                "is empty; expected a Proxmox storage, bridge or tag name",
            );
        }
    }

    // --- template ---
    let t = &cfg.template;
    if !VMID_RANGE.contains(&t.vmid) {
        c.err(
            "template.vmid",
            format!("{} is out of range; expected 100 to 999999999", t.vmid),
        );
    }
    c.dns_label("template.name", &t.name);
    if !p.nodes.contains(&t.node) {
        c.err(
            "template.node",
            format!(
                "`{}` is not in proxmox.nodes; expected one of: {}",
                t.node,
                p.nodes.join(", ")
            ),
        );
    }
    c.url("template.image.url", &t.image.url, &["https", "http"]);
    if ![".img", ".qcow2", ".raw"]
        .iter()
        .any(|x| t.image.file_name.ends_with(x))
    {
        c.err(
            "template.image.file_name",
            format!(
                "`{}` has no disk image extension; expected a name ending in .img, .qcow2 or .raw",
                t.image.file_name
            ),
        );
    }
    match (&t.image.checksum, &t.image.checksums) {
        (Some(_), Some(_)) => c.err(
            "template.image.checksum",
            "is given together with template.image.checksums; keep one: the checksum file's URL (online) or a literal digest (air-gap)",
        ),
        (None, None) => c.err(
            "template.image",
            "names no digest; add checksums.url (the release's SHA256SUMS) or, air-gapped, checksum: sha256:<64 hex>",
        ),
        (Some(sum), None) if !CHECKSUM.is_match(sum) => c.err(
            "template.image.checksum",
            "is not a checksum; expected sha256:<64 lower-case hex> or sha512:<128 lower-case hex>",
        ),
        (Some(_), None) => {}
        (None, Some(file)) => c.url("template.image.checksums.url", &file.url, &["https"]),
    }

    // --- network ---
    let n = &cfg.network;
    let subnet = parse_cidr(&n.subnet);
    match subnet {
        None => c.err("network.subnet", format!("`{}` is not an IPv4 CIDR; expected e.g. 192.168.1.0/24", n.subnet)),
        Some((_, prefix)) if !(8..=30).contains(&prefix) => {
            c.err("network.subnet", format!("/{prefix} leaves no room for hosts or is too wide; expected a prefix from /8 to /30"))
        }
        Some((net, prefix)) => {
            if !in_subnet(n.gateway, net, prefix) {
                c.err("network.gateway", format!("{} is outside network.subnet {}; expected an address inside it", n.gateway, n.subnet));
            }
        }
    }
    if n.dns.is_empty() {
        c.err(
            "network.dns",
            "is empty; expected at least one DNS server address",
        );
    }
    if let Some(sd) = &n.search_domain
        && !(is_dns_name(sd) || is_dns_label(sd))
    {
        c.err("network.search_domain", format!("`{sd}` is not a DNS name"));
    }

    // --- ssh ---
    if !UNIX_USER.is_match(&cfg.ssh.user) {
        c.err("ssh.user", format!("`{}` is not a login name; expected lower-case letters, digits, `_` or `-`, up to 32", cfg.ssh.user));
    }
    if cfg.ssh.public_keys.is_empty() {
        c.err("ssh.public_keys", "is empty; expected at least one public key file (e.g. ~/.ssh/id_ed25519.pub) for cloud-init");
    }
    if cfg.ssh.port == 0 {
        c.err("ssh.port", "0 is not a port; expected 1-65535 (default 22)");
    }

    // --- vms ---
    if cfg.vms.is_empty() {
        c.err(
            "vms",
            "is empty; expected at least one VM with role: server",
        );
    } else if !cfg.vms.iter().any(|v| v.role == VmRole::Server) {
        c.err(
            "vms",
            "has no server; expected at least one VM with role: server (k3s needs a control plane)",
        );
    }
    let mut names: HashMap<&str, usize> = HashMap::new();
    // One PVE cluster: a VMID is cluster-wide; standalone hosts: per host, (node, vmid).
    let mut vmids: HashMap<(Option<&str>, u32), usize> = HashMap::new();
    let standalone_ids = p.standalone();
    let mut ips: HashMap<Ipv4Addr, usize> = HashMap::new();
    for (i, vm) in cfg.vms.iter().enumerate() {
        let at = |f: &str| format!("vms[{i}].{f}");
        c.dns_label(&at("name"), &vm.name);
        if let Some(j) = first_user(&mut names, vm.name.as_str(), i) {
            c.err(
                &at("name"),
                format!(
                    "`{}` is already used by vms[{j}]; expected a unique name per VM",
                    vm.name
                ),
            );
        }
        if !VMID_RANGE.contains(&vm.vmid) {
            c.err(
                &at("vmid"),
                format!("{} is out of range; expected 100 to 999999999", vm.vmid),
            );
        } else if vm.vmid == t.vmid {
            c.err(
                &at("vmid"),
                format!(
                    "{} is the template's vmid; expected a vmid not used by template.vmid",
                    vm.vmid
                ),
            );
        } else if let Some(j) = first_user(
            &mut vmids,
            (standalone_ids.then_some(vm.node.as_str()), vm.vmid),
            i,
        ) {
            c.err(
                &at("vmid"),
                format!(
                    "{} is already used by vms[{j}] ({}); expected a unique vmid per VM",
                    vm.vmid, cfg.vms[j].name
                ),
            );
        }
        if !p.nodes.contains(&vm.node) {
            c.err(
                &at("node"),
                format!(
                    "`{}` is not in proxmox.nodes; expected one of: {}",
                    vm.node,
                    p.nodes.join(", ")
                ),
            );
        }
        if vm.cores == 0 {
            c.err(&at("cores"), "0 cores; expected at least 1");
        } else if vm.cores > MAX_CORES {
            c.err(
                &at("cores"),
                format!("{} cores; expected at most {MAX_CORES}", vm.cores),
            );
        }
        if vm.memory_mib > MAX_MEMORY_MIB {
            c.err(
                &at("memory_mib"),
                format!(
                    "{} MiB is more than any VM here can have; expected at most {MAX_MEMORY_MIB} (4 TiB)",
                    vm.memory_mib
                ),
            );
        } else if vm.memory_mib < MIN_MEMORY_MIB {
            c.err(
                &at("memory_mib"),
                format!(
                    "{} MiB is too little for k3s; expected at least {MIN_MEMORY_MIB}",
                    vm.memory_mib
                ),
            );
        }
        if vm.disk_gib < MIN_DISK_GIB {
            c.err(&at("disk_gib"), format!("{} GiB is too small for Ubuntu and k3s images; expected at least {MIN_DISK_GIB}", vm.disk_gib));
        } else if vm.disk_gib > MAX_DISK_GIB {
            c.err(
                &at("disk_gib"),
                format!(
                    "{} GiB is more than any disk here can hold; expected at most {MAX_DISK_GIB} (128 TiB)",
                    vm.disk_gib
                ),
            );
        }
        if let Some((net, prefix)) = subnet {
            let bits = u32::from(vm.ip);
            let m = mask(prefix);
            if !in_subnet(vm.ip, net, prefix) {
                c.err(
                    &at("ip"),
                    format!(
                        "{} is outside network.subnet {}; expected an address inside it",
                        vm.ip, n.subnet
                    ),
                );
            } else if bits & !m == 0 || bits & !m == !m {
                c.err(
                    &at("ip"),
                    format!(
                        "{} is the network or broadcast address of {}; expected a host address",
                        vm.ip, n.subnet
                    ),
                );
            }
        }
        if vm.ip == n.gateway {
            c.err(
                &at("ip"),
                format!("{} is the gateway; expected an address of its own", vm.ip),
            );
        } else if let Some(j) = first_user(&mut ips, vm.ip, i) {
            c.err(
                &at("ip"),
                format!(
                    "{} is already used by vms[{j}] ({}); expected a unique address per VM",
                    vm.ip, cfg.vms[j].name
                ),
            );
        }
        if let Some(u) = &vm.ssh_user
            && !UNIX_USER.is_match(u)
        {
            c.err(&at("ssh_user"), format!("`{u}` is not a login name"));
        }
    }

    // --- k3s ---
    let k = &cfg.k3s;
    if !K3S_VERSION.is_match(&k.version) {
        c.err(
            "k3s.version",
            format!(
                "`{}` is not a k3s release; expected vMAJOR.MINOR.PATCH+k3sN, e.g. v1.33.5+k3s1",
                k.version
            ),
        );
    }
    if let Some(a) = &k.api_address
        && a.parse::<Ipv4Addr>().is_err()
        && !is_dns_name(a)
    {
        c.err(
            "k3s.api_address",
            format!("`{a}` is neither an IPv4 address nor a DNS name"),
        );
    }
    for (i, arg) in k
        .server_args
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("k3s.server_args[{i}]"), a))
        .chain(
            k.agent_args
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("k3s.agent_args[{i}]"), a)),
        )
    {
        let a = arg.to_ascii_lowercase().replace('_', "-");
        if a.contains("fail-swap-on=true")
            || a.contains("swapoff")
            || a.contains("fail-swap-on\"=true")
        {
            c.err(&i, format!("`{arg}` would require swap off; swap stays enabled on every node (Stage 1 policy), remove it"));
        }
    }
    if k.install.mode == InstallMode::Airgap {
        if k.install.airgap_binary.is_none() {
            c.err(
                "k3s.install",
                "mode airgap without airgap_binary; expected the local path of the k3s binary",
            );
        }
        if k.install.airgap_images.is_none() {
            c.err(
                "k3s.install",
                "mode airgap without airgap_images; expected the local path of the images tarball",
            );
        }
        if k.install.airgap_checksums.is_none() {
            c.err(
                "k3s.install",
                "mode airgap without airgap_checksums; expected the local path of the release's sha256sum-<arch>.txt",
            );
        }
    } else {
        c.url(
            "k3s.install.script_url",
            &k.install.script_url,
            &["https", "http"],
        );
    }
    if let Some(sum) = &k.install.script_sha256
        && !SHA256.is_match(sum)
    {
        c.err(
            "k3s.install.script_sha256",
            "is not a SHA-256; expected 64 lower-case hex characters",
        );
    }

    // --- flux ---
    let f = &cfg.flux;
    let repo_ok = f.repo.starts_with("ssh://")
        || f.repo.starts_with("https://")
        || f.repo.starts_with("git@");
    if !repo_ok {
        c.err("flux.repo", format!("`{}` is not a git URL; expected ssh://git@host/owner/repo.git, git@host:owner/repo.git or https://...", f.repo));
    }
    if !FLUX_VERSION.is_match(&f.version) {
        c.err(
            "flux.version",
            format!(
                "`{}` is not a Flux release; expected vMAJOR.MINOR.PATCH, e.g. v2.7.3",
                f.version
            ),
        );
    }
    if f.path.starts_with('/') || f.path.split('/').any(|s| s == "..") || f.path.is_empty() {
        c.err(
            "flux.path",
            format!(
                "`{}` must be a path inside the repository; expected e.g. cluster/kubernetes/flux",
                f.path
            ),
        );
    }
    if f.branch.trim().is_empty() {
        c.err("flux.branch", "is empty; expected a branch name, e.g. main");
    }
    if let Some(pin) = &f.install_sha256
        && !(pin.len() == 64 && pin.chars().all(|ch| ch.is_ascii_hexdigit()))
    {
        c.err(
            "flux.install_sha256",
            format!(
                "`{pin}` is not a SHA-256; expected 64 hex digits, the install.yaml line of the \
                 release's flux_<version>_checksums.txt"
            ),
        );
    }

    // --- storage, observability ---
    let s = &cfg.storage;
    match (&s.nfs_server, &s.nfs_export) {
        (Some(_), None) => c.err(
            "storage.nfs_server",
            "is set without storage.nfs_export; expected both or neither",
        ),
        (None, Some(_)) => c.err(
            "storage.nfs_export",
            "is set without storage.nfs_server; expected both or neither",
        ),
        (_, Some(e)) if !e.starts_with('/') => c.err(
            "storage.nfs_export",
            format!("`{e}` is not an absolute path; expected e.g. /volume1/kubernetes"),
        ),
        _ => {}
    }
    let o = &cfg.observability;
    for (path, v) in [
        ("observability.loki_url", &o.loki_url),
        ("observability.prometheus_url", &o.prometheus_url),
        ("observability.alertmanager_url", &o.alertmanager_url),
    ] {
        if let Some(v) = v {
            c.url(path, v, &["https", "http"]);
        }
    }
    shell_safe::check(cfg, &mut c);
    insecure_http::check(cfg, &mut c);
    pve_hosts::check(cfg, &mut c);
    vip::check(cfg, &mut c);
    c.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_and_cidr_helpers() {
        assert!(is_dns_label("k3s-server-1"));
        assert!(!is_dns_label("K3s"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_dns_name("funoffshore.com"));
        assert!(!is_dns_name("localhost"));
        assert_eq!(
            parse_cidr("10.0.0.0/8"),
            Some((Ipv4Addr::new(10, 0, 0, 0), 8))
        );
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert!(in_subnet(
            Ipv4Addr::new(192, 168, 1, 200),
            Ipv4Addr::new(192, 168, 1, 0),
            24
        ));
        assert!(!in_subnet(
            Ipv4Addr::new(192, 168, 2, 1),
            Ipv4Addr::new(192, 168, 1, 0),
            24
        ));
    }
}

#[cfg(test)]
mod fixtures {
    use super::shell_safe::tests::{FILE, GOOD, errors};
    use crate::config::parse_cluster;

    #[test]
    fn the_fixture_is_valid() {
        assert_eq!(errors(&[]), Vec::<String>::new());
    }

    #[test]
    fn duplicate_vmid_name_and_ip() {
        assert_eq!(
            errors(&[
                (
                    "k3s-agent-1,  role: agent,  node: pve-n100, vmid: 211",
                    "k3s-agent-1,  role: agent,  node: pve-n100, vmid: 201"
                ),
                ("name: k3s-agent-2", "name: k3s-agent-1"),
                ("ip: 192.168.1.32", "ip: 192.168.1.31"),
            ]),
            vec![
                "config/clusters/prox-n100.yaml:40:63: vms[1].vmid: 201 is already used by vms[0] (k3s-server-1); expected a unique vmid per VM",
                "config/clusters/prox-n100.yaml:41:13: vms[2].name: `k3s-agent-1` is already used by vms[1]; expected a unique name per VM",
                "config/clusters/prox-n100.yaml:41:114: vms[2].ip: 192.168.1.31 is already used by vms[1] (k3s-agent-1); expected a unique address per VM",
            ]
        );
    }

    #[test]
    fn addresses_outside_the_subnet() {
        assert_eq!(
            errors(&[
                ("ip: 192.168.1.32", "ip: 10.0.0.32"),
                ("gateway: 192.168.1.1", "gateway: 192.168.2.1"),
                ("ip: 192.168.1.21", "ip: 192.168.1.255")
            ]),
            vec![
                "config/clusters/prox-n100.yaml:29:12: network.gateway: 192.168.2.1 is outside network.subnet 192.168.1.0/24; expected an address inside it",
                "config/clusters/prox-n100.yaml:39:114: vms[0].ip: 192.168.1.255 is the network or broadcast address of 192.168.1.0/24; expected a host address",
                "config/clusters/prox-n100.yaml:41:114: vms[2].ip: 10.0.0.32 is outside network.subnet 192.168.1.0/24; expected an address inside it",
            ]
        );
    }

    #[test]
    fn needs_a_server_and_known_nodes() {
        assert_eq!(
            errors(&[(
                "role: server, node: pve-n100",
                "role: agent,  node: pve-n200"
            )]),
            vec![
                "config/clusters/prox-n100.yaml:38:1: vms: has no server; expected at least one VM with role: server (k3s needs a control plane)",
                "config/clusters/prox-n100.yaml:39:47: vms[0].node: `pve-n200` is not in proxmox.nodes; expected one of: pve-n100",
            ]
        );
    }

    #[test]
    fn names_and_versions() {
        assert_eq!(
            errors(&[
                ("name: k3s-server-1", "name: K3s_Server"),
                ("version: v1.33.5+k3s1", "version: 1.33"),
                ("version: v2.7.3", "version: latest"),
                ("name: prox-n100", "name: prox-n200"),
            ]),
            vec![
                "config/clusters/prox-n100.yaml:3:7: name: `prox-n200` does not match the file name; expected `prox-n100` (the file is prox-n100.yaml)",
                "config/clusters/prox-n100.yaml:39:13: vms[0].name: `K3s_Server` is not DNS-safe; expected 1-63 lower-case letters, digits and `-`, starting and ending with a letter or digit",
                "config/clusters/prox-n100.yaml:44:12: k3s.version: `1.33` is not a k3s release; expected vMAJOR.MINOR.PATCH+k3sN, e.g. v1.33.5+k3s1",
                "config/clusters/prox-n100.yaml:55:12: flux.version: `latest` is not a Flux release; expected vMAJOR.MINOR.PATCH, e.g. v2.7.3",
            ]
        );
    }

    #[test]
    fn the_flux_install_pin_is_a_sha256() {
        let e = errors(&[(
            "version: v2.7.3",
            "version: v2.7.3\n  install_sha256: abc123",
        )]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains("flux.install_sha256: `abc123` is not a SHA-256; expected 64 hex digits"),
            "{e:?}"
        );
        let pin = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let ok = errors(&[(
            "version: v2.7.3",
            &format!("version: v2.7.3\n  install_sha256: {pin}"),
        )]);
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn swap_stays_on() {
        assert_eq!(
            errors(&[(
                "  swap_behavior: LimitedSwap",
                "  server_args: [\"--kubelet-arg=fail-swap-on=true\"]\n  swap_behavior: LimitedSwap"
            )]),
            vec![
                "config/clusters/prox-n100.yaml:46:17: k3s.server_args[0]: `--kubelet-arg=fail-swap-on=true` would require swap off; swap stays enabled on every node (Stage 1 policy), remove it",
            ]
        );
    }

    #[test]
    fn syntax_and_type_errors_come_from_serde_with_location() {
        assert_eq!(
            errors(&[(
                "cores: 2, memory_mib: 4096, disk_gib: 64, ip: 192.168.1.32",
                "cores: two, memory_mib: 4096, disk_gib: 64, ip: 192.168.1.32"
            )]),
            vec![
                "config/clusters/prox-n100.yaml:41:75: vms[2].cores: invalid type: string \"two\", expected u32"
            ]
        );
        assert_eq!(
            errors(&[("  bridge: vmbr0", "  bridge: vmbr0\n  bridges: vmbr1")]),
            vec![
                "config/clusters/prox-n100.yaml:16:3: proxmox: unknown field `bridges`, expected one of `endpoint`, `nodes`, `token_id`, `tls`, `vm_storage`, `image_storage`, `snippets_storage`, `bridge`, `tag`, `vendor_snippet`, `hosts`"
            ]
        );
    }

    #[test]
    fn sizes_have_upper_bounds() {
        assert_eq!(
            errors(&[(
                "cores: 2, memory_mib: 4096, disk_gib: 64, ip: 192.168.1.32",
                "cores: 4294967295, memory_mib: 18446744073709551615, disk_gib: 18446744073709551615, ip: 192.168.1.32"
            )]),
            vec![
                "config/clusters/prox-n100.yaml:41:75: vms[2].cores: 4294967295 cores; expected at most 512",
                "config/clusters/prox-n100.yaml:41:99: vms[2].memory_mib: 18446744073709551615 MiB is more than any VM here can have; expected at most 4194304 (4 TiB)",
                "config/clusters/prox-n100.yaml:41:131: vms[2].disk_gib: 18446744073709551615 GiB is more than any disk here can hold; expected at most 131072 (128 TiB)",
            ]
        );
    }

    /// Damaged files never panic the loader, and every diagnostic has a line inside the file.
    #[test]
    fn damaged_files_give_located_errors_never_panics() {
        let lines: Vec<&str> = GOOD.lines().collect();
        let mut variants: Vec<String> = Vec::new();
        for i in 0..lines.len() {
            let mut v = lines.clone();
            v.remove(i);
            variants.push(v.join("\n"));
            let mut v = lines.clone();
            v.insert(i, lines[i]);
            variants.push(v.join("\n"));
        }
        for cut in (0..GOOD.len())
            .step_by(7)
            .filter(|c| GOOD.is_char_boundary(*c))
        {
            variants.push(GOOD[..cut].to_owned());
        }
        variants.push(GOOD.replace(": ", ":"));
        variants.push(GOOD.replace("  ", "\t"));
        for text in &variants {
            let n = text.lines().count().max(1);
            if let Err(diags) = parse_cluster("prox-n100", FILE, text) {
                assert!(!diags.is_empty());
                for d in diags {
                    assert!(d.line > 0, "{d} has no location");
                    assert!(d.line <= n + 1, "{d} points past the end ({n} lines)");
                    assert!(d.to_string().starts_with(FILE), "{d}");
                }
            }
        }
    }
}
