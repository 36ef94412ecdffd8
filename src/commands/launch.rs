//! From command-line arguments to a running TUI: logging, hooks, repository and cluster
//! discovery, theme, keymap, then the event loop. Subcommands that open a screen (`console`,
//! `env edit`, `check --tui`, `bootstrap`) call [`tui`] with their [`Start`]: the screen and
//! the typed [`StartParams`] the screens read when they are built.

use crate::app::{App, AppOptions, Session};
use crate::cli::GlobalArgs;
use crate::config::{cluster_names, load_cluster, repo_and_cluster};
use crate::keymap::{self, Keymap};
use crate::runtime::{self, Exit, RunOptions, terminal};
use crate::screens::{ScreenId, StartParams};
use crate::settings::{Settings, UserDirs};
use crate::theme::{self, DEFAULT_THEME, Level, ThemeCatalog};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

/// Where the TUI starts, and what the command line asks of its screens.
#[derive(Debug, Clone)]
pub struct Start {
    pub screen: ScreenId,
    pub started: Instant,
    pub params: StartParams,
}

impl Start {
    /// The TUI on `screen`, nothing else asked.
    pub fn on(screen: ScreenId, started: Instant) -> Self {
        Start {
            screen,
            started,
            params: StartParams::default(),
        }
    }

    /// `homelab` without a subcommand.
    pub fn home(started: Instant) -> Self {
        Self::on(ScreenId::Home, started)
    }
}

/// Build the app as the TUI would, without a terminal (also used by the startup benchmark).
pub fn build_app(
    global: &GlobalArgs,
    dirs: Option<&UserDirs>,
    start: StartParams,
) -> Result<App, String> {
    let (repo, cluster_file) = repo_and_cluster(global.repo.as_deref(), global.cluster.as_deref())?;
    let cluster = load_cluster(&repo, &cluster_file);
    let mut session = Session::new(repo, cluster);
    // Listed already by repo_and_cluster; a failure now only hides the other clusters.
    if let Ok(names) = cluster_names(&session.repo_root) {
        session.clusters = names;
    }
    Ok(build_app_with(global, dirs, session, start))
}

/// The app for `homelab env edit FILE` outside any repository: the env editor on that one file,
/// no cluster (see [`Session::for_file`]).
pub fn build_app_for_file(
    global: &GlobalArgs,
    dirs: Option<&UserDirs>,
    file: PathBuf,
    start: StartParams,
) -> App {
    build_app_with(global, dirs, Session::for_file(file), start)
}

/// Theme, settings and keymap around `session`.
pub fn build_app_with(
    global: &GlobalArgs,
    dirs: Option<&UserDirs>,
    session: Session,
    start: StartParams,
) -> App {
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
        start,
    })
}

/// Run the TUI until the user quits or a signal arrives.
pub fn tui(global: &GlobalArgs, start: Start) -> ExitCode {
    tui_built(global, start, |dirs, params| {
        build_app(global, dirs, params)
    })
}

/// `homelab env edit FILE` outside a repository: the env editor on `file` alone.
pub fn tui_for_file(global: &GlobalArgs, start: Start, file: PathBuf) -> ExitCode {
    tui_built(global, start, |dirs, params| {
        Ok(build_app_for_file(global, dirs, file, params))
    })
}

fn tui_built(
    global: &GlobalArgs,
    start: Start,
    build: impl FnOnce(Option<&UserDirs>, StartParams) -> Result<App, String>,
) -> ExitCode {
    if let Some(code) = super::headless::refuse_without_terminal(global) {
        return code;
    }
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
    let app = match build(dirs.as_ref(), start.params) {
        Ok(app) => app,
        Err(e) => {
            eprintln!("homelab: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(repo = %app.session.repo_root.display(), cluster = %app.session.cluster.name, "starting TUI");
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let opts = RunOptions {
        start: (start.screen != ScreenId::Home).then_some(start.screen),
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
