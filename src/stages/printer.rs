//! Plain-text rendering of plans, checks and events: what `homelab bootstrap --plan` and
//! `homelab bootstrap --yes` print. One line per event, each with a UTC timestamp, so the output
//! can be piped into a file or CI log.

use super::engine::{Check, CheckStatus, EventKind, Outcome, Plan, StageEvent, Unit};
use crate::domain::printable::sanitize;
use std::fmt::Write;

/// One timestamped log line for an event.
pub fn line(ev: &StageEvent) -> String {
    let ts = ev.at.strftime("%Y-%m-%dT%H:%M:%SZ");
    let stage = ev.stage.as_str();
    let body = match &ev.kind {
        EventKind::Started { steps } => format!("stage started ({steps} steps)"),
        EventKind::StepStarted { step, title, .. } => format!("[{step}] {title}"),
        EventKind::Progress {
            step,
            done,
            total,
            unit,
        } => format!("[{step}] {}", progress(*done, *total, *unit)),
        EventKind::Log {
            step: Some(step),
            line,
        } => match super::probe::Evidence::parse(line) {
            Some(e) => format!("[{step}] {}", e.human()),
            None => format!("[{step}] | {line}"),
        },
        EventKind::Log { step: None, line } => line.clone(),
        EventKind::StepDone { step, outcome } => {
            let what = match outcome {
                Outcome::Changed => "done",
                Outcome::Held => "ok (already in place)",
                Outcome::Skipped => "skipped by operator",
                Outcome::Drift => {
                    "DRIFT left as is (see the log line above; run with --reconcile to change it)"
                }
            };
            format!("[{step}] {what}")
        }
        EventKind::StepFailed { step, error } => match &error.hint {
            Some(h) => format!("[{step}] FAILED: {} (try: {h})", error.message),
            None => format!("[{step}] FAILED: {}", error.message),
        },
        EventKind::Finished { summary } => format!(
            "stage finished: {} changed, {} already in place, {} skipped, {} drifted",
            summary.changed, summary.held, summary.skipped, summary.drifted
        ),
        EventKind::Failed { error } => format!("stage FAILED: {}", error.message),
    };
    // Titles, log lines (PVE task logs, SSH output) and errors come from peers and files.
    format!("{ts} {stage:<8} {}", sanitize(&body))
}

/// "12.0 MiB / 600.0 MiB (2%)", "3/5", "40%".
pub fn progress(done: u64, total: Option<u64>, unit: Unit) -> String {
    match (unit, total) {
        (Unit::Bytes, Some(t)) if t > 0 => {
            // Peer numbers: in u128 the product cannot overflow.
            let pct = u128::from(done) * 100 / u128::from(t);
            format!("{} / {} ({pct}%)", bytes(done), bytes(t))
        }
        (Unit::Bytes, _) => bytes(done),
        (Unit::Items, Some(t)) => format!("{done}/{t}"),
        (Unit::Items, None) => done.to_string(),
        (Unit::Percent, _) => format!("{done}%"),
    }
}

pub use crate::domain::units::bytes;

/// The plan as reviewable text: one block per step with its calls.
pub fn plan(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Plan for stage {} ({} steps, {} write):",
        plan.stage,
        plan.steps.len(),
        plan.writes()
    );
    for note in &plan.notes {
        let _ = writeln!(out, "  note: {}", sanitize(note));
    }
    for step in &plan.steps {
        let _ = writeln!(
            out,
            "  {:<7} {:<28} {}",
            step.intent.as_str(),
            sanitize(&step.id),
            sanitize(&step.title)
        );
        if let Some(n) = &step.note {
            let _ = writeln!(out, "          note: {}", sanitize(n));
        }
        for call in &step.calls {
            let _ = writeln!(out, "          {}", sanitize(call));
        }
    }
    out
}

/// Preflight / verify results, one per line, with fix hints.
pub fn checks(checks: &[Check]) -> String {
    let mut out = String::new();
    for c in checks {
        let mark = match c.status {
            CheckStatus::Pass => "PASS",
            CheckStatus::Warn => "WARN",
            CheckStatus::Fail => "FAIL",
        };
        let _ = writeln!(
            out,
            "  {mark} {}: {}",
            sanitize(&c.title),
            sanitize(&c.detail)
        );
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "       fix: {}", sanitize(fix));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::engine::{StageError, StageId};

    #[test]
    fn lines_carry_timestamp_stage_step_and_hint() {
        let ev = StageEvent {
            at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            stage: StageId::Proxmox,
            kind: EventKind::StepFailed {
                step: "vm/a/clone".into(),
                error: StageError::new("403 Permission check failed").with_hint("grant VM.Clone"),
            },
        };
        assert_eq!(
            line(&ev),
            "2027-01-15T08:00:00Z proxmox  [vm/a/clone] FAILED: 403 Permission check failed (try: grant VM.Clone)"
        );
    }

    #[test]
    fn progress_formats() {
        assert_eq!(
            progress(512 * 1024 * 1024, Some(1024 * 1024 * 1024), Unit::Bytes),
            "512.0 MiB / 1.0 GiB (50%)"
        );
        assert_eq!(progress(3, Some(5), Unit::Items), "3/5");
        assert_eq!(bytes(12), "12 B");
    }

    /// What a hostile peer or file can put in a line: CSI (clear screen), OSC (window title,
    /// clipboard), C1 CSI, a bare reset.
    const HOSTILE: &str = "x\x1b[2J\x1b]0;owned\x07\x1b]52;c;QUFB\x1b\\\u{9b}31m\x1bcy";

    fn assert_neutral(out: &str) {
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "control characters reach the terminal: {out:?}"
        );
        assert!(out.contains("xy"), "{out:?}");
    }

    #[test]
    fn task_logs_and_ssh_output_are_sanitized() {
        // A PVE task-log line and a line of SSH output both arrive as Log events.
        for step in [Some("vm/a/clone".to_string()), None] {
            let ev = StageEvent {
                at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
                stage: StageId::Proxmox,
                kind: EventKind::Log {
                    step,
                    line: HOSTILE.into(),
                },
            };
            assert_neutral(&line(&ev));
        }
        let ev = StageEvent {
            at: jiff::Timestamp::from_second(1_800_000_000).unwrap(),
            stage: StageId::K3s,
            kind: EventKind::StepFailed {
                step: "k3s/install".into(),
                error: StageError::new(HOSTILE).with_hint(HOSTILE),
            },
        };
        assert_neutral(&line(&ev));
    }

    #[test]
    fn plans_and_checks_are_sanitized() {
        let mut p = Plan::new(StageId::Proxmox);
        p.notes.push(HOSTILE.into());
        p.steps.push(
            crate::stages::engine::Step::new(
                HOSTILE,
                "vm",
                crate::stages::engine::Intent::Create,
                HOSTILE,
            )
            .call(HOSTILE)
            .with_note(HOSTILE),
        );
        assert_neutral(&plan(&p));
        assert_neutral(&checks(&[
            Check::fail("c", HOSTILE, HOSTILE, HOSTILE),
            Check::pass("p", HOSTILE, HOSTILE),
        ]));
    }

    #[test]
    fn huge_progress_numbers_do_not_overflow() {
        assert!(progress(u64::MAX, Some(u64::MAX), Unit::Bytes).ends_with("(100%)"));
    }
}
