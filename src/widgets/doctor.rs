//! How a reachability doctor's walk (`domain::doctor::Walk`) is drawn, wherever it is shown:
//! the console's reachability pane and the scaffold screen after its app is Ready. One line a
//! link in the walk's order: `✓`/`✗`, the link, its summary; under the broken one its evidence
//! and its fix; `◌` a link still to check, `·` one not checked after the break, `–` the links
//! an internal host does not pass through (one line). Everything from peers goes through the one sanitizer.

use crate::domain::doctor::{Link, Outcome, Walk};
use crate::domain::printable::sanitize;
use crate::theme::Theme;
use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// What a piece of a line is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Ok,
    Bad,
    Warn,
    Header,
    Text,
    Muted,
}

impl Tone {
    pub fn style(self, theme: &Theme) -> Style {
        match self {
            Tone::Ok => theme.status.ok,
            Tone::Bad => theme.status.error,
            Tone::Warn => theme.status.warn,
            Tone::Header => theme.ui.header,
            Tone::Text => theme.ui.text,
            Tone::Muted => theme.ui.muted,
        }
    }
}

/// One line: its pieces in order. The last piece is the one a narrow view wraps.
pub type Row = Vec<(Tone, String)>;

fn clean(s: &str) -> String {
    sanitize(s).into_owned()
}

/// The walk's state in a word or two: `checking…`, `reachable`, `broken at 4`, `could not run`.
pub fn status(w: &Walk) -> (Tone, String) {
    match (&w.outcome, &w.error) {
        (_, Some(_)) => (Tone::Bad, "could not run".into()),
        (Some(Outcome::Reachable), _) => (Tone::Ok, "reachable".into()),
        (Some(Outcome::Broken(l)), _) => (Tone::Bad, format!("broken at {}", l.number())),
        (None, _) => (Tone::Warn, "checking…".into()),
    }
}

/// The walk's lines, without colours (what the scaffold screen scrolls over).
pub fn rows(w: &Walk) -> Vec<Row> {
    let mut rows: Vec<Row> = vec![];
    let skipped: Vec<Link> = Link::ALL
        .into_iter()
        .filter(|l| !w.exposure.walks(*l))
        .collect();
    if let (Some(first), Some(last)) = (skipped.first(), skipped.last()) {
        let titles: Vec<&str> = skipped.iter().map(|l| l.title()).collect();
        rows.push(vec![
            (Tone::Muted, "  – ".into()),
            (
                Tone::Muted,
                format!(
                    "{}-{}. {}: do not apply to an internal host (LAN and tailnet, not Cloudflare)",
                    first.number(),
                    last.number(),
                    titles.join(", ")
                ),
            ),
        ]);
    }
    for link in Link::ALL {
        if !w.exposure.walks(link) {
            continue;
        }
        match w.findings.iter().find(|x| x.link == link) {
            Some(found) => {
                let (mark, tone) = if found.ok {
                    ("✓ ", Tone::Ok)
                } else {
                    ("✗ ", Tone::Bad)
                };
                rows.push(vec![
                    (tone, format!("  {mark}")),
                    (Tone::Header, format!("{:<24} ", link.to_string())),
                    (Tone::Text, clean(&found.summary)),
                ]);
                if let Some(fix) = &found.fix {
                    for e in &found.evidence {
                        rows.push(vec![(Tone::Muted, format!("      {}", clean(e)))]);
                    }
                    rows.push(vec![
                        (Tone::Warn, "    fix: ".into()),
                        (Tone::Text, clean(&fix.to_string())),
                    ]);
                }
            }
            None => {
                let mark = if w.finished() { "·" } else { "◌" };
                rows.push(vec![(Tone::Muted, format!("  {mark} {link}"))]);
            }
        }
    }
    if let Some(e) = &w.error {
        rows.push(vec![(Tone::Bad, format!("  {}", clean(e)))]);
    }
    rows
}

/// The walk's lines in the theme's colours.
pub fn lines(w: &Walk, theme: &Theme) -> Vec<Line<'static>> {
    rows(w)
        .into_iter()
        .map(|row| {
            Line::from(
                row.into_iter()
                    .map(|(tone, text)| Span::styled(text, tone.style(theme)))
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::doctor::{Exposure, Finding, Fix, WalkEvent};

    fn text(rows: &[Row]) -> Vec<String> {
        rows.iter()
            .map(|r| r.iter().map(|(_, t)| t.as_str()).collect())
            .collect()
    }

    #[test]
    fn a_broken_link_shows_its_evidence_and_fix_and_the_rest_not_checked() {
        let mut w = Walk::new("a.example.com", Exposure::Public);
        w.apply(WalkEvent::Found(Finding::pass(Link::Dns, "ok", vec![])));
        let broken = Finding::broken(
            Link::Tunnel,
            "no connector \u{1b}[31m",
            Fix::Command {
                command: "kubectl logs".into(),
                why: "see".into(),
            },
        )
        .with_evidence(vec!["tunnel t".into()]);
        w.apply(WalkEvent::Found(broken));
        assert_eq!(status(&w).1, "checking…");
        let t = text(&rows(&w));
        assert!(t[4].starts_with("  ◌ 3."), "{t:?}");
        w.apply(WalkEvent::Done(Outcome::Broken(Link::Tunnel)));
        let t = text(&rows(&w));
        assert!(t[0].starts_with("  ✓ 1. Cloudflare DNS record"), "{t:?}");
        assert!(t[1].starts_with("  ✗ 2. tunnel connectors"), "{t:?}");
        assert!(!t[1].contains('\u{1b}'), "{t:?}");
        assert_eq!(t[2], "      tunnel t");
        assert_eq!(t[3], "    fix: run `kubectl logs`: see");
        assert_eq!(t[4], "  · 3. tunnel ingress rule");
        assert_eq!(status(&w), (Tone::Bad, "broken at 2".into()));
    }

    #[test]
    fn an_internal_walk_says_the_tunnel_links_do_not_apply() {
        let w = Walk::new("a.example.internal", Exposure::Internal);
        let t = text(&rows(&w));
        assert_eq!(t.len(), 5, "{t:?}");
        assert!(
            t[0].starts_with(
                "  – 1-3. Cloudflare DNS record, tunnel connectors, tunnel ingress rule: do not apply"
            ),
            "{t:?}"
        );
        assert!(t[1].starts_with("  ◌ 4. Gateway listener"), "{t:?}");
    }
}
