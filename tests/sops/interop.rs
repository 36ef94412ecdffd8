//! Files we write decrypt with the real sops to exactly the expected plaintext, and files sops
//! writes decrypt with ours to exactly its plaintext: dotenv, YAML and JSON.

use super::support::{Lab, line_key, ok};

pub const DOTENV: &str = "# Top comment\n\
DB_HOST=localhost\n\
DB_PORT=5432\n\
EMPTY=\n\
EQ_VALUE=a=b=c\n\
SPACES=  hello world  \n\
QUOTED=\"quoted value\"\n\
export EXPORTED=yes\n\
UNICODE=h\u{e9}llo w\u{f6}rld \u{2713}\n\
MULTI=line1\\nline2\\nline3\n\
\n\
#\n\
PUBLIC_unencrypted=visible\n\
DUP=first\n\
DUP=second\n\
BOOLISH=true\n";

/// What both tools print for DOTENV: the same without its blank line (sops drops them).
pub fn dotenv_decrypted() -> String {
    DOTENV.replace("\n\n", "\n")
}

/// Written in go-yaml's layout, so the decrypted text equals the input exactly.
pub const YAML: &str = "# top comment\n\
app:\n\
\x20   name: demo\n\
\x20   port: 8080\n\
\x20   ratio: 1.5\n\
\x20   enabled: true\n\
\x20   tags:\n\
\x20       - a\n\
\x20       - b\n\
\x20   nested:\n\
\x20       # inner comment\n\
\x20       secret: s3cr3t\n\
\x20       multi: |\n\
\x20           line one\n\
\x20           line two\n\
\x20   eq: a=b=c\n\
\x20   list_of_maps:\n\
\x20       - user: alice\n\
\x20         pass: wonder land\n\
\x20       - user: bob\n\
\x20         pass: \"1234\"\n\
public_unencrypted: shown\n\
empty: \"\"\n\
unicode: h\u{e9}llo w\u{f6}rld \u{2713}\n\
export_like: export FOO=bar\n\
quoted: 'a: b'\n\
# foot comment\n";

const JSON: &str = "{\n\t\"a\": \"x\\u003c\\u0026\\u003e\",\n\t\"n\": 5,\n\t\"f\": 1.5,\n\t\"b\": true,\n\t\"nul\": null,\n\t\"l\": [\n\t\t1,\n\t\t\"two\",\n\t\t{\n\t\t\t\"k\": \"v\"\n\t\t}\n\t],\n\t\"m\": {\n\t\t\"z\": \"\u{e9}\",\n\t\t\"e\": \"\"\n\t},\n\t\"em\": {},\n\t\"el\": []\n}\n";

/// Encrypt `plain` as `name` with ours, check sops decrypts it to `expected`; then encrypt the
/// same plaintext with sops and check ours decrypts it to `expected`. Returns both encrypted texts.
fn both_directions(lab: &Lab, name: &str, plain: &str, expected: &str) -> (String, String) {
    lab.write(name, plain);
    ok(lab.ours(&["encrypt", name]), "homelab env encrypt");
    let ours_enc = lab.read(name);
    assert_eq!(
        ok(lab.sops(&["decrypt", name]), "sops decrypt (ours->sops)"),
        expected,
        "sops reading our {name}"
    );
    assert_eq!(
        ok(
            lab.ours(&["decrypt", name]),
            "homelab env decrypt (ours->ours)"
        ),
        expected
    );

    let sops_name = format!("sops-{name}");
    lab.write(&sops_name, plain);
    ok(
        lab.sops(&["encrypt", "--in-place", &sops_name]),
        "sops encrypt",
    );
    let sops_enc = lab.read(&sops_name);
    assert_eq!(
        ok(
            lab.ours(&["decrypt", &sops_name]),
            "homelab env decrypt (sops->ours)"
        ),
        expected
    );
    assert_eq!(
        ok(
            lab.sops(&["decrypt", &sops_name]),
            "sops decrypt (sops->sops)"
        ),
        expected
    );

    // Same structure line by line: the same keys in the same order, encrypted or not alike.
    let shape = |t: &str| -> Vec<(String, bool, bool)> {
        t.lines()
            .filter(|l| {
                !l.contains("lastmodified")
                    && !l.contains("sops_mac")
                    && !l.trim_start().starts_with("mac:")
            })
            .map(|l| (line_key(l), l.contains("ENC["), l.contains("type:comment")))
            .filter(|(k, _, _)| {
                !k.starts_with("sops_age") && !k.is_empty() && !k.starts_with("YWdl")
            })
            .collect()
    };
    if !name.ends_with(".yaml") {
        assert_eq!(
            shape(&ours_enc),
            shape(&sops_enc),
            "layout of ours vs sops for {name}"
        );
    }
    (ours_enc, sops_enc)
}

