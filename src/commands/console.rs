//! `homelab console`: the TUI opened on the console, endpoints from the flags first.

use super::launch::{Start, tui};
use crate::cli::{ConsoleArgs, GlobalArgs};
use crate::screens::ScreenId;
use crate::screens::console::endpoints::EndpointOverrides;
use std::process::ExitCode;
use std::time::Instant;

pub fn run(global: &GlobalArgs, args: ConsoleArgs, started: Instant) -> ExitCode {
    let mut start = Start::on(ScreenId::Console, started);
    start.params.endpoints = EndpointOverrides {
        loki: args.loki,
        prometheus: args.prometheus,
        alertmanager: args.alertmanager,
    };
    tui(global, start)
}
