//! Home screen frames: default, focus moved, invalid cluster definition, git states, toasts.

use crate::support::{self, assert_frames, backend, press};
use homelab::app::Event as AppEvent;
use homelab::app::RepoState;

#[test]
fn home_default() {
    let mut app = support::app();
    assert_frames("home", "home_default", &mut app);
}

#[test]
fn home_vms_focused() {
    let mut app = support::app();
    press(&mut app, "tab");
    press(&mut app, "j");
    assert_frames("home", "home_vms_focused", &mut app);
}

#[test]
fn home_job_selected_shows_blurb_in_status() {
    let mut app = support::app();
    press(&mut app, "j");
    press(&mut app, "j");
    assert_frames("home", "home_env_selected", &mut app);
}

#[test]
fn home_invalid_cluster() {
    let text = support::fixture_cluster_text()
        .replace("vmid: 211", "vmid: 201")
        .replace("ip: 192.168.1.32", "ip: 10.0.0.32");
    let mut app = support::app_with(support::session_with(&text), "homelab-dark");
    assert_frames("home", "home_invalid_cluster", &mut app);
}

#[test]
fn home_repo_loading_and_clean() {
    let mut app = support::app();
    app.session.repo = RepoState::Loading;
    assert_frames("home", "home_repo_loading", &mut app);
    let mut clean = support::repo_status();
    clean.dirty.clear();
    backend(&mut app, AppEvent::RepoStatusLoaded(Ok(clean)));
    assert_frames("home", "home_repo_clean", &mut app);
}

#[test]
fn home_repo_failed() {
    let mut app = support::app();
    backend(
        &mut app,
        AppEvent::RepoStatusLoaded(Err(
            "/srv/homelab: not a git repository (could not find repository at '/srv/homelab')"
                .into(),
        )),
    );
    assert_frames("home", "home_repo_failed", &mut app);
    // The notice fades; the pane keeps saying what is wrong.
    for _ in 0..40 {
        homelab::app::update(&mut app, homelab::msg::Msg::Tick);
    }
    assert!(app.toasts.is_empty());
    assert!(support::contains(
        &support::render(&mut app, 80, 24),
        "not a git"
    ));
}

#[test]
fn home_error_toast() {
    let mut app = support::app();
    backend(
        &mut app,
        AppEvent::TaskFailed {
            key: homelab::runtime::effects::TaskKey::new("repo-status"),
            error: "task 7 panicked with message \"index out of bounds\"".into(),
        },
    );
    assert_frames("home", "home_error_toast", &mut app);
    // Errors stay until dismissed...
    for _ in 0..100 {
        homelab::app::update(&mut app, homelab::msg::Msg::Tick);
    }
    assert_eq!(app.toasts.len(), 1);
    // ...with Esc.
    press(&mut app, "esc");
    assert!(app.toasts.is_empty());
}

/// Two VMs at `cores: 4294967295` (a definition shown before its validation is fixed): the
/// totals line saturates instead of overflowing the sum.
#[test]
fn home_totals_of_huge_vms_do_not_overflow() {
    let mut app = support::app();
    let cfg = app
        .session
        .cluster
        .config
        .as_mut()
        .expect("fixture is valid");
    for vm in cfg.vms.iter_mut().take(2) {
        vm.cores = u32::MAX;
        vm.memory_mib = u64::MAX;
        vm.disk_gib = u64::MAX;
    }
    let frame = support::render(&mut app, 160, 48);
    let rows: Vec<String> = (0..48)
        .map(|y| support::row_text(frame.buffer(), y))
        .collect();
    assert!(
        rows.iter().any(|r| r.contains("total  8589934592 cores")),
        "{}",
        rows.join("\n")
    );
}
