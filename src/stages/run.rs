//! `homelab bootstrap` without the TUI: `--plan` prints preflight and plan; `--yes` runs the
//! stages printing timestamped plain log lines. Stages not in this build say so (exit 2).
//!
//! Secrets: the PVE token secret comes from `PROXMOX_TOKEN_SECRET` in the environment (the SOPS env
//! file integration belongs to the secrets stage); `PROXMOX_PASSWORD` selects ticket auth with the
//! token's user instead.

use super::engine::*;
use super::printer;
use super::proxmox::ProxmoxStage;
use crate::backends::pve::{self, Auth, PveClient, PveSettings, Trust};
use crate::cli::{BootstrapArgs, GlobalArgs};
use crate::config::ClusterConfig;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The cluster file chosen by `--cluster` / `--repo` (or the only one under config/clusters/).
pub fn locate_cluster(global: &GlobalArgs) -> Result<PathBuf, String> {
    let root = match &global.repo {
        Some(r) => r.clone(),
        None => {
            let mut dir = std::env::current_dir().map_err(|e| e.to_string())?;
            loop {
                if dir.join("config/clusters").is_dir() {
                    break dir;
                }
                if !dir.pop() {
                    return Err("no config/clusters/ here or above; run inside the homelab repository or pass --repo".into());
                }
            }
        }
    };
    let dir = root.join("config/clusters");
    if let Some(name) = &global.cluster {
        let p = dir.join(format!("{name}.yaml"));
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{}: no such cluster file", p.display()))
        };
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    match files.len() {
        1 => Ok(files.remove(0)),
        0 => Err(format!("{}: no cluster file", dir.display())),
        _ => Err(format!(
            "{}: several clusters; pick one with --cluster NAME",
            dir.display()
        )),
    }
}

pub fn load_cluster(path: &Path) -> Result<ClusterConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| match e.location() {
        Some(l) => format!("{}:{}:{}: {e}", path.display(), l.line(), l.column()),
        None => format!("{}: {e}", path.display()),
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

/// Build the PVE client for `cfg`, trusting on first use as the flags allow.
pub async fn pve_client(
    cfg: &ClusterConfig,
    cluster_file: &Path,
    args: &BootstrapArgs,
) -> Result<PveClient, String> {
    let p = &cfg.proxmox;
    let auth = if let Some(secret) = std::env::var("PROXMOX_TOKEN_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
    {
        Auth::Token {
            id: p.token_id.clone(),
            secret: Zeroizing::new(secret),
        }
    } else if let Some(password) = std::env::var("PROXMOX_PASSWORD")
        .ok()
        .filter(|s| !s.is_empty())
    {
        let user = p
            .token_id
            .split('!')
            .next()
            .unwrap_or(&p.token_id)
            .to_owned();
        Auth::Password {
            user,
            password: Zeroizing::new(password),
        }
    } else {
        return Err(format!(
            "no PVE credentials: set PROXMOX_TOKEN_SECRET (the secret of token {}) or PROXMOX_PASSWORD",
            p.token_id
        ));
    };
    let trust = if p.tls.verify_ca {
        Trust::CaVerified
    } else if let Some(fp) = &p.tls.fingerprint {
        Trust::Pinned(fp.clone())
    } else if p.endpoint.starts_with("http://") {
        Trust::CaVerified
    } else {
        let url = url::Url::parse(&p.endpoint)
            .map_err(|e| format!("proxmox.endpoint `{}`: {e}", p.endpoint))?;
        let host = url
            .host_str()
            .ok_or("proxmox.endpoint has no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port().unwrap_or(8006);
        let fp =
            pve::tls::probe_fingerprint(&host, port, std::time::Duration::from_secs(10)).await?;
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
            StdinConfirm
                .confirm(&Prompt {
                    title: "Trust this certificate?".into(),
                    detail: String::new(),
                    type_to_confirm: None,
                })
                .await
        };
        if !yes {
            return Err("certificate not trusted; nothing was done".into());
        }
        pve::trust::store_fingerprint(cluster_file, &fp)?;
        eprintln!(
            "Pinned in {} (proxmox.tls.fingerprint).",
            cluster_file.display()
        );
        Trust::Pinned(fp)
    };
    PveClient::new(PveSettings::new(p.endpoint.clone(), auth, trust)).map_err(|e| e.to_string())
}

/// `homelab bootstrap ...` (blocking; builds its own runtime).
pub fn bootstrap(global: &GlobalArgs, args: &BootstrapArgs) -> ExitCode {
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
    if !args.yes && !args.plan {
        eprintln!(
            "homelab bootstrap: the interactive wizard is the home screen's Bootstrap entry; use --plan to review or --yes to run here"
        );
        return ExitCode::from(2);
    }
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

/// The secrets stage for `homelab bootstrap`: values from the environment, or asked on the
/// terminal (masked) when there is one.
fn secrets_stage(cluster_file: &Path, cfg: &ClusterConfig) -> super::secrets::SecretsStage {
    use std::io::IsTerminal;
    let repo = cluster_file
        .parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .unwrap_or_default();
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
                eprintln!("{} {:<8} cannot plan: {}", now(), id.as_str(), e.message);
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
            eprintln!("{} {:<8} cannot plan: {}", now(), id.as_str(), e.message);
            return Err(ExitCode::from(1));
        }
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let options = RunOptions {
        skip: args.skip.iter().cloned().collect(),
        reconcile: args.reconcile,
    };
    let run = RunCx::new(tx, journal)
        .with_confirm(Arc::new(AutoConfirm(true)))
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
