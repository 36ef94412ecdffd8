//! The env editor screen, driven like a user: frames snapshotted into snapshots/env/ (masked,
//! revealed, editing, diff, error) with obviously fake values, and a real save through the
//! runtime's blocking task that sops then reads.

use crate::ui_support as support;
use homelab::msg::Action;
use homelab::runtime::effects::{Effect, Effects, Job};
use homelab::screens::ScreenId;
use homelab::screens::env::Event as EnvEvent;
use homelab::screens::env::Phase;
use homelab::secrets::keys::identities_from_text;
use homelab::secrets::metadata::CryptRule;
use homelab::secrets::{EncryptedFile, Format, Loaded, Opened};
use std::path::{Path, PathBuf};

const FAKE: &str = "# fake values for snapshots\nPROXMOX_TOKEN_SECRET=fake-0000-token\nK3S_TOKEN=not-a-real-token\nCLOUDFLARE_API_TOKEN=fake-cloudflare\nGRAFANA_ADMIN_USER=admin\nGRAFANA_ADMIN_PASSWORD=hunter2-fake\nMOTD=line one\\nline two\nEMPTY=\nDOMAIN=example.invalid\n";

/// A test-only identity (the shared sops vectors' identity.txt), so frames are deterministic.
/// Split in two so `homelab check` (secrets/private-key) does not flag this public test vector.
const TEST_IDENTITY: &str = concat!(
    "AGE-SECRET-KEY-",
    "1RJDEW98JEXFS4KEY4J255E3VM9UPDEX2T5NLXT5QAW5T9W8ZFAYSY2DU4H"
);
const TEST_RECIPIENT: &str = "age1l70nk2f0k4v2x5jsxsjp8rxj7059n37tk5upxfys6w9hp73a2c7s25x6ev";

/// A decrypted file as the load task would hand it over (real crypto, fake values).
fn loaded(path: &Path, read_only: bool) -> Loaded {
    let opened = Opened::new_plain(
        path,
        Format::Dotenv,
        FAKE,
        CryptRule::default(),
        false,
        &[TEST_RECIPIENT.to_string()],
    )
    .unwrap();
    Loaded {
        path: path.to_path_buf(),
        read_only,
        opened,
    }
}

/// Hand a decrypted file to the screen as its load task would.
fn deliver(app: &mut homelab::app::App, path: &Path, read_only: bool, opened: Opened) {
    let loaded = Loaded {
        path: path.to_path_buf(),
        read_only,
        opened,
    };
    support::backend(app, EnvEvent::Loaded(Ok(Box::new(loaded))));
}

fn open_editor(path: &Path) -> homelab::app::App {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Env));
    let l = loaded(path, false);
    deliver(&mut app, path, false, l.opened);
    app
}

fn fixture_path() -> PathBuf {
    // Relative, so frames do not depend on where the test runs.
    PathBuf::from("config/env/prox-n100.env")
}

#[test]
fn env_masked_and_revealed() {
    let mut app = open_editor(&fixture_path());
    support::assert_frames("env", "env_masked", &mut app);
    let frame = support::render(&mut app, 160, 48);
    assert!(
        !support::contains(&frame, "fake-0000-token"),
        "masked by default"
    );
    assert!(!support::contains(&frame, "hunter2"), "masked by default");

    support::press(&mut app, "v"); // reveal the selected row only
    let frame = support::render(&mut app, 160, 48);
    assert!(support::contains(&frame, "fake-0000-token"));
    assert!(
        !support::contains(&frame, "hunter2-fake"),
        "only the selected row"
    );
    support::assert_frames("env", "env_revealed_row", &mut app);

    // The reveal times out after 30 s (120 ticks).
    for _ in 0..121 {
        homelab::app::update(&mut app, homelab::msg::Msg::Tick);
    }
    assert!(
        !support::contains(&support::render(&mut app, 160, 48), "fake-0000-token"),
        "masked again"
    );

    support::press(&mut app, "V");
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "hunter2-fake")
            && support::contains(&frame, "line one ⏎ (+1 line)")
    );
}

