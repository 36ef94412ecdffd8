//! Key routing: top overlay -> focused text input -> screen keymap -> global keymap; mouse.

use crate::support::{self, act, mouse, press, type_text};
use crossterm::event::{MouseButton, MouseEventKind};
use homelab::msg::Action;
use homelab::overlays::Overlay;
use homelab::runtime::effects::Effect;
use homelab::screens::ScreenId;
use homelab::screens::home::Pane;

fn quits(effects: &[Effect]) -> bool {
    effects.iter().any(|e| matches!(e, Effect::Quit))
}

#[test]
fn screen_context_wins_over_global() {
    let mut app = support::app();
    // `q` is `quit` in the home context (global has it as `back`).
    assert!(quits(&press(&mut app, "q")));
}

#[test]
fn global_keys_reach_the_app_when_the_screen_passes() {
    let mut app = support::app();
    press(&mut app, "?");
    assert!(matches!(app.overlays.last(), Some(Overlay::Help(_))));
}

#[test]
fn overlay_is_modal() {
    let mut app = support::app();
    press(&mut app, "?");
    // `q` closes help (help context), it does not quit.
    assert!(!quits(&press(&mut app, "q")));
    assert!(app.overlays.is_empty());
    // Keys unbound in the overlay context are swallowed, not passed to the screen.
    press(&mut app, "?");
    press(&mut app, "tab");
    assert_eq!(app.screens.home.focus, Pane::Jobs);
}

#[test]
fn text_input_gets_printable_keys_first() {
    let mut app = support::app();
    press(&mut app, ":");
    let effects = press(&mut app, "q");
    assert!(!quits(&effects), "q typed into the palette must not quit");
    type_text(&mut app, "uit");
    match app.overlays.last() {
        Some(Overlay::Palette(p)) => assert_eq!(p.input.value(), "quit"),
        other => panic!("palette closed: {other:?}"),
    }
    // Enter runs the highlighted command.
    assert!(quits(&press(&mut app, "enter")));
}

#[test]
fn palette_backspace_and_escape() {
    let mut app = support::app();
    press(&mut app, ":");
    type_text(&mut app, "xy");
    press(&mut app, "backspace");
    match app.overlays.last() {
        Some(Overlay::Palette(p)) => assert_eq!(p.input.value(), "x"),
        other => panic!("palette closed: {other:?}"),
    }
    press(&mut app, "esc");
    assert!(app.overlays.is_empty());
}

#[test]
fn esc_dismisses_errors_before_anything_else() {
    let mut app = support::app();
    app.toasts.push(homelab::theme::Level::Error, "boom", 0);
    press(&mut app, "esc");
    assert!(app.toasts.is_empty());
    assert_eq!(app.current, ScreenId::Home);
}

#[test]
fn user_keymap_override_changes_routing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keymap.toml");
    std::fs::write(&path, "home = [ { keys = [\"x\"], run = \"quit\" } ]\n").unwrap();
    let (keymap, issues) = homelab::keymap::load_user(&path);
    assert_eq!(issues, vec![]);
    let mut app = support::app();
    app.keymap = keymap;
    // `quit` moved from `q` to `x` in the home context...
    assert!(quits(&press(&mut app, "x")));
    let q = homelab::keymap::Key::parse("q").unwrap();
    assert!(app.keymap.lookup("home", q).is_none());
    // ...so `q` falls through to the global `back`, which on the home screen also quits.
    assert_eq!(
        app.keymap.lookup("global", q).map(|b| &b.action),
        Some(&Action::Back)
    );
}

#[test]
fn vim_keys_and_arrows_move_the_same() {
    let mut a = support::app();
    let mut b = support::app();
    press(&mut a, "j");
    press(&mut a, "j");
    press(&mut a, "k");
    press(&mut b, "down");
    press(&mut b, "down");
    press(&mut b, "up");
    assert_eq!(a.screens.home.job, 1);
    assert_eq!(b.screens.home.job, 1);
    press(&mut a, "G");
    assert_eq!(a.screens.home.job, ScreenId::jobs().count() - 1);
    press(&mut a, "g");
    assert_eq!(a.screens.home.job, 0);
}

