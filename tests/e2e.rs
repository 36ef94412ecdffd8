//! End to end: the built binary in a real terminal (tmux), driven as a user would with
//! send-keys and read back with capture-pane. Needs tmux (a test peer).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server with one 100x30 window running an interactive bash.
struct Tmux {
    socket: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(tag: &str) -> Option<Self> {
        if !support::require_peer("tmux") {
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = format!("homelab-e2e-{}-{tag}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                "100",
                "-y",
                "30",
            ])
            .args([
                "env",
                "-i",
                "PATH=/usr/local/bin:/usr/bin:/bin",
                "TERM=xterm-256color",
                "LANG=C.UTF-8",
                "PS1=e2e$ ",
            ])
            .arg(format!("HOME={}", dir.path().display()))
            .args(["bash", "--norc", "--noprofile"])
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        let t = Self { socket, dir };
        t.wait_for("e2e$", Duration::from_secs(10));
        Some(t)
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Type a shell line and press Enter.
    fn shell(&self, line: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", line]);
        self.tmux(&["send-keys", "-t", "main", "Enter"]);
    }

    /// Send keys by tmux name (`Escape`, `Enter`, `q`); each call is one burst.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "main"])
    }

    /// The screen with colour escapes.
    fn screen_styled(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-e", "-t", "main"])
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out waiting for {needle:?}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_gone(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if !s.contains(needle) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!("timed out waiting for {needle:?} to go; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Wait until the `stty` modes line after `EXIT=...` has been printed.
    fn wait_for_modes(&self) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            let modes = s
                .lines()
                .skip_while(|l| !l.starts_with("EXIT="))
                .nth(1)
                .unwrap_or_default();
            if modes.split_whitespace().count() >= 3 {
                return s;
            }
            if start.elapsed() > T {
                panic!("no stty modes line; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn xdg(&self, kind: &str) -> PathBuf {
        self.dir.path().join(kind)
    }

    /// The command line that starts homelab on this repository with private XDG dirs, then
    /// reports its exit code and the terminal modes.
    fn run_line(&self, extra: &str) -> String {
        format!(
            "XDG_CONFIG_HOME={} XDG_STATE_HOME={} {} --repo {} {extra}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo",
            self.xdg("config").display(),
            self.xdg("state").display(),
            env!("CARGO_BIN_EXE_homelab"),
            support::manifest_dir().display(),
        )
    }

    /// Pid of the homelab process running under the pane's shell.
    fn app_pid(&self) -> Option<u32> {
        let shell: u32 = self
            .tmux(&["display", "-p", "-t", "main", "#{pane_pid}"])
            .trim()
            .parse()
            .ok()?;
        let children =
            std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).ok()?;
        children
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .find(|pid: &u32| {
                std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|c| c.trim() == "homelab")
            })
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

const T: Duration = Duration::from_secs(20);

/// `stty` reports the cooked modes again: no `-icanon`, `-echo` or `-isig`.
fn assert_terminal_restored(screen: &str) {
    let line = screen
        .lines()
        .skip_while(|l| !l.starts_with("EXIT="))
        .nth(1)
        .unwrap_or_else(|| panic!("no stty line; screen:\n{screen}"));
    let modes: Vec<&str> = line.split_whitespace().collect();
    for m in ["icanon", "echo", "isig"] {
        assert!(modes.contains(&m), "{m} not restored: {line:?}\n{screen}");
    }
}

fn log_mentions(t: &Tmux, needle: &str) -> bool {
    let log = t.xdg("state").join("homelab/homelab.log");
    std::fs::read_to_string(&log).is_ok_and(|s| s.contains(needle))
}

#[test]
fn open_help_theme_switch_quit_restores_terminal() {
    let Some(t) = Tmux::start("main") else { return };
    t.shell(&t.run_line(""));
    let home = t.wait_for("Jobs", T);
    assert!(home.contains("prox-n100"), "{home}");
    assert!(home.contains("k3s-server-1"), "{home}");

    t.keys(&["?"]);
    t.wait_for("Help · Home", T);
    t.keys(&["Escape"]);
    t.wait_gone("Help · Home", T);

    let before = t.screen_styled();
    t.keys(&[":"]);
    t.wait_for("Command palette", T);
    t.literal("theme light");
    t.wait_for("theme homelab-light", T);
    t.keys(&["Enter"]);
    t.wait_for("Theme: homelab-light", T);
    let after = t.screen_styled();
    assert_ne!(before, after, "colours did not change");
    // homelab-light paints its background #fafbfc.
    assert!(
        after.contains("250;251;252"),
        "no light background in:\n{after}"
    );

    t.keys(&["q"]);
    let done = t.wait_for("EXIT=0", T);
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&t.wait_for_modes());
    assert!(
        log_mentions(&t, "starting TUI"),
        "no log line in the XDG state dir"
    );
}

#[test]
fn sigterm_restores_terminal() {
    let Some(t) = Tmux::start("term") else { return };
    t.shell(&t.run_line(""));
    t.wait_for("Jobs", T);
    let pid = t.app_pid().expect("homelab pid");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let done = t.wait_for("EXIT=143", T);
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&t.wait_for_modes());
}

#[test]
fn malformed_user_theme_is_reported_and_falls_back() {
    let Some(t) = Tmux::start("theme") else {
        return;
    };
    let themes = t.xdg("config").join("homelab/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(
        themes.join("mine.toml"),
        "inherits = \"homelab-dark\"\n[ui]\nborder = { fg = \"nope\" }\n",
    )
    .unwrap();
    t.shell(&t.run_line("--theme mine"));
    let s = t.wait_for("Jobs", T);
    let s = if s.contains("unknown colour") {
        s
    } else {
        t.wait_for("unknown colour", T)
    };
    // The toast names the file (under ~, which is the test's HOME), line and key.
    assert!(
        s.contains("~/config/homelab/themes/mine.toml:3:1: [ui]"),
        "{s}"
    );
    assert!(s.contains("border: unknown colour `nope`"), "{s}");
    t.keys(&["q"]);
    t.wait_for("EXIT=0", T);
}

#[test]
fn wrong_cluster_name_lists_the_choices() {
    let out = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args([
            "--repo",
            &support::manifest_dir().display().to_string(),
            "--cluster",
            "nope",
        ])
        .env("XDG_STATE_HOME", Path::new(env!("CARGO_TARGET_TMPDIR")))
        .output()
        .expect("run homelab");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "homelab: cluster `nope` not found in config/clusters/ (available: prox-n100)\n"
    );
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_homelab"))
            .args(["completions", shell])
            .output()
            .expect("run");
        assert!(out.status.success(), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("bootstrap") && text.contains("cluster"),
            "{shell} completions lack subcommands/flags"
        );
    }
}

