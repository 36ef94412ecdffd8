//! The Flux wizard view: planning (the exact files, git operations and objects), following
//! (live rows, the deploy key with its copy action) and each failure's root cause, at 80x24
//! and 160x48, into snapshots/wizard/flux_*.

use crate::flux_stage::LocalRemote;
use crate::support;
use homelab::config::ClusterConfig;
use homelab::screens::wizard::flux::{FluxView, StepStatus, render};
use homelab::stages::engine::{
    Check, EventKind, Outcome, Plan, RunSummary, StageError, StageEvent, StageId, Unit,
};
use homelab::stages::flux::{self, FluxOptions, FluxStage, follow, manifest};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

fn plan() -> Plan {
    let mut cfg: ClusterConfig =
        serde_yaml::from_str(include_str!("../../config/clusters/prox-n100.yaml")).unwrap();
    cfg.flux.install_sha256 =
        Some("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into());
    let stage = FluxStage::new(
        PathBuf::from("/srv/homelab"),
        cfg.clone(),
        Arc::new(LocalRemote {
            bare: PathBuf::from("/srv/git/homelab.git"),
        }),
        FluxOptions {
            kubeconfig: PathBuf::from("/home/op/.kube/config"),
            context: "prox-n100".into(),
            manifest: manifest::Source::Release,
            identity_file: PathBuf::from("/home/op/.config/sops/age/keys.txt"),
            controllers_timeout: Duration::from_secs(300),
            follow: follow::Limits {
                timeout: Duration::from_secs(900),
                grace: Duration::from_secs(180),
            },
        },
    );
    let mut p = Plan::new(StageId::Flux);
    p.steps = stage.steps();
    p
}

fn ev(kind: EventKind) -> StageEvent {
    StageEvent {
        at: support::now(),
        stage: StageId::Flux,
        kind,
    }
}

fn log(step: &str, line: &str) -> StageEvent {
    ev(EventKind::Log {
        step: Some(step.into()),
        line: line.into(),
    })
}

const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl flux@prox-n100";

/// Every step up to the follow done, the deploy key shown, some rows.
fn following() -> FluxView {
    let mut v = FluxView::from_plan(&plan(), "v2.7.3");
    v.on_event(&ev(EventKind::Started { steps: 12 }));
    for step in &flux::STEPS[..11] {
        v.on_event(&ev(EventKind::StepStarted {
            step: step.to_string(),
            subject: String::new(),
            title: String::new(),
        }));
        let outcome = if step.contains("lockout") {
            Outcome::Held
        } else {
            Outcome::Changed
        };
        v.on_event(&ev(EventKind::StepDone {
            step: step.to_string(),
            outcome,
        }));
    }
    v.on_event(&log(
        flux::STEP_DEPLOY_KEY,
        &format!("{}{KEY}", flux::DEPLOY_KEY_LINE),
    ));
    v.on_event(&log(
        flux::STEP_DEPLOY_KEY,
        &format!(
            "{}https://github.com/funoffshore/homelab/settings/keys/new (Deploy keys, read access is enough)",
            flux::DEPLOY_KEY_PAGE
        ),
    ));
    v.on_event(&ev(EventKind::StepStarted {
        step: flux::STEP_FOLLOW.into(),
        subject: "cluster".into(),
        title: String::new(),
    }));
    for line in [
        "row GitRepository flux-system/flux-system: ready Succeeded: stored artifact for revision 'main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07'",
        "row Kustomization flux-system/flux-system: ready ReconciliationSucceeded: Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        "row Kustomization flux-system/platform-security: ready ReconciliationSucceeded: Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        "row Kustomization flux-system/cert-manager: waiting Progressing: Running health checks for revision main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07 with a timeout of 10m0s",
        "row HelmRelease cert-manager/cert-manager: waiting Progressing: Running 'install' action with timeout of 5m0s",
        "row Kustomization flux-system/cert-issuers: waiting DependencyNotReady: dependency 'flux-system/cert-manager' is not ready",
        "row Kustomization flux-system/apps-media: waiting DependencyNotReady: dependency 'flux-system/gateway' is not ready",
    ] {
        v.on_event(&log(flux::STEP_FOLLOW, line));
    }
    v.on_event(&ev(EventKind::Progress {
        step: flux::STEP_FOLLOW.into(),
        done: 3,
        total: Some(7),
        unit: Unit::Items,
    }));
    v
}

fn failed(mut v: FluxView, step: &str, diagnosis: &[&str], error: StageError) -> FluxView {
    for l in diagnosis {
        v.on_event(&log(step, l));
    }
    v.on_event(&ev(EventKind::StepFailed {
        step: step.into(),
        error: error.clone(),
    }));
    v.on_event(&ev(EventKind::Failed { error }));
    v
}

fn frame(v: &FluxView, w: u16, h: u16) -> String {
    frame_verified(v, &[], w, h)
}

fn frame_verified(v: &FluxView, verified: &[Check], w: u16, h: u16) -> String {
    let app = support::app();
    let cx = app.view_cx(support::now());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(v, verified, f, f.area(), &cx)).unwrap();
    t.backend().to_string()
}

