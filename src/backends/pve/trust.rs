//! Trust on first use: store the node certificate's fingerprint in the cluster definition.
//!
//! The edit is minimal and keeps every comment and the operator's layout: only the
//! `proxmox.tls.fingerprint` line is replaced or inserted. The result is parsed again before it
//! replaces the file (atomically: temp file in the same directory, fsync, rename).

use crate::config::ClusterConfig;
use std::path::Path;

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

/// Key of a block-mapping line (`  tls:  # x` -> `tls`).
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    let (k, _) = t.split_once(':')?;
    (!k.is_empty() && !k.contains(' ') && !k.starts_with('-')).then_some(k)
}

/// Index range `(start, end)` of the children of the mapping line at `at` (end exclusive).
fn block(lines: &[&str], at: usize) -> (usize, usize) {
    let base = indent_of(lines[at]);
    let mut end = at + 1;
    let mut last_content = at;
    while end < lines.len() {
        if is_content(lines[end]) {
            if indent_of(lines[end]) <= base {
                break;
            }
            last_content = end;
        }
        end += 1;
    }
    (at + 1, last_content + 1)
}

fn find_key(
    lines: &[&str],
    range: (usize, usize),
    indent: Option<usize>,
    key: &str,
) -> Option<usize> {
    (range.0..range.1).find(|&i| {
        is_content(lines[i])
            && key_of(lines[i]) == Some(key)
            && indent.is_none_or(|n| indent_of(lines[i]) == n)
    })
}

/// Return `text` with `proxmox.tls.fingerprint` set to `fingerprint`.
pub fn with_fingerprint(text: &str, fingerprint: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let proxmox = find_key(&lines, (0, lines.len()), Some(0), "proxmox")
        .ok_or("the cluster file has no top-level `proxmox:` mapping")?;
    let pblock = block(&lines, proxmox);
    let child_indent = (pblock.0..pblock.1)
        .find(|&i| is_content(lines[i]))
        .map(|i| indent_of(lines[i]))
        .unwrap_or(2);
    let value = format!("fingerprint: \"{fingerprint}\"");
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match find_key(&lines, pblock, Some(child_indent), "tls") {
        Some(tls) => {
            let rest = lines[tls].trim_start()["tls:".len()..].trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "line {}: `tls:` is written inline; write it as a block (tls:\\n  fingerprint: ...) or add the fingerprint by hand",
                    tls + 1
                ));
            }
            let tblock = block(&lines, tls);
            let grand = (tblock.0..tblock.1)
                .find(|&i| is_content(lines[i]))
                .map(|i| indent_of(lines[i]))
                .unwrap_or(child_indent * 2);
            match find_key(&lines, tblock, Some(grand), "fingerprint") {
                Some(fp) => {
                    // Keep a trailing comment if there is one.
                    let comment = lines[fp]
                        .find(" #")
                        .map(|i| lines[fp][i..].to_owned())
                        .unwrap_or_default();
                    out[fp] = format!("{}{value}{comment}", " ".repeat(grand));
                }
                None => out.insert(tblock.1, format!("{}{value}", " ".repeat(grand))),
            }
        }
        None => {
            out.insert(pblock.1, format!("{}{value}", " ".repeat(child_indent * 2)));
            out.insert(pblock.1, format!("{}tls:", " ".repeat(child_indent)));
        }
    }
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Return `text` with `proxmox.hosts[index].tls.fingerprint` set (the entry written as a block).
pub fn with_host_fingerprint(
    text: &str,
    index: usize,
    fingerprint: &str,
) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let proxmox = find_key(&lines, (0, lines.len()), Some(0), "proxmox")
        .ok_or("the cluster file has no top-level `proxmox:` mapping")?;
    let pblock = block(&lines, proxmox);
    let hosts = find_key(&lines, pblock, None, "hosts")
        .ok_or("the cluster file has no `proxmox.hosts:` list")?;
    let hblock = block(&lines, hosts);
    let items: Vec<usize> = (hblock.0..hblock.1)
        .filter(|&i| is_content(lines[i]) && lines[i].trim_start().starts_with("- "))
        .collect();
    let dash_indent = items.first().map(|&i| indent_of(lines[i])).unwrap_or(0);
    let items: Vec<usize> = items
        .into_iter()
        .filter(|&i| indent_of(lines[i]) == dash_indent)
        .collect();
    let &item = items
        .get(index)
        .ok_or_else(|| format!("proxmox.hosts has no entry {index}"))?;
    let first = lines[item].trim_start()[2..].trim_start();
    if first.starts_with('{') {
        return Err(format!(
            "line {}: proxmox.hosts[{index}] is written inline; write it as a block or add tls.fingerprint by hand",
            item + 1
        ));
    }
    let key_indent = dash_indent + (lines[item].len() - dash_indent - first.len());
    let end = items
        .iter()
        .find(|&&i| i > item)
        .copied()
        .unwrap_or(hblock.1);
    let iblock = (item + 1, end);
    let last_content = (iblock.0..iblock.1)
        .rev()
        .find(|&i| is_content(lines[i]))
        .map_or(item + 1, |i| i + 1);
    let value = |indent: usize| format!("{}fingerprint: \"{fingerprint}\"", " ".repeat(indent));
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match find_key(&lines, iblock, Some(key_indent), "tls") {
        Some(tls) => {
            let rest = lines[tls].trim_start()["tls:".len()..].trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "line {}: `tls:` is written inline; write it as a block or add the fingerprint by hand",
                    tls + 1
                ));
            }
            let tblock = block(&lines, tls);
            let grand = (tblock.0..tblock.1)
                .find(|&i| is_content(lines[i]))
                .map(|i| indent_of(lines[i]))
                .unwrap_or(key_indent + 2);
            match find_key(&lines, tblock, Some(grand), "fingerprint") {
                Some(fp) => out[fp] = value(grand),
                None => out.insert(tblock.1, value(grand)),
            }
        }
        None => {
            out.insert(last_content, value(key_indent + 2));
            out.insert(last_content, format!("{}tls:", " ".repeat(key_indent)));
        }
    }
    let mut s = out.join("\n");
    if text.ends_with('\n') {
        s.push('\n');
    }
    Ok(s)
}

