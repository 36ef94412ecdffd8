//! The end-to-end terminal harness: a private tmux server (its own `-L` socket per test) with
//! one window running either an interactive bash or a command directly, in a clean environment
//! (`env -i`) whose HOME and XDG dirs live in a tempdir. Driven with send-keys, read back with
//! capture-pane, polled with generous deadlines (never a timing assert); killed on drop.
//!
//! ```ignore
//! let Some(launch) = Launch::new("console") else { return }; // tmux missing: skip or fail
//! let term = launch.size(140, 40).repo(&manifest_dir()).run(&[bin, "console"]);
//! term.wait_screen(&[Has("Loki live"), Has("FOLLOW")], Duration::from_secs(60));
//! term.press_until(&["q"], &[Has("Env files")], Duration::from_secs(60));
//! ```
//!
//! Waiting right is most of what makes these tests reliable:
//! - Wait for what the action produces, never for text that can be on the screen before it:
//!   the shell echoes the typed command (a command that prints `icanon` contains `icanon`), a
//!   text field shows what was typed before Enter runs it, a live pane can show any line.
//!   [`Tmux::press_until`], [`Tmux::type_until`] and [`Tmux::run_until`] fail at once when the
//!   screen already shows what they are to wait for; [`print_var`]/[`printed`] print values
//!   the echoed command line cannot contain.
//! - A capture can land in the middle of a frame (tmux reads the program's output in chunks),
//!   so wait for everything the test then looks at ([`Tmux::wait_screen`] with [`Has`] and
//!   [`Lacks`]), instead of waiting for one string and asserting on the rest of that capture.
//! - Each server's socket name carries the test process's pid and start time; servers left by
//!   a test process that is gone (a killed run) are killed by the next [`Launch::new`].

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The prompt of [`Launch::shell`]'s bash.
pub const PROMPT: &str = "e2e$";

/// Every server of this harness is named `homelab-e2e-<pid>.<start time>-<tag>`.
const SOCKET_PREFIX: &str = "homelab-e2e-";

/// One condition on the screen text.
#[derive(Debug, Clone, Copy)]
pub enum Want<'a> {
    /// The screen contains this text.
    Has(&'a str),
    /// The screen does not contain this text.
    Lacks(&'a str),
}
pub use Want::{Has, Lacks};

impl Want<'_> {
    fn holds(&self, screen: &str) -> bool {
        match self {
            Has(t) => screen.contains(t),
            Lacks(t) => !screen.contains(t),
        }
    }
}

/// Whether every want holds on `screen`.
pub fn holds(screen: &str, wants: &[Want]) -> bool {
    wants.iter().all(|w| w.holds(screen))
}

/// Shell code printing `NAME=<value of value_expr>` alone on a line, written so that the typed
/// command line (which the shell echoes) does not contain `NAME=`: it reads
/// `printf '%s=%s\n' NAME "value_expr"`. Read the value back with [`printed`].
pub fn print_var(name: &str, value_expr: &str) -> String {
    format!(r#"printf '%s=%s\n' {name} "{value_expr}""#)
}

/// The value of the last `NAME=value` line on `screen` (as printed by [`print_var`]), trimmed.
pub fn printed<'a>(screen: &'a str, name: &str) -> Option<&'a str> {
    screen.lines().rev().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='))
            .map(str::trim)
    })
}

/// `<pid>.<start time>`: names one process for as long as the machine runs (a pid alone can be
/// reused by a later run).
fn process_token(pid: u32) -> String {
    match start_time(pid) {
        Some(start) => format!("{pid}.{start}"),
        None => pid.to_string(),
    }
}

