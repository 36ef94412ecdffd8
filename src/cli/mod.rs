//! Command-line interface. Every action the TUI offers is reachable from here too.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "homelab",
    version,
    about = "From bare Proxmox hardware to an observable k3s platform, and day two after it."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Cluster to work on (a file in config/clusters/). Default: the only one there.
    #[arg(long, global = true, env = "HOMELAB_CLUSTER")]
    pub cluster: Option<String>,
    /// Repository root. Default: walk up from the working directory to the folder holding config/clusters/.
    #[arg(long, global = true, env = "HOMELAB_REPO")]
    pub repo: Option<PathBuf>,
    /// Colour theme (homelab-dark, homelab-light, high-contrast, catppuccin-mocha, or a user theme).
    #[arg(long, global = true, env = "HOMELAB_THEME")]
    pub theme: Option<String>,
    /// Log level for the log file in the XDG state dir (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "info", env = "HOMELAB_LOG")]
    pub log_level: String,
    /// Draw one frame, restore the terminal, print the startup time and exit (benchmarks).
    #[arg(long, global = true, hide = true)]
    pub exit_after_first_frame: bool,
    /// Panic right after the first frame (tests that a panic restores the terminal).
    #[arg(long, global = true, hide = true)]
    pub debug_panic: bool,
    /// Panic in a background task after the first frame (tests that the app goes on).
    #[arg(long, global = true, hide = true)]
    pub debug_task_panic: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The same TUI against the built-in simulated lab (loopback only; removed on exit).
    Demo(DemoArgs),
    /// Bootstrap wizard, or non-interactive with --yes.
    Bootstrap(BootstrapArgs),
    /// Day-two console: logs and alerts.
    Console(ConsoleArgs),
    /// SOPS-encrypted env files.
    Env(EnvArgs),
    /// Scaffold a new app into cluster/kubernetes/apps/.
    Scaffold(ScaffoldArgs),
    /// Check the repository against the Stage 1 architecture (exit 1 on any violation).
    Check(CheckArgs),
    /// Walk a public hostname from Cloudflare to its pods; name the first broken link (exit 1).
    Doctor(DoctorArgs),
    /// Run one simulator standalone on 127.0.0.1.
    Sim(SimArgs),
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },
}

/// `homelab doctor HOST` (docs/doctor.md).
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The public hostname, e.g. jellyfin.example.com.
    pub host: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, Args)]
pub struct BootstrapArgs {
    /// Run only this stage (secrets, proxmox, k3s, flux, storage, ingress, observability).
    #[arg(long)]
    pub stage: Option<String>,
    /// Print the plan (the exact API calls and commands) and exit.
    #[arg(long)]
    pub plan: bool,
    /// Run without the TUI, printing timestamped log lines; answers yes to confirmations.
    #[arg(long)]
    pub yes: bool,
    /// Non-interactive: trust unknown SSH host keys and the PVE certificate on first use.
    #[arg(long)]
    pub accept_new: bool,
    /// Change drifted VMs (cores, memory, disk, cloud-init) back to the definition; without it
    /// drift is only reported.
    #[arg(long)]
    pub reconcile: bool,
    /// Skip this step (repeatable; journalled as skipped), e.g. `--skip vm/k3s-agent-2/wait`.
    #[arg(long = "skip", value_name = "STEP")]
    pub skip: Vec<String>,
    /// The Flux stage installs this file instead of downloading the release's install.yaml
    /// (air-gap); its SHA-256 must equal `flux.install_sha256` of the cluster definition.
    #[arg(long, value_name = "FILE")]
    pub flux_manifest: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ConsoleArgs {
    #[arg(long, env = "HOMELAB_LOKI_URL")]
    pub loki: Option<String>,
    #[arg(long, env = "HOMELAB_PROMETHEUS_URL")]
    pub prometheus: Option<String>,
    #[arg(long, env = "HOMELAB_ALERTMANAGER_URL")]
    pub alertmanager: Option<String>,
}

#[derive(Debug, Args)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub command: Option<EnvCommand>,
}

