//! The check screen: frames for running, violations, the file viewer and a clean tree,
//! driven as the app would be (open the screen, deliver the task's result, press keys).

use crate::fixture::{repo_root, tree_with_fixtures};
use crate::support;
use homelab::editor::EditorVars;
use homelab::msg::Action;
use homelab::repo::check;
use homelab::runtime::effects::{Effect, External};
use homelab::screens::ScreenId;
use homelab::screens::check::Event as CheckEvent;

fn spawned(effects: &[Effect], key: &str) -> bool {
    effects.iter().any(
        |e| matches!(e, Effect::Spawn(t) if format!("{t:?}").contains(&format!("Task({key},"))),
    )
}

/// A report on the real tree with three fixtures broken (images, swap, public exposure), with
/// the temp root hidden so frames do not depend on it.
fn broken_report() -> check::Report {
    let tmp = tree_with_fixtures(&["image", "swap", "public-allowlist"]);
    let mut report = check::run(tmp.path()).expect("tree loads");
    report.root = "/srv/homelab".into();
    // the detail pane shows the counts, which move with every manifest added: pin them
    report.files = 100;
    report.documents = 170;
    report
}

fn app_on_check() -> homelab::app::App {
    let mut app = support::app();
    let effects = support::act(&mut app, Action::Open(ScreenId::Check));
    assert!(
        spawned(&effects, "check"),
        "opening the screen starts the check: {effects:?}"
    );
    app
}

/// A backend event goes to its owner only, whichever screen is current: the check's result
/// reaches the check screen while the home screen is shown, and the home screen stays.
#[test]
fn an_event_reaches_its_owner_when_another_screen_is_current() {
    let mut app = support::app();
    assert_eq!(app.current, ScreenId::Home);
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    assert_eq!(app.current, ScreenId::Home);
    assert!(app.screens.check.report.is_some());
}

#[test]
fn check_running() {
    let mut app = app_on_check();
    support::assert_frames("check", "check_running", &mut app);
}

#[test]
fn check_violations_grouped_by_rule() {
    let mut app = app_on_check();
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    support::press(&mut app, "j");
    support::press(&mut app, "j");
    support::assert_frames("check", "check_violations", &mut app);
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "[swap/disabled]") || support::contains(&frame, "swap/disabled")
    );
    assert!(support::contains(
        &frame,
        "cluster/kubernetes/apps/tools/portainer/httproute.yaml:8"
    ));
    // the footer offers the editor key, also at 80 columns
    let frame = support::render(&mut app, 80, 24);
    assert!(
        support::row_text(frame.buffer(), 23).starts_with(" Enter open file  e edit  r re-check"),
        "{frame:?}"
    );
}

#[test]
fn enter_opens_the_file_at_the_line_and_esc_closes_it() {
    let mut app = app_on_check();
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    // the first violation: exposure/public-allowlist at portainer/httproute.yaml:8
    let effects = support::press(&mut app, "enter");
    assert!(spawned(&effects, "check-file"), "{effects:?}");
    let file = "cluster/kubernetes/apps/tools/portainer/httproute.yaml";
    let text = std::fs::read_to_string(
        repo_root()
            .join("tests/fixtures/check/public-allowlist/files")
            .join(file),
    )
    .unwrap();
    support::backend(
        &mut app,
        CheckEvent::FileLoaded {
            file: file.into(),
            text: Ok(text),
        },
    );
    support::assert_frames("check", "check_viewer", &mut app);
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "8 ▶     external-dns.alpha.kubernetes.io/target"),
        "{frame:?}"
    );
    support::press(&mut app, "esc");
    assert_eq!(
        app.current,
        ScreenId::Check,
        "esc closes the viewer, not the screen"
    );
    let frame = support::render(&mut app, 160, 48);
    assert!(!support::contains(&frame, "(Esc closes)"));
    let effects = support::press(&mut app, "r");
    assert!(spawned(&effects, "check"), "r runs the check again");
}

