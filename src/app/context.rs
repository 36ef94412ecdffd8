//! What screens get: [`UpdateCx`] while handling input (read the session, ask for things) and
//! [`ViewCx`] while drawing (theme, keymap, session, a fixed clock).

use crate::config::LoadedCluster;
use crate::domain::repo::RepoStatus;
use crate::keymap::Keymap;
use crate::overlays::confirm::ConfirmState;
use crate::runtime::effects::{Effect, External, Task, TaskKey};
use crate::screens::ScreenId;
use crate::theme::{Health, Level, Theme};
use std::path::PathBuf;

/// The git state of the repository, as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoState {
    Loading,
    Loaded(RepoStatus),
    Failed(String),
}

/// The top bar's connection badges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Badge {
    Pve,
    Ssh,
    Kube,
    Loki,
    Prometheus,
}

impl Badge {
    pub const ALL: [Badge; 5] = [
        Badge::Pve,
        Badge::Ssh,
        Badge::Kube,
        Badge::Loki,
        Badge::Prometheus,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Badge::Pve => "PVE",
            Badge::Ssh => "SSH",
            Badge::Kube => "kube",
            Badge::Loki => "Loki",
            Badge::Prometheus => "Prom",
        }
    }
}

/// What the app works on: the repository and the selected cluster definition.
#[derive(Debug, Clone)]
pub struct Session {
    pub repo_root: PathBuf,
    pub cluster: LoadedCluster,
    /// Every cluster definition of the repository (names, sorted): what `:cluster NAME` and
    /// the home screen switch between.
    pub clusters: Vec<String>,
    pub repo: RepoState,
    pub badges: [Health; 5],
    /// `homelab env edit FILE` outside a repository: only the env editor on this file, no
    /// cluster, no git (the top bar shows the file instead).
    pub file_only: Option<PathBuf>,
}

impl Session {
    pub fn new(repo_root: PathBuf, cluster: LoadedCluster) -> Self {
        Self {
            repo_root,
            clusters: vec![cluster.name.clone()],
            cluster,
            repo: RepoState::Loading,
            badges: [Health::Unknown; 5],
            file_only: None,
        }
    }

    /// A session for one file outside any repository (`homelab env edit FILE`).
    pub fn for_file(file: PathBuf) -> Self {
        let dir = file
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let cluster = LoadedCluster {
            name: String::new(),
            path: file.clone(),
            display: file.display().to_string(),
            config: Err(Vec::new()),
        };
        Self {
            repo: RepoState::Failed("not in a repository".into()),
            file_only: Some(file),
            clusters: Vec::new(),
            ..Self::new(dir, cluster)
        }
    }

    /// The file of a file-only session as humans see it (`~/...` under $HOME).
    pub fn file_display(&self) -> Option<String> {
        self.file_only.as_ref().map(|f| home_relative(f))
    }

    /// The current cluster's place among the definitions: `(1-based index, count)`.
    pub fn cluster_position(&self) -> Option<(usize, usize)> {
        let i = self.clusters.iter().position(|c| *c == self.cluster.name)?;
        Some((i + 1, self.clusters.len()))
    }

    pub fn badge(&self, badge: Badge) -> Health {
        self.badges[Badge::ALL.iter().position(|b| *b == badge).unwrap_or(0)]
    }

    /// The repository root shown to humans: `~/src/homelab` when under $HOME.
    pub fn repo_display(&self) -> String {
        home_relative(&self.repo_root)
    }
}

/// `~/src/homelab` when `path` is under $HOME.
fn home_relative(path: &std::path::Path) -> String {
    let root = path.display().to_string();
    match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && root.starts_with(&home) && home != "/" => {
            format!("~{}", &root[home.len()..])
        }
        _ => root,
    }
}

