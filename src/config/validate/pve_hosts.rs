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
