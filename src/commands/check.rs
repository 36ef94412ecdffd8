//! `homelab check [--format human|json] [--tui] [--outdated]`: exit 0 when the tree conforms, 1
//! on any violation, 2 when the repository cannot be found or read. `--outdated` adds the chart
//! version comparison (repo::outdated); it never changes the exit code.

use super::launch::{Start, tui};
use crate::cli::{CheckArgs, GlobalArgs, OutputFormat};
use crate::repo::tree::Tree;
use crate::repo::{check, outdated, output};
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
    let tree = match Tree::load(&root) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "homelab check: {}; check the path given with --repo and its permissions",
                crate::domain::printable::sanitize(&e.to_string())
            );
            return ExitCode::from(2);
        }
    };
    let report = check::check_tree(&tree);
    let outdated = if args.outdated {
        let rt = match super::runtime() {
            Ok(rt) => rt,
            Err(code) => return code,
        };
        Some(rt.block_on(outdated::run(&tree, None)))
    } else {
        None
    };
    let text = match (args.format, &outdated) {
        (OutputFormat::Human, None) => output::human(&report),
        (OutputFormat::Human, Some(o)) => {
            format!("{}{}", output::human(&report), outdated::human(o))
        }
        (OutputFormat::Json, None) => format!("{}\n", output::json(&report)),
        (OutputFormat::Json, Some(o)) => format!("{}\n", output::json_with_outdated(&report, o)),
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
