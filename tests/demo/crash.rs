//! Crash anywhere: the headless demo bootstrap of every stage in this build is killed with
//! SIGKILL right after each journal record in turn (`HOMELAB_TEST_KILL_AT_RECORD`, see
//! src/stages/crash_point.rs), on a fresh lab each time, and then run again with nothing
//! cleaned up by hand. Every time the lab must end in the same verified state as an
//! uninterrupted run: the same VMs (no duplicates), the same Ready nodes, one kubeconfig
//! context, one env file, and Flux synced from the commit the Flux stage pushed.

use crate::bootstrap::{assert_flux_synced_the_push, end_state, expected};
use crate::harness::{HeadlessLab, assert_green, bootstrap_all, text};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

fn journal_records(lab: &HeadlessLab) -> usize {
    let path = lab
        .path("XDG_STATE_HOME")
        .join("homelab/demo/journal.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .count()
}

fn contexts(lab: &HeadlessLab) -> usize {
    let text = std::fs::read_to_string(lab.path("KUBECONFIG")).unwrap();
    let kc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    kc["contexts"].as_sequence().map_or(0, Vec::len)
}

#[test]
fn a_bootstrap_killed_at_any_journal_point_reaches_the_same_end_state_when_run_again() {
    if !crate::support::require_peer("kubectl") {
        return;
    }
    // The points: the records of one uninterrupted run.
    let points = {
        let lab = HeadlessLab::start(&["--speed", "max"]);
        let run = bootstrap_all(&lab, &[]);
        assert_green(&run);
        assert_eq!(end_state(&lab), expected());
        journal_records(&lab)
    };
    assert!(points > 20, "only {points} journal records in a whole run");
    // Two labs at a time (each kill point has its own lab and its own processes): the lab
    // process keeps about one core busy, and this machine has two.
    let next = AtomicUsize::new(1);
    let beyond = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            s.spawn(|| {
                // A failed point stops the other worker at its next point.
                let _stop = StopOnPanic(&failed);
                loop {
                    let k = next.fetch_add(1, Ordering::SeqCst);
                    if k > points || failed.load(Ordering::SeqCst) {
                        return;
                    }
                    if !kill_and_rerun(k, points) {
                        beyond.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
    });
    let beyond = beyond.into_inner();
    assert!(beyond <= 2, "{beyond} runs ended before their kill point");
    eprintln!(
        "crash-anywhere: {} kill points covered ({beyond} of the {points} counted were past the end of that run), each reached the same end state",
        points - beyond
    );
}

/// Sets its flag when dropped by a panicking thread.
struct StopOnPanic<'a>(&'a AtomicBool);

impl Drop for StopOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

/// How many kill points run at once.
const WORKERS: usize = 2;

/// Kill point `k` of `points` on a fresh lab, then the rerun and its end state. False when this
/// run had no point `k` (it ended green before it).
fn kill_and_rerun(k: usize, points: usize) -> bool {
    let lab = HeadlessLab::start(&["--speed", "max"]);
    let n = k.to_string();
    let killed = bootstrap_all(&lab, &[(homelab::stages::crash_point::ENV, &n)]);
    let written = journal_records(&lab);
    if killed.status.signal().is_none() && written < k {
        // This run wrote fewer records than the counted one (a VM's wait step found it
        // already booted: one `held` record instead of `step_started` + `changed`), so it
        // has no point k: it ran to the end, and that end must be green.
        assert_green(&killed);
        return false;
    }
    assert_eq!(
        killed.status.signal(),
        Some(libc::SIGKILL),
        "kill point {k}/{points}: the run was not killed there:\n{}",
        text(&killed)
    );
    assert_eq!(written, k, "kill point {k}: records on disk");
    let rerun = bootstrap_all(&lab, &[]);
    assert_green(&rerun);
    assert_eq!(end_state(&lab), expected(), "kill point {k}/{points}");
    assert_flux_synced_the_push(&lab);
    assert_eq!(contexts(&lab), 1, "kill point {k}: kubeconfig contexts");
    let env_files: Vec<_> = std::fs::read_dir(lab.path("HOMELAB_REPO").join("config/env"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".env"))
        .collect();
    assert_eq!(env_files.len(), 1, "kill point {k}: env files");
    true
}
