//! homelab without a terminal: the TUI refuses to start with one line (and the cluster
//! definition's problems, `file:line:column: ...`, so a CI log still says something useful)
//! instead of failing inside the terminal setup; and command output into a pipe whose reader is
//! gone (`homelab check --format json | head -1`) ends quietly instead of panicking.

use crate::cli::GlobalArgs;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// Exit status when the TUI cannot run here (a usage problem, as clap's).
const NO_TERMINAL: u8 = 2;

/// Whether the TUI can run: stdout is a terminal and the process has a controlling terminal
/// (crossterm reads keys from `/dev/tty`).
pub fn has_terminal() -> bool {
    std::io::stdout().is_terminal() && std::fs::File::open("/dev/tty").is_ok()
}

/// `None` when the TUI can start; otherwise the exit code after saying why.
pub fn refuse_without_terminal(global: &GlobalArgs) -> Option<ExitCode> {
    if has_terminal() {
        return None;
    }
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "homelab: the TUI needs a terminal; without one use a subcommand (homelab check, homelab bootstrap --plan, homelab env ...; see homelab --help)"
    );
    let loaded = crate::config::repo_and_cluster(global.repo.as_deref(), global.cluster.as_deref())
        .and_then(|(repo, file)| crate::config::valid_cluster(&repo, &file));
    if let Err(problems) = loaded {
        let _ = writeln!(err, "homelab: {problems}");
    }
    Some(ExitCode::from(NO_TERMINAL))
}

/// Write `text` to stdout. A reader that went away (`| head -1`) is not an error worth a
/// message: `Ok(false)` then, and the caller stops writing.
pub fn print_stdout(text: &str) -> std::io::Result<bool> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}
