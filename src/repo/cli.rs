//! `homelab check [--format human|json] [--tui]`: exit 0 when the tree conforms, 1 on any
//! violation, 2 when the repository cannot be found or read.

use super::{check, output};
use crate::cli::{CheckArgs, GlobalArgs, OutputFormat};
use crate::config::find_repo_root;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(global: &GlobalArgs, args: &CheckArgs) -> ExitCode {
    let started = Instant::now();
    if args.tui {
        let start = crate::launch::Start {
            screen: crate::screens::ScreenId::Check,
            started,
        };
        return crate::launch::tui(global, start);
    }
    let root = match &global.repo {
        Some(r) => find_repo_root(r),
        None => std::env::current_dir()
            .map_err(|e| format!("cannot read the working directory: {e}"))
            .and_then(|cwd| find_repo_root(&cwd)),
    };
    let root = match root {
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
    match args.format {
        OutputFormat::Human => print!("{}", output::human(&report)),
        OutputFormat::Json => println!("{}", output::json(&report)),
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
