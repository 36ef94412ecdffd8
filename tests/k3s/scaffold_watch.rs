//! The scaffolded app comes up: a copy of this repository's tree served to the simulator's
//! Flux, `whoami` scaffolded into it (with an encrypted Secret) and committed, then
//! `scaffold::watch::follow` asks for a sync (as `flux reconcile kustomization --with-source`
//! does) and follows the group's Kustomization at that commit, the Deployment and the pods
//! until Ready.

use crate::kube_api::Kubectl;
use crate::kube_flux::{URL, bootstrap, cluster};
use crate::lab::Lab;
use crate::nodes::{require_peer, which};
use homelab::backends::kube::client::client_for;
use homelab::repo::tree::Tree;
use homelab::scaffold::request::{SecretEntry, SecretValue};
use homelab::scaffold::watch::{Progress, Target, follow};
use homelab::scaffold::{AppInput, TreeFacts, apply, plan, validate};
use std::str::FromStr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scaffolded_app_becomes_ready_after_a_sync() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster().await;
    // This repository's tree in a git repository of its own, with its Secrets rendered for a
    // fresh age key (as the Flux stage does).
    let lab = Lab::new(&[]);
    let root = lab.root();
    let dir = lab.dir.path();
    let age_key = std::fs::read_to_string(&lab.key_file).unwrap();
    sim.serve_git(URL, &root);
    let k = Kubectl::new(&sim, dir);
    bootstrap(&k, dir, &root, &age_key).await;
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "kustomization/apps-tools",
        "-n",
        "flux-system",
        "--timeout=120s",
    ])
    .await;

    // Scaffold whoami into tools, as the form's write task does.
    let facts = TreeFacts::read(&Tree::load(&root).unwrap()).unwrap();
    let input = AppInput {
        name: "whoami".into(),
        category: "tools".into(),
        image: "traefik/whoami:v1.11.0".into(),
        port: "80".into(),
        secrets: vec![SecretEntry {
            key: "API_TOKEN".into(),
            value: SecretValue::new("not-a-real-token"),
        }],
        ..AppInput::default()
    };
    let req = validate(&input, &facts).unwrap();
    let plan = plan::plan(&root, &facts, &req).unwrap();
    let commit = match apply::apply(&root, &plan, true).unwrap() {
        apply::Applied::Committed { id, .. } => id.to_string(),
        other => panic!("not committed: {other:?}"),
    };

    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, sim.kubeconfig(&sim.url())).unwrap();
    let client = client_for(&kubeconfig, "default").await.unwrap();
    let target = Target {
        name: "whoami".into(),
        kustomization: "apps-tools".into(),
        chart: false,
        commit: Some(commit.clone()),
    };
    let mut seen: Vec<Progress> = Vec::new();
    let r = follow(&client, &target, Duration::from_secs(180), &mut |p| {
        seen.push(p)
    })
    .await;
    let log = seen
        .iter()
        .map(|p| format!("{} ready={} {}", p.what, p.ready, p.detail))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        r.is_ok(),
        "{r:?}\n{log}\n{}",
        k.ok(&["get", "kustomizations,deploy,pods", "-A"]).await
    );
    let last = |what: &str| {
        seen.iter()
            .rev()
            .find(|p| p.what.starts_with(what))
            .unwrap_or_else(|| panic!("no progress for {what}:\n{log}"))
    };
    // follow asked for the sync itself, as `flux reconcile kustomization --with-source` does:
    // the requestedAt annotation on the source and on the Kustomization.
    let asked = last("GitRepository flux-system/flux-system");
    assert!(
        asked.ready && asked.detail.contains("reconcile requested"),
        "{log}"
    );
    for obj in ["gitrepository/flux-system", "kustomization/apps-tools"] {
        let at = k
            .ok(&[
                "get",
                obj,
                "-n",
                "flux-system",
                "-o",
                "jsonpath={.metadata.annotations.reconcile\\.fluxcd\\.io/requestedAt}",
            ])
            .await;
        assert!(
            jiff::Timestamp::from_str(at.trim()).is_ok(),
            "{obj} requestedAt {at:?}"
        );
    }
    let ks = last("Kustomization flux-system/apps-tools");
    assert!(ks.ready, "{log}");
    assert!(
        ks.detail.contains(&format!("main@sha1:{commit}")),
        "the Kustomization is followed to the scaffold's commit:\n{log}"
    );
    assert!(last("Deployment whoami/whoami").ready, "{log}");
    assert!(last("Pod whoami/whoami-").ready, "{log}");
    // The encrypted Secret was decrypted by the kustomize-controller (the simulator keeps
    // stringData as applied; a real API server moves it to data).
    let secret: serde_json::Value = serde_json::from_str(
        &k.ok(&["get", "secret", "whoami", "-n", "whoami", "-o", "json"])
            .await,
    )
    .unwrap();
    let token = secret
        .pointer("/stringData/API_TOKEN")
        .or(secret.pointer("/data/API_TOKEN"))
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string();
    assert!(
        token == "not-a-real-token" || token == "bm90LWEtcmVhbC10b2tlbg==",
        "{secret}"
    );
    assert!(secret.get("sops").is_none(), "{secret}");
}
