//! `homelab bootstrap`: the wizard screen, or without the TUI (`--plan` prints preflight and
//! plan, `--yes` runs the stages printing timestamped plain lines; see [`crate::stages::run`]).

use super::launch::{Start, tui};
use crate::cli::{BootstrapArgs, GlobalArgs};
use crate::screens::ScreenId;
use crate::stages::engine::StageId;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(global: &GlobalArgs, args: &BootstrapArgs, started: Instant) -> ExitCode {
    // `--stage S` picks one stage (the wizard opens on it); an unknown name is a usage error.
    let stage: Option<StageId> = match args.stage.as_deref().map(str::parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        Some(Err(e)) => {
            eprintln!("homelab bootstrap: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.yes && !args.plan {
        let mut start = Start::on(ScreenId::Wizard, started);
        start.params.wizard_stage = stage;
        start.params.flux_manifest = args.flux_manifest.clone();
        return tui(global, start);
    }
    let located =
        crate::config::repo_and_cluster(global.repo.as_deref(), global.cluster.as_deref())
            .and_then(|(repo, file)| {
                crate::config::valid_cluster(&repo, &file).map(|cfg| (repo, file, cfg))
            });
    let (repo, file, cfg) = match located {
        Ok(found) => found,
        Err(e) => {
            eprintln!("homelab bootstrap: {e}");
            return ExitCode::from(1);
        }
    };
    let stages = match stage {
        Some(id) => vec![id],
        None => StageId::all().collect(),
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(crate::stages::run::headless(
        &repo, &file, cfg, &stages, args,
    ))
}
