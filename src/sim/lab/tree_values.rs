//! The demo's copy of the tree, pointed at the demo cluster. The shipped tree names its
//! cluster's public domain (the Gateway's listeners, the wildcard certificates, the cloudflared
//! rule, external-dns's domain filter, the apps' hostnames), its internal domain
//! (`<name>.internal` of the same first label) and the nodes' addresses (the EnvoyProxy's
//! `externalIPs`). In the copy those values become the demo definition's: its `domain`, the
//! internal domain `<first label>.lan`, and each VM's loopback address by VM name, so the
//! Gateway, the tunnel and the records serve the demo's zone and the doctor walks the demo's
//! hosts. The mapping comes from the two cluster definitions (the shipped ones in
//! `config/clusters/`, the demo's), never from a list of files; a value is replaced only as a
//! whole token (`funoffshore.com` in `x.funoffshore.com`, not in the label key
//! `homelab.funoffshore.com/exposure`; `192.168.1.21`, not `192.168.1.210`).
//!
//! Only the lab's temporary copy is rewritten, once, before its first commit. The operator's
//! checkout keeps its literal values (docs/demo.md).

use serde_yaml::Value;
use std::path::Path;

/// `(shipped value, demo value, kind)` pairs from a shipped definition and the demo's.
pub fn pairs(shipped: &str, demo: &str) -> Vec<(String, String)> {
    let (Ok(s), Ok(d)) = (
        serde_yaml::from_str::<Value>(shipped),
        serde_yaml::from_str::<Value>(demo),
    ) else {
        return vec![];
    };
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let mut out = Vec::new();
    if let (Some(from), Some(to)) = (text(&s, "domain"), text(&d, "domain")) {
        let label = |d: &str| d.split('.').next().unwrap_or(d).to_string();
        out.push((
            format!("{}.internal", label(&from)),
            format!("{}.lan", label(&to)),
        ));
        out.push((from, to));
    }
    let ips = |v: &Value| -> Vec<(String, String)> {
        v.get("vms")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|vm| Some((text(vm, "name")?, text(vm, "ip")?)))
            .collect()
    };
    let demo_ips = ips(&d);
    for (name, ip) in ips(&s) {
        if let Some((_, to)) = demo_ips.iter().find(|(n, _)| *n == name) {
            out.push((ip, to.clone()));
        }
    }
    out.retain(|(a, b)| !a.is_empty() && a != b);
    out
}

/// Whether `b` may sit next to a token (a domain or an address) without extending it.
fn edge(b: Option<u8>, after: bool) -> bool {
    match b {
        None => true,
        Some(c) if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' => false,
        // `x.funoffshore.com/exposure` is a label key, not the domain; `1.2.3.4.5` is no address.
        Some(b'/' | b'.') if after => false,
        Some(_) => true,
    }
}

/// `text` with every whole-token `from` replaced by `to`.
pub fn replace_tokens(text: &str, from: &str, to: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while let Some(i) = text[at..].find(from) {
        let start = at + i;
        let end = start + from.len();
        let before = start.checked_sub(1).map(|j| bytes[j]);
        // A domain may follow a dot (`*.`, `app.`) or `@`; an address may not follow a dot.
        let before_ok = match before {
            Some(b'.') => from.parse::<std::net::Ipv4Addr>().is_err(),
            b => edge(b, false),
        };
        out.push_str(&text[at..start]);
        if before_ok && edge(bytes.get(end).copied(), true) {
            out.push_str(to);
        } else {
            out.push_str(from);
        }
        at = end;
    }
    out.push_str(&text[at..]);
    out
}

/// Rewrite every YAML file under `root/cluster` with `pairs`; returns how many changed.
pub fn apply(root: &Path, pairs: &[(String, String)]) -> Result<usize, String> {
    let mut changed = 0;
    let mut stack = vec![root.join("cluster")];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if !(name.ends_with(".yaml") || name.ends_with(".yml")) || name.contains(".sops.") {
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|err| format!("{}: {err}", path.display()))?;
            let mut new = text.clone();
            for (from, to) in pairs {
                new = replace_tokens(&new, from, to);
            }
            if new != text {
                crate::atomic_write::write(
                    &path,
                    new.as_bytes(),
                    crate::atomic_write::Mode::KeepOr(0o644),
                )
                .map_err(|err| format!("{}: {err}", path.display()))?;
                changed += 1;
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_replaced_as_whole_tokens_only() {
        let p = pairs(
            "domain: funoffshore.com\nvms:\n  - { name: a, ip: 192.168.1.21 }\n",
            "domain: demo.internal\nvms:\n  - { name: a, ip: 127.1.2.21 }\n",
        );
        assert_eq!(
            p,
            [
                ("funoffshore.internal".to_string(), "demo.lan".to_string()),
                ("funoffshore.com".into(), "demo.internal".into()),
                ("192.168.1.21".into(), "127.1.2.21".into()),
            ]
        );
        let text = "hostname: \"*.funoffshore.com\"\n  homelab.funoffshore.com/exposure: public\n  \
                    - jellyfin.funoffshore.com\n  email: admin@funoffshore.com\n  - 192.168.1.21\n  \
                    - 192.168.1.210\n  - notfunoffshore.com\n  - x.funoffshore.internal\n";
        let mut out = text.to_string();
        for (a, b) in &p {
            out = replace_tokens(&out, a, b);
        }
        assert_eq!(
            out,
            "hostname: \"*.demo.internal\"\n  homelab.funoffshore.com/exposure: public\n  \
             - jellyfin.demo.internal\n  email: admin@demo.internal\n  - 127.1.2.21\n  \
             - 192.168.1.210\n  - notfunoffshore.com\n  - x.demo.lan\n"
        );
        assert!(pairs("not: [yaml", "domain: x").is_empty());
    }
}
