//! Edits alternate between ours and sops on the same file: the MAC stays valid for both and each
//! one-value change is as small as sops' own (the value line, lastmodified, mac).

use super::interop::{DOTENV, YAML, dotenv_decrypted};
use super::support::{Lab, changed_lines, line_key, map_lines, ok};

/// Assert that only `key`, lastmodified and mac lines changed, and that `key` did.
fn assert_minimal(before: &str, after: &str, key: &str, lastmod: &str, mac: &str) {
    let changed = changed_lines(before, after);
    let keys: Vec<String> = changed.iter().map(|(a, _)| line_key(a)).collect();
    assert!(
        keys.iter().any(|k| k == key),
        "{key} did not change: {keys:?}"
    );
    assert!(
        keys.iter().any(|k| k == mac),
        "mac did not change: {keys:?}"
    );
    for k in &keys {
        assert!(
            k == key || k == lastmod || k == mac,
            "unexpected change in `{k}`: {changed:#?}"
        );
    }
}

/// Which tool does something.
#[derive(Clone, Copy)]
enum Tool {
    Ours,
    Sops,
}

/// One edit by `editor` (`args` of its set command), then: only `key`, lastmodified and mac
/// changed, and the other tool decrypts the file (MAC valid) to `expected`.
fn edit_then_cross_check(
    lab: &Lab,
    file: &str,
    editor: Tool,
    args: &[&str],
    key: &str,
    meta: (&str, &str),
    expected: &str,
) {
    let before = lab.read(file);
    let (edit, reader) = match editor {
        Tool::Ours => (lab.ours(args), lab.sops_cmd(&lab.key1, &["decrypt", file])),
        Tool::Sops => (lab.sops(args), lab.ours_cmd(&lab.key1, &["decrypt", file])),
    };
    ok(edit, &format!("set {key}"));
    assert_minimal(&before, &lab.read(file), key, meta.0, meta.1);
    let mut reader = reader;
    assert_eq!(
        ok(reader.output().unwrap(), "decrypt by the other tool"),
        expected,
        "after setting {key}"
    );
}

#[test]
fn dotenv_alternating_edits_three_rounds() {
    let Some(lab) = Lab::new() else { return };
    lab.write("site.env", DOTENV);
    ok(
        lab.sops(&["encrypt", "--in-place", "site.env"]),
        "sops encrypt",
    );
    let meta = ("sops_lastmodified", "sops_mac");
    let mut expected = dotenv_decrypted();
    for round in 0..3 {
        let value = format!("54{round}{round}");
        expected = replace_line(&expected, "DB_PORT=", &format!("DB_PORT={value}"));
        edit_then_cross_check(
            &lab,
            "site.env",
            Tool::Ours,
            &["set", "site.env", "DB_PORT", &value],
            "DB_PORT",
            meta,
            &expected,
        );

        let host = format!("db{round}.lan");
        expected = replace_line(&expected, "DB_HOST=", &format!("DB_HOST={host}"));
        let quoted = format!("\"{host}\"");
        edit_then_cross_check(
            &lab,
            "site.env",
            Tool::Sops,
            &["set", "site.env", "[\"DB_HOST\"]", &quoted],
            "DB_HOST",
            meta,
            &expected,
        );
    }
    // A set to the same value does not rewrite the file at all.
    let before = lab.read("site.env");
    ok(
        lab.ours(&["set", "site.env", "DB_HOST", "db2.lan"]),
        "idempotent set",
    );
    assert_eq!(lab.read("site.env"), before);
}

#[test]
fn yaml_alternating_edits_three_rounds() {
    let Some(lab) = Lab::new() else { return };
    lab.write("values.yaml", YAML);
    ok(lab.ours(&["encrypt", "values.yaml"]), "homelab env encrypt");
    let meta = ("lastmodified", "mac");
    let mut expected = YAML.to_string();
    let (mut secret, mut name) = ("s3cr3t".to_string(), "demo".to_string());
    for round in 0..3 {
        let new_secret = format!("secret-{round}");
        expected = expected.replace(
            &format!("secret: {secret}\n"),
            &format!("secret: {new_secret}\n"),
        );
        let path = "[\"app\"][\"nested\"][\"secret\"]";
        edit_then_cross_check(
            &lab,
            "values.yaml",
            Tool::Ours,
            &["set", "values.yaml", path, &new_secret],
            "secret",
            meta,
            &expected,
        );
        secret = new_secret;

        let new_name = format!("demo-{round}");
        expected = expected.replace(&format!("name: {name}\n"), &format!("name: {new_name}\n"));
        let quoted = format!("\"{new_name}\"");
        edit_then_cross_check(
            &lab,
            "values.yaml",
            Tool::Sops,
            &["set", "values.yaml", "[\"app\"][\"name\"]", &quoted],
            "name",
            meta,
            &expected,
        );
        name = new_name;
    }
}

