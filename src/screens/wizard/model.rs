//! What the wizard shows about one stage, built only from engine data (plan, checks, events), so
//! every stage gets the same views: the plan per subject, the preflight list, live progress per
//! subject, the task log, the outcome.

use crate::stages::engine::*;
use std::collections::VecDeque;

/// Latest progress of a step: (done, total, unit).
pub type Progress = (u64, Option<u64>, Unit);

/// Lines of log kept per stage (older lines drop off).
pub const LOG_CAP: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub enum StepStatus {
    Pending,
    Running,
    Done(Outcome),
    Failed(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub step: Step,
    pub status: StepStatus,
    /// Latest progress (done, total, unit).
    pub progress: Option<Progress>,
}

/// Where the stage is.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Nothing known yet.
    Idle,
    /// Preflight and plan are being computed.
    Reviewing,
    /// Preflight and plan are known.
    Reviewed,
    Running,
    Failed(StageError),
    Done(RunSummary),
}

/// What the journal says about a stage's last run.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum History {
    /// Not read yet, or the journal could not be read: nothing is shown.
    #[default]
    Unknown,
    /// The journal has no run of this stage.
    Never,
    Last(LastRun),
}

/// One log line as shown: time, step, text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: jiff::Timestamp,
    pub step: Option<String>,
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageModel {
    pub id: StageId,
    pub phase: Phase,
    pub checks: Vec<Check>,
    pub plan: Option<Plan>,
    /// Why the plan could not be made.
    pub plan_error: Option<StageError>,
    pub steps: Vec<StepRow>,
    pub log: VecDeque<LogLine>,
    /// The step that failed last (retry / skip act on it).
    pub failed_step: Option<String>,
    /// The observed end state after a finished run (`Stage::verify`).
    pub verified: Vec<Check>,
    /// The last run as journalled (read when the wizard opens; runs in this session update it).
    pub history: History,
    /// When this session's run started (its `Started` event).
    run_started: Option<jiff::Timestamp>,
}

/// A per-subject digest of the plan or the run (one row per VM, "image", "template").
#[derive(Debug, Clone, PartialEq)]
pub struct SubjectRow {
    pub subject: String,
    /// The strongest intent among the subject's steps (drift > create > change > verify > wait).
    pub intent: Intent,
    pub note: Option<String>,
    pub done: usize,
    pub total: usize,
    /// The step running now (title) and its progress.
    pub current: Option<(String, Option<Progress>)>,
    pub failed: Option<String>,
}

fn rank(i: Intent) -> u8 {
    match i {
        Intent::Drift => 4,
        Intent::Create => 3,
        Intent::Change => 2,
        Intent::Verify => 1,
        Intent::Wait => 0,
    }
}

impl StageModel {
    pub fn new(id: StageId) -> Self {
        StageModel {
            id,
            phase: Phase::Idle,
            checks: Vec::new(),
            plan: None,
            plan_error: None,
            steps: Vec::new(),
            log: VecDeque::new(),
            failed_step: None,
            verified: Vec::new(),
            history: History::Unknown,
            run_started: None,
        }
    }

    /// The last run as the journal now has it, after this session's run ended. Only while the
    /// history is shown (the journal was read).
    fn ran(&mut self, at: jiff::Timestamp, outcome: RunOutcome, detail: String) {
        let Some(started) = self.run_started.take() else {
            // Failed before the engine started: nothing was journalled.
            return;
        };
        if self.history == History::Unknown {
            return;
        }
        self.history = History::Last(LastRun {
            outcome,
            started,
            ended: at,
            failed_step: self.failed_step.clone(),
            detail: Some(detail),
        });
    }

    pub fn reviewed(&mut self, checks: Vec<Check>, plan: Result<Plan, StageError>) {
        self.checks = checks;
        match plan {
            Ok(p) => {
                self.steps = p
                    .steps
                    .iter()
                    .map(|s| StepRow {
                        step: s.clone(),
                        status: StepStatus::Pending,
                        progress: None,
                    })
                    .collect();
                self.plan = Some(p);
                self.plan_error = None;
            }
            Err(e) => {
                self.plan = None;
                self.steps.clear();
                self.plan_error = Some(e);
            }
        }
        self.phase = Phase::Reviewed;
    }

