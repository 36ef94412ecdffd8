//! The alerts pane against real Debian `prometheus` and `prometheus-alertmanager`.

use crate::harness::{Harness, PromStack, fast};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use homelab::backends::endpoint::Auth;
use homelab::backends::prom::AlertmanagerClient;
use homelab::domain::alerts::AlertState;
use homelab::keymap::Keymap;
use homelab::screens::console::conn::ConnState;
use homelab::screens::console::state::{ConsoleAction, ConsoleState};
use std::time::{Duration, Instant};

fn always_firing(st: &ConsoleState) -> Option<&homelab::domain::alerts::Alert> {
    st.alerts.alerts.iter().find(|a| a.name() == "AlwaysFiring")
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

/// Ask Alertmanager itself (not the pane) until `pred` holds for AlwaysFiring's status.
async fn alertmanager_says(
    am: &AlertmanagerClient,
    what: &str,
    pred: impl Fn(&str, &[String]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(alerts) = am.alerts().await
            && alerts.iter().any(|a| {
                a.labels.get("alertname").map(String::as_str) == Some("AlwaysFiring")
                    && pred(&a.status.state, &a.status.silenced_by)
            })
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Alertmanager never reported: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prometheus + Alertmanager started, the console watching them, AlwaysFiring seen by both.
async fn firing_in_both() -> Option<(PromStack, Harness)> {
    let stack = PromStack::start()?;
    let mut h = Harness::new(
        None,
        Some(&stack.prometheus_url()),
        Some(&stack.alertmanager_url()),
    );
    let fx = h.st.open("", Harness::now_ns());
    h.run(fx);
    h.until("AlwaysFiring seen by Prometheus and Alertmanager", |st| {
        always_firing(st).is_some_and(|a| {
            a.sources.prometheus && a.sources.alertmanager && a.state == AlertState::Firing
        })
    })
    .await;
    Some((stack, h))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firing_alert_shows_a_silence_from_the_pane_mutes_it_and_expiry_brings_it_back() {
    let Some((stack, mut h)) = firing_in_both().await else {
        return;
    };
    h.until("SlowToFire pending (inside its for: window)", |st| {
        st.alerts
            .alerts
            .iter()
            .any(|a| a.name() == "SlowToFire" && a.state == AlertState::Pending)
    })
    .await;
    let screen = h.screen(120, 30);
    assert!(
        screen.contains("CRITICAL (1)")
            && screen.contains("AlwaysFiring")
            && screen.contains("FIRING"),
        "{screen}"
    );
    assert!(
        screen.contains("PENDING") && screen.contains("SlowToFire"),
        "{screen}"
    );

    // Select it, open the detail view, then silence it through the form, as a user would.
    for _ in 0..10 {
        if h.st
            .alerts
            .selected()
            .is_some_and(|a| a.name() == "AlwaysFiring")
        {
            break;
        }
        h.st.apply(ConsoleAction::Down, 0);
    }
    h.st.apply(ConsoleAction::Details, 0);
    h.st.apply(ConsoleAction::Zoom, 0);
    let screen = h.screen(120, 30);
    assert!(
        screen.contains("Always firing, for the console tests") && screen.contains("app=jellyfin"),
        "{screen}"
    );
    h.st.apply(ConsoleAction::Silence, 0);
    assert!(h.st.text_input_active());
    let now = Harness::now_ns();
    h.st.input_key(key(KeyCode::Tab), &Keymap::builtin(), now);
    for c in "console test: planned".chars() {
        h.st.input_key(key(KeyCode::Char(c)), &Keymap::builtin(), now);
    }
    let fx =
        h.st.input_key(key(KeyCode::Enter), &Keymap::builtin(), now)
            .unwrap();
    assert_eq!(fx.len(), 1, "{fx:?}");
    h.run(fx);
    h.until("the silence is created", |st| {
        st.alerts
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("created"))
    })
    .await;

    let am = AlertmanagerClient::new(&stack.alertmanager_url(), Auth::None, fast()).unwrap();
    alertmanager_says(&am, "AlwaysFiring suppressed by a silence", |state, by| {
        state == "suppressed" && !by.is_empty()
    })
    .await;
    let silences = am.silences().await.unwrap();
    let s = silences
        .iter()
        .find(|s| s.comment == "console test: planned")
        .expect("silence in Alertmanager");
    assert_eq!(s.created_by, "homelab-test");
    assert!(
        s.matchers
            .iter()
            .any(|m| m.name == "alertname" && m.value == "AlwaysFiring")
    );
    h.until("the pane shows it silenced", |st| {
        always_firing(st).is_some_and(|a| a.state == AlertState::Suppressed)
    })
    .await;
    assert!(h.screen(120, 30).contains("SILENCED"));

    // Expire from the pane (asks first), and it fires again.
    h.st.apply(ConsoleAction::Back, 0);
    h.st.apply(ConsoleAction::Back, 0);
    h.st.apply(ConsoleAction::Expire, 0);
    assert_eq!(
        h.st.alerts.confirm_expire.as_ref().map(Vec::len),
        Some(1),
        "asks before expiring"
    );
    let fx = h.st.confirm(true);
    h.run(fx);
    h.until("the silence is expired", |st| {
        st.alerts
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("expired"))
    })
    .await;
    alertmanager_says(&am, "AlwaysFiring active again", |state, by| {
        state == "active" && by.is_empty()
    })
    .await;
    h.until("the pane shows it firing again", |st| {
        always_firing(st).is_some_and(|a| a.state == AlertState::Firing)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_going_away_degrades_only_its_source_and_recovers_by_itself() {
    let Some((mut stack, mut h)) = firing_in_both().await else {
        return;
    };

    stack.stop_prometheus();
    h.until("Prometheus shown reconnecting", |st| {
        matches!(st.alerts.prometheus.conn, ConnState::Reconnecting { .. })
    })
    .await;
    assert!(
        h.st.alerts.alertmanager.conn.is_live(),
        "Alertmanager is unaffected"
    );
    assert!(
        always_firing(&h.st).is_some(),
        "the pane keeps what it knows"
    );
    let screen = h.screen(120, 30);
    assert!(screen.contains("Prometheus reconnecting"), "{screen}");
    assert!(
        h.st.alerts
            .prometheus
            .conn
            .reason()
            .unwrap()
            .contains("unreachable"),
        "{:?}",
        h.st.alerts.prometheus.conn
    );

    stack.start_prometheus();
    h.until("Prometheus live again", |st| {
        st.alerts.prometheus.conn.is_live()
    })
    .await;
    h.until("AlwaysFiring from both again", |st| {
        always_firing(st).is_some_and(|a| a.sources.prometheus)
    })
    .await;
    let _ = stack.logs();
}
