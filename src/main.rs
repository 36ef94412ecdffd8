use clap::Parser;
use homelab::cli::{self, Cli};
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    if cli::is_version_only(std::env::args_os()) {
        // Before clap builds the command tree (docs/performance.md, "Startup cost").
        let _ = std::io::stdout().write_all(cli::version_line().as_bytes());
        return ExitCode::SUCCESS;
    }
    homelab::commands::run(Cli::parse(), started)
}
