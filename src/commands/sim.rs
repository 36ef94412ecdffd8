//! `homelab sim pve|kube|loki|alerts|cloudflare`: run one simulator standalone on 127.0.0.1 until Ctrl-C,
//! printing how to reach it.

use crate::cli::SimCommand;
use crate::sim::kube::objects::NodeSpec;
use crate::sim::kube::{self, KubeSim};
use crate::sim::pve::{self, PveSim, node_names};
use std::net::SocketAddr;
use std::process::ExitCode;

pub fn run(command: SimCommand) -> ExitCode {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match command {
        SimCommand::Pve {
            listen,
            plain_http,
            nodes,
        } => rt.block_on(run_pve(listen, plain_http, nodes)),
        SimCommand::Kube {
            listen,
            speed,
            crash_loop,
            pvc_pending,
            flux,
        } => rt.block_on(run_kube(listen, speed, &crash_loop, &pvc_pending, &flux)),
        SimCommand::Loki { listen, rate } => rt.block_on(run_loki(listen, rate)),
        SimCommand::Alerts { listen } => rt.block_on(run_alerts(listen)),
        SimCommand::Cloudflare(args) => rt.block_on(super::sim_cloudflare::run(args)),
    }
}

pub(super) fn bind_error(what: &str, listen: SocketAddr, e: impl std::fmt::Display) -> ExitCode {
    eprintln!(
        "homelab sim {what}: cannot listen on {listen}: {e}; pick another --listen address (port 0 picks a free one)"
    );
    ExitCode::FAILURE
}

pub(super) async fn ctrl_c() {
    let _ = tokio::signal::ctrl_c().await;
}

/// `homelab sim pve [--listen ADDR] [--plain-http] [--nodes N]`.
async fn run_pve(listen: SocketAddr, plain_http: bool, nodes: u32) -> ExitCode {
    let opts = pve::SimOptions {
        listen,
        plain_http,
        nodes: node_names(nodes),
        ..pve::SimOptions::default()
    };
    let sim = match PveSim::start(opts.clone()).await {
        Ok(s) => s,
        Err(e) => return bind_error("pve", listen, e),
    };
    let (id, secret) = (&sim.token_id, &sim.token_secret);
    println!("Proxmox VE simulator (PVE {}) on {}", opts.release, sim.url);
    println!("  API base:     {}/api2/json", sim.url);
    println!("  nodes:        {}", opts.nodes.join(", "));
    println!("  API token:    {id}");
    println!("  token secret: {secret}");
    println!("  header:       Authorization: PVEAPIToken={id}={secret}");
    println!("  ticket login: homelab@pve / {}", sim.password);
    match &sim.fingerprint {
        Some(fp) => println!("  TLS SHA-256:  {fp}"),
        None => println!("  TLS:          none (plain HTTP)"),
    }
    println!(
        "Try: curl -k -H 'Authorization: PVEAPIToken={id}={secret}' {}/api2/json/version",
        sim.url
    );
    println!(
        "Cluster file: proxmox.endpoint: {}  proxmox.nodes: [{}]; export PROXMOX_TOKEN_SECRET={secret}",
        sim.url,
        opts.nodes.join(", ")
    );
    if sim.fingerprint.is_none() {
        println!("  plain HTTP: add `allow_insecure_http: true` at the top of the cluster file");
    }
    println!("Ctrl-C stops it.");
    ctrl_c().await;
    sim.shutdown();
    ExitCode::SUCCESS
}

