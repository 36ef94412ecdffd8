//! The console's log tail under sustained load (docs/performance.md, "Log tail soak"): lines
//! from the Loki simulator's generator are pushed into the simulator at `RATE` lines/s for
//! `SECS` seconds; a real `LokiClient::tail` (websocket,
//! reconnects, gap fill) feeds the logs pane's ring buffer as the console does. At the end the
//! generator stops, the tail drains, and the bench prints how many lines the simulator produced,
//! how many the pane received, how many Loki reported as dropped (`dropped_entries`, the drop
//! counter the pane shows) and how many a gap fill skipped (also shown), and the peak RSS. The
//! simulator keeps serving while the tail drains, so nothing in flight is cut off.
//! Lost silently = produced - received - reported; it must be 0.
//!
//! Not a timed test: run it on purpose, with the release-like bench profile.
//!
//! ```sh
//! cargo bench --bench tail_soak                                   # 5,000 lines/s for 10 minutes
//! HOMELAB_SOAK_SECS=30 HOMELAB_SOAK_RATE=2000 cargo bench --bench tail_soak   # a short run
//! ```

use homelab::backends::endpoint::{Auth, Timeouts};
use homelab::backends::loki::{LokiClient, TailEvent, TailRequest};
use homelab::screens::console::logs::LogsPane;
use homelab::sim::loki::{Generator, LokiSim, LokiSimOptions};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const QUERY: &str = r#"{namespace=~".+"}"#;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Default, Debug)]
struct Counts {
    received: u64,
    reported_dropped: u64,
    skipped: u64,
    reconnects: u64,
}

fn count(ev: TailEvent, pane: &mut LogsPane, c: &mut Counts) {
    match ev {
        TailEvent::Lines(lines) => {
            c.received += lines.len() as u64;
            pane.ingest(lines);
        }
        TailEvent::Dropped { count } => c.reported_dropped += count as u64,
        TailEvent::Reconnecting { .. } => c.reconnects += 1,
        TailEvent::Live {
            resumed: Some(resumed),
        } => {
            if let Some(s) = resumed.skipped {
                c.skipped += s.count.unwrap_or(0);
            }
        }
        _ => {}
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter that is not ours skips the run.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && a != "tail_soak")
    {
        return;
    }
    let secs = env_u64("HOMELAB_SOAK_SECS", 600);
    let rate = env_u64("HOMELAB_SOAK_RATE", 5000) as u32;
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    rt.block_on(async move {
        let opts = LokiSimOptions {
            rate: 0,
            history_secs: 0,
            capacity: 200_000,
            ..Default::default()
        };
        let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), opts)
            .await
            .expect("Loki simulator");
        let client = LokiClient::new(&sim.url(), Auth::None, Timeouts::default()).unwrap();
        let mut req = TailRequest::new(QUERY);
        // Only what is generated from now on (the simulator's clock), nothing older.
        req.start_ns = Some(jiff::Timestamp::now().as_nanosecond() as i64);
        let (tx, mut rx) = mpsc::channel(1024);
        let tail = tokio::spawn(async move { client.tail(req, tx).await });
        let mut pane = LogsPane::default();
        pane.run_query(QUERY, 0);
        let mut c = Counts::default();
        // Wait for the websocket before producing, so every line is a live one.
        while let Some(ev) = rx.recv().await {
            let live = matches!(ev, TailEvent::Live { .. });
            count(ev, &mut pane, &mut c);
            if live {
                break;
            }
        }
        let store = sim.store().clone();
        let producer = tokio::spawn(async move {
            let mut g = Generator::new(7);
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let per_tick = i64::from(rate / 10).max(1);
            let step = 100_000_000 / per_tick;
            loop {
                tick.tick().await;
                let now = jiff::Timestamp::now().as_nanosecond() as i64;
                let batch = (0..per_tick)
                    .map(|i| {
                        let ts = now - 100_000_000 + (i + 1) * step;
                        let (labels, text) = g.line(ts);
                        (ts, labels, text)
                    })
                    .collect();
                store.push_batch(batch);
            }
        });
        let start = Instant::now();
        let mut peak_rss = rss_kib();
        let mut last_report = Instant::now();
        let end = start + Duration::from_secs(secs);
        while Instant::now() < end {
            if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await
            {
                count(ev, &mut pane, &mut c);
            }
            peak_rss = peak_rss.max(rss_kib());
            if last_report.elapsed() >= Duration::from_secs(60) {
                last_report = Instant::now();
                eprintln!(
                    "tail_soak: {:>4} s  received {}  rss {} MiB",
                    start.elapsed().as_secs(),
                    c.received,
                    rss_kib() / 1024
                );
            }
        }
        // Stop producing, then drain (the simulator still serving) until everything arrived or
        // nothing more comes for 5 s.
        producer.abort();
        let _ = producer.await;
        let produced = sim.store().pushed();
        while c.received + c.reported_dropped + c.skipped < produced {
            match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
                Ok(Some(ev)) => count(ev, &mut pane, &mut c),
                _ => break,
            }
        }
        tail.abort();
        sim.stop().await;
        let elapsed = start.elapsed().as_secs_f64();
        let lost = produced as i64 - (c.received + c.reported_dropped + c.skipped) as i64;
        println!(
            "tail_soak: {secs} s at {rate} lines/s: produced {produced}, received {} ({:.0} lines/s), \
             reported dropped {}, skipped {}, reconnects {}, lost silently {lost}, \
             pane holds {} (evicted {}), peak RSS {} MiB",
            c.received,
            c.received as f64 / elapsed,
            c.reported_dropped,
            c.skipped,
            c.reconnects,
            pane.buffer.len(),
            pane.buffer.evicted(),
            peak_rss / 1024
        );
        if lost != 0 {
            eprintln!("tail_soak: FAIL: {lost} lines lost silently");
            std::process::exit(1);
        }
    });
}
