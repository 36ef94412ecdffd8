//! The real binary in a real terminal (tmux): `homelab console` against the simulators,
//! driven with send-keys and read back with capture-pane.

use crate::support::manifest_dir;
use crate::support::tmux::{Has, Lacks, Launch, holds};
use homelab::sim::alerts::AlertsSim;
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use std::time::Duration;

/// The generous bound for the console to show something (not a timing assert).
const T: Duration = Duration::from_secs(60);

/// The text of the logs pane's rows (`HH:MM:SS.mmm text` inside the pane's border).
fn log_rows(screen: &str) -> Vec<&str> {
    let row = regex::Regex::new(r"[│┃](\d\d:\d\d:\d\d\.\d{3} .*)").expect("row regex");
    screen
        .lines()
        .filter_map(|l| row.captures(l).and_then(|c| c.get(1)).map(|m| m.as_str()))
        .collect()
}

/// Every log row on the screen (at least one) contains `text`. Checked as part of a wait: a
/// capture can land while the pane is half redrawn from the previous query's lines.
fn all_rows_contain(screen: &str, text: &str) -> bool {
    let rows = log_rows(screen);
    !rows.is_empty() && rows.iter().all(|r| r.contains(text))
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
    term.wait_screen(
        &[
            Has("Prometheus live"),
            Has("Alertmanager live"),
            Has("KubePodCrashLooping"),
            Has("Loki live"),
            Has("FOLLOW"),
        ],
        T,
    );

    // Enter on the first alert (FluxKustomizationFailing): its logs, from before it started,
    // and only the pivot's stream (the flux controller's JSON lines, every one about a
    // reconciliation; the default query also shows them, among every other app's lines).
    let pivot = r#"❯ {namespace="flux-system", app="kustomize-controller"}"#;
    term.keys(&["Enter"]);
    term.wait_until("the pivot's stream alone", T, |s| {
        holds(s, &[Has(pivot), Lacks("GET /healthz")]) && all_rows_contain(s, "Reconciliation")
    });

    // A line filter typed into the LogQL box runs in Loki: every line has the text. While the
    // box is open it shows the typed query behind `LogQL ❯`, so wait for it to be gone.
    let query = r#"{namespace="media"} |= "ECONNREFUSED""#;
    let shown = format!("❯ {query}");
    term.press_until(&["e", "C-u"], &[Has("LogQL ❯")], T);
    term.type_until(query, &[Has(&shown)], T);
    term.keys(&["Enter"]);
    term.wait_until("the filtered lines alone", T, |s| {
        holds(
            s,
            &[
                Has(&shown),
                Lacks("LogQL ❯"),
                Has("ECONNREFUSED 10.43.12.7:5432"),
                Lacks("Jellyfin.Api"),
            ],
        ) && all_rows_contain(s, "ECONNREFUSED")
    });

    // `q` goes back to the home screen.
    term.press_until(&["q"], &[Has("Bootstrap"), Has("Env files")], T);
    drop(term);
    loki.stop().await;
    alerts.stop().await;
}
