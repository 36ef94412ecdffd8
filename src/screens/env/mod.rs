//! The env editor: a SOPS-encrypted dotenv file as a table of keys, values masked until
//! revealed, edited in memory and saved as an atomic write of the encrypted file. Plaintext
//! never touches the disk (no temp file, no $EDITOR round-trip). Decryption and encryption run
//! on the blocking pool; the UI task only holds the decrypted values it shows, zeroized when the
//! screen closes.

mod event;
mod merge;
pub mod model;
pub mod textarea;
mod view;

pub use event::Event;

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::{Handled, Owner, Screen};
use crate::app::{Session, UpdateCx, ViewCx};
use crate::keymap::Key;
use crate::msg::Action;
use crate::overlays::confirm::ConfirmState;
use crate::runtime::effects::{Task, TaskKey};
use crate::screens::start::EnvFile;
use crate::secrets::{EncryptedFile, Format, Identities, Loaded, MacStatus, Opened};
use crate::widgets::line_edit::LineEdit;
use model::{Change, EnvModel};
use textarea::TextArea;

/// How long a revealed value stays visible: 30 s in 250 ms ticks.
pub const REVEAL_TICKS: u64 = 120;

/// What the screen shows.
pub enum Phase {
    /// Choose one of config/env/*.env.
    Pick {
        files: Vec<PathBuf>,
        selected: usize,
    },
    Loading {
        path: PathBuf,
        read_only: bool,
    },
    Failed {
        path: PathBuf,
        message: String,
        can_open_read_only: bool,
    },
    Ready(Box<Doc>),
}

/// An open file.
pub struct Doc {
    pub path: PathBuf,
    /// The crypto context (data key, IV stash). `None` while a save runs with it.
    pub opened: Option<Opened>,
    pub model: EnvModel,
    pub read_only: bool,
    pub recipients: Vec<String>,
    pub mac: MacStatus,
    pub selected: usize,
    pub filter: String,
    /// Entry ids revealed until a tick.
    pub revealed: Vec<(u64, u64)>,
    pub reveal_all_until: Option<u64>,
    pub mode: Mode,
}

/// What the keyboard is doing.
pub enum Mode {
    Browse,
    Search(LineEdit),
    Edit {
        index: usize,
        area: TextArea,
    },
    Add {
        key: LineEdit,
        value: TextArea,
        on_value: bool,
        error: Option<String>,
    },
    Rename {
        index: usize,
        input: LineEdit,
        error: Option<String>,
    },
    Diff(Vec<Change>),
    /// The reviewed diff stays on screen while the save runs.
    SavingDiff(Vec<Change>),
    /// The save found the file changed on disk since it was loaded (nothing was written):
    /// `r` reload it (dropping the edits), `m` merge the edits onto it, Esc keep editing.
    Conflict,
}

pub struct EnvState {
    pub phase: Phase,
    repo_root: PathBuf,
    /// The file to open when the screen is first entered (`homelab env edit FILE`).
    pending: Option<EnvFile>,
    /// The edits to apply on top of the file once it is loaded again (merge after a conflict).
    pending_merge: Option<EnvModel>,
}

impl EnvState {
    pub fn new(session: &Session, pending: Option<EnvFile>) -> Self {
        EnvState {
            phase: Phase::Pick {
                files: Vec::new(),
                selected: 0,
            },
            repo_root: session.repo_root.clone(),
            pending,
            pending_merge: None,
        }
    }

    /// The choice in the conflict overlay: `r` reload, `m` merge, Esc back to editing.
    fn on_conflict_key(&mut self, key: KeyEvent, cx: &mut UpdateCx) -> Handled {
        let merge = match cx.keymap.action("conflict", Key::from_event(&key), false) {
            Some(Action::Refresh) => false,
            Some(Action::Merge) => true,
            Some(Action::Close) => {
                if let Some(doc) = self.doc_mut() {
                    doc.mode = Mode::Browse;
                }
                cx.status("Nothing saved; the file on disk has changes you have not seen");
                return Handled::Yes;
            }
            _ => return Handled::Yes,
        };
        let loading = Phase::Loading {
            path: PathBuf::new(),
            read_only: false,
        };
        let Phase::Ready(doc) = std::mem::replace(&mut self.phase, loading) else {
            return Handled::Yes;
        };
        if merge {
            let n = doc.model.diff().len();
            cx.status(format!(
                "Reading the file again to apply your {n} change(s) on top"
            ));
            self.pending_merge = Some(doc.model);
        } else {
            cx.status("Reloaded: your edits were dropped");
        }
        self.load(doc.path, false, cx);
        Handled::Yes
    }

