//! Loki's JSON (tail frames, query_range, vector sums, string lists) never panics, and a tail
//! cursor fed the frames (with reconnects between them) never panics or admits a repeat.
#![no_main]

use homelab_fuzz::backends::loki::cursor::TailCursor;
use homelab_fuzz::backends::loki::wire;
use libfuzzer_sys::fuzz_target;

fn clock() -> i64 {
    1_800_000_000_000_000_000
}

fuzz_target!(|data: &[u8]| {
    let _ = wire::parse_query_range(data);
    let _ = wire::parse_vector_sum(data);
    let _ = wire::parse_string_list(data);
    // Frames separated by NUL; a reconnect before each.
    let mut cursor = TailCursor::with_clock(clock);
    for chunk in data.split(|b| *b == 0) {
        let Ok(frame) = wire::parse_tail_frame(chunk) else {
            continue;
        };
        cursor.begin_resume();
        let again = frame.lines.clone();
        let _ = cursor.admit_all(frame.lines);
        // A resumed backfill repeats what is at or after the resume point: nothing is new.
        cursor.begin_resume();
        let from = cursor.resume_start().unwrap_or(i64::MIN);
        let again: Vec<_> = again.into_iter().filter(|l| l.ts_ns >= from).collect();
        if again.len() < 10_000 {
            assert!(cursor.admit_all(again).is_empty(), "a repeat was admitted");
        }
        if let Some(start) = cursor.resume_start() {
            cursor.skip_to(start.saturating_add(1));
        }
    }
});
