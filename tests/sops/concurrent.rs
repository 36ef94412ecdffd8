//! Two writers on one env file: `homelab env set` while the editor has the file open. Each
//! read-modify-write remembers the file's hash at load and refuses to write over a file that
//! changed since (under the file's advisory lock); the editor then offers reload or merge.
//! Results are decrypted with the real sops.

use crate::support::Lab;
use crate::ui_support as support;
use homelab::msg::{Action, BackendEvent};
use homelab::runtime::effects::{Effect, Effects, Job};
use homelab::screens::ScreenId;
use homelab::screens::env::Event as EnvEvent;
use homelab::secrets::Loaded;
use homelab::secrets::keys::identities_from_text;
use homelab::secrets::tree::{Node, PathStep, Scalar};
use homelab::secrets::{EncryptedFile, Opened, SopsError};

const PLAIN: &str = "K3S_TOKEN=old-token\nCLOUDFLARE_API_TOKEN=old-cf\nDOMAIN=example.invalid\n";

fn lab() -> Option<Lab> {
    let lab = Lab::new()?;
    lab.write("e.env", PLAIN);
    assert!(lab.ours(&["encrypt", "e.env"]).status.success());
    Some(lab)
}

fn open(lab: &Lab) -> Opened {
    let ids = identities_from_text(&std::fs::read_to_string(&lab.key1).unwrap(), "lab");
    EncryptedFile::load(&lab.path("e.env"))
        .unwrap()
        .open(&ids)
        .unwrap()
}

/// `homelab env set e.env KEY` with the value on stdin.
fn cli_set(lab: &Lab, key: &str, value: &str) {
    use std::io::Write;
    let mut child = lab
        .ours_cmd(&lab.key1, &["set", "e.env", key])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn decrypted(lab: &Lab) -> String {
    crate::support::ok(lab.sops(&["decrypt", "e.env"]), "sops decrypt")
}

#[test]
fn a_save_over_a_file_changed_since_it_was_read_is_refused() {
    let Some(lab) = lab() else { return };
    let mut stale = open(&lab);
    cli_set(&lab, "CLOUDFLARE_API_TOKEN", "from-cli");
    stale
        .set(
            &[PathStep::Key("K3S_TOKEN".into())],
            Node::Scalar(Scalar::Str("from-stale".into())),
        )
        .unwrap();
    let e = stale.save().unwrap_err();
    assert!(matches!(e, SopsError::ChangedOnDisk { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("changed on disk since homelab read it"),
        "{e}"
    );
    let plain = decrypted(&lab);
    assert!(plain.contains("CLOUDFLARE_API_TOKEN=from-cli\n"), "{plain}");
    assert!(plain.contains("K3S_TOKEN=old-token\n"), "{plain}");
}

/// Run the blocking tasks `update` asked for, feeding their events back; the editor's load task
/// is answered with `reload` (the lab's identity; the load task would discover the operator's).
fn run_tasks(app: &mut homelab::app::App, effects: Effects, reload: &dyn Fn() -> Opened) {
    for effect in effects {
        if let Effect::Spawn(task) = effect {
            let event = if task.key.0 == "env-load" {
                let opened = reload();
                BackendEvent::Env(EnvEvent::Loaded(Ok(Box::new(Loaded {
                    path: opened.path.clone(),
                    read_only: false,
                    opened,
                }))))
            } else if let Job::Blocking(f) = task.job {
                f()
            } else {
                continue;
            };
            let more = support::backend(app, event);
            run_tasks(app, more, reload);
        }
    }
}

fn editor_with_an_edit(lab: &Lab) -> homelab::app::App {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Env));
    let opened = open(lab);
    let loaded = Loaded {
        path: lab.path("e.env"),
        read_only: false,
        opened,
    };
    support::backend(
        &mut app,
        BackendEvent::Env(EnvEvent::Loaded(Ok(Box::new(loaded)))),
    );
    // K3S_TOKEN is the first row: edit it in the editor.
    support::press(&mut app, "enter");
    support::press(&mut app, "ctrl-u");
    support::type_text(&mut app, "from-editor");
    support::press(&mut app, "enter");
    app
}

#[test]
fn the_editor_refuses_to_revert_a_concurrent_env_set_and_merges_on_request() {
    let Some(lab) = lab() else { return };
    let mut app = editor_with_an_edit(&lab);
    cli_set(&lab, "CLOUDFLARE_API_TOKEN", "from-cli");
    let reload = || open(&lab);

    support::press(&mut app, "ctrl-s");
    let effects = support::press(&mut app, "enter");
    run_tasks(&mut app, effects, &reload);
    let frame = support::render(&mut app, 100, 30);
    assert!(support::contains(&frame, "changed on disk"), "{frame:?}");
    assert!(support::contains(&frame, "merge"), "{frame:?}");
    // Nothing was written: the CLI's value is there, the editor's is not.
    let plain = decrypted(&lab);
    assert!(plain.contains("CLOUDFLARE_API_TOKEN=from-cli\n"), "{plain}");
    assert!(plain.contains("K3S_TOKEN=old-token\n"), "{plain}");

    let effects = support::press(&mut app, "m");
    run_tasks(&mut app, effects, &reload);
    let doc = app.screens.env.doc().expect("merged document");
    assert_eq!(doc.model.diff().len(), 1, "only the editor's own change");
    support::press(&mut app, "ctrl-s");
    let effects = support::press(&mut app, "enter");
    run_tasks(&mut app, effects, &reload);
    assert!(app.screens.env.doc().is_some_and(|d| !d.model.is_dirty()));
    let plain = decrypted(&lab);
    assert!(plain.contains("CLOUDFLARE_API_TOKEN=from-cli\n"), "{plain}");
    assert!(plain.contains("K3S_TOKEN=from-editor\n"), "{plain}");
}

#[test]
fn reload_after_a_conflict_drops_the_edits_and_shows_the_file() {
    let Some(lab) = lab() else { return };
    let mut app = editor_with_an_edit(&lab);
    cli_set(&lab, "K3S_TOKEN", "from-cli");
    let reload = || open(&lab);
    support::press(&mut app, "ctrl-s");
    let effects = support::press(&mut app, "enter");
    run_tasks(&mut app, effects, &reload);
    let effects = support::press(&mut app, "r");
    run_tasks(&mut app, effects, &reload);
    let doc = app.screens.env.doc().expect("reloaded");
    assert!(!doc.model.is_dirty());
    assert_eq!(doc.model.value(0), Some("from-cli"));
    assert!(decrypted(&lab).contains("K3S_TOKEN=from-cli\n"));
}
