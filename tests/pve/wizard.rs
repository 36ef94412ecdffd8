//! The wizard screen: plan, running, failed, done and the trust prompt, snapshotted into
//! snapshots/wizard/, plus its keys (retry, skip, cancel, trust).

use crate::ui::{act, asking, assert_frames, backend, deliver, now, press};
use homelab::msg::{Action, BackendEvent};
use homelab::screens::{Screen, ScreenId};
use homelab::stages::engine::*;

fn at(secs: i64) -> jiff::Timestamp {
    now()
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

fn ev(secs: i64, kind: EventKind) -> BackendEvent {
    BackendEvent::Wizard(homelab::screens::wizard::Event::Stage(StageEvent {
        at: at(secs),
        stage: StageId::Proxmox,
        kind,
    }))
}

fn checks(fail: bool) -> Vec<Check> {
    let mut c = vec![
        Check::pass(
            "api",
            "PVE API reachable",
            "https://192.168.1.10:8006 answers as PVE 8.4.1",
        ),
        Check::pass("version", "PVE version", "PVE 8.4.1 (>= 8.4)"),
        Check::pass("node/pve-n100", "Node pve-n100", "online"),
        Check::pass("privileges", "Token privileges", "41 privilege checks pass"),
        Check::warn(
            "snippet/pve-n100",
            "Vendor snippet on pve-n100",
            "local:snippets/homelab-vendor.yaml is missing: the stage waits for SSH only",
            "run infrastructure/proxmox/cluster_bootstrap.sh on the node",
        ),
    ];
    if fail {
        c.push(Check::fail(
            "privilege/VM.PowerMgmt",
            "Privilege VM.PowerMgmt",
            "homelab@pve!bootstrap lacks VM.PowerMgmt on /vms/201 (starting it)",
            "pveum acl modify /vms/201 --tokens 'homelab@pve!bootstrap' --roles HomelabBootstrap",
        ));
    }
    c
}

fn plan() -> Plan {
    let mut p = Plan::new(StageId::Proxmox);
    fn push(p: &mut Plan, id: &str, subject: &str, intent: Intent, title: &str, call: &str) {
        p.steps
            .push(Step::new(id, subject, intent, title).call(call));
    }
    push(
        &mut p,
        "image/pve-n100",
        "image",
        Intent::Create,
        "Ubuntu cloud image on pve-n100:local",
        "POST /nodes/pve-n100/storage/local/download-url content=import filename=ubuntu-24.04-server-cloudimg-amd64.qcow2",
    );
    push(
        &mut p,
        "template/pve-n100/create",
        "template",
        Intent::Create,
        "Template VM 9000 (ubuntu-2404-cloud) on pve-n100",
        "POST /nodes/pve-n100/qemu vmid=9000",
    );
    push(
        &mut p,
        "template/pve-n100/convert",
        "template",
        Intent::Create,
        "Convert VM 9000 to a template",
        "POST /nodes/pve-n100/qemu/9000/template",
    );
    for (name, vmid, intent) in [
        ("k3s-server-1", 201, Intent::Verify),
        ("k3s-agent-1", 211, Intent::Create),
        ("k3s-agent-2", 212, Intent::Create),
    ] {
        push(
            &mut p,
            &format!("vm/{name}/clone"),
            name,
            intent,
            &format!("Full clone of template 9000 to VM {vmid} ({name}) on pve-n100"),
            &format!(
                "POST /nodes/pve-n100/qemu/9000/clone newid={vmid} name={name} full=1 storage=local-lvm"
            ),
        );
        push(
            &mut p,
            &format!("vm/{name}/resize"),
            name,
            intent,
            "Disk scsi0 to 64 GiB",
            &format!("PUT /nodes/pve-n100/qemu/{vmid}/resize disk=scsi0 size=64G"),
        );
        let ci = if name == "k3s-server-1" {
            Intent::Drift
        } else {
            intent
        };
        p.steps.push(
            Step::new(
                format!("vm/{name}/config"),
                name,
                ci,
                format!("Cloud-init, 2 cores, 4096 MiB, tags for VM {vmid}"),
            )
            .call(format!(
                "PUT /nodes/pve-n100/qemu/{vmid}/config cores=2 memory=4096"
            ))
            .with_note(if name == "k3s-server-1" {
                "cores: 4 (definition: 2)"
            } else {
                ""
            }),
        );
        push(
            &mut p,
            &format!("vm/{name}/start"),
            name,
            intent,
            &format!("Start VM {vmid}"),
            &format!("POST /nodes/pve-n100/qemu/{vmid}/status/start"),
        );
    }
    for name in ["k3s-server-1", "k3s-agent-1", "k3s-agent-2"] {
        push(
            &mut p,
            &format!("vm/{name}/wait"),
            name,
            Intent::Wait,
            &format!("Wait for {name}"),
            "GET .../agent/network-get-interfaces",
        );
    }
    for s in &mut p.steps {
        if s.note.as_deref() == Some("") {
            s.note = None;
        }
    }
    p
}

fn reviewed(fail: bool) -> homelab::app::App {
    let mut app = crate::ui::app();
    act(&mut app, Action::Open(ScreenId::Wizard));
    assert_eq!(app.current, ScreenId::Wizard);
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageReviewed {
            stage: StageId::Proxmox,
            checks: checks(fail),
            plan: Ok(plan()),
        }),
    );
    app.toasts.clear();
    app
}

