//! Check: `homelab check` as a screen. Runs the Stage 1 rules in a background task, lists the
//! violations grouped by rule, shows the selected one's rule, message and fix, and opens the
//! file at the line in a built-in viewer (Enter; Esc closes it).

mod view;

use super::{Handled, Screen};
use crate::app::{Session, UpdateCx, ViewCx};
use crate::msg::{Action, BackendEvent};
use crate::repo::check::{self, Report};
use crate::runtime::effects::{Task, TaskKey};
use crate::widgets::list;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use std::path::{Path, PathBuf};

pub use view::layout;

/// Lines moved by PageUp/PageDown.
const PAGE: usize = 10;
/// Files larger than this are not shown in the viewer (a check file is a few KiB).
const MAX_VIEW_BYTES: u64 = 2 * 1024 * 1024;

/// Where the check run is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// Not started yet (the screen starts it when opened).
    Idle,
    Running,
    Done,
    Failed(String),
}

/// The file viewer opened on a violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    pub file: String,
    pub line: Option<u32>,
    /// `None` while loading.
    pub lines: Option<Result<Vec<String>, String>>,
    /// The line kept in view (0-based), a third down the pane.
    pub focus: usize,
}

#[derive(Debug, Clone)]
pub struct CheckState {
    pub root: PathBuf,
    pub run: Run,
    pub report: Option<Report>,
    /// Index into `report.violations`.
    pub selected: usize,
    pub viewer: Option<Viewer>,
}

fn check_key() -> TaskKey {
    TaskKey::new("check")
}

fn file_key() -> TaskKey {
    TaskKey::new("check-file")
}

impl CheckState {
    pub fn new(session: &Session) -> Self {
        Self {
            root: session.repo_root.clone(),
            run: Run::Idle,
            report: None,
            selected: 0,
            viewer: None,
        }
    }

    /// Rows the selection moves over: the violations, or the rules when there are none.
    fn selectable(&self) -> usize {
        match &self.report {
            Some(r) if r.ok() => check::RULES.len(),
            Some(r) => r.violations.len(),
            None => 0,
        }
    }

    fn start(&mut self, cx: &mut UpdateCx) {
        self.run = Run::Running;
        let root = self.root.clone();
        cx.spawn(Task::blocking(check_key(), "homelab check", move || {
            BackendEvent::CheckFinished(check::run(&root).map(Box::new).map_err(|e| e.to_string()))
        }));
    }

    fn open_selected(&mut self, cx: &mut UpdateCx) {
        let Some(v) = self
            .report
            .as_ref()
            .and_then(|r| r.violations.get(self.selected))
        else {
            return;
        };
        let (file, line) = (v.file.clone(), v.line);
        self.viewer = Some(Viewer {
            file: file.clone(),
            line,
            lines: None,
            focus: 0,
        });
        let path = self.root.join(&file);
        cx.spawn(Task::blocking(
            file_key(),
            format!("read {file}"),
            move || BackendEvent::CheckFileLoaded {
                file,
                text: read_for_viewer(&path),
            },
        ));
    }

    fn move_selection(&mut self, action: &Action) {
        let n = self.selectable();
        if n == 0 {
            return;
        }
        self.selected = match action {
            Action::Up => self.selected.saturating_sub(1),
            Action::Down => (self.selected + 1).min(n - 1),
            Action::PageUp => self.selected.saturating_sub(PAGE),
            Action::PageDown => (self.selected + PAGE).min(n - 1),
            Action::Top => 0,
            Action::Bottom => n - 1,
            _ => self.selected,
        };
    }
}

impl Viewer {
    fn len(&self) -> usize {
        match &self.lines {
            Some(Ok(l)) => l.len(),
            _ => 0,
        }
    }

    fn scroll(&mut self, action: &Action) {
        let max = self.len().saturating_sub(1);
        self.focus = match action {
            Action::Up => self.focus.saturating_sub(1),
            Action::Down => (self.focus + 1).min(max),
            Action::PageUp => self.focus.saturating_sub(PAGE),
            Action::PageDown => (self.focus + PAGE).min(max),
            Action::Top => 0,
            Action::Bottom => max,
            _ => self.focus,
        };
    }
}

