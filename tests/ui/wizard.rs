//! The wizard opening where the operator left off (the journal's history in the stage list,
//! the selection on the first stage that did not finish) and stage questions withdrawn when
//! their run stops. Frames in snapshots/wizard/wizard_history*.

use crate::support::{self, act, assert_frames, backend, now, press};
use homelab::app::App;
use homelab::msg::{Action, BackendEvent, Msg};
use homelab::overlays::Overlay;
use homelab::runtime::effects::{Effect, Effects};
use homelab::screens::ScreenId;
use homelab::stages::engine::*;

fn ago(secs: i64) -> jiff::Timestamp {
    now()
        .checked_sub(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

fn last_run(outcome: RunOutcome, ended: i64, step: Option<&str>, detail: &str) -> LastRun {
    LastRun {
        outcome,
        started: ago(ended + 5 * MIN),
        ended: ago(ended),
        failed_step: step.map(str::to_owned),
        detail: Some(detail.to_owned()),
    }
}

/// Secrets done two days ago, Proxmox failed three hours ago at an agent's clone, k3s never ran.
fn history() -> StageHistory {
    [
        (
            StageId::Secrets,
            last_run(
                RunOutcome::Finished,
                2 * DAY,
                None,
                "3 changed, 0 held, 0 skipped, 0 drifted",
            ),
        ),
        (
            StageId::Proxmox,
            last_run(
                RunOutcome::Failed,
                3 * HOUR,
                Some("vm/k3s-agent-1/clone"),
                "POST /nodes/pve-n100/qemu/9000/clone: 403 Permission check failed (/vms/211, VM.Allocate)",
            ),
        ),
    ]
    .into()
}

fn loaded(result: Result<StageHistory, String>) -> BackendEvent {
    BackendEvent::Wizard(homelab::screens::wizard::Event::StageHistoryLoaded {
        read_at: now(),
        result,
    })
}

/// Task keys of the tasks `effects` spawn.
fn spawned(effects: &Effects) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Spawn(t) => Some(t.key.to_string()),
            _ => None,
        })
        .collect()
}

fn status(app: &App) -> String {
    app.status
        .as_ref()
        .map(|(_, s)| s.clone())
        .unwrap_or_default()
}

fn open_wizard() -> App {
    let mut app = support::app();
    let effects = act(&mut app, Action::Open(ScreenId::Wizard));
    assert_eq!(
        spawned(&effects),
        vec!["wizard-history".to_string()],
        "entering reads the journal first; the review waits for it"
    );
    app
}

fn proxmox_plan() -> Plan {
    let mut p = Plan::new(StageId::Proxmox);
    for (id, subject, intent, title) in [
        (
            "image/pve-n100",
            "image",
            Intent::Verify,
            "Ubuntu cloud image",
        ),
        (
            "template/pve-n100/create",
            "template",
            Intent::Verify,
            "Template VM 9000",
        ),
        (
            "vm/k3s-server-1/clone",
            "k3s-server-1",
            Intent::Verify,
            "Clone 201",
        ),
        (
            "vm/k3s-agent-1/clone",
            "k3s-agent-1",
            Intent::Create,
            "Clone 211",
        ),
        (
            "vm/k3s-agent-1/start",
            "k3s-agent-1",
            Intent::Create,
            "Start 211",
        ),
        (
            "vm/k3s-agent-2/clone",
            "k3s-agent-2",
            Intent::Create,
            "Clone 212",
        ),
    ] {
        p.steps
            .push(Step::new(id, subject, intent, title).call("POST ..."));
    }
    p
}

fn reviewed_proxmox(app: &mut App) {
    backend(
        app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageReviewed {
            stage: StageId::Proxmox,
            checks: vec![Check::pass("api", "PVE API reachable", "PVE 8.4.1")],
            plan: Ok(proxmox_plan()),
        }),
    );
}

