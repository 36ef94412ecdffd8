//! Servers on 127.0.0.1 that speak the real protocols (for `homelab demo`, `homelab sim`, and
//! tests). The real clients talk to them over sockets; they are never mock objects.

pub mod alerts;
pub mod cloudflare;
pub mod git_host;
pub mod grafana;
pub mod kube;
pub mod lab;
pub mod loki;
pub mod pve;
pub mod server;
pub mod ssh_node;
pub mod ssh_server;
pub mod traces;
