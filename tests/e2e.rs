//! End to end: the built binary in a real terminal (tmux), driven as a user would with
//! send-keys and read back with capture-pane. Needs tmux (a test peer).

mod support;

#[allow(dead_code)]
#[path = "check/fixture.rs"]
mod fixture;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::tmux::{Has, Lacks, Launch, Tmux, print_var, printed};

/// A private tmux server with one 100x30 window running an interactive bash, HOME and the XDG
/// dirs in a tempdir.
fn start(tag: &str) -> Option<Tmux> {
    Launch::new(tag).map(Launch::shell)
}

/// Shell code printing the terminal modes of interest as `NAME=icanon echo isig` (`-icanon`...
/// when off), on a line the echoed command cannot contain.
fn print_modes(name: &str) -> String {
    print_var(
        name,
        r"$(stty -a | tr ' ' '\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\n' ' ')",
    )
}

/// The command line that starts homelab on this repository (with the window's private XDG
/// dirs), then prints its exit status (`EXIT=`) and the terminal modes (`MODES=`).
fn run_line(extra: &str) -> String {
    run_line_in(&support::manifest_dir(), extra)
}

/// [`run_line`] on another repository.
fn run_line_in(repo: &Path, extra: &str) -> String {
    format!(
        "{} --repo {} {extra}; {}; {}",
        env!("CARGO_BIN_EXE_homelab"),
        repo.display(),
        print_var("EXIT", "$?"),
        print_modes("MODES"),
    )
}

const T: Duration = Duration::from_secs(20);

/// `stty` reports the cooked modes again: no `-icanon`, `-echo` or `-isig`.
fn assert_terminal_restored(screen: &str) {
    let line =
        printed(screen, "MODES").unwrap_or_else(|| panic!("no MODES line; screen:\n{screen}"));
    let modes: Vec<&str> = line.split_whitespace().collect();
    for m in ["icanon", "echo", "isig"] {
        assert!(modes.contains(&m), "{m} not restored: {line:?}\n{screen}");
    }
}

/// Wait until homelab has ended and the command line printed its status and the modes; the
/// status is `status`, the alternate screen was left and the terminal is cooked again.
fn wait_exit(t: &Tmux, status: &str) -> String {
    let done = t.wait_screen(&[Has("EXIT="), Has("MODES=")], T);
    assert_eq!(printed(&done, "EXIT"), Some(status), "{done}");
    assert!(!done.contains("Jobs"), "alternate screen not left:\n{done}");
    assert_terminal_restored(&done);
    done
}

/// `q` back to the home screen, `q` again to quit: exit 0, alternate screen left, terminal cooked.
fn quit_to_home_then_shell(t: &Tmux) {
    t.press_until(&["q"], &[Has("Jobs")], T);
    t.keys(&["q"]);
    wait_exit(t, "0");
}

fn log_mentions(t: &Tmux, needle: &str) -> bool {
    let log = t.xdg("state").join("homelab/homelab.log");
    std::fs::read_to_string(&log).is_ok_and(|s| s.contains(needle))
}

/// The text of a capture with colour escapes, without them.
fn plain(styled: &str) -> String {
    let escapes = regex::Regex::new("\x1b\\[[0-9;:]*m").expect("escape regex");
    escapes.replace_all(styled, "").into_owned()
}

#[test]
fn open_help_theme_switch_quit_restores_terminal() {
    let Some(t) = start("main") else { return };
    t.run_until(
        &run_line(""),
        &[Has("Jobs"), Has("prox-n100"), Has("k3s-server-1")],
        T,
    );

    t.press_until(&["?"], &[Has("Help · Home")], T);
    t.press_until(&["Escape"], &[Lacks("Help · Home"), Has("Jobs")], T);

    let before = t.screen_styled();
    t.press_until(&[":"], &[Has("Command palette")], T);
    // The palette lists every theme until the filter applies.
    t.type_until(
        "theme light",
        &[Has("theme homelab-light"), Lacks("theme homelab-dark")],
        T,
    );
    t.keys(&["Enter"]);
    // homelab-light paints its background #fafbfc.
    let after = t.wait_styled("the light theme and its toast", T, |s| {
        s.contains("250;251;252") && plain(s).contains("Theme: homelab-light")
    });
    assert_ne!(before, after, "colours did not change");

    t.keys(&["q"]);
    wait_exit(&t, "0");
    assert!(
        log_mentions(&t, "starting TUI"),
        "no log line in the XDG state dir"
    );
}

