//! The cluster definition: `config/clusters/<name>.yaml`.
//!
//! This is the contract every stage and screen reads. The types here are plain serde data;
//! validation (with file:line:column errors) lives in [`validate`].

pub mod schema;

pub use schema::*;
