//! `ssh.public_keys`: the files whose keys cloud-init installs on every VM. Each entry must be
//! an OpenSSH public key (`ssh-ed25519 AAAA... comment`), parsed with russh's ssh-key. A file
//! holding a private key (OpenSSH, PEM, PKCS#8, PuTTY) is refused outright: its content is
//! never kept, printed, logged or sent, and the message names only the file and what to list
//! instead. Lines that do not parse are named by file and line, never quoted.

use russh::keys::PublicKey;
use std::path::{Path, PathBuf};

/// Bigger than any sane key list (an RSA-16384 public key is ~2.8 KB).
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// Markers of private key files; checked before anything is parsed.
const PRIVATE_MARKERS: &[&str] = &[
    "PRIVATE KEY-----",
    "PuTTY-User-Key-File-",
    "AGE-SECRET-KEY-",
    "SSH PRIVATE KEY FILE FORMAT",
];

/// `~/` expanded against `$HOME`.
pub fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(path),
    }
}

/// The public key lines of every file in `paths` (order kept), and one message per problem
/// (`ssh.public_keys[i]: ...`). A file with any problem contributes no key at all.
pub fn load(paths: &[String]) -> (Vec<String>, Vec<String>) {
    let mut keys = Vec::new();
    let mut errors = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let field = format!("ssh.public_keys[{i}]");
        match read_file(&expand_home(path)) {
            Ok(found) => keys.extend(found),
            Err(why) => errors.push(format!("{field}: {path}: {why}")),
        }
    }
    (keys, errors)
}

/// The keys of one file, or why it cannot be used (without its content).
pub fn read_file(path: &Path) -> Result<Vec<String>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if !meta.is_file() {
        return Err("is not a regular file; expected a .pub key file".into());
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "is {} bytes, more than any public key file ({MAX_FILE_BYTES} at most)",
            meta.len()
        ));
    }
    let bytes =
        zeroize::Zeroizing::new(std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?);
    let text = String::from_utf8_lossy(&bytes);
    if PRIVATE_MARKERS.iter().any(|m| text.contains(m)) {
        return Err(
            "holds a PRIVATE key; it was not read further and goes nowhere. List the public half instead (the same path with .pub, or `ssh-keygen -y -f KEY > KEY.pub`)"
                .into(),
        );
    }
    let mut keys = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if PublicKey::from_openssh(line).is_err() {
            return Err(format!(
                "line {} is not an OpenSSH public key; expected `ssh-ed25519 AAAA... comment` (ssh-keygen -y -f KEY prints one)",
                n + 1
            ));
        }
        keys.push(line.to_owned());
    }
    if keys.is_empty() {
        return Err("holds no key; expected an OpenSSH public key line".into());
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAzlt2yd53h+6JAgTnFghwd3kxEwb98eWAWUPVkyb1/G op@laptop";

    #[test]
    fn public_keys_pass_and_junk_is_named_by_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("id.pub");
        std::fs::write(&good, format!("# mine\n{ED}\n\n")).unwrap();
        let bad = dir.path().join("notes.txt");
        std::fs::write(&bad, format!("{ED}\nhello world\n")).unwrap();
        let empty = dir.path().join("empty.pub");
        std::fs::write(&empty, "\n# nothing\n").unwrap();
        let paths: Vec<String> = [&good, &bad, &empty, &dir.path().join("missing.pub")]
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        let (keys, errors) = load(&paths);
        assert_eq!(keys, vec![ED.to_string()]);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("ssh.public_keys[1]: ")
                && errors[0].contains("line 2 is not an OpenSSH public key"),
            "{errors:?}"
        );
        assert!(!errors[0].contains("hello"), "{errors:?}");
        assert!(errors[1].contains("holds no key"), "{errors:?}");
        assert!(errors[2].contains("cannot read it"), "{errors:?}");
    }
}
