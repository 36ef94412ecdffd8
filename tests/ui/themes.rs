//! Theme switching and colour-aware snapshots (the plain frame text ignores styles).

use crate::support::{self, press, type_text};
use homelab::theme::BUILTIN;

/// Rows with the most colour information at 80x24: top bar, selected job, a VM row, bottom bar.
const ROWS: [u16; 4] = [0, 2, 11, 23];

#[test]
fn theme_switch_from_palette() {
    let mut app = support::app();
    press(&mut app, ":");
    type_text(&mut app, "theme light");
    press(&mut app, "enter");
    assert!(app.overlays.is_empty());
    assert_eq!(app.theme.name, "homelab-light");
    support::assert_frames("themes", "home_after_theme_light", &mut app);
    let buf = support::render(&mut app, 80, 24);
    let mut s = support::settings("themes");
    s.set_snapshot_suffix("80x24");
    s.bind(|| {
        insta::assert_snapshot!(
            "home_after_theme_light_styles",
            support::style_runs(buf.buffer(), ROWS)
        )
    });
}

#[test]
fn every_theme_styles() {
    for (name, _) in BUILTIN {
        let mut app = support::app_with(
            support::session_with(&support::fixture_cluster_text()),
            name,
        );
        assert_eq!(app.theme.name, *name);
        let buf = support::render(&mut app, 80, 24);
        let mut s = support::settings("themes");
        s.set_snapshot_suffix("80x24");
        s.bind(|| {
            insta::assert_snapshot!(
                format!("styles_{name}"),
                support::style_runs(buf.buffer(), ROWS)
            )
        });
    }
}

#[test]
fn overlay_dims_the_background() {
    let mut app = support::app();
    let before = support::render(&mut app, 80, 24);
    press(&mut app, "?");
    let after = support::render(&mut app, 80, 24);
    // A cell outside the help box (the left border of the jobs pane) changes style, not text.
    let (b, a) = (&before.buffer()[(0, 5)], &after.buffer()[(0, 5)]);
    assert_eq!(b.symbol(), a.symbol());
    assert_ne!(b.style(), a.style());
    assert_eq!(a.fg, app.theme.ui.dim.fg.unwrap());
}

#[test]
fn no_color_frame_has_no_colours() {
    let mut app = support::app_with(
        support::session_with(&support::fixture_cluster_text()),
        "homelab-dark",
    );
    app.theme = app.theme.without_colors();
    let buf = support::render(&mut app, 80, 24);
    for cell in buf.buffer().content() {
        assert!(
            matches!(cell.fg, ratatui::style::Color::Reset),
            "coloured cell {cell:?}"
        );
        assert!(
            matches!(cell.bg, ratatui::style::Color::Reset),
            "coloured cell {cell:?}"
        );
    }
    let mut s = support::settings("themes");
    s.set_snapshot_suffix("80x24");
    s.bind(|| insta::assert_snapshot!("styles_no_color", support::style_runs(buf.buffer(), ROWS)));
}