#[test]
fn wizard_history_resumes_at_the_failed_stage() {
    let mut app = open_wizard();
    // Start from k3s to see the selection move (the wizard opens on Proxmox VMs, where this
    // history resumes anyway); the operator has not touched anything.
    app.screens.wizard.selected = 2;
    let effects = backend(&mut app, loaded(Ok(history())));
    assert_eq!(app.screens.wizard.current().id, StageId::Proxmox);
    assert_eq!(
        spawned(&effects),
        vec!["stage:proxmox".to_string()],
        "the resumed stage is reviewed"
    );
    assert_eq!(
        status(&app),
        "Resuming at Proxmox VMs: its last run failed 3h ago at vm/k3s-agent-1/clone"
    );
    reviewed_proxmox(&mut app);
    app.toasts.clear();
    assert_frames("wizard", "wizard_history", &mut app);
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(&frame, "   done 2d ago"));
    assert!(support::contains(&frame, "   never run"));
    assert!(
        support::contains(&frame, "…3s-agent-1/clone"),
        "the step, cut from the left"
    );
    // Colours come from the screen's semantic slots: done in the stage-done colour, a failure
    // in the error colour (under the selection), never run muted like stages still to do.
    let t = app.theme.clone();
    let buf = frame.buffer();
    assert_eq!(fg_at(buf, "✓ Secrets"), t.wizard.stage_done.fg);
    assert_eq!(fg_at(buf, "done 2d ago"), t.wizard.stage_done.fg);
    assert_eq!(fg_at(buf, "failed 3h ago"), t.status.error.fg);
    assert_eq!(fg_at(buf, "never run"), t.wizard.stage_todo.fg);
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "failed 3h ago: vm/k3s-agent-1/clone"),
        "one line when the list has the room"
    );
}

/// The foreground of the first cell of `needle` in `buf`.
fn fg_at(buf: &ratatui::buffer::Buffer, needle: &str) -> Option<ratatui::style::Color> {
    for y in 0..buf.area.height {
        let row = support::row_text(buf, y);
        if let Some(byte) = row.find(needle) {
            let x = row[..byte].chars().count() as u16;
            return buf[(x, y)].fg.into();
        }
    }
    panic!("`{needle}` not in the frame");
}

#[test]
fn wizard_history_after_a_run_in_this_session_fits_80x24() {
    let mut app = open_wizard();
    backend(&mut app, loaded(Ok(history())));
    reviewed_proxmox(&mut app);
    // The retry fails again, later, at another step: the list follows the session's run.
    let at = |secs: i64| {
        now()
            .checked_sub(jiff::SignedDuration::from_secs(secs))
            .unwrap()
    };
    let ev = |secs: i64, kind: EventKind| {
        BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
            at: at(secs),
            stage: StageId::Proxmox,
            kind,
        }))
    };
    backend(&mut app, ev(90, EventKind::Started { steps: 6 }));
    backend(
        &mut app,
        ev(
            80,
            EventKind::StepStarted {
                step: "vm/k3s-agent-2/clone".into(),
                subject: "k3s-agent-2".into(),
                title: "Clone 212".into(),
            },
        ),
    );
    let error = StageError::new("POST /nodes/pve-n100/qemu/9000/clone: 500 storage local-lvm full");
    backend(
        &mut app,
        ev(
            70,
            EventKind::StepFailed {
                step: "vm/k3s-agent-2/clone".into(),
                error: error.clone(),
            },
        ),
    );
    backend(&mut app, ev(65, EventKind::Failed { error }));
    app.toasts.clear();
    assert_frames("wizard", "wizard_history_after_run", &mut app);
    let frame = support::render(&mut app, 160, 48);
    assert!(support::contains(
        &frame,
        "failed 1m ago: vm/k3s-agent-2/clone"
    ));
    // Short of rows, the list keeps one line per run, then drops "never run", then keeps
    // only the selected stage's line; the stage names always stay.
    let frame = support::render(&mut app, 80, 18);
    assert!(support::contains(&frame, "   failed 1m ago"));
    assert!(!support::contains(&frame, "agent-2/clone│"), "no step line");
    assert!(support::contains(&frame, "   never run"));
    let frame = support::render(&mut app, 80, 12);
    assert!(support::contains(&frame, "   failed 1m ago"));
    assert!(!support::contains(&frame, "done 2d ago"));
    assert!(!support::contains(&frame, "never run"));
    for title in ["Secrets", "k3s", "Observability"] {
        assert!(support::contains(&frame, title), "{title}");
    }
}