/// Requests a screen makes through [`UpdateCx`]; the app applies them after the call returns.
#[derive(Debug)]
pub enum Command {
    Toast(Level, String),
    Status(String),
    Open(ScreenId),
    Back,
    Confirm(ConfirmState),
    /// Close `owner`'s confirm overlay `tag` without an answer (the question went away).
    WithdrawConfirm {
        owner: ScreenId,
        tag: String,
    },
    Badge(Badge, Health),
    Effect(Effect),
    Quit,
}

/// Handed to a screen while it handles input or events.
pub struct UpdateCx<'a> {
    pub session: &'a Session,
    pub keymap: &'a Keymap,
    /// The screen being updated (owner of any confirm it asks for).
    pub screen: ScreenId,
    /// Monotonic 250 ms tick count.
    pub tick: u64,
    pub(crate) out: Vec<Command>,
}

impl<'a> UpdateCx<'a> {
    pub fn new(session: &'a Session, keymap: &'a Keymap, screen: ScreenId, tick: u64) -> Self {
        Self {
            session,
            keymap,
            screen,
            tick,
            out: Vec::new(),
        }
    }

    /// A notice toast (fades).
    pub fn notify(&mut self, text: impl Into<String>) {
        self.out.push(Command::Toast(Level::Info, text.into()));
    }

    pub fn warn(&mut self, text: impl Into<String>) {
        self.out.push(Command::Toast(Level::Warn, text.into()));
    }

    /// An error toast: stays until dismissed. Say what failed, why, and what to try.
    pub fn error(&mut self, text: impl Into<String>) {
        self.out.push(Command::Toast(Level::Error, text.into()));
    }

    /// The status text at the right of the bottom bar.
    pub fn status(&mut self, text: impl Into<String>) {
        self.out.push(Command::Status(text.into()));
    }

    pub fn open(&mut self, screen: ScreenId) {
        self.out.push(Command::Open(screen));
    }

    pub fn back(&mut self) {
        self.out.push(Command::Back);
    }

    /// Ask a yes/no question; on yes, this screen's `on_confirmed(tag)` runs.
    pub fn confirm(&mut self, confirm: ConfirmState) {
        self.out
            .push(Command::Confirm(confirm.owned_by(self.screen)));
    }

    /// Close this screen's confirm overlay `tag` if it is still open (anywhere in the overlay
    /// stack), without calling `on_confirmed` or `on_declined`: for a question that no longer
    /// needs an answer (its asker went away). Tell the operator why.
    pub fn withdraw_confirm(&mut self, tag: impl Into<String>) {
        self.out.push(Command::WithdrawConfirm {
            owner: self.screen,
            tag: tag.into(),
        });
    }

    pub fn set_badge(&mut self, badge: Badge, health: Health) {
        self.out.push(Command::Badge(badge, health));
    }

    /// Run a task; a running task with the same key is cancelled (newest wins).
    pub fn spawn(&mut self, task: Task) {
        self.out.push(Command::Effect(Effect::Spawn(task)));
    }

    pub fn cancel(&mut self, key: TaskKey) {
        self.out.push(Command::Effect(Effect::Cancel(key)));
    }

    /// Hand the terminal to a program (the operator's editor) until it exits; its `then`
    /// event comes back to its owner's `on_event` afterwards.
    pub fn run_external(&mut self, program: External) {
        self.out.push(Command::Effect(Effect::External(program)));
    }

    pub fn quit(&mut self) {
        self.out.push(Command::Quit);
    }

    pub fn into_commands(self) -> Vec<Command> {
        self.out
    }
}

/// Everything a view may read besides its own state. `now` and `tick` come from here, never
/// from the system clock, so frames are deterministic in tests.
pub struct ViewCx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub session: &'a Session,
    pub now: jiff::Timestamp,
    pub tick: u64,
}

impl ViewCx<'_> {
    /// A spinner frame for "something is happening".
    pub fn spinner(&self) -> &'static str {
        const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
        FRAMES[(self.tick % FRAMES.len() as u64) as usize]
    }
}
