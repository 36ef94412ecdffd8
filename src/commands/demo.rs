//! `homelab demo [--speed N|max] [--fail STAGE:STEP] [--headless]`: the simulated lab
//! (`sim::lab`) in this process, then the TUI on it; or, headless, only the lab with what it
//! takes to reach it printed. The lab's environment ([`Layout::env`]: HOME, KUBECONFIG,
//! SOPS_AGE_KEY_FILE, the repository copy and cluster, the console's URLs...) is set before
//! any thread starts, so every stage the registry builds finds the lab as it would find a real
//! homelab. The Flux stage's install manifest is the lab's own (pinned in the demo definition):
//! the TUI gets it as `--flux-manifest` would give it; headless, the lab prints the path to
//! pass to `homelab bootstrap --flux-manifest`. On exit (q, Ctrl-C, SIGTERM) every server stops
//! and the temporary directory goes.

use crate::cli::{DemoArgs, GlobalArgs};
use crate::sim::lab::layout::{Layout, Speed, VMS};
use crate::sim::lab::{Lab, LabOptions};
use std::process::ExitCode;
use std::time::Instant;

pub fn run(global: &GlobalArgs, args: &DemoArgs, started: Instant) -> ExitCode {
    let speed: Speed = match args.speed.parse() {
        Ok(s) => s,
        Err(e) => return usage(&e),
    };
    if let Some(f) = &args.fail
        && let Err(e) = crate::stages::rehearsal::parse(f)
    {
        return usage(&e);
    }
    let source = match crate::config::repo_root(global.repo.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "homelab demo: {e}\n  the demo copies a homelab checkout: run it inside one, or pass --repo PATH"
            );
            return ExitCode::from(2);
        }
    };
    let dir = match crate::sim::lab::root::LabDir::create() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("homelab demo: cannot create a temporary directory: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(net) = free_net() else {
        eprintln!(
            "homelab demo: no free /24 found in 127.0.0.0/8 for the lab's ports; is something holding many loopback addresses?"
        );
        return ExitCode::FAILURE;
    };
    let layout = Layout::new(dir.path(), net, speed);
    set_environment(&layout);
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let txt_registry = txt_registry(&source);
    let lab = rt.block_on(Lab::start(LabOptions {
        layout: layout.clone(),
        source_repo: source,
        fail: args.fail.clone(),
        txt_registry,
    }));
    let lab = match lab {
        Ok(l) => l,
        Err(e) => {
            eprintln!("homelab demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = if args.headless {
        headless(&lab, &rt)
    } else {
        let global = GlobalArgs {
            repo: Some(layout.repo()),
            cluster: Some(crate::sim::lab::layout::CLUSTER.into()),
            ..global.clone()
        };
        let mut start = super::launch::Start::home(started);
        start.params.flux_manifest = Some(layout.flux_manifest());
        super::launch::tui(&global, start)
    };
    rt.block_on(lab.stop());
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    drop(dir);
    code
}

/// How the tree's external-dns names and owns its TXT records (`txtOwnerId`, `txtPrefix`...),
/// as the doctor reads them; external-dns's defaults when the tree cannot be read.
fn txt_registry(repo: &std::path::Path) -> crate::backends::cloudflare::TxtRegistry {
    match crate::repo::tree::Tree::load(repo) {
        Ok(tree) => crate::backends::doctor::txt_registry(&crate::repo::doctor_facts::from_tree(
            &tree, "", "", "", "",
        )),
        Err(_) => Default::default(),
    }
}

fn usage(e: &str) -> ExitCode {
    eprintln!("homelab demo: {e}");
    ExitCode::from(2)
}

/// Print the lab and wait for Ctrl-C or SIGTERM.
fn headless(lab: &Lab, rt: &tokio::runtime::Runtime) -> ExitCode {
    use std::io::Write;
    let mut out = String::new();
    for l in lab.describe() {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str("# environment: eval these lines to point homelab, kubectl or sops at the lab\n");
    for (k, v) in lab.layout.env() {
        out.push_str(&format!("export {k}={}\n", crate::shell_quote::quote(&v)));
    }
    for k in Layout::UNSET {
        out.push_str(&format!("unset {k}\n"));
    }
    out.push_str(&format!(
        "# try: kubectl --kubeconfig {} get nodes; homelab bootstrap --yes --accept-new --flux-manifest {}\n",
        crate::shell_quote::quote(&lab.layout.lab_kubeconfig().display().to_string()),
        crate::shell_quote::quote(&lab.layout.flux_manifest().display().to_string())
    ));
    out.push_str("# demo lab ready; Ctrl-C (or SIGTERM) stops it and removes everything\n");
    // The handlers exist before "ready" is printed: a SIGTERM sent as soon as a script reads
    // that line must stop the lab cleanly, not kill it with the lab's directory left behind.
    let signals = {
        use tokio::signal::unix::{SignalKind, signal};
        let _rt = rt.enter();
        [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::hangup(),
        ]
        .map(|kind| signal(kind).ok())
    };
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    drop(stdout);
    let [mut term, mut int, mut hup] = signals;
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s.as_mut() {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    }
    rt.block_on(async {
        tokio::select! {
            _ = recv(&mut term) => {}
            _ = recv(&mut int) => {}
            _ = recv(&mut hup) => {}
        }
    });
    ExitCode::SUCCESS
}

/// A /24 of 127.0.0.0/8 where every port the lab listens on is free.
fn free_net() -> Option<[u8; 2]> {
    (0..64).map(|_| Layout::random_net()).find(|&net| {
        let l = Layout::new(std::path::Path::new("/"), net, Speed::Max);
        let mut addrs = vec![
            l.pve_addr(),
            l.kube_addr(),
            l.loki_addr(),
            l.alerts_addr(),
            l.cloudflare_addr(),
            l.git_addr(),
        ];
        addrs.extend(VMS.iter().map(|vm| l.ssh_addr(vm)));
        addrs.iter().all(|a| std::net::TcpListener::bind(a).is_ok())
    })
}

/// Point this process at the lab. Called before the runtime (or any other thread) exists.
fn set_environment(layout: &Layout) {
    for (k, v) in layout.env() {
        // SAFETY: no other thread exists yet (the runtime is built after this), so nothing
        // reads the environment concurrently.
        unsafe { std::env::set_var(k, v) };
    }
    for k in Layout::UNSET {
        // SAFETY: as above.
        unsafe { std::env::remove_var(k) };
    }
}
