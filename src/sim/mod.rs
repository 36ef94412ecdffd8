//! Simulators: servers on 127.0.0.1 that speak the real protocols (for `homelab demo`, `homelab
//! sim ...` and tests). Real clients talk to them over sockets; outside clients (kubectl,
//! proxmoxer) are pointed at them in tests to prove the wire format.

pub mod kube;
