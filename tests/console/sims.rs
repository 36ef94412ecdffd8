//! The simulators checked with outside clients: `amtool` (shipped with Alertmanager) against
//! the alerts simulator.

use crate::support::require_peer;
use homelab::sim::alerts::AlertsSim;
use std::process::Command;

fn amtool(url: &str, args: &[&str]) -> String {
    let out = Command::new("amtool")
        .arg(format!("--alertmanager.url={url}"))
        .args(args)
        .output()
        .expect("run amtool");
    assert!(
        out.status.success(),
        "amtool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_lists_silences_and_expires_against_the_alerts_simulator() {
    if !require_peer("amtool") {
        return;
    }
    let sim = AlertsSim::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let url = sim.url();
    let (u1, u2) = (url.clone(), url.clone());
    let listed =
        tokio::task::spawn_blocking(move || amtool(&u1, &["alert", "query", "-o", "simple"]))
            .await
            .unwrap();
    assert!(
        listed.contains("KubePodCrashLooping") && listed.contains("Watchdog"),
        "{listed}"
    );
    assert!(
        !listed.contains("TargetDown"),
        "pending alerts are not in Alertmanager: {listed}"
    );
    let id = tokio::task::spawn_blocking(move || {
        amtool(
            &u2,
            &[
                "silence",
                "add",
                "alertname=Watchdog",
                "--comment=amtool cross-check",
                "--author=test",
                "--duration=1h",
            ],
        )
    })
    .await
    .unwrap();
    let id = id.trim().to_owned();
    assert_eq!(sim.active_silences(), vec![id.clone()]);
    let u3 = url.clone();
    let silenced = tokio::task::spawn_blocking(move || {
        amtool(&u3, &["alert", "query", "--silenced", "-o", "simple"])
    })
    .await
    .unwrap();
    assert!(silenced.contains("Watchdog"), "{silenced}");
    let (u4, id2) = (url.clone(), id.clone());
    tokio::task::spawn_blocking(move || amtool(&u4, &["silence", "expire", &id2]))
        .await
        .unwrap();
    assert!(sim.active_silences().is_empty());
    sim.stop().await;
}
