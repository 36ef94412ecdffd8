//! The end-to-end terminal harness: a private tmux server (its own `-L` socket per test) with
//! one window running either an interactive bash or a command directly, in a clean environment
//! (`env -i`) whose HOME and XDG dirs live in a tempdir. Driven with send-keys, read back with
//! capture-pane, polled with generous deadlines (never a timing assert); killed on drop.
//!
//! ```ignore
//! let Some(launch) = Launch::new("console") else { return }; // tmux missing: skip or fail
//! let term = launch.size(140, 40).repo(&manifest_dir()).run(&[bin, "console"]);
//! term.wait_for("Loki live", Duration::from_secs(60));
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The prompt of [`Launch::shell`]'s bash.
pub const PROMPT: &str = "e2e$";

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
        Some(Self {
            socket: format!("homelab-e2e-{}-{tag}", std::process::id()),
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
        t.wait_for(PROMPT, Duration::from_secs(10));
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

    /// Type a line and press Enter.
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
    }
}
