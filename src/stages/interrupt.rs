//! SIGTERM and SIGHUP during `homelab bootstrap --yes`: the run is journalled as interrupted at
//! once (so the journal says why even if a SIGKILL follows), then cancelled at its next safe
//! point like Ctrl-C. A second signal ends the process right away.

use super::engine::{Journal, JournalEntry, JournalKind, StageId};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Exit status after a second termination signal (128 + SIGTERM).
const FORCED_EXIT: i32 = 143;

/// Watch for SIGTERM/SIGHUP while `id` runs; the task ends with the runtime.
pub fn record_on_terminate(id: StageId, journal: Journal, cancel: CancellationToken) {
    let (Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = hup.recv() => "SIGHUP",
        };
        let entry = JournalEntry::new(id, None, JournalKind::RunInterrupted)
            .detail(&format!("{name} received; stopping at the next safe point"));
        if let Err(e) = journal.record(&entry) {
            eprintln!("homelab: {e}");
        }
        eprintln!("{name}: stopping after the current step's safe point ({name} again to force)");
        cancel.cancel();
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        std::process::exit(FORCED_EXIT);
    });
}