fn running() -> homelab::app::App {
    let mut app = reviewed(false);
    let mut t = 0;
    let mut send = |app: &mut homelab::app::App, kind: EventKind| {
        t += 1;
        backend(app, ev(t, kind));
    };
    send(&mut app, EventKind::Started { steps: 22 });
    for (step, subject, title) in [
        ("image/pve-n100", "image", "Ubuntu cloud image"),
        ("template/pve-n100/create", "template", "Template VM 9000"),
        ("template/pve-n100/convert", "template", "Convert"),
    ] {
        send(
            &mut app,
            EventKind::StepStarted {
                step: step.into(),
                subject: subject.into(),
                title: title.into(),
            },
        );
        send(
            &mut app,
            EventKind::StepDone {
                step: step.into(),
                outcome: Outcome::Changed,
            },
        );
    }
    for step in ["clone", "resize", "config", "start"] {
        let id = format!("vm/k3s-server-1/{step}");
        send(
            &mut app,
            EventKind::StepStarted {
                step: id.clone(),
                subject: "k3s-server-1".into(),
                title: step.into(),
            },
        );
        send(
            &mut app,
            EventKind::StepDone {
                step: id,
                outcome: if step == "config" {
                    Outcome::Drift
                } else {
                    Outcome::Held
                },
            },
        );
    }
    let clone = "vm/k3s-agent-1/clone".to_string();
    send(
        &mut app,
        EventKind::StepStarted {
            step: clone.clone(),
            subject: "k3s-agent-1".into(),
            title: "Full clone of template 9000 to VM 211 (k3s-agent-1) on pve-n100".into(),
        },
    );
    send(
        &mut app,
        EventKind::Log {
            step: Some(clone.clone()),
            line:
                "task UPID:pve-n100:000A1D1F:0C3B4A10:6923A1F0:qmclone:9000:homelab@pve!bootstrap:"
                    .into(),
        },
    );
    send(
        &mut app,
        EventKind::Log {
            step: Some(clone.clone()),
            line: "create full clone of drive scsi0 (local-lvm:base-9000-disk-0)".into(),
        },
    );
    send(
        &mut app,
        EventKind::Log {
            step: Some(clone.clone()),
            line: "transferred 1.4 GiB of 3.5 GiB (40.00%)".into(),
        },
    );
    send(
        &mut app,
        EventKind::Progress {
            step: clone,
            done: 40,
            total: Some(100),
            unit: Unit::Percent,
        },
    );
    app
}

#[test]
fn wizard_plan() {
    let mut app = reviewed(false);
    assert_frames("wizard", "wizard_plan", &mut app);
    // `L` before a run shows every API call of the plan.
    press(&mut app, "L");
    let frame = crate::ui::render(&mut app, 160, 48);
    assert!(crate::ui::contains(
        &frame,
        "POST /nodes/pve-n100/qemu/9000/clone newid=211 name=k3s-agent-1"
    ));
    assert!(crate::ui::contains(&frame, "Plan: every call and command"));
}

