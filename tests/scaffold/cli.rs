//! `homelab scaffold app` as a script runs it: refusals, invalid input, the commit, the Secret.

use crate::lab::{AUTHOR, EMAIL, Lab, text};

const WHOAMI: &[&str] = &[
    "--name",
    "whoami",
    "--category",
    "tools",
    "--image",
    "traefik/whoami:v1.11.0",
    "--port",
    "80",
];

fn with<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = WHOAMI.to_vec();
    v.extend_from_slice(extra);
    v
}

#[test]
fn public_exposure_outside_the_allowlist_is_refused_with_the_memo_rule() {
    let lab = Lab::new(&[]);
    let out = lab.scaffold(&with(&["--exposure", "public", "--yes"]), "");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("--exposure: public exposure is refused for `whoami`: the Stage 1 memo (8.1) allows only Jellyfin, Jellyseerr and Navidrome in media"),
        "{t}"
    );
    assert!(t.contains("nothing was written"), "{t}");
    assert_eq!(lab.dirty(), Vec::<String>::new());
}

#[test]
fn a_name_taken_in_the_tree_is_refused() {
    let lab = Lab::new(&[]);
    for (name, at) in [
        (
            "podinfo",
            "the app folder cluster/kubernetes/apps/demos/podinfo",
        ),
        (
            "monitoring",
            "Namespace `monitoring` in cluster/kubernetes/platform/security/namespaces.yaml",
        ),
    ] {
        let mut args = with(&["--yes"]);
        args[1] = name;
        let out = lab.scaffold(&args, "");
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{t}");
        assert!(
            t.contains(&format!(
                "--name: `{name}` is already taken in the tree ({at})"
            )),
            "{t}"
        );
    }
    assert_eq!(lab.dirty(), Vec::<String>::new());
}

