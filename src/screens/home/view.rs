//! Drawing the home screen. Layout is shared with mouse hit-testing through [`layout`].

use super::{HomeState, Pane};
use crate::app::{RepoState, ViewCx};
use crate::config::ClusterConfig;
use crate::msg::Action;
use crate::screens::ScreenId;
use crate::widgets::list;
use crate::widgets::panel::block;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Margin, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Rows per job in the menu (title, then what it does).
pub const JOB_ROWS: u16 = 2;
/// Lines of the cluster summary; tall screens get storage and endpoints too.
const CLUSTER_LINES: u16 = 7;
const CLUSTER_LINES_TALL: u16 = 9;
/// Body height from which the tall summary is used.
const TALL: u16 = 36;
/// Lines above the changed-file list in the repository pane.
const REPO_HEADER: u16 = 4;
/// Below this width the right column (cluster, VMs) is hidden rather than squeezed.
const MIN_TWO_COLUMNS: u16 = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HomeLayout {
    pub jobs: Rect,
    pub jobs_list: Rect,
    pub repo: Rect,
    pub repo_list: Rect,
    pub cluster: Rect,
    pub vms: Rect,
    pub vms_list: Rect,
}

pub fn layout(area: Rect) -> HomeLayout {
    let two = area.width >= MIN_TWO_COLUMNS;
    let left_w = if two {
        (area.width * 36 / 100).clamp(30, 44)
    } else {
        area.width
    };
    let [left, right] =
        Layout::horizontal([Constraint::Length(left_w), Constraint::Fill(1)]).areas(area);
    let jobs_h = ScreenId::jobs().count() as u16 * JOB_ROWS + 2;
    let [jobs, repo] =
        Layout::vertical([Constraint::Length(jobs_h), Constraint::Fill(1)]).areas(left);
    let [cluster, vms] = Layout::vertical([
        Constraint::Length(cluster_lines(area) + 2),
        Constraint::Fill(1),
    ])
    .areas(right);
    let inner = |r: Rect| {
        r.inner(Margin {
            horizontal: 1,
            vertical: 1,
        })
    };
    let repo_inner = inner(repo);
    let repo_list = Rect {
        y: repo_inner.y + REPO_HEADER.min(repo_inner.height),
        height: repo_inner.height.saturating_sub(REPO_HEADER),
        ..repo_inner
    };
    let vms_inner = inner(vms);
    let vms_list = Rect {
        y: vms_inner.y + 1.min(vms_inner.height),
        height: vms_inner.height.saturating_sub(1),
        ..vms_inner
    };
    HomeLayout {
        jobs,
        jobs_list: inner(jobs),
        repo,
        repo_list,
        cluster,
        vms,
        vms_list,
    }
}

pub fn render(state: &HomeState, frame: &mut Frame, area: Rect, cx: &ViewCx) {
    let l = layout(area);
    render_jobs(state, frame, &l, cx);
    render_repo(state, frame, &l, cx);
    if l.cluster.width > 0 {
        render_cluster(state, frame, &l, cx);
    }
}

fn render_jobs(state: &HomeState, frame: &mut Frame, l: &HomeLayout, cx: &ViewCx) {
    let t = cx.theme;
    let focused = state.focus == Pane::Jobs;
    frame.render_widget(block("Jobs", focused, cx.theme), l.jobs);
    let area = l.jobs_list;
    let w = area.width as usize;
    for (i, id) in ScreenId::jobs().enumerate() {
        let y = area.y + i as u16 * JOB_ROWS;
        if y >= area.bottom() {
            break;
        }
        let selected = i == state.job;
        let base = if selected {
            t.selection(focused)
        } else {
            Style::default()
        };
        let key = cx
            .keymap
            .key_for("home", &Action::Open(id))
            .map(|k| k.to_string())
            .unwrap_or_default();
        let marker = if selected { "▸ " } else { "  " };
        let title = id.title();
        let pad = w.saturating_sub(
            marker.chars().count() + title.chars().count() + key.chars().count() + 1,
        );
        let line1 = Line::from(vec![
            Span::styled(marker, base.patch(t.ui.accent)),
            Span::styled(title, base.patch(t.ui.text)),
            Span::styled(" ".repeat(pad), base),
            Span::styled(key, base.patch(t.ui.key)),
            Span::styled(" ", base),
        ]);
        let sub = truncate(id.blurb(), w.saturating_sub(3));
        let line2 = Line::from(vec![
            Span::styled("  ", base),
            Span::styled(sub, base.patch(t.ui.muted)),
        ]);
        frame.buffer_mut().set_style(
            Rect {
                y,
                height: JOB_ROWS.min(area.bottom() - y),
                ..area
            },
            base,
        );
        frame.render_widget(
            Paragraph::new(vec![line1, line2]),
            Rect {
                y,
                height: JOB_ROWS.min(area.bottom() - y),
                ..area
            },
        );
    }
}

