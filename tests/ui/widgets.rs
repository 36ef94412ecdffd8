//! Widget frames: the top bar degrading with width, the bottom bar with a long status,
//! stacked toasts.

use crate::support;
use homelab::app::Badge;
use homelab::app::bars;
use homelab::screens::ScreenId;
use homelab::theme::{Health, Level};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

fn strip(
    w: u16,
    app: &homelab::app::App,
    draw: impl Fn(&mut ratatui::Frame, &homelab::app::ViewCx),
) -> String {
    let mut t = Terminal::new(TestBackend::new(w, 1)).unwrap();
    let cx = app.view_cx(support::now());
    t.draw(|f| draw(f, &cx)).unwrap();
    t.backend().to_string()
}

#[test]
fn top_bar_degrades_with_width() {
    let mut app = support::app();
    app.session.badges[Badge::ALL.iter().position(|b| *b == Badge::Pve).unwrap()] = Health::Live;
    app.session.badges[Badge::ALL.iter().position(|b| *b == Badge::Kube).unwrap()] =
        Health::Degraded;
    app.session.badges[Badge::ALL.iter().position(|b| *b == Badge::Loki).unwrap()] = Health::Down;
    let mut out = String::new();
    for w in [50u16, 64, 80, 120, 200] {
        out.push_str(&format!("width {w}:\n"));
        out.push_str(&strip(w, &app, |f, cx| {
            bars::render_top(f, Rect::new(0, 0, w, 1), ScreenId::Home, cx)
        }));
        out.push('\n');
    }
    support::settings("widgets").bind(|| insta::assert_snapshot!("top_bar_widths", out));
}

#[test]
fn bottom_bar_drops_hints_whole_and_shortens_status() {
    let app = support::app();
    let mut out = String::new();
    for w in [40u16, 80, 120] {
        out.push_str(&format!("width {w}:\n"));
        out.push_str(&strip(w, &app, |f, cx| {
            let hints = cx.keymap.footer_hints("home");
            let status = Some((
                "Secrets -> Proxmox VMs -> k3s -> Flux -> storage -> ingress -> observability",
                cx.theme.status.info,
            ));
            bars::render_bottom(f, Rect::new(0, 0, w, 1), hints, status, cx)
        }));
        out.push('\n');
    }
    support::settings("widgets").bind(|| insta::assert_snapshot!("bottom_bar_widths", out));
}

#[test]
fn toasts_stack_newest_first() {
    let mut app = support::app();
    app.toasts
        .push(Level::Info, "Re-read config/clusters/prox-n100.yaml", 0);
    app.toasts.push(
        Level::Warn,
        "Console is not available in this build yet. Nothing was started.",
        0,
    );
    app.toasts.push(
        Level::Error,
        "git: /srv/homelab: cannot read HEAD (reference 'refs/heads/main' not found)",
        0,
    );
    support::assert_frames("widgets", "toasts_stacked", &mut app);
}

/// Tiny and odd terminal sizes never panic, with any overlay open.
#[test]
fn tiny_terminals_do_not_panic() {
    use homelab::overlays::Overlay;
    use homelab::overlays::confirm::ConfirmState;
    let sizes = [
        (1u16, 1u16),
        (2, 2),
        (5, 3),
        (12, 4),
        (20, 6),
        (40, 10),
        (63, 15),
        (64, 12),
        (79, 23),
        (300, 5),
        (10, 100),
    ];
    for (w, h) in sizes {
        let mut app = support::app();
        app.toasts.push(
            Level::Error,
            "a long error message that has to wrap over several lines in a toast",
            0,
        );
        support::render(&mut app, w, h);
        support::press(&mut app, "?");
        support::render(&mut app, w, h);
        support::press(&mut app, "esc");
        support::press(&mut app, ":");
        support::type_text(&mut app, "th");
        support::render(&mut app, w, h);
        support::press(&mut app, "esc");
        app.overlays.push(Overlay::Confirm(
            ConfirmState::new("x", "Delete VM", "Delete it?").type_to_confirm("vm"),
        ));
        support::render(&mut app, w, h);
        app.overlays.clear();
        support::press(&mut app, "tab");
        support::press(&mut app, "G");
        support::render(&mut app, w, h);
    }
}
