//! `homelab console`: the TUI opened on the console, endpoints from the flags first.

use super::endpoints::{EndpointOverrides, set_overrides};
use crate::cli::{ConsoleArgs, GlobalArgs};
use crate::launch::{Start, tui};
use crate::screens::ScreenId;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(global: &GlobalArgs, args: ConsoleArgs) -> ExitCode {
    let started = Instant::now();
    set_overrides(EndpointOverrides {
        loki: args.loki,
        prometheus: args.prometheus,
        alertmanager: args.alertmanager,
    });
    tui(
        global,
        Start {
            screen: ScreenId::Console,
            started,
        },
    )
}
