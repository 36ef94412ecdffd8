//! The k3s wizard view: frames at 80x24 and 160x48 for each state, into snapshots/wizard/k3s_*.

use crate::support;
use homelab::backends::ssh::HostKeyPrompt;
use homelab::config::ClusterConfig;
use homelab::screens::wizard::k3s::{K3sView, StepStatus, render, render_trust};
use homelab::stages::engine::{
    EventKind, Intent, Outcome, Plan, RunSummary, StageError, StageEvent, StageId, Step, Unit,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn cluster() -> ClusterConfig {
    serde_yaml::from_str(include_str!("../../config/clusters/prox-n100.yaml")).unwrap()
}

fn plan() -> Plan {
    let mut p = Plan::new(StageId::K3s);
    for (node, last) in [
        ("k3s-server-1", "install"),
        ("k3s-agent-1", "join"),
        ("k3s-agent-2", "join"),
    ] {
        p.steps.push(Step::new(
            format!("{node}/swap-config"),
            node,
            Intent::Create,
            "Kubelet swap drop-in",
        ));
        p.steps.push(Step::new(
            format!("{node}/{last}"),
            node,
            Intent::Create,
            "Install k3s",
        ));
    }
    p.steps.push(Step::new(
        "cluster/kubeconfig",
        "cluster",
        Intent::Create,
        "Merge kubeconfig",
    ));
    p.steps.push(Step::new(
        "cluster/ready",
        "cluster",
        Intent::Wait,
        "Every node Ready",
    ));
    p
}

fn ev(kind: EventKind) -> StageEvent {
    StageEvent {
        at: support::now(),
        stage: StageId::K3s,
        kind,
    }
}

fn started(step: &str) -> StageEvent {
    ev(EventKind::StepStarted {
        step: step.into(),
        subject: step.split('/').next().unwrap().into(),
        title: String::new(),
    })
}

fn log(step: &str, line: &str) -> StageEvent {
    ev(EventKind::Log {
        step: Some(step.into()),
        line: line.into(),
    })
}

fn done(step: &str, outcome: Outcome) -> StageEvent {
    ev(EventKind::StepDone {
        step: step.into(),
        outcome,
    })
}

const INSTALL: &str = "$ sudo sh -c 'set -e tmp=$(mktemp -d) curl -sfL https://get.k3s.io -o \"$tmp/install.sh\" INSTALL_K3S_VERSION=v1.33.5+k3s1 K3S_TOKEN=•••• K3S_URL=https://192.168.1.21:6443 sh \"$tmp/install.sh\" agent --kubelet-arg=fail-swap-on=false'";

/// Server done, both agents installing in parallel, with output.
fn running() -> K3sView {
    let mut v = K3sView::from_plan(&plan(), &cluster());
    let events = vec![
        ev(EventKind::Started { steps: 8 }),
        started("k3s-server-1/swap-config"),
        done("k3s-server-1/swap-config", Outcome::Changed),
        started("k3s-server-1/install"),
        log(
            "k3s-server-1/install",
            "[INFO]  Using v1.33.5+k3s1 as release",
        ),
        log("k3s-server-1/install", "[INFO]  systemd: Starting k3s"),
        done("k3s-server-1/install", Outcome::Changed),
        started("k3s-agent-1/swap-config"),
        started("k3s-agent-2/swap-config"),
        done("k3s-agent-1/swap-config", Outcome::Changed),
        done("k3s-agent-2/swap-config", Outcome::Held),
        started("k3s-agent-1/join"),
        started("k3s-agent-2/join"),
        log(
            "k3s-agent-1/join",
            "join token read from k3s-server-1:/var/lib/rancher/k3s/server/node-token (kept in memory only)",
        ),
        log("k3s-agent-1/join", INSTALL),
        log(
            "k3s-agent-1/join",
            "[INFO]  Downloading binary https://github.com/k3s-io/k3s/releases/download/v1.33.5+k3s1/k3s",
        ),
        log("k3s-agent-2/join", INSTALL),
        log(
            "k3s-agent-2/join",
            "! [WARN]  Failed to find memory cgroup, you may need to add \"cgroup_memory=1\"",
        ),
        ev(EventKind::Progress {
            step: "k3s-agent-2/join".into(),
            done: 31_457_280,
            total: Some(73_400_320),
            unit: Unit::Bytes,
        }),
    ];
    for e in &events {
        v.on_event(e);
    }
    v
}

fn frame_with(v: &K3sView, trust: Option<&HostKeyPrompt>, w: u16, h: u16) -> String {
    let app = support::app();
    let cx = app.view_cx(support::now());
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| {
        render(v, f, f.area(), &cx);
        if let Some(p) = trust {
            render_trust(p, f, f.area(), &cx);
        }
    })
    .unwrap();
    t.backend().to_string()
}

fn frame(v: &K3sView, w: u16, h: u16) -> String {
    frame_with(v, None, w, h)
}

