//! Check: `homelab check` as a screen. Runs the Stage 1 rules in a background task, lists the
//! violations grouped by rule, shows the selected one's rule, message and fix, and opens the
//! file at the line in a built-in viewer (Enter; Esc closes it) or in the operator's editor
//! (`e`: $VISUAL, else $EDITOR, else vi), after which the check runs again.

mod event;
mod view;

use super::{Handled, Owner, Screen};
use crate::app::{Session, UpdateCx, ViewCx};
use crate::editor::{EditorCommand, EditorVars};
use crate::msg::Action;
use crate::repo::check::{self, Report, Violation};
use crate::runtime::effects::{External, ExternalResult, Task, TaskKey};
use crate::widgets::list;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::{Margin, Rect};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

pub use event::Event;
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

/// The violation that was selected when a run started, to select it again afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Keep {
    rule: &'static str,
    file: String,
    line: Option<u32>,
    message: String,
}

impl Keep {
    fn of(v: &Violation) -> Self {
        Self {
            rule: v.rule,
            file: v.file.clone(),
            line: v.line,
            message: v.message.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckState {
    pub root: PathBuf,
    pub run: Run,
    pub report: Option<Report>,
    /// Index into `report.violations`.
    pub selected: usize,
    pub viewer: Option<Viewer>,
    /// $VISUAL / $EDITOR for `e` (read when the screen is built; tests set their own).
    pub editor: EditorVars,
    /// What to select again when the running check finishes.
    keep: Option<Keep>,
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
            editor: EditorVars::from_env(),
            keep: None,
        }
    }

    fn selected_violation(&self) -> Option<&Violation> {
        self.report
            .as_ref()
            .and_then(|r| r.violations.get(self.selected))
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
        self.keep = self.selected_violation().map(Keep::of);
        let root = self.root.clone();
        cx.spawn(Task::blocking(check_key(), "homelab check", move || {
            Event::Finished(check::run(&root).map(Box::new).map_err(|e| e.to_string()))
        }));
    }

    /// Close the viewer (its text may be stale) and run the check again.
    fn recheck(&mut self, cx: &mut UpdateCx) {
        self.viewer = None;
        cx.cancel(file_key());
        self.start(cx);
    }

    /// `e`: the selected violation's file at its line in the operator's editor (also from the
    /// viewer, which shows that violation's file).
    fn edit_selected(&mut self, cx: &mut UpdateCx) {
        let Some(v) = self.selected_violation() else {
            cx.notify("No violation selected: nothing to open in the editor");
            return;
        };
        let editor = match crate::editor::open_at(&self.editor, &v.file, v.line) {
            Ok(editor) => editor,
            Err(e) => {
                cx.error(format!("Cannot open {} in the editor: {e}", v.location()));
                return;
            }
        };
        let (program, args) = (editor.program.clone(), editor.args.clone());
        cx.run_external(External::new(
            program,
            args,
            self.root.clone(),
            move |result| Event::EditorExited { editor, result },
        ));
    }

    /// The editor is closed: say how it ended, and run the check again when it ran at all.
    fn editor_exited(&mut self, editor: &EditorCommand, result: ExternalResult, cx: &mut UpdateCx) {
        let name = Path::new(&editor.program)
            .file_name()
            .map_or(editor.program.clone(), |n| n.to_string_lossy().into_owned());
        match result {
            Ok(status) if status.success() => {
                cx.status(format!("{name} closed; checking again"));
            }
            Ok(status) => {
                let how = match (status.code(), status.signal()) {
                    (Some(code), _) => format!("exited with status {code}"),
                    (None, Some(sig)) => format!("was stopped by signal {sig}"),
                    (None, None) => format!("ended ({status})"),
                };
                cx.warn(format!(
                    "Editor {how} (`{name}`); checking again what it saved"
                ));
                tracing::warn!(%editor, %status, "editor failed");
            }
            Err(e) => {
                cx.error(editor.spawn_failed(&e));
                return;
            }
        }
        self.recheck(cx);
    }

    fn open_selected(&mut self, cx: &mut UpdateCx) {
        let Some(v) = self.selected_violation() else {
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
            move || Event::FileLoaded {
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
            Action::Edit => self.edit_selected(cx),
            Action::Refresh => self.recheck(cx),
            _ => return Handled::No,
        }
        Handled::Yes
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

impl Owner<Event> for CheckState {
    fn on_event(&mut self, event: Event, cx: &mut UpdateCx) {
        match event {
            Event::Finished(Ok(report)) => {
                let n = report.violations.len();
                cx.status(if n == 0 {
                    "check: ok".to_string()
                } else {
                    format!("check: {n} violation{}", view::plural(n))
                });
                self.selected = reselect(&report.violations, self.keep.take(), self.selected);
                self.report = Some(*report);
                self.run = Run::Done;
            }
            Event::Finished(Err(e)) => {
                cx.error(format!("homelab check could not read the repository: {e}"));
                self.run = Run::Failed(e);
            }
            Event::FileLoaded { file, text } => {
                if let Some(v) = self.viewer.as_mut().filter(|v| v.file == file) {
                    let lines: Result<Vec<String>, String> =
                        text.map(|t| t.lines().map(str::to_string).collect());
                    v.lines = Some(lines);
                    v.focus = v.line.map_or(0, |l| (l as usize).saturating_sub(1));
                }
            }
            Event::EditorExited { editor, result } => {
                self.editor_exited(&editor, result, cx);
            }
        }
    }
}

/// The violation to select in a new report: the one kept from before the run when it is still
/// there (same rule and file; the same message first, then the nearest line, since an edit
/// moves lines), else the same position (a fixed violation's place goes to the next one).
fn reselect(violations: &[Violation], keep: Option<Keep>, selected: usize) -> usize {
    let found = keep.and_then(|k| {
        violations
            .iter()
            .enumerate()
            .filter(|(_, v)| v.rule == k.rule && v.file == k.file)
            .min_by_key(|(_, v)| {
                let distance = match (v.line, k.line) {
                    (Some(a), Some(b)) => a.abs_diff(b),
                    (None, None) => 0,
                    _ => u32::MAX,
                };
                (v.message != k.message, distance)
            })
            .map(|(i, _)| i)
    });
    found.unwrap_or_else(|| selected.min(violations.len().saturating_sub(1)))
}

impl super::Start for CheckState {
    fn start(session: &Session, _params: &super::StartParams) -> Self {
        Self::new(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(rule: &'static str, file: &str, line: u32, message: &str) -> Violation {
        Violation {
            rule,
            file: file.into(),
            line: Some(line),
            message: message.into(),
        }
    }

    fn keep(v: &Violation) -> Option<Keep> {
        Some(Keep::of(v))
    }

    #[test]
    fn the_same_violation_is_selected_again_where_it_moved() {
        let before = [
            v("a/x", "one.yaml", 3, "m1"),
            v("b/y", "two.yaml", 10, "bad image"),
            v("b/y", "two.yaml", 20, "other image"),
        ];
        // An edit added lines above and fixed the first violation: same rule, file and
        // message, another line and another index.
        let after = [
            v("b/y", "two.yaml", 12, "other"),
            v("b/y", "two.yaml", 14, "bad image"),
        ];
        assert_eq!(reselect(&after, keep(&before[1]), 1), 1);
        // The message changed too: the nearest line of the same rule and file wins.
        let after = [
            v("a/x", "one.yaml", 3, "m1"),
            v("b/y", "two.yaml", 19, "x"),
            v("b/y", "two.yaml", 11, "y"),
        ];
        assert_eq!(reselect(&after, keep(&before[1]), 1), 2);
    }

    #[test]
    fn a_fixed_violation_gives_way_to_the_next_one_or_the_last() {
        let before = [
            v("a/x", "one.yaml", 3, "m1"),
            v("b/y", "two.yaml", 10, "m2"),
            v("c/z", "three.yaml", 1, "m3"),
        ];
        let after = [before[0].clone(), before[2].clone()];
        assert_eq!(reselect(&after, keep(&before[1]), 1), 1, "the next one");
        let after = [before[0].clone()];
        assert_eq!(
            reselect(&after, keep(&before[2]), 2),
            0,
            "clamped to the last"
        );
        assert_eq!(reselect(&[], keep(&before[0]), 0), 0, "nothing left");
        // Nothing was selected before (a clean tree): the position, clamped.
        assert_eq!(reselect(&before, None, 7), 2);
    }

    #[test]
    fn a_violation_without_a_line_matches_its_file() {
        let dir = Violation {
            rule: "layout/top-level",
            file: "extra".into(),
            line: None,
            message: "m".into(),
        };
        let after = [v("a/x", "one.yaml", 3, "m1"), dir.clone()];
        assert_eq!(reselect(&after, keep(&dir), 0), 1);
    }
}
