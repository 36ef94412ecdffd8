#[path = "../../../src/backends/ssh/config.rs"]
pub mod config;
#[path = "../../../src/backends/ssh/known_hosts.rs"]
pub mod known_hosts;