/// The start time of `pid` in clock ticks since boot (field 22 of /proc/PID/stat).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Where tmux keeps the sockets of `-L` servers.
fn socket_dir() -> PathBuf {
    let base = std::env::var_os("TMUX_TMPDIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    // SAFETY: getuid has no preconditions and cannot fail.
    base.join(format!("tmux-{}", unsafe { libc::getuid() }))
}

/// Kill the servers of test processes that are gone (a run killed before its `Tmux`es were
/// dropped), once per test process: they would keep their shells and homelabs running.
fn reap_stale_servers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(entries) = std::fs::read_dir(socket_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(owner) = name
                .strip_prefix(SOCKET_PREFIX)
                .and_then(|rest| rest.split('-').next())
            else {
                continue;
            };
            let (pid, start) = match owner.split_once('.') {
                Some((pid, start)) => (pid.parse::<u32>().ok(), start.parse::<u64>().ok()),
                None => (owner.parse::<u32>().ok(), None),
            };
            let Some(pid) = pid else { continue };
            let alive = match (start_time(pid), start) {
                (None, _) => false,
                (Some(now), Some(then)) => now == then,
                (Some(_), None) => true,
            };
            if !alive {
                let _ = Command::new("tmux")
                    .args(["-L", &name, "kill-server"])
                    .output();
                let _ = std::fs::remove_file(entry.path());
            }
        }
    });
}

/// How to start a tmux window; made by [`Launch::new`], finished by [`Launch::shell`] or
/// [`Launch::run`].
pub struct Launch {
    socket: String,
    dir: tempfile::TempDir,
    size: (u16, u16),
    env: Vec<(String, String)>,
    cwd: Option<PathBuf>,
}

impl Launch {
    /// `None` when tmux is missing, through `require_peer` (prints `SKIP: <reason>`; panics
    /// under HOMELAB_REQUIRE_PEERS=1). `tag` keeps sockets of one test binary apart.
    pub fn new(tag: &str) -> Option<Self> {
        if !super::require_peer("tmux") {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let home = dir.path().display().to_string();
        let env = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
            ("TERM", "xterm-256color".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("TZ", "UTC".to_owned()),
            ("XDG_CONFIG_HOME", format!("{home}/config")),
            ("XDG_STATE_HOME", format!("{home}/state")),
            ("HOME", home),
        ];
        reap_stale_servers();
        Some(Self {
            socket: format!("{SOCKET_PREFIX}{}-{tag}", process_token(std::process::id())),
            dir,
            size: (100, 30),
            env: env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            cwd: None,
        })
    }

    /// Window size in cells (default 100x30).
    pub fn size(mut self, width: u16, height: u16) -> Self {
        self.size = (width, height);
        self
    }

    /// Set (or replace) an environment variable of the window.
    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        match self.env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.env.push((key.to_owned(), value)),
        }
        self
    }

    /// `HOMELAB_REPO` for the window.
    pub fn repo(self, repo: &Path) -> Self {
        self.env("HOMELAB_REPO", repo.display().to_string())
    }

    /// Start directory of the window.
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// An interactive bash (no rc files, prompt [`PROMPT`]), waited for until it prompts.
    pub fn shell(self) -> Tmux {
        let t = self
            .env("PS1", format!("{PROMPT} "))
            .run(&["bash", "--norc", "--noprofile"]);
        t.wait_for(PROMPT, Duration::from_secs(30));
        t
    }

    /// `cmd` run directly (no shell); the window closes when it exits.
    pub fn run(self, cmd: &[&str]) -> Tmux {
        let (w, h) = (self.size.0.to_string(), self.size.1.to_string());
        let mut new = Command::new("tmux");
        new.args(["-L", &self.socket, "-f", "/dev/null", "new-session", "-d"])
            .args(["-s", "main", "-x", &w, "-y", &h]);
        if let Some(cwd) = &self.cwd {
            new.arg("-c").arg(cwd);
        }
        new.args(["env", "-i"])
            .args(self.env.iter().map(|(k, v)| format!("{k}={v}")))
            .args(cmd);
        let status = new.status().expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Tmux {
            socket: self.socket,
            dir: self.dir,
        }
    }
}

