//! The API address of a cluster with several servers: `k3s.vip` (kube-vip) must be an address
//! of the node subnet that no VM, nor the gateway, holds, on a plain interface name, with a
//! pinned image; and a cluster with several servers needs it (or an `api_address` that is not
//! one server's address, such as a load balancer's DNS name).

use super::{Checker, in_subnet, mask, parse_cidr};
use crate::config::ClusterConfig;

/// A Linux interface name: 1-15 bytes, no `/`, whitespace or shell syntax.
fn is_ifname(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
        && s != "."
        && s != ".."
}

/// `repo[:port]/name:tag`, `...@sha256:<64 hex>` or both; never `latest` or untagged.
fn image_problem(image: &str) -> Option<&'static str> {
    if image.is_empty() || image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("is empty or has whitespace");
    }
    if image
        .chars()
        .any(|c| !(c.is_ascii_alphanumeric() || "./:-_@".contains(c)))
    {
        return Some("has characters an image reference cannot have");
    }
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        let ok = d
            .strip_prefix("sha256:")
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        if !ok {
            return Some("has a digest that is not sha256:<64 hex>");
        }
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, "latest")) => Some("uses the tag `latest`, which moves"),
        Some((_, tag)) if !tag.is_empty() => None,
        _ if digest.is_some() => None,
        _ => Some("has no tag or digest"),
    }
}

