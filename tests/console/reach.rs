//! The reachability pane: Enter on a public hostname runs the doctor on it (a walk effect for
//! that host), and the findings draw as they arrive; snapshots of an all-green walk and of a
//! walk broken at link 4 with its fix (zoomed, at 80x24 and 200x60).

use crate::support;
use homelab::app::App;
use homelab::domain::doctor::{Finding, Fix, Link, Outcome, WalkEvent};
use homelab::msg::{Action, BackendEvent};
use homelab::screens::ScreenId;
use homelab::screens::console::events::ConsoleEvent;
use homelab::screens::console::panes::reach::Event;
use homelab::screens::console::panes::{PaneEvent, PaneId};

fn console() -> App {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Console));
    app.screens.console.state.tz = jiff::tz::TimeZone::UTC;
    app
}

fn send(app: &mut App, e: Event) {
    support::backend(
        app,
        BackendEvent::Console(ConsoleEvent::Pane(PaneEvent::Reach(e))),
    );
}

/// The console with the hostnames read and the reachability pane focused and zoomed.
fn reach() -> App {
    let mut app = console();
    send(
        &mut app,
        Event::Hosts(Ok(vec![
            "jellyfin.funoffshore.com".into(),
            "jellyseerr.funoffshore.com".into(),
            "navidrome.funoffshore.com".into(),
        ])),
    );
    while app.screens.console.state.focus != PaneId::Reach {
        support::press(&mut app, "tab");
    }
    support::press(&mut app, "z");
    app
}

fn pass(link: Link, summary: &str) -> Finding {
    Finding::pass(link, summary, vec![])
}

fn green() -> Vec<Finding> {
    vec![
        pass(
            Link::Dns,
            "CNAME record proxied, owned by external-dns (prox-n100), leads to the tunnel",
        ),
        pass(Link::Tunnel, "1 connector(s), 4 connection(s) serving"),
        pass(
            Link::TunnelIngress,
            "rule 1 routes jellyfin.funoffshore.com to Gateway networking/homelab (https :443)",
        ),
        pass(
            Link::Gateway,
            "listener `public` of Gateway networking/homelab is programmed; HTTPRoute media/jellyfin is attached to it",
        ),
        pass(
            Link::Route,
            "HTTPRoute media/jellyfin is Accepted with ResolvedRefs",
        ),
        pass(Link::Backend, "every backend Service has ready endpoints"),
        pass(
            Link::Certificate,
            "the certificate covers jellyfin.funoffshore.com and is valid until 2027-03-01 (84 days)",
        ),
    ]
}

#[test]
fn enter_walks_the_selected_host() {
    let mut app = reach();
    support::press(&mut app, "j");
    let fx = support::press(&mut app, "enter");
    assert!(
        format!("{fx:?}").contains("console:reach:walk"),
        "Enter starts the doctor's walk: {fx:?}"
    );
    let w = app.screens.console.state.panes.reach.walk.as_ref().unwrap();
    assert_eq!(w.host, "jellyseerr.funoffshore.com");
}

#[test]
fn reach_all_green() {
    let mut app = reach();
    support::press(&mut app, "enter");
    for f in green() {
        send(&mut app, Event::Walk(WalkEvent::Found(f)));
    }
    send(&mut app, Event::Walk(WalkEvent::Done(Outcome::Reachable)));
    crate::snapshots::frames("reach_all_green", &mut app);
}

#[test]
fn reach_broken_at_the_gateway() {
    let mut app = reach();
    support::press(&mut app, "enter");
    for f in green().into_iter().take(3) {
        send(&mut app, Event::Walk(WalkEvent::Found(f)));
    }
    let broken = Finding::broken(
        Link::Gateway,
        "HTTPRoute media/jellyfin is not attached to listener `public` of Gateway networking/homelab",
        Fix::GitField {
            file: "cluster/kubernetes/apps/media/jellyfin/httproute.yaml".into(),
            line: 12,
            field: "spec.parentRefs".into(),
            change: "refer to the Gateway: name: homelab, namespace: networking, sectionName: public".into(),
        },
    )
    .with_evidence(vec![
        "Gateway networking/homelab: Programmed=True Programmed".into(),
        "listener public: Programmed=True Programmed, attachedRoutes 0 \u{1b}[31m(hostile)".into(),
    ]);
    send(&mut app, Event::Walk(WalkEvent::Found(broken)));
    send(
        &mut app,
        Event::Walk(WalkEvent::Done(Outcome::Broken(Link::Gateway))),
    );
    crate::snapshots::frames("reach_broken_gateway", &mut app);
}