#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Print the decrypted file to stdout.
    Decrypt { file: PathBuf },
    /// Print one value.
    Get { file: PathBuf, key: String },
    /// Set one value, read from stdin (a VALUE argument works but is visible to other users
    /// and kept in shell history; it prints a warning).
    Set {
        file: PathBuf,
        key: String,
        value: Option<String>,
    },
    /// Remove one key.
    Unset { file: PathBuf, key: String },
    /// Open the editor screen.
    Edit {
        file: PathBuf,
        /// Open a file whose MAC does not verify, read-only, to inspect it.
        #[arg(long)]
        read_only: bool,
    },
    /// Encrypt a plaintext file in place for the recipients .sops.yaml names.
    Encrypt { file: PathBuf },
    /// Re-wrap the data key for the current recipients (sops updatekeys); --data-key re-encrypts everything.
    Rotate {
        file: PathBuf,
        #[arg(long)]
        data_key: bool,
        /// Accept recipients the file is not encrypted for yet without asking.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
pub struct ScaffoldArgs {
    #[command(subcommand)]
    pub command: Option<ScaffoldCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ScaffoldCommand {
    /// Scaffold an app from flags: preview, write, `homelab check`, commit (docs/scaffolding.md).
    App(Box<ScaffoldAppArgs>),
}

/// `homelab scaffold app`: every field of the request (empty = its default).
#[derive(Debug, Default, Args)]
pub struct ScaffoldAppArgs {
    /// The app's name (DNS-safe, unique in the tree): its folder, namespace and objects.
    #[arg(long)]
    pub name: String,
    /// media, tools, games or demos.
    #[arg(long)]
    pub category: String,
    /// A container image pinned by tag or digest (a Deployment + Service).
    #[arg(long, default_value = "")]
    pub image: String,
    /// A Helm chart source: an https:// repository or an oci:// registry path.
    #[arg(long, default_value = "")]
    pub chart_repo: String,
    #[arg(long, default_value = "")]
    pub chart: String,
    /// The chart's exact version.
    #[arg(long, default_value = "")]
    pub chart_version: String,
    /// A YAML file with the chart's values.
    #[arg(long)]
    pub values: Option<PathBuf>,
    /// The Service the chart creates (default: the app's name).
    #[arg(long, default_value = "")]
    pub service: String,
    /// The container (or chart Service) port (default 8080).
    #[arg(long, default_value = "")]
    pub port: String,
    /// A label or a whole hostname under the listener's zone (default: the app's name).
    #[arg(long, default_value = "")]
    pub hostname: String,
    /// internal (default) or public (allowlisted apps only).
    #[arg(long, default_value = "")]
    pub exposure: String,
    /// none (default), longhorn or nfs.
    #[arg(long, default_value = "")]
    pub storage: String,
    #[arg(long, default_value = "")]
    pub storage_size: String,
    #[arg(long, default_value = "")]
    pub mount_path: String,
    #[arg(long, default_value = "")]
    pub cpu_request: String,
    #[arg(long, default_value = "")]
    pub memory_request: String,
    #[arg(long, default_value = "")]
    pub cpu_limit: String,
    #[arg(long, default_value = "")]
    pub memory_limit: String,
    /// The HTTP path of the readiness and liveness probes (default /).
    #[arg(long, default_value = "")]
    pub probe_path: String,
    /// A key of the app's SOPS-encrypted Secret (repeat); its value is asked with echo off,
    /// or read from stdin with --secrets-from-stdin.
    #[arg(long = "secret", value_name = "KEY")]
    pub secrets: Vec<String>,
    /// Read the secret values from stdin as KEY=value lines (for scripts; needs --yes or --dry-run).
    #[arg(long)]
    pub secrets_from_stdin: bool,
    /// The app runs as root: its namespace enforces PodSecurity baseline instead of restricted.
    #[arg(long)]
    pub runs_as_root: bool,
    /// Write and commit without asking.
    #[arg(long)]
    pub yes: bool,
    /// Print the files and the diff; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the files and run the check, but do not commit.
    #[arg(long)]
    pub no_commit: bool,
}

#[derive(Debug, Clone, Copy, Default, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Open the violations screen instead of printing.
    #[arg(long)]
    pub tui: bool,
    /// Also compare every chart pin with its repository's index.yaml (online) and report newer
    /// versions; a repository that cannot be read is reported, not fatal.
    #[arg(long, conflicts_with = "tui")]
    pub outdated: bool,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How fast simulated time runs: 2 is twice as fast, `max` has no delays (tests).
    #[arg(long, default_value = "1")]
    pub speed: String,
    /// Make this step fail once, to rehearse recovery: STAGE:STEP, e.g. k3s:k3s-agent-1/join.
    #[arg(long, value_name = "STAGE:STEP")]
    pub fail: Option<String>,
    /// Start only the lab: print its endpoints, kubeconfig, environment and the Flux install
    /// manifest to pass to `bootstrap --flux-manifest`; run until Ctrl-C.
    #[arg(long)]
    pub headless: bool,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: SimCommand,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Proxmox VE API (HTTPS with a self-signed certificate unless --plain-http).
    Pve {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        #[arg(long)]
        plain_http: bool,
        #[arg(long, default_value_t = 1)]
        nodes: u32,
    },
    /// Kubernetes API server: built-in resources, CRDs, server-side apply, watches, and
    /// controllers that run workloads.
    Kube {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Controller time runs this many times faster (pods start in 3 s at 1).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Pods of this workload crash-loop (NAMESPACE/NAME; repeatable).
        #[arg(long, value_name = "NAMESPACE/NAME")]
        crash_loop: Vec<String>,
        /// This PersistentVolumeClaim never binds (NAMESPACE/NAME; repeatable).
        #[arg(long, value_name = "NAMESPACE/NAME")]
        pvc_pending: Vec<String>,
        #[command(flatten)]
        flux: SimFluxArgs,
    },
    /// Loki (query_range, websocket tail, labels) with a log generator.
    Loki {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
        /// Log lines per second.
        #[arg(long, default_value_t = 20)]
        rate: u32,
    },
    /// Prometheus alerts/rules and Alertmanager v2 alerts/silences.
    Alerts {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Cloudflare API v4: token verify, zones, DNS records, tunnels (HTTPS, own CA).
    Cloudflare(CloudflareSimArgs),
}

/// `homelab sim cloudflare`.
#[derive(Debug, Args)]
pub struct CloudflareSimArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The zone (domain) on the account.
    #[arg(long, default_value = "example.com")]
    pub zone: String,
    /// A host with a proxied CNAME to the tunnel and its external-dns owner record (repeatable).
    #[arg(long = "host", value_name = "HOST")]
    pub hosts: Vec<String>,
    /// external-dns's --txt-owner-id for the seeded owner records.
    #[arg(long, default_value = "default")]
    pub txt_owner: String,
    /// external-dns's --txt-prefix for the seeded owner records.
    #[arg(long, default_value = "")]
    pub txt_prefix: String,
    /// Start with the tunnel's connectors gone (cloudflared not running).
    #[arg(long)]
    pub no_connectors: bool,
    /// This host's records are DNS-only (repeatable).
    #[arg(long, value_name = "HOST")]
    pub not_proxied: Vec<String>,
    /// This host has no external-dns owner record (repeatable).
    #[arg(long, value_name = "HOST")]
    pub no_owner: Vec<String>,
}

/// `homelab sim kube`'s Flux options.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SimFluxArgs {
    /// Install the Flux CRDs; the simulated source-, kustomize- and helm-controllers act on them.
    #[arg(long)]
    pub flux: bool,
    /// GitRepositories with this spec.url fetch the local repository at PATH (URL=PATH;
    /// repeatable; the simulator never reaches the network).
    #[arg(long, value_name = "URL=PATH")]
    pub git: Vec<String>,
    /// This GitRepository fails to authenticate over SSH (NAMESPACE/NAME; repeatable).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub git_auth_fails: Vec<String>,
    /// This Kustomization fails to decrypt its SOPS files (NAMESPACE/NAME; repeatable).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub sops_fails: Vec<String>,
    /// This HelmRelease's install fails: its pods crash-loop and Helm's wait gives up
    /// (NAMESPACE/NAME; repeatable).
    #[arg(long, value_name = "NAMESPACE/NAME")]
    pub helm_install_fails: Vec<String>,
}

