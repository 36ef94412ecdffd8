//! `homelab demo`: the lab's SSH nodes against the k3s stage's real commands, its git host with
//! our git_push backend and the git CLI, the headless lab
//! (kubectl, the PVE API, loopback only), a headless bootstrap of every stage in this build to
//! green, a rehearsed failure and its retry, and the crash-anywhere proof.

#[path = "support/mod.rs"]
mod support;

#[path = "demo/harness.rs"]
mod harness;

#[path = "demo/bootstrap.rs"]
mod bootstrap;
#[path = "demo/crash.rs"]
mod crash;
#[path = "demo/day_two.rs"]
mod day_two;
#[path = "demo/git_host.rs"]
mod git_host;
#[path = "demo/hangup.rs"]
mod hangup;
#[path = "demo/lab.rs"]
mod lab;
#[path = "demo/node_script.rs"]
mod node_script;
#[path = "demo/tui.rs"]
mod tui;