#[test]
fn mouse_click_selects_then_opens_and_wheel_scrolls() {
    let mut app = support::app();
    app.size = ratatui::layout::Rect::new(0, 0, 80, 24);
    // Jobs list starts at row 2 (top bar, border); each job has two rows. Env = job 2.
    mouse(
        &mut app,
        MouseEventKind::Down(MouseButton::Left),
        5,
        2 + 2 * 2,
    );
    assert_eq!(app.screens.home.job, 2);
    assert_eq!(app.current, ScreenId::Home);
    mouse(&mut app, MouseEventKind::ScrollDown, 5, 4);
    assert_eq!(app.screens.home.job, 3);
    // Clicking the selected job (New app) opens it.
    mouse(
        &mut app,
        MouseEventKind::Down(MouseButton::Left),
        5,
        2 + 2 * 3,
    );
    assert_eq!(app.current, ScreenId::Scaffold);
}

/// Every registered screen opens: the registry lists only screens that exist.
#[test]
fn every_registered_screen_opens() {
    let mut app = support::app();
    for id in ScreenId::ALL
        .iter()
        .copied()
        .filter(|id| *id != ScreenId::Home)
    {
        act(&mut app, Action::Open(id));
        assert_eq!(app.current, id, "{id:?}");
    }
}

#[test]
fn refresh_spawns_keyed_reads_and_update_never_does_io() {
    let mut app = support::app();
    let effects = press(&mut app, "r");
    let keys: Vec<String> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Spawn(t) => Some(t.key.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(keys, vec!["repo-status", "cluster-config"]);
    assert_eq!(app.session.repo, homelab::app::RepoState::Loading);
}

#[test]
fn confirming_the_quit_dialog_quits_and_no_stays() {
    use homelab::overlays::confirm::ConfirmState;
    let mut app = support::app();
    app.overlays.push(Overlay::Confirm(ConfirmState::new(
        "quit",
        "Quit homelab?",
        "Still running: x.",
    )));
    // Enter presses the focused button, which is "No" by default.
    assert!(!quits(&press(&mut app, "enter")));
    assert!(app.overlays.is_empty());
    app.overlays.push(Overlay::Confirm(ConfirmState::new(
        "quit",
        "Quit homelab?",
        "Still running: x.",
    )));
    assert!(quits(&press(&mut app, "y")));
}

#[test]
fn paste_goes_to_the_palette_input() {
    let mut app = support::app();
    press(&mut app, ":");
    homelab::app::update(
        &mut app,
        homelab::msg::Msg::Paste("theme high\ncontrast".into()),
    );
    match app.overlays.last() {
        Some(Overlay::Palette(p)) => {
            assert_eq!(p.input.value(), "theme highcontrast");
            assert_eq!(
                p.matching().next().map(|e| e.command.as_str()),
                Some("theme high-contrast")
            );
        }
        other => panic!("palette closed: {other:?}"),
    }
}

#[test]
fn palette_previews_the_highlighted_theme_and_esc_reverts() {
    let mut app = support::app();
    press(&mut app, ":");
    type_text(&mut app, "theme high");
    assert_eq!(
        app.theme.name, "high-contrast",
        "highlighted theme is previewed"
    );
    press(&mut app, "backspace");
    type_text(&mut app, "zzzz");
    assert_eq!(
        app.theme.name, "homelab-dark",
        "no theme highlighted: back to the chosen one"
    );
    press(&mut app, "ctrl-u");
    type_text(&mut app, "theme cat");
    assert_eq!(app.theme.name, "catppuccin-mocha");
    press(&mut app, "esc");
    assert_eq!(app.theme.name, "homelab-dark", "Esc reverts the preview");
    // Enter commits.
    press(&mut app, ":");
    type_text(&mut app, "theme cat");
    press(&mut app, "enter");
    assert_eq!(app.theme.name, "catppuccin-mocha");
    press(&mut app, ":");
    press(&mut app, "esc");
    assert_eq!(
        app.theme.name, "catppuccin-mocha",
        "closing the palette keeps a committed theme"
    );
}
