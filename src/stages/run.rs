//! `homelab bootstrap` without the TUI: `--plan` prints preflight and plan; `--yes` runs the
//! stages printing timestamped plain log lines. Stages not in this build say so (exit 2).
//!
//! Secrets: the PVE token secret comes from `PROXMOX_TOKEN_SECRET` in the environment (the SOPS env
//! file integration belongs to the secrets stage); `PROXMOX_PASSWORD` selects ticket auth with the
//! token's user instead.

use super::engine::*;
use super::printer;
use super::proxmox::{Connection, ProxmoxStage, connect};
use crate::backends::pve::{self, PveClient};
use crate::cli::{BootstrapArgs, GlobalArgs};
use crate::config::ClusterConfig;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// The cluster file chosen by `--repo` / `--cluster` (foundation's loader: validated, with
/// file:line:column diagnostics).
pub fn locate_cluster(global: &GlobalArgs) -> Result<PathBuf, String> {
    let start = match &global.repo {
        Some(r) => r.clone(),
        None => std::env::current_dir().map_err(|e| e.to_string())?,
    };
    let root = crate::config::load::find_repo_root(&start)?;
    crate::config::load::choose_cluster(&root, global.cluster.as_deref())
}

pub fn load_cluster(path: &Path) -> Result<ClusterConfig, String> {
    let root = path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .unwrap_or(Path::new("."));
    crate::config::load::load_cluster(root, path)
        .config
        .map_err(|diags| {
            diags
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
}

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

/// Build the PVE client for `cfg`, trusting on first use as the flags allow.
pub async fn pve_client(
    cfg: &ClusterConfig,
    cluster_file: &Path,
    args: &BootstrapArgs,
) -> Result<PveClient, String> {
    let repo = repo_of(cluster_file);
    let env_file = super::proxmox::env_file(&repo, &cfg.name);
    let (host, port) = match connect(cfg, Some(&env_file), None)? {
        Connection::Ready(client) => return Ok(client),
        Connection::NeedsTrust { host, port } => (host, port),
    };
    let fp = pve::tls::probe_fingerprint(&host, port, std::time::Duration::from_secs(10)).await?;
    eprintln!(
        "The PVE API at {host}:{port} presents a certificate with SHA-256 fingerprint\n  {fp}"
    );
    eprintln!(
        "Compare it with `pvenode cert info` on the node (or the GUI: System > Certificates)."
    );
    let yes = if args.accept_new {
        true
    } else if args.yes {
        return Err("unknown PVE certificate: re-run with --accept-new to trust it, or set proxmox.tls.fingerprint".into());
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
    pve::trust::store_fingerprint(cluster_file, &fp)?;
    eprintln!(
        "Pinned in {} (proxmox.tls.fingerprint).",
        cluster_file.display()
    );
    match connect(cfg, Some(&env_file), Some(&fp))? {
        Connection::Ready(client) => Ok(client),
        Connection::NeedsTrust { .. } => Err("the pinned fingerprint was not taken up".into()),
    }
}

/// `homelab bootstrap ...` (blocking; builds its own runtime). Without `--plan` or `--yes` it
/// opens the wizard screen.
pub fn bootstrap(global: &GlobalArgs, args: &BootstrapArgs) -> ExitCode {
    if !args.yes && !args.plan {
        let start = crate::launch::Start {
            screen: crate::screens::ScreenId::Wizard,
            started: std::time::Instant::now(),
        };
        let Some(stage) = args.stage.as_deref() else {
            return crate::launch::tui(global, start);
        };
        // `--stage S` opens the wizard on that stage.
        let stage: StageId = match stage.parse() {
            Ok(id) => id,
            Err(e) => {
                eprintln!("homelab bootstrap: {e}");
                return ExitCode::from(2);
            }
        };
        return crate::launch::tui_with(global, start, move |app| {
            app.screens.wizard.pick(stage);
            crate::runtime::effects::Effects::new()
        });
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("homelab: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(bootstrap_async(global, args))
}

async fn bootstrap_async(global: &GlobalArgs, args: &BootstrapArgs) -> ExitCode {
    let stages: Vec<StageId> = match &args.stage {
        Some(s) => match s.parse() {
            Ok(id) => vec![id],
            Err(e) => {
                eprintln!("homelab bootstrap: {e}");
                return ExitCode::from(2);
            }
        },
        None => StageId::ALL.to_vec(),
    };
    let file = match locate_cluster(global) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("homelab bootstrap: {e}");
            return ExitCode::from(1);
        }
    };
    let cfg = match load_cluster(&file) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("homelab bootstrap: {e}");
            return ExitCode::from(1);
        }
    };
    let mut missing = Vec::new();
    for id in stages {
        let stage: Box<dyn Stage> = match id {
            StageId::Proxmox => match pve_client(&cfg, &file, args).await {
                Ok(client) => Box::new(ProxmoxStage::new(
                    load_cluster(&file).unwrap_or(cfg.clone()),
                    Arc::new(client),
                )),
                Err(e) => {
                    eprintln!("homelab bootstrap: proxmox: {e}");
                    return ExitCode::from(1);
                }
            },
            StageId::K3s => {
                let env = match crate::backends::ssh::SshEnv::from_process() {
                    Ok(e) => e,
                    Err(e) => {
                        eprintln!("homelab bootstrap: k3s: {e}");
                        return ExitCode::from(1);
                    }
                };
                Box::new(crate::stages::k3s::K3sStage::over_ssh(
                    cfg.clone(),
                    Arc::new(env),
                    Arc::new(crate::backends::ssh::prompt::TerminalPrompter {
                        accept_new: args.accept_new,
                    }),
                    crate::stages::k3s::K3sOptions::from_process(),
                ))
            }
            StageId::Secrets => Box::new(secrets_stage(&file, &cfg)),
            other => {
                println!(
                    "{} {:<8} stage `{other}` is not implemented in this build yet; nothing was done for it",
                    now(),
                    other.as_str()
                );
                missing.push(other);
                continue;
            }
        };
        match run_one(stage.as_ref(), &cfg.name, args).await {
            Ok(()) => {}
            Err(code) => return code,
        }
    }
    if missing.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The repository holding `config/clusters/<name>.yaml`.
fn repo_of(cluster_file: &Path) -> PathBuf {
    cluster_file
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The secrets stage for `homelab bootstrap`: values from the environment, or asked on the
/// terminal (masked) when there is one.
fn secrets_stage(cluster_file: &Path, cfg: &ClusterConfig) -> super::secrets::SecretsStage {
    use std::io::IsTerminal;
    let repo = repo_of(cluster_file);
    let identity = super::secrets::identity_location().unwrap_or_else(|| PathBuf::from("keys.txt"));
    let ask: Arc<dyn super::secrets::AskValues> = if std::io::stdin().is_terminal() {
        Arc::new(super::secrets::TerminalValues)
    } else {
        Arc::new(super::secrets::EnvValues)
    };
    super::secrets::SecretsStage::new(repo, cfg, identity, ask)
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
        while let Some(ev) = rx.recv().await {
            println!("{}", printer::line(&ev));
        }
    });
    let result = stage.apply(&plan, &run).await;
    drop(run);
    let _ = printer_task.await;
    match result {
        Ok(_) => {
            if let Ok(checks) = stage.verify().await {
                println!("{} {:<8} verify", now(), id.as_str());
                print!("{}", printer::checks(&checks));
            }
            Ok(())
        }
        Err(e) => {
            if let Some(h) = e.hint {
                println!("{} {:<8} try: {h}", now(), id.as_str());
            }
            Err(ExitCode::from(1))
        }
    }
}