/// `homelab sim kube [--listen ADDR] [--speed X] [--crash-loop NS/NAME] [--pvc-pending
/// NS/NAME]`: a cluster's API (every built-in resource, CRDs, server-side apply, watches, the
/// controller loop) with the prox-n100 nodes Ready, a kubeconfig written to a temporary folder,
/// and the kubectl line to reach it.
async fn run_kube(
    listen: SocketAddr,
    speed: f64,
    crash_loop: &[String],
    pvc_pending: &[String],
    flux: &crate::cli::SimFluxArgs,
) -> ExitCode {
    use kube::controllers::Fault;
    let mut faults = vec![];
    let flags = crash_loop
        .iter()
        .map(|w| ("--crash-loop", w))
        .chain(pvc_pending.iter().map(|w| ("--pvc-pending", w)))
        .chain(flux.git_auth_fails.iter().map(|w| ("--git-auth-fails", w)))
        .chain(flux.sops_fails.iter().map(|w| ("--sops-fails", w)))
        .chain(
            flux.helm_install_fails
                .iter()
                .map(|w| ("--helm-install-fails", w)),
        );
    for (flag, w) in flags {
        let Some((ns, name)) = w
            .split_once('/')
            .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        else {
            eprintln!("homelab sim kube: {flag} {w}: expected NAMESPACE/NAME, e.g. default/web");
            return ExitCode::from(2);
        };
        let (namespace, name) = (ns.to_string(), name.to_string());
        faults.push(match flag {
            "--crash-loop" => Fault::CrashLoop { namespace, name },
            "--pvc-pending" => Fault::PvcPending { namespace, name },
            "--git-auth-fails" => Fault::GitAuth { namespace, name },
            "--sops-fails" => Fault::SopsDecryption { namespace, name },
            _ => Fault::HelmInstall { namespace, name },
        });
    }
    let mut git = vec![];
    for g in &flux.git {
        let Some((url, path)) = g
            .split_once('=')
            .filter(|(u, p)| !u.is_empty() && !p.is_empty())
        else {
            eprintln!(
                "homelab sim kube: --git {g}: expected URL=PATH, e.g. ssh://git@github.com/org/repo.git=."
            );
            return ExitCode::from(2);
        };
        git.push((url.to_string(), std::path::PathBuf::from(path)));
    }
    let sim = match KubeSim::start(kube::SimOptions {
        listen,
        controllers: Some(kube::controllers::Timing::default().scaled(speed)),
        ..Default::default()
    })
    .await
    {
        Ok(s) => s,
        Err(e) => return bind_error("kube", listen, e),
    };
    for f in faults {
        sim.inject(f);
    }
    for (url, path) in &git {
        sim.serve_git(url, path);
    }
    if flux.flux
        && let Err(e) = sim.install_flux()
    {
        eprintln!("homelab sim kube: installing the Flux CRDs: {e}");
        return ExitCode::from(1);
    }
    for (name, ip, server) in [
        ("k3s-server-1", "192.168.1.21", true),
        ("k3s-agent-1", "192.168.1.31", false),
        ("k3s-agent-2", "192.168.1.32", false),
    ] {
        sim.upsert_node(NodeSpec {
            name: name.into(),
            ip: ip.into(),
            server,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    let dir = std::env::temp_dir().join(format!("homelab-sim-kube-{}", std::process::id()));
    let path = dir.join("kubeconfig");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        crate::atomic_write::write(
            &path,
            sim.kubeconfig(&sim.url()).as_bytes(),
            crate::atomic_write::Mode::Secret,
        )
    });
    if let Err(e) = written {
        eprintln!("homelab sim kube: writing {}: {e}", path.display());
        return ExitCode::from(1);
    }
    println!("kube simulator on {} (HTTPS, bearer token)", sim.url());
    println!("kubeconfig: {}", path.display());
    println!("try: kubectl --kubeconfig {} get nodes", path.display());
    println!(
        "     kubectl --kubeconfig {} api-resources  (what is served: docs/reference/kubernetes.md §7)",
        path.display()
    );
    if flux.flux {
        println!(
            "     kubectl --kubeconfig {} get gitrepositories,kustomizations,helmreleases -A  (Flux CRDs installed)",
            path.display()
        );
    }
    println!("Ctrl-C stops it.");
    ctrl_c().await;
    let _ = std::fs::remove_dir_all(&dir);
    ExitCode::SUCCESS
}

/// `homelab sim loki [--listen ADDR] [--rate N]`.
async fn run_loki(listen: SocketAddr, rate: u32) -> ExitCode {
    let opts = crate::sim::loki::LokiSimOptions {
        rate,
        ..Default::default()
    };
    let sim = match crate::sim::loki::LokiSim::start(listen, opts).await {
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
}

/// `homelab sim alerts [--listen ADDR]`.
async fn run_alerts(listen: SocketAddr) -> ExitCode {
    let sim = match crate::sim::alerts::AlertsSim::start(listen).await {
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
}
