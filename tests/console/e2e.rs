//! The real binary in a real terminal (tmux): `homelab console` against the simulators,
//! driven with send-keys and read back with capture-pane.

use crate::support;
use homelab::sim::alerts::AlertsSim;
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use std::process::Command;
use std::time::{Duration, Instant};

/// A private tmux server running one command in a 140x40 window; killed on drop.
struct Term {
    socket: String,
    _home: tempfile::TempDir,
}

impl Term {
    fn start(cmd: &[&str]) -> Option<Self> {
        if !support::require_peer("tmux") {
            return None;
        }
        let home = tempfile::tempdir().unwrap();
        let socket = format!("homelab-console-e2e-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "-L",
                &socket,
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-s",
                "main",
            ])
            .args([
                "-x",
                "140",
                "-y",
                "40",
                "env",
                "-i",
                "PATH=/usr/local/bin:/usr/bin:/bin",
            ])
            .args(["TERM=xterm-256color", "LANG=C.UTF-8", "TZ=UTC"])
            .arg(format!("HOME={}", home.path().display()))
            .arg(format!("HOMELAB_REPO={}", env!("CARGO_MANIFEST_DIR")))
            .args(cmd)
            .status()
            .expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        Some(Self {
            socket,
            _home: home,
        })
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "main"];
        args.extend_from_slice(keys);
        self.tmux(&args);
    }

    fn literal(&self, text: &str) {
        self.tmux(&["send-keys", "-t", "main", "-l", text]);
    }

    /// Poll the screen until it holds every needle (a generous bound, not a timing assert).
    async fn wait_for(&self, needles: &[&str]) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.tmux(&["capture-pane", "-p", "-t", "main"]);
            if needles.iter().all(|n| s.contains(n)) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needles:?}; screen:\n{s}"
            );
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn homelab_console_shows_alerts_and_logs_pivots_and_filters_in_loki() {
    let opts = LokiSimOptions {
        rate: 30,
        history_secs: 120,
        ..Default::default()
    };
    let loki = LokiSim::start("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let alerts = AlertsSim::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let (lu, au) = (loki.url(), alerts.url());
    let bin = env!("CARGO_BIN_EXE_homelab");
    let Some(term) = Term::start(&[
        bin,
        "console",
        "--loki",
        &lu,
        "--prometheus",
        &au,
        "--alertmanager",
        &au,
    ]) else {
        return;
    };
    term.wait_for(&[
        "Prometheus live",
        "Alertmanager live",
        "KubePodCrashLooping",
        "Loki live",
        "FOLLOW",
    ])
    .await;

    // Enter on the first alert (FluxKustomizationFailing): its logs, from before it started.
    term.keys(&["Enter"]);
    let s = term
        .wait_for(&[
            r#"❯ {namespace="flux-system", app="kustomize-controller"}"#,
            "Reconciliation",
        ])
        .await;
    assert!(
        !s.contains("GET /healthz"),
        "only the pivot's stream is shown:\n{s}"
    );

    // A line filter typed into the LogQL box runs in Loki.
    term.keys(&["e", "C-u"]);
    term.literal(r#"{namespace="media"} |= "ECONNREFUSED""#);
    term.keys(&["Enter"]);
    let s = term
        .wait_for(&[
            r#"❯ {namespace="media"} |= "ECONNREFUSED""#,
            "ECONNREFUSED 10.43.12.7:5432",
        ])
        .await;
    assert!(
        !s.contains("Jellyfin.Api"),
        "the filter ran before the limit:\n{s}"
    );

    // `q` goes back to the home screen.
    term.keys(&["q"]);
    term.wait_for(&["Bootstrap", "Env files"]).await;
    drop(term);
    loki.stop().await;
    alerts.stop().await;
}