#[test]
fn dotenv_both_directions() {
    let Some(lab) = Lab::new() else { return };
    let (ours, sops) = both_directions(&lab, "site.env", DOTENV, &dotenv_decrypted());
    for enc in [&ours, &sops] {
        assert!(enc.contains("EMPTY=\n"), "empty values stay empty");
        assert!(enc.contains("PUBLIC_unencrypted=visible\n"));
        assert!(enc.contains("export EXPORTED=ENC["));
        assert!(enc.contains("\n#\n"), "empty comment stays");
        assert!(enc.ends_with("sops_version=3.11.0\n"));
        // `homelab check`'s audit reads both as fully encrypted: sops keeps `EMPTY=` empty,
        // and an empty value is not a plaintext secret.
        let a =
            homelab::secrets::audit::audit(enc, std::path::Path::new("site.env"), None).unwrap();
        assert_eq!(a.metadata_problem, None, "{a:?}");
        assert!(a.plaintext.is_empty(), "{a:?}");
    }
    // get prints the raw value (multi-line with a real newline).
    assert_eq!(
        ok(lab.ours(&["get", "sops-site.env", "MULTI"]), "get"),
        "line1\nline2\nline3"
    );
    assert_eq!(
        ok(
            lab.ours(&["get", "sops-site.env", "export EXPORTED"]),
            "get"
        ),
        "yes"
    );
}

#[test]
fn yaml_both_directions() {
    let Some(lab) = Lab::new() else { return };
    let (ours, sops) = both_directions(&lab, "values.yaml", YAML, YAML);
    for enc in [&ours, &sops] {
        assert!(enc.contains("type:int]"));
        assert!(enc.contains("type:float]"));
        assert!(enc.contains("type:bool]"));
        assert!(enc.contains("public_unencrypted: shown\n"));
        assert!(enc.contains("empty: \"\"\n"));
        let a =
            homelab::secrets::audit::audit(enc, std::path::Path::new("values.yaml"), None).unwrap();
        assert_eq!(a.metadata_problem, None, "{a:?}");
        assert!(a.plaintext.is_empty(), "{a:?}");
    }
    // The encrypted layouts match line for line apart from ciphertext.
    let strip = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| match l.find("ENC[") {
                Some(i) => format!("{}ENC", &l[..i]),
                None => l.to_string(),
            })
            .filter(|l| !l.starts_with("            ") && !l.contains("lastmodified"))
            .collect()
    };
    assert_eq!(strip(&ours), strip(&sops));
    assert_eq!(
        ok(
            lab.ours(&[
                "get",
                "sops-values.yaml",
                "[\"app\"][\"nested\"][\"secret\"]"
            ]),
            "get"
        ),
        "s3cr3t"
    );
}

#[test]
fn hand_written_yaml_normalises_exactly_like_sops() {
    let Some(lab) = Lab::new() else { return };
    let hand = "# k8s style, 2-space indent\napiVersion: v1\nkind: Secret\nmetadata:\n  name: demo # the name\n  labels: {app: demo, tier: \"db\"}\nstringData:\n  token: abc\n  list:\n  - one\n  - two: 2\n    three: yes\n  folded: >\n    folded\n    text\n";
    lab.write("hand.yaml", hand);
    lab.write("sops-hand.yaml", hand);
    ok(lab.ours(&["encrypt", "hand.yaml"]), "ours encrypt");
    ok(
        lab.sops(&["encrypt", "--in-place", "sops-hand.yaml"]),
        "sops encrypt",
    );
    let by_sops = ok(lab.sops(&["decrypt", "sops-hand.yaml"]), "sops decrypt");
    assert_eq!(
        ok(lab.sops(&["decrypt", "hand.yaml"]), "sops decrypt ours"),
        by_sops
    );
    assert_eq!(
        ok(
            lab.ours(&["decrypt", "sops-hand.yaml"]),
            "ours decrypt sops"
        ),
        by_sops
    );
}

