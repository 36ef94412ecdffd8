use super::*;
use crate::domain::logs::{Labels, LogLine};
use crate::screens::console::state::{ConsoleAction, ConsoleState, EndpointsShown};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;

fn state() -> ConsoleState {
    let mut st = ConsoleState::new(
        "t",
        EndpointsShown {
            loki: Some("http://loki".into()),
            prometheus: None,
            alertmanager: None,
        },
    );
    st.tz = jiff::tz::TimeZone::UTC;
    st.focus = PaneId::Logs;
    st
}

fn draw(st: &ConsoleState, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = crate::theme::ThemeCatalog::builtin().load("homelab-dark").0;
    let keymap = crate::keymap::Keymap::builtin();
    t.draw(|f| {
        render_console(
            st,
            f,
            f.area(),
            &Cx {
                theme: &theme,
                keymap: &keymap,
                now_s: 0,
            },
        )
    })
    .unwrap();
    t.backend().to_string()
}

fn labels() -> Arc<Labels> {
    let mut l = Labels::new();
    l.insert("namespace".into(), "media".into());
    l.insert("pod".into(), "jellyfin-0".into());
    Arc::new(l)
}

#[test]
fn wrap_shows_the_whole_line_and_escapes_never_reach_the_terminal() {
    let mut st = state();
    st.logs.run_query(r#"{namespace="media"}"#, 0);
    let long = format!("\x1b[31mred\x1b[0m {}END", "x".repeat(150));
    st.logs
        .ingest(vec![LogLine::new(1_000_000_000, labels(), long)]);
    let plain = draw(&st, 80, 24);
    assert!(!plain.contains("END"), "cut without wrap");
    assert!(!plain.contains('\x1b'));
    st.apply(ConsoleAction::ToggleWrap, 0);
    let wrapped = draw(&st, 80, 30);
    assert!(wrapped.contains("END"), "{wrapped}");
    assert!(wrapped.contains("00:00:01.000 red xxx"), "{wrapped}");
}

#[test]
fn context_view_separates_groups_and_columns_toggle() {
    let mut st = state();
    st.logs.run_query(r#"{namespace="media"}"#, 0);
    st.logs.ingest(
        (0..40)
            .map(|i| {
                LogLine::new(
                    i * 1_000_000_000,
                    labels(),
                    if i % 20 == 5 {
                        format!("hit {i}")
                    } else {
                        format!("line {i}")
                    },
                )
            })
            .collect(),
    );
    st.logs.set_search("hit");
    st.logs.toggle_context();
    st.logs.follow();
    let s = draw(&st, 100, 30);
    assert!(s.contains("--"), "{s}");
    assert!(!s.contains("line 15"), "{s}");
    st.apply(ConsoleAction::ToggleLabels, 0);
    assert!(draw(&st, 100, 30).contains("media/jellyfin-0"));
    st.apply(ConsoleAction::ToggleTimestamps, 0);
    assert!(!draw(&st, 100, 30).contains("00:00:05.000"));
}

#[test]
fn tiny_terminals_do_not_panic() {
    let mut st = state();
    st.logs.run_query(r#"{namespace="media"}"#, 0);
    st.logs
        .ingest(vec![LogLine::new(0, labels(), "日本語 text".into())]);
    for (w, h) in [(1, 1), (5, 3), (20, 4), (80, 5)] {
        draw(&st, w, h);
        st.apply(ConsoleAction::Zoom, 0);
        draw(&st, w, h);
    }
}
