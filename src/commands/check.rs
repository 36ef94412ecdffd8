//! `homelab check [--format human|json] [--tui]`: exit 0 when the tree conforms, 1 on any
//! violation, 2 when the repository cannot be found or read.

use super::launch::{Start, tui};
use crate::cli::{CheckArgs, GlobalArgs, OutputFormat};
use crate::repo::{check, output};
use crate::screens::ScreenId;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(global: &GlobalArgs, args: &CheckArgs, started: Instant) -> ExitCode {
    if args.tui {
        return tui(global, Start::on(ScreenId::Check, started));
    }
    let root = match crate::config::repo_root(global.repo.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("homelab check: {e}");
            return ExitCode::from(2);
        }
    };
    let report = match check::run(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "homelab check: {}; check the path given with --repo and its permissions",
                crate::domain::printable::sanitize(&e.to_string())
            );
            return ExitCode::from(2);
        }
    };
    let text = match args.format {
        OutputFormat::Human => output::human(&report),
        OutputFormat::Json => format!("{}\n", output::json(&report)),
    };
    if let Err(e) = super::headless::print_stdout(&text) {
        eprintln!("homelab check: cannot write the report: {e}");
        return ExitCode::from(2);
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
