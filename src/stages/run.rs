//! `homelab bootstrap` without the TUI (called by `commands::bootstrap`): `--plan` prints
//! preflight and plan; `--yes` runs the stages printing timestamped plain log lines. Stages not
//! in this build say so (exit 2).
//!
//! Secrets: the PVE token secret comes from `PROXMOX_TOKEN_SECRET` in the environment (the SOPS env
//! file integration belongs to the secrets stage); `PROXMOX_PASSWORD` selects ticket auth with the
//! token's user instead.

use super::engine::*;
use super::printer;
use super::registry::{self, Build, BuildCx};
use crate::backends::pve;
use crate::cli::BootstrapArgs;
use crate::config::ClusterConfig;
use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

/// How the stage asks the operator: stdin prompts, or fixed answers under `--yes`.
struct StdinConfirm;

#[async_trait::async_trait]
impl Confirm for StdinConfirm {
    async fn confirm(&self, prompt: &Prompt) -> bool {
        let prompt = prompt.clone();
        tokio::task::spawn_blocking(move || {
            eprintln!("{}\n{}", prompt.title, prompt.detail);
            match &prompt.type_to_confirm {
                Some(name) => eprint!("Type `{name}` to confirm: "),
                None => eprint!("Proceed? [y/N] "),
            }
            let _ = std::io::stderr().flush();
            let mut line = String::new();
            if std::io::stdin().lock().read_line(&mut line).is_err() {
                return false;
            }
            match &prompt.type_to_confirm {
                Some(name) => line.trim() == name,
                None => matches!(line.trim(), "y" | "Y" | "yes"),
            }
        })
        .await
        .unwrap_or(false)
    }
}

/// `--yes` answers yes, except to prompts that require typing a name (deleting a VM): those are
/// asked at the terminal, and refused when there is none.
struct CliConfirm;

#[async_trait::async_trait]
impl Confirm for CliConfirm {
    async fn confirm(&self, prompt: &Prompt) -> bool {
        use std::io::IsTerminal;
        let Some(name) = &prompt.type_to_confirm else {
            return true;
        };
        if !std::io::stdin().is_terminal() {
            eprintln!(
                "{}: typing `{name}` at a terminal is required; not done",
                prompt.title
            );
            return false;
        }
        StdinConfirm.confirm(prompt).await
    }
}

/// Build stage `id` from the registry. An unpinned PVE certificate is probed, shown and, as
/// the flags allow, trusted on first use: pinned in the cluster file, which is read again.
/// Standalone hosts ask once per host, in the order of `proxmox.hosts`.
async fn build_stage(
    id: StageId,
    mut cx: BuildCx,
    cluster_file: &Path,
    args: &BootstrapArgs,
) -> Result<Arc<dyn Stage>, String> {
    // One question per PVE endpoint at most; a pin that is not taken up ends the loop.
    let endpoints = cx.cfg.proxmox.api_endpoints().len().max(1);
    let mut asked: Vec<(String, u16)> = Vec::new();
    loop {
        let (host, port, field) = match registry::build(id, &cx) {
            Build::Ready(stage) => return Ok(stage),
            Build::Unavailable(e) => return Err(e),
            Build::NeedsTrust { host, port, field } => (host, port, field),
        };
        if asked.contains(&(host.clone(), port)) || asked.len() >= endpoints {
            return Err("the pinned fingerprint was not taken up".into());
        }
        asked.push((host.clone(), port));
        let fp = trust_endpoint(&host, port, &field, args).await?;
        pve::trust::store_fingerprint(cluster_file, &fp)?;
        eprintln!("Pinned in {}.", cluster_file.display());
        if let Ok(cfg) = crate::config::valid_cluster(&cx.repo, cluster_file) {
            cx.cfg = cfg;
        }
        cx.pin = Some(fp);
    }
}

/// Probe `host:port`, show its certificate and ask (or take `--accept-new`): the fingerprint
/// to pin.
async fn trust_endpoint(
    host: &str,
    port: u16,
    field: &str,
    args: &BootstrapArgs,
) -> Result<String, String> {
    let fp = pve::tls::probe_fingerprint(host, port, std::time::Duration::from_secs(10)).await?;
    eprintln!(
        "The PVE API at {host}:{port} presents a certificate with SHA-256 fingerprint\n  {fp}"
    );
    eprintln!(
        "Compare it with `pvenode cert info` on the node (or the GUI: System > Certificates)."
    );
    let yes = if args.accept_new {
        true
    } else if args.yes {
        return Err(format!(
            "unknown PVE certificate at {host}:{port}: re-run with --accept-new to trust it, or set {field}"
        ));
    } else {
        let prompt = Prompt {
            title: "Trust this certificate?".into(),
            detail: String::new(),
            type_to_confirm: None,
        };
        StdinConfirm.confirm(&prompt).await
    };
    if !yes {
        return Err("certificate not trusted; nothing was done".into());
    }
    Ok(fp)
}