fn render_repo(state: &HomeState, frame: &mut Frame, l: &HomeLayout, cx: &ViewCx) {
    let t = cx.theme;
    let focused = state.focus == Pane::Repo;
    frame.render_widget(block("Repository", focused, cx.theme), l.repo);
    let inner = l.repo.inner(Margin {
        horizontal: 1,
        vertical: 1,
    });
    let w = inner.width as usize;
    let path = Line::styled(truncate_left(&cx.session.repo_display(), w), t.ui.text);
    match &cx.session.repo {
        RepoState::Loading => {
            let lines = vec![
                path,
                Line::styled(
                    format!("{} reading git status…", cx.spinner()),
                    t.status.spinner,
                ),
            ];
            frame.render_widget(Paragraph::new(lines), inner);
        }
        RepoState::Failed(e) => {
            let lines = vec![path, Line::styled(e.clone(), t.status.error)];
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), inner);
        }
        RepoState::Loaded(st) => {
            let mut branch = vec![
                Span::styled("branch ", t.ui.muted),
                Span::styled(st.branch.clone(), t.ui.accent),
            ];
            if st.dirty.is_empty() {
                branch.push(Span::styled("  clean", t.status.ok));
            } else {
                branch.push(Span::styled(
                    format!("  ●{} changed", st.dirty.len()),
                    t.status.warn,
                ));
            }
            let head = match &st.head {
                Some((id, summary)) => Line::from(vec![
                    Span::styled(format!("{id} "), t.ui.muted),
                    Span::styled(truncate(summary, w.saturating_sub(8)), t.ui.text),
                ]),
                None => Line::styled("no commits yet", t.ui.muted),
            };
            let header = if st.dirty.is_empty() {
                Line::styled("✓ working tree clean", t.status.ok)
            } else {
                Line::styled("Changes", t.ui.header)
            };
            frame.render_widget(
                Paragraph::new(vec![path, Line::from(branch), head, header]),
                inner,
            );
            let rows: Vec<Line> = st
                .dirty
                .iter()
                .map(|f| {
                    let style = match f.change {
                        crate::domain::repo::Change::Untracked
                        | crate::domain::repo::Change::Added => t.env.added,
                        crate::domain::repo::Change::Deleted
                        | crate::domain::repo::Change::Conflicted => t.env.removed,
                        _ => t.env.dirty,
                    };
                    Line::from(vec![
                        Span::styled(format!("{} ", f.change.code()), style),
                        Span::styled(truncate_left(&f.path, w.saturating_sub(3)), t.ui.text),
                    ])
                })
                .collect();
            list::render(frame, l.repo_list, rows, state.repo_file, focused, cx.theme);
        }
    }
}

fn render_cluster(state: &HomeState, frame: &mut Frame, l: &HomeLayout, cx: &ViewCx) {
    let t = cx.theme;
    let c = &cx.session.cluster;
    let inner = l.cluster.inner(Margin {
        horizontal: 1,
        vertical: 1,
    });
    match &c.config {
        Ok(cfg) => {
            frame.render_widget(
                block(
                    format!("Cluster {}{}", cfg.name, switch_hint(cx)),
                    false,
                    cx.theme,
                ),
                l.cluster,
            );
            let tall = l.cluster.height >= CLUSTER_LINES_TALL + 2;
            let lines = summary_lines(cfg, inner.width as usize, tall, cx);
            frame.render_widget(Paragraph::new(lines), inner);
            render_vms(state, cfg, frame, l, cx);
        }
        Err(diags) => {
            let both = l.cluster.union(l.vms);
            let title = format!(
                "Cluster {} · {} problem{}{}",
                c.name,
                diags.len(),
                if diags.len() == 1 { "" } else { "s" },
                switch_hint(cx)
            );
            frame.render_widget(
                block(title, false, cx.theme).border_style(t.status.error),
                both,
            );
            let inner = both.inner(Margin {
                horizontal: 1,
                vertical: 1,
            });
            let mut lines = vec![
                Line::styled(format!("{} does not load:", c.display), t.status.error),
                Line::default(),
            ];
            for d in diags {
                let place = if d.line == 0 {
                    String::new()
                } else {
                    format!("{}:{}  ", d.line, d.column)
                };
                lines.push(Line::from(vec![
                    Span::styled(place, t.ui.accent),
                    Span::styled(d.message.clone(), t.ui.text),
                ]));
            }
            lines.push(Line::default());
            lines.push(Line::styled(
                "Fix the file, then press r to re-read it. Reference: docs/cluster-config.md",
                t.ui.muted,
            ));
            frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
        }
    }
}

