//! End to end: the built binary in a real terminal (tmux), driven as a user would with
//! send-keys and read back with capture-pane. Needs tmux (a test peer).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::tmux::{Launch, PROMPT, Tmux};

/// A private tmux server with one 100x30 window running an interactive bash, HOME and the XDG
/// dirs in a tempdir.
fn start(tag: &str) -> Option<Tmux> {
    Launch::new(tag).map(Launch::shell)
}

/// Wait until the `stty` modes line after `EXIT=...` has been printed.
fn wait_for_modes(t: &Tmux) -> String {
    t.wait_until("the stty modes line", T, |s| {
        let modes = s
            .lines()
            .skip_while(|l| !l.starts_with("EXIT="))
            .nth(1)
            .unwrap_or_default();
        modes.split_whitespace().count() >= 3
    })
}

/// The command line that starts homelab on this repository (with the window's private XDG
/// dirs), then reports its exit code and the terminal modes.
fn run_line(extra: &str) -> String {
    format!(
        "{} --repo {} {extra}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo",
        env!("CARGO_BIN_EXE_homelab"),
        support::manifest_dir().display(),
    )
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
    let Some(t) = start("main") else { return };
    t.shell(&run_line(""));
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
    assert_terminal_restored(&wait_for_modes(&t));
    assert!(
        log_mentions(&t, "starting TUI"),
        "no log line in the XDG state dir"
    );
}

#[test]
fn sigterm_restores_terminal() {
    let Some(t) = start("term") else { return };
    t.shell(&run_line(""));
    t.wait_for("Jobs", T);
    let pid = t.child_pid("homelab").expect("homelab pid");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let done = t.wait_for("EXIT=143", T);
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&wait_for_modes(&t));
}

#[test]
fn malformed_user_theme_is_reported_and_falls_back() {
    let Some(t) = start("theme") else {
        return;
    };
    let themes = t.xdg("config").join("homelab/themes");
    std::fs::create_dir_all(&themes).unwrap();
    std::fs::write(
        themes.join("mine.toml"),
        "inherits = \"homelab-dark\"\n[ui]\nborder = { fg = \"nope\" }\n",
    )
    .unwrap();
    t.shell(&run_line("--theme mine"));
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
    let Some(t) = start("tstp") else { return };
    // Alone on the line: in a `a; b` list bash would move on to `b` once `a` stops.
    let line = run_line("");
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
    let modes_line = |s: &str| {
        s.lines()
            .find(|l| {
                let words: Vec<&str> = l.split_whitespace().collect();
                words.len() == 2
                    && words.iter().all(|w| {
                        w.trim_start_matches('-') == "icanon" || w.trim_start_matches('-') == "echo"
                    })
            })
            .map(str::to_owned)
    };
    let s = t.wait_until("stty output", T, |s| modes_line(s).is_some());
    let modes = modes_line(&s).expect("stty output");
    assert_eq!(
        modes.split_whitespace().collect::<Vec<_>>(),
        vec!["icanon", "echo"]
    );
    t.shell("fg");
    t.wait_for("Jobs", T);
    t.keys(&["q"]);
    t.wait_gone("Jobs", T);
    t.wait_for(PROMPT, T);
}

/// `homelab check --tui` on this repository (gitops): the check runs in the background, the
/// clean result shows, the home screen is one `q` away, and the terminal comes back cooked.
#[test]
fn check_tui_shows_the_result_and_returns() {
    let Some(t) = start("check") else {
        return;
    };
    t.shell(&run_line("check --tui"));
    let screen = t.wait_for("conforms to the Stage 1 architecture", T);
    assert!(screen.contains("Check repository"), "{screen}");
    assert!(screen.contains("swap/disabled"), "{screen}");
    t.keys(&["q"]);
    t.wait_for("Jobs", T);
    t.keys(&["q"]);
    let done = t.wait_for("EXIT=0", T);
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&wait_for_modes(&t));
}

#[test]
fn panic_restores_terminal_then_prints_the_report() {
    let Some(t) = start("panic") else {
        return;
    };
    t.shell(&run_line("--debug-panic"));
    let done = t.wait_for("EXIT=101", T);
    // The report is printed after the terminal is restored, so it is on the normal screen.
    assert!(
        done.contains("deliberate panic after the first frame"),
        "{done}"
    );
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&wait_for_modes(&t));
}
