use super::*;
use crate::backends::prom::AmAlert;
use std::time::Duration;

fn prom(name: &str, sev: &str, state: &str) -> PromAlert {
    serde_json::from_value(serde_json::json!({
        "labels": {"alertname": name, "severity": sev, "namespace": "media"},
        "annotations": {"summary": format!("{name} summary")},
        "state": state, "activeAt": "2026-11-23T17:00:00Z", "value": "1e+00"
    }))
    .unwrap()
}

fn am(name: &str, sev: &str, silenced: &[&str]) -> AmAlert {
    serde_json::from_value(serde_json::json!({
        "labels": {"alertname": name, "severity": sev, "namespace": "media"},
        "annotations": {}, "fingerprint": format!("fp{name}"),
        "startsAt": "2026-11-23T17:00:00Z", "endsAt": "2026-11-23T18:00:00Z",
        "status": {"state": if silenced.is_empty() { "active" } else { "suppressed" }, "silencedBy": silenced, "inhibitedBy": []}
    }))
    .unwrap()
}

fn loaded() -> AlertsPane {
    let mut p = AlertsPane::new("ops@homelab");
    p.on_event(ConsoleEvent::Alerts {
        source: AlertSource::Prometheus,
        update: AlertsUpdate::Prometheus {
            alerts: vec![
                prom("Disk", "critical", "firing"),
                prom("Crash", "warning", "firing"),
                prom("Slow", "warning", "pending"),
            ],
            rules: vec![],
        },
    });
    p.on_event(ConsoleEvent::Alerts {
        source: AlertSource::Alertmanager,
        update: AlertsUpdate::Alertmanager {
            alerts: vec![
                am("Disk", "critical", &[]),
                am("Crash", "warning", &["sil-1"]),
            ],
        },
    });
    p
}

#[test]
fn groups_by_severity_with_states() {
    let p = loaded();
    let rows = p.rows();
    assert_eq!(
        rows[0],
        AlertRow::Group {
            severity: Severity::Critical,
            count: 1
        }
    );
    assert_eq!(
        rows[2],
        AlertRow::Group {
            severity: Severity::Warning,
            count: 2
        }
    );
    let states: Vec<_> = p.alerts.iter().map(|a| (a.name(), a.state)).collect();
    assert_eq!(
        states,
        vec![
            ("Disk", AlertState::Firing),
            ("Slow", AlertState::Pending),
            ("Crash", AlertState::Suppressed)
        ]
    );
    assert_eq!(p.counts(), (1, 1, 1));
    assert!(p.prometheus.conn.is_live() && p.alertmanager.conn.is_live());
}

#[test]
fn selection_follows_the_alert_across_refreshes() {
    let mut p = loaded();
    p.select_next();
    assert_eq!(p.selected().unwrap().name(), "Slow");
    // Disk resolves: the list shifts, the selection stays on Slow.
    p.on_event(ConsoleEvent::Alerts {
        source: AlertSource::Prometheus,
        update: AlertsUpdate::Prometheus {
            alerts: vec![
                prom("Crash", "warning", "firing"),
                prom("Slow", "warning", "pending"),
            ],
            rules: vec![],
        },
    });
    p.on_event(ConsoleEvent::Alerts {
        source: AlertSource::Alertmanager,
        update: AlertsUpdate::Alertmanager {
            alerts: vec![am("Crash", "warning", &["sil-1"])],
        },
    });
    assert_eq!(p.selected().unwrap().name(), "Slow");
}

#[test]
fn one_source_down_degrades_without_blanking() {
    let mut p = loaded();
    p.on_event(ConsoleEvent::Alerts {
        source: AlertSource::Alertmanager,
        update: AlertsUpdate::Failed {
            reason: "connection refused".into(),
            attempt: 1,
            retry_in: Duration::from_secs(1),
        },
    });
    assert_eq!(p.alerts.len(), 3, "last known alerts stay");
    assert!(p.prometheus.conn.is_live());
    assert_eq!(p.alertmanager.conn.reason(), Some("connection refused"));
    p.on_event(ConsoleEvent::Alerts {
        source: AlertSource::Alertmanager,
        update: AlertsUpdate::Connecting,
    });
    assert!(
        matches!(p.alertmanager.conn, ConnState::Reconnecting { .. }),
        "still shows the outage while retrying"
    );
}

#[test]
fn silence_form_requires_a_comment_and_a_valid_duration() {
    let mut p = loaded();
    p.open_silence_form();
    let f = p.silence_form.as_mut().unwrap();
    assert_eq!(f.duration.value(), "2h");
    assert!(p.submit_silence(1_000).is_empty());
    assert!(
        p.silence_form
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("comment")
    );
    let f = p.silence_form.as_mut().unwrap();
    f.comment.set("disk swap planned");
    f.duration.set("5y");
    assert!(p.submit_silence(1_000).is_empty());
    p.silence_form.as_mut().unwrap().duration.set("30m");
    let fx = p.submit_silence(1_000);
    let [ConsoleEffect::CreateSilence(s)] = fx.as_slice() else {
        panic!("{fx:?}")
    };
    assert_eq!(s.created_by, "ops@homelab");
    assert_eq!(s.comment, "disk swap planned");
    assert_eq!(s.ends_at - s.starts_at, 1800);
    assert!(
        s.matchers
            .iter()
            .any(|m| m.name == "alertname" && m.value == "Disk" && m.is_equal && !m.is_regex)
    );
    let fx = p.on_event(ConsoleEvent::SilenceCreated(Ok("abc".into())));
    assert_eq!(fx, vec![ConsoleEffect::RefreshAlerts]);
    assert!(p.silence_form.is_none());
}

#[test]
fn expire_asks_first_and_only_for_silenced_alerts() {
    let mut p = loaded();
    p.ask_expire();
    assert!(p.confirm_expire.is_none());
    assert_eq!(p.notice.as_deref(), Some("this alert is not silenced"));
    p.select_last();
    p.ask_expire();
    assert_eq!(
        p.confirm_expire.as_deref(),
        Some(&["sil-1".to_string()][..])
    );
    assert_eq!(
        p.confirm_expire(),
        vec![ConsoleEffect::ExpireSilence { id: "sil-1".into() }]
    );
}

#[test]
fn durations() {
    assert_eq!(parse_duration_secs("90"), Ok(5400));
    assert_eq!(parse_duration_secs("2h"), Ok(7200));
    assert_eq!(parse_duration_secs("1d"), Ok(86_400));
    assert!(parse_duration_secs("0m").is_err());
    assert!(parse_duration_secs("abc").is_err());
}