    /// Start decrypting `path` on the blocking pool.
    pub fn load(&mut self, path: PathBuf, read_only: bool, cx: &mut UpdateCx) {
        self.phase = Phase::Loading {
            path: path.clone(),
            read_only,
        };
        cx.spawn(Task::blocking(
            TaskKey::new("env-load"),
            format!("decrypt {}", path.display()),
            move || {
                let result = load_file(&path, read_only);
                Event::Loaded(result.map(Box::new).map_err(|e| (path, e)))
            },
        ));
    }

    fn doc_mut(&mut self) -> Option<&mut Doc> {
        match &mut self.phase {
            Phase::Ready(doc) => Some(doc),
            _ => None,
        }
    }

    pub fn doc(&self) -> Option<&Doc> {
        match &self.phase {
            Phase::Ready(doc) => Some(doc),
            _ => None,
        }
    }

    fn list_files(&self, cx: &mut UpdateCx) {
        // A file-only session (outside a repository) lists the file's own folder.
        let dir = match &cx.session.file_only {
            Some(f) => f.parent().map(Path::to_path_buf).unwrap_or_default(),
            None => self.repo_root.join(crate::config::ENV_DIR),
        };
        cx.spawn(Task::blocking(
            TaskKey::new("env-list"),
            "list config/env",
            move || {
                let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
                    .map(|rd| {
                        rd.flatten()
                            .map(|e| e.path())
                            .filter(|p| p.extension().is_some_and(|x| x == "env"))
                            .collect()
                    })
                    .unwrap_or_default();
                files.sort();
                Event::FilesListed(files)
            },
        ));
    }

    /// Ask before throwing away unsaved edits; true when it asked.
    fn guard_leaving(&mut self, cx: &mut UpdateCx) -> bool {
        let Some(doc) = self.doc() else { return false };
        if !doc.model.is_dirty() {
            return false;
        }
        let n = doc.model.diff().len();
        cx.confirm(
            ConfirmState::new(
                "discard",
                "Discard unsaved changes?",
                format!(
                    "{} has {n} unsaved change(s). Leaving throws them away.",
                    display(&doc.path)
                ),
            )
            .labels("Discard", "Keep editing"),
        );
        true
    }
}

fn load_file(path: &Path, read_only: bool) -> Result<Loaded, String> {
    let enc = EncryptedFile::load(path).map_err(|e| e.to_string())?;
    if enc.format != Format::Dotenv {
        return Err(format!(
            "{}: the editor edits dotenv files; use `homelab env set` for YAML and JSON",
            path.display()
        ));
    }
    let opened = enc
        .open(&Identities::discover())
        .map_err(|e| e.to_string())?;
    Ok(Loaded {
        path: path.to_path_buf(),
        read_only,
        opened,
    })
}

/// A path as shown: relative to the working directory when under it.
pub fn display(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.display().to_string()))
        .unwrap_or_else(|| path.display().to_string())
}

impl Doc {
    fn new(loaded: Loaded) -> Doc {
        let Loaded {
            path,
            read_only,
            opened,
        } = loaded;
        let model = EnvModel::new(opened.entries().to_vec());
        Doc {
            recipients: opened
                .metadata
                .age
                .iter()
                .map(|a| a.recipient.clone())
                .collect(),
            mac: opened.mac.clone(),
            path,
            opened: Some(opened),
            model,
            read_only,
            selected: 0,
            filter: String::new(),
            revealed: Vec::new(),
            reveal_all_until: None,
            mode: Mode::Browse,
        }
    }

    pub fn rows(&self) -> Vec<usize> {
        self.model.rows(&self.filter)
    }

    fn current(&self) -> Option<usize> {
        self.rows().get(self.selected).copied()
    }

