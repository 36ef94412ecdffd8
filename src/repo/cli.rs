//! `homelab check [--format human|json] [--tui]`: exit 0 when the tree conforms, 1 on any
//! violation, 2 when the repository cannot be found or read.

use super::{check, find_root, output};
use crate::cli::{CheckArgs, GlobalArgs, OutputFormat};
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, args: &CheckArgs) -> ExitCode {
    let cwd = std::env::current_dir().unwrap_or_default();
    let Some(root) = find_root(global.repo.as_deref(), &cwd) else {
        eprintln!(
            "homelab check: no repository found: no folder holding config/clusters/ above {}; run inside the homelab repository or pass --repo PATH",
            cwd.display()
        );
        return ExitCode::from(2);
    };
    let report = match check::run(&root) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("homelab check: {e}; check the path given with --repo and its permissions");
            return ExitCode::from(2);
        }
    };
    if args.tui {
        return crate::cli::not_landed("check --tui");
    }
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
