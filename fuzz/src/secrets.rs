//! The main crate's `src/secrets/` modules, by path (see lib.rs).

#[path = "../../src/secrets/atomic.rs"]
pub mod atomic;
#[path = "../../src/secrets/cipher.rs"]
pub mod cipher;
#[path = "../../src/secrets/document.rs"]
pub mod document;
#[path = "../../src/secrets/dotenv.rs"]
pub mod dotenv;
#[path = "../../src/secrets/error.rs"]
pub mod error;
#[path = "../../src/secrets/guard.rs"]
pub mod guard;
#[path = "../../src/secrets/json.rs"]
pub mod json;
#[path = "../../src/secrets/keys.rs"]
pub mod keys;
#[path = "../../src/secrets/metadata.rs"]
pub mod metadata;
#[path = "../../src/secrets/numfmt.rs"]
pub mod numfmt;
#[path = "../../src/secrets/process.rs"]
pub mod process;
#[path = "../../src/secrets/rules.rs"]
pub mod rules;
#[path = "../../src/secrets/tree.rs"]
pub mod tree;
#[path = "../../src/secrets/yaml/mod.rs"]
pub mod yaml;

pub use document::{EncryptedFile, Format, MacStatus, Opened};
pub use keys::Identities;

pub const SOPS_VERSION: &str = "3.11.0";
