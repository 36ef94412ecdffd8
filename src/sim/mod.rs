//! Simulators: servers on 127.0.0.1 that speak the real protocols, for the demo lab and tests.

pub mod alerts;
pub mod cli;
pub mod loki;
pub mod server;
