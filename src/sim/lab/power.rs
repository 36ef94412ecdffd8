//! A VM's SSH server runs while the VM does: it starts once the simulated PVE reports the VM
//! running and booted (its boot time passed), and stops when the VM stops. Before that nothing
//! listens at the VM's address, as on a real network (the proxmox stage's preflight warns
//! about an address that already answers SSH).

use crate::sim::pve::State;
use crate::sim::ssh_node::{NodeOptions, NodeServer};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How often the VMs' power state is looked at.
const POLL: Duration = Duration::from_millis(50);

/// Whether the VM at `ip` runs and has booted.
fn booted(state: &Arc<Mutex<State>>, ip: std::net::IpAddr) -> bool {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    st.tick();
    let boot = st.timing.boot;
    let now = Instant::now();
    st.vms.values().any(|vm| {
        vm.running
            && vm.started.is_some_and(|s| now.duration_since(s) >= boot)
            && vm
                .static_ip()
                .is_some_and(|(addr, _)| std::net::IpAddr::V4(addr) == ip)
    })
}

/// Start and stop each node's server with its VM until `stop`.
pub async fn follow_vms(
    state: Arc<Mutex<State>>,
    nodes: Vec<NodeOptions>,
    stop: CancellationToken,
) {
    let mut running: Vec<Option<NodeServer>> = nodes.iter().map(|_| None).collect();
    loop {
        for (opts, server) in nodes.iter().zip(running.iter_mut()) {
            let on = booted(&state, opts.listen.ip());
            match (on, server.is_some()) {
                (true, false) => match NodeServer::start(opts.clone()).await {
                    Ok(s) => *server = Some(s),
                    Err(e) => tracing::warn!(
                        "demo lab: SSH node {} cannot listen on {}: {e}",
                        opts.profile.name,
                        opts.listen
                    ),
                },
                (false, true) => *server = None,
                _ => {}
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = stop.cancelled() => return,
        }
    }
}
