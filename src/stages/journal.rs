//! The bootstrap journal: an append-only JSON-lines file per cluster in the XDG state dir
//! (`$XDG_STATE_HOME/homelab/<cluster>/journal.jsonl`, override the directory with
//! `HOMELAB_STATE_DIR`), never in git. The engine records run starts/ends, each step's outcome
//! and step notes here; [`last_runs`] summarises it per stage for the wizard's resume. See
//! [`super::engine`] ("Journal") for how stages use it; its items are re-exported there.

use super::engine::{StageId, StepId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalKind {
    RunStarted,
    StepStarted,
    Changed,
    Held,
    Skipped,
    Drift,
    Failed,
    Note,
    RunFinished,
    RunFailed,
    RunCancelled,
    /// SIGTERM (or SIGHUP) reached the run: recorded at once, before the run stops at its next
    /// safe point, so the journal says why even if the process is killed outright next.
    RunInterrupted,
}

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Line format version ([`super::journal_file::SCHEMA`]).
    #[serde(default = "super::journal_file::v1")]
    pub v: u32,
    pub at: jiff::Timestamp,
    /// Id of the process run that wrote the entry (`<unix seconds>-<pid>`).
    #[serde(default)]
    pub run: String,
    pub stage: StageId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<StepId>,
    pub kind: JournalKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
}

impl JournalEntry {
    pub fn new(stage: StageId, step: Option<&str>, kind: JournalKind) -> Self {
        JournalEntry {
            v: super::journal_file::SCHEMA,
            at: jiff::Timestamp::now(),
            run: String::new(),
            stage,
            step: step.map(str::to_owned),
            kind,
            detail: None,
            data: BTreeMap::new(),
        }
    }
    pub fn detail(mut self, d: &str) -> Self {
        self.detail = Some(d.to_owned());
        self
    }
    pub fn data(mut self, data: BTreeMap<String, String>) -> Self {
        self.data = data;
        self
    }
}

/// Append-only JSON-lines journal of one cluster. Cheap to clone (shared handle).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<JournalInner>,
}

struct JournalInner {
    path: PathBuf,
    run: String,
    lock: Mutex<()>,
}

