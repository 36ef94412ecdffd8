//! The observability stage's Prometheus and Alertmanager probes against the real thing:
//! Debian's `prometheus` and `prometheus-alertmanager` on loopback (Prometheus evaluates a
//! `Watchdog` rule of `vector(1)` and sends it to the Alertmanager; it scrapes itself and the
//! Alertmanager, and in the second test a port where nothing listens), attached behind the
//! Services' pods in the kube simulator, reached by the stage through port-forwards.

use crate::obs_stage::{ObsLab, run};
use crate::support::{net, require_peer};
use homelab::stages::observability;
use homelab::stages::probe::Evidence;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Prometheus and an Alertmanager, killed on drop.
struct Peers {
    dir: tempfile::TempDir,
    prom_addr: SocketAddr,
    am_addr: SocketAddr,
    children: Vec<Child>,
}

impl Drop for Peers {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Peers {
    /// `None` (after SKIP) without the binaries. `extra_target`: one more scrape target.
    fn start(extra_target: Option<SocketAddr>) -> Option<Peers> {
        if !require_peer("prometheus") || !require_peer("prometheus-alertmanager") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (prom_addr, am_addr) = (net::free_addr(), net::free_addr());
        std::fs::write(
            d.join("am.yml"),
            "route:\n  receiver: default\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: default\n",
        )
        .unwrap();
        std::fs::write(
            d.join("rules.yml"),
            "groups:\n  - name: general.rules\n    interval: 1s\n    rules:\n      - alert: Watchdog\n        expr: vector(1)\n        labels: {severity: none}\n        annotations: {summary: \"An alert that should always be firing to certify that Alertmanager is working properly.\"}\n",
        )
        .unwrap();
        let mut scrape = format!(
            "scrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['{prom_addr}']}}]\n  - job_name: alertmanager\n    static_configs: [{{targets: ['{am_addr}']}}]\n"
        );
        if let Some(t) = extra_target {
            scrape.push_str(&format!(
                "  - job_name: dead\n    static_configs: [{{targets: ['{t}']}}]\n"
            ));
        }
        std::fs::write(
            d.join("prom.yml"),
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [{}]\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\n{scrape}",
                d.join("rules.yml").display()
            ),
        )
        .unwrap();
        let log = |n: &str| {
            Stdio::from(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(d.join(n))
                    .unwrap(),
            )
        };
        let am = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", d.join("am.yml").display()))
            .arg(format!("--storage.path={}", d.join("am-data").display()))
            .arg(format!("--web.listen-address={am_addr}"))
            .arg("--cluster.listen-address=")
            .stdout(log("am.log"))
            .stderr(log("am.log"))
            .spawn()
            .expect("start prometheus-alertmanager");
        let prom = Command::new("prometheus")
            .arg(format!("--config.file={}", d.join("prom.yml").display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                d.join("prom-data").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}"))
            .arg("--rules.alert.resend-delay=1s")
            .stdout(log("prom.log"))
            .stderr(log("prom.log"))
            .spawn()
            .expect("start prometheus");
        Some(Peers {
            dir,
            prom_addr,
            am_addr,
            children: vec![am, prom],
        })
    }

