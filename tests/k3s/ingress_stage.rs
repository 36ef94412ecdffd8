//! The ingress stage against the simulators: the kube simulator after a real Flux stage run of
//! this repository's whole tree (Envoy Gateway, the Gateway, cert-manager's certificates,
//! cloudflared and external-dns all reconciled by its Flux controllers), and the Cloudflare v4
//! simulator following that cluster (cloudflared's connections, external-dns's records). A
//! fresh run and a second run that writes nothing but the probe (which it removes again), a
//! kill at every step then a rerun, and each injected failure diagnosed by name.

use crate::flux_stage::{FluxLab, Setup, evidence, failed, logs, run};
use homelab::backends::cloudflare::TxtRegistry;
use homelab::sim::cloudflare::{CloudflareSim, Fault as CfFault, SimOptions as CfOptions};
use homelab::sim::kube::controllers::Fault;
use homelab::stages::engine::{AutoConfirm, EventKind, Journal, Outcome, RunCx, Stage, StageEvent};
use homelab::stages::ingress::{self, IngressOptions, IngressStage, echo};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The tree's external-dns settings (txtOwnerId, txtPrefix of its HelmRelease).
fn registry() -> TxtRegistry {
    TxtRegistry {
        prefix: "k8s.".into(),
        owner: "prox-n100".into(),
        ..Default::default()
    }
}

struct IngressLab {
    flux: FluxLab,
    cf: CloudflareSim,
    ca: std::path::PathBuf,
    stop: CancellationToken,
}

impl Drop for IngressLab {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl IngressLab {
    /// Flux has reconciled the whole tree; the Cloudflare account holds the zone, the tunnel
    /// and the operator's `tunnel.<domain>` record, and follows the cluster.
    async fn new() -> IngressLab {
        let cf = CloudflareSim::start(CfOptions {
            zone: "funoffshore.com".into(),
            hosts: vec![],
            registry: registry(),
            ..Default::default()
        })
        .await
        .unwrap();
        let (zone, tunnel) = (cf.zone_id.clone(), cf.tunnel_id.clone());
        cf.with(|st| st.add_tunnel_cname(&zone, "tunnel.funoffshore.com", &tunnel));
        let env = format!(
            "GRAFANA_ADMIN_USER=admin\nGRAFANA_ADMIN_PASSWORD=pw-1\nCLOUDFLARE_API_TOKEN={}\n\
             CLOUDFLARE_TUNNEL_TOKEN={}\nTAILSCALE_AUTH_KEY=tskey-1\nVSCODE_SERVER_PASSWORD=code-1\n",
            cf.token,
            cf.tunnel_token.as_str()
        );
        let flux = FluxLab::new(Setup {
            env: Some(env),
            ..Default::default()
        })
        .await;
        // The definition the doctor's fixes name (the domain and its line).
        let def = flux.work.join("config/clusters/fluxlab.yaml");
        std::fs::create_dir_all(def.parent().unwrap()).unwrap();
        std::fs::write(
            &def,
            include_str!("../../config/clusters/prox-n100.yaml").replacen(
                "name: prox-n100",
                "name: fluxlab",
                1,
            ),
        )
        .unwrap();
        let (result, events) = run(&flux.stage(), &flux.journal).await;
        result.unwrap_or_else(|e| panic!("the Flux stage: {e:?}\n{:#?}", logs(&events)));
        let stop = CancellationToken::new();
        cf.follow_cluster(
            flux.sim.store().clone(),
            Duration::from_millis(50),
            stop.clone(),
        );
        let ca = flux.work.parent().unwrap().join("cloudflare-ca.pem");
        std::fs::write(&ca, &cf.ca_pem).unwrap();
        IngressLab { flux, cf, ca, stop }
    }

    fn options(&self) -> IngressOptions {
        IngressOptions {
            kubeconfig: self.flux.kubeconfig.clone(),
            context: "default".into(),
            repo: self.flux.work.clone(),
            identity_file: self.flux.identity_file.clone(),
            api_base: self.cf.url(),
            ca_file: Some(self.ca.clone()),
            wait: Duration::from_secs(20),
            poll: Duration::from_millis(100),
        }
    }

    fn stage(&self) -> IngressStage {
        IngressStage::new(self.flux.cfg.clone(), self.options())
    }

    fn journal(&self) -> std::path::PathBuf {
        self.flux.journal.with_file_name("ingress-journal.jsonl")
    }