/// Write `fingerprint` into the cluster file at `path` (minimal edit, re-parsed, atomic):
/// `proxmox.tls.fingerprint` for one PVE cluster; for standalone hosts the first
/// `proxmox.hosts` entry that still needs a pin (the one the connection asked about).
pub fn store_fingerprint(path: &Path, fingerprint: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let current: Option<ClusterConfig> = serde_yaml::from_str(&text).ok();
    let host = current.as_ref().and_then(|c| {
        let p = &c.proxmox;
        p.standalone().then(|| {
            p.hosts.iter().position(|h| {
                h.endpoint
                    .as_deref()
                    .is_some_and(|e| !e.starts_with("http://"))
                    && !h.tls.verify_ca
                    && h.tls.fingerprint.is_none()
            })
        })?
    });
    let new = match host {
        Some(i) => with_host_fingerprint(&text, i, fingerprint),
        None => with_fingerprint(&text, fingerprint),
    }
    .map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed: ClusterConfig = serde_yaml::from_str(&new).map_err(|e| {
        format!(
            "{}: the edited file no longer parses ({e}); it was not written",
            path.display()
        )
    })?;
    let (placed, field) = match host {
        Some(i) => (
            parsed
                .proxmox
                .hosts
                .get(i)
                .and_then(|h| h.tls.fingerprint.as_deref()),
            format!("proxmox.hosts[{i}].tls.fingerprint"),
        ),
        None => (
            parsed.proxmox.tls.fingerprint.as_deref(),
            "proxmox.tls.fingerprint".to_owned(),
        ),
    };
    if placed != Some(fingerprint) {
        return Err(format!(
            "{}: could not place {field}; add it by hand",
            path.display()
        ));
    }
    crate::atomic_write::write_atomic(path, new.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "AB:CD:EF";

    #[test]
    fn inserts_below_existing_tls_children_keeping_comments() {
        let src = "# top\nname: x\nproxmox:\n  endpoint: https://h:8006   # the node\n  tls:\n    verify_ca: false   # pinned below\n  bridge: vmbr0\nvms: []\n";
        let out = with_fingerprint(src, FP).unwrap();
        assert_eq!(
            out,
            "# top\nname: x\nproxmox:\n  endpoint: https://h:8006   # the node\n  tls:\n    verify_ca: false   # pinned below\n    fingerprint: \"AB:CD:EF\"\n  bridge: vmbr0\nvms: []\n"
        );
    }

    #[test]
    fn replaces_an_existing_fingerprint_and_adds_tls_when_missing() {
        let src = "proxmox:\n    tls:\n        fingerprint: \"OLD\" # pinned\n    bridge: b\n";
        assert_eq!(
            with_fingerprint(src, FP).unwrap(),
            "proxmox:\n    tls:\n        fingerprint: \"AB:CD:EF\" # pinned\n    bridge: b\n"
        );
        let src = "proxmox:\n  bridge: b\nvms: []";
        assert_eq!(
            with_fingerprint(src, FP).unwrap(),
            "proxmox:\n  bridge: b\n  tls:\n    fingerprint: \"AB:CD:EF\"\nvms: []"
        );
    }

    #[test]
    fn inline_tls_is_refused_with_a_line_number() {
        let e = with_fingerprint("proxmox:\n  tls: {verify_ca: false}\n", FP).unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn a_host_entry_takes_its_own_pin() {
        let src = "proxmox:\n  nodes: [a, b]\n  hosts:\n    - node: a   # first\n      endpoint: https://a:8006\n    - node: b\n      endpoint: https://b:8006\n      tls:\n        verify_ca: false\n  bridge: vmbr0\n";
        assert_eq!(
            with_host_fingerprint(src, 0, FP).unwrap(),
            "proxmox:\n  nodes: [a, b]\n  hosts:\n    - node: a   # first\n      endpoint: https://a:8006\n      tls:\n        fingerprint: \"AB:CD:EF\"\n    - node: b\n      endpoint: https://b:8006\n      tls:\n        verify_ca: false\n  bridge: vmbr0\n"
        );
        assert_eq!(
            with_host_fingerprint(src, 1, FP).unwrap(),
            "proxmox:\n  nodes: [a, b]\n  hosts:\n    - node: a   # first\n      endpoint: https://a:8006\n    - node: b\n      endpoint: https://b:8006\n      tls:\n        verify_ca: false\n        fingerprint: \"AB:CD:EF\"\n  bridge: vmbr0\n"
        );
        let inline = "proxmox:\n  hosts:\n    - { node: a, endpoint: https://a:8006 }\n";
        assert!(
            with_host_fingerprint(inline, 0, FP)
                .unwrap_err()
                .contains("line 3")
        );
    }

    #[test]
    fn the_shipped_cluster_file_takes_a_pin() {
        let text = include_str!("../../../config/clusters/prox-n100.yaml");
        let out = with_fingerprint(text, FP).unwrap();
        let parsed: ClusterConfig = serde_yaml::from_str(&out).unwrap();
        assert_eq!(parsed.proxmox.tls.fingerprint.as_deref(), Some(FP));
        assert_eq!(out.lines().count(), text.lines().count() + 1);
    }
}
