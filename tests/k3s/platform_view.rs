//! The platform stages' wizard view (storage, ingress, observability): planning (the exact
//! commands and objects), running (each probe's evidence: written, read back, time; the running
//! step and its latest line), a failure's root cause and fix, and a verified finish, at 80x24
//! and 160x48, into snapshots/wizard/platform_*.

use crate::support;
use homelab::screens::wizard::flux::StepStatus;
use homelab::screens::wizard::platform::{PlatformView, render, shows};
use homelab::stages::engine::{
    Check, EventKind, Intent, Outcome, Plan, RunSummary, StageError, StageEvent, StageId, Step,
};
use homelab::stages::probe::Evidence;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::time::Duration;

fn storage_plan() -> Plan {
    let mut p = Plan::new(StageId::Storage);
    p.steps = vec![
        Step::new(
            "node/k3s-server-1/prereqs",
            "k3s-server-1",
            Intent::Create,
            "open-iscsi, nfs-common, iscsid, multipath blacklist, iscsi_tcp and dm_crypt on k3s-server-1",
        )
        .call("ssh ubuntu@k3s-server-1 sudo -n -- sh -s  # apt-get install -y open-iscsi nfs-common")
        .call("systemctl enable --now iscsid; modprobe iscsi_tcp dm_crypt"),
        Step::new(
            "nfs/export",
            "nfs",
            Intent::Wait,
            "Mount nas:/volume1/kubernetes from k3s-server-1, write, read back, unmount",
        )
        .call("ssh ubuntu@k3s-server-1 sudo -n -- sh -s  # mount -t nfs nas:/volume1/kubernetes"),
        Step::new(
            "cluster/ready",
            "cluster",
            Intent::Wait,
            "HelmReleases longhorn and nfs-subdir Ready; StorageClasses longhorn (default) and nfs",
        )
        .call("GET helmreleases longhorn-system/longhorn, kube-system/nfs-subdir"),
        Step::new(
            "probe/pvc/longhorn",
            "probe",
            Intent::Wait,
            "A PVC on longhorn binds; a pod writes and reads back",
        )
        .call("apply PersistentVolumeClaim homelab-probe/probe-longhorn, Pod homelab-probe/probe-longhorn"),
        Step::new(
            "probe/pvc/nfs",
            "probe",
            Intent::Wait,
            "A PVC on nfs binds; a pod writes and reads back",
        ),
        Step::new(
            "probe/restore",
            "probe",
            Intent::Wait,
            "Back up a volume, restore it to a new PVC, read the data back",
        ),
    ];
    p
}

fn ev(stage: StageId, kind: EventKind) -> StageEvent {
    StageEvent {
        at: support::now(),
        stage,
        kind,
    }
}

fn log(step: &str, line: &str) -> StageEvent {
    ev(
        StageId::Storage,
        EventKind::Log {
            step: Some(step.into()),
            line: line.into(),
        },
    )
}

fn evidence(probe: &str, wrote: &str, read: &str, ms: u64, ok: bool) -> String {
    Evidence::new(probe, wrote, read, Duration::from_millis(ms), ok).line()
}

fn start(v: &mut PlatformView, step: &str) {
    v.on_event(&ev(
        StageId::Storage,
        EventKind::StepStarted {
            step: step.into(),
            subject: String::new(),
            title: String::new(),
        },
    ));
}

fn done(v: &mut PlatformView, step: &str, outcome: Outcome) {
    v.on_event(&ev(
        StageId::Storage,
        EventKind::StepDone {
            step: step.into(),
            outcome,
        },
    ));
}

/// Node prerequisites and the export done, the Longhorn PVC probe running.
fn running() -> PlatformView {
    let mut v = PlatformView::from_plan(&storage_plan());
    v.on_event(&ev(StageId::Storage, EventKind::Started { steps: 6 }));
    start(&mut v, "node/k3s-server-1/prereqs");
    done(&mut v, "node/k3s-server-1/prereqs", Outcome::Held);
    start(&mut v, "nfs/export");
    v.on_event(&log(
        "nfs/export",
        &evidence(
            "nfs/k3s-server-1",
            "homelab-probe-5f0c2a91 to nas:/volume1/kubernetes/.homelab-probe-5f0c2a91",
            "homelab-probe-5f0c2a91",
            412,
            true,
        ),
    ));
    done(&mut v, "nfs/export", Outcome::Changed);
    start(&mut v, "cluster/ready");
    done(&mut v, "cluster/ready", Outcome::Held);
    start(&mut v, "probe/pvc/longhorn");
    v.on_event(&log(
        "probe/pvc/longhorn",
        "PersistentVolumeClaim homelab-probe/probe-longhorn: Pending (waiting for a pod)",
    ));
    v
}

fn frame(v: &PlatformView, verified: &[Check], w: u16, h: u16) -> String {
    let app = support::app();
    let cx = app.view_cx(support::now());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| render(v, verified, f, f.area(), &cx)).unwrap();
    t.backend().to_string()
}

fn snap(name: &str, v: &PlatformView, verified: &[Check]) {
    for &(w, h) in support::SIZES {
        let text = frame(v, verified, w, h);
        let mut s = support::settings("wizard");
        s.set_snapshot_suffix(format!("{w}x{h}"));
        s.bind(|| insta::assert_snapshot!(name, text));
    }
}