    pub fn preflight_ok(&self) -> bool {
        preflight_ok(&self.checks) && self.plan.is_some()
    }

    pub fn push_log(&mut self, at: jiff::Timestamp, step: Option<String>, text: String) {
        if self.log.len() == LOG_CAP {
            self.log.pop_front();
        }
        self.log.push_back(LogLine { at, step, text });
    }

    fn row(&mut self, step: &str) -> Option<&mut StepRow> {
        self.steps.iter_mut().find(|r| r.step.id == step)
    }

    /// Fold one engine event into the model.
    pub fn apply(&mut self, ev: &StageEvent) {
        match &ev.kind {
            EventKind::Started { .. } => {
                self.phase = Phase::Running;
                self.run_started = Some(ev.at);
                self.failed_step = None;
                self.verified.clear();
                for r in &mut self.steps {
                    r.status = StepStatus::Pending;
                    r.progress = None;
                }
            }
            EventKind::StepStarted { step, .. } => {
                if let Some(r) = self.row(step) {
                    r.status = StepStatus::Running;
                }
            }
            EventKind::Progress {
                step,
                done,
                total,
                unit,
            } => {
                if let Some(r) = self.row(step) {
                    r.progress = Some((*done, *total, *unit));
                }
            }
            // A probe's evidence reads as words in the log (the platform view tabulates it).
            EventKind::Log { step, line } => {
                let line = crate::stages::probe::Evidence::parse(line)
                    .map_or_else(|| line.clone(), |e| e.human());
                self.push_log(ev.at, step.clone(), line)
            }
            EventKind::StepDone { step, outcome } => {
                if let Some(r) = self.row(step) {
                    r.status = StepStatus::Done(*outcome);
                }
            }
            EventKind::StepFailed { step, error } => {
                self.failed_step = Some(step.clone());
                if let Some(r) = self.row(step) {
                    r.status = StepStatus::Failed(error.message.clone());
                }
                let text = match &error.hint {
                    Some(h) => format!("FAILED: {} (try: {h})", error.message),
                    None => format!("FAILED: {}", error.message),
                };
                self.push_log(ev.at, Some(step.clone()), text);
            }
            EventKind::Finished { summary } => {
                self.phase = Phase::Done(*summary);
                let detail = format!(
                    "{} changed, {} held, {} skipped, {} drifted",
                    summary.changed, summary.held, summary.skipped, summary.drifted
                );
                self.ran(ev.at, RunOutcome::Finished, detail);
            }
            EventKind::Failed { error } => {
                self.phase = Phase::Failed(error.clone());
                let outcome = if error.cancelled {
                    RunOutcome::Cancelled
                } else {
                    RunOutcome::Failed
                };
                self.ran(ev.at, outcome, error.message.clone());
            }
        }
    }

