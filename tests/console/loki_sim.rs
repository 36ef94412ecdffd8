//! The logs pane against the Loki simulator: history then tail, reconnect without duplicates,
//! Loki's errors in the pane, an outage and recovery, dropped entries, completion data.

use crate::harness::Harness;
use homelab::domain::logs::{Labels, LogLevel};
use homelab::screens::console::conn::ConnState;
use homelab::screens::console::state::ConsoleAction;
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use std::collections::HashSet;
use std::sync::Arc;

fn quiet() -> LokiSimOptions {
    LokiSimOptions {
        rate: 0,
        history_secs: 0,
        ..Default::default()
    }
}

fn web() -> Arc<Labels> {
    let mut l = Labels::new();
    l.insert("namespace".into(), "media".into());
    l.insert("app".into(), "jellyfin".into());
    l.insert("pod".into(), "jellyfin-0".into());
    Arc::new(l)
}

fn other() -> Arc<Labels> {
    let mut l = Labels::new();
    l.insert("namespace".into(), "kube-system".into());
    l.insert("app".into(), "coredns".into());
    Arc::new(l)
}

const QUERY: &str = r#"{namespace="media"}"#;

fn texts(h: &Harness) -> Vec<String> {
    h.st.logs
        .buffer
        .iter()
        .map(|(_, l)| l.line.clone())
        .collect()
}