#[test]
fn sigterm_restores_terminal() {
    let Some(t) = start("term") else { return };
    t.run_until(&run_line(""), &[Has("Jobs")], T);
    let pid = t.child_pid("homelab").expect("homelab pid");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    wait_exit(&t, "143");
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
    // The toast names the file (under ~, which is the test's HOME), line and key.
    t.run_until(
        &run_line("--theme mine"),
        &[
            Has("Jobs"),
            Has("~/config/homelab/themes/mine.toml:3:1: [ui]"),
            Has("border: unknown colour `nope`"),
        ],
        T,
    );
    t.keys(&["q"]);
    wait_exit(&t, "0");
}

#[test]
fn wrong_cluster_name_lists_the_choices() {
    let state = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args([
            "--repo",
            &support::manifest_dir().display().to_string(),
            "--cluster",
            "nope",
        ])
        .env("XDG_STATE_HOME", state.path())
        .output()
        .expect("run homelab");
    assert_eq!(out.status.code(), Some(2));
    // Run without a terminal: the TUI says so first, then the definition's problem.
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "homelab: the TUI needs a terminal; without one use a subcommand (homelab check, homelab bootstrap --plan, homelab env ...; see homelab --help)\nhomelab: cluster `nope` not found in config/clusters/ (available: prox-n100)\n"
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
    let line = format!(
        "{} --repo {}",
        env!("CARGO_BIN_EXE_homelab"),
        support::manifest_dir().display()
    );
    let home = t.run_until(&line, &[Has("Jobs")], T);
    assert!(!home.contains("Stopped"), "{home}");
    stop(&t);
    t.wait_screen(&[Has("Stopped"), Lacks("Jobs")], T);
    // The shell has a sane terminal while homelab is stopped.
    let s = t.run_until(&print_modes("STOPPED"), &[Has("STOPPED=")], T);
    let mut modes: Vec<&str> = printed(&s, "STOPPED")
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    modes.sort_unstable();
    assert_eq!(modes, ["echo", "icanon", "isig"], "{s}");
    // `fg` returns homelab's exit status once it ends.
    let resume = format!("fg; {}; {}", print_var("EXIT", "$?"), print_modes("MODES"));
    t.run_until(&resume, &[Has("Jobs")], T);
    t.keys(&["q"]);
    wait_exit(&t, "0");
}

/// `homelab check --tui` on this repository (gitops): the check runs in the background, the
/// clean result shows, the home screen is one `q` away, and the terminal comes back cooked.
#[test]
fn check_tui_shows_the_result_and_returns() {
    let Some(t) = start("check") else {
        return;
    };
    t.run_until(
        &run_line("check --tui"),
        &[
            Has("conforms to the Stage 1 architecture"),
            Has("Check repository"),
            // the first rule: later ones scroll below the window as rules are added
            Has("tree/yaml-parse"),
        ],
        T,
    );
    quit_to_home_then_shell(&t);
}

#[test]
fn panic_restores_terminal_then_prints_the_report() {
    let Some(t) = start("panic") else {
        return;
    };
    // The report is printed after the terminal is restored, so it is on the normal screen.
    t.run_until(
        &run_line("--debug-panic"),
        &[
            Has("deliberate panic after the first frame"),
            Has("EXIT="),
            Has("MODES="),
        ],
        T,
    );
    wait_exit(&t, "101");
}

