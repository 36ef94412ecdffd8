//! Console performance (docs/performance.md, "Console"):
//! - ingest: Loki tail JSON into the logs pane, next to a raw serde_json parse of the same bytes;
//! - frame: the whole console drawn at 200x60 with 100k lines buffered;
//! - rss: resident memory for 100k buffered lines (printed once, read from /proc/self/status).
//!
//! Run: `cargo bench --bench console` (or one group: `cargo bench --bench console -- frame`).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use homelab::backends::loki::wire::parse_tail_frame;
use homelab::domain::logs::LogLine;
use homelab::screens::console::logs::LogsPane;
use homelab::screens::console::state::{ConsoleState, EndpointsShown, PaneId};
use homelab::screens::console::view::{Cx, render_console};
use homelab::sim::loki::Generator;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;

const BASE_NS: i64 = 1_795_456_800_000_000_000;

fn lines(n: usize) -> Vec<LogLine> {
    let mut g = Generator::new(3);
    (0..n as i64)
        .map(|i| {
            let ts = BASE_NS + i * 1_000_000;
            let (labels, text) = g.line(ts);
            LogLine::new(ts, labels, text)
        })
        .collect()
}

/// A tail frame as Loki sends it: lines grouped by stream.
fn tail_frame(n: usize) -> Vec<u8> {
    let mut streams: Vec<(
        std::sync::Arc<homelab::domain::logs::Labels>,
        Vec<[String; 2]>,
    )> = Vec::new();
    for l in lines(n) {
        match streams.iter_mut().find(|(s, _)| *s == l.labels) {
            Some((_, v)) => v.push([l.ts_ns.to_string(), l.line]),
            None => streams.push((l.labels.clone(), vec![[l.ts_ns.to_string(), l.line]])),
        }
    }
    let json: Vec<serde_json::Value> = streams
        .into_iter()
        .map(|(s, v)| serde_json::json!({"stream": &*s, "values": v}))
        .collect();
    serde_json::to_vec(&serde_json::json!({"streams": json, "dropped_entries": []})).unwrap()
}

fn ingest(c: &mut Criterion) {
    let n = 10_000;
    let frame = tail_frame(n);
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Elements(n as u64));
    g.bench_with_input(
        BenchmarkId::new("serde_json_ignored_any", n),
        &frame,
        |b, f| b.iter(|| black_box(serde_json::from_slice::<serde::de::IgnoredAny>(f).unwrap())),
    );
    g.bench_with_input(BenchmarkId::new("serde_json_value", n), &frame, |b, f| {
        b.iter(|| black_box(serde_json::from_slice::<serde_json::Value>(f).unwrap()))
    });
    g.bench_with_input(
        BenchmarkId::new("parse_and_ingest_into_pane", n),
        &frame,
        |b, f| {
            let mut pane = LogsPane::default();
            pane.run_query(r#"{namespace=~".+"}"#, 0);
            b.iter(|| {
                let parsed = parse_tail_frame(f).unwrap();
                pane.ingest(parsed.lines);
                black_box(pane.buffer.len())
            })
        },
    );
    g.finish();
}

fn console_with(n: usize) -> ConsoleState {
    let mut st = ConsoleState::new(
        "bench",
        EndpointsShown {
            loki: Some("http://loki".into()),
            prometheus: None,
            alertmanager: None,
        },
    );
    st.tz = jiff::tz::TimeZone::UTC;
    st.focus = PaneId::Logs;
    st.logs.run_query(r#"{namespace=~".+"}"#, 0);
    st.logs.ingest(lines(n));
    st
}

fn frame(c: &mut Criterion) {
    let theme = homelab::theme::ThemeCatalog::builtin()
        .load("homelab-dark")
        .0;
    let mut g = c.benchmark_group("frame");
    for (name, search, wrap) in [("plain", false, false), ("search_wrap", true, true)] {
        let mut st = console_with(100_000);
        if search {
            st.logs.set_search("error|WRN");
            st.logs.follow();
        }
        st.logs.wrap = wrap;
        let mut term = Terminal::new(TestBackend::new(200, 60)).unwrap();
        let keymap = homelab::keymap::Keymap::builtin();
        g.bench_function(BenchmarkId::new("console_200x60_100k_lines", name), |b| {
            b.iter(|| {
                term.draw(|f| {
                    render_console(
                        &st,
                        f,
                        f.area(),
                        &Cx {
                            theme: &theme,
                            keymap: &keymap,
                            now_s: 0,
                        },
                    )
                })
                .unwrap();
            })
        });
    }
    g.finish();
}

fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn rss(c: &mut Criterion) {
    // Measured once (not timed): what 100k buffered lines cost in resident memory.
    let before = rss_kib().unwrap_or(0);
    let st = console_with(100_000);
    let after = rss_kib().unwrap_or(0);
    eprintln!(
        "rss: {} lines buffered; process RSS {} MiB (+{} MiB for the buffer; approx heap {} MiB)",
        st.logs.buffer.len(),
        after / 1024,
        after.saturating_sub(before) / 1024,
        st.logs.buffer.approx_bytes() / (1024 * 1024)
    );
    let mut g = c.benchmark_group("rss");
    g.sample_size(10);
    g.bench_function("fill_100k_lines", |b| {
        b.iter(|| black_box(console_with(100_000).logs.buffer.len()))
    });
    g.finish();
}

// rss first: its measurement must not include what the other groups allocated.
criterion_group!(benches, rss, ingest, frame);
criterion_main!(benches);
