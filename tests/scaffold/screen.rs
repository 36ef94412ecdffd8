//! The scaffold screen: the form (empty, filled, invalid), the preview and the diff as frames
//! (snapshots/scaffold/), driven with keys; task results are injected, as the runtime would
//! deliver them.

use crate::ui_support::{self as support, act, assert_frames, backend, press, type_text};
use homelab::msg::Action;
use homelab::repo::tree::Tree;
use homelab::scaffold::TreeFacts;
use homelab::screens::ScreenId;
use homelab::screens::scaffold::{Event, Phase, Planned, Slot, make_plan};

fn facts() -> TreeFacts {
    TreeFacts::read(&Tree::load(&support::manifest_dir()).unwrap()).unwrap()
}

/// The app on the scaffold screen with the tree's facts read.
fn opened() -> homelab::app::App {
    let mut app = support::app();
    act(&mut app, Action::Open(ScreenId::Scaffold));
    backend(&mut app, Event::Facts(Ok(Box::new(facts()))));
    app
}

/// Tab until `slot` has the focus.
fn focus(app: &mut homelab::app::App, slot: Slot) {
    for _ in 0..40 {
        if app.screens.scaffold.form.focus == slot {
            return;
        }
        press(app, "tab");
    }
    panic!("{slot:?} never got the focus");
}

/// whoami from traefik/whoami, tools, storage longhorn, one secret key with its value.
fn fill(app: &mut homelab::app::App) {
    type_text(app, "whoami");
    focus(app, Slot::Category);
    press(app, "right");
    press(app, "right");
    focus(app, Slot::Image);
    type_text(app, "traefik/whoami:v1.11.0");
    focus(app, Slot::Port);
    type_text(app, "80");
    focus(app, Slot::Storage);
    press(app, "right");
    focus(app, Slot::SecretKeys);
    type_text(app, "API_TOKEN");
    focus(app, Slot::SecretValue(0));
    type_text(app, "hunter2-not-real");
}

#[test]
fn scaffold_form_empty() {
    let mut app = opened();
    assert_frames("scaffold", "scaffold_form_empty", &mut app);
}

#[test]
fn scaffold_form_filled() {
    let mut app = opened();
    fill(&mut app);
    let frame = support::render(&mut app, 160, 48);
    assert!(!support::contains(&frame, "hunter2"), "the value is masked");
    assert!(support::contains(&frame, "••••"), "the value is masked");
    assert_eq!(app.screens.scaffold.form.errors(), &[]);
    assert_frames("scaffold", "scaffold_form_filled", &mut app);
}

#[test]
fn scaffold_form_invalid() {
    let mut app = opened();
    type_text(&mut app, "Bad_Name");
    focus(&mut app, Slot::Image);
    type_text(&mut app, "nginx:latest");
    focus(&mut app, Slot::Exposure);
    press(&mut app, "right");
    // Ctrl-S with problems: every field shows its message, the first one gets the focus.
    press(&mut app, "ctrl-s");
    assert_eq!(app.screens.scaffold.form.focus, Slot::Name);
    assert!(matches!(app.screens.scaffold.phase, Phase::Form));
    let frame = support::render(&mut app, 160, 48);
    for want in [
        "`Bad_Name` is not a DNS-safe app name",
        "no category",
        "`nginx:latest` uses the mutable tag latest",
    ] {
        assert!(support::contains(&frame, want), "{want}");
    }
    assert_frames("scaffold", "scaffold_form_invalid", &mut app);
}

