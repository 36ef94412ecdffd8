//! Frame snapshots of the console (whole app frame: bars, panes, hints) in each pane state,
//! at 80x24 and 200x60, into snapshots/console/.

use crate::support;
use homelab::app::App;
use homelab::backends::loki::{Resumed, Skipped, TailEvent};
use homelab::backends::prom::{AmAlert, PromAlert};
use homelab::domain::logs::LogLine;
use homelab::msg::{Action, BackendEvent};
use homelab::screens::ScreenId;
use homelab::screens::console::events::{AlertSource, AlertsUpdate, ConsoleEvent};
use homelab::sim::loki::Generator;
use std::time::Duration;

const SIZES: &[(u16, u16)] = &[(80, 24), (200, 60)];

pub(crate) fn frames(name: &str, app: &mut App) {
    for &(w, h) in SIZES {
        support::assert_frame("console", name, app, w, h);
    }
}

/// The fixture app with the console open (its tasks are not run: events are injected).
fn console() -> App {
    let mut app = support::app();
    support::act(&mut app, Action::Open(ScreenId::Console));
    app.screens.console.state.tz = jiff::tz::TimeZone::UTC;
    app
}

pub(crate) fn ev(app: &mut App, e: ConsoleEvent) {
    support::backend(app, BackendEvent::Console(e));
}

fn generation(app: &App) -> u64 {
    app.screens.console.state.logs.generation()
}

/// 18:00:00Z, the frames' clock, in ns.
const NOW_NS: i64 = 1_795_456_800_000_000_000;

fn log_lines(n: i64) -> Vec<LogLine> {
    let mut g = Generator::new(11);
    (0..n)
        .map(|i| {
            let ts = NOW_NS - (n - i) * 1_500_000_000;
            let (labels, text) = g.line(ts);
            LogLine::new(ts, labels, text)
        })
        .collect()
}

fn prom_alerts() -> Vec<PromAlert> {
    serde_json::from_value(serde_json::json!([
        {"labels": {"alertname": "NodeFilesystemAlmostOutOfSpace", "severity": "critical", "instance": "k3s-agent-2:9100", "job": "node-exporter", "mountpoint": "/var/lib/rancher"},
         "annotations": {"summary": "Filesystem has less than 5% space left.", "description": "Filesystem on /dev/sda1 at k3s-agent-2:9100 has only 3.81% available space left."},
         "state": "firing", "activeAt": "2026-11-23T17:50:00Z", "value": "3.81e+00"},
        {"labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "media", "pod": "jellyseer-6d9f7c8b5-2xkqp", "container": "jellyseer", "job": "kube-state-metrics"},
         "annotations": {"summary": "Pod is crash looping.", "description": "Pod media/jellyseer-6d9f7c8b5-2xkqp (jellyseer) is in waiting state (reason: \"CrashLoopBackOff\")."},
         "state": "firing", "activeAt": "2026-11-23T17:39:00Z", "value": "1e+00"},
        {"labels": {"alertname": "TargetDown", "severity": "warning", "namespace": "media", "job": "navidrome", "service": "navidrome"},
         "annotations": {"summary": "One or more targets are unreachable."},
         "state": "pending", "activeAt": "2026-11-23T17:59:20Z", "value": "1e+02"},
        {"labels": {"alertname": "LonghornVolumeStatusWarning", "severity": "warning", "namespace": "longhorn-system", "app": "longhorn-manager", "volume": "pvc-3f9a1c2e"},
         "annotations": {"summary": "Longhorn volume pvc-3f9a1c2e is Degraded"},
         "state": "firing", "activeAt": "2026-11-23T16:30:00Z", "value": "2e+00"},
        {"labels": {"alertname": "Watchdog", "severity": "none", "namespace": "monitoring"},
         "annotations": {"summary": "An alert that should always be firing to certify that Alertmanager is working properly."},
         "state": "firing", "activeAt": "2026-11-22T18:00:00Z", "value": "1e+00"}
    ]))
    .unwrap()
}

