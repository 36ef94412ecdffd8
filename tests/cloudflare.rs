//! Cloudflare: our client (`backends::cloudflare`) against the API v4 simulator in
//! `src/sim/cloudflare`, each injected fault and bad token included, and the official
//! `cloudflare` Python SDK (PyPI) as an outside client of that simulator.

#[path = "cloudflare/cli.rs"]
mod cli;
#[path = "cloudflare/client.rs"]
mod client;
#[path = "cloudflare/sdk.rs"]
mod sdk;

use homelab::backends::cloudflare::CloudflareClient;
use homelab::sim::cloudflare::{CloudflareSim, SimOptions};

/// A simulator with `echo.example.com` and `jellyfin.example.com`, and its CA in a file.
pub async fn sim() -> (CloudflareSim, tempfile::TempDir) {
    let sim = CloudflareSim::start(SimOptions {
        hosts: vec!["echo.example.com".into(), "jellyfin.example.com".into()],
        ..SimOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), &sim.ca_pem).unwrap();
    (sim, dir)
}

/// Our client for `token`, trusting the simulator's CA.
pub fn client(sim: &CloudflareSim, dir: &tempfile::TempDir, token: &str) -> CloudflareClient {
    CloudflareClient::new(&sim.url(), token, Some(&dir.path().join("ca.pem"))).unwrap()
}

/// True when `what` is usable; otherwise skip (or fail when HOMELAB_REQUIRE_PEERS=1).
pub fn require_peer(what: &str, available: bool) -> bool {
    if available {
        return true;
    }
    if std::env::var("HOMELAB_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{what} is missing and HOMELAB_REQUIRE_PEERS=1: install it (see .ci/run)");
    }
    println!("SKIP: {what} is missing");
    false
}