/// Print completions for `shell` to stdout.
pub fn completions(shell: CompletionShell) -> std::process::ExitCode {
    use clap::CommandFactory;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "homelab",
        &mut std::io::stdout(),
    );
    std::process::ExitCode::SUCCESS
}

/// The line `homelab --version` prints (clap's format: name, space, version, newline).
pub fn version_line() -> String {
    format!("homelab {}\n", env!("CARGO_PKG_VERSION"))
}

/// True when the whole command line is `--version` or `-V`: `main` answers it before clap
/// builds the command tree, most of that command's start-up cost (docs/performance.md,
/// "Startup cost").
pub fn is_version_only(mut args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    let _program = args.next();
    matches!(
        (args.next(), args.next()),
        (Some(a), None) if a == "--version" || a == "-V"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_fast_version_line_is_the_one_clap_prints() {
        assert_eq!(version_line(), Cli::command().render_version());
        let args = |a: &[&str]| a.iter().map(std::ffi::OsString::from).collect::<Vec<_>>();
        assert!(is_version_only(args(&["homelab", "--version"]).into_iter()));
        assert!(is_version_only(args(&["homelab", "-V"]).into_iter()));
        assert!(!is_version_only(
            args(&["homelab", "--version", "x"]).into_iter()
        ));
        assert!(!is_version_only(
            args(&["homelab", "env", "--version"]).into_iter()
        ));
        assert!(!is_version_only(args(&["homelab"]).into_iter()));
    }
}