fn assert_no_duplicates(h: &Harness) {
    let mut seen = HashSet::new();
    for (_, l) in h.st.logs.buffer.iter() {
        assert!(
            seen.insert((l.ts_ns, l.line.clone())),
            "duplicate line {:?} at {}",
            l.line,
            l.ts_ns
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_then_live_tail_with_server_side_filter_and_levels() {
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), quiet())
        .await
        .unwrap();
    let s = sim.store();
    s.push(web(), "level=info msg=\"old 1\"");
    s.push(other(), "not selected");
    s.push(web(), "level=error msg=\"old 2\"");
    let mut h = Harness::new(Some(&sim.url()), None, None);
    let fx = h.st.open(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("history loaded and tail live", |st| {
        st.logs.buffer.len() == 2 && st.logs.conn.is_live() && !st.logs.loading
    })
    .await;
    s.push(web(), "level=warn msg=\"new 1\"");
    s.push(other(), "still not selected");
    s.push(web(), "GET /healthz 200");
    h.until("tailed lines", |st| st.logs.buffer.len() == 4)
        .await;
    assert_eq!(
        texts(&h),
        vec![
            "level=info msg=\"old 1\"",
            "level=error msg=\"old 2\"",
            "level=warn msg=\"new 1\"",
            "GET /healthz 200"
        ]
    );
    let levels: Vec<LogLevel> = h.st.logs.buffer.iter().map(|(_, l)| l.level).collect();
    assert_eq!(
        levels,
        vec![
            LogLevel::Info,
            LogLevel::Error,
            LogLevel::Warn,
            LogLevel::Unknown
        ]
    );

    // A line filter goes to Loki: it applies before the limit, so a narrow window still finds it.
    h.st.logs.window.lines = 1;
    let fx =
        h.st.logs
            .run_query(r#"{namespace="media"} |= "old 1""#, Harness::now_ns());
    h.run(fx);
    h.until("filtered history", |st| {
        !st.logs.loading && st.logs.conn.is_live()
    })
    .await;
    assert_eq!(
        texts(&h),
        vec!["level=info msg=\"old 1\""],
        "newest-1 would have been `GET /healthz` without server-side filtering"
    );
    let screen = h.screen(100, 20);
    assert!(
        screen.contains("old 1") && screen.contains("FOLLOW"),
        "{screen}"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_tail_reconnects_and_resumes_without_duplicates_or_gaps() {
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), quiet())
        .await
        .unwrap();
    let s = sim.store();
    let mut h = Harness::new(Some(&sim.url()), None, None);
    let fx = h.st.open(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("tail live", |st| st.logs.conn.is_live() && !st.logs.loading)
        .await;
    let t = s.push(web(), "before");
    // Two lines sharing one nanosecond: the resume must keep both, once.
    s.push_at(t + 1, web(), "same-ns a");
    s.push_at(t + 1, web(), "same-ns b");
    h.until("three lines", |st| st.logs.buffer.len() == 3).await;

    sim.kick_tails();
    // Written while the tail is down, one of them at the very nanosecond it resumes from.
    s.push_at(t + 1, web(), "same-ns c (while down)");
    s.push_at(t + 2, web(), "after 1 (while down)");
    h.until("reconnected", |st| {
        st.logs
            .notice
            .as_deref()
            .is_some_and(|n| n.contains("reconnected after"))
    })
    .await;
    let notice = h.st.logs.notice.clone().unwrap();
    assert!(notice.contains(": 2 lines backfilled from "), "{notice}");
    s.push(web(), "after 2");
    h.until("all lines", |st| st.logs.buffer.len() >= 6).await;
    assert_eq!(
        texts(&h),
        vec![
            "before",
            "same-ns a",
            "same-ns b",
            "same-ns c (while down)",
            "after 1 (while down)",
            "after 2"
        ]
    );
    assert_no_duplicates(&h);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_errors_from_loki_show_in_the_pane() {
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), quiet())
        .await
        .unwrap();
    let mut h = Harness::new(Some(&sim.url()), None, None);
    let fx =
        h.st.open(r#"{namespace="media"} |~ "(unclosed""#, Harness::now_ns());
    h.run(fx);
    h.until("the error", |st| {
        st.logs.error.is_some() && matches!(st.logs.conn, ConnState::Failed { .. })
    })
    .await;
    let err = h.st.logs.error.clone().unwrap();
    assert!(err.contains("parse error") && err.contains("400"), "{err}");
    let screen = h.screen(100, 30);
    assert!(
        screen.contains("The query failed") && screen.contains("parse error"),
        "{screen}"
    );
    // Fixing the query recovers.
    h.st.apply(ConsoleAction::EditQuery, 0);
    let fx = h.st.logs.run_query(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("live again", |st| {
        st.logs.conn.is_live() && st.logs.error.is_none()
    })
    .await;
    sim.stop().await;
}

/// A Loki simulator on an address of its own (restarted on the same port later: nobody takes
/// it meanwhile) holding "before the outage"; the console tailing it (after `tune`), live with
/// that line; then Loki stopped and the outage shown. The harness, the address to restart on,
/// and the stopped simulator's store.
async fn live_then_stopped(
    tune: impl FnOnce(&mut Harness),
) -> (Harness, std::net::SocketAddr, homelab::sim::loki::LokiStore) {
    let sim = LokiSim::start(crate::support::net::any_port(), quiet())
        .await
        .unwrap();
    let addr = sim.addr();
    sim.store().push(web(), "before the outage");
    let mut h = Harness::new(Some(&sim.url()), None, None);
    tune(&mut h);
    let fx = h.st.open(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("live with history", |st| {
        st.logs.conn.is_live() && st.logs.buffer.len() == 1
    })
    .await;

    let store = sim.stop().await;
    h.until("the outage shown", |st| {
        matches!(st.logs.conn, ConnState::Reconnecting { .. })
    })
    .await;
    (h, addr, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loki_stopped_and_restarted_mid_session_shows_the_outage_and_recovers() {
    let (mut h, addr, store) = live_then_stopped(|_| {}).await;
    let screen = h.screen(100, 30);
    assert!(screen.contains("reconnecting"), "{screen}");
    store.push(web(), "written during the outage");

    let sim = LokiSim::start_with(addr, store, quiet()).await.unwrap();
    h.until("recovered", |st| st.logs.conn.is_live()).await;
    sim.store().push(web(), "after the restart");
    h.until("new lines", |st| st.logs.buffer.len() == 3).await;
    assert_eq!(
        texts(&h),
        vec![
            "before the outage",
            "written during the outage",
            "after the restart"
        ]
    );
    assert_no_duplicates(&h);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_entries_completion_and_copy() {
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), quiet())
        .await
        .unwrap();
    sim.store().push(web(), "copy me");
    sim.store().push(other(), "x");
    let mut h = Harness::new(Some(&sim.url()), None, None);
    let fx = h.st.open(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("live", |st| {
        st.logs.conn.is_live() && st.logs.buffer.len() == 1
    })
    .await;
    sim.report_dropped(3);
    h.until("dropped entries counted", |st| st.logs.loki_dropped == 3)
        .await;
    assert!(
        h.st.logs
            .notice
            .as_deref()
            .unwrap()
            .contains("Loki dropped 3")
    );

    h.until("label names for completion", |st| {
        st.logs
            .query_box
            .label_names
            .contains(&"namespace".to_string())
    })
    .await;
    h.st.logs.query_box.set_text("{namespace=\"");
    let fx = h.st.logs.completion_effects();
    h.run(fx);
    h.until("label values", |st| {
        st.logs.query_box.label_values.contains_key("namespace")
    })
    .await;
    assert_eq!(
        h.st.logs.query_box.label_values["namespace"],
        vec!["kube-system", "media"]
    );

    h.st.focus = homelab::screens::console::state::PaneId::Logs;
    let fx = h.st.apply(ConsoleAction::CopyLine, 0);
    h.run(fx);
    let clip = h.clipboard.clone();
    assert_eq!(clip, vec!["\x1b]52;c;Y29weSBtZQ==\x07".to_string()]);
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_reach_loki_on_queries_and_on_the_websocket_tail() {
    let auth = homelab::backends::endpoint::Auth::basic_from_pair("ops:pw").unwrap();
    let opts = LokiSimOptions {
        authorization: auth.header_value().map(|h| h.to_string()),
        ..quiet()
    };
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    sim.store().push(web(), "behind the proxy");

    let mut h = Harness::new(Some(&sim.url()), None, None);
    let fx = h.st.open(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("refused without credentials", |st| {
        st.logs.error.is_some() && matches!(st.logs.conn, ConnState::Failed { .. })
    })
    .await;
    assert!(
        h.st.logs.error.as_deref().unwrap().contains("401"),
        "{:?}",
        h.st.logs.error
    );

    let mut h = Harness::with_auth(Some(&sim.url()), None, None, auth);
    let fx = h.st.open(QUERY, Harness::now_ns());
    h.run(fx);
    h.until("history with credentials", |st| {
        st.logs.conn.is_live() && st.logs.buffer.len() == 1
    })
    .await;
    sim.store().push(web(), "tailed with credentials");
    h.until("tailed line", |st| st.logs.buffer.len() == 2).await;
    sim.stop().await;
}

/// `n` lines of the `media` stream written while the tail is down, 1 µs apart, just after now.
fn burst(store: &homelab::sim::loki::LokiStore, n: i64) -> Vec<String> {
    let t0 = Harness::now_ns();
    let texts: Vec<String> = (0..n).map(|i| format!("gap {i:05}")).collect();
    store.push_batch(
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| (t0 + i as i64 * 1000, web(), t.clone()))
            .collect(),
    );
    texts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_longer_than_the_tail_backfill_is_filled_without_gap_or_duplicate() {
    let (mut h, addr, store) = live_then_stopped(|_| {}).await;
    // Far more than the tail's own backfill (limit 1000) and more than one 5000-line page.
    let gap = burst(&store, 12_345);
    store.push(other(), "not selected");

    let sim = LokiSim::start_with(addr, store, quiet()).await.unwrap();
    h.until("recovered", |st| st.logs.conn.is_live()).await;
    sim.store().push(web(), "after the restart");
    h.until("every line", |st| st.logs.buffer.len() >= 12_347)
        .await;
    let mut want = vec!["before the outage".to_string()];
    want.extend(gap);
    want.push("after the restart".into());
    assert_eq!(texts(&h), want, "every line once, in order, no gap");
    assert_no_duplicates(&h);
    let notice = h.st.logs.notice.clone().unwrap();
    assert!(
        notice.starts_with("reconnected after ")
            && notice.contains(": 12,345 lines backfilled from "),
        "{notice}"
    );
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_over_the_cap_is_skipped_and_the_pane_says_how_many_lines_between_which_times() {
    let (mut h, addr, store) = live_then_stopped(|h| h.st.logs.gap_max = 2000).await;
    let gap = burst(&store, 3500);

    let sim = LokiSim::start_with(addr, store, quiet()).await.unwrap();
    h.until("recovered", |st| st.logs.conn.is_live()).await;
    let notice = h.st.logs.notice.clone().unwrap();
    assert!(
        notice.starts_with("reconnected after ") && notice.contains(": 1,500 lines skipped "),
        "{notice}"
    );
    assert!(notice.chars().count() <= 80, "{notice}");
    sim.store().push(web(), "after the restart");
    h.until("live again", |st| st.logs.buffer.len() == 2002)
        .await;
    let mut want = vec!["before the outage".to_string()];
    want.extend(gap[..2000].iter().cloned());
    want.push("after the restart".into());
    assert_eq!(texts(&h), want, "the first 2000 of the gap, then live");
    let screen = h.screen(120, 24);
    assert!(screen.contains("1,500 lines skipped"), "{screen}");
    sim.stop().await;
}
