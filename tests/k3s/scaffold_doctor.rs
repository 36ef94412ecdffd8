//! After the follow, the route: two apps scaffolded into a copy of this repository's tree
//! served to the simulator's Flux, `whoami` internal and `navidrome` public (its folder removed
//! from the copy first), committed and synced; once `scaffold::watch::follow` has each Ready,
//! the reachability doctor walks its hostname as the scaffold screen's task does
//! (`connect_for` with the app's exposure, then `walk_exposed`): the internal one from its
//! Gateway listener with no Cloudflare token at all, the public one from its Cloudflare record
//! (the Cloudflare simulator: external-dns's records, a connected, locally managed tunnel)
//! through the tunnel, to the pods and the certificate. Then the internal app's pods crash-loop
//! and the walk stops at link 6 with its fix.

use crate::kube_api::Kubectl;
use crate::kube_flux::{URL, bootstrap, cluster};
use crate::lab::Lab;
use crate::nodes::{require_peer, which};
use homelab::backends::cloudflare::TxtRegistry;
use homelab::backends::doctor::connect::{Setup, connect_for};
use homelab::domain::doctor::{Exposure, Finding, Link, Outcome};
use homelab::repo::tree::Tree;
use homelab::scaffold::watch::{Target, follow};
use homelab::scaffold::{AppInput, TreeFacts, apply, plan, validate};
use homelab::sim::cloudflare::{CloudflareSim, SimOptions};
use std::path::Path;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// Scaffold `input` into the tree at `root` and commit it, as the form's write task does.
fn scaffold(root: &Path, input: &AppInput) -> String {
    let facts = TreeFacts::read(&Tree::load(root).unwrap()).unwrap();
    let req = validate(input, &facts).unwrap_or_else(|e| panic!("{e:?}"));
    let plan = plan::plan(root, &facts, &req).unwrap();
    match apply::apply(root, &plan, true).unwrap() {
        apply::Applied::Committed { id, .. } => id.to_string(),
        other => panic!("not committed: {other:?}"),
    }
}

