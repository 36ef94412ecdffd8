//! The observability stage against the kube simulator, with Flux (the Flux stage's own run,
//! `flux_stage::FluxLab`) reconciling this repository's whole tree: the observability
//! HelmReleases install, the simulated charts create their Services and Promtail's DaemonSet,
//! and real listeners answer behind the Services' pods (`KubeSim::serve_port`): the Loki,
//! alerts, Grafana and OTel collector + Tempo simulators. A fresh run, a re-run that writes
//! nothing, a kill at every step then a resume, and each injected failure named.

pub use crate::flux_stage::run;
use crate::flux_stage::{FluxLab, Setup, evidence, failed, logs};
use homelab::sim::alerts::{AlertsSim, SimTarget};
use homelab::sim::grafana::GrafanaSim;
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use homelab::sim::traces::TracesSim;
use homelab::stages::engine::{EventKind, Journal, RunCx, Stage};
use homelab::stages::observability::{self, ObservabilityOptions, ObservabilityStage};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn any() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A Flux lab whose tree is Ready, with every observability peer behind its Service.
pub struct ObsLab {
    pub flux: FluxLab,
    pub loki: LokiSim,
    pub alerts: AlertsSim,
    pub grafana: GrafanaSim,
    pub traces: TracesSim,
    pub cluster_file: PathBuf,
    pub journal: PathBuf,
}

