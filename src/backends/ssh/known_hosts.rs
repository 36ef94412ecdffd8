//! `known_hosts` verification as OpenSSH does it: plain, wildcard and negated patterns,
//! `[host]:port` for non-22 ports, hashed entries (`|1|salt|hmac-sha1`), `@revoked` markers.
//! `@cert-authority` lines are skipped (homelab does not use host certificates).
//!
//! A changed key is never overwritten: the only write is appending a new entry for a host that
//! had none, through the one atomic writer (a new file is 0600, an existing one keeps its mode).

use super::config::host_matches;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use russh::keys::{HashAlg, PublicKey};
use std::path::{Path, PathBuf};

/// Outcome of looking a host key up.
#[derive(Debug, Clone, PartialEq)]
pub enum HostKeyStatus {
    /// Recorded and equal.
    Known { file: PathBuf, line: usize },
    /// No entry for this host.
    Unknown,
    /// An entry of the same key type holds a different key: possible man-in-the-middle.
    Changed {
        file: PathBuf,
        line: usize,
        expected_fingerprint: String,
    },
    /// The key is marked `@revoked` (in any file, at any line).
    Revoked { file: PathBuf, line: usize },
    /// No key of this type is recorded, but keys of other types are: the host is not new.
    OtherTypes { known: Vec<KnownKey> },
}

/// A host key on record, as the trust prompt shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub algorithm: String,
    pub fingerprint: String,
    pub file: PathBuf,
    pub line: usize,
}

impl std::fmt::Display for KnownKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}:{})",
            self.algorithm,
            self.fingerprint,
            self.file.display(),
            self.line
        )
    }
}

/// One parsed line.
#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    revoked: bool,
    hosts: String,
    key: PublicKey,
}

/// The name OpenSSH looks up: `host` on port 22, else `[host]:port`.
pub fn host_port_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// SHA-256 fingerprint in OpenSSH's form, `SHA256:base64-without-padding`.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

fn parse_file(path: &Path) -> std::io::Result<Vec<Entry>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for (idx, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        let mut revoked = false;
        if first.starts_with('@') {
            match first {
                "@revoked" => revoked = true,
                _ => continue, // @cert-authority and unknown markers
            }
            let Some(next) = fields.next() else { continue };
            first = next;
        }
        let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        // Malformed keys are skipped like OpenSSH does, not fatal.
        let Ok(key) = PublicKey::from_openssh(&format!("{kind} {b64}")) else {
            continue;
        };
        out.push(Entry {
            line: idx + 1,
            revoked,
            hosts: first.to_string(),
            key,
        });
    }
    Ok(out)
}

/// Does a host field (comma list, patterns, hashed) name `name`?
fn hosts_match(field: &str, name: &str) -> bool {
    if let Some(rest) = field.strip_prefix("|1|") {
        let mut parts = rest.splitn(2, '|');
        let (Some(salt), Some(hash)) = (parts.next(), parts.next()) else {
            return false;
        };
        let (Ok(salt), Ok(hash)) = (B64.decode(salt), B64.decode(hash)) else {
            return false;
        };
        let Ok(mut mac) = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(&salt) else {
            return false;
        };
        mac.update(name.as_bytes());
        return mac.verify_slice(&hash).is_ok();
    }
    host_matches(field.split(','), name)
}

/// Key algorithms recorded for this host across `files`, in file order (to prefer them in KEX).
pub fn known_algorithms(files: &[PathBuf], host: &str, port: u16) -> Vec<russh::keys::Algorithm> {
    let name = host_port_name(host, port);
    let mut algs = Vec::new();
    for f in files {
        for e in parse_file(f).unwrap_or_default() {
            if !e.revoked && hosts_match(&e.hosts, &name) && !algs.contains(&e.key.algorithm()) {
                algs.push(e.key.algorithm());
            }
        }
    }
    algs
}

