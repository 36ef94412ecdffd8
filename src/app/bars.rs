//! The frame's top bar (app, screen, cluster, repository, connection badges) and bottom bar
//! (key hints from the keymap, then the status message).

use super::{Badge, RepoState, ViewCx};
use crate::keymap::Binding;
use crate::screens::ScreenId;
use crate::theme::Health;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

fn width(spans: &[Span]) -> usize {
    spans.iter().map(|s| s.width()).sum()
}

/// ` homelab  Home │ prox-n100 │ ~/homelab  main ●3 │      PVE ● SSH ● kube ● Loki ● Prom ● `
/// Degrades at narrow widths: the repo path goes first, then badge labels shrink to dots.
pub fn render_top(frame: &mut Frame, area: Rect, screen: ScreenId, cx: &ViewCx) {
    let t = cx.theme;
    let bar = t.ui.top_bar;
    let sep = Span::styled(" │ ", bar.patch(t.ui.muted));
    let s = cx.session;

    let mut left = vec![
        Span::styled(" homelab ", t.ui.top_bar_title),
        Span::styled(
            format!(" {} ", screen.title()),
            bar.patch(t.ui.title_focused),
        ),
    ];
    // `homelab env edit FILE` outside a repository: the file instead of cluster and git.
    if let Some(file) = s.file_display() {
        left.push(sep.clone());
        left.push(Span::styled(file, bar));
        frame.render_widget(Paragraph::new(Line::from(left)).style(bar), area);
        return;
    }
    let cluster_style = if s.cluster.config.is_ok() {
        bar
    } else {
        bar.patch(t.status.error)
    };
    let cluster = vec![
        sep.clone(),
        Span::styled(s.cluster.name.clone(), cluster_style),
    ];
    let (branch, dirty) = match &s.repo {
        RepoState::Loading => (
            Span::styled(format!("{} ", cx.spinner()), bar.patch(t.status.spinner)),
            None,
        ),
        RepoState::Loaded(st) => (
            Span::styled(format!(" {}", st.branch), bar.patch(t.ui.accent)),
            (!st.dirty.is_empty())
                .then(|| Span::styled(format!(" ●{}", st.dirty.len()), bar.patch(t.status.warn))),
        ),
        RepoState::Failed(_) => (Span::styled(" no git", bar.patch(t.status.error)), None),
    };
    let path = Span::styled(s.repo_display(), bar);

    let badges_full: Vec<Span> = Badge::ALL
        .iter()
        .flat_map(|b| {
            let h = s.badge(*b);
            [
                Span::styled(format!("{} ", b.label()), bar.patch(t.ui.muted)),
                Span::styled(dot(h), bar.patch(t.badge(h))),
                Span::styled(" ", bar),
            ]
        })
        .collect();
    let badges_short: Vec<Span> = Badge::ALL
        .iter()
        .map(|b| Span::styled(dot(s.badge(*b)), bar.patch(t.badge(s.badge(*b)))))
        .collect();

    let total = area.width as usize;
    let mut repo = vec![sep.clone(), path.clone(), branch.clone()];
    repo.extend(dirty.clone());
    let repo_short: Vec<Span> = std::iter::once(sep.clone())
        .chain(std::iter::once(branch.trim_start()))
        .chain(dirty)
        .collect();

    // Pick the richest layout that fits.
    let candidates: [(Vec<Span>, &Vec<Span>); 4] = [
        (repo.clone(), &badges_full),
        (repo_short.clone(), &badges_full),
        (repo_short.clone(), &badges_short),
        (Vec::new(), &badges_short),
    ];
    for (repo_part, badges) in candidates {
        let mut l = left.clone();
        l.extend(cluster.clone());
        l.extend(repo_part);
        let used = width(&l) + width(badges) + 1;
        if used <= total {
            l.push(Span::styled(" ".repeat(total - used), bar));
            l.extend(badges.iter().cloned());
            l.push(Span::styled(" ", bar));
            frame.render_widget(Paragraph::new(Line::from(l)).style(bar), area);
            return;
        }
    }
    left.extend(cluster);
    frame.render_widget(Paragraph::new(Line::from(left)).style(bar), area);
}

trait TrimStart<'a> {
    fn trim_start(self) -> Span<'a>;
}

impl<'a> TrimStart<'a> for Span<'a> {
    fn trim_start(self) -> Span<'a> {
        Span::styled(self.content.trim_start().to_owned(), self.style)
    }
}

fn dot(h: Health) -> &'static str {
    match h {
        Health::Unknown => "○",
        Health::Live => "●",
        Health::Degraded => "◐",
        Health::Down => "✕",
    }
}

/// Hints (`key desc`) left, status message right. Hints that do not fit are dropped whole,
/// never cut; the status is shortened with `…` when it has to be.
pub fn render_bottom<'a>(
    frame: &mut Frame,
    area: Rect,
    hints: impl Iterator<Item = &'a Binding>,
    status: Option<(&str, Style)>,
    cx: &ViewCx,
) {
    let t = cx.theme;
    let bar = t.ui.bottom_bar;
    let total = area.width as usize;
    let status_w = status
        .map(|(s, _)| s.chars().count() + 2)
        .unwrap_or(0)
        .min(total / 2);
    let mut spans = vec![Span::styled(" ", bar)];
    for b in hints {
        let key = b.keys.first().map(|k| k.to_string()).unwrap_or_default();
        let piece = [
            Span::styled(key, bar.patch(t.ui.key)),
            Span::styled(
                format!(" {}  ", b.hint.as_deref().unwrap_or(&b.desc)),
                bar.patch(t.ui.key_desc),
            ),
        ];
        if width(&spans) + width(&piece) + status_w > total {
            break;
        }
        spans.extend(piece);
    }
    if let Some((text, style)) = status {
        let room = total.saturating_sub(width(&spans) + 1);
        let mut text: String = text.to_owned();
        if text.chars().count() > room {
            text = text
                .chars()
                .take(room.saturating_sub(1))
                .collect::<String>()
                + "…";
        }
        let pad = total.saturating_sub(width(&spans) + text.chars().count() + 1);
        spans.push(Span::styled(" ".repeat(pad), bar));
        spans.push(Span::styled(text, bar.patch(style)));
        spans.push(Span::styled(" ", bar));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)).style(bar), area);
}