impl ObsLab {
    pub async fn new() -> ObsLab {
        let flux = FluxLab::new(Setup::default()).await;
        let (result, events) = run(&flux.stage(), &flux.journal).await;
        result.unwrap_or_else(|e| panic!("the Flux stage: {e:?}\n{:#?}", logs(&events)));
        let loki = LokiSim::start(
            any(),
            LokiSimOptions {
                rate: 50,
                history_secs: 60,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let alerts = AlertsSim::start(any()).await.unwrap();
        // The login the Flux stage rendered into Secret monitoring/grafana-admin.
        let grafana = GrafanaSim::start(any(), Some(("admin", "pw-1")))
            .await
            .unwrap();
        let traces = TracesSim::start(any(), any(), true).await.unwrap();
        for (ns, release, port, addr) in [
            ("monitoring", "kube-prometheus-stack", 9090, alerts.addr()),
            ("monitoring", "kube-prometheus-stack", 9093, alerts.addr()),
            ("logging", "loki", 3100, loki.addr()),
            ("monitoring", "grafana", 80, grafana.addr()),
            (
                "monitoring",
                "otel-collector",
                4318,
                traces.collector_addr(),
            ),
            ("monitoring", "tempo", 3200, traces.tempo_addr()),
        ] {
            flux.sim
                .serve_port(
                    ns,
                    &format!("app.kubernetes.io/instance={release}"),
                    port,
                    addr,
                )
                .unwrap();
        }
        let cluster_file = flux.work.join("config/clusters/fluxlab.yaml");
        std::fs::create_dir_all(cluster_file.parent().unwrap()).unwrap();
        std::fs::write(&cluster_file, original(&flux)).unwrap();
        let journal = flux.journal.with_file_name("obs-journal.jsonl");
        ObsLab {
            flux,
            loki,
            alerts,
            grafana,
            traces,
            cluster_file,
            journal,
        }
    }

    pub fn stage(&self, probe_timeout: Duration) -> ObservabilityStage {
        ObservabilityStage::new(
            self.flux.work.clone(),
            self.flux.cfg.clone(),
            ObservabilityOptions {
                kubeconfig: self.flux.kubeconfig.clone(),
                context: "default".into(),
                ready_timeout: Duration::from_secs(60),
                probe_timeout,
                trace_wait: Duration::from_secs(5),
                poll: Duration::from_millis(200),
            },
        )
    }
}

/// The cluster definition as the test writes it first: the shipped one, renamed (comments kept).
fn original(flux: &FluxLab) -> String {
    include_str!("../../config/clusters/prox-n100.yaml").replacen(
        "name: prox-n100",
        &format!("name: {}", flux.cfg.name),
        1,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_run_proves_every_peer_then_a_rerun_writes_nothing() {
    let lab = ObsLab::new().await;
    let stage = lab.stage(Duration::from_secs(30));
    let pre = stage.preflight().await;
    assert!(homelab::stages::engine::preflight_ok(&pre), "{pre:#?}");
    let (result, events) = run(&stage, &lab.journal).await;
    let summary = result.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert_eq!(
        summary.changed, 1,
        "only the definition is written: {summary:?}"
    );

    // Five probes, each with what it sent and read back.
    let ev = evidence(&events);
    let probes: Vec<&str> = ev.iter().map(|e| e.probe.as_str()).collect();
    assert_eq!(
        probes,
        [
            "prometheus/targets",
            "alertmanager/watchdog",
            "loki/promtail",
            "grafana/datasources",
            "otlp/trace"
        ],
        "{ev:#?}"
    );
    assert!(ev.iter().all(|e| e.ok), "{ev:#?}");
    let trace = ev.iter().find(|e| e.probe == "otlp/trace").unwrap();
    let sent = lab.traces.spans();
    assert_eq!(sent.len(), 1, "one span reached Tempo");
    assert!(trace.wrote.contains(&sent[0].trace_id), "{trace:?}");
    assert!(trace.read.contains("ours among them"), "{trace:?}");
    let loki = ev.iter().find(|e| e.probe == "loki/promtail").unwrap();
    for node in ["k3s-server-1", "k3s-agent-1", "k3s-agent-2"] {
        assert!(loki.read.contains(node), "{loki:?}");
    }
    let ds = ev
        .iter()
        .find(|e| e.probe == "grafana/datasources")
        .unwrap();
    assert!(
        ds.read.contains("prometheus: OK") && ds.read.contains("tempo: OK"),
        "{ds:?}"
    );

    // The console's port-forward targets, written in place with every comment kept.
    let text = std::fs::read_to_string(&lab.cluster_file).unwrap();
    let orig = original(&lab.flux);
    assert!(orig.lines().all(|l| text.lines().any(|t| t == l)), "{text}");
    let cfg: homelab::config::ClusterConfig = serde_yaml::from_str(&text).unwrap();
    assert_eq!(
        cfg.observability.loki_service.as_deref(),
        Some("logging/loki:3100")
    );
    assert_eq!(
        cfg.observability.prometheus_service.as_deref(),
        Some("monitoring/kube-prometheus-stack-prometheus:9090")
    );
    assert_eq!(
        cfg.observability.alertmanager_service.as_deref(),
        Some("monitoring/alertmanager-operated:9093")
    );
    // The console forwards to the targets written there, and reaches Loki through them.
    {
        use homelab::screens::console::endpoints::{self, EndpointOverrides, Origin};
        use homelab::screens::console::forwarded::{self, Kube};
        let targets = homelab::config::ObservabilityConfig {
            loki_service: cfg.observability.loki_service.clone(),
            prometheus_service: cfg.observability.prometheus_service.clone(),
            alertmanager_service: cfg.observability.alertmanager_service.clone(),
            ..Default::default()
        };
        let mut r = endpoints::resolve(
            &EndpointOverrides::default(),
            Some(&targets),
            &lab.flux.work.join("none.env"),
            &|_| None,
        );
        let (_forwards, _notes) = forwarded::fill_from(
            &mut r,
            &Kube {
                kubeconfig: lab.flux.kubeconfig.clone(),
                context: "default".into(),
            },
            Some(&targets),
            Arc::new(|_| {}),
        );
        let loki = r.loki.clone().unwrap();
        assert_eq!(loki.origin, Origin::PortForward(forwarded::LOKI));
        let client = homelab::backends::loki::LokiClient::new(
            &loki.url,
            homelab::backends::endpoint::Auth::None,
            homelab::backends::endpoint::Timeouts::default(),
        )
        .unwrap();
        client.ready().await.unwrap();
        let am = r.alertmanager.clone().unwrap();
        let am = homelab::backends::prom::AlertmanagerClient::new(
            &am.url,
            homelab::backends::endpoint::Auth::None,
            homelab::backends::endpoint::Timeouts::default(),
        )
        .unwrap();
        assert!(!am.alerts().await.unwrap().is_empty());
    }
    let checks = stage.verify().await.unwrap();
    assert!(
        checks
            .iter()
            .all(|c| c.status == homelab::stages::engine::CheckStatus::Pass),
        "{checks:#?}"
    );

    // Again: every step holds, nothing is written (the probes run again, with evidence).
    let modified = std::fs::metadata(&lab.cluster_file)
        .unwrap()
        .modified()
        .unwrap();
    let (again, events) = run(&stage, &lab.journal).await;
    let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert_eq!(again.changed, 0, "{again:?}");
    assert_eq!(again.held, observability::STEPS.len());
    assert_eq!(std::fs::read_to_string(&lab.cluster_file).unwrap(), text);
    assert_eq!(
        std::fs::metadata(&lab.cluster_file)
            .unwrap()
            .modified()
            .unwrap(),
        modified
    );
    assert_eq!(evidence(&events).len(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_step_a_rerun_finishes_and_a_third_run_writes_nothing() {
    let lab = ObsLab::new().await;
    let stage = Arc::new(lab.stage(Duration::from_secs(30)));
    for step in observability::STEPS {
        std::fs::write(&lab.cluster_file, original(&lab.flux)).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let cx = RunCx::new(tx, Journal::at(lab.journal.clone()).unwrap());
        let plan = stage.plan().await.unwrap();
        let s2 = stage.clone();
        let task = tokio::spawn(async move { s2.apply(&plan, &cx).await });
        let mut reached = false;
        while let Some(ev) = rx.recv().await {
            if matches!(&ev.kind, EventKind::StepStarted { step: s, .. } if s == step) {
                reached = true;
                break;
            }
        }
        assert!(reached, "step {step} started");
        // Kill: the run is dropped where it stands, as a SIGKILL would leave it.
        task.abort();
        let _ = task.await;
        let (result, events) = run(&*stage, &lab.journal).await;
        result.unwrap_or_else(|e| panic!("killed at {step}: {e:?}\n{:#?}", logs(&events)));
        let cfg: homelab::config::ClusterConfig =
            serde_yaml::from_str(&std::fs::read_to_string(&lab.cluster_file).unwrap()).unwrap();
        assert_eq!(
            cfg.observability.loki_service.as_deref(),
            Some("logging/loki:3100"),
            "killed at {step}"
        );
        let (again, events) = run(&*stage, &lab.journal).await;
        let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
        assert_eq!(again.changed, 0, "killed at {step}: {again:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loki_without_promtail_logs_from_one_node_names_that_node() {
    let lab = ObsLab::new().await;
    lab.loki.store().silence_node("k3s-agent-2");
    let (result, events) = run(&lab.stage(Duration::from_secs(1)), &lab.journal).await;
    let err = result.expect_err("the run fails");
    let (step, step_err) = failed(&events);
    assert_eq!(step, observability::STEP_LOKI);
    assert_eq!(err, step_err);
    assert!(
        err.message
            .contains("Loki has no Promtail logs from node k3s-agent-2"),
        "{err:?}"
    );
    assert!(!err.message.contains("k3s-agent-1"), "{err:?}");
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("spec.nodeName=k3s-agent-2")),
        "{err:?}"
    );
    let ev = evidence(&events);
    let loki = ev
        .iter()
        .find(|e| e.probe == "loki/promtail")
        .expect("its evidence");
    assert!(!loki.ok && loki.read.contains("k3s-agent-2: 0"), "{loki:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_a_missing_watchdog_and_a_failing_datasource_are_each_named() {
    let lab = ObsLab::new().await;
    let stage = lab.stage(Duration::from_secs(1));
    let mut targets = SimTarget::homelab_defaults();
    targets.push(SimTarget::down(
        "node-exporter",
        "k3s-agent-9:9100",
        "dial tcp 10.0.0.9:9100: connect: connection refused",
    ));
    lab.alerts.set_targets(targets);
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("a target is down");
    assert_eq!(failed(&events).0, observability::STEP_TARGETS);
    assert!(
        err.message
            .contains("Prometheus targets down: node-exporter k3s-agent-9:9100 (dial tcp"),
        "{err:?}"
    );

    lab.alerts.set_targets(SimTarget::homelab_defaults());
    lab.alerts.set_alerts(vec![]);
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("no Watchdog");
    assert_eq!(failed(&events).0, observability::STEP_WATCHDOG);
    assert!(
        err.message
            .contains("does not show the Watchdog alert firing"),
        "{err:?}"
    );

    lab.alerts
        .set_alerts(homelab::sim::alerts::SimAlert::homelab_defaults(0));
    lab.grafana.fail(
        "loki",
        "Unable to connect with Loki. Please check the server logs for more details.",
    );
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("a datasource fails");
    assert_eq!(failed(&events).0, observability::STEP_GRAFANA);
    assert!(
        err.message
            .contains("loki: ERROR Unable to connect with Loki"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_does_not_export_to_tempo_is_named_with_the_trace_it_lost() {
    let lab = ObsLab::new().await;
    let dropping = TracesSim::start(any(), any(), false).await.unwrap();
    lab.flux
        .sim
        .serve_port(
            "monitoring",
            "app.kubernetes.io/instance=otel-collector",
            4318,
            dropping.collector_addr(),
        )
        .unwrap();
    let (result, events) = run(&lab.stage(Duration::from_secs(1)), &lab.journal).await;
    let err = result.expect_err("Tempo never has the trace");
    assert_eq!(failed(&events).0, observability::STEP_TRACE);
    assert!(
        err.message
            .contains("the OTel collector accepted the span but Tempo has no trace"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("otel-collector/helmrelease.yaml")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_ready_promtail_pod_is_named() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams};
    let lab = ObsLab::new().await;
    let client = homelab::backends::kube::client::client_for(&lab.flux.kubeconfig, "default")
        .await
        .unwrap();
    // The Flux stage ends when the HelmRelease is Ready; Promtail's pods may still be starting.
    // Wait until all three run, so the fault below is the only reason one stops being Ready.
    assert_eq!(
        promtail_ready(&lab, |r| r == 3).await,
        Some(3),
        "Promtail never started on every node"
    );
    let pods = Api::<Pod>::namespaced(client.clone(), "logging")
        .list(&ListParams::default())
        .await
        .unwrap();
    let on_agent_2 = pods
        .items
        .iter()
        .find(|p| {
            p.metadata
                .owner_references
                .as_ref()
                .is_some_and(|o| o.iter().any(|o| o.kind == "DaemonSet"))
                && p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some("k3s-agent-2")
        })
        .and_then(|p| p.metadata.name.clone())
        .expect("Promtail's pod on k3s-agent-2");
    lab.flux
        .sim
        .inject(homelab::sim::kube::controllers::Fault::CrashLoop {
            namespace: "logging".into(),
            name: on_agent_2.clone(),
        });
    // The kubelet crash-loops it: wait for the pod to turn unready and the DaemonSet to count it
    // out.
    let mut pod_unready = false;
    for _ in 0..200 {
        let pod = Api::<Pod>::namespaced(client.clone(), "logging")
            .get(&on_agent_2)
            .await
            .unwrap();
        pod_unready = pod
            .status
            .and_then(|s| s.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "False"));
        if pod_unready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(pod_unready, "the crash loop did not start");
    assert_eq!(
        promtail_ready(&lab, |r| r == 2).await,
        Some(2),
        "the DaemonSet did not count the crashing pod out"
    );
    let stage = ObservabilityStage::new(
        lab.flux.work.clone(),
        lab.flux.cfg.clone(),
        ObservabilityOptions {
            kubeconfig: lab.flux.kubeconfig.clone(),
            context: "default".into(),
            ready_timeout: Duration::from_secs(2),
            probe_timeout: Duration::from_secs(1),
            trace_wait: Duration::from_secs(1),
            poll: Duration::from_millis(200),
        },
    );
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.expect_err("Promtail is not Ready everywhere");
    assert_eq!(failed(&events).0, observability::STEP_PROMTAIL);
    assert!(
        err.message
            .contains("2 of 3 pods Ready for 3 nodes; no Ready promtail pod on k3s-agent-2"),
        "{err:?}"
    );
}

/// Polls DaemonSet logging/promtail's numberReady until `done` holds (up to 20 s); the last value.
async fn promtail_ready(lab: &ObsLab, done: impl Fn(i64) -> bool) -> Option<i64> {
    let mut ready = None;
    for _ in 0..200 {
        let ds = lab
            .flux
            .object("apps/v1", "DaemonSet", "logging", "promtail")
            .unwrap();
        ready = ds.pointer("/status/numberReady").and_then(|v| v.as_i64());
        if ready.is_some_and(&done) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ready
}
