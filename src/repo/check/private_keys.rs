//! No private key is committed anywhere in the repository: an age identity
//! (the age secret-key Bech32 line, checked to decode) or a PEM private-key block (OpenSSH, RSA, EC, DSA,
//! PKCS#8; a BEGIN line, a body and the matching END line). Every regular file is read (not
//! followed through symlinks, at most [`MAX_FILE`] bytes), except `.git/`, `target/` and what git
//! ignores. The key itself is never printed.

use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

use super::{Rule, Violation};
use crate::repo::tree::Tree;

pub const PRIVATE_KEY: Rule = Rule {
    id: "secrets/private-key",
    title: "No private keys (age identities, SSH/PEM private keys) in the repository",
    hint: "delete the file, purge it from git history, and rotate the key: anyone with a clone has it",
};

/// Larger files are not read (keys are small; this bounds memory on odd files).
const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Folder depth bound.
const MAX_DEPTH: usize = 64;

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    let git = git2::Repository::open(&tree.root).ok();
    let ignored = |rel: &str| {
        git.as_ref()
            .is_some_and(|g| g.is_path_ignored(Path::new(rel)).unwrap_or(false))
    };
    walk(&tree.root, "", 0, &ignored, out);
}

fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    ignored: &dyn Fn(&str) -> bool,
    out: &mut Vec<Violation>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        if depth == 0 && (name == ".git" || name == "target") {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        if ignored(&child) {
            continue;
        }
        if meta.is_dir() {
            walk(&entry.path(), &child, depth + 1, ignored, out);
        } else if meta.is_file() && meta.len() <= MAX_FILE {
            let Ok(bytes) = std::fs::read(entry.path()) else {
                continue;
            };
            for (line, what) in find_keys(&String::from_utf8_lossy(&bytes)) {
                out.push(Violation::new(
                    &PRIVATE_KEY,
                    &child,
                    Some(line),
                    format!("committed {what}"),
                ));
            }
        }
    }
}

/// The age secret-key prefix.
const AGE_MARKER: &str = crate::secrets::keys::AGE_SECRET_PREFIX;
const AGE_FINDING: &str = concat!("age private key (", "AGE-SECRET-", "KEY-1...)");
const SSH_FINDING: &str = concat!("SSH private key (-----BEGIN OPENSSH ", "PRIVATE KEY-----)");
const PEM_FINDING: &str = concat!("PEM private key (-----BEGIN ... ", "PRIVATE KEY-----)");

fn age_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(&format!("{AGE_MARKER}[0-9A-Z]{{58}}")).expect("static regex"))
}

fn pem_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^\s*-----BEGIN ((?:OPENSSH |RSA |EC |DSA |ENCRYPTED )?PRIVATE KEY)-----\s*$")
            .expect("static regex")
    })
}

/// `(line, description)` of every private key in `text`.
pub fn find_keys(text: &str) -> Vec<(u32, &'static str)> {
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let lno = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let age = age_regex().find_iter(line).any(|m| {
            let key: age::x25519::Identity = match m.as_str().parse() {
                Ok(k) => k,
                Err(_) => return false,
            };
            drop(key);
            true
        });
        if age {
            found.push((lno, AGE_FINDING));
        }
        if let Some(c) = pem_regex().captures(line) {
            let end = format!("-----END {}-----", &c[1]);
            let body = lines[i + 1..].iter().take_while(|l| !l.contains(&end));
            let body_lines = body.clone().filter(|l| !l.trim().is_empty()).count();
            let closed = lines[i + 1..].iter().any(|l| l.contains(&end));
            if closed && body_lines > 0 {
                found.push((
                    lno,
                    if c[1].starts_with("OPENSSH") {
                        SSH_FINDING
                    } else {
                        PEM_FINDING
                    },
                ));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_without_a_key_is_not_a_finding() {
        assert!(find_keys(&format!("const M: &str = \"{AGE_MARKER}\";")).is_empty());
        let begin = concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----");
        assert!(find_keys(&format!("{begin}\n")).is_empty());
        // 58 characters of the right alphabet but a bad checksum.
        let bogus = format!("{AGE_MARKER}{}", "Q".repeat(58));
        assert!(find_keys(&bogus).is_empty());
    }

    #[test]
    fn a_generated_age_key_is_found() {
        // The identity file age-keygen writes: two comment lines, then the key.
        let (secret, _) = crate::secrets::keys::generate_identity();
        assert_eq!(find_keys(secret.as_str()), vec![(3, AGE_FINDING)]);
    }
}
