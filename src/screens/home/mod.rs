//! Home: the jobs (the registered screens with a home key, see `screens/mod.rs`), the selected
//! cluster's summary and the repository's git state.

mod view;

use super::{Handled, Screen, ScreenId};
use crate::app::{Session, UpdateCx, ViewCx};
use crate::msg::Action;
use crate::widgets::list;
use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::Frame;
use ratatui::layout::Rect;

pub use view::{HomeLayout, layout};

/// Panes that take focus with Tab.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pane {
    #[default]
    Jobs,
    Vms,
    Repo,
}

impl Pane {
    const ORDER: [Pane; 3] = [Pane::Jobs, Pane::Vms, Pane::Repo];

    fn step(self, forward: bool) -> Pane {
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0);
        let n = Self::ORDER.len();
        Self::ORDER[if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        }]
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HomeState {
    pub focus: Pane,
    pub job: usize,
    pub vm: usize,
    pub repo_file: usize,
}

impl HomeState {
    pub fn new(_session: &Session) -> Self {
        Self::default()
    }

    pub fn selected_job(&self) -> ScreenId {
        let last = ScreenId::jobs().count().saturating_sub(1);
        ScreenId::jobs()
            .nth(self.job.min(last))
            .unwrap_or(ScreenId::Home)
    }

    fn len(&self, pane: Pane, session: &Session) -> usize {
        match pane {
            Pane::Jobs => ScreenId::jobs().count(),
            Pane::Vms => session
                .cluster
                .config
                .as_ref()
                .map(|c| c.vms.len())
                .unwrap_or(0),
            Pane::Repo => match &session.repo {
                crate::app::RepoState::Loaded(st) => st.dirty.len(),
                _ => 0,
            },
        }
    }

    fn cursor(&mut self, pane: Pane) -> &mut usize {
        match pane {
            Pane::Jobs => &mut self.job,
            Pane::Vms => &mut self.vm,
            Pane::Repo => &mut self.repo_file,
        }
    }

    fn move_cursor(&mut self, pane: Pane, action: &Action, session: &Session) -> bool {
        let len = self.len(pane, session);
        let cur = self.cursor(pane);
        let last = len.saturating_sub(1);
        let new = match action {
            Action::Down => (*cur + 1).min(last),
            Action::Up => cur.saturating_sub(1),
            Action::Top => 0,
            Action::Bottom => last,
            Action::PageDown => (*cur + 10).min(last),
            Action::PageUp => cur.saturating_sub(10),
            _ => return false,
        };
        *cur = new;
        true
    }

    /// The status line describes the selection in full: what a job does, every field of a VM
    /// (narrow terminals hide columns), the whole path of a changed file.
    fn announce(&self, cx: &mut UpdateCx) {
        let text = match self.focus {
            Pane::Jobs => Some(self.selected_job().blurb().to_owned()),
            Pane::Vms => cx
                .session
                .cluster
                .config
                .as_ref()
                .ok()
                .and_then(|c| c.vms.get(self.vm))
                .map(|v| {
                    format!(
                        "{} · {} on {} · vmid {} · {} cores · {} MiB · {} GiB · {}",
                        v.name,
                        v.role.as_str(),
                        v.node,
                        v.vmid,
                        v.cores,
                        v.memory_mib,
                        v.disk_gib,
                        v.ip
                    )
                }),
            Pane::Repo => match &cx.session.repo {
                crate::app::RepoState::Loaded(st) => st
                    .dirty
                    .get(self.repo_file)
                    .map(|f| format!("{} {}", f.change.code(), f.path)),
                _ => None,
            },
        };
        if let Some(text) = text {
            cx.status(text);
        }
    }
}

impl Screen for HomeState {
    fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        view::render(self, frame, area, cx);
    }

    fn on_action(&mut self, action: &Action, cx: &mut UpdateCx) -> Handled {
        match action {
            Action::Up
            | Action::Down
            | Action::Top
            | Action::Bottom
            | Action::PageUp
            | Action::PageDown => {
                self.move_cursor(self.focus, action, cx.session);
                self.announce(cx);
            }
            Action::NextPane => {
                self.focus = self.focus.step(true);
                self.announce(cx);
            }
            Action::PrevPane => {
                self.focus = self.focus.step(false);
                self.announce(cx);
            }
            Action::Select if self.focus == Pane::Jobs => cx.open(self.selected_job()),
            // In the VM and file lists Enter shows the full row in the status line.
            Action::Select => self.announce(cx),
            _ => return Handled::No,
        }
        Handled::Yes
    }

    fn on_mouse(&mut self, ev: MouseEvent, area: Rect, cx: &mut UpdateCx) -> Handled {
        let l = layout(area);
        let pos = (ev.column, ev.row).into();
        let pane = [
            (Pane::Jobs, l.jobs_list),
            (Pane::Vms, l.vms_list),
            (Pane::Repo, l.repo_list),
        ]
        .into_iter()
        .find(|(_, r)| r.contains(pos));
        let Some((pane, rect)) = pane else {
            return Handled::No;
        };
        match ev.kind {
            MouseEventKind::ScrollDown => {
                self.move_cursor(pane, &Action::Down, cx.session);
            }
            MouseEventKind::ScrollUp => {
                self.move_cursor(pane, &Action::Up, cx.session);
            }
            MouseEventKind::Down(MouseButton::Left) => {
                self.focus = pane;
                if pane == Pane::Jobs {
                    // Each job takes two rows; a click on the selected job opens it.
                    let idx = ((ev.row - rect.y) / view::JOB_ROWS) as usize;
                    if idx < ScreenId::jobs().count() {
                        if idx == self.job {
                            cx.open(self.selected_job());
                        }
                        self.job = idx;
                    }
                } else {
                    let len = self.len(pane, cx.session);
                    let cur = *self.cursor(pane);
                    if let Some(i) = list::row_at(ev.row, rect, cur, len) {
                        *self.cursor(pane) = i;
                    }
                }
                self.announce(cx);
            }
            _ => return Handled::No,
        }
        Handled::Yes
    }
}

impl super::Start for HomeState {
    fn start(session: &Session, _params: &super::StartParams) -> Self {
        Self::new(session)
    }
}
