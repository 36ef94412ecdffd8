//! The scaffold screen's backend events (`BackendEvent::Scaffold`), delivered to it only.

use crate::scaffold::apply::{Applied, NotReady};
use crate::scaffold::watch::Progress;
use crate::scaffold::{AppRequest, FieldError, Plan, TreeFacts};

#[derive(Debug)]
pub enum Event {
    /// The tree's facts (zones, taken names), read when the screen opens.
    Facts(Result<Box<TreeFacts>, String>),
    /// The preview task: the request with the values file read, and its plan.
    Planned(Result<Box<Planned>, PlanError>),
    /// Write, `homelab check`, commit.
    Applied(Result<Box<Applied>, ApplyError>),
    /// The push of the commit: the branch and remote, or why not.
    Pushed(Result<String, String>),
    /// Following the app until Ready.
    Watch(WatchEvent),
    /// The reachability doctor on the app's hostname, after Ready.
    Doctor(crate::domain::doctor::WalkEvent),
}

#[derive(Debug)]
pub struct Planned {
    pub req: AppRequest,
    pub plan: Plan,
}

#[derive(Debug)]
pub enum PlanError {
    /// The values file (read in the task) is unreadable or not one YAML mapping.
    Values(String),
    /// The request changed meaning with the values read: every problem.
    Fields(Vec<FieldError>),
    /// The plan could not be made (no .sops.yaml, the folder exists, ...).
    Other(String),
}

#[derive(Debug)]
pub enum ApplyError {
    NotReady(NotReady),
    /// A write failed (the message lists what was already written).
    Write(String),
}

#[derive(Debug)]
pub enum WatchEvent {
    Progress(Progress),
    /// Everything is Ready.
    Ready,
    /// Could not connect, or gave up: why.
    Failed(String),
}
