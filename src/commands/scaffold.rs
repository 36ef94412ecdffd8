//! `homelab scaffold app`: guided app scaffolding (its issue has not landed; exit 2).

use std::process::ExitCode;

pub fn run() -> ExitCode {
    super::not_landed("scaffold")
}