#[test]
fn wizard_history_all_finished_shows_the_last_stage_and_says_so() {
    let mut app = open_wizard();
    let mut h = history();
    for id in [
        StageId::Proxmox,
        StageId::K3s,
        StageId::Flux,
        StageId::Storage,
        StageId::Ingress,
        StageId::Observability,
    ] {
        h.insert(
            id,
            last_run(
                RunOutcome::Finished,
                HOUR,
                None,
                "0 changed, 9 held, 0 skipped, 0 drifted",
            ),
        );
    }
    let effects = backend(&mut app, loaded(Ok(h)));
    assert_eq!(app.screens.wizard.current().id, StageId::Observability);
    assert_eq!(spawned(&effects), vec!["stage:observability".to_string()]);
    assert!(
        status(&app).starts_with("Every stage in this build has finished; showing Observability"),
        "{}",
        status(&app)
    );
}

#[test]
fn wizard_history_keeps_the_operators_choice() {
    let mut app = open_wizard();
    press(&mut app, "k");
    assert_eq!(app.screens.wizard.current().id, StageId::Secrets);
    let effects = backend(&mut app, loaded(Ok(history())));
    assert_eq!(
        app.screens.wizard.current().id,
        StageId::Secrets,
        "the operator moved first"
    );
    assert!(
        spawned(&effects).is_empty(),
        "nothing reviewed behind their back"
    );
    // The list still shows the history.
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(&frame, "done 2d ago"));
}

#[test]
fn wizard_history_moves_nothing_while_a_stage_runs() {
    let mut app = open_wizard();
    backend(&mut app, loaded(Ok(history())));
    assert_eq!(app.screens.wizard.current().id, StageId::Proxmox);
    // k3s runs (its events arrive); the operator leaves the wizard and comes back.
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
            at: now(),
            stage: StageId::K3s,
            kind: EventKind::Started { steps: 3 },
        })),
    );
    act(&mut app, Action::Open(ScreenId::Home));
    let effects = act(&mut app, Action::Open(ScreenId::Wizard));
    assert_eq!(spawned(&effects), vec!["wizard-history".to_string()]);
    // The journal now has a cancelled secrets run and k3s's open run.
    let mut h = history();
    h.insert(
        StageId::Secrets,
        last_run(
            RunOutcome::Cancelled,
            DAY,
            None,
            "cancelled by the operator",
        ),
    );
    h.insert(
        StageId::K3s,
        last_run(RunOutcome::Interrupted, MIN, None, ""),
    );
    let effects = backend(&mut app, loaded(Ok(h)));
    assert!(spawned(&effects).is_empty(), "nothing reviewed");
    assert_eq!(
        app.screens.wizard.current().id,
        StageId::Proxmox,
        "a stage runs: the selection stays"
    );
    let model = |id: StageId| {
        app.screens
            .wizard
            .stages
            .iter()
            .find(|s| s.id == id)
            .unwrap()
            .history
            .clone()
    };
    use homelab::screens::wizard::model::History;
    assert!(
        matches!(model(StageId::Secrets), History::Last(r) if r.outcome == RunOutcome::Cancelled)
    );
    assert_eq!(
        model(StageId::K3s),
        History::Never,
        "the running stage's open run is not 'interrupted'"
    );
}

#[test]
fn wizard_history_unreadable_is_an_error_and_the_wizard_goes_on() {
    let mut app = open_wizard();
    let error = "cannot read the bootstrap journal /home/op/.local/state/homelab/prox-n100/journal.jsonl: Permission denied (os error 13); the stage list shows no history (check the file and its permissions, or set HOMELAB_STATE_DIR)";
    let effects = backend(&mut app, loaded(Err(error.into())));
    assert!(
        app.toasts.iter().any(|t| t.text == error),
        "the toast names the file"
    );
    assert_eq!(
        app.screens.wizard.current().id,
        StageId::Proxmox,
        "as before"
    );
    assert_eq!(
        spawned(&effects),
        vec!["stage:proxmox".to_string()],
        "reviewed as before"
    );
    reviewed_proxmox(&mut app);
    let frame = support::render(&mut app, 80, 24);
    assert!(!support::contains(&frame, "never run"));
    assert!(!support::contains(&frame, "Last run"));
}

