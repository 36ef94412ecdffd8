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
//! The simulator and its producer run in a child process (this binary again, with
//! `HOMELAB_SOAK_ROLE=sim`), so the RSS measured is the tail's and the pane's alone.
//!
//! Not a timed test: run it on purpose.
//!
//! ```sh
//! cargo bench --bench tail_soak                                   # 5,000 lines/s for 10 minutes
//! HOMELAB_SOAK_SECS=30 HOMELAB_SOAK_RATE=2000 cargo bench --bench tail_soak   # a short run
//! ```

use homelab::backends::endpoint::{Auth, Timeouts};
use homelab::backends::loki::{LokiClient, TailEvent, TailRequest};
use homelab::screens::console::logs::LogsPane;
use homelab::sim::loki::{Generator, LokiSim, LokiSimOptions};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
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
    // Only `cargo bench` (which passes `--bench`) runs it: `cargo test --all-targets` runs bench
    // binaries without it, and a 10-minute soak is not a test. A filter that is not ours skips.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench")
        || args.iter().any(|a| !a.starts_with('-') && a != "tail_soak")
    {
        println!("tail_soak: skipped (run it with `cargo bench --bench tail_soak`)");
        return;
    }
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    if std::env::var("HOMELAB_SOAK_ROLE").as_deref() == Ok("sim") {
        rt.block_on(sim_role(env_u64("HOMELAB_SOAK_RATE", 5000) as u32));
    } else {
        rt.block_on(tail_role(
            env_u64("HOMELAB_SOAK_SECS", 600),
            env_u64("HOMELAB_SOAK_RATE", 5000) as u32,
        ));
    }
}

/// The child: a quiet Loki simulator plus a producer pushing generator lines at `rate`.
/// Prints `url <URL>`; on `stop` (stdin) stops producing, prints `produced <N>`, keeps serving
/// until stdin closes.
async fn sim_role(rate: u32) {
    let opts = LokiSimOptions {
        rate: 0,
        history_secs: 0,
        capacity: 200_000,
        ..Default::default()
    };
    let sim = LokiSim::start("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .expect("Loki simulator");
    println!("url {}", sim.url());
    let store = sim.store().clone();
    let mut producer = None;
    let (cmd_tx, mut cmd_rx) = mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if cmd_tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    while let Some(cmd) = cmd_rx.recv().await {
        match cmd.as_str() {
            "start" => {
                let store = store.clone();
                producer = Some(tokio::spawn(async move {
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
                }));
            }
            "stop" => {
                if let Some(p) = producer.take() {
                    p.abort();
                    let _ = p.await;
                }
                println!("produced {}", store.pushed());
            }
            _ => {}
        }
    }
    sim.stop().await;
}

async fn tail_role(secs: u64, rate: u32) {
    let mut child = Command::new(std::env::current_exe().expect("own path"))
        .arg("--bench")
        .env("HOMELAB_SOAK_ROLE", "sim")
        .env("HOMELAB_SOAK_RATE", rate.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the simulator process");
    let mut to_sim = child.stdin.take().expect("stdin");
    let mut from_sim = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let url = from_sim
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("url ").map(str::to_owned))
        .expect("the simulator's URL");
    let client = LokiClient::new(&url, Auth::None, Timeouts::default()).unwrap();
    let mut req = TailRequest::new(QUERY);
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
    writeln!(to_sim, "start").expect("simulator");
    let start = Instant::now();
    let mut peak_rss = rss_kib();
    let mut last_report = Instant::now();
    let end = start + Duration::from_secs(secs);
    while Instant::now() < end {
        if let Ok(Some(ev)) = tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
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
    writeln!(to_sim, "stop").expect("simulator");
    let produced: u64 = from_sim
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.strip_prefix("produced ")?.parse().ok())
        .expect("the produced count");
    while c.received + c.reported_dropped + c.skipped < produced {
        match tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            Ok(Some(ev)) => count(ev, &mut pane, &mut c),
            _ => break,
        }
    }
    tail.abort();
    drop(to_sim);
    let _ = child.wait();
    let elapsed = start.elapsed().as_secs_f64();
    let lost = produced as i64 - (c.received + c.reported_dropped + c.skipped) as i64;
    println!(
        "tail_soak: {secs} s at {rate} lines/s: produced {produced}, received {} ({:.0} lines/s), \
         reported dropped {}, skipped {}, reconnects {}, lost silently {lost}, \
         pane holds {} (evicted {}), peak RSS {} MiB (the tail's process; the simulator runs apart)",
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
}
