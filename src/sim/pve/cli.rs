//! `homelab sim pve [--listen ADDR] [--plain-http] [--nodes N]`: run the simulator standalone and
//! print how to reach it.

use super::{PveSim, SimOptions, node_names};
use std::net::SocketAddr;
use std::process::ExitCode;

pub fn run(listen: SocketAddr, plain_http: bool, nodes: u32) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("homelab sim pve: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let opts = SimOptions { listen, plain_http, nodes: node_names(nodes), ..SimOptions::default() };
        let sim = match PveSim::start(opts.clone()).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("homelab sim pve: cannot listen on {listen}: {e}");
                return ExitCode::from(1);
            }
        };
        println!("Proxmox VE simulator (PVE {}) on {}", opts.release, sim.url);
        println!("  API base:     {}/api2/json", sim.url);
        println!("  nodes:        {}", opts.nodes.join(", "));
        println!("  API token:    {}", sim.token_id);
        println!("  token secret: {}", sim.token_secret);
        println!("  header:       Authorization: PVEAPIToken={}={}", sim.token_id, sim.token_secret);
        println!("  ticket login: homelab@pve / {}", sim.password);
        match &sim.fingerprint {
            Some(fp) => println!("  TLS SHA-256:  {fp}"),
            None => println!("  TLS:          none (plain HTTP)"),
        }
        println!("Try: curl -k -H 'Authorization: PVEAPIToken={}={}' {}/api2/json/version", sim.token_id, sim.token_secret, sim.url);
        println!("Cluster file: proxmox.endpoint: {}  proxmox.nodes: [{}]; export PROXMOX_TOKEN_SECRET={}", sim.url, opts.nodes.join(", "), sim.token_secret);
        if sim.fingerprint.is_none() {
            println!("  plain HTTP: add `allow_insecure_http: true` at the top of the cluster file");
        }
        println!("Ctrl-C stops it.");
        let _ = tokio::signal::ctrl_c().await;
        sim.shutdown();
        ExitCode::SUCCESS
    })
}