/// The preview of whoami (no secret: the ciphertext would differ on each run) and its diff.
#[test]
fn scaffold_preview_and_diff() {
    let mut app = opened();
    type_text(&mut app, "whoami");
    focus(&mut app, Slot::Category);
    press(&mut app, "right");
    press(&mut app, "right");
    focus(&mut app, Slot::Image);
    type_text(&mut app, "traefik/whoami:v1.11.0");
    let effects = press(&mut app, "ctrl-s");
    assert!(
        format!("{effects:?}").contains("scaffold-plan"),
        "the plan is made in a task: {effects:?}"
    );
    assert!(matches!(app.screens.scaffold.phase, Phase::Planning));
    let input = app.screens.scaffold.form.input(String::new());
    let planned: Planned = make_plan(&support::manifest_dir(), &facts(), input, None).unwrap();
    backend(&mut app, Event::Planned(Ok(Box::new(planned))));
    assert!(matches!(app.screens.scaffold.phase, Phase::Preview(_)));
    assert_frames("scaffold", "scaffold_preview", &mut app);
    press(&mut app, "tab");
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "+  - whoami"),
        "the diff shows the added line"
    );
    assert_frames("scaffold", "scaffold_diff", &mut app);
    // Ctrl-S asks before anything is written.
    press(&mut app, "ctrl-s");
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "Write these 7 files, run homelab check, commit?")
            && support::contains(&frame, "Commit \"apps: add whoami\""),
        "{}",
        frame
    );
}

/// After the write: the result, the push and the watch's steps as they report.
#[test]
fn scaffold_done_shows_the_commit_and_the_watch() {
    let mut app = watching();
    assert_frames("scaffold", "scaffold_done_watching", &mut app);
}

/// whoami (internal) written, committed, pushed, and followed: the watch's steps reported,
/// its pod not Ready yet.
fn watching() -> homelab::app::App {
    use homelab::scaffold::apply::Applied;
    use homelab::scaffold::watch::Progress;
    use homelab::screens::scaffold::WatchEvent;
    let mut app = opened();
    type_text(&mut app, "whoami");
    focus(&mut app, Slot::Category);
    press(&mut app, "right");
    press(&mut app, "right");
    focus(&mut app, Slot::Image);
    type_text(&mut app, "traefik/whoami:v1.11.0");
    press(&mut app, "ctrl-s");
    let input = app.screens.scaffold.form.input(String::new());
    let planned = make_plan(&support::manifest_dir(), &facts(), input, None).unwrap();
    let written: Vec<String> = planned.plan.files.iter().map(|f| f.rel.clone()).collect();
    backend(&mut app, Event::Planned(Ok(Box::new(planned))));
    press(&mut app, "ctrl-s");
    let effects = press(&mut app, "y");
    assert!(
        format!("{effects:?}").contains("scaffold-apply"),
        "the write runs in a task: {effects:?}"
    );
    assert!(matches!(app.screens.scaffold.phase, Phase::Applying(_)));
    let id = git2::Oid::from_str("3f2a9c1d00000000000000000000000000000000").unwrap();
    backend(
        &mut app,
        Event::Applied(Ok(Box::new(Applied::Committed { written, id }))),
    );
    // Committed: the form, with whatever it held, is gone; `e` starts the next app.
    assert_eq!(app.screens.scaffold.form.text(Slot::Name), "");
    press(&mut app, "ctrl-l");
    let effects = press(&mut app, "p");
    assert!(
        format!("{effects:?}").contains("scaffold-push"),
        "the push is a task: {effects:?}"
    );
    // The push landed: the watch starts by itself.
    let effects = backend(
        &mut app,
        Event::Pushed(Ok(
            "pushed 3f2a9c1d0000 to main at ssh://git@github.com/funoffshore/homelab.git".into(),
        )),
    );
    assert!(
        format!("{effects:?}").contains("scaffold-watch"),
        "the watch is a task: {effects:?}"
    );
    press(&mut app, "ctrl-l");
    for (what, ready, detail) in [
        (
            "Kustomization flux-system/apps-tools",
            true,
            "ReconciliationSucceeded: Applied revision: main@sha1:3f2a9c1d00000000000000000000000000000000",
        ),
        (
            "Deployment whoami/whoami",
            true,
            "MinimumReplicasAvailable: Deployment has minimum availability.",
        ),
        (
            "Pod whoami/whoami-5d8f7b9c4d-x7k2p",
            false,
            "ContainersNotReady: containers with unready status: [whoami]",
        ),
    ] {
        backend(
            &mut app,
            Event::Watch(WatchEvent::Progress(Progress {
                what: what.into(),
                ready,
                detail: detail.into(),
            })),
        );
    }
    app
}

