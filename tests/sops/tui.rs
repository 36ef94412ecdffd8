//! The real binary in tmux, driven with keys as a user would: `homelab env edit FILE`, change a
//! value, review the diff, save; the real sops reads the result and only that value changed.

use super::interop::{DOTENV, dotenv_decrypted};
use super::support::{Lab, changed_lines, line_key, ok};
use crate::ui_support::tmux::{Has, Lacks, Launch};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[test]
fn edit_save_in_tmux_then_sops_reads_it() {
    let Some(lab) = Lab::new() else { return };
    let Some(launch) = Launch::new("sops-env") else {
        return;
    };
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

    let t = launch
        .size(120, 32)
        .cwd(&repo)
        .env("SOPS_AGE_KEY_FILE", lab.key1.display().to_string())
        .env("XDG_CONFIG_HOME", lab.path("xdg").display().to_string())
        .env("XDG_STATE_HOME", lab.path("state").display().to_string())
        .run(&[env!("CARGO_BIN_EXE_homelab"), "env", "edit", "site.env"]);
    // Values are masked on open.
    t.wait_screen(
        &[Has("MAC verified"), Has("DB_HOST"), Lacks("localhost")],
        T,
    );
    // The first row is DB_HOST (comments are kept but are not rows).
    t.keys(&["Enter", "C-u"]);
    t.literal("db.tmux.lan");
    t.press_until(&["Enter", "C-s"], &[Has("~ changed  DB_HOST")], T);
    t.press_until(&["Enter"], &[Has("Saved site.env")], T);
    t.keys(&["q"]);
    drop(t);

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
    let Some(launch) = Launch::new("sops-env-loose") else {
        return;
    };
    let dir = lab.path("loose");
    std::fs::create_dir_all(&dir).unwrap();
    lab.write("loose/site.env", DOTENV);
    ok(lab.ours(&["encrypt", "loose/site.env"]), "encrypt");
    let t = launch
        .size(120, 32)
        .cwd(&dir)
        .env("SOPS_AGE_KEY_FILE", lab.key1.display().to_string())
        .env("XDG_CONFIG_HOME", lab.path("xdg").display().to_string())
        .env("XDG_STATE_HOME", lab.path("state").display().to_string())
        .run(&[env!("CARGO_BIN_EXE_homelab"), "env", "edit", "site.env"]);
    // The top bar names the file (waited for with the rest: a capture can be half a frame).
    let screen = t.wait_until("the editor on site.env", T, |s| {
        let top = s.lines().next().unwrap_or_default();
        s.contains("MAC verified") && top.contains("site.env")
    });
    assert!(!screen.contains("config/clusters"), "{screen}");
    t.keys(&["Enter", "C-u"]);
    t.literal("db.loose.lan");
    t.press_until(&["Enter", "C-s"], &[Has("~ changed  DB_HOST")], T);
    t.press_until(&["Enter"], &[Has("Saved site.env")], T);
    t.keys(&["q"]);
    drop(t);
    let plain = ok(
        lab.sops(&["decrypt", "loose/site.env"]),
        "sops decrypt after the editor",
    );
    assert_eq!(
        plain,
        dotenv_decrypted().replace("DB_HOST=localhost", "DB_HOST=db.loose.lan")
    );
}
