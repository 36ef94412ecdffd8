//! Flux's deploy key: an ed25519 key made in memory, and the `flux-system/flux-system` Secret
//! source-controller reads it from. Nothing here touches the disk: the private key lives in
//! zeroizing memory until the Secret is applied to the cluster.
//!
//! The Secret's keys are Flux's SSH ones (WIRE-2 H.2; flux2 `pkg/manifestgen/sourcesecret`):
//! `identity` (the private key, PEM-armoured), `identity.pub` (the authorized_keys line) and
//! `known_hosts` (the git host's key lines, which source-controller checks the host against).
//! Flux's own generator armours keys as PKCS#8 PEM; source-controller parses
//! `identity` with golang.org/x/crypto/ssh `ParsePrivateKey`, which reads the OpenSSH armour
//! written here as well, as does `ssh-keygen`.
//!
//! The key type comes from the `ssh-key` crate russh already depends on (re-exported as
//! `russh::keys::ssh_key`), so there is one version of it in the build.

use super::kube_secret::{Field, SecretSpec, render};
use rand::RngCore;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};
use zeroize::Zeroizing;

/// Namespace and name of the Secret the GitRepository's `secretRef` names.
pub const FLUX_SYSTEM: &str = "flux-system";

/// An ed25519 key pair. The private half is zeroized on drop (ssh-key's key types do that) and
/// never printed: `Debug` shows the public fingerprint only.
pub struct DeployKey {
    key: PrivateKey,
}

impl std::fmt::Debug for DeployKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeployKey")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl DeployKey {
    /// A new key from the operating system's random source; `comment` ends the public line
    /// (`flux@<cluster>` says on the git host what the key is for).
    pub fn generate(comment: &str) -> DeployKey {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(seed.as_mut());
        let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        key.set_comment(comment);
        DeployKey { key }
    }

    /// `ssh-ed25519 AAAA... comment`: what the operator adds to the git host as a deploy key.
    pub fn public_line(&self) -> String {
        self.key.public_key().to_openssh().unwrap_or_default()
    }

    /// `SHA256:...`, as `ssh-keygen -lf` and the git hosts show it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The OSC 52 sequence that puts [`Self::public_line`] on the operator's clipboard (the copy
    /// action; sanitized by the one function, `domain::printable::osc52`).
    pub fn copy_sequence(&self) -> String {
        crate::domain::printable::osc52(&self.public_line())
    }

    pub fn public_key(&self) -> &PublicKey {
        self.key.public_key()
    }

    /// The private key in OpenSSH armour (zeroized on drop).
    fn private_openssh(&self) -> Result<Zeroizing<String>, String> {
        self.key
            .to_openssh(LineEnding::LF)
            .map_err(|e| format!("encoding the deploy key: {e}"))
    }
}

