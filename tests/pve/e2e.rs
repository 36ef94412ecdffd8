//! The real binary in a real terminal (tmux): `homelab bootstrap` opens the wizard where the
//! journal says to resume (proxmox: secrets finished), reviews the plan against the simulator,
//! runs the stage on Enter and shows it done.

use crate::support::*;
use crate::ui::tmux::Launch;
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
        t.wait_for("Resuming at Proxmox VMs", Duration::from_secs(30));
        t.wait_for("to write", Duration::from_secs(30));
        t.keys(&["Enter"]);
        t.wait_for("✓ done:", Duration::from_secs(60));
        // After the run, the observed state (verify) is shown.
        let done = t.wait_for("Verified (observed now)", Duration::from_secs(30));
        (t, done)
    })
    .await
    .unwrap();
    let (tmux, done) = tmux;
    assert!(
        done.contains("k3s-agent-1") && done.contains("2/2 done") || done.contains("done"),
        "{done}"
    );
    assert!(sim.with(|st| st.vms.get(&201).is_some_and(|vm| vm.running)));
    assert!(sim.with(|st| st.vms.get(&211).is_some_and(|vm| vm.running)));
    assert!(dir.path().join("state/simlab/journal.jsonl").is_file());
    drop(tmux);
}