/// The watch reached Ready: the pod's step Ready, then the end of the watch. The effects of
/// that last event are returned (the doctor's task).
fn ready(app: &mut homelab::app::App) -> homelab::runtime::effects::Effects {
    use homelab::scaffold::watch::Progress;
    use homelab::screens::scaffold::WatchEvent;
    backend(
        app,
        Event::Watch(WatchEvent::Progress(Progress {
            what: "Pod whoami/whoami-5d8f7b9c4d-x7k2p".into(),
            ready: true,
            detail: "PodReady".into(),
        })),
    );
    let fx = backend(app, Event::Watch(WatchEvent::Ready));
    press(app, "ctrl-l");
    fx
}

fn found(app: &mut homelab::app::App, f: homelab::domain::doctor::Finding) {
    backend(
        app,
        Event::Doctor(homelab::domain::doctor::WalkEvent::Found(f)),
    );
}

fn pass(link: homelab::domain::doctor::Link, summary: &str) -> homelab::domain::doctor::Finding {
    homelab::domain::doctor::Finding::pass(link, summary, vec![])
}

/// Once the app is Ready, the doctor walks its hostname in a task; an internal app's walk
/// starts at the Gateway listener, the tunnel's links marked as not on its way.
#[test]
fn scaffold_doctor_after_ready() {
    use homelab::domain::doctor::{Exposure, Link, Outcome, WalkEvent};
    let mut app = watching();
    assert!(scaffold_done(&app).doctor.is_none(), "no walk before Ready");
    let fx = ready(&mut app);
    assert!(
        format!("{fx:?}").contains("scaffold-doctor"),
        "Ready starts the doctor's walk in a task: {fx:?}"
    );
    let w = scaffold_done(&app)
        .doctor
        .clone()
        .expect("a walk after Ready");
    assert_eq!(w.host, "whoami.funoffshore.internal");
    assert_eq!(w.exposure, Exposure::Internal);
    assert_frames("scaffold", "scaffold_doctor_checking", &mut app);
    found(
        &mut app,
        pass(
            Link::Gateway,
            "listener `internal` of Gateway networking/homelab is programmed; HTTPRoute whoami/whoami is attached to it",
        ),
    );
    found(
        &mut app,
        pass(
            Link::Route,
            "HTTPRoute whoami/whoami is Accepted with ResolvedRefs",
        ),
    );
    found(
        &mut app,
        pass(Link::Backend, "every backend Service has ready endpoints"),
    );
    found(
        &mut app,
        pass(
            Link::Certificate,
            "the certificate covers whoami.funoffshore.internal and is valid until 2027-03-01 (84 days)",
        ),
    );
    backend(&mut app, Event::Doctor(WalkEvent::Done(Outcome::Reachable)));
    assert_frames("scaffold", "scaffold_doctor_reachable", &mut app);
}

