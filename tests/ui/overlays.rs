//! Overlay frames: help, palette (empty and filtered), confirm (plain and type-to-confirm).

use crate::support::{self, assert_frames, press, type_text};
use homelab::overlays::Overlay;
use homelab::overlays::confirm::ConfirmState;

#[test]
fn help_home() {
    let mut app = support::app();
    press(&mut app, "?");
    assert_frames("overlays", "help_home", &mut app);
    press(&mut app, "G");
    assert_frames("overlays", "help_home_bottom", &mut app);
}

#[test]
fn palette_open_and_filtered() {
    let mut app = support::app();
    press(&mut app, ":");
    assert_frames("overlays", "palette_all", &mut app);
    type_text(&mut app, "theme light");
    assert_frames("overlays", "palette_theme_light", &mut app);
    type_text(&mut app, "zzzz");
    assert_frames("overlays", "palette_no_match", &mut app);
}

#[test]
fn confirm_dialogs() {
    let mut app = support::app();
    app.overlays.push(Overlay::Confirm(
        ConfirmState::new(
            "quit",
            "Quit homelab?",
            "Still running: proxmox stage (creating VM 211). Quitting stops it.",
        )
        .labels("Quit", "Stay"),
    ));
    assert_frames("overlays", "confirm_quit", &mut app);
    app.overlays.clear();
    app.overlays.push(Overlay::Confirm(
        ConfirmState::new(
            "delete-vm",
            "Delete VM",
            "Delete VM 211 k3s-agent-1 on pve-n100? Its disk is destroyed.",
        )
        .labels("Delete", "Keep")
        .type_to_confirm("k3s-agent-1"),
    ));
    type_text(&mut app, "k3s-ag");
    assert_frames("overlays", "confirm_type_name", &mut app);
}
