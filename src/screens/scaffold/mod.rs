//! Scaffold: the guided form of `homelab scaffold app` (docs/scaffolding.md). The form
//! ([`form`]) validates as you type; Ctrl-S makes the plan in a task (the Secret is encrypted
//! there) and shows every new file and the diff; Ctrl-S again asks, then a task writes, runs
//! `homelab check` on the result and commits "apps: add <name>" (`scaffold::apply`, the same
//! code as the command line). After the commit: `p` pushes it to the branch Flux follows
//! (`backends::git_push`, the Flux stage's path), `w` follows the app until Ready
//! (`scaffold::watch`); once it is Ready the reachability doctor walks the app's hostname
//! (`screens::doctor_walk`, drawn as the console draws it), `d` walks it again. All I/O runs in
//! tasks that answer with [`Event`]s.

pub mod event;
pub mod form;
mod view;

use super::{Handled, Owner, Screen};
use crate::app::{Session, UpdateCx, ViewCx};
use crate::domain::doctor::{Exposure, Walk};
use crate::msg::Action;
use crate::overlays::confirm::ConfirmState;
use crate::runtime::effects::{Task, TaskKey};
use crate::scaffold::apply::{self, Applied};
use crate::scaffold::{AppRequest, Plan, TreeFacts, commit_message, plan, validate};
use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use std::path::PathBuf;
use std::time::Duration;

pub use event::{ApplyError, Event, PlanError, Planned, WatchEvent};
pub use form::{Form, Outcome, Slot};

/// The confirm overlay's tag for "write and commit".
const WRITE_TAG: &str = "scaffold-write";
/// How long `w` follows the app before giving up.
pub const WATCH_TIMEOUT: Duration = Duration::from_secs(15 * 60);

fn key(what: &str) -> TaskKey {
    TaskKey::new(format!("scaffold-{what}"))
}

/// The tree's facts the form validates against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Facts {
    Loading,
    Loaded(Box<TreeFacts>),
    Failed(String),
}

/// The preview shows the new files or the diff of the edited ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Files,
    Diff,
}

/// A push or a watch, as far as it got.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Progress {
    #[default]
    Idle,
    Running,
    Done(String),
    Failed(String),
}

/// After the write.
#[derive(Debug)]
pub struct Done {
    pub req: AppRequest,
    pub folder: String,
    pub applied: Applied,
    pub push: Progress,
    pub watch: Progress,
    /// The watch's steps, latest state of each, in the order they first reported.
    pub steps: Vec<crate::scaffold::watch::Progress>,
    /// The reachability doctor on the app's hostname, run once the app is Ready.
    pub doctor: Option<Walk>,
}

