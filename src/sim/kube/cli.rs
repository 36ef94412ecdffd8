//! `homelab sim kube`: the simulator standalone, with the prox-n100 nodes Ready, a kubeconfig
//! written next to the state dir, and the kubectl line to reach it. Ctrl-C stops it.

use super::objects::NodeSpec;
use super::{KubeSim, SimOptions};
use std::net::SocketAddr;
use std::process::ExitCode;

pub fn run(listen: SocketAddr) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("homelab sim kube: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let sim = match KubeSim::start(SimOptions {
            listen,
            ..Default::default()
        })
        .await
        {
            Ok(s) => s,
            Err(e) => {
                eprintln!("homelab sim kube: {e}");
                return ExitCode::from(1);
            }
        };
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
        println!("Ctrl-C stops it.");
        let _ = tokio::signal::ctrl_c().await;
        let _ = std::fs::remove_dir_all(&dir);
        ExitCode::SUCCESS
    })
}
