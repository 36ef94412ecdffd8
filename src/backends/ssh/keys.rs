//! Private keys from files (OpenSSH, PEM and PuTTY formats; ed25519, ecdsa, rsa), encrypted keys
//! unlocked through the [`Prompter`](super::prompt::Prompter), and the public halves used to
//! filter agent identities under `IdentitiesOnly`.

use super::prompt::Prompter;
use russh::keys::{PrivateKey, PublicKey};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// What became of a key file's passphrase question in this run.
enum Unlock {
    Unlocked(Arc<PrivateKey>),
    /// The operator gave no passphrase, or three wrong ones: not asked again in this run.
    GaveUp(String),
}

/// Key files unlocked in one run (one [`SshEnv`](super::SshEnv) per run): the passphrase of an
/// encrypted key is asked once per key per run, however many nodes and reconnects use it. The
/// passphrase itself is dropped (zeroized) at once; the decrypted key stays in memory only and
/// its secret half is zeroized when the run's environment is dropped.
#[derive(Clone, Default)]
pub struct UnlockedKeys(Arc<tokio::sync::Mutex<HashMap<PathBuf, Unlock>>>);

impl std::fmt::Debug for UnlockedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockedKeys(..)")
    }
}

/// Tries at a passphrase before the key is given up for the run (OpenSSH allows three too).
const PASSPHRASE_TRIES: usize = 3;

impl UnlockedKeys {
    /// The private key in `path`: read as it is when unencrypted, else unlocked with a
    /// passphrase asked through `prompter` (once per run; concurrent connections wait for the
    /// one question instead of asking again).
    pub async fn load(
        &self,
        path: &Path,
        prompter: &dyn Prompter,
    ) -> Result<Arc<PrivateKey>, String> {
        let mut map = self.0.lock().await;
        match map.get(path) {
            Some(Unlock::Unlocked(k)) => return Ok(k.clone()),
            Some(Unlock::GaveUp(why)) => return Err(why.clone()),
            None => {}
        }
        match load_private_key(path, None) {
            Ok(k) => return Ok(Arc::new(k)),
            Err(KeyError::NeedsPassphrase { .. }) => {}
            Err(e) => return Err(e.to_string()),
        }
        let mut outcome = Unlock::GaveUp(format!(
            "{}: encrypted, no passphrase given",
            path.display()
        ));
        for _ in 0..PASSPHRASE_TRIES {
            let Some(pass) = prompter.key_passphrase(path).await else {
                break;
            };
            match load_private_key(path, Some(pass.as_str())) {
                Ok(k) => {
                    outcome = Unlock::Unlocked(Arc::new(k));
                    break;
                }
                Err(e) => outcome = Unlock::GaveUp(e.to_string()),
            }
        }
        let result = match &outcome {
            Unlock::Unlocked(k) => Ok(k.clone()),
            Unlock::GaveUp(why) => Err(why.clone()),
        };
        map.insert(path.to_path_buf(), outcome);
        result
    }
}
