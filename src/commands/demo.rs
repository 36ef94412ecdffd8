//! `homelab demo`: the TUI against the built-in simulated lab (its issue has not landed; exit 2).

use std::process::ExitCode;

pub fn run() -> ExitCode {
    super::not_landed("demo")
}
