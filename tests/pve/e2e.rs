//! The real binary in a real terminal (tmux): `homelab bootstrap` opens the wizard where the
//! journal says to resume (proxmox: secrets finished), reviews the plan against the simulator,
//! runs the stage on Enter and shows it done.

use crate::support::*;
use crate::ui::tmux::{Has, Launch};
use std::process::Command;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_runs_the_proxmox_stage_in_a_real_terminal() {
    let Some(launch) = Launch::new("pve") else {
        return;
    };
    let port = free_port();
    let sim = sim(&["pve"], port).await;
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("config/clusters")).unwrap();
    std::fs::write(dir.path().join("id.pub"), format!("{KEY}\n")).unwrap();
    let yaml = cluster_yaml(&sim, &["pve"], port).replace(
        "/nonexistent/id_ed25519.pub",
        &dir.path().join("id.pub").display().to_string(),
    );
    std::fs::write(repo.join("config/clusters/simlab.yaml"), yaml).unwrap();
    let _ = Command::new("git").args(["init", "-q"]).arg(&repo).status();
    // The secrets stage finished earlier: the wizard resumes at proxmox.
    {
        use homelab::stages::engine::{Journal, JournalEntry, JournalKind, StageId};
        let journal = Journal::at(dir.path().join("state/simlab/journal.jsonl")).unwrap();
        for kind in [JournalKind::RunStarted, JournalKind::RunFinished] {
            journal
                .record(&JournalEntry::new(StageId::Secrets, None, kind))
                .unwrap();
        }
    }

    let launch = launch
        .size(120, 36)
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path().display().to_string())
        .env(
            "HOMELAB_STATE_DIR",
            dir.path().join("state").display().to_string(),
        )
        .env("PROXMOX_TOKEN_SECRET", sim.token_secret.to_string());
    let repo_arg = repo.display().to_string();
    let tmux = tokio::task::spawn_blocking(move || {
        let t = launch.run(&[
            env!("CARGO_BIN_EXE_homelab"),
            "--repo",
            &repo_arg,
            "bootstrap",
        ]);
        // The wizard resumes at the proxmox stage and reviews it by itself.
        t.wait_screen(
            &[Has("Resuming at Proxmox VMs"), Has("to write")],
            Duration::from_secs(30),
        );
        // After the run, the observed state (verify) is shown.
        t.press_until(
            &["Enter"],
            &[
                Has("✓ done:"),
                Has("Verified (observed now)"),
                Has("✓ k3s-server-1 (201): running"),
                Has("✓ k3s-agent-1 (211): running"),
            ],
            Duration::from_secs(60),
        );
        t
    })
    .await
    .unwrap();
    assert!(sim.with(|st| st.vms.get(&201).is_some_and(|vm| vm.running)));
    assert!(sim.with(|st| st.vms.get(&211).is_some_and(|vm| vm.running)));
    assert!(dir.path().join("state/simlab/journal.jsonl").is_file());
    drop(tmux);
}
