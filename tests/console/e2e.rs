//! The real binary in a real terminal (tmux): `homelab console` against the simulators,
//! driven with send-keys and read back with capture-pane.

use crate::support::{manifest_dir, tmux::Launch};
use homelab::sim::alerts::AlertsSim;
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use std::time::Duration;

/// The generous bound for the console to show something (not a timing assert).
const T: Duration = Duration::from_secs(60);

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
    let Some(launch) = Launch::new("console") else {
        return;
    };
    let term = launch.size(140, 40).repo(&manifest_dir()).run(&[
        bin,
        "console",
        "--loki",
        &lu,
        "--prometheus",
        &au,
        "--alertmanager",
        &au,
    ]);
    term.wait_for_all(
        &[
            "Prometheus live",
            "Alertmanager live",
            "KubePodCrashLooping",
            "Loki live",
            "FOLLOW",
        ],
        T,
    );

    // Enter on the first alert (FluxKustomizationFailing): its logs, from before it started.
    term.keys(&["Enter"]);
    let s = term.wait_for_all(
        &[
            r#"❯ {namespace="flux-system", app="kustomize-controller"}"#,
            "Reconciliation",
        ],
        T,
    );
    assert!(
        !s.contains("GET /healthz"),
        "only the pivot's stream is shown:\n{s}"
    );

    // A line filter typed into the LogQL box runs in Loki.
    term.keys(&["e", "C-u"]);
    term.literal(r#"{namespace="media"} |= "ECONNREFUSED""#);
    term.keys(&["Enter"]);
    let s = term.wait_for_all(
        &[
            r#"❯ {namespace="media"} |= "ECONNREFUSED""#,
            "ECONNREFUSED 10.43.12.7:5432",
        ],
        T,
    );
    assert!(
        !s.contains("Jellyfin.Api"),
        "the filter ran before the limit:\n{s}"
    );

    // `q` goes back to the home screen.
    term.keys(&["q"]);
    term.wait_for_all(&["Bootstrap", "Env files"], T);
    drop(term);
    loki.stop().await;
    alerts.stop().await;
}