/// Check `known_hosts` text as source-controller will read it: at least one key line, each
/// `[@marker] names keytype base64 [comment]` with a key that parses. Returns the text with a
/// final newline.
fn checked_known_hosts(text: &str) -> Result<String, String> {
    let mut keys = 0usize;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first().is_some_and(|f| f.starts_with('@')) {
            fields.remove(0);
        }
        let [_, kind, b64, ..] = fields.as_slice() else {
            return Err(format!(
                "known_hosts line {}: expected `host keytype key`, got {} field(s)",
                i + 1,
                fields.len()
            ));
        };
        PublicKey::from_openssh(&format!("{kind} {b64}")).map_err(|e| {
            format!(
                "known_hosts line {}: the {kind} key does not parse: {e}",
                i + 1
            )
        })?;
        keys += 1;
    }
    if keys == 0 {
        return Err(
            "known_hosts for the git host is empty: Flux would refuse the host. Connect once \
             (the push does) or add it with `ssh-keyscan <host>`"
                .into(),
        );
    }
    let mut out = text.to_string();
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// The `flux-system/flux-system` Secret (keys `identity`, `identity.pub`, `known_hosts`, under
/// `data`), to be applied to the cluster as it is; never written to the tree or the disk.
/// `known_hosts` holds the git host's lines (`host keytype key`; `[host]:port` when the port
/// is not 22).
pub fn flux_system_secret(key: &DeployKey, known_hosts: &str) -> Result<Zeroizing<String>, String> {
    let known_hosts = checked_known_hosts(known_hosts)?;
    let private = key.private_openssh()?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    let public = format!("{public}\n");
    render(&SecretSpec {
        name: FLUX_SYSTEM,
        namespace: FLUX_SYSTEM,
        entries: vec![
            ("identity", private.as_str()),
            ("identity.pub", public.as_str()),
            ("known_hosts", known_hosts.as_str()),
        ],
        field: Field::Data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    const HOST: &str = "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";

    fn field(text: &str, key: &str) -> Zeroizing<String> {
        let v: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
        let b64 = v["data"][key].as_str().unwrap().to_string();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        Zeroizing::new(String::from_utf8(bytes).unwrap())
    }

    #[test]
    fn the_secret_holds_a_key_pair_that_matches_and_the_host_lines() {
        let key = DeployKey::generate("flux@lab");
        assert!(key.public_line().starts_with("ssh-ed25519 AAAA"));
        assert!(key.public_line().ends_with(" flux@lab"));
        assert!(!format!("{key:?}").contains("PRIVATE"), "{key:?}");
        let copy = key.copy_sequence();
        let b64 = copy
            .strip_prefix("\x1b]52;c;")
            .and_then(|s| s.strip_suffix('\x07'))
            .unwrap();
        let copied = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(copied).unwrap(), key.public_line());

        let text = flux_system_secret(&key, HOST).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["metadata"]["name"], "flux-system");
        assert_eq!(v["metadata"]["namespace"], "flux-system");

        let identity = field(&text, "identity");
        // The armour line, in two pieces: no key marker whole in src/.
        assert!(identity.starts_with(concat!("-----BEGIN OPENSSH ", "PRIVATE KEY-----\n")));
        let parsed = PrivateKey::from_openssh(identity.as_bytes()).unwrap();
        assert_eq!(parsed.public_key().key_data(), key.public_key().key_data());
        let public = field(&text, "identity.pub");
        assert_eq!(
            PublicKey::from_openssh(public.trim()).unwrap().key_data(),
            key.public_key().key_data()
        );
        assert_eq!(field(&text, "known_hosts").as_str(), format!("{HOST}\n"));

        // Two keys are two keys.
        assert_ne!(DeployKey::generate("x").fingerprint(), key.fingerprint());
    }

    #[test]
    fn the_private_key_is_one_openssh_reads() {
        if std::process::Command::new("ssh-keygen")
            .arg("-?")
            .output()
            .is_err()
        {
            eprintln!("SKIP: ssh-keygen missing");
            return;
        }
        use std::io::Write;
        let key = DeployKey::generate("flux@lab");
        let text = flux_system_secret(&key, HOST).unwrap();
        let identity = field(&text, "identity");
        // Through a pipe: the private key never reaches the disk, even in a test.
        let mut child = std::process::Command::new("ssh-keygen")
            .args(["-y", "-f", "/dev/stdin"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(identity.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let derived = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let line = key.public_line();
        let mut want = line.split_whitespace().take(2);
        let mut got = derived.split_whitespace().take(2);
        assert_eq!((want.next(), want.next()), (got.next(), got.next()));
    }

    #[test]
    fn known_hosts_must_hold_a_key_that_parses() {
        let key = DeployKey::generate("x");
        for bad in [
            "",
            "# only a comment\n",
            "github.com ssh-ed25519",
            "h ssh-ed25519 !!notbase64",
        ] {
            assert!(flux_system_secret(&key, bad).is_err(), "{bad:?}");
        }
        let marked = format!(
            "@cert-authority *.lab {}\n[git.lab]:2222 {}",
            &HOST[11..],
            &HOST[11..]
        );
        assert!(flux_system_secret(&key, &marked).is_ok());
    }
}