fn snap(name: &str, v: &FluxView) {
    for &(w, h) in support::SIZES {
        let text = frame(v, w, h);
        let mut s = support::settings("wizard");
        s.set_snapshot_suffix(format!("{w}x{h}"));
        s.bind(|| insta::assert_snapshot!(name, text));
    }
}

#[test]
fn flux_view_planning_lists_files_git_operations_and_objects() {
    let v = FluxView::from_plan(&plan(), "v2.7.3");
    assert_eq!(v.steps.len(), 12);
    let text = frame(&v, 160, 48);
    assert!(
        text.contains("write cluster/kubernetes/flux/flux-install.yaml"),
        "{text}"
    );
    assert!(
        text.contains("git push ssh://git@127.0.0.1:2222/srv/git/lab.git"),
        "{text}"
    );
    snap("flux_planning", &v);
}

#[test]
fn flux_view_following_shows_rows_and_the_deploy_key() {
    let v = following();
    assert_eq!(v.rows.len(), 7);
    assert_eq!(v.steps[11].status, StepStatus::Running);
    assert_eq!(v.deploy_key.as_deref(), Some(KEY));
    let text = frame(&v, 160, 48);
    assert!(text.contains("3/7 objects Ready"), "{text}");
    assert!(
        text.contains(
            "y copies it · add it at https://github.com/funoffshore/homelab/settings/keys/new"
        ),
        "{text}"
    );
    snap("flux_following", &v);
    // Done: every row Ready.
    let mut done = following();
    done.on_event(&ev(EventKind::StepDone {
        step: flux::STEP_FOLLOW.into(),
        outcome: Outcome::Changed,
    }));
    done.on_event(&ev(EventKind::Finished {
        summary: RunSummary {
            changed: 10,
            held: 2,
            skipped: 0,
            drifted: 0,
        },
    }));
    assert!(frame(&done, 160, 48).contains("done: 10 changed, 2 in place"));
    // Verified after the run: what verify observed, on the line below the heading (the
    // waiting rows turned Ready first, as the follow step reports them).
    for line in [
        "row Kustomization flux-system/cert-manager: ready ReconciliationSucceeded: Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        "row HelmRelease cert-manager/cert-manager: ready InstallSucceeded: Helm install succeeded for release cert-manager/cert-manager.v1 with chart cert-manager@v1.19.1",
        "row Kustomization flux-system/cert-issuers: ready ReconciliationSucceeded: Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        "row Kustomization flux-system/apps-media: ready ReconciliationSucceeded: Applied revision: main@sha1:a1afe267b54f38b46b487f6e938a6fd508278c07",
        "all 7 Flux objects are Ready",
    ] {
        done.on_event(&log(flux::STEP_FOLLOW, line));
    }
    done.on_event(&ev(EventKind::Progress {
        step: flux::STEP_FOLLOW.into(),
        done: 7,
        total: Some(7),
        unit: Unit::Items,
    }));
    let verified = [
        Check::pass("flux/ready", "Flux objects Ready", "7 of 7"),
        Check::pass(
            "lockout",
            "sops-age matches .sops.yaml",
            "the in-cluster recipient is one of .sops.yaml's",
        ),
    ];
    let text = frame_verified(&done, &verified, 160, 48);
    assert!(
        text.contains(
            "Verified (observed now) ✓ Flux objects Ready: 7 of 7 · ✓ sops-age matches .sops.yaml"
        ),
        "{text}"
    );
    for &(w, h) in support::SIZES {
        let text = frame_verified(&done, &verified, w, h);
        let mut s = support::settings("wizard");
        s.set_snapshot_suffix(format!("{w}x{h}"));
        s.bind(|| insta::assert_snapshot!("flux_done_verified", text));
    }
    // Before the run ends nothing is claimed as verified.
    assert!(!frame_verified(&following(), &verified, 160, 48).contains("Verified"));
}

#[test]
fn flux_view_git_auth_failure() {
    let v = failed(
        following(),
        flux::STEP_FOLLOW,
        &[
            "root cause: GitRepository flux-system/flux-system: failed GitOperationFailed: failed to checkout and determine revision: unable to clone 'ssh://git@github.com/funoffshore/homelab.git': ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain",
            "waiting on it: Kustomization flux-system/flux-system",
            "event: Warning GitOperationFailed (x3): failed to checkout and determine revision: unable to clone 'ssh://git@github.com/funoffshore/homelab.git': ssh: handshake failed",
            "fix: source-controller cannot log in to the git host: add the deploy key (the `identity.pub` of Secret flux-system/flux-system, shown by the stage) at https://github.com/funoffshore/homelab/settings/keys/new (Deploy keys, read access is enough); Flux retries by itself",
        ],
        StageError::new(
            "Flux reports a failure: root cause: GitRepository flux-system/flux-system ...",
        ),
    );
    snap("flux_failed_git_auth", &v);
}