/// A running private tmux server with one window `main`; killed on drop.
pub struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// The window's HOME (a tempdir); XDG_CONFIG_HOME and XDG_STATE_HOME are `config` and
    /// `state` under it unless replaced.
    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    pub fn xdg(&self, kind: &str) -> PathBuf {
        self.home().join(kind)
    }

    /// Run a tmux command on this server; its stdout.
    pub fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type a line and press Enter (to wait for what it prints, see [`Tmux::run_until`]).
    pub fn shell(&self, line: &str) {
        self.literal(line);
        self.keys(&["Enter"]);
    }

    /// Send keys by tmux name (`Escape`, `Enter`, `C-u`, `q`); each call is one burst.
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    /// Type text as is.
    pub fn literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// The screen with colour escapes.
    pub fn screen_styled(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "main"])
    }

    /// Poll the screen until `done` holds; panics naming `what` with the last screen after
    /// `timeout` (a generous bound, not a timing assert).
    pub fn wait_until(&self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if done(&s) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{needle:?}"), timeout, |s| s.contains(needle))
    }

    /// Until the screen holds every needle at once.
    pub fn wait_for_all(&self, needles: &[&str], timeout: Duration) -> String {
        self.wait_until(&format!("{needles:?}"), timeout, |s| {
            needles.iter().all(|n| s.contains(n))
        })
    }

    pub fn wait_gone(&self, needle: &str, timeout: Duration) -> String {
        self.wait_until(&format!("{needle:?} to go"), timeout, |s| {
            !s.contains(needle)
        })
    }

    /// Until every want holds on one capture (a frame can be captured half drawn: wait for
    /// everything the test goes on to look at). On timeout the panic lists the wants that did
    /// not hold and the last screen.
    pub fn wait_screen(&self, wants: &[Want], timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if holds(&s, wants) {
                return s;
            }
            if start.elapsed() > timeout {
                let missing: Vec<&Want> = wants.iter().filter(|w| !w.holds(&s)).collect();
                panic!("timed out after {timeout:?} waiting for {missing:?}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Like [`Tmux::wait_until`] on the screen with colour escapes.
    pub fn wait_styled(
        &self,
        what: &str,
        timeout: Duration,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen_styled();
            if done(&s) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out after {timeout:?} waiting for {what}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Panics when `wants` already hold before `action`: waiting for them afterwards could not
    /// tell the action's effect from what was on the screen (the echoed command line, text
    /// typed into a field, an earlier frame).
    fn not_yet(&self, action: &str, wants: &[Want]) {
        let s = self.screen();
        assert!(
            !holds(&s, wants),
            "{wants:?} already hold before {action}, so waiting for them cannot tell that it \
             happened: wait for something only the action produces; screen:\n{s}"
        );
    }

    /// Press `keys` (one burst), then wait until `wants` hold; they must not hold before.
    pub fn press_until(&self, keys: &[&str], wants: &[Want], timeout: Duration) -> String {
        self.not_yet(&format!("the keys {keys:?}"), wants);
        self.keys(keys);
        self.wait_screen(wants, timeout)
    }

    /// Type `text` as is, then wait until `wants` hold; they must not hold before.
    pub fn type_until(&self, text: &str, wants: &[Want], timeout: Duration) -> String {
        self.not_yet(&format!("typing {text:?}"), wants);
        self.literal(text);
        self.wait_screen(wants, timeout)
    }

    /// Type `line` at the shell and wait until it is echoed; then (checking that `wants` do not
    /// hold yet, with the echo on the screen) press Enter and wait until they do.
    pub fn run_until(&self, line: &str, wants: &[Want], timeout: Duration) -> String {
        self.literal(line);
        let start = Instant::now();
        // Joined (-J): the echo of a long line wraps over several rows.
        while !self.screen_joined().contains(line) {
            if start.elapsed() > timeout {
                panic!(
                    "the shell never echoed {line:?}; screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.not_yet("Enter ran the command line", wants);
        self.keys(&["Enter"]);
        self.wait_screen(wants, timeout)
    }

    /// The screen with wrapped lines joined.
    pub fn screen_joined(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-J", "-t", "main"])
    }

    /// Pid of the child of the window's process (the shell) whose command name is `comm`.
    pub fn child_pid(&self, comm: &str) -> Option<u32> {
        let pane: u32 = self
            .tmux(&["display", "-p", "-t", "main", "#{pane_pid}"])
            .trim()
            .parse()
            .ok()?;
        let children =
            std::fs::read_to_string(format!("/proc/{pane}/task/{pane}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .find(|pid: &u32| {
                std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
            })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        // The server leaves its socket file behind.
        let _ = std::fs::remove_file(socket_dir().join(&self.socket));
    }
}
