//! The cluster token: `K3S_TOKEN` of the cluster's SOPS env file (`config/env/<cluster>.env`).
//!
//! A fixed token is what lets a rebuilt server rejoin: every server is installed with it (k3s
//! reads `K3S_TOKEN` from its environment as `--token`), and every joining node's token must
//! carry it. It is decrypted in memory only (zeroized), reaches the nodes inside the install
//! script on stdin (never argv), and is masked in every plan, log line and journal entry.

use crate::secrets::Identities;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The env-file key.
pub const KEY: &str = "K3S_TOKEN";

/// The token and where it came from (for messages: `K3S_TOKEN in config/env/lab.env`).
#[derive(Clone)]
pub struct ClusterToken {
    pub value: Zeroizing<String>,
    pub source: String,
}

impl std::fmt::Debug for ClusterToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ClusterToken(•••• from {})", self.source)
    }
}

impl ClusterToken {
    /// A token from `source` (tests, or a caller that already holds it). Refuses an empty
    /// value and one with whitespace or control characters (k3s would cut it short).
    pub fn new(value: Zeroizing<String>, source: impl Into<String>) -> Result<Self, String> {
        let source = source.into();
        if value.is_empty() {
            return Err(format!(
                "{source}: {KEY} is empty; set it with `homelab env set <env file> {KEY}` (32+ random characters; the secrets stage generates one)"
            ));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "{source}: {KEY} contains whitespace or control characters; expected one word"
            ));
        }
        Ok(Self { value, source })
    }

    /// Does a server's `node-token` (`K10<ca hash>::server:<secret>`, or the bare secret) carry
    /// this token?
    pub fn matches(&self, node_token: &str) -> bool {
        secret_part(node_token.trim()) == secret_part(self.value.as_str())
    }
}

/// Where the stage gets the token: already in memory, or the env file, decrypted when the
/// stage first needs it (so a whole-lab `--plan` can show the k3s plan before the secrets
/// stage has written the file; preflight says when it is missing).
#[derive(Debug, Clone)]
pub enum TokenSource {
    Loaded(ClusterToken),
    EnvFile { file: PathBuf, shown: String },
}

impl TokenSource {
    /// `K3S_TOKEN in config/env/lab.env`.
    pub fn describe(&self) -> String {
        match self {
            TokenSource::Loaded(t) => t.source.clone(),
            TokenSource::EnvFile { shown, .. } => format!("{KEY} in {shown}"),
        }
    }

    /// The token (decrypts the env file: file I/O and crypto, call it on a blocking thread).
    pub fn load(&self) -> Result<ClusterToken, String> {
        match self {
            TokenSource::Loaded(t) => Ok(t.clone()),
            TokenSource::EnvFile { file, shown } => {
                from_env_file(file, shown, &Identities::discover)
            }
        }
    }
}

/// The secret of a k3s token: what follows `::<user>:` in the full form, else all of it.
fn secret_part(token: &str) -> &str {
    match token.split_once("::") {
        Some((_, rest)) => rest.split_once(':').map_or(rest, |(_, secret)| secret),
        None => token,
    }
}

/// `K3S_TOKEN` from the SOPS env file `file` (shown as `shown`), opened with `identities()`.
/// Errors name the file and the key and say what to do. File I/O and crypto: call it off the
/// UI task (stages are built inside their tasks).
pub fn from_env_file(
    file: &Path,
    shown: &str,
    identities: &dyn Fn() -> Identities,
) -> Result<ClusterToken, String> {
    let source = format!("{KEY} in {shown}");
    if !file.exists() {
        return Err(format!(
            "{shown} does not exist, so there is no {KEY} for the k3s stage; run the secrets stage first (it creates the file and generates {KEY})"
        ));
    }
    let opened = crate::secrets::EncryptedFile::open_verified(file, &identities())
        .map_err(|e| format!("{KEY}: {e}"))?;
    match opened.top_level_str(KEY) {
        Some(v) => ClusterToken::new(v, source),
        None => Err(format!(
            "{shown}: no {KEY}; the k3s stage installs every server with it. Add it with `homelab env set {shown} {KEY}` (reads stdin; 32+ random characters) or re-run the secrets stage, which generates it"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(v: &str) -> ClusterToken {
        ClusterToken::new(Zeroizing::new(v.into()), "test").unwrap()
    }

    #[test]
    fn node_tokens_carry_the_cluster_token() {
        let t = token("s3cret-abc");
        assert!(t.matches("K10aabbcc::server:s3cret-abc\n"));
        assert!(t.matches("s3cret-abc"));
        assert!(!t.matches("K10aabbcc::server:other"));
        assert!(!t.matches(""));
        assert!(token("K10ff::server:s3cret-abc").matches("K10aabbcc::server:s3cret-abc"));
        assert!(ClusterToken::new(Zeroizing::new(String::new()), "x").is_err());
        assert!(ClusterToken::new(Zeroizing::new("a b".into()), "x").is_err());
        assert!(!format!("{t:?}").contains("s3cret"));
    }

    /// The env file: real age + SOPS dotenv, written as the secrets stage writes it.
    #[test]
    fn read_from_the_encrypted_env_file_or_a_located_error() {
        use crate::secrets::keys::{generate_identity, identities_from_text};
        use crate::secrets::metadata::CryptRule;
        use crate::secrets::{Format, Opened};
        let dir = tempfile::tempdir().unwrap();
        let (secret, recipient) = generate_identity();
        let ids = || identities_from_text(&secret, "test");
        let write = |name: &str, plain: &str| {
            let path = dir.path().join(name);
            Opened::new_plain(
                &path,
                Format::Dotenv,
                plain,
                CryptRule::default(),
                false,
                std::slice::from_ref(&recipient),
            )
            .unwrap()
            .save()
            .unwrap();
            path
        };
        let good = write(
            "lab.env",
            "DOMAIN=example.invalid\nK3S_TOKEN=fixed-token-123\n",
        );
        let t = from_env_file(&good, "config/env/lab.env", &ids).unwrap();
        assert_eq!(t.value.as_str(), "fixed-token-123");
        assert_eq!(t.source, "K3S_TOKEN in config/env/lab.env");

        let without = write("other.env", "DOMAIN=example.invalid\n");
        let e = from_env_file(&without, "config/env/other.env", &ids).unwrap_err();
        assert!(
            e.starts_with("config/env/other.env: no K3S_TOKEN;") && e.contains("homelab env set"),
            "{e}"
        );
        let empty = write("empty.env", "K3S_TOKEN=\n");
        let e = from_env_file(&empty, "config/env/empty.env", &ids).unwrap_err();
        assert!(
            e.contains("config/env/empty.env") && e.contains("K3S_TOKEN is empty"),
            "{e}"
        );
        let e =
            from_env_file(&dir.path().join("none.env"), "config/env/none.env", &ids).unwrap_err();
        assert!(
            e.starts_with("config/env/none.env does not exist") && e.contains("K3S_TOKEN"),
            "{e}"
        );
    }
}