fn am_alerts() -> Vec<AmAlert> {
    let prom = prom_alerts();
    prom.iter()
        .filter(|p| p.state == "firing")
        .map(|p| {
            let silenced = p.labels["alertname"] == "LonghornVolumeStatusWarning";
            serde_json::from_value(serde_json::json!({
                "labels": p.labels, "annotations": p.annotations,
                "fingerprint": format!("{:016x}", p.labels["alertname"].len() * 7919),
                "startsAt": p.active_at, "endsAt": "2026-11-23T18:04:00Z",
                "status": {"state": if silenced { "suppressed" } else { "active" },
                           "silencedBy": if silenced { vec!["511e0ce5-0001-4001-8001-000000000001"] } else { vec![] },
                           "inhibitedBy": []}
            }))
            .unwrap()
        })
        .collect()
}

pub(crate) fn with_data() -> App {
    let mut app = console();
    let g = generation(&app);
    ev(
        &mut app,
        ConsoleEvent::Alerts {
            source: AlertSource::Prometheus,
            update: AlertsUpdate::Prometheus {
                alerts: prom_alerts(),
                rules: vec![],
            },
        },
    );
    ev(
        &mut app,
        ConsoleEvent::Alerts {
            source: AlertSource::Alertmanager,
            update: AlertsUpdate::Alertmanager {
                alerts: am_alerts(),
            },
        },
    );
    ev(
        &mut app,
        ConsoleEvent::LogsLoaded {
            generation: g,
            result: Ok(log_lines(300)),
        },
    );
    ev(
        &mut app,
        ConsoleEvent::Tail {
            generation: g,
            event: TailEvent::Live { resumed: None },
        },
    );
    app
}

#[test]
fn console_loading() {
    let mut app = console();
    assert!(app.screens.console.state.logs.loading);
    frames("console_loading", &mut app);
}

#[test]
fn console_empty() {
    let mut app = console();
    let g = generation(&app);
    ev(
        &mut app,
        ConsoleEvent::Alerts {
            source: AlertSource::Prometheus,
            update: AlertsUpdate::Prometheus {
                alerts: vec![],
                rules: vec![],
            },
        },
    );
    ev(
        &mut app,
        ConsoleEvent::Alerts {
            source: AlertSource::Alertmanager,
            update: AlertsUpdate::Alertmanager { alerts: vec![] },
        },
    );
    ev(
        &mut app,
        ConsoleEvent::LogsLoaded {
            generation: g,
            result: Ok(vec![]),
        },
    );
    ev(
        &mut app,
        ConsoleEvent::Tail {
            generation: g,
            event: TailEvent::Live { resumed: None },
        },
    );
    frames("console_empty", &mut app);
}

#[test]
fn console_error() {
    let mut app = console();
    let g = generation(&app);
    let reason = "Prometheus at https://prometheus.funoffshore.internal/api/v1/alerts is unreachable: Connection refused (os error 111); is it running and is the URL right?";
    ev(
        &mut app,
        ConsoleEvent::Alerts {
            source: AlertSource::Prometheus,
            update: AlertsUpdate::Failed {
                reason: reason.into(),
                attempt: 3,
                retry_in: Duration::from_secs(4),
            },
        },
    );
    ev(&mut app, ConsoleEvent::Alerts {
        source: AlertSource::Alertmanager,
        update: AlertsUpdate::Failed { reason: "Alertmanager answered 503 at https://alertmanager.funoffshore.internal/api/v2/alerts: service unavailable".into(), attempt: 1, retry_in: Duration::from_millis(500) },
    });
    let err = "Loki answered 400 at https://loki.funoffshore.internal/loki/api/v1/query_range: parse error at line 1, col 22: invalid regex: unclosed group";
    ev(
        &mut app,
        ConsoleEvent::LogsLoaded {
            generation: g,
            result: Err(err.into()),
        },
    );
    ev(
        &mut app,
        ConsoleEvent::Tail {
            generation: g,
            event: TailEvent::Failed { reason: err.into() },
        },
    );
    frames("console_error", &mut app);
}

#[test]
fn console_data() {
    let mut app = with_data();
    frames("console_data", &mut app);
}