#[test]
fn only_the_platform_stages_use_this_view() {
    assert!(shows(StageId::Storage) && shows(StageId::Ingress) && shows(StageId::Observability));
    assert!(!shows(StageId::Flux) && !shows(StageId::K3s) && !shows(StageId::Secrets));
}

#[test]
fn platform_view_planning_lists_commands_objects_and_probes() {
    let v = PlatformView::from_plan(&storage_plan());
    let text = frame(&v, &[], 160, 48);
    assert!(text.contains("Plan: commands, objects, probes"), "{text}");
    assert!(text.contains("probe/restore"), "{text}");
    assert!(
        text.contains("apt-get install -y open-iscsi nfs-common"),
        "{text}"
    );
    snap("platform_planning", &v, &[]);
}

#[test]
fn platform_view_shows_each_probes_evidence_and_the_running_step() {
    let mut v = running();
    assert_eq!(v.evidence.len(), 1);
    // A probe reported again replaces its row; other lines are the running step's latest.
    v.on_event(&log(
        "nfs/export",
        &evidence("nfs/k3s-server-1", "m2", "m2", 380, true),
    ));
    assert_eq!(v.evidence.len(), 1);
    assert_eq!(v.evidence[0].wrote, "m2");
    let v = running();
    assert_eq!(
        v.latest.as_deref(),
        Some("PersistentVolumeClaim homelab-probe/probe-longhorn: Pending (waiting for a pod)")
    );
    let text = frame(&v, &[], 160, 48);
    assert!(text.contains("nfs/k3s-server-1"), "{text}");
    assert!(text.contains("412 ms"), "{text}");
    assert!(
        text.contains("read homelab-probe-5f0c2a91 · wrote homelab-probe-5f0c2a91"),
        "{text}"
    );
    assert!(text.contains("A PVC on longhorn binds"), "{text}");
    snap("platform_running", &v, &[]);
}

#[test]
fn platform_view_failure_shows_the_evidence_so_far_and_the_root_cause_first() {
    let mut v = running();
    v.on_event(&log(
        "probe/pvc/longhorn",
        "root cause: PersistentVolumeClaim homelab-probe/probe-longhorn stayed Pending: ProvisioningFailed: failed to provision volume with StorageClass \"longhorn\": no node is schedulable",
    ));
    v.on_event(&log(
        "probe/pvc/longhorn",
        "fix: kubectl -n longhorn-system get nodes.longhorn.io (each node needs a schedulable disk); then run the stage again",
    ));
    let error = StageError::new("the probe PVC on class longhorn did not bind in 2m0s")
        .with_hint("see the root cause");
    v.on_event(&ev(
        StageId::Storage,
        EventKind::StepFailed {
            step: "probe/pvc/longhorn".into(),
            error: error.clone(),
        },
    ));
    v.on_event(&ev(StageId::Storage, EventKind::Failed { error }));
    assert_eq!(v.steps[3].status, StepStatus::Failed);
    let text = frame(&v, &[], 80, 24);
    assert!(text.contains("root cause: PersistentVolumeClaim"), "{text}");
    assert!(text.contains("nfs/k3s-server-1"), "{text}");
    snap("platform_failed_pvc", &v, &[]);
}

#[test]
fn platform_view_done_shows_every_probe_and_what_verify_observed() {
    let mut v = running();
    v.on_event(&log(
        "probe/pvc/longhorn",
        &evidence(
            "pvc/longhorn",
            "homelab-probe-77aa01 to /data/probe",
            "homelab-probe-77aa01",
            6_240,
            true,
        ),
    ));
    done(&mut v, "probe/pvc/longhorn", Outcome::Changed);
    for (step, probe, ms) in [
        ("probe/pvc/nfs", "pvc/nfs", 3_050),
        ("probe/restore", "backup/restore", 48_900),
    ] {
        start(&mut v, step);
        v.on_event(&log(
            step,
            &evidence(probe, "homelab-probe-91b2", "homelab-probe-91b2", ms, true),
        ));
        done(&mut v, step, Outcome::Changed);
    }
    v.on_event(&ev(
        StageId::Storage,
        EventKind::Finished {
            summary: RunSummary {
                changed: 4,
                held: 2,
                skipped: 0,
                drifted: 0,
            },
        },
    ));
    let verified = vec![
        Check::pass("storageclass/longhorn", "StorageClass longhorn", "default"),
        Check::pass(
            "backup-target",
            "Backup target",
            "nfs://nas:/volume1/kubernetes/longhorn-backups available",
        ),
    ];
    let text = frame(&v, &verified, 160, 48);
    assert!(text.contains("4/4 probes ok"), "{text}");
    assert!(text.contains("48.90 s"), "{text}");
    assert!(text.contains("Verified (observed now)"), "{text}");
    snap("platform_done_verified", &v, &verified);
}

#[test]
fn a_mismatched_read_back_is_marked_and_shown_in_the_error_style() {
    let mut v = running();
    v.on_event(&log(
        "nfs/export",
        &evidence("nfs/k3s-agent-1", "m1", "", 90, false),
    ));
    let text = frame(&v, &[], 160, 48);
    assert!(text.contains("1/2 probes ok"), "{text}");
    assert!(text.contains("✗ nfs/k3s-agent-1"), "{text}");
}
