//! Three servers behind a virtual IP (`k3s.vip`, kube-vip) and the cluster token of the env
//! file. The "VIP" is a loopback address of its own where the kube simulator serves the API
//! with a certificate naming it, so "the API answers on the VIP" is a real HTTPS request through
//! kube-rs, checked against the cluster CA.

use crate::stage::{CLUSTER_TOKEN, Lab, calls, ready};
use homelab::config::K3sVip;
use homelab::sim::kube::SimOptions;
use homelab::stages::engine::{CheckStatus, EventKind, Outcome, Stage};
use homelab::stages::k3s::kube_vip;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_behind_a_vip_the_api_answers_on_it() {
    if !ready() {
        return;
    }
    let vip = crate::net::loopback_ip();
    let lab = Lab::start_with(
        3,
        1,
        SimOptions {
            listen: (vip, 0).into(),
            ..SimOptions::default()
        },
    )
    .await;
    let port = lab.sim.addr.port();
    let mut c = lab.cluster.clone();
    c.k3s.api_address = None;
    c.k3s.vip = Some(K3sVip {
        address: vip,
        interface: "eth0".into(),
        image: None,
    });
    let stage = lab.stage_with(c.clone());
    let plan = stage.plan().await.unwrap();
    let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        vec![
            "k3s-server-1/swap-config",
            "k3s-server-1/kube-vip",
            "k3s-server-1/install",
            "k3s-server-2/swap-config",
            "k3s-server-2/kube-vip",
            "k3s-server-2/join",
            "k3s-server-3/swap-config",
            "k3s-server-3/kube-vip",
            "k3s-server-3/join",
            "k3s-agent-1/swap-config",
            "k3s-agent-1/join",
            "cluster/kubeconfig",
            "cluster/api-vip",
            "cluster/ready",
        ]
    );
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains(&format!("API VIP {vip} on eth0"))),
        "{:?}",
        plan.notes
    );

    let (res, events) = lab.apply_plan(&stage, &plan, true).await;
    let summary = res.unwrap_or_else(|e| panic!("{}\n{:?}", e.message, e.hint));
    // The API answered on the VIP as soon as the kubeconfig pointed there: the wait held.
    assert_eq!((summary.changed, summary.held), (13, 1));

    let api = format!("https://{vip}:{port}");
    let want = kube_vip::manifest(&c, c.k3s.vip.as_ref().unwrap());
    for (i, name) in ["k3s-server-1", "k3s-server-2", "k3s-server-3"]
        .iter()
        .enumerate()
    {
        let node = lab.node(name);
        // The static pod: on every server, with the VIP, the interface and the pinned image.
        let manifest = node
            .read_file("/var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml")
            .unwrap_or_else(|| panic!("{name}: no kube-vip manifest"));
        assert_eq!(manifest, want, "{name}");
        assert!(manifest.contains(&format!("value: \"{vip}\"")));
        assert!(manifest.contains("value: \"eth0\""));
        assert!(manifest.contains(&format!("image: \"{}\"", kube_vip::DEFAULT_IMAGE)));
        let call = &calls(node)[0];
        // The VIP is in --tls-san; joining servers register through it.
        assert!(
            call.args.contains(&format!("--tls-san {vip} ")),
            "{name}: {}",
            call.args
        );
        if i == 0 {
            assert!(
                call.args.starts_with("server --cluster-init "),
                "{}",
                call.args
            );
        } else {
            assert!(
                call.args.starts_with(&format!("server --server {api} ")),
                "{}",
                call.args
            );
        }
        assert!(call.args.contains("--kubelet-arg=fail-swap-on=false"));
        // Every server carries the env file's token; none has it in argv.
        let t = call.env.get("K3S_TOKEN").unwrap();
        assert!(t.ends_with(CLUSTER_TOKEN), "{name}: {t}");
        assert!(!call.args.contains(CLUSTER_TOKEN));
    }
    let agent = &calls(lab.node("k3s-agent-1"))[0];
    assert_eq!(agent.env.get("K3S_URL"), Some(&api));
    assert!(
        lab.node("k3s-agent-1")
            .read_file("/var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml")
            .is_none(),
        "kube-vip runs on servers only"
    );

    // The kubeconfig points at the VIP, and the API answered there over TLS.
    let kc = homelab::backends::kube::kubeconfig::load(&lab.kubeconfig).unwrap();
    let ours = kc.clusters.iter().find(|x| x.name == "lab").unwrap();
    assert_eq!(
        ours.cluster.as_ref().unwrap().server.as_deref(),
        Some(api.as_str())
    );
    let log: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Log { line, .. } => Some(line.clone()),
            _ => None,
        })
        .collect();
    assert!(
        log.iter().any(|l| l.contains(&format!(
            "{api} answers (v1.33.5+k3s1); its certificate checked against the cluster CA"
        ))),
        "{log:#?}"
    );
    let checks = stage.verify().await.unwrap();
    let on_vip = checks.iter().find(|c| c.id == "cluster/api-vip").unwrap();
    assert_eq!(on_vip.status, CheckStatus::Pass, "{on_vip:?}");

    // A second run: the manifests hold, nothing is written again.
    let plan = stage.plan().await.unwrap();
    let (res, events) = lab.apply_plan(&stage, &plan, true).await;
    res.unwrap();
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::StepDone { outcome: Outcome::Held, step } if step == "k3s-server-2/kube-vip")));
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::StepDone { outcome: Outcome::Held, step } if step == "cluster/api-vip")));
}

/// A cluster made with another token: the join stops naming the env file's key, and no
/// installer runs with a token the servers would refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_made_with_another_token_stops_the_join_with_the_key_named() {
    if !ready() {
        return;
    }
    let lab = Lab::start(1, 1).await;
    lab.node("k3s-server-1")
        .exec("mkdir -p /var/lib/rancher/k3s/server && echo 'K10ff::server:someone-elses' > /var/lib/rancher/k3s/server/node-token")
        .unwrap();
    let stage = lab.stage();
    let (res, events) = lab.apply(&stage, true).await;
    let err = res.unwrap_err();
    assert!(
        err.message.contains(
            "k3s-server-1: /var/lib/rancher/k3s/server/node-token does not carry K3S_TOKEN in config/env/lab.env"
        ),
        "{}",
        err.message
    );
    assert!(
        err.hint
            .as_deref()
            .unwrap_or("")
            .contains("homelab env set"),
        "{:?}",
        err.hint
    );
    assert!(
        calls(lab.node("k3s-agent-1")).is_empty(),
        "the agent installer ran"
    );
    let text: String = events.iter().map(|e| format!("{:?}\n", e.kind)).collect();
    assert!(!text.contains("someone-elses") && !text.contains(CLUSTER_TOKEN));
}
