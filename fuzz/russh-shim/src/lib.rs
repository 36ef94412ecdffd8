//! `russh::keys` as known_hosts.rs uses it (see Cargo.toml).
pub mod keys {
    pub use ssh_key::{Algorithm, HashAlg, PublicKey};
}
