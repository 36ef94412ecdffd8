//! Private keys from files (OpenSSH, PEM and PuTTY formats; ed25519, ecdsa, rsa), encrypted keys
//! unlocked through the [`Prompter`](super::prompt::Prompter), and the public halves used to
//! filter agent identities under `IdentitiesOnly`.

use russh::keys::{PrivateKey, PublicKey};
use std::path::{Path, PathBuf};

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: the key is encrypted and no passphrase was given")]
    NeedsPassphrase { path: PathBuf },
    #[error("{path}: wrong passphrase or unreadable key ({message})")]
    Unreadable { path: PathBuf, message: String },
}

/// Load `path`, decrypting with `passphrase` when given.
pub fn load_private_key(path: &Path, passphrase: Option<&str>) -> Result<PrivateKey, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Unreadable {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    match russh::keys::decode_secret_key(&text, passphrase) {
        Ok(k) => Ok(k),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(KeyError::NeedsPassphrase {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(KeyError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        }),
    }
}

/// The public key of an identity file without decrypting it: `<path>.pub` if present, else the
/// public half stored unencrypted inside an OpenSSH private key file.
pub fn public_key_of(path: &Path) -> Option<PublicKey> {
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    if let Ok(text) = std::fs::read_to_string(&pub_path)
        && let Ok(k) = PublicKey::from_openssh(text.trim())
    {
        return Some(k);
    }
    let text = std::fs::read_to_string(path).ok()?;
    PrivateKey::from_openssh(text.as_bytes())
        .ok()
        .map(|k| k.public_key().clone())
}

/// Default identity files when neither the cluster config nor ~/.ssh/config names one.
pub fn default_identity_files(home: &Path) -> Vec<PathBuf> {
    ["id_ed25519", "id_ecdsa", "id_rsa"]
        .iter()
        .map(|n| home.join(".ssh").join(n))
        .filter(|p| p.exists())
        .collect()
}