/// Preflight and plan (`--plan`) or apply (`--yes`) `stages` of the cluster `cfg` read from
/// `cluster_file` in `repo`.
pub async fn headless(
    repo: &Path,
    file: &Path,
    cfg: ClusterConfig,
    stages: &[StageId],
    args: &BootstrapArgs,
) -> ExitCode {
    // One run per cluster at a time, held until every stage of this run is done.
    let _run_lock = if args.plan {
        None
    } else {
        match super::run_lock::lock_cluster(&cfg.name) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("homelab bootstrap: {}", e.message);
                if let Some(h) = e.hint {
                    eprintln!("  try: {h}");
                }
                return ExitCode::from(1);
            }
        }
    };
    let mut missing = Vec::new();
    // `--plan` goes through every stage even when one cannot be planned; the exit code says so.
    let mut plan_failed = false;
    for &id in stages {
        if !id.available() {
            println!(
                "{} {:<8} stage `{id}` is not implemented in this build yet; nothing was done for it",
                now(),
                id.as_str()
            );
            missing.push(id);
            continue;
        }
        let cx = BuildCx {
            repo: repo.to_path_buf(),
            cfg: cfg.clone(),
            pin: None,
            ssh: Arc::new(crate::backends::ssh::prompt::TerminalPrompter {
                accept_new: args.accept_new,
            }),
            values: secrets_values(),
            flux_manifest: args.flux_manifest.clone(),
        };
        let stage = match build_stage(id, cx, file, args).await {
            Ok(stage) => stage,
            // A stage whose inputs an earlier stage makes (the env file) says what it will use.
            Err(e) if args.plan && id == StageId::Proxmox => {
                let env_file = crate::config::env_file(repo, &cfg.name);
                let uses = super::plan_inputs::proxmox(&cfg, &env_file, repo);
                print!("{}", super::plan_inputs::deferred(&now(), id, &e, &uses));
                plan_failed |= !super::plan_inputs::waits_for_earlier(id, stages, &env_file);
                continue;
            }
            Err(e) => {
                eprintln!("homelab bootstrap: {id}: {e}");
                return ExitCode::from(1);
            }
        };
        match run_one(stage.as_ref(), &cfg.name, args).await {
            Ok(()) => {}
            Err(_) if args.plan => plan_failed = true,
            Err(code) => return code,
        }
    }
    if plan_failed {
        ExitCode::from(1)
    } else if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// Where the secrets stage takes its values under `homelab bootstrap`: asked on the terminal
/// (masked) when there is one, else the environment.
fn secrets_values() -> Arc<dyn super::secrets::AskValues> {
    use std::io::IsTerminal;
    if std::io::stdin().is_terminal() {
        Arc::new(super::secrets::TerminalValues)
    } else {
        Arc::new(super::secrets::EnvValues)
    }
}

fn now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Preflight, then plan (`--plan`) or apply (`--yes`) one stage, printing plain lines.
pub async fn run_one(
    stage: &dyn Stage,
    cluster: &str,
    args: &BootstrapArgs,
) -> Result<(), ExitCode> {
    let id = stage.id();
    println!("{} {:<8} preflight", now(), id.as_str());
    let checks = stage.preflight().await;
    print!("{}", printer::checks(&checks));
    if args.plan {
        match stage.plan().await {
            Ok(plan) => print!("{}", printer::plan(&plan)),
            Err(e) => {
                eprintln!(
                    "{} {:<8} cannot plan: {}",
                    now(),
                    id.as_str(),
                    crate::domain::printable::sanitize(&e.message)
                );
                return Err(ExitCode::from(1));
            }
        }
        return if preflight_ok(&checks) {
            Ok(())
        } else {
            Err(ExitCode::from(1))
        };
    }
    if !preflight_ok(&checks) {
        println!(
            "{} {:<8} preflight failed; fix the items marked FAIL and run again. Nothing was changed.",
            now(),
            id.as_str()
        );
        return Err(ExitCode::from(1));
    }
    let journal = match Journal::open(cluster) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("homelab bootstrap: journal: {e}");
            return Err(ExitCode::from(1));
        }
    };
    let plan = match stage.plan().await {
        Ok(p) => p,
        Err(e) => {
            eprintln!(
                "{} {:<8} cannot plan: {}",
                now(),
                id.as_str(),
                crate::domain::printable::sanitize(&e.message)
            );
            return Err(ExitCode::from(1));
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let options = RunOptions {
        skip: args.skip.iter().cloned().collect(),
        reconcile: args.reconcile,
    };
    let run = RunCx::new(tx, journal)
        .with_confirm(Arc::new(CliConfirm))
        .with_options(options);
    super::interrupt::record_on_terminate(id, run.journal.clone(), run.cancel.clone());
    let cancel = run.cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("cancelling after the current step's safe point (Ctrl-C again to force)");
            cancel.cancel();
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let printer_task = tokio::spawn(async move {
        let mut failure_printed = false;
        while let Some(ev) = rx.recv().await {
            failure_printed |= matches!(
                ev.kind,
                EventKind::Failed { .. } | EventKind::StepFailed { .. }
            );
            println!("{}", printer::line(&ev));
        }
        failure_printed
    });
    let result = stage.apply(&plan, &run).await;
    drop(run);
    let failure_printed = printer_task.await.unwrap_or(false);
    match result {
        Ok(_) => verified(id, stage.verify().await),
        Err(e) => {
            // A failure before the run's first event (the journal cannot be written...) has
            // not been printed yet.
            if !failure_printed {
                println!("{} {:<8} failed: {}", now(), id.as_str(), e.message);
            }
            if let Some(h) = e.hint {
                println!("{} {:<8} try: {h}", now(), id.as_str());
            }
            Err(ExitCode::from(1))
        }
    }
}

/// Print the verify checks after a run; any FAIL (or a verify that could not run) fails the
/// command, as a failed step would.
fn verified(id: StageId, checks: StageResult<Vec<Check>>) -> Result<(), ExitCode> {
    println!("{} {:<8} verify", now(), id.as_str());
    match checks {
        Ok(checks) => {
            print!("{}", printer::checks(&checks));
            if preflight_ok(&checks) {
                Ok(())
            } else {
                println!(
                    "{} {:<8} verify failed: the run finished but the items marked FAIL do not hold",
                    now(),
                    id.as_str()
                );
                Err(ExitCode::from(1))
            }
        }
        Err(e) => {
            println!(
                "{} {:<8} verify could not run: {}",
                now(),
                id.as_str(),
                e.message
            );
            Err(ExitCode::from(1))
        }
    }
}