#[test]
fn check_clean_tree() {
    let mut app = app_on_check();
    let mut report = check::run(&repo_root()).expect("tree loads");
    report.root = "/srv/homelab".into();
    // counts change with every manifest added; the frame shows them, so pin them here
    report.files = 100;
    report.documents = 170;
    support::backend(&mut app, CheckEvent::Finished(Ok(Box::new(report))));
    support::assert_frames("check", "check_ok", &mut app);
    // the passed rules are a list: the last one is reachable at 80x24, with its fix hint
    support::press(&mut app, "G");
    let frame = support::render(&mut app, 80, 24);
    let last = check::RULES.last().expect("rules");
    assert!(support::contains(&frame, last.id), "{frame:?}");
    assert!(support::contains(&frame, "fix when it fails:"));
}

#[test]
fn unreadable_repository_is_an_error_not_a_panic() {
    let mut app = app_on_check();
    support::backend(
        &mut app,
        CheckEvent::Finished(Err(
            "cannot read /srv/homelab/cluster: permission denied".into()
        )),
    );
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(&frame, "permission denied"));
}

#[test]
fn mouse_selects_then_opens_and_wheel_moves() {
    use crossterm::event::{MouseButton, MouseEventKind};
    let mut app = app_on_check();
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    support::render(&mut app, 80, 24);
    // list rows start at y=2: header, 3 exposure violations, header, then the image ones
    let click = MouseEventKind::Down(MouseButton::Left);
    let effects = support::mouse(&mut app, click, 10, 8);
    assert!(
        !spawned(&effects, "check-file"),
        "the first click only selects"
    );
    assert_eq!(app.screens.check.selected, 4);
    let effects = support::mouse(&mut app, click, 10, 8);
    assert!(
        spawned(&effects, "check-file"),
        "clicking the selected violation opens it"
    );
    assert_eq!(
        app.screens.check.viewer.as_ref().map(|v| v.line),
        Some(Some(24))
    );
    support::press(&mut app, "esc");
    support::mouse(&mut app, MouseEventKind::ScrollDown, 10, 5);
    assert_eq!(app.screens.check.selected, 5);
    // a click on a rule header selects nothing
    support::mouse(&mut app, click, 10, 2);
    assert_eq!(app.screens.check.selected, 5);
}

#[test]
fn check_help_lists_the_screen_keys() {
    let mut app = app_on_check();
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    support::press(&mut app, "?");
    support::assert_frame("check", "check_help", &mut app, 80, 24);
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(
        &frame,
        "Open the file at the violation's line"
    ));
    assert!(support::contains(&frame, "Run the check again"));
    assert!(support::contains(
        &frame,
        "e            Edit in $VISUAL/$EDITOR at the line, then re-check"
    ));
}

/// The External effect `update` asked for, if any.
fn external(effects: homelab::runtime::effects::Effects) -> Option<External> {
    effects.into_iter().find_map(|e| match e {
        Effect::External(x) => Some(x),
        _ => None,
    })
}

fn exited(code: i32) -> homelab::runtime::effects::ExternalResult {
    use std::os::unix::process::ExitStatusExt;
    Ok(std::process::ExitStatus::from_raw(code << 8))
}

fn toasts(app: &homelab::app::App) -> Vec<String> {
    app.toasts.iter().map(|t| t.text.clone()).collect()
}

#[test]
fn e_opens_the_editor_at_the_line_then_rechecks_and_keeps_the_selection() {
    let mut app = app_on_check();
    app.screens.check.editor = EditorVars {
        visual: None,
        editor: Some("nvim -p".into()),
    };
    let report = broken_report();
    support::backend(&mut app, CheckEvent::Finished(Ok(Box::new(report.clone()))));
    // the second violation: exposure/public-allowlist at portainer/httproute.yaml:13
    support::press(&mut app, "j");
    let file = "cluster/kubernetes/apps/tools/portainer/httproute.yaml";
    let ext = external(support::press(&mut app, "e")).expect("e runs the editor");
    assert_eq!(ext.program, "nvim");
    assert_eq!(ext.args, ["-p", "+13", file]);
    assert_eq!(ext.cwd, app.session.repo_root, "runs in the repository");

    // The editor saved a fix of line 8 above it and exited 0: the check runs again...
    let effects = support::backend(&mut app, (ext.then)(exited(0)));
    assert!(spawned(&effects, "check"), "{effects:?}");
    assert!(toasts(&app).is_empty(), "{:?}", toasts(&app));
    let mut fixed = report.clone();
    let gone = fixed.violations.remove(0);
    assert_eq!(gone.line, Some(8));
    support::backend(&mut app, CheckEvent::Finished(Ok(Box::new(fixed))));
    // ...and the selection stays on the violation at line 13, now the first one.
    assert_eq!(app.screens.check.selected, 0);
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, &format!("{file}:13")),
        "{frame:?}"
    );

    // When the edited violation itself is fixed, the next one takes its place.
    let mut fixed_too = report.clone();
    fixed_too.violations.drain(0..2);
    let ext = external(support::press(&mut app, "e")).expect("e runs the editor");
    support::backend(&mut app, (ext.then)(exited(0)));
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(fixed_too.clone()))),
    );
    let now = &app.screens.check.report.as_ref().unwrap().violations;
    assert_eq!(now[app.screens.check.selected], report.violations[2]);
}