#[test]
fn wizard_preflight_failed_blocks_the_run() {
    let mut app = reviewed(true);
    assert_frames("wizard", "wizard_preflight_failed", &mut app);
    let effects = press(&mut app, "enter");
    assert!(effects.is_empty(), "no run with a failing preflight");
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains("preflight has failures"))
    );
}

#[test]
fn wizard_running() {
    let mut app = running();
    assert!(
        app.screens.wizard.busy().is_some(),
        "quitting asks while a stage runs"
    );
    assert_frames("wizard", "wizard_running", &mut app);
}

#[test]
fn wizard_failed_then_retry_and_skip() {
    let mut app = running();
    let error = StageError::new("POST /nodes/pve-n100/qemu/9000/clone: 403 Permission check failed (/vms/211, VM.Allocate)")
        .with_hint("the API token lacks VM.Allocate on /vms/211; grant it, e.g. `pveum acl modify /vms/211 --tokens '<token id>' --roles HomelabBootstrap`");
    backend(
        &mut app,
        ev(
            30,
            EventKind::StepFailed {
                step: "vm/k3s-agent-1/clone".into(),
                error: error.clone(),
            },
        ),
    );
    backend(&mut app, ev(31, EventKind::Failed { error }));
    app.toasts.clear();
    assert_frames("wizard", "wizard_failed", &mut app);
    // `s` asks before skipping the failed step; yes journals the skip and runs again.
    press(&mut app, "s");
    assert!(app.overlays.last().is_some(), "skip asks first");
    let effects = press(&mut app, "y");
    assert!(app.screens.wizard.skip.contains("vm/k3s-agent-1/clone"));
    assert!(!effects.is_empty(), "the run starts again");
}

#[test]
fn wizard_done() {
    let mut app = running();
    backend(
        &mut app,
        ev(
            40,
            EventKind::StepDone {
                step: "vm/k3s-agent-1/clone".into(),
                outcome: Outcome::Changed,
            },
        ),
    );
    for step in plan().steps.iter().skip(8) {
        backend(
            &mut app,
            ev(
                41,
                EventKind::StepDone {
                    step: step.id.clone(),
                    outcome: Outcome::Changed,
                },
            ),
        );
    }
    backend(&mut app, ev(42, EventKind::Log { step: Some("vm/k3s-agent-2/wait".into()), line: "guest agent reports 192.168.1.32; SSH 192.168.1.32:22 answers (SSH-2.0-OpenSSH_9.6p1)".into() }));
    backend(
        &mut app,
        ev(
            43,
            EventKind::Finished {
                summary: RunSummary {
                    changed: 17,
                    held: 3,
                    skipped: 0,
                    drifted: 1,
                },
            },
        ),
    );
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageVerified {
            stage: StageId::Proxmox,
            result: Ok(vec![
                Check::warn(
                    "vm/k3s-server-1",
                    "k3s-server-1 (201)",
                    "running, 4 cores, 4096 MiB, 48.0 GiB; drift: cores: 4 (definition: 2)",
                    "reconcile",
                ),
                Check::pass(
                    "vm/k3s-agent-1",
                    "k3s-agent-1 (211)",
                    "running, 2 cores, 4096 MiB, 64.0 GiB; guest agent reports 192.168.1.31; SSH 192.168.1.31:22 answers",
                ),
            ]),
        }),
    );
    app.toasts.clear();
    assert!(app.screens.wizard.busy().is_none());
    assert_frames("wizard", "wizard_done", &mut app);
    press(&mut app, "L");
    assert_frames("wizard", "wizard_full_log", &mut app);
}

/// The PVE endpoint presents an unpinned certificate: the trust prompt opens. Its fingerprint.
fn ask_to_trust(app: &mut homelab::app::App) -> &'static str {
    let fp = "3F:A0:9C:11:5B:7E:D2:44:90:1C:6A:E8:0B:53:27:FD:C4:18:9A:72:6E:05:B1:3D:E9:40:8C:2F:76:A5:1B:D3";
    backend(
        app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageTrustNeeded {
            stage: StageId::Proxmox,
            endpoint: "192.168.1.10:8006".into(),
            fingerprint: fp.into(),
            field: "proxmox.tls.fingerprint".into(),
        }),
    );
    fp
}