/// The keys recorded for `host:port` in `files` (revoked ones left out, each key once), as
/// `known_hosts` lines naming the host `as_name` (what another client, such as Flux's
/// source-controller, will look up: the name in the git URL).
pub fn host_key_lines(files: &[PathBuf], host: &str, port: u16, as_name: &str) -> Vec<String> {
    let name = host_port_name(host, port);
    let entries: Vec<Entry> = files
        .iter()
        .flat_map(|f| parse_file(f).unwrap_or_default())
        .collect();
    let revoked: Vec<&PublicKey> = entries
        .iter()
        .filter(|e| e.revoked)
        .map(|e| &e.key)
        .collect();
    let mut out: Vec<String> = Vec::new();
    for e in &entries {
        if e.revoked || revoked.contains(&&e.key) || !hosts_match(&e.hosts, &name) {
            continue;
        }
        let Ok(text) = e.key.to_openssh() else {
            continue;
        };
        let mut fields = text.split_whitespace();
        let (Some(kind), Some(b64)) = (fields.next(), fields.next()) else {
            continue;
        };
        let line = format!("{as_name} {kind} {b64}");
        if !out.contains(&line) {
            out.push(line);
        }
    }
    out
}

/// Look `key` up for `host:port` in `files` (user file first, then the global one).
///
/// A revocation wins wherever it is: `@revoked` for this key in any of the files, before or
/// after a line that trusts it, stops the connection. Otherwise an exact entry is `Known`, an
/// entry of the same type with another key is `Changed`, and entries of other types only make
/// the host [`HostKeyStatus::OtherTypes`] (not new: the prompt says which keys are on record).
pub fn check(
    files: &[PathBuf],
    host: &str,
    port: u16,
    key: &PublicKey,
) -> std::io::Result<HostKeyStatus> {
    let name = host_port_name(host, port);
    let mut parsed = Vec::with_capacity(files.len());
    for f in files {
        parsed.push((f, parse_file(f)?));
    }
    for (f, entries) in &parsed {
        if let Some(e) = entries
            .iter()
            .find(|e| e.revoked && e.key.key_data() == key.key_data())
        {
            return Ok(HostKeyStatus::Revoked {
                file: (*f).clone(),
                line: e.line,
            });
        }
    }
    let mut changed = None;
    let mut others: Vec<KnownKey> = Vec::new();
    for (f, entries) in &parsed {
        for e in entries
            .iter()
            .filter(|e| !e.revoked && hosts_match(&e.hosts, &name))
        {
            if e.key.key_data() == key.key_data() {
                return Ok(HostKeyStatus::Known {
                    file: (*f).clone(),
                    line: e.line,
                });
            }
            if e.key.algorithm() == key.algorithm() {
                if changed.is_none() {
                    changed = Some(HostKeyStatus::Changed {
                        file: (*f).clone(),
                        line: e.line,
                        expected_fingerprint: fingerprint(&e.key),
                    });
                }
            } else {
                others.push(KnownKey {
                    algorithm: e.key.algorithm().to_string(),
                    fingerprint: fingerprint(&e.key),
                    file: (*f).clone(),
                    line: e.line,
                });
            }
        }
    }
    Ok(match changed {
        Some(c) => c,
        None if !others.is_empty() => HostKeyStatus::OtherTypes { known: others },
        None => HostKeyStatus::Unknown,
    })
}