impl fmt::Debug for Journal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Journal {
    /// The homelab state directory: `HOMELAB_STATE_DIR`, else `$XDG_STATE_HOME/homelab`
    /// (`~/.local/state/homelab`).
    pub fn state_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("HOMELAB_STATE_DIR").filter(|d| !d.is_empty()) {
            return Some(PathBuf::from(dir));
        }
        let dirs = directories::ProjectDirs::from("", "", "homelab")?;
        dirs.state_dir().map(Path::to_path_buf).or_else(|| {
            directories::BaseDirs::new().map(|b| b.home_dir().join(".local/state/homelab"))
        })
    }

    /// Where the journal of `cluster` lives (`<state dir>/<cluster>/journal.jsonl`). Nothing is
    /// created.
    pub fn path_for(cluster: &str) -> std::io::Result<PathBuf> {
        let dir = Self::state_dir().ok_or_else(|| {
            std::io::Error::other("no state directory: set HOMELAB_STATE_DIR or HOME")
        })?;
        Ok(dir.join(cluster).join("journal.jsonl"))
    }

    /// The journal of `cluster` in the state directory (created if needed).
    pub fn open(cluster: &str) -> std::io::Result<Journal> {
        let journal = Self::at(Self::path_for(cluster)?)?;
        journal.compact_if_large()?;
        Ok(journal)
    }

    /// Keep the file bounded: past [`super::journal_file::COMPACT_ABOVE`] bytes, rewrite it
    /// (atomically) with only the latest [`super::journal_file::KEEP_RUNS`] runs of each stage.
    pub fn compact_if_large(&self) -> std::io::Result<()> {
        use super::journal_file::{COMPACT_ABOVE, KEEP_RUNS, keep_lines, named};
        let path = &self.inner.path;
        match std::fs::metadata(path) {
            Ok(m) if m.len() > COMPACT_ABOVE => {}
            _ => return Ok(()),
        }
        let _guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        let bytes = std::fs::read(path).map_err(|e| named(path, e))?;
        let lines: Vec<(&[u8], Option<JournalEntry>)> = bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| (l, serde_json::from_slice::<JournalEntry>(l).ok()))
            .collect();
        let keep = keep_lines(
            &lines,
            |(_, e)| e.as_ref().map(|e| e.stage.as_str().to_owned()),
            |(_, e)| {
                e.as_ref()
                    .is_some_and(|e| e.kind == JournalKind::RunStarted)
            },
            KEEP_RUNS,
        );
        let mut out = Vec::with_capacity(bytes.len());
        for ((line, _), keep) in lines.iter().zip(keep) {
            if keep {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        crate::secrets::atomic::write_atomic(path, &out).map_err(|e| named(path, e))
    }

    /// A journal at an explicit path (tests, tools).
    pub fn at(path: impl Into<PathBuf>) -> std::io::Result<Journal> {
        let path = path.into();
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        Ok(Self::reader(path))
    }

    /// The journal at `path` for reading ([`Journal::entries`], [`Journal::last_runs`]): unlike
    /// [`Journal::at`] nothing is created, and a missing file reads as empty.
    pub fn reader(path: impl Into<PathBuf>) -> Journal {
        let run = format!(
            "{}-{}",
            jiff::Timestamp::now().as_second(),
            std::process::id()
        );
        Journal {
            inner: Arc::new(JournalInner {
                path: path.into(),
                run,
                lock: Mutex::new(()),
            }),
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Append one entry (one line, flushed and synced). The entry's `run` is filled in.
    pub fn record(&self, entry: &JournalEntry) -> std::io::Result<()> {
        let mut entry = entry.clone();
        entry.run = self.inner.run.clone();
        let mut line = serde_json::to_string(&entry).map_err(std::io::Error::other)?;
        line.push('\n');
        let _guard = self.inner.lock.lock().unwrap_or_else(|p| p.into_inner());
        super::journal_file::append(&self.inner.path, line.as_bytes())
            .map_err(|e| super::journal_file::named(&self.inner.path, e))?;
        super::crash_point::recorded();
        Ok(())
    }

    /// All entries, oldest first. A torn or foreign line (crash mid-write, even one cut inside a
    /// multi-byte character) is skipped.
    pub fn entries(&self) -> std::io::Result<Vec<JournalEntry>> {
        let f = match std::fs::File::open(&self.inner.path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut out = Vec::new();
        for line in std::io::BufReader::new(f).split(b'\n') {
            if let Ok(entry) = serde_json::from_slice::<JournalEntry>(&line?)
                && entry.v <= super::journal_file::SCHEMA
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Each stage's last run as the journal tells it (see [`last_runs`]).
    pub fn last_runs(&self) -> std::io::Result<StageHistory> {
        Ok(last_runs(&self.entries()?))
    }

    /// Notes recorded for `stage`/`step`, merged over all runs (latest value wins).
    pub fn notes(&self, stage: StageId, step: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for e in self.entries().unwrap_or_default() {
            if e.stage == stage && e.kind == JournalKind::Note && e.step.as_deref() == Some(step) {
                out.extend(e.data);
            }
        }
        out
    }

    /// The last outcome-like entry recorded for `stage`/`step`.
    pub fn last_outcome(&self, stage: StageId, step: &str) -> Option<JournalKind> {
        self.entries()
            .unwrap_or_default()
            .into_iter()
            .rev()
            .find(|e| {
                e.stage == stage && e.step.as_deref() == Some(step) && e.kind != JournalKind::Note
            })
            .map(|e| e.kind)
    }
}

/// How a stage's last run ended, as far as the journal knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    /// `run_finished`: every step done, held, skipped or drifted.
    Finished,
    /// `run_failed`: a step (or the run itself) failed.
    Failed,
    /// `run_cancelled`: the operator stopped it.
    Cancelled,
    /// Started, but no end was recorded: the process was killed or the machine went down
    /// mid-run (or the run is still going in another process).
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Finished => "finished",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// The last run of one stage, summarised from the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    pub outcome: RunOutcome,
    /// When the run started (its first entry when the `run_started` line was lost).
    pub started: jiff::Timestamp,
    /// Its last entry: the end for finished / failed / cancelled runs.
    pub ended: jiff::Timestamp,
    /// The first step that failed in this run.
    pub failed_step: Option<StepId>,
    /// The end's detail: the summary of a finished run, the error of a failed or cancelled
    /// one (the failing step's message when the end line was lost).
    pub detail: Option<String>,
}

impl LastRun {
    pub fn finished(&self) -> bool {
        self.outcome == RunOutcome::Finished
    }
}

/// Each stage's last run; a stage that never ran has no entry.
pub type StageHistory = BTreeMap<StageId, LastRun>;

/// Summarise `entries` (oldest first, as [`Journal::entries`] returns them) into each stage's
/// last run. Runs of one stage follow each other: a `run_started` opens a run, `run_finished` /
/// `run_failed` / `run_cancelled` closes it, step entries in between belong to it. A run that
/// was never closed (killed process; or a new `run_started` came first) is
/// [`RunOutcome::Interrupted`]. Entries whose `run_started` line was lost open a run of their own,
/// so a torn line costs at most the start time.
pub fn last_runs(entries: &[JournalEntry]) -> StageHistory {
    let mut open: BTreeMap<StageId, LastRun> = BTreeMap::new();
    let mut interrupted: BTreeSet<StageId> = BTreeSet::new();
    let mut last = StageHistory::new();
    for e in entries {
        let fresh = || LastRun {
            outcome: RunOutcome::Interrupted,
            started: e.at,
            ended: e.at,
            failed_step: None,
            detail: None,
        };
        if e.kind == JournalKind::RunStarted {
            interrupted.remove(&e.stage);
            if let Some(unfinished) = open.remove(&e.stage) {
                last.insert(e.stage, unfinished);
            }
            open.insert(e.stage, fresh());
            continue;
        }
        let run = open.entry(e.stage).or_insert_with(fresh);
        run.ended = e.at;
        let end = match e.kind {
            JournalKind::Failed => {
                if run.failed_step.is_none() {
                    run.failed_step = e.step.clone();
                    run.detail = e.detail.clone();
                }
                None
            }
            JournalKind::RunFinished => Some(RunOutcome::Finished),
            JournalKind::RunFailed => Some(RunOutcome::Failed),
            // A signal stopped it (`run_interrupted`): it stays interrupted even when it then
            // reached its safe point and recorded `run_cancelled`.
            JournalKind::RunCancelled if interrupted.contains(&e.stage) => {
                Some(RunOutcome::Interrupted)
            }
            JournalKind::RunCancelled => Some(RunOutcome::Cancelled),
            JournalKind::RunInterrupted => {
                interrupted.insert(e.stage);
                run.detail = e.detail.clone();
                None
            }
            _ => None,
        };
        if let Some(outcome) = end
            && let Some(mut run) = open.remove(&e.stage)
        {
            run.outcome = outcome;
            if e.detail.is_some() && !interrupted.contains(&e.stage) {
                run.detail = e.detail.clone();
            }
            interrupted.remove(&e.stage);
            last.insert(e.stage, run);
        }
    }
    last.extend(open);
    last
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_skips_a_torn_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("x/j.jsonl")).unwrap();
        j.record(&JournalEntry::new(
            StageId::K3s,
            Some("s"),
            JournalKind::Changed,
        ))
        .unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap();
        std::io::Write::write_all(&mut f, b"{\"at\":\"2026-").unwrap();
        assert_eq!(j.entries().unwrap().len(), 1);
    }

    fn entry(secs: i64, stage: StageId, step: Option<&str>, kind: JournalKind) -> JournalEntry {
        let mut e = JournalEntry::new(stage, step, kind);
        e.at = jiff::Timestamp::from_second(secs).unwrap();
        e
    }

    fn ts(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(secs).unwrap()
    }

    #[test]
    fn last_runs_keep_the_latest_run_of_each_stage() {
        use JournalKind::*;
        let (s, p, k) = (StageId::Secrets, StageId::Proxmox, StageId::K3s);
        let entries = vec![
            // secrets: one finished run.
            entry(10, s, None, RunStarted),
            entry(11, s, Some("identity"), Held),
            entry(12, s, None, RunFinished).detail("0 changed, 1 held, 0 skipped, 0 drifted"),
            // proxmox: failed, then finished on the retry.
            entry(20, p, None, RunStarted),
            entry(21, p, Some("vm/a/clone"), Failed).detail("403"),
            entry(22, p, None, RunFailed).detail("403"),
            entry(30, p, None, RunStarted),
            entry(31, p, Some("vm/a/clone"), Changed),
            entry(32, p, None, RunFinished).detail("1 changed, 0 held, 0 skipped, 0 drifted"),
            // k3s: finished, then a later run failed (first failing step wins).
            entry(40, k, None, RunStarted),
            entry(41, k, None, RunFinished),
            entry(50, k, None, RunStarted),
            entry(51, k, Some("k3s-agent-1/join"), StepStarted),
            entry(52, k, Some("k3s-agent-1/join"), Note),
            entry(53, k, Some("k3s-agent-1/join"), Failed).detail("timeout"),
            entry(54, k, Some("k3s-agent-2/join"), Failed).detail("refused"),
            entry(55, k, None, RunFailed).detail("2 agents failed"),
        ];
        let h = last_runs(&entries);
        assert_eq!(h.len(), 3, "flux and later never ran: {h:?}");
        let secrets = &h[&s];
        assert!(secrets.finished());
        assert_eq!((secrets.started, secrets.ended), (ts(10), ts(12)));
        let proxmox = &h[&p];
        assert_eq!(proxmox.outcome, RunOutcome::Finished);
        assert_eq!(proxmox.started, ts(30));
        assert_eq!(proxmox.failed_step, None, "the failure was an earlier run");
        let k3s = &h[&k];
        assert_eq!(k3s.outcome, RunOutcome::Failed);
        assert_eq!(k3s.failed_step.as_deref(), Some("k3s-agent-1/join"));
        assert_eq!(k3s.detail.as_deref(), Some("2 agents failed"));
        assert_eq!((k3s.started, k3s.ended), (ts(50), ts(55)));
    }

    #[test]
    fn last_runs_tell_cancelled_and_interrupted_runs() {
        use JournalKind::*;
        let (p, k, s) = (StageId::Proxmox, StageId::K3s, StageId::Secrets);
        let entries = vec![
            entry(1, p, None, RunStarted),
            entry(2, p, None, RunCancelled).detail("cancelled by the operator"),
            // k3s: killed mid-step, then started again and killed again.
            entry(3, k, None, RunStarted),
            entry(4, k, Some("k3s-server-1/install"), StepStarted),
            entry(5, k, None, RunStarted),
            entry(6, k, Some("k3s-server-1/install"), Changed),
            // secrets: a failure with no step (the run's own error).
            entry(7, s, None, RunStarted),
            entry(8, s, None, RunFailed).detail("journal: disk full"),
        ];
        let h = last_runs(&entries);
        assert_eq!(h[&p].outcome, RunOutcome::Cancelled);
        assert_eq!(h[&p].detail.as_deref(), Some("cancelled by the operator"));
        assert_eq!(h[&k].outcome, RunOutcome::Interrupted);
        assert_eq!((h[&k].started, h[&k].ended), (ts(5), ts(6)));
        assert_eq!(h[&s].outcome, RunOutcome::Failed);
        assert_eq!(h[&s].failed_step, None);
        assert_eq!(h[&s].detail.as_deref(), Some("journal: disk full"));
        assert!(last_runs(&[]).is_empty());
    }

    #[test]
    fn last_runs_survive_torn_lines() {
        use JournalKind::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = |e: JournalEntry| serde_json::to_string(&e).unwrap() + "\n";
        let mut text = String::new();
        // A finished proxmox run.
        text += &line(entry(1, StageId::Proxmox, None, RunStarted));
        text += &line(entry(2, StageId::Proxmox, None, RunFinished));
        // A k3s run whose start line was torn by a crash: the next append lands on the same
        // line, so both are lost; its steps and end still count.
        text += "{\"at\":\"2026-11-2";
        text += &line(entry(3, StageId::K3s, None, RunStarted));
        text += &line(entry(4, StageId::K3s, Some("k3s-server-1/install"), Failed).detail("x"));
        text += &line(entry(5, StageId::K3s, None, RunFailed).detail("x"));
        // A foreign line, then a secrets run cut in the middle of a multi-byte character.
        text += "not json\n";
        text += &line(entry(6, StageId::Secrets, None, RunStarted));
        let mut bytes = text.into_bytes();
        let torn = line(entry(7, StageId::Secrets, None, RunFinished).detail("é"));
        let cut = torn.find('é').unwrap() + 1;
        bytes.extend_from_slice(&torn.as_bytes()[..cut]);
        std::fs::write(&path, bytes).unwrap();

        let h = Journal::reader(&path).last_runs().unwrap();
        assert!(h[&StageId::Proxmox].finished());
        let k3s = &h[&StageId::K3s];
        assert_eq!(k3s.outcome, RunOutcome::Failed);
        assert_eq!(k3s.failed_step.as_deref(), Some("k3s-server-1/install"));
        assert_eq!(k3s.started, ts(4), "the start line was lost");
        assert_eq!(
            h[&StageId::Secrets].outcome,
            RunOutcome::Interrupted,
            "its end line is torn"
        );
    }

    #[test]
    fn reading_a_missing_journal_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prox-n100/journal.jsonl");
        assert!(Journal::reader(&path).last_runs().unwrap().is_empty());
        assert!(!dir.path().join("prox-n100").exists());
        // A journal that is a directory cannot be read: the error says so.
        std::fs::create_dir_all(&path).unwrap();
        assert!(Journal::reader(&path).last_runs().is_err());
    }
}