#[test]
fn wizard_trust_prompt_names_the_fingerprint() {
    let mut app = crate::ui::app();
    act(&mut app, Action::Open(ScreenId::Wizard));
    ask_to_trust(&mut app);
    assert_frames("wizard", "wizard_trust", &mut app);
    let effects = press(&mut app, "y");
    assert!(!effects.is_empty(), "trusting stores the pin in a task");
}

#[test]
fn wizard_declined_trust_says_so_and_a_new_review_clears_it() {
    let mut app = crate::ui::app();
    // As `homelab bootstrap --stage proxmox` does: picked before the screen opens, reviewed at once.
    app.screens.wizard.pick(StageId::Proxmox);
    act(&mut app, Action::Open(ScreenId::Wizard));
    assert_eq!(app.screens.wizard.current().id, StageId::Proxmox);
    assert_eq!(
        app.screens.wizard.current().phase,
        homelab::screens::wizard::model::Phase::Reviewing,
        "the picked stage is reviewed on open"
    );
    let fp = ask_to_trust(&mut app);
    press(&mut app, "n");
    assert!(app.overlays.is_empty(), "the prompt closed");
    let m = app.screens.wizard.current();
    assert_eq!(m.id, StageId::Proxmox);
    let err = m.plan_error.as_ref().expect("the refusal is shown");
    assert!(err.message.contains("was not trusted"), "{err:?}");
    assert!(err.message.contains(fp), "{err:?}");
    assert!(
        err.hint
            .as_deref()
            .is_some_and(|h| h.contains("review again (p)")),
        "{err:?}"
    );
    let frame = crate::ui::render(&mut app, 160, 48);
    for shown in [
        "was not trusted",
        "try: compare it with `pvenode cert info`",
    ] {
        assert!(
            crate::ui::contains(&frame, shown),
            "{shown}: {:?}",
            frame.buffer()
        );
    }

    // `p` reviews again: the old verdict goes at once.
    press(&mut app, "p");
    let m = app.screens.wizard.current();
    assert!(m.plan_error.is_none(), "{:?}", m.plan_error);
    assert_eq!(m.phase, homelab::screens::wizard::model::Phase::Reviewing);
}