    fn logs(&self) -> String {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        format!(
            "--- prom.log\n{}\n--- am.log\n{}",
            read("prom.log"),
            read("am.log")
        )
    }
}

/// Put the real peers behind the Services' pods (the last attachment wins).
fn attach(lab: &ObsLab, peers: &Peers) {
    for (port, addr) in [(9090, peers.prom_addr), (9093, peers.am_addr)] {
        lab.flux
            .sim
            .serve_port(
                "monitoring",
                "app.kubernetes.io/instance=kube-prometheus-stack",
                port,
                addr,
            )
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_prometheus_targets_up_and_a_real_watchdog_reach_the_stage_through_port_forwards() {
    let Some(peers) = Peers::start(None) else {
        return;
    };
    let lab = ObsLab::new().await;
    attach(&lab, &peers);
    // Targets start `unknown` and the Watchdog needs a few seconds to reach Alertmanager: the
    // probes wait for both.
    let (result, events) = run(&lab.stage(Duration::from_secs(60)), &lab.journal).await;
    result.unwrap_or_else(|e| {
        panic!(
            "{e:?}\n{:#?}\n{}",
            crate::flux_stage::logs(&events),
            peers.logs()
        )
    });
    let ev: Vec<Evidence> = crate::flux_stage::logs(&events)
        .iter()
        .filter_map(|l| Evidence::parse(l))
        .collect();
    let targets = ev.iter().find(|e| e.probe == "prometheus/targets").unwrap();
    assert_eq!(targets.read, "2 of 2 active targets up", "{targets:?}");
    let dog = ev
        .iter()
        .find(|e| e.probe == "alertmanager/watchdog")
        .unwrap();
    assert!(
        dog.ok && dog.read.starts_with("Watchdog active since "),
        "{dog:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_target_that_is_down_is_named_with_prometheus_own_error() {
    let dead = net::free_addr();
    let Some(peers) = Peers::start(Some(dead)) else {
        return;
    };
    let lab = ObsLab::new().await;
    attach(&lab, &peers);
    let (result, events) = run(&lab.stage(Duration::from_secs(8)), &lab.journal).await;
    let err = result.expect_err("a target is down");
    let step = events.iter().find_map(|e| match &e.kind {
        homelab::stages::engine::EventKind::StepFailed { step, .. } => Some(step.clone()),
        _ => None,
    });
    assert_eq!(
        step.as_deref(),
        Some(observability::STEP_TARGETS),
        "{err:?}"
    );
    assert!(
        err.message
            .contains(&format!("Prometheus targets down: dead {dead} (")),
        "{err:?}\n{}",
        peers.logs()
    );
    assert!(err.message.contains("connection refused"), "{err:?}");
}

fn otel_sdk() -> bool {
    let ok = Command::new("python3")
        .args([
            "-c",
            "import opentelemetry.sdk, opentelemetry.exporter.otlp.proto.http",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let reason = "the OpenTelemetry Python SDK (pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http) is missing";
        assert!(
            std::env::var("HOMELAB_REQUIRE_PEERS").as_deref() != Ok("1"),
            "{reason} and HOMELAB_REQUIRE_PEERS=1: install it (see .ci/run)"
        );
        println!("SKIP: {reason}");
    }
    ok
}

/// The OpenTelemetry SDK's own OTLP/HTTP exporter (protobuf) sends a span to the collector
/// simulator; Tempo's API, read by our client, returns that trace with that span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdks_span_reaches_tempo_through_the_collector_simulator() {
    if !otel_sdk() {
        return;
    }
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let traces = homelab::sim::traces::TracesSim::start(any, any, true)
        .await
        .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/otel/send_span.py"
    );
    let run = tokio::process::Command::new("python3")
        .arg(script)
        .env(
            "OTLP_ENDPOINT",
            format!("{}/v1/traces", traces.collector_url()),
        )
        .env_remove("OTEL_EXPORTER_OTLP_COMPRESSION")
        .env_remove("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the SDK script did not finish within 60 s")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let trace_id = ids["trace_id"].as_str().unwrap();
    let span_id = ids["span_id"].as_str().unwrap();
    // What the collector received, as the SDK encoded it (protobuf).
    let held = traces.spans();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].service, "sdk-probe");
    assert_eq!(held[0].name, "sdk-span");
    // Tempo returns it (base64 ids in its JSON, read back as hex).
    let tempo = homelab::backends::traces::TempoClient::new(
        &traces.tempo_url(),
        homelab::backends::endpoint::Auth::None,
        homelab::backends::endpoint::Timeouts::default(),
    )
    .unwrap();
    let spans = tempo
        .trace(trace_id)
        .await
        .unwrap()
        .expect("Tempo has the trace");
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].trace_id, trace_id);
    assert_eq!(spans[0].span_id, span_id);
    assert_eq!(spans[0].name, "sdk-span");
    let other = "0".repeat(31) + "1";
    assert_eq!(
        tempo.trace(&other).await.unwrap(),
        None,
        "404 for another trace"
    );
    traces.stop().await;
}
