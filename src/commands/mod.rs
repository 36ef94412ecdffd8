//! Every subcommand's entry point, above screens, stages and backends: one module per
//! subcommand turns its arguments into typed values, sets up only what that command uses
//! (the TUI, an async runtime, logging: see docs/performance.md, "Startup cost") and calls
//! down. `main` parses the command line and calls [`run`]; nothing below this layer reads
//! `cli` arguments or starts the TUI.
//!
//! [`launch`] builds and runs the TUI for the commands that open a screen (no subcommand,
//! `console`, `env edit`, `check --tui`, `bootstrap` without `--plan`/`--yes`).

pub mod bootstrap;
pub mod check;
pub mod console;
pub mod demo;
pub mod doctor;
pub mod env;
pub mod headless;
pub mod launch;
pub mod scaffold;
pub mod sim;
pub mod sim_cloudflare;

use crate::cli::{Cli, Command};
use std::process::ExitCode;
use std::time::Instant;

/// Run the parsed command line; `started` is when the process began (the TUI reports its
/// first-frame time from it).
pub fn run(cli: Cli, started: Instant) -> ExitCode {
    let global = &cli.global;
    match cli.command {
        None => launch::tui(global, launch::Start::home(started)),
        Some(Command::Demo(a)) => demo::run(global, &a, started),
        Some(Command::Bootstrap(a)) => bootstrap::run(global, &a, started),
        Some(Command::Console(a)) => console::run(global, a, started),
        Some(Command::Env(a)) => env::run(global, a, started),
        Some(Command::Scaffold(a)) => scaffold::run(global, a, started),
        Some(Command::Check(a)) => check::run(global, &a, started),
        Some(Command::Doctor(a)) => doctor::run(global, &a),
        Some(Command::Sim(s)) => sim::run(s.command),
        Some(Command::Completions { shell }) => crate::cli::completions(shell),
    }
}

/// The async runtime for a command that needs one (only those build it).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("homelab: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}
