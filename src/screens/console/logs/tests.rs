use super::*;
use crate::domain::logs::Labels;
use std::sync::Arc;
use std::time::Duration;

fn line(ts: i64, text: &str) -> LogLine {
    let mut l = Labels::new();
    l.insert("app".into(), "web".into());
    LogLine::new(ts, Arc::new(l), text.into())
}

fn lines(from: i64, n: i64) -> Vec<LogLine> {
    (from..from + n)
        .map(|i| line(i, &format!("line {i}")))
        .collect()
}

fn pane_with(n: i64) -> LogsPane {
    let mut p = LogsPane::new(1000);
    p.page.set(10);
    p.run_query(r#"{app="web"}"#, 1_000);
    p.ingest(lines(1_000, n));
    p
}

#[test]
fn a_query_asks_for_history_with_server_side_filters_then_tails_from_the_same_instant() {
    let mut p = LogsPane::new(100);
    p.window = HistoryWindow {
        minutes: 10,
        lines: 500,
    };
    let now = 3_600_000_000_000;
    let fx = p.run_query(r#"{app="web"} |= "error""#, now);
    let ConsoleEffect::QueryLogs { generation, query } = &fx[0] else {
        panic!("{fx:?}")
    };
    assert_eq!(*generation, 1);
    assert_eq!(
        query.query, r#"{app="web"} |= "error""#,
        "the filter goes to Loki, applied before the limit"
    );
    assert_eq!(query.limit, 500);
    assert_eq!(query.end_ns - query.start_ns, 600_000_000_000);
    assert_eq!(query.direction, Direction::Backward);
    let ConsoleEffect::StartTail { request, .. } = &fx[1] else {
        panic!("{fx:?}")
    };
    assert_eq!(request.start_ns, Some(now));
    assert!(p.loading);
    assert_eq!(p.conn, ConnState::Connecting);
}

#[test]
fn stale_answers_of_a_replaced_query_are_ignored() {
    let mut p = LogsPane::new(100);
    p.run_query(r#"{app="a"}"#, 10);
    p.run_query(r#"{app="b"}"#, 20);
    p.on_event(
        ConsoleEvent::LogsLoaded {
            generation: 1,
            result: Ok(lines(0, 5)),
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert!(p.buffer.is_empty());
    p.on_event(
        ConsoleEvent::Tail {
            generation: 1,
            event: TailEvent::Lines(lines(0, 5)),
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert!(p.buffer.is_empty());
    p.on_event(
        ConsoleEvent::LogsLoaded {
            generation: 2,
            result: Ok(lines(0, 5)),
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert_eq!(p.buffer.len(), 5);
    assert!(!p.loading);
}

#[test]
fn history_goes_before_lines_tailed_meanwhile() {
    let mut p = LogsPane::new(100);
    p.run_query(r#"{app="a"}"#, 100);
    p.on_event(
        ConsoleEvent::Tail {
            generation: 1,
            event: TailEvent::Lines(lines(100, 2)),
        },
        &jiff::tz::TimeZone::UTC,
    );
    p.on_event(
        ConsoleEvent::LogsLoaded {
            generation: 1,
            result: Ok(lines(95, 5)),
        },
        &jiff::tz::TimeZone::UTC,
    );
    let ts: Vec<i64> = p.buffer.iter().map(|(_, l)| l.ts_ns).collect();
    assert_eq!(ts, vec![95, 96, 97, 98, 99, 100, 101]);
}

#[test]
fn errors_and_connection_states_show_in_the_pane() {
    let mut p = LogsPane::new(100);
    p.run_query(r#"{app="a"} |~ "(""#, 1);
    p.on_event(
        ConsoleEvent::LogsLoaded {
            generation: 1,
            result: Err(
                "Loki answered 400 at http://x/: parse error at line 1, col 13: invalid regex"
                    .into(),
            ),
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert!(p.error.as_deref().unwrap().contains("parse error"));
    p.on_event(
        ConsoleEvent::Tail {
            generation: 1,
            event: TailEvent::Reconnecting {
                attempt: 3,
                retry_in: Duration::from_secs(2),
                reason: "refused".into(),
            },
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert_eq!(p.conn.badge(), "reconnecting #3 in 2s");
    p.on_event(
        ConsoleEvent::Tail {
            generation: 1,
            event: TailEvent::Connecting { attempt: 4 },
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert!(
        matches!(p.conn, ConnState::Reconnecting { .. }),
        "keeps showing the outage while retrying"
    );
    p.on_event(
        ConsoleEvent::Tail {
            generation: 1,
            event: TailEvent::Live {
                resumed: Some(Resumed {
                    down_for: Duration::from_secs(12),
                    backfilled: 3214,
                    // 2024-12-02 14:05:31.250 UTC
                    from_ns: 1_733_148_331_250_000_000,
                    skipped: None,
                }),
            },
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert!(p.conn.is_live());
    assert_eq!(
        p.notice.as_deref(),
        Some("reconnected after 12s: 3,214 lines backfilled from 14:05:31")
    );
    p.on_event(
        ConsoleEvent::Tail {
            generation: 1,
            event: TailEvent::Dropped { count: 7 },
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert_eq!(p.loki_dropped, 7);
    assert!(p.notice.as_deref().unwrap().contains("dropped 7"));
}

#[test]
fn pause_keeps_the_view_while_lines_arrive_and_follow_catches_up_at_once() {
    let mut p = pane_with(50);
    assert!(p.following());
    assert_eq!(p.bottom_seq(), p.buffer.last_seq());
    p.toggle_follow(0);
    let paused_at = p.bottom_seq();
    p.ingest(lines(2_000, 30));
    assert_eq!(p.bottom_seq(), paused_at, "paused view does not move");
    assert_eq!(p.unseen(), 30);
    p.toggle_follow(0);
    assert!(p.following());
    assert_eq!(
        p.bottom_seq(),
        p.buffer.last_seq(),
        "follow jumps to the newest line at once"
    );
}

#[test]
fn selection_moves_and_scrolls_at_the_edges() {
    let mut p = pane_with(50);
    let last = p.buffer.last_seq().unwrap();
    p.select_up();
    assert!(!p.following(), "moving the selection pauses");
    assert_eq!(p.selected_seq(), Some(last - 1));
    for _ in 0..20 {
        p.select_up();
    }
    assert_eq!(p.selected_seq(), Some(last - 21));
    assert_eq!(
        p.bottom_seq(),
        Some(last - 21 + 9),
        "selection at the top row, view scrolled"
    );
    p.top();
    assert_eq!(p.selected_seq(), Some(p.buffer.first_seq()));
    p.scroll_up(5);
    assert_eq!(
        p.lines_up_from_bottom(100).len(),
        10,
        "cannot scroll above the first line"
    );
    p.select_down();
    assert_eq!(p.selected_seq(), Some(p.buffer.first_seq() + 1));
}

#[test]
fn ring_buffer_counts_dropped_lines_and_a_paused_view_survives_eviction() {
    let mut p = LogsPane::new(100);
    p.page.set(10);
    p.run_query(r#"{app="web"}"#, 0);
    p.ingest(lines(0, 100));
    p.top();
    p.ingest(lines(100, 150));
    assert_eq!(p.buffer.len(), 100);
    assert_eq!(p.buffer.evicted(), 150);
    let b = p.bottom_seq().unwrap();
    assert!(b >= p.buffer.first_seq());
}

#[test]
fn search_highlights_and_steps_through_matches_and_context_view() {
    let mut p = LogsPane::new(1000);
    p.page.set(10);
    p.run_query(r#"{app="web"}"#, 0);
    let mut ls = lines(0, 100);
    for i in [10usize, 50, 90] {
        ls[i] = line(i as i64, "upstream connect error");
    }
    p.ingest(ls);
    p.set_search("connect error");
    let first = p.buffer.first_seq();
    assert_eq!(
        p.selected_seq(),
        Some(first + 90),
        "newest match at or before the selection"
    );
    p.next_match(false);
    assert_eq!(p.selected_seq(), Some(first + 50));
    p.next_match(true);
    assert_eq!(p.selected_seq(), Some(first + 90));
    p.next_match(true);
    assert_eq!(p.selected_seq(), Some(first + 10), "wraps");
    p.toggle_context();
    assert_eq!(
        p.selected_seq(),
        Some(first + 10),
        "the selection stays on its match"
    );
    p.follow();
    let shown = p.lines_up_from_bottom(100);
    assert_eq!(shown.len(), 3 * (2 * CONTEXT_LINES + 1));
    assert!(shown.iter().all(|&s| (s - first - 10).abs() <= 3
        || (s - first - 50).abs() <= 3
        || (s - first - 90).abs() <= 3));
    // New matching lines join the match list.
    p.ingest(vec![line(200, "connect error again")]);
    assert_eq!(p.search.as_ref().unwrap().matches().len(), 4);
}

#[test]
fn display_toggles_do_not_touch_the_query_or_buffer() {
    let mut p = pane_with(5);
    let generation = p.generation();
    p.show_time = !p.show_time;
    p.show_labels = !p.show_labels;
    p.wrap = !p.wrap;
    assert_eq!(p.generation(), generation);
    assert_eq!(p.query, r#"{app="web"}"#);
    assert_eq!(p.buffer.len(), 5);
}

#[test]
fn jump_inside_the_buffer_selects_and_before_it_loads_history() {
    let mut p = pane_with(100);
    p.jump_to(1_040, 5_000);
    let sel = p.selected_seq().unwrap();
    assert_eq!(p.buffer.get(sel).unwrap().ts_ns, 1_040);
    let fx = p.jump_to(10, 5_000);
    assert!(matches!(p.mode, LogsMode::Historic { from_ns: 10 }));
    assert!(
        matches!(&fx[0], ConsoleEffect::QueryLogs { query, .. } if query.direction == Direction::Forward && query.start_ns == 10)
    );
    assert_eq!(fx[1], ConsoleEffect::StopTail);
    p.on_event(
        ConsoleEvent::LogsLoaded {
            generation: p.generation(),
            result: Ok(lines(10, 30)),
        },
        &jiff::tz::TimeZone::UTC,
    );
    assert_eq!(
        p.selected_seq()
            .and_then(|s| p.buffer.get(s))
            .map(|l| l.ts_ns),
        Some(10),
        "starts at the jump point"
    );
    let fx = p.toggle_follow(6_000);
    assert!(
        matches!(fx.last(), Some(ConsoleEffect::StartTail { .. })),
        "f goes live again"
    );
}

#[test]
fn window_prompt_reruns_and_copy_yields_the_selected_text() {
    let mut p = pane_with(5);
    let fx = p.set_window("30m 200", 10_000_000_000_000);
    assert!(matches!(&fx[0], ConsoleEffect::QueryLogs { query, .. } if query.limit == 200));
    assert!(p.set_window("lots", 0).is_empty());
    assert!(p.notice.is_some());
    let mut p = pane_with(5);
    assert_eq!(
        p.copy_selected(),
        vec![ConsoleEffect::Copy("line 1004".into())]
    );
}

#[test]
fn reconnect_notices_are_human_local_and_fit_80_columns() {
    use crate::backends::loki::Skipped;
    let paris: jiff::tz::TimeZone = jiff::tz::TimeZone::get("Europe/Paris").unwrap();
    let t0 = 1_733_148_331_250_000_000; // 14:05:31 UTC, 15:05:31 in Paris
    let mut r = Resumed {
        down_for: Duration::from_secs(80),
        backfilled: 0,
        from_ns: t0,
        skipped: None,
    };
    assert_eq!(
        resumed_notice(&r, &paris),
        "reconnected after 1m 20s: nothing missed since 15:05:31"
    );
    r.backfilled = 1;
    assert_eq!(
        resumed_notice(&r, &paris),
        "reconnected after 1m 20s: 1 line backfilled from 15:05:31"
    );
    r.down_for = Duration::from_secs(2 * 3600 + 300);
    r.backfilled = 100_000;
    r.skipped = Some(Skipped {
        from_ns: t0 + 3_600_000_000_000,
        to_ns: t0 + 7_500_000_000_000,
        count: Some(1_248_120),
    });
    let n = resumed_notice(&r, &paris);
    assert_eq!(
        n,
        "reconnected after 2h 5m: 1,248,120 lines skipped 16:05:31-17:10:31"
    );
    // The status row of an 80-column pane has 66 columns after "300 lines · ".
    assert!(n.chars().count() <= 66, "{n}");
    r.skipped.as_mut().unwrap().count = None;
    let n = resumed_notice(&r, &paris);
    assert_eq!(
        n,
        "reconnected after 2h 5m: lines skipped 16:05:31-17:10:31 (uncounted)"
    );
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(12_345_678), "12,345,678");
}

/// A line stamped `i64::MAX` is buffered; restarting the tail after it must not overflow.
#[test]
fn resuming_after_a_line_at_i64_max_is_not_a_panic() {
    let mut p = pane_with(3);
    p.ingest(vec![line(i64::MAX, "end of time")]);
    let fx = p.resume_tail(2_000);
    let Some(ConsoleEffect::StartTail { request, .. }) = fx.first() else {
        panic!("{fx:?}")
    };
    assert_eq!(request.start_ns, Some(i64::MAX));
}
