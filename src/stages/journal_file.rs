//! The journal's file handling, apart from what the entries mean: the schema version every line
//! carries, appending so that a line torn by a crash cannot swallow the next entry, errors that
//! name the file, and compaction so the file stays bounded.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Version of the journal line format. Lines without `v` are version 1 (written before the field
/// existed); lines with a higher version come from a newer homelab and are skipped on read.
pub const SCHEMA: u32 = 1;

/// Compact when the file grows past this size...
pub const COMPACT_ABOVE: u64 = 1024 * 1024;
/// ...keeping this many of the latest runs per stage (and everything after them).
pub const KEEP_RUNS: usize = 20;

/// `serde(default)` for lines written before the version field existed.
pub fn v1() -> u32 {
    1
}

/// Name the journal file in an I/O error (`--yes` prints it; a bare "Permission denied" says
/// nothing about where).
pub fn named(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(
        e.kind(),
        format!("cannot write the journal {}: {e}", path.display()),
    )
}

/// Append one line (`line` ends with `\n`), flushed and synced. A previous writer killed in
/// mid-line left a tail without `\n`: it is ended first, so the torn line stays one unreadable
/// line and this entry stays readable.
pub fn append(path: &Path, line: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)?;
    let len = f.metadata()?.len();
    if len > 0 {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))?;
        f.read_exact(&mut last)?;
        if last[0] != b'\n' {
            f.write_all(b"\n")?;
        }
    }
    f.write_all(line)?;
    f.sync_data()
}

/// Which lines to keep so each stage keeps its latest `keep` runs: a line is dropped when it
/// belongs to a stage (`stage_of`) and comes before that stage's `keep`-th last run start
/// (`starts_run`). Lines that name no stage (torn, foreign) before the earliest kept start are
/// dropped too.
pub fn keep_lines<T>(
    lines: &[T],
    stage_of: impl Fn(&T) -> Option<String>,
    starts_run: impl Fn(&T) -> bool,
    keep: usize,
) -> Vec<bool> {
    use std::collections::BTreeMap;
    let mut starts: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        if starts_run(l)
            && let Some(s) = stage_of(l)
        {
            starts.entry(s).or_default().push(i);
        }
    }
    let cut: BTreeMap<String, usize> = starts
        .into_iter()
        .map(|(s, v)| {
            let from = v.len().saturating_sub(keep.max(1));
            (s, v[from])
        })
        .collect();
    let earliest = cut.values().copied().min().unwrap_or(0);
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| match stage_of(l) {
            Some(s) => cut.get(&s).is_none_or(|c| i >= *c),
            None => i >= earliest,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_tail_is_ended_before_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j.jsonl");
        std::fs::write(&p, b"{\"a\":1}\n{\"torn").unwrap();
        append(&p, b"{\"b\":2}\n").unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"torn\n{\"b\":2}\n");
    }

    use crate::stages::engine::{
        Journal, JournalEntry, JournalKind, RunOutcome, StageId, last_runs,
    };

    #[test]
    fn journal_lines_carry_the_schema_version_and_newer_ones_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("j.jsonl")).unwrap();
        j.record(&JournalEntry::new(
            StageId::Proxmox,
            None,
            JournalKind::RunStarted,
        ))
        .unwrap();
        let text = std::fs::read_to_string(j.path()).unwrap();
        assert!(text.starts_with("{\"v\":1,"), "{text}");
        let newer = text.replacen("{\"v\":1,", "{\"v\":2,", 1);
        std::fs::write(j.path(), format!("{text}{newer}")).unwrap();
        assert_eq!(j.entries().unwrap().len(), 1);
        // A line from before the field existed reads as version 1.
        let old = text.replacen("{\"v\":1,", "{", 1);
        std::fs::write(j.path(), old).unwrap();
        assert_eq!(j.entries().unwrap().len(), 1);
    }

    #[test]
    fn journal_entry_after_a_torn_line_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("j.jsonl")).unwrap();
        j.record(&JournalEntry::new(
            StageId::Proxmox,
            None,
            JournalKind::RunStarted,
        ))
        .unwrap();
        let mut text = std::fs::read_to_string(j.path()).unwrap();
        text.push_str("{\"v\":1,\"at\":\"2026-"); // killed mid-write
        std::fs::write(j.path(), text).unwrap();
        j.record(&JournalEntry::new(
            StageId::Proxmox,
            Some("s"),
            JournalKind::Changed,
        ))
        .unwrap();
        let kinds: Vec<JournalKind> = j.entries().unwrap().iter().map(|e| e.kind).collect();
        assert_eq!(kinds, vec![JournalKind::RunStarted, JournalKind::Changed]);
    }

    #[test]
    fn journal_an_interrupted_run_stays_interrupted_after_its_cancel() {
        let e = |kind, detail: Option<&str>| {
            let mut e = JournalEntry::new(StageId::Proxmox, None, kind);
            e.detail = detail.map(str::to_owned);
            e
        };
        let runs = last_runs(&[
            e(JournalKind::RunStarted, None),
            e(JournalKind::RunInterrupted, Some("SIGTERM received")),
            e(JournalKind::RunCancelled, Some("cancelled")),
        ]);
        let run = &runs[&StageId::Proxmox];
        assert_eq!(run.outcome, RunOutcome::Interrupted);
        assert_eq!(run.detail.as_deref(), Some("SIGTERM received"));
    }

    #[test]
    fn journal_is_compacted_to_the_latest_runs_past_its_size_bound() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::at(dir.path().join("j.jsonl")).unwrap();
        let filler = "x".repeat(2000);
        let runs = KEEP_RUNS + 10;
        for i in 0..runs {
            for stage in [StageId::Secrets, StageId::Proxmox] {
                j.record(&JournalEntry::new(stage, None, JournalKind::RunStarted))
                    .unwrap();
                for _ in 0..10 {
                    j.record(
                        &JournalEntry::new(stage, Some("s"), JournalKind::Held).detail(&filler),
                    )
                    .unwrap();
                }
                j.record(
                    &JournalEntry::new(stage, None, JournalKind::RunFinished)
                        .detail(&format!("run {i}")),
                )
                .unwrap();
            }
        }
        assert!(std::fs::metadata(j.path()).unwrap().len() > COMPACT_ABOVE);
        j.compact_if_large().unwrap();
        assert!(std::fs::metadata(j.path()).unwrap().len() <= COMPACT_ABOVE);
        let entries = j.entries().unwrap();
        for stage in [StageId::Secrets, StageId::Proxmox] {
            let starts = entries
                .iter()
                .filter(|e| e.stage == stage && e.kind == JournalKind::RunStarted)
                .count();
            assert_eq!(starts, KEEP_RUNS);
        }
        let last = j.last_runs().unwrap();
        assert_eq!(
            last[&StageId::Proxmox].detail.as_deref(),
            Some(format!("run {}", runs - 1).as_str())
        );
    }

    #[test]
    fn keeps_the_latest_runs_of_each_stage() {
        // (stage, starts a run)
        let lines = [
            (Some("a"), true),
            (Some("a"), false),
            (Some("b"), true),
            (None, false),
            (Some("a"), true),
            (Some("a"), false),
            (Some("b"), true),
        ];
        let keep = keep_lines(&lines, |l| l.0.map(str::to_owned), |l| l.1, 1);
        assert_eq!(keep, vec![false, false, false, false, true, true, true]);
    }
}
