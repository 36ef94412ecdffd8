use clap::Parser;
use homelab::cli::Cli;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    homelab::commands::run(Cli::parse(), started)
}
