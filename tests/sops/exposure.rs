//! Secrets outside files: values on the command line, the process's memory, and rotation to
//! recipients nobody reviewed. Results are decrypted with the real sops.

use crate::support::{Lab, ok};
use homelab::secrets::EncryptedFile;
use homelab::secrets::keys::identities_from_text;

fn encrypted_lab() -> Option<Lab> {
    let lab = Lab::new()?;
    lab.write("e.env", "K3S_TOKEN=old\n");
    assert!(lab.ours(&["encrypt", "e.env"]).status.success());
    Some(lab)
}

#[test]
fn env_set_takes_the_value_on_stdin_and_warns_about_the_argv_form() {
    let Some(lab) = encrypted_lab() else { return };
    let argv = lab.ours(&["set", "e.env", "K3S_TOKEN", "on-the-command-line"]);
    assert!(argv.status.success());
    let err = String::from_utf8_lossy(&argv.stderr);
    assert!(
        err.contains("warning: the value is on the command line"),
        "{err}"
    );
    let out = {
        use std::io::Write;
        let mut child = lab
            .ours_cmd(&lab.key1, &["set", "e.env", "K3S_TOKEN"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"from-stdin\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("warning"));
    let plain = ok(lab.sops(&["decrypt", "e.env"]), "sops decrypt");
    assert_eq!(plain, "K3S_TOKEN=from-stdin\n");
}

#[test]
fn decrypting_marks_the_process_non_dumpable() {
    let Some(lab) = encrypted_lab() else { return };
    let ids = identities_from_text(&std::fs::read_to_string(&lab.key1).unwrap(), "lab");
    let _opened = EncryptedFile::load(&lab.path("e.env"))
        .unwrap()
        .open(&ids)
        .unwrap();
    assert!(!homelab::secrets::process::dumpable());
}

#[test]
fn rotate_asks_before_giving_new_recipients_the_data_key() {
    let Some(lab) = encrypted_lab() else { return };
    let before = lab.read("e.env");
    lab.write_config_recipients(&[&lab.r1, &lab.r2]);
    // No terminal, no --yes: refused, the new recipient named, nothing written.
    let out = lab
        .ours_cmd(&lab.key1, &["rotate", "e.env"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("+ {}", lab.r2)) && err.contains("--yes"),
        "{err}"
    );
    assert_eq!(lab.read("e.env"), before);
    let denied = lab
        .sops_cmd(&lab.key2, &["decrypt", "e.env"])
        .output()
        .unwrap();
    assert!(!denied.status.success(), "key2 cannot open it yet");
    // --yes accepts: sops opens it with the new recipient's key.
    let out = lab
        .ours_cmd(&lab.key1, &["rotate", "e.env", "--yes"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain = ok(
        lab.sops_cmd(&lab.key2, &["decrypt", "e.env"])
            .output()
            .unwrap(),
        "sops decrypt with the new recipient",
    );
    assert_eq!(plain, "K3S_TOKEN=old\n");
}
