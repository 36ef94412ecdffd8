//! The main crate's backend modules that parse peer data, by path (see lib.rs).
pub mod loki;
pub mod pve;
pub mod ssh;