#[test]
fn encrypted_regex_both_directions() {
    let Some(lab) = Lab::new() else { return };
    lab.write_config("encrypted_regex: ^(API_KEY|PASSWORD|data|stringData)$");
    let env = "API_KEY=abc\nAPI_HOST=example.com\n# note\nPASSWORD=pw\n";
    let (ours, sops) = both_directions(&lab, "api.env", env, env);
    for enc in [&ours, &sops] {
        assert!(enc.contains("API_HOST=example.com\n# note\n"), "{enc}");
        assert!(enc.contains("sops_encrypted_regex=^(API_KEY|PASSWORD|data|stringData)$\n"));
    }
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n    name: demo\n    namespace: apps\ntype: Opaque\nstringData:\n    # token comment\n    TOKEN: abc\n    PASSWORD: pw\n";
    let (ours, _) = both_directions(&lab, "secret.yaml", secret, secret);
    assert!(
        ours.contains("    name: demo\n"),
        "metadata stays readable for Flux: {ours}"
    );
    assert!(ours.contains("    TOKEN: ENC["));
}

#[test]
fn json_both_directions() {
    let Some(lab) = Lab::new() else { return };
    let (ours, _) = both_directions(&lab, "data.json", JSON, JSON);
    assert!(ours.contains("type:float]"));
    assert!(ours.contains("\t\"nul\": null,"));
}

#[test]
fn yaml_duplicate_keys_are_refused_like_sops() {
    let Some(lab) = Lab::new() else { return };
    lab.write("dup.yaml", "a: 1\na: 2\n");
    let sops = lab.sops(&["encrypt", "dup.yaml"]);
    assert!(!sops.status.success(), "sops refuses duplicate YAML keys");
    let ours = lab.ours(&["encrypt", "dup.yaml"]);
    assert_eq!(ours.status.code(), Some(2));
    let err = String::from_utf8_lossy(&ours.stderr);
    assert!(
        err.contains("dup.yaml:2") && err.contains("already defined"),
        "{err}"
    );
    assert_eq!(lab.read("dup.yaml"), "a: 1\na: 2\n", "file untouched");
}

#[test]
fn yaml_comment_placement_matches_sops() {
    let Some(lab) = Lab::new() else { return };
    let cases = [
        "# head 1\n\n# head 2 after blank\na:\n    # first in a\n    b: 1 # trailing b\n    c:\n        - x # trailing x\n        # between\n        - y\n    # foot of a\n# before d\nd:\n    e:\n        f: 1\n    # foot of d at 4\n# end\n",
        "list:\n  - name: a\n    # inside item\n    v: 1\n  - # comment after dash\n    name: b\ntop: |\n  keep\n\n  blank lines\nempty_map:\nnested:\n  deep:\n    deeper: \"x\"\n",
    ];
    for (i, case) in cases.iter().enumerate() {
        let ours = format!("ours{i}.yaml");
        let theirs = format!("theirs{i}.yaml");
        lab.write(&ours, case);
        lab.write(&theirs, case);
        ok(lab.ours(&["encrypt", &ours]), "ours encrypt");
        ok(
            lab.sops(&["encrypt", "--in-place", &theirs]),
            "sops encrypt",
        );
        let expected = ok(lab.sops(&["decrypt", &theirs]), "sops decrypt");
        assert_eq!(
            ok(lab.ours(&["decrypt", &theirs]), "ours decrypt sops' file"),
            expected,
            "case {i}"
        );
        let out = lab.sops(&["decrypt", &ours]);
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("possibly unencrypted comment"),
            "sops finds every comment where we encrypted it (same AAD), case {i}"
        );
        assert_eq!(ok(out, "sops decrypt ours"), expected, "case {i}");
    }
}
