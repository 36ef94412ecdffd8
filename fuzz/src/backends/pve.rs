#[path = "../../../src/backends/pve/trust.rs"]
pub mod trust;