fn show(found: &[Finding]) -> String {
    found
        .iter()
        .map(|f| {
            format!(
                "{} {} {} {:?}",
                if f.ok { "ok  " } else { "FAIL" },
                f.link,
                f.summary,
                f.fix
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_walks_the_route_of_a_scaffolded_app_once_it_is_ready() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster().await;
    let lab = Lab::new(&["cluster/kubernetes/apps/media/navidrome"]);
    let root = lab.root();
    let dir = lab.dir.path();
    let age_key = std::fs::read_to_string(&lab.key_file).unwrap();
    sim.serve_git(URL, &root);
    let k = Kubectl::new(&sim, dir);
    bootstrap(&k, dir, &root, &age_key).await;
    for ks in ["apps-tools", "apps-media"] {
        k.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("kustomization/{ks}"),
            "-n",
            "flux-system",
            "--timeout=120s",
        ])
        .await;
    }

    // navidrome first: the tree's skeleton wants its folder back before anything else
    // passes `homelab check`.
    scaffold(
        &root,
        &AppInput {
            name: "navidrome".into(),
            category: "media".into(),
            image: "deluan/navidrome:0.58.0".into(),
            port: "4533".into(),
            exposure: "public".into(),
            ..AppInput::default()
        },
    );
    let head = scaffold(
        &root,
        &AppInput {
            name: "whoami".into(),
            category: "tools".into(),
            image: "traefik/whoami:v1.11.0".into(),
            port: "80".into(),
            ..AppInput::default()
        },
    );
    k.ok(&[
        "annotate",
        "--overwrite",
        "gitrepository/flux-system",
        "-n",
        "flux-system",
        "reconcile.fluxcd.io/requestedAt=scaffold-doctor",
    ])
    .await;

    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig(&sim.url())).unwrap();
    let client = homelab::backends::kube::client::client_for(&kubeconfig, "default")
        .await
        .unwrap();
    for (name, group) in [("whoami", "apps-tools"), ("navidrome", "apps-media")] {
        let target = Target {
            name: name.into(),
            kustomization: group.into(),
            chart: false,
            commit: Some(head.clone()),
        };
        let mut log = vec![];
        let r = follow(&client, &target, Duration::from_secs(180), &mut |p| {
            log.push(format!("{} ready={} {}", p.what, p.ready, p.detail))
        })
        .await;
        assert!(
            r.is_ok(),
            "{name}: {r:?}\n{}\n{}",
            log.join("\n"),
            k.ok(&["get", "kustomizations,deploy,pods", "-A"]).await
        );
    }

    let facts = || {
        homelab::repo::doctor_facts::read(
            &root,
            &root.join("config/clusters/prox-n100.yaml"),
            "prox-n100",
        )
        .unwrap()
    };
    let cf = CloudflareSim::start(SimOptions {
        zone: "funoffshore.com".into(),
        hosts: vec!["navidrome.funoffshore.com".into()],
        tunnel_name: "homelab".into(),
        gateway_service: "https://homelab-gateway.envoy-gateway-system.svc.cluster.local:443"
            .into(),
        registry: TxtRegistry {
            prefix: "k8s.".into(),
            owner: "prox-n100".into(),
            ..TxtRegistry::default()
        },
        ..Default::default()
    })
    .await
    .unwrap();
    // The tree's tunnel is locally managed: its rules are the cloudflared ConfigMap's.
    cf.with(|st| {
        for t in &mut st.tunnels {
            t.config_src = "local".into();
            t.config = None;
        }
    });
    std::fs::write(dir.join("cf-ca.pem"), &cf.ca_pem).unwrap();
    // No token anywhere for the internal walk: the env file does not exist.
    let setup = Setup {
        kubeconfig: kubeconfig.clone(),
        context: "default".into(),
        env_file: dir.join("no-such.env"),
        api_base: cf.url(),
        ca_file: Some(dir.join("cf-ca.pem")),
        api_token: None,
        tunnel_token: None,
    };

    // The controllers finish the route's status, endpoints and certificate on their own
    // time: walk until every link holds; the deadline only bounds a hang.
    async fn until_reachable(
        setup: &Setup,
        facts: &dyn Fn() -> homelab::domain::doctor::Facts,
        host: &str,
        exposure: Exposure,
    ) -> Vec<Finding> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let doctor = connect_for(setup, facts(), exposure)
                .await
                .unwrap_or_else(|e| panic!("{host}: the doctor could not start: {e}"));
            let (found, outcome) = doctor.walk_all_exposed(host, exposure).await;
            if outcome == Outcome::Reachable {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{host}: {outcome:?}\n{}",
                show(&found)
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let internal = until_reachable(
        &setup,
        &facts,
        "whoami.funoffshore.internal",
        Exposure::Internal,
    )
    .await;
    let links: Vec<Link> = internal.iter().map(|f| f.link).collect();
    assert_eq!(links, Exposure::Internal.links(), "{}", show(&internal));
    assert!(
        internal[0].summary.contains("listener `internal`")
            && internal[0].summary.contains("HTTPRoute whoami/whoami"),
        "{}",
        show(&internal)
    );

    // The public walk needs the tokens: without them it says so, as `homelab doctor` would.
    match connect_for(&setup, facts(), Exposure::Public).await {
        Ok(_) => panic!("a public walk without a Cloudflare token"),
        Err(e) => assert!(e.contains("CLOUDFLARE_API_TOKEN"), "{e}"),
    }
    let with_tokens = Setup {
        api_token: Some(Zeroizing::new(cf.token.clone())),
        tunnel_token: Some(cf.tunnel_token.clone()),
        ..setup.clone()
    };
    let public = until_reachable(
        &with_tokens,
        &facts,
        "navidrome.funoffshore.com",
        Exposure::Public,
    )
    .await;
    let links: Vec<Link> = public.iter().map(|f| f.link).collect();
    assert_eq!(links, Link::ALL, "{}", show(&public));
    assert!(
        public[2].summary.contains("Gateway networking/homelab")
            && public[3].summary.contains("listener `public`")
            && public[3].summary.contains("HTTPRoute navidrome/navidrome"),
        "{}",
        show(&public)
    );

    // A broken link after Ready: the app's pods crash-loop; the walk stops at the endpoints
    // with the command that shows why.
    sim.inject(homelab::sim::kube::controllers::Fault::CrashLoop {
        namespace: "whoami".into(),
        name: "whoami".into(),
    });
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let doctor = connect_for(&setup, facts(), Exposure::Internal)
            .await
            .unwrap();
        let (found, outcome) = doctor
            .walk_all_exposed("whoami.funoffshore.internal", Exposure::Internal)
            .await;
        if outcome == Outcome::Broken(Link::Backend) {
            let last = found.last().unwrap();
            assert!(
                last.summary
                    .contains("Service whoami/whoami has no ready endpoint"),
                "{}",
                show(&found)
            );
            let fix = last.fix.as_ref().unwrap().to_string();
            assert!(fix.contains("kubectl -n whoami logs whoami-"), "{fix}");
            break;
        }
        assert!(Instant::now() < deadline, "{outcome:?}\n{}", show(&found));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