fn snap(name: &str, v: &K3sView) {
    snap_with(name, v, None)
}

fn snap_with(name: &str, v: &K3sView, trust: Option<&HostKeyPrompt>) {
    for &(w, h) in support::SIZES {
        let text = frame_with(v, trust, w, h);
        let mut s = support::settings("wizard");
        s.set_snapshot_suffix(format!("{w}x{h}"));
        s.bind(|| insta::assert_snapshot!(name, text));
    }
}

#[test]
fn k3s_view_planned() {
    let mut p = plan();
    p.steps[3].intent = Intent::Change;
    let v = K3sView::from_plan(&p, &cluster());
    assert_eq!(v.nodes.len(), 3);
    assert_eq!(v.nodes[0].role, "server");
    snap("k3s_planned", &v);
}

#[test]
fn k3s_view_running() {
    let v = running();
    let a2 = &v.nodes[2];
    assert_eq!(a2.steps[1].status, StepStatus::Running);
    assert_eq!(a2.progress, Some((31_457_280, Some(73_400_320))));
    let text = frame(&v, 160, 48);
    assert!(text.contains("30.0 MiB / 70.0 MiB"), "{text}");
    snap("k3s_running", &v);
}

#[test]
fn k3s_view_failed_shows_command_and_stderr_and_retry_targets_the_node() {
    let mut v = running();
    v.on_event(&done("k3s-agent-1/join", Outcome::Changed));
    v.on_event(&ev(EventKind::StepFailed {
        step: "k3s-agent-2/join".into(),
        error: StageError::new(format!(
            "k3s-agent-2: `{}` exited with status 1\nstderr:\n[ERROR]  Download failed: 503 Service Unavailable",
            INSTALL.trim_start_matches("$ ")
        ))
        .with_hint("fix the cause on the node, then retry the node (r)"),
    }));
    v.on_event(&ev(EventKind::Failed {
        error: StageError::new("k3s-agent-2 failed"),
    }));
    v.focus_next();
    v.focus_next();
    let text = frame(&v, 160, 48);
    assert!(
        text.contains("exited with") && text.contains("status 1"),
        "{text}"
    );
    assert!(text.contains("Download failed: 503"), "{text}");
    let retry = v.retry_plan(&plan()).unwrap();
    let ids: Vec<_> = retry.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, vec!["k3s-agent-2/swap-config", "k3s-agent-2/join"]);
    snap("k3s_failed", &v);
}

#[test]
fn k3s_view_trust_prompt_shows_the_fingerprint() {
    let v = running();
    let trust = Some(HostKeyPrompt {
        host: "192.168.1.32".into(),
        port: 22,
        algorithm: "ssh-ed25519".into(),
        fingerprint: "SHA256:Wz0Fq0mX8hI4mGv2tQ3J3cQYj0J5x6fWm1c9o5a0b8E".into(),
        known_hosts: "/home/op/.ssh/known_hosts".into(),
    });
    let text = frame_with(&v, trust.as_ref(), 80, 24);
    assert!(
        text.contains("SHA256:Wz0Fq0mX8hI4mGv2tQ3J3cQYj0J5x6fWm1c9o5a0b8E"),
        "{text}"
    );
    snap_with("k3s_trust_prompt", &v, trust.as_ref());
}

#[test]
fn k3s_view_done() {
    let mut v = running();
    for s in ["k3s-agent-1/join", "k3s-agent-2/join"] {
        v.on_event(&done(s, Outcome::Changed));
    }
    for s in ["cluster/kubeconfig", "cluster/ready"] {
        v.on_event(&started(s));
        v.on_event(&done(s, Outcome::Changed));
    }
    v.on_event(&ev(EventKind::Log {
        step: Some("cluster/ready".into()),
        line: "node k3s-agent-2: Ready KubeletReady kubelet is posting ready status".into(),
    }));
    v.on_event(&ev(EventKind::Finished {
        summary: RunSummary {
            changed: 7,
            held: 1,
            skipped: 0,
            drifted: 0,
        },
    }));
    assert!(frame(&v, 80, 24).contains("done: 7 changed, 1 already held"));
    snap("k3s_done", &v);
}

#[test]
fn k3s_view_many_nodes_keep_the_focused_one_visible_at_80_columns() {
    let mut p = Plan::new(StageId::K3s);
    for i in 1..=6 {
        let n = format!("k3s-agent-{i}");
        p.steps
            .push(Step::new(format!("{n}/join"), &n, Intent::Create, "join"));
    }
    let mut v = K3sView::from_plan(&p, &cluster());
    for _ in 0..5 {
        v.focus_next();
    }
    let text = frame(&v, 80, 24);
    assert!(text.contains("k3s-agent-6"), "{text}");
    assert!(!text.contains("k3s-agent-1 "), "{text}");
    assert!(text.contains("of 6 nodes"), "{text}");
}

// ---- inside the wizard shell (the app as the operator drives it) ----