#[test]
fn flux_view_decryption_failure() {
    let v = failed(
        following(),
        flux::STEP_FOLLOW,
        &[
            "root cause: Kustomization flux-system/grafana: failed BuildFailed: decryption failed for 'Secret.v1.[noGrp]/grafana-admin': failed to decrypt and format 'monitoring/grafana-admin' Secret data: cannot get sops data key: Failed to get the data key required to decrypt the SOPS file.",
            "waiting on it: Kustomization flux-system/apps-demos",
            "event: Warning BuildFailed: decryption failed for 'Secret.v1.[noGrp]/grafana-admin'",
            "fix: flux-system/sops-age cannot decrypt a file of Kustomization flux-system/grafana: run the stage again with the age identity of .sops.yaml's recipients (it applies sops-age again), or re-encrypt the file to the recipient in sops-age (`sops updatekeys`)",
        ],
        StageError::new(
            "Flux reports a failure: root cause: Kustomization flux-system/grafana ...",
        ),
    );
    snap("flux_failed_decryption", &v);
}

#[test]
fn flux_view_helm_install_failure() {
    let v = failed(
        following(),
        flux::STEP_FOLLOW,
        &[
            "root cause: HelmRelease cert-manager/cert-manager: failed InstallFailed: Helm install failed for release cert-manager/cert-manager with chart cert-manager@v1.16.2: resource Deployment/cert-manager/cert-manager not ready. status: InProgress, message: Available: 0/1 context deadline exceeded",
            "waiting on it: Kustomization flux-system/cert-manager, Kustomization flux-system/cert-issuers",
            "event: Warning InstallFailed: Helm install failed for release cert-manager/cert-manager with chart cert-manager@v1.16.2",
            "helm: Released=False InstallFailed: Helm install failed for release cert-manager/cert-manager with chart cert-manager@v1.16.2",
            "helm: failures 1, install failures 1, upgrade failures 0",
            "helm: release v1 failed (cert-manager@v1.16.2)",
            "fix: the release's workloads did not become ready: `kubectl -n cert-manager get pods -l helm.toolkit.fluxcd.io/name=cert-manager` and `kubectl -n cert-manager describe` them; fix the chart values in the tree, commit, and Flux retries",
        ],
        StageError::new(
            "Flux reports a failure: root cause: HelmRelease cert-manager/cert-manager ...",
        ),
    );
    snap("flux_failed_helm_install", &v);
}

#[test]
fn flux_view_missing_dependency() {
    let v = failed(
        following(),
        flux::STEP_FOLLOW,
        &[
            "root cause: Kustomization flux-system/apps-demos: failed DependencyNotFound: Kustomization flux-system/apps-demos waits for Kustomization flux-system/ghost, which does not exist in the cluster",
            "event: Normal DependencyNotReady: Dependencies do not meet ready condition, retrying in 30s",
            "fix: add Kustomization flux-system/ghost to the tree (cluster/kubernetes/flux), or remove it from the dependsOn of Kustomization flux-system/apps-demos; commit, and run the stage again",
        ],
        StageError::new(
            "Flux reports a failure: root cause: Kustomization flux-system/apps-demos ...",
        ),
    );
    snap("flux_failed_missing_dependency", &v);
}

#[test]
fn flux_view_lockout_and_refused_push_show_the_error_and_fix() {
    let mut v = FluxView::from_plan(&plan(), "v2.7.3");
    v.on_event(&ev(EventKind::Started { steps: 12 }));
    let v = failed(
        v,
        flux::STEP_LOCKOUT,
        &[],
        StageError::new("lock-out guard: cluster/kubernetes/platform/monitoring/grafana/grafana-admin.sops.yaml: the cluster's sops-age key cannot decrypt it: the file is encrypted to age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq, sops-age holds age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj.")
            .with_hint("nothing was committed; fix the recipients, then run the stage again"),
    );
    assert_eq!(v.steps[3].status, StepStatus::Failed);
    snap("flux_failed_lockout", &v);
    let mut v = FluxView::from_plan(&plan(), "v2.7.3");
    v.on_event(&ev(EventKind::Started { steps: 12 }));
    let v = failed(
        v,
        flux::STEP_PUSH,
        &[],
        StageError::new("ssh://git@github.com/funoffshore/homelab.git: the remote refused refs/heads/main: pre-receive hook declined. The remote said: remote: policy: pushes to main need a review Fix what the remote's hook or policy asks for, or push to a branch it accepts")
            .with_hint("nothing in the cluster changed yet; fix the push and run the stage again"),
    );
    snap("flux_failed_push", &v);
}