/// The reconnect notices in the logs pane's status row: a gap filled, and a gap over the cap.
#[test]
fn console_reconnected_notices() {
    let mut app = with_data();
    let g = generation(&app);
    let resumed = |skipped| Resumed {
        down_for: Duration::from_secs(12),
        backfilled: 3214,
        from_ns: NOW_NS - 300_000_000_000, // 17:55:00
        skipped,
    };
    ev(
        &mut app,
        ConsoleEvent::Tail {
            generation: g,
            event: TailEvent::Live {
                resumed: Some(resumed(None)),
            },
        },
    );
    frames("console_reconnected_backfilled", &mut app);
    ev(
        &mut app,
        ConsoleEvent::Tail {
            generation: g,
            event: TailEvent::Live {
                resumed: Some(Resumed {
                    down_for: Duration::from_secs(2 * 3600 + 300),
                    backfilled: 100_000,
                    skipped: Some(Skipped {
                        from_ns: NOW_NS - 3_600_000_000_000,
                        to_ns: NOW_NS - 1_000_000_000,
                        count: Some(48_120),
                    }),
                    ..resumed(None)
                }),
            },
        },
    );
    frames("console_reconnected_skipped", &mut app);
}

#[test]
fn console_degraded_source_and_paused_logs() {
    let mut app = with_data();
    ev(
        &mut app,
        ConsoleEvent::Alerts {
            source: AlertSource::Alertmanager,
            update: AlertsUpdate::Failed {
                reason: "connection refused".into(),
                attempt: 2,
                retry_in: Duration::from_secs(1),
            },
        },
    );
    support::press(&mut app, "tab");
    support::press(&mut app, "f");
    let g = generation(&app);
    ev(
        &mut app,
        ConsoleEvent::Tail {
            generation: g,
            event: TailEvent::Lines(
                log_lines(12)
                    .into_iter()
                    .map(|mut l| {
                        l.ts_ns += 20_000_000_000;
                        l
                    })
                    .collect(),
            ),
        },
    );
    frames("console_degraded_paused", &mut app);
}

#[test]
fn console_zoomed_logs_with_search_and_context() {
    let mut app = with_data();
    support::press(&mut app, "tab");
    support::press(&mut app, "z");
    support::press(&mut app, "/");
    support::type_text(&mut app, "Slow response|Unhandled Error");
    support::press(&mut app, "enter");
    support::press(&mut app, "C");
    support::press(&mut app, "L");
    assert!(app.screens.console.state.zoomed);
    frames("console_zoomed_logs", &mut app);
}

#[test]
fn console_zoomed_alert_detail() {
    let mut app = with_data();
    support::press(&mut app, "j");
    support::press(&mut app, "d");
    support::press(&mut app, "z");
    frames("console_zoomed_alert_detail", &mut app);
}

#[test]
fn console_silence_form() {
    let mut app = with_data();
    support::press(&mut app, "j");
    support::press(&mut app, "s");
    support::press(&mut app, "tab");
    support::type_text(&mut app, "jellyseer image pull fixed in next release");
    frames("console_silence_form", &mut app);
}

#[test]
fn console_query_box_with_completion() {
    let mut app = with_data();
    ev(
        &mut app,
        ConsoleEvent::LabelsLoaded(Ok(vec![
            "app".into(),
            "container".into(),
            "namespace".into(),
            "node_name".into(),
            "pod".into(),
        ])),
    );
    support::press(&mut app, "tab");
    support::press(&mut app, "e");
    support::press(&mut app, "ctrl-u");
    support::type_text(&mut app, "{na");
    support::press(&mut app, "tab");
    let st = &app.screens.console.state;
    assert_eq!(st.logs.query_box.text(), "{namespace=\"\"");
    frames("console_query_completion", &mut app);
}

#[test]
fn console_pivot_from_alert_to_logs() {
    let mut app = with_data();
    support::press(&mut app, "j");
    let fx = support::press(&mut app, "enter");
    let st = &app.screens.console.state;
    assert_eq!(
        st.logs.query,
        r#"{namespace="media", pod="jellyseer-6d9f7c8b5-2xkqp"}"#
    );
    assert!(!fx.is_empty(), "the pivot starts a query and a tail");
    frames("console_pivot", &mut app);
}

#[test]
fn console_not_configured() {
    let text = support::fixture_cluster_text();
    let cut = text
        .find("observability:")
        .expect("fixture has observability");
    let mut app = support::app_with(support::session_with(&text[..cut]), "homelab-dark");
    support::act(&mut app, Action::Open(ScreenId::Console));
    frames("console_not_configured", &mut app);
}
