//! The real binary in a real terminal (tmux): `homelab bootstrap` opens the wizard, reviews the
//! plan against the simulator, runs the stage on Enter and shows it done.

use crate::support::*;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "main"])
    }
    fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen();
            if s.contains(needle) {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "`{needle}` did not appear within {timeout:?}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_runs_the_proxmox_stage_in_a_real_terminal() {
    let have_tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !require_peer("tmux", have_tmux) {
        return;
    }
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

    let socket = format!("homelab-pve-e2e-{}", std::process::id());
    let cmd = format!(
        "env -i PATH=/usr/bin:/bin TERM=xterm-256color LANG=C.UTF-8 HOME={home} HOMELAB_STATE_DIR={home}/state PROXMOX_TOKEN_SECRET={secret} {bin} --repo {repo} bootstrap",
        home = dir.path().display(),
        secret = sim.token_secret,
        bin = env!("CARGO_BIN_EXE_homelab"),
        repo = repo.display(),
    );
    let tmux = tokio::task::spawn_blocking(move || {
        let ok = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "main",
                "-x",
                "120",
                "-y",
                "36",
                &cmd,
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        let t = Tmux { socket };
        // The wizard opens on the proxmox stage and reviews it by itself.
        t.wait_for("to write", Duration::from_secs(30));
        t.run(&["send-keys", "-t", "main", "Enter"]);
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