#[test]
fn invalid_input_lists_every_field_with_its_message_and_writes_nothing() {
    let lab = Lab::new(&[]);
    let out = lab.scaffold(
        &[
            "--name",
            "Bad_Name",
            "--category",
            "misc",
            "--image",
            "nginx:latest",
            "--port",
            "0",
            "--storage",
            "ceph",
            "--memory-request",
            "64MB",
            "--yes",
        ],
        "",
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    for want in [
        "--name: `Bad_Name` is not a DNS-safe app name",
        "--category: `misc` is not a category: media, tools, games or demos",
        "--image: `nginx:latest` uses the mutable tag latest",
        "--port: `0` is not a port: a number from 1 to 65535",
        "--storage: `ceph` is not a storage choice",
        "--memory-request: `64MB` is not a memory quantity",
    ] {
        assert!(t.contains(want), "wanted {want}\n{t}");
    }
    assert_eq!(lab.dirty(), Vec::<String>::new());
}

#[test]
fn dry_run_prints_every_file_and_the_diff_and_writes_nothing() {
    let lab = Lab::new(&[]);
    let out = lab.scaffold(&with(&["--storage", "nfs", "--dry-run"]), "");
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    for want in [
        "==> cluster/kubernetes/apps/tools/whoami/kustomization.yaml (new)",
        "==> cluster/kubernetes/apps/tools/whoami/namespace.yaml (new)",
        "==> cluster/kubernetes/apps/tools/whoami/networkpolicy.yaml (new)",
        "==> cluster/kubernetes/apps/tools/whoami/pvc.yaml (new)",
        "==> cluster/kubernetes/apps/tools/whoami/deployment.yaml (new)",
        "==> cluster/kubernetes/apps/tools/whoami/service.yaml (new)",
        "==> cluster/kubernetes/apps/tools/whoami/httproute.yaml (new)",
        "--- a/cluster/kubernetes/apps/tools/kustomization.yaml\n+++ b/cluster/kubernetes/apps/tools/kustomization.yaml",
        "   - vscode-server\n+  - whoami\n",
        "dry run, nothing was written",
    ] {
        assert!(t.contains(want), "wanted {want}\n{t}");
    }
    assert_eq!(lab.dirty(), Vec::<String>::new());
}

#[test]
fn the_commit_holds_exactly_the_app_with_the_configured_author() {
    let lab = Lab::new(&[]);
    // Something of the operator's own, staged and unstaged: it must stay out of the commit.
    let root = lab.root();
    std::fs::write(root.join("config/env/README.md"), "edited\n").unwrap();
    std::fs::write(root.join("docs/notes.md"), "mine\n").unwrap();
    {
        let repo = lab.repo();
        let mut index = repo.index().unwrap();
        index
            .add_path(std::path::Path::new("docs/notes.md"))
            .unwrap();
        index.write().unwrap();
    }
    let before = lab.repo().head().unwrap().peel_to_commit().unwrap().id();
    let out = lab.scaffold(
        &with(&[
            "--storage",
            "nfs",
            "--secret",
            "API_TOKEN",
            "--secrets-from-stdin",
            "--yes",
        ]),
        "API_TOKEN=t0ken\n",
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("homelab check passes"), "{t}");
    let repo = lab.repo();
    let head = repo.head().unwrap().peel_to_commit().unwrap();
    assert_eq!(head.message().ok(), Some("apps: add whoami"));
    assert_eq!(head.author().name().ok(), Some(AUTHOR));
    assert_eq!(head.author().email().ok(), Some(EMAIL));
    assert_eq!(head.committer().name().ok(), Some(AUTHOR));
    assert_eq!(head.parent_ids().collect::<Vec<_>>(), vec![before]);
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
        .map(|d| d.new_file().path().unwrap().to_string_lossy().into_owned())
        .collect();
    changed.sort();
    let app = "cluster/kubernetes/apps/tools/whoami";
    let mut want: Vec<String> = [
        "deployment.yaml",
        "httproute.yaml",
        "kustomization.yaml",
        "namespace.yaml",
        "networkpolicy.yaml",
        "pvc.yaml",
        "service.yaml",
        "whoami.sops.yaml",
    ]
    .iter()
    .map(|f| format!("{app}/{f}"))
    .chain(["cluster/kubernetes/apps/tools/kustomization.yaml".to_string()])
    .collect();
    want.sort();
    assert_eq!(changed, want);
    // The committed blobs are the files on disk, and only the operator's own changes are left.
    let blob = head
        .tree()
        .unwrap()
        .get_path(std::path::Path::new(
            "cluster/kubernetes/apps/tools/kustomization.yaml",
        ))
        .unwrap()
        .to_object(&repo)
        .unwrap()
        .peel_to_blob()
        .unwrap();
    assert_eq!(
        blob.content(),
        std::fs::read(root.join("cluster/kubernetes/apps/tools/kustomization.yaml")).unwrap()
    );
    let mut dirty = lab.dirty();
    dirty.sort();
    assert_eq!(dirty, vec!["config/env/README.md", "docs/notes.md"]);
}

#[test]
fn the_encrypted_secret_decrypts_with_the_real_sops() {
    let Some(sops) = crate::sops_support::peers() else {
        return;
    };
    let lab = Lab::new(&[]);
    let value = "pa ss\"word: with # and \\ and ünï";
    let out = lab.scaffold(
        &with(&[
            "--secret",
            "API_TOKEN",
            "--secret",
            "DB_URL",
            "--secrets-from-stdin",
            "--yes",
        ]),
        &format!("API_TOKEN={value}\nDB_URL=postgres://db:5432/x\n"),
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(!t.contains("pa ss"), "the value was printed:\n{t}");
    let file = lab
        .root()
        .join("cluster/kubernetes/apps/tools/whoami/whoami.sops.yaml");
    let on_disk = std::fs::read_to_string(&file).unwrap();
    assert!(
        !on_disk.contains("pa ss") && !on_disk.contains("postgres://"),
        "{on_disk}"
    );
    let dec = std::process::Command::new(&sops)
        .args(["decrypt", "--output-type", "json"])
        .arg(&file)
        .env("SOPS_AGE_KEY_FILE", &lab.key_file)
        .current_dir(lab.root())
        .output()
        .unwrap();
    assert!(
        dec.status.success(),
        "{}",
        String::from_utf8_lossy(&dec.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&dec.stdout).unwrap();
    assert_eq!(doc["kind"], "Secret");
    assert_eq!(doc["metadata"]["namespace"], "whoami");
    assert_eq!(doc["stringData"]["API_TOKEN"], value);
    assert_eq!(doc["stringData"]["DB_URL"], "postgres://db:5432/x");
    let recipients = on_disk.matches(&lab.recipient).count();
    assert_eq!(recipients, 1, "{on_disk}");
}

#[test]
fn a_result_that_fails_check_is_written_but_not_committed() {
    let lab = Lab::new(&[]);
    // A rule that encrypts the new app's files whole: the Secret's kind is ciphertext too, so
    // the Deployment's secretKeyRef points at nothing `homelab check` can see
    // (secrets/documented). It comes first, so it wins for the app; the tree's own rendered
    // Secrets keep the rule they were made with.
    let path = lab.root().join(".sops.yaml");
    let rules = std::fs::read_to_string(&path).unwrap();
    let rule = rules.replacen(
        "creation_rules:\n",
        &format!(
            "creation_rules:\n  - path_regex: apps/tools/whoami/\n    age: {}\n",
            lab.recipient
        ),
        1,
    );
    assert_ne!(rule, rules, "{rules}");
    std::fs::write(&path, rule).unwrap();
    {
        let repo = lab.repo();
        let mut index = repo.index().unwrap();
        index.add_path(std::path::Path::new(".sops.yaml")).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let head = repo.head().unwrap().peel_to_commit().unwrap();
        let sig = repo.signature().unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "whole-file rule", &tree, &[&head])
            .unwrap();
    }
    let before = lab.repo().head().unwrap().peel_to_commit().unwrap().id();
    let out = lab.scaffold(
        &with(&["--secret", "API_TOKEN", "--secrets-from-stdin", "--yes"]),
        "API_TOKEN=x\n",
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("[secrets/documented]"), "{t}");
    assert!(
        t.contains("the result fails `homelab check`, so nothing was committed"),
        "{t}"
    );
    assert_eq!(
        lab.repo().head().unwrap().peel_to_commit().unwrap().id(),
        before
    );
    assert!(
        lab.root()
            .join("cluster/kubernetes/apps/tools/whoami/deployment.yaml")
            .is_file()
    );
}

/// `homelab scaffold` alone is the form: a TUI screen, which needs a terminal.
#[test]
fn without_a_subcommand_scaffold_opens_the_form_which_needs_a_terminal() {
    let lab = Lab::new(&[]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_homelab"))
        .arg("--repo")
        .arg(lab.root())
        .arg("scaffold")
        .env("HOME", lab.dir.path())
        .env("XDG_STATE_HOME", lab.dir.path().join("state"))
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("the TUI needs a terminal"), "{t}");
    assert!(!t.contains("not in this build"), "{t}");
    assert_eq!(lab.dirty(), Vec::<String>::new());
}

#[test]
fn without_yes_and_without_a_terminal_to_ask_on_nothing_is_written() {
    let lab = Lab::new(&[]);
    let out = lab.scaffold_with(&with(&[]), "y\n", true);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(t.contains("no terminal to ask on: pass --yes"), "{t}");
    // The preview came first; the answer on stdin was not taken for a yes.
    assert!(
        t.contains("==> cluster/kubernetes/apps/tools/whoami/deployment.yaml (new)"),
        "{t}"
    );
    assert_eq!(lab.dirty(), Vec::<String>::new());
}
