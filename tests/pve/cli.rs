//! The `homelab` binary: `sim pve`, `bootstrap --plan`, `bootstrap --yes`, unimplemented stages.

use crate::support::*;
use std::path::Path;
use std::process::Command;

fn repo_with_cluster(yaml: &str, dir: &Path) {
    std::fs::create_dir_all(dir.join("config/clusters")).unwrap();
    std::fs::write(dir.join("id.pub"), format!("{KEY}\n")).unwrap();
    let yaml = yaml.replace(
        "/nonexistent/id_ed25519.pub",
        &dir.join("id.pub").display().to_string(),
    );
    std::fs::write(dir.join("config/clusters/simlab.yaml"), yaml).unwrap();
}

fn homelab(dir: &Path, secret: &str, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args(["--repo", &dir.display().to_string()])
        .args(args)
        .env("PROXMOX_TOKEN_SECRET", secret)
        .env("HOMELAB_STATE_DIR", dir.join("state"))
        .output()
        .unwrap()
}

/// A `bootstrap --stage proxmox --yes` of a one-node lab, started and held inside the stage:
/// the simulator stops it in the image download until the test releases `download`. Returns
/// when (a condition, not a time) the run has asked for the download.
async fn held_bootstrap(
    stderr: std::process::Stdio,
) -> (
    homelab::sim::pve::PveSim,
    tempfile::TempDir,
    std::process::Child,
) {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    sim.with(|st| st.hold.insert("download".into()));
    let dir = tempfile::tempdir().unwrap();
    repo_with_cluster(&cluster_yaml(&sim, &["pve"], port), dir.path());
    let d = dir.path();
    let mut run = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args(["--repo", &d.display().to_string()])
        .args(["bootstrap", "--stage", "proxmox", "--yes"])
        .env("PROXMOX_TOKEN_SECRET", &sim.token_secret)
        .env("HOMELAB_STATE_DIR", d.join("state"))
        .stdout(std::process::Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    while sim.with(|st| !st.seen.iter().any(|s| s.path.ends_with("/download-url"))) {
        assert!(run.try_wait().unwrap().is_none(), "the run ended early");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (sim, dir, run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_plan_then_yes_prints_timestamped_lines_and_is_idempotent() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let dir = tempfile::tempdir().unwrap();
    repo_with_cluster(&cluster_yaml(&sim, &["pve"], port), dir.path());
    let d = dir.path().to_owned();
    let secret = sim.token_secret.clone();

    let (d1, s1) = (d.clone(), secret.clone());
    let plan = tokio::task::spawn_blocking(move || {
        homelab(&d1, &s1, &["bootstrap", "--stage", "proxmox", "--plan"])
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&plan.stdout);
    assert!(
        plan.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&plan.stderr)
    );
    assert!(out.contains("PASS PVE API reachable"), "{out}");
    assert!(out.contains("Plan for stage proxmox"), "{out}");
    assert!(
        out.contains(
            "POST /nodes/pve/qemu/9000/clone newid=201 name=k3s-server-1 full=1 storage=local-lvm"
        ),
        "{out}"
    );
    assert_eq!(sim.writes(), 0, "--plan writes nothing");

    let (d2, s2) = (d.clone(), secret.clone());
    let run = tokio::task::spawn_blocking(move || {
        homelab(&d2, &s2, &["bootstrap", "--stage", "proxmox", "--yes"])
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ts = regex::Regex::new(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ proxmox  ").unwrap();
    assert!(
        out.lines().all(|l| ts.is_match(l) || l.starts_with("  ")),
        "{out}"
    );
    assert!(
        out.contains("[vm/k3s-agent-1/clone] | create full clone of drive scsi0"),
        "{out}"
    );
    assert!(out.contains("stage finished: "), "{out}");
    assert!(dir.path().join("state/simlab/journal.jsonl").is_file());

    let writes = sim.writes();
    let (d3, s3) = (d.clone(), secret.clone());
    let again = tokio::task::spawn_blocking(move || {
        homelab(&d3, &s3, &["bootstrap", "--stage", "proxmox", "--yes"])
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{out}");
    assert!(out.contains("stage finished: 0 changed"), "{out}");
    assert_eq!(sim.writes(), writes);

    let (d4, s4) = (d.clone(), secret);
    let storage = tokio::task::spawn_blocking(move || {
        homelab(&d4, &s4, &["bootstrap", "--stage", "storage", "--yes"])
    })
    .await
    .unwrap();
    // Every stage is in this build: storage runs, and stops at its first need this lab lacks.
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&storage.stdout),
        String::from_utf8_lossy(&storage.stderr)
    );
    assert!(!said.contains("not implemented in this build"), "{said}");
    // The simulated cluster's definition names no Synology: the preflight says which fields.
    assert!(said.contains("FAIL NFS export defined"), "{said}");
    assert!(
        said.contains("storage.nfs_server and storage.nfs_export"),
        "{said}"
    );
    assert_eq!(storage.status.code(), Some(1), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_certificate_needs_accept_new_under_yes() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let dir = tempfile::tempdir().unwrap();
    let fp = sim.fingerprint.clone().unwrap();
    let yaml = cluster_yaml(&sim, &["pve"], port).replace(
        &format!("    fingerprint: \"{fp}\"\n"),
        "    verify_ca: false\n",
    );
    repo_with_cluster(&yaml, dir.path());
    let (d, s) = (dir.path().to_owned(), sim.token_secret.clone());
    let out = tokio::task::spawn_blocking(move || {
        homelab(&d, &s, &["bootstrap", "--stage", "proxmox", "--yes"])
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&fp) && err.contains("--accept-new"), "{err}");

    let (d, s) = (dir.path().to_owned(), sim.token_secret.clone());
    let out = tokio::task::spawn_blocking(move || {
        homelab(
            &d,
            &s,
            &[
                "bootstrap",
                "--stage",
                "proxmox",
                "--plan",
                "--yes",
                "--accept-new",
            ],
        )
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("config/clusters/simlab.yaml")).unwrap();
    assert!(text.contains(&format!("fingerprint: \"{fp}\"")), "{text}");
}

#[test]
fn sim_pve_prints_url_token_and_fingerprint() {
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args(["sim", "pve", "--nodes", "2"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let done = line.starts_with("Ctrl-C");
        seen.push(line);
        if done {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    let text = seen.join("\n");
    assert!(text.contains("on https://127.0.0.1:"), "{text}");
    assert!(text.contains("nodes:        pve1, pve2"), "{text}");
    assert!(
        text.contains("API token:    homelab@pve!bootstrap"),
        "{text}"
    );
    let fp = regex::Regex::new(r"TLS SHA-256:  ([0-9A-F]{2}:){31}[0-9A-F]{2}").unwrap();
    assert!(fp.is_match(&text), "{text}");
}

/// `homelab bootstrap --stage S` without `--yes`/`--plan` opens the wizard on S; a wrong name is
/// refused before the terminal is touched, with the valid names.
#[test]
fn bootstrap_tui_with_an_unknown_stage_lists_the_stages_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = homelab(dir.path(), "unused", &["bootstrap", "--stage", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown stage `nope`"), "{err}");
    assert!(err.contains("secrets, proxmox, k3s"), "{err}");
    assert!(
        out.stdout.is_empty(),
        "no terminal setup on stdout: {out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_bootstrap_of_the_same_cluster_is_refused_and_names_the_first() {
    // The first run stops in the image download until the test releases it.
    let (sim, dir, mut first) = held_bootstrap(std::process::Stdio::piped()).await;
    let d = dir.path().to_owned();
    let writes = sim.writes();
    let (d2, s2) = (d.clone(), sim.token_secret.clone());
    let second = tokio::task::spawn_blocking(move || {
        homelab(&d2, &s2, &["bootstrap", "--stage", "proxmox", "--yes"])
    })
    .await
    .unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("another bootstrap of cluster `simlab` is running")
            && err.contains(&format!("pid {}", first.id()))
            && err.contains("started 20")
            && err.contains("bootstrap --stage proxmox --yes"),
        "{err}"
    );
    assert_eq!(sim.writes(), writes, "the second run changed nothing");
    sim.with(|st| st.release("download"));
    let status = tokio::task::spawn_blocking(move || first.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_yes_fails_when_verify_reports_a_failure() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let dir = tempfile::tempdir().unwrap();
    repo_with_cluster(&cluster_yaml(&sim, &["pve"], port), dir.path());
    let (d, s) = (dir.path().to_owned(), sim.token_secret.clone());
    // The agent VM is never started (its start and wait steps are skipped): the run itself
    // succeeds, verify finds the VM stopped.
    let out = tokio::task::spawn_blocking(move || {
        homelab(
            &d,
            &s,
            &[
                "bootstrap",
                "--stage",
                "proxmox",
                "--yes",
                "--skip",
                "vm/k3s-agent-1/start",
                "--skip",
                "vm/k3s-agent-1/wait",
            ],
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stage finished: "), "{stdout}");
    assert!(stdout.contains("FAIL k3s-agent-1"), "{stdout}");
    assert!(stdout.contains("proxmox  verify failed"), "{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_journal_is_named_and_fails_the_run() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let dir = tempfile::tempdir().unwrap();
    repo_with_cluster(&cluster_yaml(&sim, &["pve"], port), dir.path());
    // A directory where the journal file should be.
    std::fs::create_dir_all(dir.path().join("state/simlab/journal.jsonl")).unwrap();
    let (d, s) = (dir.path().to_owned(), sim.token_secret.clone());
    let out = tokio::task::spawn_blocking(move || {
        homelab(&d, &s, &["bootstrap", "--stage", "proxmox", "--yes"])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("proxmox  failed: cannot write the journal ")
            && stdout.contains("state/simlab/journal.jsonl: Is a directory"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(sim.writes(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_records_the_run_as_interrupted() {
    use homelab::stages::engine::{Journal, JournalKind, RunOutcome, StageId};
    let (_sim, dir, mut run) = held_bootstrap(std::process::Stdio::null()).await;
    let d = dir.path().to_owned();
    // SAFETY: a signal to our own child.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let status = tokio::task::spawn_blocking(move || run.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let journal = Journal::reader(d.join("state/simlab/journal.jsonl"));
    let entries = journal.entries().unwrap();
    let interrupted = entries
        .iter()
        .find(|e| e.kind == JournalKind::RunInterrupted)
        .expect("run_interrupted journalled");
    assert_eq!(
        interrupted.detail.as_deref(),
        Some("SIGTERM received; stopping at the next safe point")
    );
    let last = journal.last_runs().unwrap();
    assert_eq!(last[&StageId::Proxmox].outcome, RunOutcome::Interrupted);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_lab_plan_on_a_fresh_checkout_shows_every_stage() {
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let dir = tempfile::tempdir().unwrap();
    repo_with_cluster(&cluster_yaml(&sim, &["pve"], port), dir.path());
    let d = dir.path().to_owned();
    // No env file, no PROXMOX_TOKEN_SECRET: only the secrets stage will create them.
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_homelab"))
            .args(["--repo", &d.display().to_string()])
            .args(["bootstrap", "--plan"])
            .env_remove("PROXMOX_TOKEN_SECRET")
            .env_remove("PROXMOX_PASSWORD")
            .env("HOMELAB_STATE_DIR", d.join("state"))
            .env("HOME", &d)
            .env("XDG_CONFIG_HOME", d.join("xdg"))
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("Plan for stage secrets"),
        "{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("proxmox  inputs not there yet (")
            && stdout.contains(
                "will use: token secret: PROXMOX_TOKEN_SECRET from config/env/simlab.env (the secrets stage writes it)"
            )
            && stdout.contains("will use: VMs: k3s-server-1 (201 on pve), k3s-agent-1 (211 on pve)"),
        "{stdout}\n{stderr}"
    );
    assert!(stdout.contains("k3s      preflight"), "{stdout}\n{stderr}");
    assert_eq!(sim.writes(), 0, "--plan writes nothing");
}
