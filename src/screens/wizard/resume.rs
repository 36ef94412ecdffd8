//! Where the wizard opens: the cluster's journal is read in a task when the screen is entered
//! ([`read_history`]), each stage gets its last run, and the selection goes to the first stage
//! (bootstrap order, among the stages this build can run) whose last run did not finish
//! ([`resume_at`]). The summarising itself is the engine's ([`Journal::last_runs`]).

use super::Event;
use crate::stages::engine::{Journal, LastRun, RunOutcome, StageHistory, StageId};
use std::path::PathBuf;

/// Where to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// The first stage whose last run did not finish (failed, cancelled, interrupted, or
    /// never run).
    At(StageId),
    /// Every stage this build can run has finished: the last of them.
    AllDone(StageId),
}

impl Resume {
    pub fn stage(self) -> StageId {
        match self {
            Resume::At(id) | Resume::AllDone(id) => id,
        }
    }
}

/// Where to open given `history`, among the stages for which `available` is true. `None` when
/// no stage is available.
pub fn resume_at(history: &StageHistory, available: impl Fn(StageId) -> bool) -> Option<Resume> {
    let stages: Vec<StageId> = StageId::ALL
        .into_iter()
        .filter(|id| available(*id))
        .collect();
    match stages
        .iter()
        .find(|id| !history.get(id).is_some_and(LastRun::finished))
    {
        Some(id) => Some(Resume::At(*id)),
        None => stages.last().map(|id| Resume::AllDone(*id)),
    }
}

