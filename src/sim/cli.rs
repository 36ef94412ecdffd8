//! `homelab sim loki|alerts`: run one simulator standalone until Ctrl-C, printing how to reach it.

use std::net::SocketAddr;
use std::process::ExitCode;

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("homelab: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

fn bind_error(what: &str, listen: SocketAddr, e: std::io::Error) -> ExitCode {
    eprintln!(
        "homelab sim {what}: cannot listen on {listen}: {e}; pick another --listen address (port 0 picks a free one)"
    );
    ExitCode::FAILURE
}

async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// `homelab sim loki [--listen ADDR] [--rate N]`.
pub fn run_loki(listen: SocketAddr, rate: u32) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let opts = super::loki::LokiSimOptions {
            rate,
            ..Default::default()
        };
        let sim = match super::loki::LokiSim::start(listen, opts).await {
            Ok(s) => s,
            Err(e) => return bind_error("loki", listen, e),
        };
        let url = sim.url();
        println!(
            "Loki simulator listening; {rate} lines/s, {} lines of history.",
            sim.store().len()
        );
        println!("  HOMELAB_LOKI_URL={url}");
        println!("  query_range: {url}/loki/api/v1/query_range?query={{namespace=\"media\"}}");
        println!(
            "  tail:        ws://{}/loki/api/v1/tail?query={{namespace=\"media\"}}",
            sim.addr()
        );
        println!("  try:         homelab console --loki {url}");
        println!("Ctrl-C stops it.");
        ctrl_c().await;
        sim.stop().await;
        ExitCode::SUCCESS
    })
}

/// `homelab sim alerts [--listen ADDR]`.
pub fn run_alerts(listen: SocketAddr) -> ExitCode {
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(async move {
        let sim = match super::alerts::AlertsSim::start(listen).await {
            Ok(s) => s,
            Err(e) => return bind_error("alerts", listen, e),
        };
        let url = sim.url();
        println!("Prometheus + Alertmanager simulator listening (one port serves both APIs).");
        println!("  HOMELAB_PROMETHEUS_URL={url}");
        println!("  HOMELAB_ALERTMANAGER_URL={url}");
        println!("  alerts:   {url}/api/v1/alerts   {url}/api/v2/alerts");
        println!("  silences: {url}/api/v2/silences");
        println!("  try:      homelab console --prometheus {url} --alertmanager {url}");
        println!("Ctrl-C stops it.");
        ctrl_c().await;
        sim.stop().await;
        ExitCode::SUCCESS
    })
}
