//! The real binary in tmux, driven with keys as a user would: `homelab env edit FILE`, change a
//! value, review the diff, save; the real sops reads the result and only that value changed.

use super::interop::{DOTENV, dotenv_decrypted};
use super::support::{Lab, changed_lines, line_key, ok};
use std::process::Command;
use std::time::{Duration, Instant};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("tmux");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn wait_for(session: &str, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let screen = tmux(&["capture-pane", "-t", session, "-p"]);
        if screen.contains(needle) {
            return screen;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "`{needle}` never appeared:\n{screen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn edit_save_in_tmux_then_sops_reads_it() {
    let Some(lab) = Lab::new() else { return };
    if !crate::ui_support::require_peer("tmux") {
        return;
    }
    let repo = lab.path("repo");
    std::fs::create_dir_all(repo.join("config/clusters")).unwrap();
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/clusters/prox-n100.yaml"
        ),
        repo.join("config/clusters/prox-n100.yaml"),
    )
    .unwrap();
    lab.write("repo/site.env", DOTENV);
    ok(lab.ours(&["encrypt", "repo/site.env"]), "encrypt");
    let before = lab.read("repo/site.env");

    let session = format!("homelab-env-{}", std::process::id());
    let command = format!(
        "cd {} && SOPS_AGE_KEY_FILE={} XDG_CONFIG_HOME={} XDG_STATE_HOME={} {} env edit site.env",
        repo.display(),
        lab.key1.display(),
        lab.path("xdg").display(),
        lab.path("state").display(),
        env!("CARGO_BIN_EXE_homelab")
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "32",
        &command,
    ]);
    let screen = wait_for(&session, "MAC verified");
    assert!(
        !screen.contains("localhost"),
        "values masked on open:\n{screen}"
    );
    // The first row is DB_HOST (comments are kept but are not rows).
    tmux(&["send-keys", "-t", &session, "Enter", "C-u"]);
    tmux(&["send-keys", "-t", &session, "-l", "db.tmux.lan"]);
    tmux(&["send-keys", "-t", &session, "Enter", "C-s"]);
    wait_for(&session, "~ changed  DB_HOST");
    tmux(&["send-keys", "-t", &session, "Enter"]);
    wait_for(&session, "Saved site.env");
    tmux(&["send-keys", "-t", &session, "q"]);
    tmux(&["kill-session", "-t", &session]);

    let after = lab.read("repo/site.env");
    let keys: Vec<String> = changed_lines(&before, &after)
        .iter()
        .map(|(a, _)| line_key(a))
        .collect();
    assert!(
        keys.iter()
            .all(|k| ["DB_HOST", "sops_lastmodified", "sops_mac"].contains(&k.as_str())),
        "{keys:?}"
    );
    let plain = ok(
        lab.sops(&["decrypt", "repo/site.env"]),
        "sops decrypt after the editor",
    );
    assert_eq!(
        plain,
        dotenv_decrypted().replace("DB_HOST=localhost", "DB_HOST=db.tmux.lan")
    );
}

/// Outside any repository (no config/clusters/ here or above) `homelab env edit FILE` opens the
/// editor on that file alone: the top bar names the file, a save works, sops reads it.
#[test]
fn edit_outside_a_repository_in_tmux() {
    let Some(lab) = Lab::new() else { return };
    if !crate::ui_support::require_peer("tmux") {
        return;
    }
    let dir = lab.path("loose");
    std::fs::create_dir_all(&dir).unwrap();
    lab.write("loose/site.env", DOTENV);
    ok(lab.ours(&["encrypt", "loose/site.env"]), "encrypt");
    let session = format!("homelab-env-loose-{}", std::process::id());
    let command = format!(
        "cd {} && SOPS_AGE_KEY_FILE={} XDG_CONFIG_HOME={} XDG_STATE_HOME={} {} env edit site.env; sleep 30",
        dir.display(),
        lab.key1.display(),
        lab.path("xdg").display(),
        lab.path("state").display(),
        env!("CARGO_BIN_EXE_homelab")
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "120",
        "-y",
        "32",
        &command,
    ]);
    let screen = wait_for(&session, "MAC verified");
    let top = screen.lines().next().unwrap_or_default().to_string();
    assert!(top.contains("site.env"), "top bar names the file: {top}");
    assert!(!screen.contains("config/clusters"), "{screen}");
    tmux(&["send-keys", "-t", &session, "Enter", "C-u"]);
    tmux(&["send-keys", "-t", &session, "-l", "db.loose.lan"]);
    tmux(&["send-keys", "-t", &session, "Enter", "C-s"]);
    wait_for(&session, "~ changed  DB_HOST");
    tmux(&["send-keys", "-t", &session, "Enter"]);
    wait_for(&session, "Saved site.env");
    tmux(&["kill-session", "-t", &session]);
    let plain = ok(
        lab.sops(&["decrypt", "loose/site.env"]),
        "sops decrypt after the editor",
    );
    assert_eq!(
        plain,
        dotenv_decrypted().replace("DB_HOST=localhost", "DB_HOST=db.loose.lan")
    );
}
