//! Wrong keys, tampered values and tampered MACs: refused with sops' exit codes and a message
//! that says what to do, and the file is left byte-identical.

use super::interop::DOTENV;
use super::support::{Lab, map_lines, ok};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn wrong_identity_names_the_expected_recipients() {
    let Some(lab) = Lab::new() else { return };
    lab.write("w.env", DOTENV);
    ok(lab.ours(&["encrypt", "w.env"]), "encrypt");
    let out = lab
        .ours_cmd(&lab.key2, &["decrypt", "w.env"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(128),
        "sops uses 128 for a missing data key"
    );
    let err = stderr(&out);
    assert!(
        err.contains(&lab.r1),
        "names the recipient the file expects: {err}"
    );
    assert!(
        err.contains(&lab.r2),
        "names the identity that was tried: {err}"
    );
    assert!(out.stdout.is_empty());
    // sops agrees.
    let sops = lab
        .sops_cmd(&lab.key2, &["decrypt", "w.env"])
        .output()
        .unwrap();
    assert_eq!(sops.status.code(), Some(128));

    // No identity at all: the message says where we looked.
    let missing = lab.path("nowhere.txt");
    let out = lab
        .ours_cmd(&missing, &["decrypt", "w.env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(128));
    let err = stderr(&out);
    assert!(
        err.contains("No age identity found") && err.contains("nowhere.txt"),
        "{err}"
    );
}

/// Flip one base64 character inside the `data:` of the line starting with `prefix`.
fn tamper_data(text: &str, prefix: &str) -> String {
    map_lines(text, |l| {
        if !l.starts_with(prefix) {
            return l.to_string();
        }
        let i = l.find("data:").unwrap() + 5;
        let flipped = if l.as_bytes()[i] == b'A' { 'B' } else { 'A' };
        format!("{}{}{}", &l[..i], flipped, &l[i + 1..])
    })
}

#[test]
fn tampered_value_is_refused_and_file_untouched() {
    let Some(lab) = Lab::new() else { return };
    lab.write("t.env", DOTENV);
    ok(lab.ours(&["encrypt", "t.env"]), "encrypt");
    let tampered = tamper_data(&lab.read("t.env"), "DB_HOST=");
    lab.write("t.env", &tampered);
    for args in [
        vec!["decrypt", "t.env"],
        vec!["set", "t.env", "DB_PORT", "1"],
        vec!["unset", "t.env", "DB_PORT"],
    ] {
        let out = lab.ours(&args);
        assert_eq!(out.status.code(), Some(25), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("DB_HOST"),
            "names the value: {}",
            stderr(&out)
        );
        assert_eq!(
            lab.read("t.env"),
            tampered,
            "file byte-identical after {args:?}"
        );
    }
    assert_eq!(
        lab.sops(&["decrypt", "t.env"]).status.code(),
        Some(25),
        "sops agrees"
    );
}

#[test]
fn mac_mismatch_is_refused_with_its_meaning() {
    let Some(lab) = Lab::new() else { return };
    lab.write("m.env", DOTENV);
    ok(lab.ours(&["encrypt", "m.env"]), "encrypt");
    let original = lab.read("m.env");

    // A plaintext (unencrypted-suffix) value changed by hand: every ciphertext is valid, the MAC is not.
    let edited = original.replace("PUBLIC_unencrypted=visible", "PUBLIC_unencrypted=changed");
    lab.write("m.env", &edited);
    for args in [
        vec!["decrypt", "m.env"],
        vec!["set", "m.env", "DB_PORT", "1"],
    ] {
        let out = lab.ours(&args);
        assert_eq!(out.status.code(), Some(51), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("MAC mismatch") && err.contains("changed outside sops"),
            "{err}"
        );
        assert_eq!(lab.read("m.env"), edited, "untouched");
    }
    assert_eq!(
        lab.sops(&["decrypt", "m.env"]).status.code(),
        Some(51),
        "sops agrees"
    );

    // Two lines swapped: same values, different order, different MAC.
    let mut lines: Vec<&str> = original.lines().collect();
    lines.swap(1, 2);
    let swapped = lines.join("\n") + "\n";
    lab.write("m.env", &swapped);
    assert_eq!(lab.ours(&["decrypt", "m.env"]).status.code(), Some(51));

    // The stored MAC itself tampered.
    let bad_mac = tamper_data(&original, "sops_mac=");
    lab.write("m.env", &bad_mac);
    let out = lab.ours(&["decrypt", "m.env"]);
    assert_eq!(out.status.code(), Some(51));
    assert!(
        stderr(&out).contains("cannot decrypt the MAC"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lab.read("m.env"), bad_mac);
}

#[test]
fn plaintext_and_garbage_inputs_get_clear_errors() {
    let Some(lab) = Lab::new() else { return };
    lab.write("p.env", "A=1\n");
    let out = lab.ours(&["decrypt", "p.env"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sops metadata not found"));

    lab.write("bad.env", "A=1\nNOEQUALS\n");
    let out = lab.ours(&["encrypt", "bad.env"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.env:2: invalid dotenv input line"),
        "{}",
        stderr(&out)
    );
    assert_eq!(lab.read("bad.env"), "A=1\nNOEQUALS\n");

    lab.write("e.env", "A=1\n");
    ok(lab.ours(&["encrypt", "e.env"]), "encrypt");
    let enc = lab.read("e.env");
    let out = lab.ours(&["encrypt", "e.env"]);
    assert_eq!(out.status.code(), Some(203), "already encrypted, as sops");
    assert_eq!(lab.read("e.env"), enc);
}
