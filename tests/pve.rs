//! Proxmox: the PVE client, the proxmox stage and the `homelab` CLI against the simulator in
//! `src/sim/pve`, and proxmoxer (PyPI) as an outside client of that simulator.

#[path = "pve/support.rs"]
mod support;
#[path = "support/mod.rs"]
mod ui;
/// For k3s/nodes.rs (real sshd nodes), which the snippet tests use as PVE nodes.
use ui::net;
#[allow(dead_code)]
#[path = "k3s/nodes.rs"]
mod nodes;

#[path = "pve/cli.rs"]
mod cli;
#[path = "pve/client.rs"]
mod client;
#[path = "pve/credentials.rs"]
mod credentials;
#[path = "pve/e2e.rs"]
mod e2e;
#[path = "pve/image_digest.rs"]
mod image_digest;
#[path = "pve/proxmoxer.rs"]
mod proxmoxer;
#[path = "pve/snippet.rs"]
mod snippet;
#[path = "pve/stage.rs"]
mod stage;
#[path = "pve/standalone.rs"]
mod standalone;
#[path = "pve/wizard.rs"]
mod wizard;