fn confirm_overlay(app: &homelab::app::App) -> homelab::overlays::confirm::ConfirmState {
    match app.overlays.last() {
        Some(homelab::overlays::Overlay::Confirm(c)) => c.clone(),
        other => panic!("expected the confirm overlay, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_asks_for_a_stage_confirmation_and_the_answer_reaches_the_stage() {
    for (key, want) in [("y", true), ("esc", false), ("n", false)] {
        let mut app = reviewed(false);
        let mut asking = asking(StageId::K3s);
        let confirm = asking.confirmer(CancellationToken::new());
        let ask = tokio::spawn(async move {
            confirm
                .confirm(&Prompt {
                    title: "Upgrade k3s on k3s-server-1?".into(),
                    detail: "k3s-server-1 runs v1.31.4+k3s1; the cluster config pins v1.32.3+k3s1."
                        .into(),
                    type_to_confirm: None,
                })
                .await
        });
        deliver(&mut app, &mut asking).await;
        let c = confirm_overlay(&app);
        assert_eq!(c.title, "Upgrade k3s on k3s-server-1?");
        assert!(c.type_to_confirm.is_none());
        assert_eq!(c.owner, Some(ScreenId::Wizard));
        press(&mut app, key);
        assert!(app.overlays.is_empty(), "{key} closes the question");
        assert_eq!(ask.await.unwrap(), want, "answer for {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wizard_reconcile_deletes_an_orphan_vm_only_after_its_name_is_typed() {
    use crate::support::{apply, cluster, free_port, sim, stage};
    let nodes = ["pve"];
    let port = free_port();
    let sim = sim(&nodes, port).await;
    let stage = std::sync::Arc::new(stage(&sim, cluster(&sim, &nodes, port)));
    let dir = tempfile::tempdir().unwrap();
    apply(&*stage, &dir.path().join("j"), RunOptions::default())
        .await
        .result
        .unwrap();
    sim.with(|st| {
        let mut vm = st.vms[&211].clone();
        vm.vmid = 212;
        vm.config.insert("name".into(), "k3s-agent-old".into());
        st.vms.insert(212, vm);
    });

    for (typed, deleted) in [(None, false), (Some("k3s-agent-old"), true)] {
        let mut app = reviewed(false);
        let cancel = CancellationToken::new();
        let mut asking = asking(StageId::Proxmox);
        let confirm = asking.confirmer(cancel.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(100_000);
        drop(rx);
        let run = RunCx::new(tx, Journal::at(dir.path().join("j")).unwrap())
            .with_cancel(cancel)
            .with_options(RunOptions {
                reconcile: true,
                ..Default::default()
            })
            .with_confirm(confirm);
        let s = stage.clone();
        let worker = tokio::spawn(async move {
            let plan = s.plan().await.unwrap();
            s.apply(&plan, &run).await
        });
        deliver(&mut app, &mut asking).await;
        let c = confirm_overlay(&app);
        assert_eq!(c.type_to_confirm.as_deref(), Some("k3s-agent-old"));
        assert!(
            c.title.contains("Delete VM 212 (k3s-agent-old)"),
            "{}",
            c.title
        );
        match typed {
            Some(name) => {
                app.toasts.clear();
                assert_frames("wizard", "wizard_confirm_delete_vm", &mut app);
                // `y` before the name is typed does nothing; the wrong name neither.
                crate::ui::type_text(&mut app, "k3s-agent-1");
                press(&mut app, "enter");
                assert!(!app.overlays.is_empty(), "a wrong name does not confirm");
                for _ in 0.."k3s-agent-1".len() {
                    press(&mut app, "backspace");
                }
                crate::ui::type_text(&mut app, name);
                press(&mut app, "enter");
            }
            None => {
                press(&mut app, "esc");
            }
        }
        assert!(app.overlays.is_empty());
        worker.await.unwrap().unwrap();
        assert_eq!(
            !sim.with(|st| st.vms.contains_key(&212)),
            deleted,
            "typed {typed:?}"
        );
    }
}

/// The documented keys as the wizard's task reads them (from the session's repository; the
/// fixture's has no config/env/README.md, so the stage's built-in list: stable snapshots).
fn documented(app: &homelab::app::App) -> Vec<homelab::stages::secrets::KeySpec> {
    homelab::stages::secrets::documented_keys(&app.session.repo_root)
}

/// Enter on the secrets stage reads the documented keys in a task (no run yet); delivering
/// them opens the form.
fn open_form(app: &mut homelab::app::App) {
    let effects = press(app, "enter");
    assert_eq!(effects.len(), 1, "one task: read the key list");
    assert!(app.screens.wizard.secrets_form.is_none());
    assert!(
        app.screens.wizard.busy().is_none(),
        "the form comes first, no run yet"
    );
    let keys = documented(app);
    backend(
        app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::WizardSecretKeys(keys)),
    );
    assert!(app.screens.wizard.secrets_form.is_some(), "form open");
}

/// The wizard on the secrets stage with a reviewed plan that creates the env file.
/// `ask`: the keys the env-file step asks for (None: every documented key, a new file).
fn secrets_reviewed(ask: Option<&[&str]>) -> homelab::app::App {
    let mut app = crate::ui::app();
    let ask: Vec<String> = match ask {
        Some(keys) => keys.iter().map(|k| k.to_string()).collect(),
        None => documented(&app).into_iter().map(|k| k.key).collect(),
    };
    act(&mut app, Action::Open(ScreenId::Wizard));
    let mut plan = Plan::new(StageId::Secrets);
    plan.steps.push(Step::new(
        "identity",
        "age",
        Intent::Verify,
        "Use the age identity",
    ));
    plan.steps.push(
        Step::new(
            "env-file",
            "env",
            Intent::Create,
            "Create config/env/prox-n100.env",
        )
        .call(format!("ask: {}", ask.join(", "))),
    );
    backend(
        &mut app,
        BackendEvent::Wizard(homelab::screens::wizard::Event::StageReviewed {
            stage: StageId::Secrets,
            checks: vec![Check::pass("identity", "age identity", "found")],
            plan: Ok(plan),
        }),
    );
    press(&mut app, "g");
    assert_eq!(app.screens.wizard.current().id, StageId::Secrets);
    app.toasts.clear();
    app
}

#[test]
fn wizard_secrets_form_masks_values_and_runs_the_stage_with_them() {
    let mut app = secrets_reviewed(None);
    open_form(&mut app);
    let form = app.screens.wizard.secrets_form.as_ref().expect("form open");
    let keys: Vec<&str> = form.fields.iter().map(|f| f.spec.key.as_str()).collect();
    assert!(keys.contains(&"PROXMOX_TOKEN_SECRET") && keys.contains(&"K3S_TOKEN"));
    let k3s = form
        .fields
        .iter()
        .find(|f| f.spec.key == "K3S_TOKEN")
        .unwrap();
    assert_eq!(k3s.value().len(), 32, "generated default pre-filled");
    let domain = form.fields.iter().find(|f| f.spec.key == "DOMAIN").unwrap();
    assert!(!domain.value().is_empty(), "default from the cluster file");
    let first = form.fields[0].spec.key.clone();
    assert_eq!(first, "PROXMOX_TOKEN_SECRET");
    crate::ui::type_text(&mut app, "fake-pve-token-0000");
    app.status = None;
    assert_frames("wizard", "wizard_secrets_form_masked", &mut app);
    let masked = crate::ui::render(&mut app, 160, 48);
    assert!(!crate::ui::contains(&masked, "fake-pve-token-0000"));
    press(&mut app, "ctrl-r");
    assert_frames("wizard", "wizard_secrets_form_revealed", &mut app);
    let shown = crate::ui::render(&mut app, 160, 48);
    assert!(crate::ui::contains(&shown, "fake-pve-token-0000"));
    press(&mut app, "ctrl-r");

    // Tab / Shift-Tab move; Enter accepts each field; required empty fields stop the submit.
    press(&mut app, "tab");
    assert_eq!(app.screens.wizard.secrets_form.as_ref().unwrap().focus, 1);
    press(&mut app, "shift-tab");
    assert_eq!(app.screens.wizard.secrets_form.as_ref().unwrap().focus, 0);
    let n = app
        .screens
        .wizard
        .secrets_form
        .as_ref()
        .unwrap()
        .fields
        .len();
    for _ in 0..n {
        press(&mut app, "enter");
    }
    let form = app
        .screens
        .wizard
        .secrets_form
        .as_ref()
        .expect("still open");
    let missing = form.fields[form.focus].spec.key.clone();
    assert!(form.fields[form.focus].value().is_empty());
    assert!(
        app.toasts
            .iter()
            .any(|t| t.text.contains(&format!("{missing} is required"))),
        "names the empty required key"
    );
    // Fill every empty required field, then Enter through to the end: the stage runs.
    let mut effects = Vec::new();
    for _ in 0..3 * n {
        let Some(form) = app.screens.wizard.secrets_form.as_ref() else {
            break;
        };
        let f = &form.fields[form.focus];
        if f.value().is_empty() && !f.spec.optional {
            let fake = format!("fake-{}", f.spec.key.to_lowercase());
            crate::ui::type_text(&mut app, &fake);
        }
        effects = press(&mut app, "enter");
    }
    assert!(app.screens.wizard.secrets_form.is_none(), "form submitted");
    assert!(!effects.is_empty(), "the run was spawned");
    assert!(
        app.screens.wizard.busy().is_some(),
        "the secrets stage runs"
    );
}

#[test]
fn wizard_secrets_form_escape_and_leaving_discard_the_values() {
    let mut app = secrets_reviewed(None);
    open_form(&mut app);
    crate::ui::type_text(&mut app, "fake");
    press(&mut app, "esc");
    assert!(app.screens.wizard.secrets_form.is_none());
    assert!(app.screens.wizard.busy().is_none(), "nothing runs");
    open_form(&mut app);
    act(&mut app, Action::Open(ScreenId::Home));
    assert!(
        app.screens.wizard.secrets_form.is_none(),
        "leaving the wizard drops (wipes) the form"
    );
}

#[test]
fn wizard_secrets_form_asks_only_for_the_keys_an_existing_file_lacks() {
    let mut app = secrets_reviewed(Some(&["CLOUDFLARE_TUNNEL_TOKEN", "NFS_EXPORT"]));
    open_form(&mut app);
    let form = app.screens.wizard.secrets_form.as_ref().unwrap();
    let keys: Vec<&str> = form.fields.iter().map(|f| f.spec.key.as_str()).collect();
    assert_eq!(keys, ["CLOUDFLARE_TUNNEL_TOKEN", "NFS_EXPORT"]);
}