    pub fn is_revealed(&self, index: usize, tick: u64) -> bool {
        if self.reveal_all_until.is_some_and(|t| tick < t) {
            return true;
        }
        let Some(id) = self.model.id(index) else {
            return false;
        };
        self.revealed
            .iter()
            .any(|(i, until)| *i == id && tick < *until)
    }

    fn move_selection(&mut self, action: &Action) {
        let len = self.rows().len();
        if len == 0 {
            self.selected = 0;
            return;
        }
        self.selected = match action {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(len - 1),
            Action::Top => 0,
            Action::Bottom => len - 1,
            Action::PageUp => self.selected.saturating_sub(10),
            Action::PageDown => (self.selected + 10).min(len - 1),
            _ => self.selected,
        };
    }

    fn select_index(&mut self, index: usize) {
        if let Some(pos) = self.rows().iter().position(|i| *i == index) {
            self.selected = pos;
        }
    }

    fn refuse_read_only(&self, cx: &mut UpdateCx) -> bool {
        if self.read_only {
            cx.warn("Opened read-only (its MAC does not verify): nothing can be changed or saved.");
        }
        self.read_only
    }

    fn on_browse_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        match action {
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => self.move_selection(action),
            Action::Reveal => {
                if let Some(id) = self.current().and_then(|i| self.model.id(i)) {
                    if let Some(pos) = self
                        .revealed
                        .iter()
                        .position(|(i, until)| *i == id && cx.tick < *until)
                    {
                        self.revealed.remove(pos);
                    } else {
                        self.revealed.retain(|(i, _)| *i != id);
                        self.revealed.push((id, cx.tick + REVEAL_TICKS));
                    }
                }
            }
            Action::RevealAll => {
                if self.reveal_all_until.is_some_and(|t| cx.tick < t) {
                    self.reveal_all_until = None;
                    self.revealed.clear();
                } else {
                    self.reveal_all_until = Some(cx.tick + REVEAL_TICKS);
                    cx.status("All values revealed for 30 s (V masks them again)");
                }
            }
            Action::Search => {
                let mut input = LineEdit::default();
                input.set(&self.filter);
                self.mode = Mode::Search(input);
            }
            Action::Edit | Action::Select => {
                if self.refuse_read_only(cx) {
                    return Handled::Yes;
                }
                if let Some(index) = self.current() {
                    let area = TextArea::with_text(self.model.value(index).unwrap_or_default());
                    self.mode = Mode::Edit { index, area };
                }
            }
            Action::Add => {
                if !self.refuse_read_only(cx) {
                    self.mode = Mode::Add {
                        key: LineEdit::default(),
                        value: TextArea::default(),
                        on_value: false,
                        error: None,
                    };
                }
            }
            Action::Rename => {
                if self.refuse_read_only(cx) {
                    return Handled::Yes;
                }
                if let Some(index) = self.current() {
                    let mut input = LineEdit::default();
                    input.set(self.model.key(index).unwrap_or_default());
                    self.mode = Mode::Rename {
                        index,
                        input,
                        error: None,
                    };
                }
            }
            Action::Delete => {
                if self.refuse_read_only(cx) {
                    return Handled::Yes;
                }
                if let Some(key) = self.current().and_then(|i| self.model.key(i)) {
                    cx.confirm(
                        ConfirmState::new(
                            "delete",
                            "Delete key?",
                            format!("Remove {key} from the file (undo with u until you save)."),
                        )
                        .labels("Delete", "Keep"),
                    );
                }
            }
            Action::Undo => {
                if self.model.undo() {
                    let len = self.rows().len();
                    self.selected = self.selected.min(len.saturating_sub(1));
                    cx.status("Undone");
                } else {
                    cx.status("Nothing to undo");
                }
            }
            Action::Save => {
                if self.refuse_read_only(cx) {
                    return Handled::Yes;
                }
                let diff = self.model.diff();
                if diff.is_empty() {
                    cx.status("No changes to save");
                } else {
                    self.mode = Mode::Diff(diff);
                }
            }
            Action::Close if !self.filter.is_empty() => {
                self.filter.clear();
                self.selected = 0;
            }
            _ => return Handled::No,
        }
        Handled::Yes
    }

    /// Start saving: the crypto context and the edited entries go to the blocking pool.
    fn save(&mut self, cx: &mut UpdateCx) {
        let Some(mut opened) = self.opened.take() else {
            return;
        };
        let entries = opened.entries_mut();
        entries.iter_mut().for_each(zeroize::Zeroize::zeroize);
        *entries = self.model.entries().to_vec();
        opened.bump_version();
        let diff = match std::mem::replace(&mut self.mode, Mode::Browse) {
            Mode::Diff(d) => d,
            _ => self.model.diff(),
        };
        self.mode = Mode::SavingDiff(diff);
        let label = format!("encrypt and save {}", display(&self.path));
        cx.spawn(Task::blocking(
            TaskKey::new("env-save"),
            label,
            move || match opened.save() {
                Ok(()) => Event::Saved(Ok(Box::new(opened))),
                Err(crate::secrets::SopsError::ChangedOnDisk { .. }) => {
                    Event::ChangedOnDisk(Box::new(opened))
                }
                Err(e) => Event::Saved(Err((Box::new(opened), e.to_string()))),
            },
        ));
    }

    fn on_text_key(&mut self, key: KeyEvent, cx: &mut UpdateCx) -> Handled {
        // Accept, cancel and switch come from the keymap's `form` context (what the popups'
        // footers show); arrows stay with the text editors.
        let typed = Key::from_event(&key);
        let form = cx.keymap.action("form", typed, true);
        let enter = matches!(form, Some(Action::Select));
        let esc = matches!(form, Some(Action::Close));
        let switch = matches!(form, Some(Action::NextPane | Action::PrevPane))
            && !matches!(key.code, KeyCode::Up | KeyCode::Down);
        let confirm = matches!(
            cx.keymap.action("confirm", typed, false),
            Some(Action::Confirm)
        );
        match &mut self.mode {
            Mode::Search(input) => {
                if esc {
                    self.filter.clear();
                    self.mode = Mode::Browse;
                } else if enter {
                    self.mode = Mode::Browse;
                } else if input.on_key(key) {
                    self.filter = input.value().to_string();
                    self.selected = 0;
                }
            }
            Mode::Edit { index, area } => {
                if esc {
                    self.mode = Mode::Browse;
                } else if enter {
                    let (index, value) = (*index, area.text());
                    self.model.set_value(index, value);
                    self.mode = Mode::Browse;
                } else {
                    area.on_key(key);
                }
            }
            Mode::Add {
                key: k,
                value,
                on_value,
                error,
            } => {
                if esc {
                    self.mode = Mode::Browse;
                } else if switch {
                    *on_value = !*on_value;
                } else if enter && !*on_value {
                    match model::check_key(k.value()) {
                        Ok(()) => *on_value = true,
                        Err(e) => *error = Some(e),
                    }
                } else if enter {
                    match self.model.add(k.value().to_string(), value.text()) {
                        Ok(index) => {
                            self.filter.clear();
                            self.select_index(index);
                            self.mode = Mode::Browse;
                        }
                        Err(e) => {
                            *error = Some(e);
                            *on_value = false;
                        }
                    }
                } else if *on_value {
                    value.on_key(key);
                } else if k.on_key(key) {
                    *error = None;
                }
            }
            Mode::Rename {
                index,
                input,
                error,
            } => {
                if esc {
                    self.mode = Mode::Browse;
                } else if enter {
                    let index = *index;
                    match self.model.rename(index, input.value().to_string()) {
                        Ok(()) => self.mode = Mode::Browse,
                        Err(e) => *error = Some(e),
                    }
                } else if input.on_key(key) {
                    *error = None;
                }
            }
            Mode::Diff(_) => {
                if esc {
                    self.mode = Mode::Browse;
                } else if enter || confirm {
                    self.save(cx);
                }
            }
            Mode::Browse | Mode::SavingDiff(_) | Mode::Conflict => return Handled::No,
        }
        Handled::Yes
    }

    fn on_paste(&mut self, text: &str) {
        match &mut self.mode {
            Mode::Edit { area, .. } => area.insert_str(text),
            Mode::Add {
                value,
                on_value: true,
                ..
            } => value.insert_str(text),
            Mode::Add {
                key,
                on_value: false,
                ..
            } => key.insert_str(text),
            Mode::Rename { input, .. } | Mode::Search(input) => input.insert_str(text),
            _ => {}
        }
    }
}

