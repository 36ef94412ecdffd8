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

/// Write `fingerprint` into the cluster file at `path` (minimal edit, re-parsed, atomic).
pub fn store_fingerprint(path: &Path, fingerprint: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let new =
        with_fingerprint(&text, fingerprint).map_err(|e| format!("{}: {e}", path.display()))?;
    let parsed: ClusterConfig = serde_yaml::from_str(&new).map_err(|e| {
        format!(
            "{}: the edited file no longer parses ({e}); it was not written",
            path.display()
        )
    })?;
    if parsed.proxmox.tls.fingerprint.as_deref() != Some(fingerprint) {
        return Err(format!(
            "{}: could not place proxmox.tls.fingerprint; add it by hand",
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
    fn the_shipped_cluster_file_takes_a_pin() {
        let text = include_str!("../../../config/clusters/prox-n100.yaml");
        let out = with_fingerprint(text, FP).unwrap();
        let parsed: ClusterConfig = serde_yaml::from_str(&out).unwrap();
        assert_eq!(parsed.proxmox.tls.fingerprint.as_deref(), Some(FP));
        assert_eq!(out.lines().count(), text.lines().count() + 1);
    }
}