    /// The probe's objects still in the cluster (`Kind/name`).
    fn leftovers(&self) -> Vec<String> {
        let mut out = vec![];
        for (api, kind) in [
            ("gateway.networking.k8s.io/v1", "HTTPRoute"),
            ("v1", "Service"),
            ("apps/v1", "Deployment"),
        ] {
            if self
                .flux
                .object(api, kind, echo::NAMESPACE, echo::NAME)
                .is_some()
            {
                out.push(format!("{kind}/{}", echo::NAME));
            }
        }
        out
    }
}

fn outcomes(events: &[StageEvent]) -> Vec<(String, Outcome)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::StepDone { step, outcome } => Some((step.clone(), *outcome)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_run_probes_through_the_gateway_and_a_second_run_writes_nothing_else() {
    let lab = IngressLab::new().await;
    let stage = lab.stage();
    let preflight = stage.preflight().await;
    assert!(
        homelab::stages::engine::preflight_ok(&preflight),
        "{preflight:#?}"
    );
    let (result, events) = run(&stage, &lab.journal()).await;
    result.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    let lines = logs(&events);
    // The probe's evidence: the marker sent came back through the Gateway.
    let ev = evidence(&events);
    assert_eq!(ev.len(), 1, "{lines:#?}");
    assert!(ev[0].ok, "{:?}", ev[0]);
    assert_eq!(ev[0].probe, "route/echo");
    let marker = ev[0].wrote.rsplit("msg=").next().unwrap().to_string();
    assert!(marker.starts_with("homelab-"), "{:?}", ev[0]);
    assert!(ev[0].read.starts_with("HTTP/1.1 200"), "{:?}", ev[0]);
    assert!(ev[0].read.contains(&marker), "{:?}", ev[0]);
    // The doctor's walk of the probe host passed every link from the listener down.
    for link in [
        "4. Gateway listener",
        "5. HTTPRoute status",
        "6. Service endpoints",
        "7. TLS certificate",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("link {link}"))),
            "{link}: {lines:#?}"
        );
    }
    // external-dns's records for every public host of the tree, owned, and the tunnel connected.
    let records = lab.cf.with(|st| st.records.clone());
    for host in [
        "jellyfin.funoffshore.com",
        "navidrome.funoffshore.com",
        "jellyseerr.funoffshore.com",
    ] {
        let cname = records
            .iter()
            .find(|r| r.name == host)
            .unwrap_or_else(|| panic!("{host}: {records:#?}"));
        assert!(
            cname.proxied && cname.content == "tunnel.funoffshore.com",
            "{cname:?}"
        );
        let txt = registry().txt_name(host, "CNAME");
        assert!(
            records
                .iter()
                .any(|r| r.name == txt && r.content.contains("external-dns/owner=prox-n100")),
            "{txt}"
        );
    }
    assert!(
        lines.iter().any(|l| l.contains("wrote proxied records")),
        "{lines:#?}"
    );
    assert!(lab.leftovers().is_empty(), "{:?}", lab.leftovers());
    let verify = stage.verify().await.unwrap();
    assert!(
        verify
            .iter()
            .all(|c| c.status == homelab::stages::engine::CheckStatus::Pass),
        "{verify:#?}"
    );

    // Again: every wait holds at once; only the probe runs (and removes its objects again).
    let requests = lab.cf.requests().len();
    let (again, events) = run(&stage, &lab.journal()).await;
    let again = again.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    assert_eq!(again.changed, 1, "{again:?}");
    for (step, outcome) in outcomes(&events) {
        let want = if step == ingress::STEP_PROBE {
            Outcome::Changed
        } else {
            Outcome::Held
        };
        assert_eq!(outcome, want, "{step}");
    }
    assert!(lab.leftovers().is_empty(), "{:?}", lab.leftovers());
    // Reads only: the stage never writes to Cloudflare.
    let writes: Vec<String> = lab.cf.requests()[requests..]
        .iter()
        .filter(|r| !r.starts_with("GET "))
        .cloned()
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_every_step_and_inside_the_probe_a_rerun_finishes_without_leftovers() {
    let lab = IngressLab::new().await;
    let stage = Arc::new(lab.stage());
    // Each step's start, then the moment the probe's objects were applied.
    let mut points: Vec<(String, bool)> = ingress::STEPS
        .iter()
        .map(|s| (s.to_string(), false))
        .collect();
    points.push((ingress::STEP_PROBE.into(), true));
    for (step, applied) in points {
        let (tx, mut rx) = tokio::sync::mpsc::channel(4096);
        let cx = RunCx::new(tx, Journal::at(lab.journal()).unwrap())
            .with_confirm(Arc::new(AutoConfirm(true)));
        let plan = stage.plan().await.unwrap();
        let s2 = stage.clone();
        let task = tokio::spawn(async move { s2.apply(&plan, &cx).await });
        let mut reached = false;
        let mut started = false;
        while let Some(ev) = rx.recv().await {
            match &ev.kind {
                EventKind::StepStarted { step: s, .. } if *s == step => {
                    started = true;
                    if !applied {
                        reached = true;
                        break;
                    }
                }
                EventKind::Log { line, .. }
                    if started && line.starts_with("HTTPRoute homelab-probe/echo") =>
                {
                    reached = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(reached, "{step} (applied: {applied}) reached");
        task.abort();
        let _ = task.await;
        if applied {
            assert!(
                !lab.leftovers().is_empty(),
                "the kill left the probe behind"
            );
        }
        let (result, events) = run(&*stage, &lab.journal()).await;
        result.unwrap_or_else(|e| {
            panic!(
                "killed at {step}: {e:?}\n{:#?}\n{:#}",
                logs(&events),
                lab.flux
                    .object("apps/v1", "Deployment", echo::NAMESPACE, echo::NAME)
                    .unwrap_or_default()["metadata"]
            )
        });
        assert!(
            lab.leftovers().is_empty(),
            "killed at {step}: {:?}: {:#}\n{:#?}",
            lab.leftovers(),
            lab.flux
                .object("apps/v1", "Deployment", echo::NAMESPACE, echo::NAME)
                .unwrap_or_default()["metadata"],
            logs(&events)
        );
        if applied {
            assert!(
                logs(&events)
                    .iter()
                    .any(|l| l == "removed a probe left by an interrupted run"),
                "{:#?}",
                logs(&events)
            );
        }
        let routes = lab
            .flux
            .sim
            .store()
            .for_kind("gateway.networking.k8s.io/v1", "HTTPRoute")
            .unwrap();
        let all = lab
            .flux
            .sim
            .store()
            .list(
                &routes.key(),
                Some(echo::NAMESPACE),
                &Default::default(),
                None,
                None,
            )
            .unwrap();
        assert!(
            all.items.is_empty(),
            "killed at {step}: no duplicate routes"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tunnel_without_connectors_is_named_with_the_command_to_run() {
    let lab = IngressLab::new().await;
    lab.cf.inject(CfFault::TunnelWithoutConnectors);
    let mut opts = lab.options();
    opts.wait = Duration::from_millis(500);
    let stage = IngressStage::new(lab.flux.cfg.clone(), opts);
    let (result, events) = run(&stage, &lab.journal()).await;
    let err = result.expect_err("the run fails");
    let (step, step_err) = failed(&events);
    assert_eq!(err, step_err);
    assert_eq!(step, ingress::STEP_TUNNEL);
    assert!(err.message.contains("2. tunnel connectors"), "{err:?}");
    assert!(
        err.message.contains("has no connected cloudflared"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or_default()
            .contains("kubectl -n networking logs deploy/cloudflared"),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_route_that_is_not_accepted_is_named_by_the_doctors_walk() {
    let lab = IngressLab::new().await;
    lab.flux.sim.inject(Fault::RouteNotAccepted {
        namespace: echo::NAMESPACE.into(),
        name: echo::NAME.into(),
    });
    let mut opts = lab.options();
    opts.wait = Duration::from_secs(2);
    let stage = IngressStage::new(lab.flux.cfg.clone(), opts);
    let (result, events) = run(&stage, &lab.journal()).await;
    let err = result.expect_err("the run fails");
    let (step, _) = failed(&events);
    assert_eq!(step, ingress::STEP_PROBE);
    assert!(err.message.contains("5. HTTPRoute status"), "{err:?}");
    assert!(err.message.contains("homelab-probe/echo"), "{err:?}");
    assert!(err.message.contains("NotAllowedByListeners"), "{err:?}");
    assert!(err.hint.is_some(), "{err:?}");
    // The failed probe removed its objects too.
    assert!(lab.leftovers().is_empty(), "{:?}", lab.leftovers());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unprogrammed_gateway_and_a_missing_record_are_named_with_their_fixes() {
    let lab = IngressLab::new().await;
    // external-dns wrote the record; then its TXT owner record went (deleted by hand).
    let host = "jellyfin.funoffshore.com";
    for _ in 0..200 {
        if lab.cf.with(|st| st.records.iter().any(|r| r.name == host)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    lab.cf
        .inject(CfFault::RecordWithoutOwner { host: host.into() });
    let mut opts = lab.options();
    opts.wait = Duration::from_millis(500);
    let stage = IngressStage::new(lab.flux.cfg.clone(), opts);
    let (result, events) = run(&stage, &lab.journal()).await;
    let err = result.expect_err("the run fails");
    let (step, _) = failed(&events);
    assert_eq!(step, ingress::STEP_RECORDS, "{err:?}");
    assert!(err.message.contains("jellyfin.funoffshore.com"), "{err:?}");
    assert!(err.message.contains("1. Cloudflare DNS record"), "{err:?}");
    assert!(
        err.message.contains("external-dns does not own the record"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or_default()
            .contains("dash.cloudflare.com"),
        "{err:?}"
    );

    lab.flux.sim.inject(Fault::GatewayUnprogrammed {
        namespace: "networking".into(),
        name: "homelab".into(),
    });
    let (result, events) = run(&stage, &lab.journal()).await;
    let err = result.expect_err("the run fails");
    let (step, _) = failed(&events);
    assert_eq!(step, ingress::STEP_GATEWAY, "{err:?}");
    assert!(
        err.message
            .contains("Gateway networking/homelab is not Programmed"),
        "{err:?}"
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or_default()
            .contains("envoyproxy.yaml"),
        "{err:?}"
    );
}