/// A broken link: the walk stops there, shows its evidence and its fix (wrapped, never cut at
/// the edge), the links after it not checked; text from the cluster is sanitized.
#[test]
fn scaffold_doctor_broken_link_shows_its_fix() {
    use homelab::domain::doctor::{Finding, Fix, Link, Outcome, WalkEvent};
    let mut app = watching();
    ready(&mut app);
    found(
        &mut app,
        pass(
            Link::Gateway,
            "listener `internal` of Gateway networking/homelab is programmed; HTTPRoute whoami/whoami is attached to it",
        ),
    );
    found(
        &mut app,
        pass(
            Link::Route,
            "HTTPRoute whoami/whoami is Accepted with ResolvedRefs",
        ),
    );
    found(
        &mut app,
        Finding::broken(
            Link::Backend,
            "Service whoami/whoami has no ready endpoint \u{1b}[31m(hostile)",
            Fix::GitField {
                file: "cluster/kubernetes/apps/tools/whoami/service.yaml".into(),
                line: 9,
                field: "spec.selector".into(),
                change:
                    "match the pods' labels (app.kubernetes.io/name: whoami): it matches no pod"
                        .into(),
            },
        )
        .with_evidence(vec!["EndpointSlice whoami-abc12: 0 ready of 0".into()]),
    );
    backend(
        &mut app,
        Event::Doctor(WalkEvent::Done(Outcome::Broken(Link::Backend))),
    );
    let frame = support::render(&mut app, 80, 24);
    let text = screen(&frame);
    for want in [
        "(internal) broken at 6",
        "✗ 6. Service endpoints",
        "EndpointSlice whoami-abc12: 0 ready of 0",
        "fix: cluster/kubernetes/apps/tools/whoami/service.yaml:9:",
        // The fix is wrapped under itself, never cut at the edge.
        "match the pods' labels",
        "         no pod",
        "· 7. TLS certificate",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    assert!(!text.contains('\u{1b}'), "{text}");
    assert_frames("scaffold", "scaffold_doctor_broken", &mut app);
}

/// `d` walks the route again (a new task, the old findings gone); a doctor that cannot start
/// says why, in its own words.
#[test]
fn scaffold_doctor_again_and_could_not_run() {
    use homelab::domain::doctor::{Link, WalkEvent};
    let mut app = watching();
    // Before Ready there is nothing to walk: `d` starts no task.
    let fx = press(&mut app, "d");
    assert!(!format!("{fx:?}").contains("scaffold-doctor"), "{fx:?}");
    assert!(scaffold_done(&app).doctor.is_none());
    ready(&mut app);
    found(
        &mut app,
        pass(Link::Gateway, "listener `internal` is programmed"),
    );
    let fx = press(&mut app, "d");
    assert!(
        format!("{fx:?}").contains("scaffold-doctor"),
        "d walks again: {fx:?}"
    );
    let w = scaffold_done(&app).doctor.clone().unwrap();
    assert!(w.findings.is_empty() && w.outcome.is_none(), "{w:?}");
    backend(
        &mut app,
        Event::Doctor(WalkEvent::Failed(
            "kubeconfig /home/op/.kube/config has no context `prox-n100`".into(),
        )),
    );
    let text = screen(&support::render(&mut app, 80, 24));
    for want in [
        "(internal) could not run",
        "kubeconfig /home/op/.kube/config has no context `prox-n100`",
        "d doctor again",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
}

fn screen(frame: &ratatui::backend::TestBackend) -> String {
    let buf = frame.buffer();
    (0..buf.area.height)
        .map(|y| support::row_text(buf, y))
        .collect::<Vec<_>>()
        .join("\n")
}

fn scaffold_done(app: &homelab::app::App) -> &homelab::screens::scaffold::Done {
    match &app.screens.scaffold.phase {
        Phase::Done(d) => d,
        other => panic!("not done: {other:?}"),
    }
}

/// The plan holds the Secret encrypted; the request kept beside it for the result and the
/// watch no longer holds the values.
#[test]
fn after_the_plan_only_ciphertext_remains() {
    use homelab::scaffold::request::{SecretEntry, SecretValue};
    let lab = crate::lab::Lab::new(&[]);
    let root = lab.root();
    let facts = TreeFacts::read(&Tree::load(&root).unwrap()).unwrap();
    let input = homelab::scaffold::AppInput {
        name: "whoami".into(),
        category: "tools".into(),
        image: "traefik/whoami:v1.11.0".into(),
        secrets: vec![SecretEntry {
            key: "API_TOKEN".into(),
            value: SecretValue::new("hunter2-not-real"),
        }],
        ..Default::default()
    };
    let planned = make_plan(&root, &facts, input, None).unwrap();
    assert_eq!(planned.req.secrets.len(), 1);
    assert_eq!(planned.req.secrets[0].key, "API_TOKEN");
    assert!(planned.req.secrets[0].value.is_empty());
    let sealed = planned
        .plan
        .files
        .iter()
        .find(|f| f.rel.ends_with("whoami.sops.yaml"))
        .expect("the Secret is planned");
    assert!(sealed.new.contains("ENC[AES256_GCM,"), "{}", sealed.new);
    for f in &planned.plan.files {
        assert!(!f.new.contains("hunter2"), "{}", f.rel);
    }
}
