//! Errors of the secrets layer. Each says which file, where, and what to do, and maps to the exit
//! code sops uses for the same situation (cmd/sops/codes), so scripts can treat both alike.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },

    #[error(
        "{path}: sops metadata not found (no `sops_*` lines or `sops:` key). Is the file encrypted? Encrypt it with `homelab env encrypt {path}`."
    )]
    MetadataNotFound { path: PathBuf },

    #[error("{path}: {message}")]
    Metadata { path: PathBuf, message: String },

    #[error("{path}: the file is already encrypted (it has sops metadata); nothing was changed.")]
    AlreadyEncrypted { path: PathBuf },

    #[error(
        "{path}: no age identity matches this file.\n  The file can be opened by: {expected}\n  {tried_text}\n  {hint}",
        expected = .recipients.join(", "),
        tried_text = if .tried.is_empty() {
            format!("No age identity found; looked in: {}", .looked.join(", "))
        } else {
            format!("Identities tried: {}", .tried.join(", "))
        },
        hint = if .tried.is_empty() {
            "Put your age key in ~/.config/sops/age/keys.txt, or point SOPS_AGE_KEY_FILE at it (or set SOPS_AGE_KEY)."
        } else {
            "Ask someone who can open the file to add your recipient to .sops.yaml and run `homelab env rotate` on it."
        }
    )]
    NoMatchingIdentity {
        path: PathBuf,
        recipients: Vec<String>,
        tried: Vec<String>,
        looked: Vec<String>,
    },

    #[error(
        "{path}: could not decrypt the value at `{at}`: {reason}. The value was changed, moved to another key, or encrypted under another data key."
    )]
    ValueDecrypt {
        path: PathBuf,
        at: String,
        reason: String,
    },

    #[error(
        "{path}: MAC mismatch. File has {stored}, computed {computed}.\n  The MAC covers every value in order; a mismatch means the file was changed outside sops/homelab (a value edited, lines reordered or removed) or was tampered with. Nothing was written. Inspect it with `homelab env edit --read-only {path}`; to accept the content, restore it from git or re-create the changed values."
    )]
    MacMismatch {
        path: PathBuf,
        stored: String,
        computed: String,
    },

    #[error(
        "{path}: cannot decrypt the MAC: {reason}. The lastmodified timestamp or the mac line was changed. Nothing was written."
    )]
    MacUndecryptable { path: PathBuf, reason: String },

    #[error("{path}: key `{key}` not found")]
    KeyNotFound { path: PathBuf, key: String },

    #[error("{0}")]
    Usage(String),

    #[error("{path}: {message}")]
    Unsupported { path: PathBuf, message: String },

    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },

    #[error("{message}")]
    Keys { message: String },

    #[error(
        "{path} changed on disk since homelab read it (another homelab, sops or an editor wrote it). Nothing was written; read it again and re-apply the change."
    )]
    ChangedOnDisk { path: PathBuf },

    #[error(
        "{path} is being written by another process ({holder}); nothing was written. Try again when it is done."
    )]
    Locked { path: PathBuf, holder: String },
}

impl SopsError {
    /// The exit code sops uses for the same failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            SopsError::Io { .. } => 1,
            SopsError::Parse { .. } => 2,
            SopsError::MetadataNotFound { .. } => 1,
            SopsError::Metadata { .. } => 1,
            SopsError::AlreadyEncrypted { .. } => 203,
            SopsError::NoMatchingIdentity { .. } => 128,
            SopsError::ValueDecrypt { .. } => 25,
            SopsError::MacMismatch { .. } | SopsError::MacUndecryptable { .. } => 51,
            SopsError::KeyNotFound { .. } => 1,
            SopsError::Usage(_) => 2,
            SopsError::Unsupported { .. } => 1,
            SopsError::Config { .. } => 1,
            SopsError::Keys { .. } => 128,
            SopsError::ChangedOnDisk { .. } | SopsError::Locked { .. } => 1,
        }
    }

    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> SopsError {
        SopsError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = SopsError> = std::result::Result<T, E>;