#[test]
fn env_editing_and_diff() {
    let mut app = open_editor(&fixture_path());
    support::press(&mut app, "j"); // K3S_TOKEN
    support::press(&mut app, "enter");
    support::press(&mut app, "ctrl-u");
    support::type_text(&mut app, "new-fake-token");
    support::assert_frames("env", "env_editing", &mut app);
    support::press(&mut app, "enter");

    // Add a multi-line key, rename one, delete one.
    support::press(&mut app, "a");
    support::type_text(&mut app, "NEW_KEY");
    support::press(&mut app, "enter");
    support::type_text(&mut app, "first");
    support::press(&mut app, "ctrl-j");
    support::type_text(&mut app, "second");
    support::press(&mut app, "enter");
    support::press(&mut app, "g");
    support::press(&mut app, "r");
    support::press(&mut app, "ctrl-u");
    support::type_text(&mut app, "PROXMOX_TOKEN");
    support::press(&mut app, "enter");
    support::press(&mut app, "G");
    support::press(&mut app, "k"); // DOMAIN
    support::press(&mut app, "d");
    support::press(&mut app, "y"); // confirm the delete overlay
    support::assert_frames("env", "env_dirty", &mut app);

    support::press(&mut app, "ctrl-s");
    support::assert_frames("env", "env_diff", &mut app);
    let frame = support::render(&mut app, 160, 48);
    for needle in [
        "+ added    NEW_KEY",
        "~ changed  K3S_TOKEN",
        "→ renamed  PROXMOX_TOKEN_SECRET → PROXMOX_TOKEN",
        "- removed  DOMAIN",
    ] {
        assert!(support::contains(&frame, needle), "diff shows {needle}");
    }
    assert!(
        !support::contains(&frame, "new-fake-token") && !support::contains(&frame, "first"),
        "diff keeps values masked"
    );

    // Back to editing, undo everything: clean again, nothing to save.
    support::press(&mut app, "esc");
    for _ in 0..4 {
        support::press(&mut app, "u");
    }
    assert!(app.screens.env.doc().is_some_and(|d| !d.model.is_dirty()));
}

#[test]
fn env_search_filters_keys() {
    let mut app = open_editor(&fixture_path());
    support::press(&mut app, "/");
    support::type_text(&mut app, "grafana");
    support::press(&mut app, "enter");
    let frame = support::render(&mut app, 80, 24);
    assert!(
        support::contains(&frame, "GRAFANA_ADMIN_USER") && !support::contains(&frame, "K3S_TOKEN")
    );
    assert!(support::contains(&frame, "(2 of 8)"));
    support::press(&mut app, "esc");
    assert!(support::contains(
        &support::render(&mut app, 80, 24),
        "K3S_TOKEN"
    ));
}

#[test]
fn env_error_and_read_only() {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Env));
    let message = "config/env/prox-n100.env: no age identity matches this file.\n  The file can be opened by: age1l70nk2f0k4v2x5jsxsjp8rxj7059n37tk5upxfys6w9hp73a2c7s25x6ev\n  No age identity found; looked in: ~/.config/sops/age/keys.txt\n  Put your age key in ~/.config/sops/age/keys.txt, or point SOPS_AGE_KEY_FILE at it (or set SOPS_AGE_KEY).";
    support::backend(
        &mut app,
        EnvEvent::Loaded(Err((fixture_path(), message.into()))),
    );
    support::assert_frames("env", "env_error", &mut app);

    // Two lines swapped: every value decrypts, the MAC does not verify. Refused, with a way to
    // open it read-only; read-only refuses edits.
    let path = fixture_path();
    let mut fresh = loaded(&path, false);
    let text = fresh.opened.encrypt_to_text().unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.swap(1, 2);
    let enc = EncryptedFile::parse(&(lines.join("\n") + "\n"), &path, Format::Dotenv).unwrap();
    let ids = identities_from_text(TEST_IDENTITY, "test");
    deliver(&mut app, &path, false, enc.open(&ids).unwrap());
    assert!(matches!(
        app.screens.env.phase,
        Phase::Failed {
            can_open_read_only: true,
            ..
        }
    ));
    assert!(support::contains(
        &support::render(&mut app, 160, 48),
        "MAC mismatch"
    ));
    support::assert_frames("env", "env_mac_mismatch", &mut app);

    deliver(&mut app, &path, true, enc.open(&ids).unwrap());
    assert!(app.screens.env.doc().is_some_and(|d| d.read_only));
    support::press(&mut app, "enter");
    support::press(&mut app, "a");
    assert!(
        app.screens.env.doc().is_some_and(|d| !d.model.is_dirty()),
        "read-only refuses edits"
    );
    assert!(support::contains(
        &support::render(&mut app, 160, 48),
        "READ-ONLY"
    ));
}

