//! Tracing to a file in the XDG state dir. Never to the terminal while the TUI runs.

use std::path::{Path, PathBuf};
use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;

/// Start logging to `<state_dir>/homelab.log` at `level` (`info`, `debug`, or a full filter
/// such as `homelab=debug,warn`). Keep the guard alive until exit so lines are flushed.
pub fn init(state_dir: &Path, level: &str) -> Result<(WorkerGuard, PathBuf), String> {
    let filter = EnvFilter::try_new(level).map_err(|e| {
        format!("--log-level `{level}`: {e} (expected error, warn, info, debug, trace, or a filter like homelab=debug)")
    })?;
    std::fs::create_dir_all(state_dir).map_err(|e| {
        format!(
            "{}: cannot create the log directory: {e}",
            state_dir.display()
        )
    })?;
    let file = tracing_appender::rolling::never(state_dir, "homelab.log");
    let (writer, guard) = tracing_appender::non_blocking(file);
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .map_err(|e| format!("logging already initialised: {e}"))?;
    Ok((guard, state_dir.join("homelab.log")))
}