/// The viewer's text: the file's lines, or a listing for a folder (top-level entries, canonical
/// paths). Errors say what failed.
fn read_for_viewer(path: &Path) -> Result<String, String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    if meta.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(path)
            .map_err(|e| format!("cannot list {}: {e}", path.display()))?
            .filter_map(Result::ok)
            .map(|e| {
                let dir = e.file_type().is_ok_and(|t| t.is_dir());
                format!(
                    "{}{}",
                    e.file_name().to_string_lossy(),
                    if dir { "/" } else { "" }
                )
            })
            .collect();
        names.sort();
        return Ok(format!(
            "(folder, {} entries)\n{}",
            names.len(),
            names.join("\n")
        ));
    }
    if meta.len() > MAX_VIEW_BYTES {
        return Err(format!(
            "{} is {} bytes, too large to show here",
            path.display(),
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

impl Screen for CheckState {
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        view::render(self, frame, area, cx);
    }

    /// Runs the check unless a report is already shown (`r` re-runs it). Starting again while a
    /// run is pending is harmless: the task key is the same, so the newer run replaces it.
    fn on_enter(&mut self, cx: &mut UpdateCx) {
        if self.report.is_none() {
            self.start(cx);
        }
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        match action {
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom => match &mut self.viewer {
                Some(v) => v.scroll(action),
                None => self.move_selection(action),
            },
            Action::Select if self.viewer.is_none() => self.open_selected(cx),
            Action::Select => {}
            Action::Close | Action::Back if self.viewer.is_some() => {
                self.viewer = None;
                cx.cancel(file_key());
            }
            Action::Refresh => {
                self.viewer = None;
                self.start(cx);
            }
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn on_backend(&mut self, event: BackendEvent, cx: &mut UpdateCx) -> Option<BackendEvent> {
        match event {
            BackendEvent::CheckFinished(Ok(report)) => {
                let n = report.violations.len();
                cx.status(if n == 0 {
                    "check: ok".to_string()
                } else {
                    format!("check: {n} violation(s)")
                });
                self.selected = self.selected.min(n.saturating_sub(1));
                self.report = Some(*report);
                self.run = Run::Done;
                None
            }
            BackendEvent::CheckFinished(Err(e)) => {
                cx.error(format!("homelab check could not read the repository: {e}"));
                self.run = Run::Failed(e);
                None
            }
            BackendEvent::CheckFileLoaded { file, text } => {
                if let Some(v) = self.viewer.as_mut().filter(|v| v.file == file) {
                    let lines: Result<Vec<String>, String> =
                        text.map(|t| t.lines().map(str::to_string).collect());
                    v.lines = Some(lines);
                    v.focus = v.line.map_or(0, |l| (l as usize).saturating_sub(1));
                }
                None
            }
            other => Some(other),
        }
    }

    /// Click a violation to select it, click the selected one to open its file; the wheel
    /// moves the selection over the list and scrolls the viewer over the viewer.
    fn on_mouse(&mut self, ev: MouseEvent, area: Rect, cx: &mut UpdateCx) -> Handled {
        let Some(report) = self.report.as_ref().filter(|r| !r.ok()) else {
            return Handled::No;
        };
        let l = layout(area, self.viewer.is_some());
        let pos = (ev.column, ev.row).into();
        let in_list = l.list.contains(pos);
        let wheel = match ev.kind {
            MouseEventKind::ScrollDown => Some(Action::Down),
            MouseEventKind::ScrollUp => Some(Action::Up),
            _ => None,
        };
        if let Some(action) = wheel {
            match (&mut self.viewer, in_list) {
                (Some(v), false) => v.scroll(&action),
                _ => self.move_selection(&action),
            }
            return Handled::Yes;
        }
        if ev.kind != MouseEventKind::Down(MouseButton::Left) || !in_list {
            return Handled::No;
        }
        let inner = l.list.inner(Margin::new(1, 1));
        let targets = view::row_targets(report);
        let selected_row = view::selected_row(report, self.selected);
        let Some(row) = list::row_at(ev.row, inner, selected_row, targets.len()) else {
            return Handled::No;
        };
        match targets.get(row).copied().flatten() {
            Some(i) if i == self.selected && self.viewer.is_none() => self.open_selected(cx),
            Some(i) => {
                self.selected = i;
                self.viewer = None;
            }
            None => {}
        }
        Handled::Yes
    }

    fn busy(&self) -> Option<String> {
        (self.run == Run::Running).then(|| "homelab check".to_string())
    }
}
