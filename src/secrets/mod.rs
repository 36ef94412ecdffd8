//! SOPS-encrypted files (dotenv, YAML, JSON) with age recipients, byte-compatible with sops
//! 3.11.0: decrypt, verify the MAC, edit in memory, re-encrypt keeping unchanged ciphertexts,
//! write atomically. See docs/secrets.md for the operator's view and
//! docs/reference/sops.md for the format itself.
//!
//! Layout: [`cipher`] (values), [`tree`] (document model), [`dotenv`] / [`yaml`] / [`json`]
//! (stores), [`metadata`], [`keys`] (age identities and recipients), [`rules`] (.sops.yaml),
//! [`document`] (whole files), [`atomic`] (writes); `homelab env` is `commands::env`.

pub mod atomic;
pub mod audit;
pub mod cipher;
pub mod cluster_secrets;
pub mod deploy_key;
pub mod document;
pub mod dotenv;
pub mod error;
pub mod guard;
pub mod json;
pub mod keys;
pub mod kube_secret;
pub mod lockout;
pub mod metadata;
mod numfmt;
pub mod process;
pub mod rules;
pub mod tree;
pub mod yaml;

pub use document::{EncryptedFile, Format, Loaded, MacStatus, Opened};
pub use error::SopsError;
pub use keys::Identities;

/// The sops version whose format we write (and record in `version` for new files).
pub const SOPS_VERSION: &str = "3.11.0";