/// With several definitions: which one this is and the key that switches (from the keymap).
fn switch_hint(cx: &ViewCx) -> String {
    match cx.session.cluster_position() {
        Some((i, n)) if n > 1 => {
            let key = cx
                .keymap
                .key_for("home", &Action::NextCluster)
                .map(|k| format!(" · {k} next"))
                .unwrap_or_default();
            format!(" · {i} of {n}{key}")
        }
        _ => String::new(),
    }
}

fn cluster_lines(area: Rect) -> u16 {
    if area.height >= TALL {
        CLUSTER_LINES_TALL
    } else {
        CLUSTER_LINES
    }
}

fn summary_lines<'a>(cfg: &ClusterConfig, width: usize, tall: bool, cx: &ViewCx) -> Vec<Line<'a>> {
    let t = cx.theme;
    let row = |label: &str, value: String| {
        Line::from(vec![
            Span::styled(format!("{label:<9}"), t.ui.muted),
            Span::styled(truncate(&value, width.saturating_sub(9)), t.ui.text),
        ])
    };
    let mut lines = vec![
        row(
            "Proxmox",
            format!(
                "{} · {}",
                cfg.proxmox
                    .api_endpoints()
                    .iter()
                    .map(|e| e.endpoint.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                cfg.proxmox.nodes.join(", ")
            ),
        ),
        row(
            "Template",
            format!(
                "{} {} on {}",
                cfg.template.vmid, cfg.template.name, cfg.template.node
            ),
        ),
        row(
            "Network",
            format!(
                "{} · gw {} · {}",
                cfg.network.subnet, cfg.network.gateway, cfg.proxmox.bridge
            ),
        ),
        row(
            "k3s",
            format!("{} · swap on, {:?}", cfg.k3s.version, cfg.k3s.swap_behavior),
        ),
        row("Flux", cfg.flux.repo.clone()),
        row(
            "",
            format!(
                "{} · {} · {}",
                cfg.flux.branch, cfg.flux.path, cfg.flux.version
            ),
        ),
        row("Domain", cfg.domain.clone()),
    ];
    if tall {
        let storage = match (&cfg.storage.nfs_server, &cfg.storage.nfs_export) {
            (Some(server), Some(export)) => format!("longhorn · nfs {server}:{export}"),
            _ => "longhorn · no NFS server set".to_owned(),
        };
        lines.push(row("Storage", storage));
        let o = &cfg.observability;
        let set: Vec<&str> = [
            ("loki", &o.loki_url),
            ("prometheus", &o.prometheus_url),
            ("alertmanager", &o.alertmanager_url),
        ]
        .into_iter()
        .filter_map(|(name, url)| url.as_ref().map(|_| name))
        .collect();
        let endpoints = if set.is_empty() {
            "none configured".to_owned()
        } else {
            set.join(", ")
        };
        lines.push(row("Observe", endpoints));
    }
    lines
}

/// VM table columns, most important first; narrow terminals drop from the end.
const COLUMNS: [(&str, usize); 8] = [
    ("NAME", 0),
    ("IP", 15),
    ("ROLE", 6),
    ("VMID", 5),
    ("MEM", 7),
    ("CPU", 3),
    ("DISK", 7),
    ("NODE", 0),
];

fn render_vms(
    state: &HomeState,
    cfg: &ClusterConfig,
    frame: &mut Frame,
    l: &HomeLayout,
    cx: &ViewCx,
) {
    let t = cx.theme;
    let focused = state.focus == Pane::Vms;
    let (servers, agents) = (cfg.servers().count(), cfg.agents().count());
    let title = format!(
        "VMs · {servers} server{} {agents} agent{}",
        if servers == 1 { "," } else { "s," },
        if agents == 1 { "" } else { "s" }
    );
    frame.render_widget(block(title, focused, cx.theme), l.vms);
    let inner = l.vms.inner(Margin {
        horizontal: 1,
        vertical: 1,
    });
    if inner.height == 0 {
        return;
    }
    // Widest value of a text column, at least its header's 4 characters.
    let widest = |text: fn(&crate::config::VmConfig) -> &str| {
        cfg.vms
            .iter()
            .map(|v| text(v).chars().count())
            .fold(4, usize::max)
    };
    let (name_w, node_w) = (widest(|v| &v.name), widest(|v| &v.node));
    let width_of = |i: usize| match i {
        0 => name_w,
        7 => node_w,
        _ => COLUMNS[i].1,
    };
    // Keep columns while they fit (2 spaces between), in priority order.
    let mut shown = Vec::new();
    let mut used = 0;
    for i in 0..COLUMNS.len() {
        let need = width_of(i) + if shown.is_empty() { 0 } else { 2 };
        if used + need > inner.width as usize {
            break;
        }
        used += need;
        shown.push(i);
    }
    // Display order: name, role, node, vmid, cpu, mem, disk, ip.
    let order = [0usize, 2, 7, 3, 5, 4, 6, 1];
    let cols: Vec<usize> = order.into_iter().filter(|i| shown.contains(i)).collect();
    let right_aligned = |i: usize| matches!(i, 3..=6);
    let cell = |i: usize, text: String| {
        let w = width_of(i);
        let text = truncate(&text, w);
        if right_aligned(i) {
            format!("{text:>w$}")
        } else {
            format!("{text:<w$}")
        }
    };
    let header: Vec<Span> = cols
        .iter()
        .enumerate()
        .flat_map(|(n, &i)| {
            let sep = if n == 0 { "" } else { "  " };
            [
                Span::raw(sep),
                Span::styled(cell(i, COLUMNS[i].0.to_owned()), t.ui.header),
            ]
        })
        .collect();
    frame.render_widget(
        Paragraph::new(Line::from(header)),
        Rect { height: 1, ..inner },
    );
    let rows: Vec<Line> = cfg
        .vms
        .iter()
        .map(|vm| {
            let spans: Vec<Span> = cols
                .iter()
                .enumerate()
                .flat_map(|(n, &i)| {
                    let sep = if n == 0 { "" } else { "  " };
                    let (text, style) = match i {
                        0 => (vm.name.clone(), t.ui.text),
                        1 => (vm.ip.to_string(), t.ui.accent),
                        2 => (
                            vm.role.as_str().to_owned(),
                            if vm.role == crate::config::VmRole::Server {
                                t.ui.title_focused
                            } else {
                                t.ui.text
                            },
                        ),
                        3 => (vm.vmid.to_string(), t.ui.muted),
                        4 => (size_mib(vm.memory_mib), t.ui.text),
                        5 => (vm.cores.to_string(), t.ui.text),
                        6 => (format!("{} GiB", vm.disk_gib), t.ui.text),
                        _ => (vm.node.clone(), t.ui.muted),
                    };
                    [Span::raw(sep), Span::styled(cell(i, text), style)]
                })
                .collect();
            Line::from(spans)
        })
        .collect();
    list::render(frame, l.vms_list, rows, state.vm, focused, cx.theme);
    // Totals a line below the table, when it all fits.
    if l.vms_list.height as usize > cfg.vms.len() + 1 {
        // Saturating: the definition shown may not have passed validation (its upper bounds).
        let cores = cfg
            .vms
            .iter()
            .map(|v| u64::from(v.cores))
            .fold(0, u64::saturating_add);
        let mem = cfg
            .vms
            .iter()
            .map(|v| v.memory_mib)
            .fold(0, u64::saturating_add);
        let disk = cfg
            .vms
            .iter()
            .map(|v| v.disk_gib)
            .fold(0, u64::saturating_add);
        let text = format!(
            "total  {cores} cores · {} memory · {disk} GiB disk",
            size_mib(mem)
        );
        let text = truncate(&text, l.vms_list.width as usize);
        let y = l.vms_list.y + cfg.vms.len() as u16 + 1;
        let area = Rect {
            y,
            height: 1,
            ..l.vms_list
        };
        frame.render_widget(Paragraph::new(Line::styled(text, t.ui.muted)), area);
    }
}

fn size_mib(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{mib} MiB")
    }
}

/// Cut to `max` chars, ending in `…` when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    s.chars().take(max - 1).collect::<String>() + "…"
}

/// Cut from the left (paths: the end matters), starting with `…` when cut.
fn truncate_left(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    if max == 0 {
        return String::new();
    }
    "…".to_owned() + &s.chars().skip(n - (max - 1)).collect::<String>()
}