/// A background task's panic is not the end: it is logged, shown as an error toast, the app
/// keeps its terminal (still drawing, keys still work) and quits normally.
#[test]
fn a_task_panic_is_a_toast_and_the_app_goes_on() {
    let Some(t) = start("task-panic") else {
        return;
    };
    t.run_until(
        &run_line("--debug-task-panic"),
        &[Has("Jobs"), Has("panicked: deliberate panic")],
        T,
    );
    let screen = t.screen();
    assert!(!screen.contains("EXIT="), "the app ended:\n{screen}");
    t.press_until(&["?"], &[Has("Help · Home")], T);
    t.press_until(&["Escape"], &[Lacks("Help · Home"), Has("Jobs")], T);
    t.keys(&["q"]);
    wait_exit(&t, "0");
    assert!(
        log_mentions(
            &t,
            "background task panicked: deliberate panic in a background task"
        ),
        "the panic is not in homelab.log"
    );
}

/// A copy of the tree with the `swap` fixture's violations, a [`fake_editor`] running `then`,
/// and a shell whose $EDITOR is that editor. None when tmux is missing (a printed skip).
fn editing(tag: &str, then: &str) -> Option<(tempfile::TempDir, tempfile::TempDir, Tmux)> {
    let repo = fixture::tree_with_fixture("swap");
    let tools = tempfile::tempdir().unwrap();
    let editor = fake_editor(tools.path(), then);
    let t = Launch::new(tag)?
        .env("EDITOR", editor.display().to_string())
        .shell();
    Some((repo, tools, t))
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
    // The "fix": the line the editor was opened at stops setting swap-related flags to true.
    let Some((repo, tools, t)) = editing("edit", r#"sed -i "${1#+}s/true/false/" "$2""#) else {
        return;
    };
    let (line, file) = first_violation(repo.path());
    assert_eq!(file, "cluster/kubernetes/apps/demos/podinfo/kubelet.yaml");

    t.run_until(
        &run_line_in(repo.path(), "check --tui"),
        &[Has("4 violations of 1 rule")],
        T,
    );
    let at = format!("{file}:{line}");
    t.wait_until(&format!("the detail at {at}"), T, |s| {
        s.contains("4 violations of 1 rule") && detail_location(s).contains(&at)
    });
    t.press_until(&["e"], &[Has("editor>"), Lacks("violations of")], T);
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

    // Keys typed now are the editor's, not homelab's (`q` would quit the screen). Back: a full
    // frame (top bar, list, detail pane and the footer with the new key), no stale shell text,
    // the fixed line gone and the selection on the same rule and file.
    t.literal("q fixed");
    let next = format!("{file}:{}", line + 1);
    let fixed = format!("{at} ");
    let back = t.press_until(
        &["Enter"],
        &[
            Has("3 violations of 1 rule"),
            Has("Check repository"),
            Has("╭ Violation"),
            Has("e edit"),
            Has("r re-check"),
            Lacks("editor>"),
            Lacks(&fixed),
        ],
        T,
    );
    let back = if detail_location(&back).contains(&next) {
        back
    } else {
        t.wait_until(&format!("the detail at {next}"), T, |s| {
            s.contains("3 violations of 1 rule") && detail_location(s).contains(&next)
        })
    };
    assert!(!back.contains("editor>"), "stale shell text:\n{back}");
    let log = std::fs::read_to_string(tools.path().join("editor.log")).unwrap();
    assert!(log.contains("read: q fixed\n"), "{log}");
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
    let Some((repo, _tools, t)) =
        editing("edit-fail", r#"sed -i "${1#+}s/true/false/" "$2"; exit 1"#)
    else {
        return;
    };
    t.run_until(
        &run_line_in(repo.path(), "check --tui"),
        &[Has("4 violations of 1 rule")],
        T,
    );
    t.press_until(&["e"], &[Has("editor>")], T);
    t.press_until(
        &["Enter"],
        &[
            Has("Editor exited with status 1"),
            Has("3 violations of 1 rule"),
        ],
        T,
    );
    quit_to_home_then_shell(&t);
}

/// SIGTERM while the editor runs: the editor is told too, homelab exits 143, and the terminal
/// is cooked (it was the editor's, and homelab does not take it back).
#[test]
fn sigterm_while_the_editor_runs_restores_terminal() {
    let Some((repo, tools, t)) = editing("edit-term", "") else {
        return;
    };
    t.run_until(
        &run_line_in(repo.path(), "check --tui"),
        &[Has("4 violations of 1 rule")],
        T,
    );
    t.press_until(&["e"], &[Has("editor>")], T);
    let pid = t.child_pid("homelab").expect("homelab pid");
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let done = wait_exit(&t, "143");
    assert!(!done.contains("violations of"), "TUI came back:\n{done}");
    let log = std::fs::read_to_string(tools.path().join("editor.log")).unwrap();
    assert!(!log.contains("read:"), "the editor kept running: {log}");
}

#[allow(dead_code)]
#[path = "scaffold/lab.rs"]
mod lab;
#[path = "support/rendered_secrets.rs"]
mod rendered_secrets;

/// `homelab scaffold` as a user would: fill the form (name, category with the arrows, image),
/// preview the files and the diff, write and commit; then the commit, read with git2, holds the
/// app with the author from the git config, and `homelab check` passes on the result.
#[test]
fn scaffold_form_fill_preview_commit() {
    let Some(t) = start("scaffold") else { return };
    let lab = lab::Lab::new(&[]);
    let root = lab.root();
    let before = lab.repo().head().unwrap().peel_to_commit().unwrap().id();
    t.run_until(
        &run_line_in(&root, "scaffold"),
        &[
            Has("New app · cluster/kubernetes/apps/<category>/<name>"),
            Has("› name"),
        ],
        T,
    );
    t.type_until("whoami", &[Has("apps/<category>/whoami")], T);
    t.press_until(&["Tab"], &[Has("› category")], T);
    t.press_until(
        &["Right", "Right"],
        &[Has("[tools]"), Has("apps/tools/whoami")],
        T,
    );
    t.press_until(&["Tab", "Tab"], &[Has("› image")], T);
    t.type_until(
        "traefik/whoami:v1.11.0",
        &[Has("traefik/whoami:v1.11.0")],
        T,
    );
    t.press_until(
        &["C-s"],
        &[
            Has("Preview · apps: add whoami"),
            Has("Files (6 new)"),
            Has("==> cluster/kubernetes/apps/tools/whoami/kustomization.yaml (new)"),
        ],
        T,
    );
    t.press_until(&["Tab"], &[Has("+  - whoami"), Lacks("==> cluster")], T);
    t.press_until(
        &["C-s"],
        &[Has("Write these 7 files, run homelab check, commit?")],
        T,
    );
    let done = t.press_until(
        &["y"],
        &[Has("homelab check passes"), Has("Committed ")],
        Duration::from_secs(120),
    );
    assert!(done.contains("\"apps: add whoami\""), "{done}");
    quit_to_home_then_shell(&t);

    let repo = lab.repo();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(head.message().unwrap(), "apps: add whoami");
    assert_eq!(head.parent_id(0).unwrap(), before);
    assert_eq!(head.author().name().unwrap(), lab::AUTHOR);
    assert_eq!(head.author().email().unwrap(), lab::EMAIL);
    let parent = head.parent(0).unwrap();
    let diff = repo
        .diff_tree_to_tree(
            Some(&parent.tree().unwrap()),
            Some(&head.tree().unwrap()),
            None,
        )
        .unwrap();
    let mut changed: Vec<String> = diff
        .deltas()
        .map(|d| d.new_file().path().unwrap().display().to_string())
        .collect();
    changed.sort();
    let app = "cluster/kubernetes/apps/tools/whoami";
    assert_eq!(
        changed,
        [
            "cluster/kubernetes/apps/tools/kustomization.yaml".to_string(),
            format!("{app}/deployment.yaml"),
            format!("{app}/httproute.yaml"),
            format!("{app}/kustomization.yaml"),
            format!("{app}/namespace.yaml"),
            format!("{app}/networkpolicy.yaml"),
            format!("{app}/service.yaml"),
        ]
    );
    assert_eq!(
        lab.dirty(),
        Vec::<String>::new(),
        "the work tree matches the commit"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .arg("--repo")
        .arg(&root)
        .arg("check")
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
