//! `proxmox.hosts`: the per-node entries, and the two API layouts (one PVE cluster behind
//! `proxmox.endpoint`, or standalone hosts with an endpoint each) never mixed.

use super::Checker;
use crate::config::ClusterConfig;

const LAYOUTS: &str = "use one layout: proxmox.endpoint + proxmox.token_id for one PVE cluster, or endpoint + token_id on every proxmox.hosts entry for standalone hosts (docs/proxmox-stage.md)";

pub(super) fn check(cfg: &ClusterConfig, c: &mut Checker) {
    let p = &cfg.proxmox;
    let standalone = p.standalone();
    for (i, h) in p.hosts.iter().enumerate() {
        let at = |f: &str| format!("proxmox.hosts[{i}].{f}");
        if !p.nodes.contains(&h.node) {
            c.err(
                &at("node"),
                format!(
                    "`{}` is not in proxmox.nodes; expected one of: {}",
                    h.node,
                    p.nodes.join(", ")
                ),
            );
        }
        if p.hosts[..i].iter().any(|o| o.node == h.node) {
            c.err(
                &at("node"),
                format!("`{}` has two entries; expected one per node", h.node),
            );
        }
        if let Some(dir) = &h.snippets_dir
            && (!dir.starts_with('/') || dir.split('/').any(|s| s == ".."))
        {
            c.err(
                &at("snippets_dir"),
                format!("`{dir}` is not an absolute path; expected e.g. /var/lib/vz/snippets"),
            );
        }
        if let Some(s) = &h.ssh_host
            && (s.is_empty() || s.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
        {
            c.err(
                &at("ssh_host"),
                format!("`{s}` is not an SSH host; expected a ~/.ssh/config alias or an address"),
            );
        }
        if !standalone {
            // One PVE cluster: a node's own API settings would be ignored.
            let own: Vec<&str> = [
                ("endpoint", h.endpoint.is_some()),
                ("token_id", h.token_id.is_some()),
                ("tls", h.tls != Default::default()),
            ]
            .into_iter()
            .filter_map(|(f, set)| set.then_some(f))
            .collect();
            if let Some(f) = own.first() {
                let why = if p.endpoint.is_empty() {
                    "is set without an endpoint on this entry"
                } else {
                    "is set together with proxmox.endpoint"
                };
                c.err(&at(f), format!("{why}; {LAYOUTS}"));
            }
            continue;
        }
        match &h.endpoint {
            Some(e) => {
                c.endpoint(&at("endpoint"), e);
                if is_http(e) && !cfg.allow_insecure_http {
                    c.err(&at("endpoint"), format!("`{e}` would send the PVE API token unencrypted; expected https://, or `allow_insecure_http: true` at the top level to accept the risk"));
                }
                match &h.token_id {
                    Some(t) => c.token_id(&at("token_id"), t),
                    None => c.err(
                        &format!("proxmox.hosts[{i}]"),
                        "has an endpoint but no token_id; expected user@realm!tokenname, e.g. homelab@pve!bootstrap",
                    ),
                }
                c.fingerprint(&at("tls.fingerprint"), h.tls.fingerprint.as_deref());
            }
            None => {
                let f = if h.token_id.is_some() {
                    "token_id"
                } else {
                    "node"
                };
                c.err(
                    &at(f),
                    format!("has no endpoint while other hosts have one; {LAYOUTS}"),
                );
            }
        }
    }
    if standalone {
        for (f, set) in [
            ("proxmox.token_id", !p.token_id.is_empty()),
            ("proxmox.tls", p.tls != Default::default()),
        ] {
            if set {
                c.err(
                    f,
                    format!("is set while the hosts have their own endpoints; {LAYOUTS}"),
                );
            }
        }
        for (i, n) in p.nodes.iter().enumerate() {
            if p.host(n).is_none() {
                c.err(
                    &format!("proxmox.nodes[{i}]"),
                    format!("`{n}` has no proxmox.hosts entry with its endpoint; {LAYOUTS}"),
                );
            }
        }
    } else if p.endpoint.is_empty() {
        c.err("proxmox", format!("has no endpoint; {LAYOUTS}"));
    }
}

fn is_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

#[cfg(test)]
mod tests {
    use super::super::shell_safe::tests::errors;

    const CLUSTER: &str = "  endpoint: https://192.168.1.10:8006\n  nodes: [pve-n100]\n  token_id: homelab@pve!bootstrap       # secret: PROXMOX_TOKEN_SECRET in the env file\n";
    /// Two standalone hosts, each with its own endpoint, token and pin.
    const STANDALONE: &str = "  nodes: [pve-n100, pve-b]\n  hosts:\n    - node: pve-n100\n      endpoint: https://192.168.1.10:8006\n      token_id: homelab@pve!bootstrap\n    - node: pve-b\n      endpoint: https://192.168.1.11:8006\n      token_id: homelab@pve!bootstrap\n      tls: { fingerprint: \"AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89\" }\n";

    #[test]
    fn both_layouts_are_valid() {
        assert_eq!(errors(&[]), Vec::<String>::new());
        assert_eq!(errors(&[(CLUSTER, STANDALONE)]), Vec::<String>::new());
        let with_ssh = format!(
            "{CLUSTER}  hosts:\n    - {{ node: pve-n100, ssh_host: pve-root, snippets_dir: /srv/snippets }}\n"
        );
        assert_eq!(errors(&[(CLUSTER, &with_ssh)]), Vec::<String>::new());
    }

    #[test]
    fn mixed_and_incomplete_layouts_name_file_line_and_field() {
        let layouts = "use one layout: proxmox.endpoint + proxmox.token_id for one PVE cluster, or endpoint + token_id on every proxmox.hosts entry for standalone hosts (docs/proxmox-stage.md)";
        // A per-node endpoint beside proxmox.endpoint.
        let mixed = format!(
            "{CLUSTER}  hosts:\n    - node: pve-n100\n      endpoint: https://192.168.1.10:8006\n"
        );
        assert_eq!(
            errors(&[(CLUSTER, &mixed)]),
            [format!(
                "config/clusters/prox-n100.yaml:12:17: proxmox.hosts[0].endpoint: is set together with proxmox.endpoint; {layouts}"
            )]
        );
        // Standalone hosts with the cluster's token id left in place.
        let leftover = format!("{STANDALONE}  token_id: homelab@pve!bootstrap\n");
        assert_eq!(
            errors(&[(CLUSTER, &leftover)]),
            [format!(
                "config/clusters/prox-n100.yaml:16:13: proxmox.token_id: is set while the hosts have their own endpoints; {layouts}"
            )]
        );
        // A node without its entry, an entry without a token.
        let incomplete = STANDALONE
            .replace(
                "      token_id: homelab@pve!bootstrap\n    - node: pve-b",
                "    - node: pve-b",
            )
            .replace(
                "  nodes: [pve-n100, pve-b]",
                "  nodes: [pve-n100, pve-b, pve-c]",
            );
        assert_eq!(
            errors(&[(CLUSTER, &incomplete)]),
            [
                "config/clusters/prox-n100.yaml:9:7: proxmox.hosts[0]: has an endpoint but no token_id; expected user@realm!tokenname, e.g. homelab@pve!bootstrap".to_owned(),
                format!("config/clusters/prox-n100.yaml:7:28: proxmox.nodes[2]: `pve-c` has no proxmox.hosts entry with its endpoint; {layouts}"),
            ]
        );
        // No endpoint anywhere; an entry for a node that is not listed.
        let none =
            "  nodes: [pve-n100]\n  hosts:\n    - { node: pve-x, snippets_dir: relative/dir }\n";
        assert_eq!(
            errors(&[(CLUSTER, none)]),
            [
                "config/clusters/prox-n100.yaml:9:15: proxmox.hosts[0].node: `pve-x` is not in proxmox.nodes; expected one of: pve-n100".to_owned(),
                "config/clusters/prox-n100.yaml:9:36: proxmox.hosts[0].snippets_dir: `relative/dir` is not an absolute path; expected e.g. /var/lib/vz/snippets".to_owned(),
                format!("config/clusters/prox-n100.yaml:6:1: proxmox: has no endpoint; {layouts}"),
            ]
        );
    }
}