pub(super) fn check(cfg: &ClusterConfig, c: &mut Checker<'_>) {
    let k = &cfg.k3s;
    let servers: Vec<_> = cfg.servers().collect();
    let Some(vip) = &k.vip else {
        let single_address = k
            .api_address
            .as_deref()
            .is_none_or(|a| servers.iter().any(|s| s.ip.to_string() == a));
        if servers.len() > 1 && single_address {
            c.err(
                "k3s",
                format!(
                    "{} servers but the API address is one server's ({}); expected k3s.vip {{address, interface}} (a virtual IP kube-vip moves between the servers), or an api_address that is not a server, such as a load balancer",
                    servers.len(),
                    cfg.api_address()
                ),
            );
        }
        return;
    };
    let a = vip.address;
    if let Some((net, prefix)) = parse_cidr(&cfg.network.subnet) {
        let host = u32::from(a) & !mask(prefix);
        if !in_subnet(a, net, prefix) {
            c.err(
                "k3s.vip.address",
                format!(
                    "{a} is outside network.subnet {}; expected a free address of the servers' subnet (ARP only reaches the local link)",
                    cfg.network.subnet
                ),
            );
        } else if host == 0 || host == !mask(prefix) {
            c.err(
                "k3s.vip.address",
                format!(
                    "{a} is the network or broadcast address of {}; expected a host address",
                    cfg.network.subnet
                ),
            );
        }
    }
    if a == cfg.network.gateway {
        c.err(
            "k3s.vip.address",
            format!("{a} is the gateway; expected an address no host holds"),
        );
    }
    if let Some((i, vm)) = cfg.vms.iter().enumerate().find(|(_, v)| v.ip == a) {
        c.err(
            "k3s.vip.address",
            format!(
                "{a} is the address of vms[{i}] ({}); expected an address no VM holds (kube-vip moves it between the servers)",
                vm.name
            ),
        );
    }
    if !is_ifname(&vip.interface) {
        c.err(
            "k3s.vip.interface",
            format!(
                "`{}` is not a network interface name; expected the servers' interface on the subnet, e.g. eth0 or ens18 (1-15 letters, digits, `-_.@`)",
                vip.interface.escape_debug()
            ),
        );
    }
    if let Some(image) = &vip.image
        && let Some(problem) = image_problem(image)
    {
        c.err(
            "k3s.vip.image",
            format!(
                "`{}` {problem}; expected a pinned reference, e.g. ghcr.io/kube-vip/kube-vip:v0.8.1@sha256:<digest>",
                image.escape_debug()
            ),
        );
    }
    if let Some(api) = &k.api_address
        && *api != a.to_string()
    {
        c.err(
            "k3s.api_address",
            format!(
                "`{api}` differs from k3s.vip.address {a}; with a VIP the API address is the VIP: remove api_address or set it to {a}"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::shell_safe::tests::errors;

    const HA: &str = "  - { name: k3s-server-2, role: server, node: pve-n100, vmid: 202, cores: 2, memory_mib: 6144, disk_gib: 48, ip: 192.168.1.22 }\n  - { name: k3s-agent-1,";

    fn ha(extra: &[(&str, &str)]) -> Vec<String> {
        let mut edits = vec![("  - { name: k3s-agent-1,", HA)];
        edits.extend_from_slice(extra);
        errors(&edits)
    }

    #[test]
    fn several_servers_need_a_vip() {
        let e = ha(&[]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains(": k3s: 2 servers but the API address is one server's (192.168.1.21); expected k3s.vip"),
            "{e:?}"
        );
        // A load balancer's name is an HA address too.
        assert_eq!(
            ha(&[("api_address: 192.168.1.21", "api_address: api.lan.example")]),
            Vec::<String>::new()
        );
        assert_eq!(
            ha(&[(
                "api_address: 192.168.1.21",
                "vip: { address: 192.168.1.20, interface: eth0 }"
            )]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_vip_is_a_free_address_of_the_subnet_on_a_plain_interface() {
        let with = |vip: &str| ha(&[("api_address: 192.168.1.21", &format!("vip: {vip}"))]);
        let one = |vip: &str| {
            let e = with(vip);
            assert_eq!(e.len(), 1, "{vip}: {e:?}");
            // Located at the field's line and column, in the file.
            assert!(
                e[0].starts_with("config/clusters/prox-n100.yaml:4") && !e[0].contains(":0:0:"),
                "{e:?}"
            );
            e[0].clone()
        };
        assert!(
            one("{ address: 10.0.0.20, interface: eth0 }")
                .contains("k3s.vip.address: 10.0.0.20 is outside network.subnet 192.168.1.0/24")
        );
        assert!(
            one("{ address: 192.168.1.22, interface: eth0 }")
                .contains("k3s.vip.address: 192.168.1.22 is the address of vms[1] (k3s-server-2)")
        );
        assert!(one("{ address: 192.168.1.1, interface: eth0 }").contains("is the gateway"));
        assert!(one("{ address: 192.168.1.255, interface: eth0 }").contains("broadcast"));
        assert!(
            one("{ address: 192.168.1.20, interface: 'eth0; reboot' }")
                .contains("k3s.vip.interface: `eth0; reboot` is not a network interface name")
        );
        assert!(one("{ address: 192.168.1.20, interface: eth0, image: 'ghcr.io/kube-vip/kube-vip:latest' }").contains("k3s.vip.image: `ghcr.io/kube-vip/kube-vip:latest` uses the tag `latest`"));
        assert!(
            one("{ address: 192.168.1.20, interface: eth0, image: 'ghcr.io/kube-vip/kube-vip' }")
                .contains("has no tag or digest")
        );
        assert!(
            one("{ address: 192.168.1.20, interface: eth0, image: 'kube-vip@sha256:12' }")
                .contains("not sha256:<64 hex>")
        );
        let digest = format!(
            "{{ address: 192.168.1.20, interface: ens18, image: 'registry.lan:5000/kube-vip:v0.8.1@sha256:{}' }}",
            "ab".repeat(32)
        );
        assert_eq!(with(&digest), Vec::<String>::new());
        // An api_address next to a VIP must be the VIP.
        let e = ha(&[(
            "api_address: 192.168.1.21",
            "api_address: 192.168.1.21\n  vip: { address: 192.168.1.20, interface: eth0 }",
        )]);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].contains(
                "k3s.api_address: `192.168.1.21` differs from k3s.vip.address 192.168.1.20"
            ),
            "{e:?}"
        );
    }
}
