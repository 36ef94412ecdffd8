use clap::Parser;
use homelab::cli::{Cli, Command, SimCommand, not_landed};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => not_landed("homelab (home screen)"),
        Some(Command::Demo) => not_landed("demo"),
        Some(Command::Bootstrap(_)) => not_landed("bootstrap"),
        Some(Command::Console(_)) => not_landed("console"),
        Some(Command::Env(a)) => homelab::secrets::cli::run(&cli.global, a),
        Some(Command::Scaffold(_)) => not_landed("scaffold"),
        Some(Command::Check(_)) => not_landed("check"),
        Some(Command::Sim(s)) => match s.command {
            SimCommand::Pve { .. } => not_landed("sim pve"),
            SimCommand::Kube { .. } => not_landed("sim kube"),
            SimCommand::Loki { .. } => not_landed("sim loki"),
            SimCommand::Alerts { .. } => not_landed("sim alerts"),
        },
        Some(Command::Completions { .. }) => not_landed("completions"),
    }
}
