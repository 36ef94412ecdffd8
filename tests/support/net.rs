//! Addresses for test servers that no other test (of this run or of another run on the same
//! machine) uses.
//!
//! A port picked by binding `127.0.0.1:0` and closing the socket again is only free until the
//! next socket takes it: any test's outgoing connection gets its local port from the same
//! range, and so does every other test's "free port". A server started on it later (sshd,
//! Prometheus), or restarted on it after a stop, can then fail to bind, or a readiness probe
//! can reach someone else's server. Linux routes all of 127.0.0.0/8 to the loopback device,
//! and clients connect from 127.0.0.1, so a server on a random address of its own (say
//! 127.83.4.201) shares its port space with nobody: only a wildcard listener on the same port
//! could get in the way.
//!
//! Standalone (std and `rand` only): benches/k3s_join.rs loads it without the rest of
//! `tests/support` (for `tests/k3s/nodes.rs`, which reaches it as `crate::net`).
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};

/// A random loopback address outside 127.0.0.0/16 (where fixed test addresses live).
pub fn loopback_ip() -> Ipv4Addr {
    let r: u32 = rand::random();
    let [a, b, c, _] = r.to_be_bytes();
    Ipv4Addr::new(127, 1 + a % 254, b, 1 + c % 254)
}

/// A port that was free on `ip` a moment ago, for a program that must be told its port
/// before it starts. On an address of [`loopback_ip`] nobody else takes it meanwhile.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("no free port on {ip}: {e}"))
        .port()
}

/// `<a fresh loopback address>:<a free port on it>`.
pub fn free_addr() -> SocketAddr {
    let ip = loopback_ip();
    SocketAddr::from((ip, free_port(ip)))
}

/// `<a fresh loopback address>:0`, for servers that bind and report their port themselves.
pub fn any_port() -> SocketAddr {
    SocketAddr::from((loopback_ip(), 0))
}