/// `just now`, `5m ago`, `3h ago`, `2d ago` (one unit: the stage list is narrow). A time in the
/// future (clock skew) is `just now`.
pub fn ago(at: jiff::Timestamp, now: jiff::Timestamp) -> String {
    let secs = now.as_second() - at.as_second();
    match secs {
        ..60 => "just now".into(),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// The status line after resuming: where, and why there.
pub fn status(resume: Resume, history: &StageHistory, now: jiff::Timestamp) -> String {
    let id = resume.stage();
    let title = id.title();
    if let Resume::AllDone(_) = resume {
        return format!(
            "Every stage in this build has finished; showing {title}, the last one (p reviews it again)"
        );
    }
    let Some(run) = history.get(&id) else {
        return if history.is_empty() {
            format!("Starting at {title}: the journal has no runs for this cluster yet")
        } else {
            format!("Resuming at {title}: it has never run; the stages before it have finished")
        };
    };
    let when = ago(run.ended, now);
    let why = match (run.outcome, &run.failed_step) {
        (RunOutcome::Failed, Some(step)) => format!("its last run failed {when} at {step}"),
        (RunOutcome::Failed, None) => format!("its last run failed {when}"),
        (RunOutcome::Cancelled, _) => format!("its last run was cancelled {when}"),
        (RunOutcome::Interrupted, _) => {
            format!("its last run was interrupted {when} (the journal has no end for it)")
        }
        (RunOutcome::Finished, _) => format!("it finished {when}"),
    };
    format!("Resuming at {title}: {why}")
}

/// The task body: each stage's last run from the journal at `path` (`Journal::path_for`),
/// read at `now`. Errors name the file and say that the wizard goes on without history.
pub fn read_history(path: std::io::Result<PathBuf>, now: jiff::Timestamp) -> Event {
    let result = match path {
        Err(e) => Err(format!(
            "cannot locate the bootstrap journal: {e}; the stage list shows no history"
        )),
        Ok(path) => Journal::reader(&path).last_runs().map_err(|e| {
            format!(
                "cannot read the bootstrap journal {}: {e}; the stage list shows no history \
                 (check the file and its permissions, or set HOMELAB_STATE_DIR)",
                path.display()
            )
        }),
    };
    Event::StageHistoryLoaded {
        read_at: now,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::engine::StageId::*;

    fn ts(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn run(outcome: RunOutcome, step: Option<&str>) -> LastRun {
        LastRun {
            outcome,
            started: ts(0),
            ended: ts(10),
            failed_step: step.map(str::to_owned),
            detail: None,
        }
    }

    fn history(runs: &[(StageId, RunOutcome)]) -> StageHistory {
        runs.iter().map(|(id, o)| (*id, run(*o, None))).collect()
    }

    /// The stages of this build (secrets, proxmox, k3s).
    fn built(id: StageId) -> bool {
        matches!(id, Secrets | Proxmox | K3s)
    }

    #[test]
    fn a_fresh_journal_starts_at_the_first_stage() {
        assert_eq!(
            resume_at(&StageHistory::new(), built),
            Some(Resume::At(Secrets))
        );
        assert_eq!(
            resume_at(&StageHistory::new(), |id| id == K3s),
            Some(Resume::At(K3s)),
            "only stages in this build count"
        );
        assert_eq!(resume_at(&StageHistory::new(), |_| false), None);
    }

    #[test]
    fn the_first_unfinished_stage_in_bootstrap_order_wins() {
        use RunOutcome::*;
        let h = history(&[(Secrets, Finished), (Proxmox, Failed), (K3s, Cancelled)]);
        assert_eq!(resume_at(&h, built), Some(Resume::At(Proxmox)));
        let h = history(&[(Secrets, Finished), (Proxmox, Finished)]);
        assert_eq!(resume_at(&h, built), Some(Resume::At(K3s)), "never run");
        let h = history(&[(Secrets, Finished), (Proxmox, Interrupted), (K3s, Finished)]);
        assert_eq!(resume_at(&h, built), Some(Resume::At(Proxmox)));
        let h = history(&[(Secrets, Cancelled), (Proxmox, Finished), (K3s, Finished)]);
        assert_eq!(resume_at(&h, built), Some(Resume::At(Secrets)));
    }

    #[test]
    fn when_everything_finished_the_last_available_stage_is_shown() {
        use RunOutcome::*;
        // Flux and later are not in this build; a finished flux run in the journal (another
        // build) does not matter either.
        let h = history(&[
            (Secrets, Finished),
            (Proxmox, Finished),
            (K3s, Finished),
            (Flux, Failed),
        ]);
        assert_eq!(resume_at(&h, built), Some(Resume::AllDone(K3s)));
        let s = status(Resume::AllDone(K3s), &h, ts(100));
        assert!(s.contains("Every stage in this build has finished"), "{s}");
        assert!(s.contains("k3s, the last one"), "{s}");
    }

    #[test]
    fn the_status_says_why_it_resumes_there() {
        let mut h = history(&[(Secrets, RunOutcome::Finished)]);
        h.insert(
            Proxmox,
            run(RunOutcome::Failed, Some("vm/k3s-agent-1/clone")),
        );
        assert_eq!(
            status(Resume::At(Proxmox), &h, ts(10 + 3 * 3600)),
            "Resuming at Proxmox VMs: its last run failed 3h ago at vm/k3s-agent-1/clone"
        );
        h.insert(Proxmox, run(RunOutcome::Interrupted, None));
        assert!(status(Resume::At(Proxmox), &h, ts(70)).contains("interrupted 1m ago"));
        h.insert(Proxmox, run(RunOutcome::Cancelled, None));
        assert!(status(Resume::At(Proxmox), &h, ts(10)).contains("cancelled just now"));
        h.remove(&Proxmox);
        assert!(status(Resume::At(Proxmox), &h, ts(10)).contains("never run"));
        assert!(
            status(Resume::At(Secrets), &StageHistory::new(), ts(10))
                .contains("Starting at Secrets: the journal has no runs")
        );
    }

    #[test]
    fn ages_use_one_unit() {
        let now = ts(0);
        let before = |secs: i64| ts(-secs);
        assert_eq!(ago(before(59), now), "just now");
        assert_eq!(ago(ts(30), now), "just now", "clock skew");
        assert_eq!(ago(before(60), now), "1m ago");
        assert_eq!(ago(before(3599), now), "59m ago");
        assert_eq!(ago(before(3600 * 5 + 59), now), "5h ago");
        assert_eq!(ago(before(86_400 * 2 + 7200), now), "2d ago");
    }

    #[test]
    fn reading_names_the_journal_that_cannot_be_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prox-n100/journal.jsonl");
        std::fs::create_dir_all(&path).unwrap();
        match read_history(Ok(path.clone()), ts(0)) {
            Event::StageHistoryLoaded { result: Err(e), .. } => {
                assert!(e.contains(&path.display().to_string()), "{e}");
                assert!(e.contains("shows no history"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let missing = dir.path().join("other/journal.jsonl");
        match read_history(Ok(missing), ts(5)) {
            Event::StageHistoryLoaded {
                read_at,
                result: Ok(h),
            } => {
                assert!(h.is_empty());
                assert_eq!(read_at, ts(5));
            }
            other => panic!("{other:?}"),
        }
        let no_dir = std::io::Error::other("no state directory: set HOMELAB_STATE_DIR or HOME");
        match read_history(Err(no_dir), ts(0)) {
            Event::StageHistoryLoaded { result: Err(e), .. } => {
                assert!(e.contains("set HOMELAB_STATE_DIR"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
}