#[test]
fn e_works_from_the_viewer_and_closes_it_for_the_recheck() {
    let mut app = app_on_check();
    app.screens.check.editor = EditorVars {
        visual: Some("hx".into()),
        editor: Some("nano".into()),
    };
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    support::press(&mut app, "enter");
    assert!(app.screens.check.viewer.is_some());
    let ext = external(support::press(&mut app, "e")).expect("e runs the editor");
    assert_eq!(ext.program, "hx", "$VISUAL wins");
    assert_eq!(
        ext.args,
        ["cluster/kubernetes/apps/tools/portainer/httproute.yaml:8"]
    );
    let effects = support::backend(&mut app, (ext.then)(exited(0)));
    assert!(spawned(&effects, "check"));
    assert!(
        app.screens.check.viewer.is_none(),
        "the viewer's text is stale"
    );
}

#[test]
fn a_failing_or_missing_editor_is_a_toast() {
    let mut app = app_on_check();
    app.screens.check.editor = EditorVars {
        visual: None,
        editor: Some("my-editor".into()),
    };
    support::backend(
        &mut app,
        CheckEvent::Finished(Ok(Box::new(broken_report()))),
    );
    // Non-zero exit: a toast with the status, and the check still runs again.
    let ext = external(support::press(&mut app, "e")).unwrap();
    let effects = support::backend(&mut app, (ext.then)(exited(1)));
    assert!(spawned(&effects, "check"));
    let t = toasts(&app);
    assert!(
        t.iter()
            .any(|t| t == "Editor exited with status 1 (`my-editor`); checking again what it saved"),
        "{t:?}"
    );
    let frame = support::render(&mut app, 160, 48);
    assert!(
        support::contains(&frame, "exited with status 1"),
        "{frame:?}"
    );

    // Not installed: an error naming the variable to set; nothing to re-check.
    support::press(&mut app, "ctrl-l");
    let ext = external(support::press(&mut app, "e")).unwrap();
    let effects = support::backend(
        &mut app,
        (ext.then)(Err(std::io::ErrorKind::NotFound.into())),
    );
    assert!(!spawned(&effects, "check"), "{effects:?}");
    let t = toasts(&app);
    assert!(
        t.iter()
            .any(|t| t.contains("`my-editor` (from $EDITOR): not found")
                && t.contains("set $VISUAL or $EDITOR")),
        "{t:?}"
    );

    // A value homelab cannot split: an error before anything runs.
    support::press(&mut app, "ctrl-l");
    app.screens.check.editor.visual = Some("vim \"-c".into());
    let effects = support::press(&mut app, "e");
    assert!(external(effects).is_none());
    let t = toasts(&app);
    assert!(
        t.iter()
            .any(|t| t.contains("$VISUAL (`vim \"-c`) has an unterminated quote")),
        "{t:?}"
    );
}

#[test]
fn e_on_a_clean_tree_opens_nothing() {
    let mut app = app_on_check();
    let mut report = check::run(&repo_root()).expect("tree loads");
    report.root = "/srv/homelab".into();
    support::backend(&mut app, CheckEvent::Finished(Ok(Box::new(report))));
    let effects = support::press(&mut app, "e");
    assert!(external(effects).is_none());
    assert!(toasts(&app).iter().any(|t| t.contains("nothing to open")));
}
