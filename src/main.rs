use clap::Parser;
use homelab::cli::{Cli, Command, SimCommand, not_landed};
use homelab::launch::{self, Start};
use homelab::screens::ScreenId;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    let cli = Cli::parse();
    match cli.command {
        None => launch::tui(
            &cli.global,
            Start {
                screen: ScreenId::Home,
                started,
            },
        ),
        Some(Command::Demo) => not_landed("demo"),
        Some(Command::Bootstrap(a)) => homelab::stages::run::bootstrap(&cli.global, &a),
        Some(Command::Console(args)) => homelab::screens::console::cli::run(&cli.global, args),
        Some(Command::Env(a)) => homelab::secrets::cli::run(&cli.global, a),
        Some(Command::Scaffold(_)) => not_landed("scaffold"),
        Some(Command::Check(a)) => homelab::repo::cli::run(&cli.global, &a),
        Some(Command::Sim(s)) => match s.command {
            SimCommand::Pve {
                listen,
                plain_http,
                nodes,
            } => homelab::sim::pve::cli::run(listen, plain_http, nodes),
            SimCommand::Kube { listen } => homelab::sim::kube::cli::run(listen),
            SimCommand::Loki { listen, rate } => homelab::sim::cli::run_loki(listen, rate),
            SimCommand::Alerts { listen } => homelab::sim::cli::run_alerts(listen),
        },
        Some(Command::Completions { shell }) => homelab::cli::completions(shell),
    }
}
