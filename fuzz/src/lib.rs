//! The secrets layer's parsers, compiled from the main crate's sources (no copy): the same
//! `crate::secrets::...` paths resolve here, so fuzzing builds only what the parsers use.
#![allow(dead_code)]

pub mod secrets;
