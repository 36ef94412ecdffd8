//! PVE task-log lines: finding the progress percentage never panics and is within 0-100.
#![no_main]

use homelab_fuzz::domain::task_log::percent_in;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for line in text.lines() {
        if let Some(p) = percent_in(line) {
            assert!(p <= 100, "{line:?} -> {p}");
        }
    }
});