impl Done {
    pub fn commit(&self) -> Option<String> {
        match &self.applied {
            Applied::Committed { id, .. } => Some(id.to_string()),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub enum Phase {
    Form,
    /// The plan is being made (the Secret encrypted, the values file read).
    Planning,
    Preview(Box<Planned>),
    /// Writing, checking, committing.
    Applying(Box<Planned>),
    /// The write did not start: why (nothing was written). The plan is kept to try again.
    Refused {
        planned: Box<Planned>,
        why: String,
        /// The tree's own `homelab check` report when that is the reason.
        report: Option<String>,
    },
    Done(Box<Done>),
}

pub struct ScaffoldState {
    pub root: PathBuf,
    /// Where the cluster is (the operator's kubeconfig, context named after the cluster).
    pub kubeconfig: PathBuf,
    pub facts: Facts,
    pub form: Form,
    pub phase: Phase,
    pub tab: Tab,
    /// First line shown of the preview or the result.
    pub scroll: usize,
}

impl super::Start for ScaffoldState {
    fn start(session: &Session, _params: &super::StartParams) -> Self {
        ScaffoldState {
            root: session.repo_root.clone(),
            kubeconfig: crate::stages::k3s::K3sOptions::from_process().kubeconfig,
            facts: Facts::Loading,
            form: Form::default(),
            phase: Phase::Form,
            tab: Tab::Files,
            scroll: 0,
        }
    }
}

impl ScaffoldState {
    fn load_facts(&mut self, cx: &mut UpdateCx) {
        self.facts = Facts::Loading;
        let root = self.root.clone();
        cx.spawn(Task::blocking(key("facts"), "read the tree", move || {
            let facts = crate::repo::tree::Tree::load(&root)
                .map_err(|e| e.to_string())
                .and_then(|t| TreeFacts::read(&t));
            Event::Facts(facts.map(Box::new))
        }));
    }

    fn facts(&self) -> Option<&TreeFacts> {
        match &self.facts {
            Facts::Loaded(f) => Some(f),
            _ => None,
        }
    }

    /// The form is valid: make the plan in a task (the values file read and the Secret
    /// encrypted there, off the render path).
    fn preview(&mut self, cx: &mut UpdateCx) {
        let Some(facts) = self.facts().cloned() else {
            return;
        };
        let root = self.root.clone();
        let input = self.form.input(String::new());
        let values = self.form.values_file();
        self.phase = Phase::Planning;
        cx.spawn(Task::blocking(key("plan"), "scaffold plan", move || {
            Event::Planned(make_plan(&root, &facts, input, values).map(Box::new))
        }));
    }

    fn ask_write(&mut self, planned: &Planned, cx: &mut UpdateCx) {
        let n = planned.plan.files.len();
        cx.confirm(ConfirmState::new(
            WRITE_TAG,
            format!("Commit \"{}\"", commit_message(&planned.req.name)),
            format!("Write these {n} files, run homelab check, commit?"),
        ));
    }

    fn write(&mut self, cx: &mut UpdateCx) {
        let phase = std::mem::replace(&mut self.phase, Phase::Form);
        let planned = match phase {
            Phase::Preview(p) | Phase::Refused { planned: p, .. } => p,
            other => {
                self.phase = other;
                return;
            }
        };
        let root = self.root.clone();
        let plan = planned.plan.clone();
        self.phase = Phase::Applying(planned);
        cx.spawn(Task::blocking(key("apply"), "scaffold write", move || {
            Event::Applied(write_check_commit(&root, &plan).map(Box::new))
        }));
    }

    fn push(&mut self, cx: &mut UpdateCx) {
        let Phase::Done(done) = &mut self.phase else {
            return;
        };
        if done.commit().is_none() || done.push == Progress::Running {
            return;
        }
        let cfg = match cx.session.cluster.config.as_ref() {
            Ok(c) => c.flux.clone(),
            Err(_) => {
                cx.error(format!(
                    "Cannot push: {} does not load, so the repository Flux follows is unknown; fix it (homelab check) or push yourself",
                    cx.session.cluster.display
                ));
                return;
            }
        };
        done.push = Progress::Running;
        let root = self.root.clone();
        cx.spawn(Task::future(key("push"), "git push", async move {
            Event::Pushed(push_commit(root, cfg.repo, cfg.branch).await)
        }));
    }

    fn watch(&mut self, cx: &mut UpdateCx) {
        let Phase::Done(done) = &mut self.phase else {
            return;
        };
        let Some(commit) = done.commit() else {
            return;
        };
        let context = cx.session.cluster.name.clone();
        let kubeconfig = self.kubeconfig.clone();
        let target = crate::scaffold::watch::Target {
            name: done.req.name.clone(),
            kustomization: format!("apps-{}", done.req.category.as_str()),
            chart: matches!(
                done.req.source,
                crate::scaffold::request::Source::Helm { .. }
            ),
            commit: Some(commit),
        };
        done.watch = Progress::Running;
        done.steps.clear();
        done.doctor = None;
        cx.cancel(key("doctor"));
        cx.spawn(Task::stream(
            key("watch"),
            format!("follow {} until Ready", target.name),
            move |sink| async move {
                let r = follow(&kubeconfig, &context, &target, &sink).await;
                let ev = match r {
                    Ok(()) => WatchEvent::Ready,
                    Err(e) => WatchEvent::Failed(e),
                };
                sink.send(Event::Watch(ev)).await;
            },
        ));
    }

    /// Walk the app's hostname with the reachability doctor (after Ready; again on `d`): the
    /// links its exposure puts on the way, in a task that reports each one.
    fn doctor(&mut self, cx: &mut UpdateCx) {
        let Phase::Done(done) = &mut self.phase else {
            return;
        };
        if !matches!(done.watch, Progress::Done(_)) {
            cx.status("the doctor walks the route once the app is Ready (w follows it)");
            return;
        }
        let exposure = match done.req.exposure {
            crate::scaffold::request::Exposure::Public => Exposure::Public,
            crate::scaffold::request::Exposure::Internal => Exposure::Internal,
        };
        let host = done.req.hostname.clone();
        done.doctor = Some(Walk::new(host.clone(), exposure));
        // The walk is what is new: the result shows from it (all of it when it fits).
        self.scroll = view::doctor_line(self).unwrap_or(0);
        let target = super::doctor_walk::Target {
            repo_root: self.root.clone(),
            definition: cx.session.cluster.path.clone(),
            cluster: cx.session.cluster.name.clone(),
            kubeconfig: self.kubeconfig.clone(),
        };
        cx.spawn(super::doctor_walk::task(
            key("doctor"),
            target,
            host,
            exposure,
            |e| Event::Doctor(e).into(),
        ));
    }

    /// Lines the preview or result scrolls over (for PageDown and G).
    fn lines(&self) -> usize {
        view::body_lines(self).len()
    }

    fn scroll(&mut self, action: &Action) {
        let max = self.lines().saturating_sub(1);
        self.scroll = match action {
            Action::Up => self.scroll.saturating_sub(1),
            Action::Down => (self.scroll + 1).min(max),
            Action::PageUp => self.scroll.saturating_sub(20),
            Action::PageDown => (self.scroll + 20).min(max),
            Action::Top => 0,
            Action::Bottom => max,
            _ => self.scroll,
        };
    }

    /// Back to the form: after a commit, an empty one for the next app.
    fn edit(&mut self, cx: &mut UpdateCx) {
        if let Phase::Done(d) = &self.phase
            && d.commit().is_some()
        {
            self.form = Form::default();
            cx.cancel(key("watch"));
            cx.cancel(key("doctor"));
        }
        self.phase = Phase::Form;
        self.scroll = 0;
    }
}

/// The plan task: read the values file, validate with it, plan (encrypting the Secret).
pub fn make_plan(
    root: &std::path::Path,
    facts: &TreeFacts,
    mut input: crate::scaffold::AppInput,
    values: Option<String>,
) -> Result<Planned, PlanError> {
    if let Some(v) = values {
        input.values = crate::scaffold::values_file::read(root, std::path::Path::new(&v))
            .map_err(PlanError::Values)?;
    }
    let req = validate(&input, facts).map_err(|errs| {
        match errs
            .iter()
            .find(|e| e.field == crate::scaffold::Field::Values)
        {
            Some(e) => PlanError::Values(e.message.clone()),
            None => PlanError::Fields(errs),
        }
    })?;
    let mut req = req;
    let plan: Plan = plan::plan(root, facts, &req).map_err(PlanError::Other)?;
    // The plan holds the Secret encrypted; the plaintext values go now (wiped as dropped),
    // keeping only the keys.
    for e in &mut req.secrets {
        e.value = crate::scaffold::request::SecretValue::new("");
    }
    Ok(Planned { req, plan })
}

/// The write task: the checks before writing, then write, check and commit.
pub fn write_check_commit(root: &std::path::Path, plan: &Plan) -> Result<Applied, ApplyError> {
    let tree = crate::repo::tree::Tree::load(root)
        .map_err(|e| ApplyError::NotReady(apply::NotReady::Refused(e.to_string())))?;
    apply::ready(root, &tree, plan, true).map_err(ApplyError::NotReady)?;
    apply::apply(root, plan, true).map_err(ApplyError::Write)
}

/// Push over the operator's SSH setup (ssh_config, agent, keys, known_hosts).
async fn push_commit(root: PathBuf, url: String, branch: String) -> Result<String, String> {
    use crate::backends::git_push::SshAccess;
    use crate::backends::ssh::{NonInteractive, SshEnv};
    let env = SshEnv::from_process().map_err(|e| e.to_string())?;
    let access = SshAccess {
        env: std::sync::Arc::new(env),
        // A host that is not in known_hosts yet is refused: connect once with ssh to trust it.
        prompter: std::sync::Arc::new(NonInteractive::default()),
        identity_file: None,
    };
    crate::scaffold::push::push(&root, &url, &branch, access).await
}

/// The watch task's body: a client for the cluster, then `scaffold::watch::follow`, each
/// change sent on as it comes.
async fn follow(
    kubeconfig: &std::path::Path,
    context: &str,
    target: &crate::scaffold::watch::Target,
    sink: &crate::runtime::effects::EventSink,
) -> Result<(), String> {
    let client = crate::backends::kube::client::client_for(kubeconfig, context).await?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut on = |p| {
        let _ = tx.send(p);
    };
    let run = crate::scaffold::watch::follow(&client, target, WATCH_TIMEOUT, &mut on);
    tokio::pin!(run);
    loop {
        tokio::select! {
            Some(p) = rx.recv() => {
                if !sink.send(Event::Watch(WatchEvent::Progress(p))).await {
                    return Ok(());
                }
            }
            r = &mut run => {
                while let Ok(p) = rx.try_recv() {
                    sink.send(Event::Watch(WatchEvent::Progress(p))).await;
                }
                return r;
            }
        }
    }
}

impl Screen for ScaffoldState {
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        view::render(self, frame, area, cx);
    }

    fn on_enter(&mut self, cx: &mut UpdateCx) {
        if !matches!(self.facts, Facts::Loaded(_)) {
            self.load_facts(cx);
        }
    }

    fn text_input_active(&self) -> bool {
        matches!(self.phase, Phase::Form) && self.facts().is_some()
    }

    fn on_text_key(&mut self, key: KeyEvent, cx: &mut UpdateCx) -> Handled {
        let Facts::Loaded(facts) = &self.facts else {
            return Handled::No;
        };
        match self.form.on_key(key, cx.keymap, facts) {
            Outcome::Ignored => return Handled::No,
            Outcome::Stay => {}
            Outcome::Cancel => cx.back(),
            Outcome::Invalid => {
                let n = self.form.errors().len();
                cx.status(format!(
                    "{n} field{} to fix before the preview",
                    if n == 1 { "" } else { "s" }
                ));
            }
            Outcome::Submit => self.preview(cx),
        }
        Handled::Yes
    }

    fn on_paste(&mut self, text: &str, _cx: &mut UpdateCx) {
        if let (Phase::Form, Facts::Loaded(f)) = (&self.phase, &self.facts) {
            self.form.paste(text, f);
        }
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        match (&self.phase, action) {
            (Phase::Form, Action::Refresh) => self.load_facts(cx),
            (Phase::Preview(_), Action::NextPane | Action::PrevPane) => {
                self.tab = match self.tab {
                    Tab::Files => Tab::Diff,
                    Tab::Diff => Tab::Files,
                };
                self.scroll = 0;
            }
            (Phase::Preview(p), Action::Save)
            | (Phase::Refused { planned: p, .. }, Action::Save) => {
                let p = Planned {
                    req: p.req.clone(),
                    plan: p.plan.clone(),
                };
                self.ask_write(&p, cx);
            }
            (
                Phase::Preview(_) | Phase::Refused { .. } | Phase::Done(_),
                Action::Up
                | Action::Down
                | Action::PageUp
                | Action::PageDown
                | Action::Top
                | Action::Bottom,
            ) => self.scroll(action),
            (Phase::Preview(_) | Phase::Refused { .. } | Phase::Done(_), Action::Edit) => {
                self.edit(cx)
            }
            (Phase::Done(_), Action::Run) => self.push(cx),
            (Phase::Done(_), Action::Follow) => self.watch(cx),
            (Phase::Done(_), Action::Retry) => self.doctor(cx),
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn on_confirmed(&mut self, tag: &str, cx: &mut UpdateCx) {
        if tag == WRITE_TAG {
            self.write(cx);
        }
    }

    fn on_leave(&mut self, cx: &mut UpdateCx) {
        cx.cancel(key("watch"));
        if let Phase::Done(d) = &mut self.phase
            && d.watch == Progress::Running
        {
            d.watch = Progress::Failed("stopped: the screen was left (w follows again)".into());
        }
    }

    fn busy(&self) -> Option<String> {
        match &self.phase {
            Phase::Applying(p) => Some(format!("writing and committing {}", p.req.name)),
            Phase::Done(d) if d.push == Progress::Running => Some("pushing the commit".into()),
            _ => None,
        }
    }
}

impl Owner<Event> for ScaffoldState {
    fn on_event(&mut self, event: Event, cx: &mut UpdateCx) {
        match event {
            Event::Facts(Ok(f)) => {
                self.form.revalidate(&f);
                self.facts = Facts::Loaded(f);
            }
            Event::Facts(Err(e)) => self.facts = Facts::Failed(e),
            Event::Planned(r) => {
                if !matches!(self.phase, Phase::Planning) {
                    return;
                }
                match r {
                    Ok(p) => {
                        self.phase = Phase::Preview(p);
                        self.tab = Tab::Files;
                        self.scroll = 0;
                    }
                    Err(e) => {
                        self.phase = Phase::Form;
                        match e {
                            PlanError::Values(m) => self.form.set_values_error(m),
                            PlanError::Fields(errs) => cx.error(format!(
                                "The request is not valid: {}",
                                errs.iter()
                                    .map(|e| e.to_string())
                                    .collect::<Vec<_>>()
                                    .join("; ")
                            )),
                            PlanError::Other(m) => cx.error(format!("No preview: {m}")),
                        }
                    }
                }
            }
            Event::Applied(r) => {
                let phase = std::mem::replace(&mut self.phase, Phase::Form);
                let Phase::Applying(planned) = phase else {
                    self.phase = phase;
                    return;
                };
                self.scroll = 0;
                match r {
                    Ok(applied) => {
                        match &*applied {
                            Applied::Committed { id, .. } => {
                                // Committed: the form (and the secret values in it) goes.
                                self.form = Form::default();
                                let s = id.to_string();
                                cx.notify(format!(
                                    "Committed {} \"{}\"; p pushes it, w follows the app",
                                    &s[..s.len().min(12)],
                                    commit_message(&planned.req.name)
                                ));
                            }
                            Applied::CheckFails { .. } => cx.error(format!(
                                "The result fails homelab check: nothing was committed; fix the files or {}",
                                apply::restore_hint(&planned.plan)
                            )),
                            Applied::CommitFailed { error, .. } => cx.error(format!(
                                "Written and checked, but not committed: {error}; commit the files yourself"
                            )),
                            Applied::Written { .. } => {}
                        }
                        self.phase = Phase::Done(Box::new(Done {
                            folder: planned.plan.folder.clone(),
                            req: planned.req,
                            applied: *applied,
                            push: Progress::Idle,
                            watch: Progress::Idle,
                            steps: Vec::new(),
                            doctor: None,
                        }));
                        // The tree changed: the next form validates against it.
                        self.load_facts(cx);
                    }
                    Err(ApplyError::NotReady(n)) => {
                        let report = match &n {
                            apply::NotReady::TreeFails(r) => Some(crate::repo::output::human(r)),
                            apply::NotReady::Refused(_) => None,
                        };
                        self.phase = Phase::Refused {
                            planned,
                            why: n.summary(),
                            report,
                        };
                    }
                    Err(ApplyError::Write(m)) => {
                        cx.error(format!("Writing failed: {m}"));
                        self.phase = Phase::Refused {
                            planned,
                            why: format!("Writing failed: {m}"),
                            report: None,
                        };
                    }
                }
            }
            Event::Pushed(r) => {
                let Phase::Done(d) = &mut self.phase else {
                    return;
                };
                match r {
                    Ok(m) => {
                        cx.notify(format!("{m}; following the app until Ready"));
                        d.push = Progress::Done(m);
                        // Pushed: Flux will fetch it, so follow the app at once.
                        self.watch(cx);
                    }
                    Err(e) => {
                        cx.error(format!("Push failed: {e}"));
                        d.push = Progress::Failed(e);
                    }
                }
            }
            Event::Watch(w) => {
                let Phase::Done(d) = &mut self.phase else {
                    return;
                };
                match w {
                    WatchEvent::Progress(p) => {
                        match d.steps.iter_mut().find(|s| s.what == p.what) {
                            Some(s) => *s = p,
                            None => d.steps.push(p),
                        }
                    }
                    WatchEvent::Ready => {
                        d.watch = Progress::Done(format!("{} is Ready", d.req.name));
                        cx.notify(format!(
                            "{} is Ready; the reachability doctor walks {}",
                            d.req.name, d.req.hostname
                        ));
                        self.doctor(cx);
                    }
                    WatchEvent::Failed(e) => {
                        cx.warn(format!("Stopped following {}: {e}", d.req.name));
                        d.watch = Progress::Failed(e);
                    }
                }
            }
            Event::Doctor(e) => {
                if let Phase::Done(d) = &mut self.phase
                    && let Some(w) = &mut d.doctor
                {
                    w.apply(e);
                }
            }
        }
    }
}