    /// Plan/run digest per subject, in plan order.
    pub fn subjects(&self) -> Vec<SubjectRow> {
        let mut out: Vec<SubjectRow> = Vec::new();
        for r in &self.steps {
            let idx = match out.iter().position(|s| s.subject == r.step.subject) {
                Some(i) => i,
                None => {
                    out.push(SubjectRow {
                        subject: r.step.subject.clone(),
                        intent: Intent::Wait,
                        note: None,
                        done: 0,
                        total: 0,
                        current: None,
                        failed: None,
                    });
                    out.len() - 1
                }
            };
            let s = &mut out[idx];
            s.total += 1;
            if rank(r.step.intent) > rank(s.intent) {
                s.intent = r.step.intent;
            }
            if r.step.intent == Intent::Drift && s.note.is_none() {
                s.note = r.step.note.clone();
            }
            match &r.status {
                StepStatus::Done(_) => s.done += 1,
                StepStatus::Running => s.current = Some((r.step.title.clone(), r.progress)),
                StepStatus::Failed(m) => s.failed = Some(m.clone()),
                StepStatus::Pending => {}
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: EventKind) -> StageEvent {
        StageEvent {
            at: jiff::Timestamp::from_second(0).unwrap(),
            stage: StageId::Proxmox,
            kind,
        }
    }

    #[test]
    fn events_fold_into_subjects() {
        let mut m = StageModel::new(StageId::Proxmox);
        m.history = History::Never;
        let mut plan = Plan::new(StageId::Proxmox);
        plan.steps
            .push(Step::new("vm/a/clone", "a", Intent::Create, "clone a"));
        plan.steps
            .push(Step::new("vm/a/config", "a", Intent::Verify, "config a"));
        plan.steps.push(
            Step::new("vm/b/config", "b", Intent::Drift, "config b")
                .with_note("cores: 4 (definition: 2)"),
        );
        m.reviewed(vec![], Ok(plan));
        let subjects = m.subjects();
        assert_eq!(subjects[0].intent, Intent::Create);
        assert_eq!(
            subjects[1].note.as_deref(),
            Some("cores: 4 (definition: 2)")
        );

        m.apply(&ev(EventKind::Started { steps: 3 }));
        m.apply(&ev(EventKind::StepStarted {
            step: "vm/a/clone".into(),
            subject: "a".into(),
            title: "clone a".into(),
        }));
        m.apply(&ev(EventKind::Progress {
            step: "vm/a/clone".into(),
            done: 40,
            total: Some(100),
            unit: Unit::Percent,
        }));
        let a = &m.subjects()[0];
        assert_eq!(
            a.current,
            Some(("clone a".into(), Some((40, Some(100), Unit::Percent))))
        );
        m.apply(&ev(EventKind::StepFailed {
            step: "vm/a/clone".into(),
            error: StageError::new("boom").with_hint("h"),
        }));
        assert_eq!(m.failed_step.as_deref(), Some("vm/a/clone"));
        assert_eq!(m.log.back().unwrap().text, "FAILED: boom (try: h)");
        m.apply(&ev(EventKind::Failed {
            error: StageError::new("boom"),
        }));
        assert!(matches!(m.phase, Phase::Failed(_)));
        // The list's history follows the session's run, as the journal does.
        match &m.history {
            History::Last(r) => {
                assert_eq!(r.outcome, RunOutcome::Failed);
                assert_eq!(r.failed_step.as_deref(), Some("vm/a/clone"));
                assert_eq!(r.detail.as_deref(), Some("boom"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn history_follows_finished_and_cancelled_runs_but_not_unjournalled_failures() {
        let mut m = StageModel::new(StageId::Proxmox);
        // Without the journal's history, none is made up.
        m.apply(&ev(EventKind::Started { steps: 1 }));
        m.apply(&ev(EventKind::Finished {
            summary: RunSummary::default(),
        }));
        assert_eq!(m.history, History::Unknown);
        m.history = History::Never;
        // A build failure before the engine started is not in the journal either.
        m.apply(&ev(EventKind::Failed {
            error: StageError::new("the stage could not be built"),
        }));
        assert_eq!(m.history, History::Never);
        m.apply(&ev(EventKind::Started { steps: 1 }));
        m.apply(&ev(EventKind::Failed {
            error: StageError::cancelled(),
        }));
        assert!(
            matches!(&m.history, History::Last(r) if r.outcome == RunOutcome::Cancelled),
            "{:?}",
            m.history
        );
        m.apply(&ev(EventKind::Started { steps: 1 }));
        m.apply(&ev(EventKind::Finished {
            summary: RunSummary {
                changed: 1,
                ..Default::default()
            },
        }));
        match &m.history {
            History::Last(r) => {
                assert!(r.finished());
                assert_eq!(r.failed_step, None);
                assert_eq!(
                    r.detail.as_deref(),
                    Some("1 changed, 0 held, 0 skipped, 0 drifted")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_log_is_capped() {
        let mut m = StageModel::new(StageId::Proxmox);
        for i in 0..LOG_CAP + 5 {
            m.push_log(
                jiff::Timestamp::from_second(0).unwrap(),
                None,
                i.to_string(),
            );
        }
        assert_eq!(m.log.len(), LOG_CAP);
        assert_eq!(m.log.front().unwrap().text, "5");
    }
}
