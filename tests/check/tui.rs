//! The check screen: frames for running, violations, the file viewer and a clean tree,
//! driven as the app would be (open the screen, deliver the task's result, press keys).

use crate::fixture::{repo_root, tree_with_fixtures};
use crate::support;
use homelab::msg::{Action, BackendEvent};
use homelab::repo::check;
use homelab::runtime::effects::Effect;
use homelab::screens::ScreenId;

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
        BackendEvent::CheckFinished(Ok(Box::new(broken_report()))),
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
}

#[test]
fn enter_opens_the_file_at_the_line_and_esc_closes_it() {
    let mut app = app_on_check();
    support::backend(
        &mut app,
        BackendEvent::CheckFinished(Ok(Box::new(broken_report()))),
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
        BackendEvent::CheckFileLoaded {
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
    support::backend(&mut app, BackendEvent::CheckFinished(Ok(Box::new(report))));
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
        BackendEvent::CheckFinished(Err(
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
        BackendEvent::CheckFinished(Ok(Box::new(broken_report()))),
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
        BackendEvent::CheckFinished(Ok(Box::new(broken_report()))),
    );
    support::press(&mut app, "?");
    support::assert_frame("check", "check_help", &mut app, 80, 24);
    let frame = support::render(&mut app, 80, 24);
    assert!(support::contains(
        &frame,
        "Open the file at the violation's line"
    ));
    assert!(support::contains(&frame, "Run the check again"));
}