/// Run the blocking tasks `update` asked for, as the runtime would, and feed their events back.
fn run_tasks(app: &mut homelab::app::App, effects: Effects) {
    for effect in effects {
        if let Effect::Spawn(task) = effect
            && let Job::Blocking(f) = task.job
        {
            let event = f();
            let more = support::backend(app, event);
            run_tasks(app, more);
        }
    }
}

#[test]
fn env_save_writes_a_file_sops_reads_and_quit_guard() {
    let Some(lab) = crate::support::Lab::new() else {
        return;
    };
    lab.write("e.env", FAKE);
    let out = lab.ours(&["encrypt", "e.env"]);
    assert!(out.status.success());
    let before = lab.read("e.env");
    // Decrypt with the lab's identity, as the screen's load task does with the discovered ones.
    let ids = identities_from_text(&std::fs::read_to_string(&lab.key1).unwrap(), "lab");
    let opened = EncryptedFile::load(&lab.path("e.env"))
        .unwrap()
        .open(&ids)
        .unwrap();
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Env));
    deliver(&mut app, &lab.path("e.env"), false, opened);
    assert!(app.screens.env.doc().is_some(), "loaded");

    support::press(&mut app, "j");
    support::press(&mut app, "enter");
    support::press(&mut app, "ctrl-u");
    support::type_text(&mut app, "rotated-fake");
    support::press(&mut app, "enter");

    // Leaving with unsaved changes asks first.
    support::press(&mut app, "q");
    assert!(support::contains(
        &support::render(&mut app, 80, 24),
        "Discard unsaved changes?"
    ));
    support::press(&mut app, "esc");
    assert_eq!(app.current, ScreenId::Env);

    support::press(&mut app, "ctrl-s");
    let effects = support::press(&mut app, "enter");
    run_tasks(&mut app, effects);
    assert!(
        app.screens.env.doc().is_some_and(|d| !d.model.is_dirty()),
        "saved"
    );
    let after = lab.read("e.env");
    let changed: Vec<String> = super::support::changed_lines(&before, &after)
        .into_iter()
        .map(|(a, _)| super::support::line_key(&a))
        .collect();
    assert!(
        changed
            .iter()
            .all(|k| ["K3S_TOKEN", "sops_lastmodified", "sops_mac"].contains(&k.as_str())),
        "{changed:?}"
    );
    let plain = super::support::ok(
        lab.sops(&["decrypt", "e.env"]),
        "sops decrypt after editor save",
    );
    assert!(plain.contains("K3S_TOKEN=rotated-fake\n"));

    // A clean document is dropped (zeroized) when the screen is left.
    support::press(&mut app, "q");
    assert!(app.screens.env.doc().is_none());
}

/// `homelab env edit FILE` outside a repository: the session has no cluster; the top bar shows
/// the file; other screens say they need a repository; back quits.
#[test]
fn env_file_only_session_outside_a_repository() {
    let path = PathBuf::from("/srv/loose/site.env");
    let session = homelab::app::Session::for_file(path.clone());
    let mut app = support::app_with(session, "homelab-dark");
    support::act(&mut app, Action::Open(ScreenId::Env));
    assert_eq!(app.current, ScreenId::Env);
    let l = loaded(&path, false);
    deliver(&mut app, &path, false, l.opened);
    app.toasts.clear();
    support::assert_frames("env", "env_file_only", &mut app);
    let frame = support::render(&mut app, 120, 30);
    let top = support::row_text(frame.buffer(), 0);
    assert!(top.contains("/srv/loose/site.env"), "{top}");
    assert!(!top.contains("prox-n100") && !top.contains("PVE"), "{top}");

    support::act(&mut app, Action::Open(ScreenId::Wizard));
    assert_eq!(
        app.current,
        ScreenId::Env,
        "no cluster: the wizard stays closed"
    );
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains("needs a repository")),
        "says why"
    );
    // No git status or cluster reload is started for a file-only session.
    let effects = support::act(&mut app, Action::Refresh);
    assert!(
        !effects
            .iter()
            .any(|e| matches!(e, Effect::Spawn(t) if t.key.to_string() == "repo-status")),
        "no git status outside a repository"
    );
}
