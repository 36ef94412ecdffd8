//! Credentials for the observability endpoints from the cluster's SOPS env file
//! (`config/env/<cluster>.env`): the cluster config names the keys (`basic_auth_env`,
//! `bearer_token_env`), the values are decrypted here, off the UI task, with the operator's
//! age identity. Nothing decrypted is written anywhere.

use crate::backends::endpoint::Auth;
use crate::secrets::tree::{Node, parse_path};
use crate::secrets::{EncryptedFile, Identities};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Which env-file keys hold the credentials, and where the file is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSource {
    pub env_file: PathBuf,
    pub basic_auth_key: Option<String>,
    pub bearer_token_key: Option<String>,
}

/// One value from a SOPS env file (blocking: file I/O and decryption).
pub fn read_value(
    env_file: &Path,
    key: &str,
    ids: &Identities,
) -> Result<Zeroizing<String>, String> {
    let file = env_file.display();
    let opened = EncryptedFile::open_verified(env_file, ids).map_err(|e| e.to_string())?;
    let path = parse_path(key).map_err(|e| format!("{file}: `{key}`: {e}"))?;
    match opened.get(&path) {
        Some(Node::Scalar(s)) => Ok(Zeroizing::new(s.display_text())),
        Some(_) => Err(format!("{file}: `{key}` is not a single value")),
        None => Err(format!(
            "{file}: no key `{key}` (the cluster config's observability section names it); add it with `homelab env set {file} {key}`"
        )),
    }
}

/// The credentials `source` names, with the operator's age identities (SOPS_AGE_KEY,
/// SOPS_AGE_KEY_FILE, keys.txt, as sops looks for them).
pub fn load(source: &CredentialSource) -> Result<Auth, String> {
    load_with(source, &Identities::discover())
}

/// The credentials `source` names: a bearer token wins over a basic-auth pair.
pub fn load_with(source: &CredentialSource, ids: &Identities) -> Result<Auth, String> {
    if let Some(key) = &source.bearer_token_key {
        let token = read_value(&source.env_file, key, ids)?;
        return Ok(Auth::bearer(token.trim()));
    }
    if let Some(key) = &source.basic_auth_key {
        let pair = read_value(&source.env_file, key, ids)?;
        return Auth::basic_from_pair(pair.trim()).ok_or_else(|| {
            format!(
                "{}: `{key}` must be user:password",
                source.env_file.display()
            )
        });
    }
    Ok(Auth::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::keys::{generate_identity, identities_from_text};
    use crate::secrets::metadata::CryptRule;
    use crate::secrets::{Format, Opened};

    fn encrypted_env(dir: &Path, plaintext: &str) -> (PathBuf, Identities) {
        let (secret, recipient) = generate_identity();
        let path = dir.join("prox-n100.env");
        let mut opened = Opened::new_plain(
            &path,
            Format::Dotenv,
            plaintext,
            CryptRule::default(),
            false,
            &[recipient],
        )
        .unwrap();
        opened.save().unwrap();
        (path, identities_from_text(&secret, "test"))
    }

    #[test]
    fn reads_basic_auth_and_bearer_tokens_from_the_encrypted_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let (env_file, ids) =
            encrypted_env(dir.path(), "OBS_BASIC=ops:s3cret\nOBS_TOKEN=tok-123\n");
        let on_disk = std::fs::read_to_string(&env_file).unwrap();
        assert!(
            !on_disk.contains("s3cret") && !on_disk.contains("tok-123"),
            "encrypted at rest"
        );
        let basic = CredentialSource {
            env_file: env_file.clone(),
            basic_auth_key: Some("OBS_BASIC".into()),
            bearer_token_key: None,
        };
        assert_eq!(
            load_with(&basic, &ids),
            Ok(Auth::basic_from_pair("ops:s3cret").unwrap())
        );
        let bearer = CredentialSource {
            bearer_token_key: Some("OBS_TOKEN".into()),
            ..basic.clone()
        };
        assert_eq!(load_with(&bearer, &ids), Ok(Auth::bearer("tok-123")));
        let missing = CredentialSource {
            bearer_token_key: Some("NOPE".into()),
            ..basic
        };
        let err = load_with(&missing, &ids).unwrap_err();
        assert!(
            err.contains("no key `NOPE`") && err.contains("homelab env set"),
            "{err}"
        );
        let (_, other) = generate_identity();
        let wrong = identities_from_text(&other, "other");
        assert!(
            load_with(&missing, &wrong).is_err(),
            "a stranger's key cannot read it"
        );
    }
}