use homelab::app::App;
use homelab::msg::{Action, Msg};
use homelab::screens::ScreenId;
use homelab::screens::wizard::Event as WizardEvent;
use homelab::stages::engine::Check;

fn wizard_on_k3s() -> App {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Wizard));
    // The wizard opens on Proxmox (the journal's history, which would move it, is not
    // delivered here); a Proxmox review is not what this test is about.
    support::backend(
        &mut app,
        WizardEvent::StageUnavailable {
            stage: StageId::Proxmox,
            error: "no PVE token in this test".into(),
        },
    );
    // Stage list: Secrets, Proxmox VMs, k3s; the wizard opens on Proxmox.
    support::press(&mut app, "down");
    assert_eq!(app.screens.wizard.current().id, StageId::K3s);
    support::backend(
        &mut app,
        WizardEvent::StageReviewed {
            stage: StageId::K3s,
            checks: vec![Check::pass(
                "node/k3s-agent-1/swap",
                "k3s-agent-1: swap",
                "ON, 2.0 GiB - left on by policy",
            )],
            plan: Ok(plan()),
        },
    );
    let events = vec![
        ev(EventKind::Started { steps: 8 }),
        started("k3s-server-1/swap-config"),
        done("k3s-server-1/swap-config", Outcome::Changed),
        started("k3s-server-1/install"),
        log("k3s-server-1/install", "[INFO]  systemd: Starting k3s"),
        done("k3s-server-1/install", Outcome::Changed),
        started("k3s-agent-1/join"),
        started("k3s-agent-2/join"),
        log("k3s-agent-1/join", "[INFO]  Using v1.33.5+k3s1 as release"),
        log("k3s-agent-2/join", "[INFO]  Using v1.33.5+k3s1 as release"),
    ];
    for e in events {
        support::backend(&mut app, WizardEvent::Stage(e));
    }
    app.toasts.clear();
    app
}

#[test]
fn k3s_wizard_running_shows_node_columns_and_retry_targets_the_focused_node() {
    let mut app = wizard_on_k3s();
    support::assert_frames("wizard", "k3s_wizard_running", &mut app);
    support::backend(
        &mut app,
        WizardEvent::Stage(ev(EventKind::StepFailed {
            step: "k3s-agent-2/join".into(),
            error: StageError::new(
                "k3s-agent-2: `sudo sh -c ...` exited with status 1\nstderr:\n[ERROR]  boom",
            ),
        })),
    );
    support::backend(
        &mut app,
        WizardEvent::Stage(ev(EventKind::Failed {
            error: StageError::new("k3s-agent-2 failed"),
        })),
    );
    support::press(&mut app, "tab");
    support::press(&mut app, "tab");
    let v = app.screens.wizard.k3s.as_ref().unwrap();
    assert_eq!(v.focused().unwrap().name, "k3s-agent-2");
    let effects = support::press(&mut app, "r");
    assert!(!effects.is_empty(), "retry starts a run");
    assert_eq!(
        app.status.as_ref().map(|(_, s)| s.as_str()),
        Some("retrying k3s-agent-2")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn k3s_wizard_asks_ssh_questions_and_answers_on_the_reply_channel() {
    let mut app = wizard_on_k3s();
    let prompter = app.screens.wizard.ssh.prompter();
    let asked = tokio::spawn(async move {
        let trusted = prompter
            .trust_host_key(&HostKeyPrompt {
                host: "192.168.1.32".into(),
                port: 22,
                algorithm: "ssh-ed25519".into(),
                fingerprint: "SHA256:Wz0Fq0mX8hI4mGv2tQ3J3cQYj0J5x6fWm1c9o5a0b8E".into(),
                known_hosts: "/home/op/.ssh/known_hosts".into(),
            })
            .await;
        let pw = prompter.sudo_password("ubuntu", "192.168.1.32").await;
        (trusted, pw.map(|p| p.len()))
    });
    // The question comes from another task: tick until it is there (a generous bound, not a
    // count of ticks, which a loaded machine can use up before the task runs).
    let tick_until_asked = |app: &mut App| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            homelab::app::update(app, Msg::Tick);
            if app.screens.wizard.ssh.active() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("no question arrived");
    };
    tick_until_asked(&mut app);
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(
        &frame,
        "SHA256:Wz0Fq0mX8hI4mGv2tQ3J3cQYj0J5x6fWm1c9o5a0b8E"
    ));
    support::press(&mut app, "y");
    tick_until_asked(&mut app);
    // (No snapshot here: the number of ticks until the question arrives moves the spinners.)
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(
        &frame,
        "sudo password for ubuntu@192.168.1.32"
    ));
    support::type_text(&mut app, "hunter2");
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(&frame, "•••••••"));
    assert!(
        !support::contains(&frame, "hunter2"),
        "the password is never drawn"
    );
    support::press(&mut app, "enter");
    assert!(!app.screens.wizard.ssh.active());
    assert_eq!(asked.await.unwrap(), (true, Some(7)));
}