// ---- questions withdrawn when their run stops ----

fn question() -> Prompt {
    Prompt {
        title: "Upgrade k3s on k3s-server-1?".into(),
        detail: "k3s-server-1 runs v1.31.4+k3s1; the cluster config pins v1.32.3+k3s1.".into(),
        type_to_confirm: None,
    }
}

fn withdrawn_toast(app: &App) -> Option<String> {
    app.toasts
        .iter()
        .find(|t| t.text.starts_with("Question withdrawn"))
        .map(|t| t.text.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_stage_question_is_withdrawn_when_the_run_is_cancelled() {
    let mut app = open_wizard();
    let cancel = CancellationToken::new();
    let mut asking = support::asking(StageId::Proxmox);
    let confirm = asking.confirmer(cancel.clone());
    let ask = tokio::spawn(async move { confirm.confirm(&question()).await });
    support::deliver(&mut app, &mut asking).await;
    assert!(
        matches!(app.overlays.last(), Some(Overlay::Confirm(c)) if c.title == question().title)
    );
    // Ctrl-C on the run: the stage stops waiting (its answer is "no") and drops the reply.
    cancel.cancel();
    assert!(!ask.await.unwrap());
    // The run stops at its safe point; its end withdraws the question.
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
            at: now(),
            stage: StageId::Proxmox,
            kind: EventKind::Failed {
                error: StageError::cancelled(),
            },
        })),
    );
    assert!(app.overlays.is_empty(), "the question is gone");
    let toast = withdrawn_toast(&app).expect("the operator is told");
    assert_eq!(
        toast,
        "Question withdrawn: the Proxmox VMs stage stopped before it was answered (\"Upgrade k3s on k3s-server-1?\")"
    );
    // Once: later ticks change nothing, and keys reach the screen again.
    app.toasts.clear();
    homelab::app::update(&mut app, Msg::Tick);
    assert!(withdrawn_toast(&app).is_none());
    press(&mut app, "k");
    assert_eq!(app.screens.wizard.current().id, StageId::Secrets);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_stage_question_is_withdrawn_when_the_failed_run_ends() {
    let mut app = open_wizard();
    let mut asking = support::asking(StageId::K3s);
    let confirm = asking.confirmer(CancellationToken::new());
    let ask = tokio::spawn(async move { confirm.confirm(&question()).await });
    support::deliver(&mut app, &mut asking).await;
    // Another overlay above it (help) stays; only the withdrawn question goes.
    app.overlays
        .push(Overlay::Help(homelab::overlays::help::HelpState::new(
            &app.keymap,
            ScreenId::Wizard,
        )));
    // The run's task ends (its step and the reply's receiver with it), then its end arrives.
    ask.abort();
    let _ = ask.await;
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
            at: now(),
            stage: StageId::K3s,
            kind: EventKind::Failed {
                error: StageError::new("k3s-agent-2: ssh: connection reset"),
            },
        })),
    );
    assert_eq!(app.overlays.len(), 1, "{:?}", app.overlays);
    assert!(matches!(app.overlays[0], Overlay::Help(_)));
    assert!(withdrawn_toast(&app).is_some());
}

// ---- effects are data ----

#[test]
fn wizard_effects_say_what_was_asked() {
    use homelab::app::UpdateCx;
    use homelab::screens::Handled;
    use homelab::screens::wizard::tasks::Effect;
    let mut app = open_wizard();
    let mut cx = UpdateCx::new(&app.session, &app.keymap, ScreenId::Wizard, 0);
    // `p` on Proxmox: one review task, asked by the Proxmox stage.
    let (handled, asked) = app.screens.wizard.act(&Action::Plan, &mut cx);
    assert_eq!(handled, Handled::Yes);
    match asked.as_slice() {
        [Effect::Review { asker, setup }] => {
            assert_eq!(asker.stage, StageId::Proxmox);
            assert!(setup.pin.is_none() && setup.values.is_none());
        }
        other => panic!("expected one review, got {} effects", other.len()),
    }
    assert_eq!(asked[0].key().to_string(), "stage:proxmox");
    // Every stage is in this build: each one asks for its review.
    assert!(StageId::all().all(StageId::available));
    app.screens.wizard.pick(StageId::Observability);
    let mut cx = UpdateCx::new(&app.session, &app.keymap, ScreenId::Wizard, 0);
    let (_, asked) = app.screens.wizard.act(&Action::Plan, &mut cx);
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].key().to_string(), "stage:observability");
}