impl Screen for EnvState {
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        view::render(self, frame, area, cx);
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        match &mut self.phase {
            Phase::Pick { files, selected } => match action {
                Action::Up => *selected = selected.saturating_sub(1),
                Action::Down => *selected = (*selected + 1).min(files.len().saturating_sub(1)),
                Action::Select | Action::Edit => {
                    if let Some(path) = files.get(*selected).cloned() {
                        self.load(path, false, cx);
                    }
                }
                Action::Refresh => self.list_files(cx),
                _ => return Handled::No,
            },
            Phase::Failed {
                path,
                can_open_read_only,
                ..
            } => match action {
                Action::Select | Action::Edit if *can_open_read_only => {
                    let path = path.clone();
                    self.load(path, true, cx);
                }
                Action::Refresh => {
                    let path = path.clone();
                    self.load(path, false, cx);
                }
                _ => return Handled::No,
            },
            Phase::Loading { .. } => return Handled::No,
            Phase::Ready(_) => {
                if matches!(action, Action::Back | Action::Close)
                    && self
                        .doc()
                        .is_some_and(|d| matches!(d.mode, Mode::Browse) && d.filter.is_empty())
                    && self.guard_leaving(cx)
                {
                    return Handled::Yes;
                }
                let Some(doc) = self.doc_mut() else {
                    return Handled::No;
                };
                return match &doc.mode {
                    Mode::Browse => doc.on_browse_action(action, cx),
                    Mode::Diff(_) => match action {
                        Action::Save | Action::Confirm => {
                            doc.save(cx);
                            Handled::Yes
                        }
                        Action::Close | Action::Back => {
                            doc.mode = Mode::Browse;
                            Handled::Yes
                        }
                        _ => Handled::Yes,
                    },
                    Mode::SavingDiff(_) => Handled::Yes,
                    _ => Handled::No,
                };
            }
        }
        Handled::Yes
    }

    fn text_input_active(&self) -> bool {
        self.doc()
            .is_some_and(|d| !matches!(d.mode, Mode::Browse | Mode::SavingDiff(_)))
    }

    fn on_text_key(&mut self, key: KeyEvent, cx: &mut UpdateCx) -> Handled {
        if self.doc().is_some_and(|d| matches!(d.mode, Mode::Conflict)) {
            return self.on_conflict_key(key, cx);
        }
        match self.doc_mut() {
            Some(doc) => doc.on_text_key(key, cx),
            None => Handled::No,
        }
    }

    fn on_paste(&mut self, text: &str, _cx: &mut UpdateCx) {
        if let Some(doc) = self.doc_mut() {
            doc.on_paste(text);
        }
    }

    fn on_confirmed(&mut self, tag: &str, cx: &mut UpdateCx) {
        match tag {
            "discard" => {
                // Zeroize now: the decrypted file leaves memory with the screen.
                self.phase = Phase::Pick {
                    files: Vec::new(),
                    selected: 0,
                };
                cx.back();
            }
            "delete" => {
                if let Some(doc) = self.doc_mut()
                    && let Some(index) = doc.current()
                {
                    doc.model.delete(index);
                    let len = doc.rows().len();
                    doc.selected = doc.selected.min(len.saturating_sub(1));
                }
            }
            _ => {}
        }
    }

    fn on_tick(&mut self, cx: &mut UpdateCx) -> bool {
        let tick = cx.tick;
        match &mut self.phase {
            Phase::Loading { .. } => true,
            Phase::Ready(doc) => {
                let before = doc.revealed.len() + usize::from(doc.reveal_all_until.is_some());
                doc.revealed.retain(|(_, until)| tick < *until);
                if doc.reveal_all_until.is_some_and(|t| tick >= t) {
                    doc.reveal_all_until = None;
                }
                let after = doc.revealed.len() + usize::from(doc.reveal_all_until.is_some());
                before != after || matches!(doc.mode, Mode::SavingDiff(_))
            }
            _ => false,
        }
    }

    fn on_enter(&mut self, cx: &mut UpdateCx) {
        match (self.pending.take(), &self.phase) {
            (Some(EnvFile { path, read_only }), _) => self.load(path, read_only, cx),
            // Entered again while a load was asked for (the start-up open runs before the
            // runtime, which enters the screen once more): ask again; the newest task wins.
            (None, Phase::Loading { path, read_only }) => {
                let (path, read_only) = (path.clone(), *read_only);
                self.load(path, read_only, cx);
            }
            (None, Phase::Pick { .. }) => self.list_files(cx),
            (None, _) => {}
        }
    }

    fn on_leave(&mut self, _cx: &mut UpdateCx) {
        // A clean document leaves memory (zeroized on drop) when the screen is closed; unsaved
        // edits stay until saved or discarded (quitting asks first, see `busy`).
        if self
            .doc()
            .is_some_and(|d| !d.model.is_dirty() && !matches!(d.mode, Mode::SavingDiff(_)))
        {
            self.phase = Phase::Pick {
                files: Vec::new(),
                selected: 0,
            };
        }
    }

    fn busy(&self) -> Option<String> {
        let doc = self.doc()?;
        if matches!(doc.mode, Mode::SavingDiff(_)) {
            return Some(format!("saving {}", display(&doc.path)));
        }
        doc.model.is_dirty().then(|| {
            format!(
                "{} unsaved change(s) in {}",
                doc.model.diff().len(),
                display(&doc.path)
            )
        })
    }
}

