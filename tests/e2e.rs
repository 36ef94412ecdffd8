//! End to end: the built binary in a real terminal (tmux), driven as a user would with
//! send-keys and read back with capture-pane. Needs tmux (a test peer).

mod support;

#[allow(dead_code)]
#[path = "check/fixture.rs"]
mod fixture;

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
    run_line_in(&support::manifest_dir(), extra)
}

/// [`run_line`] on another repository.
fn run_line_in(repo: &Path, extra: &str) -> String {
    format!(
        "{} --repo {} {extra}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo",
        env!("CARGO_BIN_EXE_homelab"),
        repo.display(),
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

/// `q` back to the home screen, `q` again to quit: exit 0, alternate screen left, terminal cooked.
fn quit_to_home_then_shell(t: &Tmux) {
    t.keys(&["q"]);
    t.wait_for("Jobs", T);
    t.keys(&["q"]);
    let done = t.wait_for("EXIT=0", T);
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&wait_for_modes(t));
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
    suspend_then_fg("tstp", |t| t.keys(&["C-z"]));
}

/// `kill -TSTP` from outside does what Ctrl-Z does: the terminal is given back before stopping.
#[test]
fn sigtstp_from_outside_suspends_like_ctrl_z() {
    suspend_then_fg("ext-tstp", |t| {
        let pid = t.child_pid("homelab").expect("homelab pid");
        let status = Command::new("kill")
            .args(["-TSTP", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    });
}

/// Start homelab, stop it with `stop`, check the shell got a cooked terminal and the main
/// screen, `fg`, and see the home screen redrawn.
fn suspend_then_fg(tag: &str, stop: impl Fn(&Tmux)) {
    let Some(t) = start(tag) else { return };
    // Alone on the line: in a `a; b` list bash would move on to `b` once `a` stops.
    let line = run_line("");
    t.shell(line.split(';').next().expect("command"));
    t.wait_for("Jobs", T);
    stop(&t);
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
    quit_to_home_then_shell(&t);
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

/// A stand-in editor for `check --tui`'s `e`: a shell script that records its arguments,
/// directory, whether it has the terminal and the terminal's modes, prompts `editor>` and reads
/// one line from the terminal (proving homelab does not read keys meanwhile), then runs `then`.
fn fake_editor(dir: &Path, then: &str) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let log = dir.join("editor.log");
    let script = dir.join("editor.sh");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
log='{log}'
tty=no
[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && tty=yes
{{
  echo "args: $*"
  echo "pwd: $(pwd -P)"
  echo "tty: $tty"
  echo "modes: $(stty -a | tr ' ' '\n' | grep -xE -- '-?(icanon|echo)' | tr '\n' ' ')"
}} > "$log"
echo 'editor>'
read -r reply
echo "read: $reply" >> "$log"
{then}
"#,
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The first violation `homelab check` reports on `repo` (what the screen selects first), as
/// `(line, file)`.
fn first_violation(repo: &Path) -> (u32, String) {
    let report = homelab::repo::check::run(repo).expect("fixture tree loads");
    let v = &report.violations[0];
    (v.line.expect("a line"), v.file.clone())
}

/// The location line of the Violation pane (below the list at 100 columns).
fn detail_location(screen: &str) -> String {
    screen
        .lines()
        .skip_while(|l| !l.contains("╭ Violation"))
        .find(|l| l.contains(".yaml:") || l.contains(".sh:"))
        .unwrap_or_default()
        .to_owned()
}

/// `e` in `check --tui` hands the terminal to $EDITOR at the selected violation's line
/// (`+LINE FILE`, in the repository, with a cooked terminal whose keys reach it), takes it
/// back when the editor exits, runs the check again with the selection kept on the same
/// rule and file, and leaves the terminal cooked on quit.
#[test]
fn check_tui_e_edits_the_violation_then_rechecks() {
    let repo = fixture::tree_with_fixture("swap");
    let tools = tempfile::tempdir().unwrap();
    // The "fix": the line the editor was opened at stops setting swap-related flags to true.
    let editor = fake_editor(tools.path(), r#"sed -i "${1#+}s/true/false/" "$2""#);
    let Some(launch) = Launch::new("edit") else {
        return;
    };
    let t = launch.env("EDITOR", editor.display().to_string()).shell();
    let (line, file) = first_violation(repo.path());
    assert_eq!(file, "cluster/kubernetes/apps/demos/podinfo/kubelet.yaml");

    t.shell(&run_line_in(repo.path(), "check --tui"));
    let before = t.wait_for("4 violations of 1 rule", T);
    assert!(
        detail_location(&before).contains(&format!("{file}:{line}")),
        "{before}"
    );
    t.keys(&["e"]);
    let editing = t.wait_for("editor>", T);
    assert!(
        !editing.contains("violations of"),
        "the alternate screen was not left:\n{editing}"
    );
    let log = std::fs::read_to_string(tools.path().join("editor.log")).unwrap();
    assert!(log.contains(&format!("args: +{line} {file}\n")), "{log}");
    let pwd = log
        .lines()
        .find_map(|l| l.strip_prefix("pwd: "))
        .expect("pwd");
    assert_eq!(
        Path::new(pwd).canonicalize().unwrap(),
        repo.path().canonicalize().unwrap(),
        "the editor runs in the repository"
    );
    assert!(
        log.contains("tty: yes"),
        "no terminal for the editor: {log}"
    );
    assert!(
        log.contains("modes: icanon echo"),
        "the editor got a raw terminal: {log}"
    );

    // Keys typed now are the editor's, not homelab's (`q` would quit the screen).
    t.literal("q fixed");
    t.keys(&["Enter"]);
    let back = t.wait_for("3 violations of 1 rule", T);
    let log = std::fs::read_to_string(tools.path().join("editor.log")).unwrap();
    assert!(log.contains("read: q fixed\n"), "{log}");
    // A full frame: top bar, list, detail pane and the footer with the new key.
    for needle in ["Check repository", "╭ Violation", "e edit", "r re-check"] {
        assert!(
            back.contains(needle),
            "no {needle:?} after the editor:\n{back}"
        );
    }
    assert!(!back.contains("editor>"), "stale shell text:\n{back}");
    // The fixed line is gone; the selection stayed on the same rule and file.
    assert!(!back.contains(&format!("{file}:{line} ")), "{back}");
    assert!(
        detail_location(&back).contains(&format!("{file}:{}", line + 1)),
        "selection moved elsewhere:\n{back}"
    );
    assert!(
        std::fs::read_to_string(repo.path().join(&file))
            .unwrap()
            .contains("failSwapOn: false")
    );

    quit_to_home_then_shell(&t);
}

/// An editor that saves a fix but exits 1: a toast says so, the check runs again on what it
/// saved, homelab carries on.
#[test]
fn check_tui_failing_editor_is_a_toast() {
    let repo = fixture::tree_with_fixture("swap");
    let tools = tempfile::tempdir().unwrap();
    let editor = fake_editor(tools.path(), r#"sed -i "${1#+}s/true/false/" "$2"; exit 1"#);
    let Some(launch) = Launch::new("edit-fail") else {
        return;
    };
    let t = launch.env("EDITOR", editor.display().to_string()).shell();
    t.shell(&run_line_in(repo.path(), "check --tui"));
    t.wait_for("4 violations of 1 rule", T);
    t.keys(&["e"]);
    t.wait_for("editor>", T);
    t.keys(&["Enter"]);
    t.wait_for_all(
        &["Editor exited with status 1", "3 violations of 1 rule"],
        T,
    );
    t.keys(&["q"]);
    t.wait_for("Jobs", T);
    t.keys(&["q"]);
    t.wait_for("EXIT=0", T);
    assert_terminal_restored(&wait_for_modes(&t));
}

/// SIGTERM while the editor runs: the editor is told too, homelab exits 143, and the terminal
/// is cooked (it was the editor's, and homelab does not take it back).
#[test]
fn sigterm_while_the_editor_runs_restores_terminal() {
    let repo = fixture::tree_with_fixture("swap");
    let tools = tempfile::tempdir().unwrap();
    let editor = fake_editor(tools.path(), "");
    let Some(launch) = Launch::new("edit-term") else {
        return;
    };
    let t = launch.env("EDITOR", editor.display().to_string()).shell();
    t.shell(&run_line_in(repo.path(), "check --tui"));
    t.wait_for("4 violations of 1 rule", T);
    t.keys(&["e"]);
    t.wait_for("editor>", T);
    let pid = t.child_pid("homelab").expect("homelab pid");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let done = t.wait_for("EXIT=143", T);
    assert!(!done.contains("violations of"), "TUI came back:\n{done}");
    let log = std::fs::read_to_string(tools.path().join("editor.log")).unwrap();
    assert!(!log.contains("read:"), "the editor kept running: {log}");
    assert_terminal_restored(&wait_for_modes(&t));
}