/// The Flux stage gets its own view once reviewed: the deploy key it shows is what `y` copies.
#[test]
fn wizard_flux_view_follows_the_run_and_copies_the_deploy_key() {
    use homelab::stages::flux;
    let mut app = open_wizard();
    app.screens.wizard.pick(StageId::Flux);
    let mut plan = Plan::new(StageId::Flux);
    for id in flux::STEPS {
        plan.steps
            .push(Step::new(id, "cluster", Intent::Create, id).call(format!("do {id}")));
    }
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageReviewed {
            stage: StageId::Flux,
            checks: vec![Check::pass(
                "cluster/reachable",
                "Cluster reachable",
                "1.33",
            )],
            plan: Ok(plan),
        }),
    );
    assert!(app.screens.wizard.flux.is_some());
    let ev = |kind| {
        BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
            at: now(),
            stage: StageId::Flux,
            kind,
        }))
    };
    backend(&mut app, ev(EventKind::Started { steps: 12 }));
    backend(
        &mut app,
        ev(EventKind::Log {
            step: Some(flux::STEP_DEPLOY_KEY.into()),
            line: format!("{}ssh-ed25519 AAAAkey flux@lab", flux::DEPLOY_KEY_LINE),
        }),
    );
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "Deploy key (read access)"),
        "{frame}"
    );
    assert!(
        support::contains(&frame, "ssh-ed25519 AAAAkey flux@lab"),
        "{frame}"
    );
    app.toasts.clear();
    press(&mut app, "y");
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.starts_with("deploy key copied")),
        "y copies the key"
    );
}

/// The storage, ingress and observability stages get the platform view once reviewed: each
/// probe's evidence shows as it is reported, and another stage's events do not reach it.
#[test]
fn wizard_platform_view_shows_the_probes_evidence_of_its_own_stage() {
    use homelab::stages::probe::Evidence;
    let mut app = open_wizard();
    app.screens.wizard.pick(StageId::Ingress);
    let mut plan = Plan::new(StageId::Ingress);
    for id in ["cluster/gateway", "probe/route"] {
        plan.steps
            .push(Step::new(id, "cluster", Intent::Wait, id).call(format!("check {id}")));
    }
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageReviewed {
            stage: StageId::Ingress,
            checks: vec![],
            plan: Ok(plan),
        }),
    );
    assert!(app.screens.wizard.platform.is_some());
    let ev = |stage, kind| {
        BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
            at: now(),
            stage,
            kind,
        }))
    };
    let line = |probe: &str, read: &str| {
        Evidence::new(
            probe,
            "GET / Host: echo.demo.internal",
            read,
            std::time::Duration::from_millis(37),
            true,
        )
        .line()
    };
    backend(
        &mut app,
        ev(StageId::Ingress, EventKind::Started { steps: 2 }),
    );
    backend(
        &mut app,
        ev(
            StageId::Ingress,
            EventKind::Log {
                step: Some("probe/route".into()),
                line: line("route/echo", "200 marker-c0ffee"),
            },
        ),
    );
    // A Flux event with evidence-shaped text is not the ingress stage's.
    backend(
        &mut app,
        ev(
            StageId::Flux,
            EventKind::Log {
                step: Some("cluster/follow".into()),
                line: line("route/other", "not mine"),
            },
        ),
    );
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "Probes: written, read back, time"),
        "{frame}"
    );
    assert!(
        support::contains(&frame, "read 200 marker-c0ffee"),
        "{frame}"
    );
    assert!(!support::contains(&frame, "route/other"), "{frame}");
    // The plain log shows the evidence in words, not its JSON.
    assert!(!support::contains(&frame, "\"took_ms\""), "{frame}");
    assert!(
        support::contains(
            &frame,
            "probe route/echo ok in 37 ms: wrote \"GET / Host: echo.demo.internal\""
        ),
        "{frame}"
    );
}