impl Owner<Event> for EnvState {
    fn on_event(&mut self, event: Event, cx: &mut UpdateCx) {
        match event {
            Event::FilesListed(files) => {
                if let Phase::Pick { files: f, selected } = &mut self.phase {
                    *f = files;
                    *selected = (*selected).min(f.len().saturating_sub(1));
                }
            }
            Event::Loaded(result) => {
                self.phase = match result {
                    Ok(loaded) => {
                        match (&loaded.opened.mac, loaded.read_only) {
                            (MacStatus::Verified, _) | (_, true) => {
                                if loaded.read_only {
                                    cx.warn("Read-only: the MAC does not verify, so nothing can be saved.");
                                }
                                let mut doc = Doc::new(*loaded);
                                if let Some(mine) = self.pending_merge.take() {
                                    doc.model = merge::merge(&mine, doc.model.entries().to_vec());
                                    cx.notify(format!(
                                        "Your {} change(s) are applied on top of the file as it is now; review and save (ctrl-s)",
                                        doc.model.diff().len()
                                    ));
                                }
                                Phase::Ready(Box::new(doc))
                            }
                            _ => {
                                let message = loaded
                                    .opened
                                    .require_mac()
                                    .err()
                                    .map(|e| e.to_string())
                                    .unwrap_or_default();
                                Phase::Failed {
                                    path: loaded.path.clone(),
                                    message,
                                    can_open_read_only: true,
                                }
                            }
                        }
                    }
                    Err((path, message)) => Phase::Failed {
                        path,
                        message,
                        can_open_read_only: false,
                    },
                };
            }
            Event::ChangedOnDisk(opened) => {
                if let Some(doc) = self.doc_mut() {
                    doc.opened = Some(*opened);
                    doc.mode = Mode::Conflict;
                }
            }
            Event::Saved(result) => {
                if let Some(doc) = self.doc_mut() {
                    doc.mode = Mode::Browse;
                    match result {
                        Ok(opened) => {
                            doc.mac = opened.mac.clone();
                            doc.opened = Some(*opened);
                            let n = doc.model.diff().len();
                            doc.model.mark_saved();
                            cx.notify(format!(
                                "Saved {} ({n} change(s), encrypted)",
                                display(&doc.path)
                            ));
                        }
                        Err((opened, message)) => {
                            doc.opened = Some(*opened);
                            cx.error(format!("Saving failed, the file is unchanged: {message}"));
                        }
                    }
                }
            }
        }
    }
}

impl super::Start for EnvState {
    fn start(session: &Session, params: &super::StartParams) -> Self {
        Self::new(session, params.env_file.clone())
    }
}
