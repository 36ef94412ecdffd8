//! From command-line arguments to a running TUI: logging, hooks, repository and cluster
//! discovery, theme, keymap, then the event loop. Subcommands that open a screen (`console`,
//! `env edit`, `check --tui`) call [`tui`] with their start screen.

use crate::app::{App, AppOptions, Session};
use crate::cli::GlobalArgs;
use crate::config::{choose_cluster, find_repo_root, load_cluster};
use crate::keymap::{self, Keymap};
use crate::runtime::effects::Effects;
use crate::runtime::{self, Exit, RunOptions, terminal};
use crate::screens::ScreenId;
use crate::settings::{Settings, UserDirs};
use crate::theme::{self, DEFAULT_THEME, Level, ThemeCatalog};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Where the TUI starts.
#[derive(Debug, Clone)]
pub struct Start {
    pub screen: ScreenId,
    pub started: Instant,
}

/// Repository root and cluster file from `--repo`/`--cluster` (or their defaults). The error
/// is the message to print.
pub fn resolve_repo_and_cluster(global: &GlobalArgs) -> Result<(PathBuf, PathBuf), String> {
    let repo = match &global.repo {
        Some(r) => find_repo_root(r).map_err(|_| {
            format!(
                "--repo {}: no config/clusters/ folder there or above it",
                r.display()
            )
        })?,
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| format!("cannot read the working directory: {e}"))?;
            find_repo_root(&cwd)?
        }
    };
    let cluster = choose_cluster(&repo, global.cluster.as_deref())?;
    Ok((repo, cluster))
}

/// For non-TUI subcommands: the repository root and the validated cluster definition, or one
/// message listing every problem as `file:line:column: field: ...` lines.
pub fn cluster_for_cli(
    global: &GlobalArgs,
) -> Result<(PathBuf, crate::config::ClusterConfig), String> {
    let (repo, file) = resolve_repo_and_cluster(global)?;
    let loaded = load_cluster(&repo, &file);
    match loaded.config {
        Ok(cfg) => Ok((repo, cfg)),
        Err(diags) => {
            let lines: Vec<String> = diags.iter().map(ToString::to_string).collect();
            Err(format!(
                "{} does not load ({} problem{}):\n{}",
                loaded.display,
                diags.len(),
                if diags.len() == 1 { "" } else { "s" },
                lines.join("\n")
            ))
        }
    }
}

/// Build the app as the TUI would, without a terminal (also used by the startup benchmark).
pub fn build_app(global: &GlobalArgs, dirs: Option<&UserDirs>) -> Result<App, String> {
    let (repo, cluster_file) = resolve_repo_and_cluster(global)?;
    let cluster = load_cluster(&repo, &cluster_file);
    Ok(build_app_with(global, dirs, Session::new(repo, cluster)))
}

/// The app for `homelab env edit FILE` outside any repository: the env editor on that one file,
/// no cluster (see [`Session::for_file`]).
pub fn build_app_for_file(global: &GlobalArgs, dirs: Option<&UserDirs>, file: PathBuf) -> App {
    build_app_with(global, dirs, Session::for_file(file))
}

