//! The `homelab check` command as a user runs it: exit codes, grouped text, JSON.

use crate::fixture::{repo_root, tree_with_fixture};
use std::process::Command;

fn homelab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_homelab"))
}

#[test]
fn clean_tree_exits_zero() {
    let out = homelab()
        .args(["check"])
        .current_dir(repo_root().join("cluster/kubernetes"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("ok: the repository conforms"), "{stdout}");
}

#[test]
fn violations_exit_one_grouped_by_rule() {
    let tmp = tree_with_fixture("swap");
    let out = homelab()
        .arg("--repo")
        .arg(tmp.path())
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let header = stdout.find("[swap/disabled]").expect("rule header");
    let loc = stdout
        .find("infrastructure/proxmox/prepare_node.sh:4")
        .expect("file:line");
    assert!(header < loc, "{stdout}");
    assert!(stdout.contains("fix: leave swap on"), "{stdout}");
    assert!(stdout.contains("4 violations of 1 rule"), "{stdout}");
}

#[test]
fn json_lists_rule_file_line_and_hint() {
    let tmp = tree_with_fixture("image");
    let out = homelab()
        .arg("--repo")
        .arg(tmp.path())
        .args(["check", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["ok"], false);
    let vs = v["violations"].as_array().unwrap();
    assert_eq!(vs.len(), 2);
    assert_eq!(vs[0]["rule"], "pinning/image");
    assert_eq!(
        vs[0]["file"],
        "cluster/kubernetes/apps/demos/podinfo/deployment.yaml"
    );
    assert_eq!(vs[0]["line"], 17);
    assert!(vs[0]["hint"].as_str().unwrap().contains("digest"));
    assert!(v["rules"].as_array().unwrap().len() >= 17);
}

#[test]
fn missing_repository_exits_two() {
    let tmp = tempfile::tempdir().unwrap();
    let out = homelab()
        .args(["check"])
        .current_dir(tmp.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repo"));
    let out = homelab()
        .arg("--repo")
        .arg(tmp.path().join("nope"))
        .arg("check")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn json_into_a_closed_pipe_exits_quietly() {
    // `homelab check --format json | head -1` with head already gone: the read end is closed
    // before homelab starts, so its first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = homelab()
        .args(["--repo"])
        .arg(repo_root())
        .args(["check", "--format", "json"])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn the_tui_without_a_terminal_says_so_in_one_line_and_lists_the_definition_problems() {
    let tmp = tempfile::tempdir().unwrap();
    let clusters = tmp.path().join("config/clusters");
    std::fs::create_dir_all(&clusters).unwrap();
    let yaml = std::fs::read_to_string(repo_root().join("config/clusters/prox-n100.yaml"))
        .unwrap()
        .replacen("name: prox-n100", "name: other-name", 1);
    std::fs::write(clusters.join("prox-n100.yaml"), yaml).unwrap();
    let out = homelab()
        .arg("--repo")
        .arg(tmp.path())
        .stdin(std::process::Stdio::null())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let mut lines = stderr.lines();
    assert_eq!(
        lines.next(),
        Some(
            "homelab: the TUI needs a terminal; without one use a subcommand (homelab check, homelab bootstrap --plan, homelab env ...; see homelab --help)"
        )
    );
    let rest: Vec<&str> = lines.collect();
    let located = regex::Regex::new(r"config/clusters/prox-n100\.yaml:\d+:\d+: ").unwrap();
    assert!(rest.iter().any(|l| located.is_match(l)), "{stderr}");
    assert!(
        !stderr.contains("os error")
            && !stderr.contains("backtrace")
            && !stderr.contains("panicked"),
        "{stderr}"
    );
}