#[test]
fn unset_and_add_match_sops_layout() {
    let Some(lab) = Lab::new() else { return };
    lab.write("a.env", DOTENV);
    ok(lab.ours(&["encrypt", "a.env"]), "encrypt");
    let before = lab.read("a.env");
    ok(lab.ours(&["unset", "a.env", "DUP"]), "unset");
    let after = lab.read("a.env");
    let removed: Vec<&str> = before
        .lines()
        .filter(|l| !after.lines().any(|m| m == *l))
        .collect();
    let removed_keys: Vec<String> = removed.iter().map(|l| line_key(l)).collect();
    assert!(removed_keys.iter().any(|k| k == "DUP"), "{removed_keys:?}");
    for k in &removed_keys {
        assert!(
            ["DUP", "sops_lastmodified", "sops_mac"].contains(&k.as_str()),
            "unexpected change: {k}"
        );
    }
    assert_eq!(after.lines().count() + 1, before.lines().count());
    assert!(ok(lab.sops(&["decrypt", "a.env"]), "sops decrypt").contains("DUP=second\n"));

    let out = lab.ours(&["unset", "a.env", "NOPE"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("key `NOPE` not found"));

    // A new key is appended after the data, before the metadata, as sops set does.
    let mut cmd = lab.ours_cmd(&lab.key1, &["set", "a.env", "NEW_KEY", "-"]);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"x\ny=z\n").unwrap();
    ok(child.wait_with_output().unwrap(), "set from stdin");
    let plain = ok(lab.sops(&["decrypt", "a.env"]), "sops decrypt");
    assert!(
        plain.ends_with("BOOLISH=true\nNEW_KEY=x\\ny=z\n"),
        "{plain}"
    );
}

#[test]
fn duplicate_same_value_keys_follow_the_iv_stash() {
    let Some(lab) = Lab::new() else { return };
    lab.write("dup.env", "A=x\nA=x\nB=y\n");
    ok(
        lab.sops(&["encrypt", "--in-place", "dup.env"]),
        "sops encrypt",
    );
    let before = lab.read("dup.env");
    let lines: Vec<&str> = before.lines().collect();
    assert_ne!(lines[0], lines[1], "sops draws separate IVs first");
    ok(lab.ours(&["set", "dup.env", "B", "z"]), "set B");
    let after = lab.read("dup.env");
    let new: Vec<&str> = after.lines().collect();
    // As sops does: both A lines take the IV of the last one decrypted.
    assert_eq!(new[0], lines[1]);
    assert_eq!(new[1], lines[1]);
    assert_eq!(
        ok(lab.sops(&["decrypt", "dup.env"]), "sops decrypt"),
        "A=x\nA=x\nB=z\n"
    );
}

#[test]
fn rotate_rewraps_and_rotate_data_key_reencrypts() {
    let Some(lab) = Lab::new() else { return };
    lab.write("r.env", DOTENV);
    ok(lab.ours(&["encrypt", "r.env"]), "encrypt");
    let before = lab.read("r.env");
    lab.write_config_recipients(&[&lab.r1, &lab.r2]);
    ok(lab.ours(&["rotate", "r.env", "--yes"]), "rotate");
    let after = lab.read("r.env");
    for (a, _) in changed_lines_prefix(&before, &after) {
        assert!(
            a.starts_with("sops_age__"),
            "only age lines change on updatekeys: {a}"
        );
    }
    assert!(after.contains(&format!("sops_age__list_1__map_recipient={}\n", lab.r2)));
    // The second identity can now open it, with sops and with ours.
    let with2 = lab
        .sops_cmd(&lab.key2, &["decrypt", "r.env"])
        .output()
        .unwrap();
    assert_eq!(
        ok(with2, "sops decrypt with identity 2"),
        dotenv_decrypted()
    );
    let ours2 = lab
        .ours_cmd(&lab.key2, &["decrypt", "r.env"])
        .output()
        .unwrap();
    assert_eq!(
        ok(ours2, "ours decrypt with identity 2"),
        dotenv_decrypted()
    );

    ok(
        lab.ours(&["rotate", "r.env", "--data-key"]),
        "rotate --data-key",
    );
    let rotated = lab.read("r.env");
    let host = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("DB_HOST="))
            .unwrap()
            .to_string()
    };
    assert_ne!(
        host(&after),
        host(&rotated),
        "values are re-encrypted under the new key"
    );
    assert_eq!(
        ok(lab.sops(&["decrypt", "r.env"]), "sops decrypt after rotate"),
        dotenv_decrypted()
    );
}

/// Changed or added lines (updatekeys adds lines, so counts may differ).
fn changed_lines_prefix(a: &str, b: &str) -> Vec<(String, String)> {
    let old: Vec<&str> = a.lines().collect();
    b.lines()
        .filter(|l| !old.contains(l))
        .map(|l| (l.to_string(), String::new()))
        .collect()
}

fn replace_line(text: &str, prefix: &str, new_line: &str) -> String {
    map_lines(text, |l| {
        if l.starts_with(prefix) {
            new_line.to_string()
        } else {
            l.to_string()
        }
    })
}
