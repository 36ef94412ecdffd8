//! The crash test's kill switch: with `HOMELAB_TEST_KILL_AT_RECORD=N`, the process sends
//! itself SIGKILL right after the N-th journal record it wrote (1-based) is on disk. The
//! crash-anywhere test (tests/demo/crash.rs) runs the bootstrap once per journal point with
//! N = 1, 2, ... and checks that a rerun reaches the same end state. SIGKILL, not an exit:
//! nothing of the process runs after it (no destructors, no flush), as with a power cut.
//! Unset (always, outside that test), this is one relaxed load per record.

use std::sync::atomic::{AtomicU64, Ordering};

pub const ENV: &str = "HOMELAB_TEST_KILL_AT_RECORD";

static WRITTEN: AtomicU64 = AtomicU64::new(0);
static TARGET: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();

/// Called after every journal record reached the disk.
pub fn recorded() {
    let target = TARGET.get_or_init(|| std::env::var(ENV).ok().and_then(|v| v.parse().ok()));
    let Some(n) = *target else { return };
    let written = WRITTEN.fetch_add(1, Ordering::SeqCst).saturating_add(1);
    if written == n {
        // SAFETY: kill(2) on our own pid with a constant signal; no memory is touched.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