#[test]
fn ctrl_z_suspends_and_fg_resumes() {
    let Some(t) = Tmux::start("tstp") else { return };
    // Alone on the line: in a `a; b` list bash would move on to `b` once `a` stops.
    let line = t.run_line("");
    t.shell(line.split(';').next().expect("command"));
    t.wait_for("Jobs", T);
    t.keys(&["C-z"]);
    let stopped = t.wait_for("Stopped", T);
    assert!(
        !stopped.contains("Jobs"),
        "alternate screen not left on suspend:\n{stopped}"
    );
    // The shell has a sane terminal while homelab is stopped.
    t.shell("stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo)' | tr '\\n' ' '; echo");
    let start = Instant::now();
    let modes = loop {
        let s = t.screen();
        let found = s.lines().find(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.len() == 2
                && words.iter().all(|w| {
                    w.trim_start_matches('-') == "icanon" || w.trim_start_matches('-') == "echo"
                })
        });
        if let Some(l) = found {
            break l.to_owned();
        }
        assert!(start.elapsed() < T, "no stty output:\n{s}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        modes.split_whitespace().collect::<Vec<_>>(),
        vec!["icanon", "echo"]
    );
    t.shell("fg");
    t.wait_for("Jobs", T);
    t.keys(&["q"]);
    t.wait_gone("Jobs", T);
    t.wait_for("e2e$", T);
}

#[test]
fn panic_restores_terminal_then_prints_the_report() {
    let Some(t) = Tmux::start("panic") else {
        return;
    };
    t.shell(&t.run_line("--debug-panic"));
    let done = t.wait_for("EXIT=101", T);
    // The report is printed after the terminal is restored, so it is on the normal screen.
    assert!(
        done.contains("deliberate panic after the first frame"),
        "{done}"
    );
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&t.wait_for_modes());
}
