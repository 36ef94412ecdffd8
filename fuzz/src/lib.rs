//! The parsers under fuzz, compiled from the main crate's sources (no copy): the same
//! `crate::...` paths resolve here, so fuzzing builds only what the parsers use, not the app.
#![allow(dead_code)]

#[path = "../../src/atomic_write.rs"]
pub mod atomic_write;
pub mod backends;
#[path = "../../src/config/mod.rs"]
pub mod config;
#[path = "../../src/diag.rs"]
pub mod diag;
#[path = "../../src/domain/mod.rs"]
pub mod domain;
#[path = "../../src/lockfile.rs"]
pub mod lockfile;
pub mod secrets;
#[path = "../../src/shell_quote.rs"]
pub mod shell_quote;