/// Append `host:port key` to `file` (atomic rewrite; creates `~/.ssh` with mode 700).
/// `UserKnownHostsFile /dev/null` records nothing (the key is trusted for this connection
/// only, as with OpenSSH); any other file that exists and is not a regular file is an error
/// rather than something to rename over.
pub fn append(file: &Path, host: &str, port: u16, key: &PublicKey) -> std::io::Result<()> {
    if file == Path::new("/dev/null") {
        return Ok(());
    }
    if let Ok(meta) = std::fs::metadata(file)
        && !meta.is_file()
    {
        return Err(std::io::Error::other(
            "it is not a regular file; point UserKnownHostsFile at a file",
        ));
    }
    // Several nodes are trusted concurrently: serialize the read-modify-write in this process.
    static WRITE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = WRITE.lock().unwrap_or_else(|p| p.into_inner());
    let dir = file.parent().unwrap_or(Path::new("."));
    if !dir.exists() {
        std::fs::create_dir_all(dir)?;
        set_mode(dir, 0o700)?;
    }
    let mut text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let openssh = key
        .to_openssh()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // Drop the comment: known_hosts lines are `hosts type base64`.
    let mut parts = openssh.split_whitespace();
    let (kind, b64) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    text.push_str(&format!("{} {kind} {b64}\n", host_port_name(host, port)));
    crate::atomic_write::write(
        file,
        text.as_bytes(),
        crate::atomic_write::Mode::KeepOr(0o600),
    )
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_lines_name_the_host_as_asked_and_leave_revoked_keys_out() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        std::fs::write(
            &f,
            format!(
                "git.lab,10.0.0.5 {ED_A}\n[git.lab]:2222 {ED_B}\nother {ED_B}\n\
                 git.lab {ED_A}\n"
            ),
        )
        .unwrap();
        let files = vec![f.clone()];
        assert_eq!(
            host_key_lines(&files, "git.lab", 22, "git.lab"),
            vec![format!("git.lab {ED_A}")],
            "each key once, only this host on port 22"
        );
        assert_eq!(
            host_key_lines(&files, "git.lab", 2222, "[alias]:2222"),
            vec![format!("[alias]:2222 {ED_B}")]
        );
        std::fs::write(&f, format!("git.lab {ED_A}\n@revoked * {ED_A}\n")).unwrap();
        assert!(host_key_lines(&files, "git.lab", 22, "git.lab").is_empty());
    }

    const ED_A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAzlt2yd53h+6JAgTnFghwd3kxEwb98eWAWUPVkyb1/G";
    const ED_B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ8ndqIPlAH8MUHih75nPwVBgjugt6L4ETcX4L6lIZI7";

    const EC_C: &str = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBPcXacTjO2XkX8IpdSd8XkJ1EUv2gpIEfZ+oe9mtOiA4KlM3s1eBBGrs+ejUyGzz9V+fxNFp6k+xUykoamSuHtU=";

    fn key(s: &str) -> PublicKey {
        PublicKey::from_openssh(s).unwrap()
    }

    /// `|1|salt|hmac` for `name`, as `ssh-keygen -H` writes it.
    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            B64.encode(salt),
            B64.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_hashed_and_port_forms() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let text = format!(
            "# comment\n10.0.0.5,node1 {ED_A}\n{} {ED_A}\n[10.0.0.7]:2222 {ED_A}\n",
            hashed("10.0.0.6", b"0123456789abcdef0123")
        );
        std::fs::write(&f, text).unwrap();
        let files = [f.clone()];
        assert!(matches!(
            check(&files, "node1", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Known { line: 2, .. }
        ));
        assert!(matches!(
            check(&files, "10.0.0.6", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Known { line: 3, .. }
        ));
        assert!(matches!(
            check(&files, "10.0.0.7", 2222, &key(ED_A)).unwrap(),
            HostKeyStatus::Known { line: 4, .. }
        ));
        assert_eq!(
            check(&files, "10.0.0.7", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn changed_key_is_reported_with_line_and_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let text = format!("{} {ED_A}\n", hashed("10.0.0.6", b"salt-salt-salt-salt!"));
        std::fs::write(&f, &text).unwrap();
        match check(std::slice::from_ref(&f), "10.0.0.6", 22, &key(ED_B)).unwrap() {
            HostKeyStatus::Changed {
                line,
                expected_fingerprint,
                ..
            } => {
                assert_eq!(line, 1);
                assert_eq!(expected_fingerprint, fingerprint(&key(ED_A)));
            }
            other => panic!("expected Changed, got {other:?}"),
        }
        assert_eq!(std::fs::read_to_string(&f).unwrap(), text);
    }

    #[test]
    fn revoked_and_negated_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        std::fs::write(&f, format!("@revoked * {ED_B}\n10.0.*,!10.0.0.9 {ED_A}\n")).unwrap();
        let files = [f];
        assert!(matches!(
            check(&files, "10.0.0.1", 22, &key(ED_B)).unwrap(),
            HostKeyStatus::Revoked { .. }
        ));
        assert!(matches!(
            check(&files, "10.0.3.3", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Known { .. }
        ));
        assert_eq!(
            check(&files, "10.0.0.9", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn append_creates_then_keeps_existing_lines() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ssh").join("known_hosts");
        append(&f, "10.0.0.8", 2200, &key(ED_A)).unwrap();
        append(&f, "10.0.0.9", 22, &key(ED_B)).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(
            lines,
            vec![
                format!("[10.0.0.8]:2200 {ED_A}"),
                format!("10.0.0.9 {ED_B}")
            ]
        );
        assert!(matches!(
            check(&[f], "10.0.0.8", 2200, &key(ED_A)).unwrap(),
            HostKeyStatus::Known { .. }
        ));
    }

    #[test]
    fn concurrent_appends_keep_every_host() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        let handles: Vec<_> = (0..16)
            .map(|i| {
                let f = f.clone();
                std::thread::spawn(move || {
                    append(&f, &format!("10.0.0.{i}"), 22, &key(ED_A)).unwrap()
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(std::fs::read_to_string(&f).unwrap().lines().count(), 16);
    }

    /// Issue 12: `@revoked` only counted when it came first. A key trusted in the user file and
    /// revoked in the global one, or revoked further down the same file, is refused.
    #[test]
    fn a_revocation_anywhere_wins() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("known_hosts");
        let global = dir.path().join("ssh_known_hosts");
        std::fs::write(&user, format!("10.0.0.5 {ED_A}\n")).unwrap();
        std::fs::write(&global, format!("# fleet\n@revoked * {ED_A}\n")).unwrap();
        assert_eq!(
            check(&[user.clone(), global.clone()], "10.0.0.5", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Revoked {
                file: global.clone(),
                line: 2
            }
        );
        std::fs::write(
            &user,
            format!("10.0.0.5 {ED_A}\n10.0.0.6 {ED_B}\n@revoked 10.0.0.5 {ED_A}\n"),
        )
        .unwrap();
        assert_eq!(
            check(std::slice::from_ref(&user), "10.0.0.5", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Revoked {
                file: user.clone(),
                line: 3
            }
        );
        // The other host's key is unaffected.
        assert!(matches!(
            check(std::slice::from_ref(&user), "10.0.0.6", 22, &key(ED_B)).unwrap(),
            HostKeyStatus::Known { line: 2, .. }
        ));
    }

    /// A host known with an ecdsa key that now shows an ed25519 one is not "new".
    #[test]
    fn another_key_type_on_record_is_reported_not_treated_as_new() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("known_hosts");
        std::fs::write(&f, format!("10.0.0.5 {EC_C}\n")).unwrap();
        match check(std::slice::from_ref(&f), "10.0.0.5", 22, &key(ED_A)).unwrap() {
            HostKeyStatus::OtherTypes { known } => {
                assert_eq!(known.len(), 1);
                assert_eq!(known[0].algorithm, "ecdsa-sha2-nistp256");
                assert_eq!(known[0].line, 1);
                assert_eq!(known[0].fingerprint, fingerprint(&key(EC_C)));
            }
            other => panic!("expected OtherTypes, got {other:?}"),
        }
        assert_eq!(
            check(std::slice::from_ref(&f), "10.0.0.9", 22, &key(ED_A)).unwrap(),
            HostKeyStatus::Unknown
        );
    }

    #[test]
    fn dev_null_records_nothing_and_other_special_files_are_refused() {
        use std::os::unix::fs::FileTypeExt;
        append(Path::new("/dev/null"), "10.0.0.8", 22, &key(ED_A)).unwrap();
        let dev_null = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(dev_null.is_char_device(), "/dev/null is left alone");
        let dir = tempfile::tempdir().unwrap();
        let e = append(dir.path(), "10.0.0.8", 22, &key(ED_A)).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
