//! The Loki tail's connection itself, against the simulator: a half-open connection is noticed
//! by Ping/Pong and reconnected, and a Loki behind a private CA is reached over HTTPS and the
//! websocket alike once its CA file is given (and refused by both without it).

use homelab::backends::endpoint::{Auth, Timeouts};
use homelab::backends::loki::{Direction, LokiClient, RangeQuery, TailEvent, TailRequest};
use homelab::domain::logs::Labels;
use homelab::sim::loki::{LokiSim, LokiSimOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const QUERY: &str = r#"{app="web"}"#;
const WAIT: Duration = Duration::from_secs(30);

fn quiet() -> LokiSimOptions {
    LokiSimOptions {
        rate: 0,
        history_secs: 0,
        ..Default::default()
    }
}

fn web() -> Arc<Labels> {
    let mut l = Labels::new();
    l.insert("app".into(), "web".into());
    Arc::new(l)
}

/// Events until `pick` returns something (within [`WAIT`]).
async fn until<T>(
    rx: &mut mpsc::Receiver<TailEvent>,
    what: &str,
    mut pick: impl FnMut(&TailEvent) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {WAIT:?}"))
            .unwrap_or_else(|| panic!("the tail ended before {what}"));
        if let Some(t) = pick(&ev) {
            return t;
        }
    }
}

fn is_live(ev: &TailEvent) -> Option<()> {
    matches!(ev, TailEvent::Live { .. }).then_some(())
}

fn lines(ev: &TailEvent) -> Option<Vec<String>> {
    match ev {
        TailEvent::Lines(l) => Some(l.iter().map(|l| l.line.clone()).collect()),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_tail_is_noticed_by_ping_and_reconnected() {
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), quiet())
        .await
        .unwrap();
    let client = LokiClient::new(&sim.url(), Auth::None, Timeouts::default()).unwrap();
    let mut req = TailRequest::new(QUERY);
    req.ping_every = Duration::from_millis(200);
    req.pong_timeout = Duration::from_millis(500);
    let (tx, mut rx) = mpsc::channel(64);
    let tail = tokio::spawn(async move { client.tail(req, tx).await });
    until(&mut rx, "the first Live", is_live).await;
    sim.store().push(web(), "before");
    assert_eq!(until(&mut rx, "a line", lines).await, vec!["before"]);

    sim.freeze_tails();
    let reason = until(&mut rx, "a reconnect", |ev| match ev {
        TailEvent::Reconnecting { reason, .. } => Some(reason.clone()),
        _ => None,
    })
    .await;
    assert!(reason.contains("no answer to a ping"), "{reason}");
    until(&mut rx, "Live again", is_live).await;
    sim.store().push(web(), "after");
    assert_eq!(until(&mut rx, "a line", lines).await, vec!["after"]);
    tail.abort();
    sim.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loki_behind_a_private_ca_is_trusted_by_queries_and_the_tail_alike() {
    let sim = LokiSim::start(
        "127.0.0.1:0".parse().unwrap(),
        LokiSimOptions {
            tls: true,
            ..quiet()
        },
    )
    .await
    .unwrap();
    assert!(sim.url().starts_with("https://"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("loki-ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    sim.store().push(web(), "over tls");
    let range = RangeQuery {
        query: QUERY.into(),
        start_ns: 0,
        end_ns: i64::MAX / 2,
        limit: 10,
        direction: Direction::Forward,
    };

    // Without the CA file: the query and the websocket both refuse the certificate.
    let untrusted = LokiClient::new(&sim.url(), Auth::None, Timeouts::default()).unwrap();
    let e = untrusted.query_range(&range).await.unwrap_err().to_string();
    assert!(
        e.to_lowercase().contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );
    let (tx, mut rx) = mpsc::channel(64);
    let tail = tokio::spawn(async move { untrusted.tail(TailRequest::new(QUERY), tx).await });
    let reason = until(&mut rx, "a refused connect", |ev| match ev {
        TailEvent::Reconnecting { reason, .. } | TailEvent::Failed { reason } => {
            Some(reason.clone())
        }
        TailEvent::Live { .. } => panic!("the tail trusted an unknown CA"),
        _ => None,
    })
    .await;
    assert!(
        reason.to_lowercase().contains("certificate") || reason.contains("UnknownIssuer"),
        "{reason}"
    );
    tail.abort();

    // With it: both work.
    let trusted = LokiClient::new(&sim.url(), Auth::None, Timeouts::default())
        .unwrap()
        .with_ca_file(Some(&ca))
        .unwrap();
    let got = trusted.query_range(&range).await.unwrap();
    assert_eq!(got.len(), 1);
    let (tx, mut rx) = mpsc::channel(64);
    let tail = tokio::spawn(async move { trusted.tail(TailRequest::new(QUERY), tx).await });
    until(&mut rx, "Live over wss", is_live).await;
    sim.store().push(web(), "tailed over wss");
    let mut seen = Vec::new();
    while !seen.contains(&"tailed over wss".to_string()) {
        seen.extend(until(&mut rx, "lines over wss", lines).await);
    }
    tail.abort();
    sim.stop().await;
}