/// Theme, settings and keymap around `session`.
pub fn build_app_with(global: &GlobalArgs, dirs: Option<&UserDirs>, session: Session) -> App {
    let cluster = &session.cluster;
    let mut warnings: Vec<(Level, String)> = Vec::new();
    // A notice that fades: the home screen keeps showing every problem in place.
    if let (Err(d), None) = (&cluster.config, &session.file_only) {
        warnings.push((
            Level::Warn,
            format!(
                "{} has {} problem(s); details on the home screen",
                cluster.display,
                d.len()
            ),
        ));
    }
    let (themes, settings, keymap) = match dirs {
        Some(dirs) => {
            let (themes, theme_diags) = ThemeCatalog::with_user_dir(&dirs.themes_dir());
            let (settings, settings_diag) = Settings::load(&dirs.settings_file());
            let (keymap, key_issues) = keymap::load_user(&dirs.keymap_file());
            warnings.extend(
                theme_diags
                    .into_iter()
                    .map(|d| (Level::Error, format!("theme: {d}"))),
            );
            warnings.extend(
                settings_diag
                    .into_iter()
                    .map(|d| (Level::Error, format!("settings: {d}"))),
            );
            warnings.extend(
                key_issues
                    .into_iter()
                    .map(|d| (Level::Warn, format!("keymap: {d}"))),
            );
            (themes, settings, keymap)
        }
        None => (
            ThemeCatalog::builtin(),
            Settings::default(),
            Keymap::builtin(),
        ),
    };
    let theme_name = global
        .theme
        .clone()
        .or(settings.theme)
        .or_else(|| {
            theme::for_terminal_background(std::env::var("COLORFGBG").ok().as_deref())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| DEFAULT_THEME.to_owned());
    App::new(AppOptions {
        session,
        theme_name,
        themes,
        keymap,
        no_color: theme::no_color_requested(),
        startup_warnings: warnings,
    })
}

/// Run the TUI until the user quits or a signal arrives.
pub fn tui(global: &GlobalArgs, start: Start) -> ExitCode {
    tui_with(global, start, |_| Effects::new())
}

/// Like [`tui`], with a hook to prepare the app before the loop starts (e.g. `homelab env edit
/// FILE` telling the env screen which file to open before it is entered). The hook must not
/// block; the effects it returns (tasks to spawn) run at startup.
pub fn tui_with(
    global: &GlobalArgs,
    start: Start,
    prepare: impl FnOnce(&mut App) -> Effects,
) -> ExitCode {
    tui_built(global, start, |dirs| build_app(global, dirs), prepare)
}

/// `homelab env edit FILE` outside a repository: the env editor on `file` alone.
pub fn tui_for_file(global: &GlobalArgs, start: Start, file: PathBuf) -> ExitCode {
    tui_built(
        global,
        start,
        |dirs| Ok(build_app_for_file(global, dirs, file)),
        |_| Effects::new(),
    )
}

fn tui_built(
    global: &GlobalArgs,
    start: Start,
    build: impl FnOnce(Option<&UserDirs>) -> Result<App, String>,
    prepare: impl FnOnce(&mut App) -> Effects,
) -> ExitCode {
    if let Err(e) = terminal::install_hooks() {
        eprintln!("homelab: cannot install the panic hook: {e}");
    }
    let dirs = UserDirs::discover();
    let _log_guard = match &dirs {
        Some(d) => match crate::logging::init(&d.state, &global.log_level) {
            Ok((guard, _)) => Some(guard),
            Err(e) => {
                eprintln!("homelab: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let mut app = match build(dirs.as_ref()) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("homelab: {e}");
            return ExitCode::from(2);
        }
    };
    let initial_effects = prepare(&mut app);
    tracing::info!(repo = %app.session.repo_root.display(), cluster = %app.session.cluster.name, "starting TUI");
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("homelab: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = RunOptions {
        start: (start.screen != ScreenId::Home).then_some(start.screen),
        initial_effects,
        debug_panic: global.debug_panic,
        debug_task_panic: global.debug_task_panic,
        exit_after_first_frame: global.exit_after_first_frame,
        started: Some(start.started),
    };
    let result = rt.block_on(runtime::run(app, opts));
    rt.shutdown_timeout(std::time::Duration::from_millis(200));
    match result {
        Ok(Exit::Quit) => ExitCode::SUCCESS,
        Ok(Exit::FirstFrame(elapsed)) => {
            eprintln!("first frame after {:.1} ms", elapsed.as_secs_f64() * 1000.0);
            ExitCode::SUCCESS
        }
        Ok(Exit::Signal(sig)) => {
            tracing::info!(sig, "terminated by signal");
            ExitCode::from(128u8.saturating_add(sig as u8))
        }
        Err(e) => {
            terminal::restore();
            eprintln!("homelab: {e:?}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(repo: &std::path::Path, cluster: Option<&str>) -> GlobalArgs {
        GlobalArgs {
            cluster: cluster.map(str::to_owned),
            repo: Some(repo.to_path_buf()),
            theme: None,
            log_level: "info".into(),
            exit_after_first_frame: false,
            debug_panic: false,
            debug_task_panic: false,
        }
    }

    #[test]
    fn cluster_for_cli_lists_every_problem() {
        let dir = tempfile::tempdir().unwrap();
        let clusters = dir.path().join("config/clusters");
        std::fs::create_dir_all(&clusters).unwrap();
        let good = include_str!("../tests/fixtures/clusters/prox-n100.yaml");
        std::fs::write(clusters.join("prox-n100.yaml"), good).unwrap();
        let (repo, cfg) = cluster_for_cli(&global(dir.path(), None)).unwrap();
        assert_eq!(repo, dir.path().canonicalize().unwrap());
        assert_eq!(cfg.vms.len(), 3);

        let bad = good
            .replace("vmid: 212", "vmid: 9000")
            .replace("version: v2.7.3", "version: 2.7");
        std::fs::write(clusters.join("prox-n100.yaml"), bad).unwrap();
        assert_eq!(
            cluster_for_cli(&global(dir.path(), Some("prox-n100"))).unwrap_err(),
            "config/clusters/prox-n100.yaml does not load (2 problems):\n\
             config/clusters/prox-n100.yaml:41:63: vms[2].vmid: 9000 is the template's vmid; expected a vmid not used by template.vmid\n\
             config/clusters/prox-n100.yaml:55:12: flux.version: `2.7` is not a Flux release; expected vMAJOR.MINOR.PATCH, e.g. v2.7.3"
        );
    }
}
