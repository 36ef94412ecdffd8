//! The Flux stage's push over SSH (`SshRemote`: git2 over our russh) to OpenSSH sshd with
//! `git-shell` and a bare repository, which the kube simulator's source-controller fetches:
//! the whole stage lands, the bare repository holds the commit, the deploy key Secret carries
//! the host's key as the operator's known_hosts has it; then a push the server refuses stops
//! the stage with the server's reason, before the cluster is touched.

use crate::flux_stage::{FluxLab, Setup, logs, run};
use crate::git_push::{BARE, access, bare_git, git_server};
use crate::nodes::{self, Operator};
use homelab::secrets::metadata::CryptRule;
use homelab::secrets::{Format, Opened};
use homelab::stages::engine::EventKind;
use homelab::stages::flux::{self, remote::SshRemote};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stage_pushes_over_ssh_and_a_refused_push_says_why() {
    if !nodes::have_sshd()
        || !nodes::have_netns()
        || !nodes::require_peer(
            "git-shell",
            nodes::which("git-shell") && nodes::which("git"),
            "apt-get install -y git",
        )
    {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = git_server(wd.path(), &op);
    let url = format!("ssh://git@{}:{}{BARE}", node.addr, node.port);
    // What the node wrote to its /var/lib lands in its overlay's upper folder; the simulator
    // reads it from there as root while the node's `git` user owns it, which libgit2's owner
    // check (safe.directory) would refuse.
    let bare_on_host = node.dir.join("up/var/lib/hlgit/flux.git");
    // SAFETY: a process-wide libgit2 option, set before the simulator opens the repository;
    // no other test of this binary relies on the owner check.
    unsafe { git2::opts::set_verify_owner_validation(false) }.unwrap();
    let lab = FluxLab::new(Setup {
        remote: Some((url.clone(), bare_on_host)),
        ..Default::default()
    })
    .await;
    let remote = Arc::new(SshRemote {
        url: url.clone(),
        access: access(&op),
    });
    let stage = lab.stage_with(remote);
    let (result, events) = run(&stage, &lab.journal).await;
    result.unwrap_or_else(|e| panic!("{e:?}\n{:#?}", logs(&events)));
    let head = git2::Repository::open(&lab.work)
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap()
        .to_string();
    assert_eq!(bare_git(&node, "rev-parse refs/heads/main").unwrap(), head);
    let files = bare_git(&node, "ls-tree -r --name-only main").unwrap();
    assert!(
        files.contains("cluster/kubernetes/flux/flux-install.yaml"),
        "{files}"
    );
    assert!(
        files.contains("cluster/kubernetes/apps/tools/tailscale/tailscale-auth.sops.yaml"),
        "{files}"
    );
    // source-controller will check the host against the key our SSH trusted.
    let secret = lab
        .object("v1", "Secret", "flux-system", "flux-system")
        .unwrap();
    use base64::Engine as _;
    let known = base64::engine::general_purpose::STANDARD
        .decode(secret["data"]["known_hosts"].as_str().unwrap())
        .unwrap();
    let known = String::from_utf8(known).unwrap();
    assert!(
        known.starts_with(&format!(
            "{} ssh-ed25519 ",
            homelab::backends::ssh::known_hosts::host_port_name(&node.addr, node.port)
        )),
        "{known}"
    );

    // The server refuses the next push: the stage stops at git/push with its words, and the
    // cluster is not touched.
    node.exec(&format!(
        "printf '#!/bin/sh\\necho \"policy: pushes to main need a review\" >&2\\nexit 1\\n' \
         > {BARE}/hooks/pre-receive && chmod 755 {BARE}/hooks/pre-receive"
    ))
    .unwrap();
    let env_path = lab.work.join("config/env/fluxlab.env");
    let recipient = homelab::secrets::EncryptedFile::load(&env_path)
        .unwrap()
        .recipients();
    Opened::new_plain(
        &env_path,
        Format::Dotenv,
        "GRAFANA_ADMIN_USER=admin\nGRAFANA_ADMIN_PASSWORD=pw-2\nCLOUDFLARE_API_TOKEN=cf-1\n\
         CLOUDFLARE_TUNNEL_TOKEN=tunnel-1\nTAILSCALE_AUTH_KEY=tskey-1\nVSCODE_SERVER_PASSWORD=code-1\n",
        CryptRule::default(),
        false,
        &recipient,
    )
    .unwrap()
    .save_as(&env_path)
    .unwrap();
    let sync_before = lab
        .object("v1", "Secret", "flux-system", "sops-age")
        .unwrap()["metadata"]["resourceVersion"]
        .clone();
    let (result, events) = run(&stage, &lab.journal).await;
    let err = result.unwrap_err();
    let failed = events.iter().find_map(|e| match &e.kind {
        EventKind::StepFailed { step, .. } => Some(step.clone()),
        _ => None,
    });
    assert_eq!(failed.as_deref(), Some(flux::STEP_PUSH));
    assert!(err.message.contains("refs/heads/main"), "{err:?}");
    assert!(err.message.contains("pre-receive hook declined"), "{err:?}");
    assert!(
        err.message.contains("policy: pushes to main need a review"),
        "{err:?}"
    );
    assert_eq!(bare_git(&node, "rev-parse main").unwrap(), head);
    assert_eq!(
        lab.object("v1", "Secret", "flux-system", "sops-age")
            .unwrap()["metadata"]["resourceVersion"],
        sync_before
    );
}

/// `homelab bootstrap --stage flux --yes --flux-manifest FILE`: the real binary, built from the
/// registry with the operator's SSH (HOME), kubeconfig (KUBECONFIG, the cluster's context) and
/// age identity (SOPS_AGE_KEY_FILE), pushes to sshd + git-shell and follows Flux to Ready,
/// printing the rows; run again, it changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_stage_flux_yes_runs_the_stage_from_the_command_line() {
    if !nodes::have_sshd()
        || !nodes::have_netns()
        || !nodes::require_peer(
            "git-shell",
            nodes::which("git-shell") && nodes::which("git"),
            "apt-get install -y git",
        )
    {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = git_server(wd.path(), &op);
    let url = format!("ssh://git@{}:{}{BARE}", node.addr, node.port);
    let bare_on_host = node.dir.join("up/var/lib/hlgit/flux.git");
    // SAFETY: as in the test above.
    unsafe { git2::opts::set_verify_owner_validation(false) }.unwrap();
    let lab = FluxLab::new(Setup {
        remote: Some((url.clone(), bare_on_host)),
        ..Default::default()
    })
    .await;
    // The definition in the repository, and the kubeconfig context named after the cluster.
    std::fs::create_dir_all(lab.work.join("config/clusters")).unwrap();
    std::fs::write(
        lab.work.join("config/clusters/fluxlab.yaml"),
        serde_yaml::to_string(&lab.cfg).unwrap(),
    )
    .unwrap();
    let kubeconfig = std::fs::read_to_string(&lab.kubeconfig)
        .unwrap()
        .replace("name: default", "name: fluxlab")
        .replace("cluster: default", "cluster: fluxlab")
        .replace("user: default", "user: fluxlab")
        .replace("current-context: default", "current-context: fluxlab");
    std::fs::write(&lab.kubeconfig, kubeconfig).unwrap();
    let work = lab.work.clone();
    let bootstrap = |args: Vec<String>| {
        let (work, home, kc, id) = (
            work.clone(),
            op.home.clone(),
            lab.kubeconfig.clone(),
            lab.identity_file.clone(),
        );
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_homelab"))
                .args(["--repo", work.to_str().unwrap(), "--cluster", "fluxlab"])
                .args(&args)
                .env("HOME", &home)
                .env("KUBECONFIG", &kc)
                .env("SOPS_AGE_KEY_FILE", &id)
                .env("HOMELAB_STATE_DIR", work.join(".state"))
                .env_remove("SSH_AUTH_SOCK")
                .env_remove("XDG_CONFIG_HOME")
                .output()
                .unwrap()
        })
    };
    let args: Vec<String> = [
        "bootstrap",
        "--stage",
        "flux",
        "--yes",
        "--accept-new",
        "--flux-manifest",
        lab.manifest.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = bootstrap(args.clone()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("row Kustomization flux-system/flux-system: ready"),
        "{stdout}"
    );
    assert!(stdout.contains(flux::DEPLOY_KEY_LINE), "{stdout}");
    let head = git2::Repository::open(&lab.work)
        .unwrap()
        .refname_to_id("refs/heads/main")
        .unwrap()
        .to_string();
    assert_eq!(bare_git(&node, "rev-parse refs/heads/main").unwrap(), head);

    let again = bootstrap(args).await.unwrap();
    let stdout = String::from_utf8_lossy(&again.stdout);
    assert!(again.status.success(), "{stdout}");
    assert!(stdout.contains("stage finished: 0 changed"), "{stdout}");
    assert_eq!(bare_git(&node, "rev-parse refs/heads/main").unwrap(), head);
}
