//! Shared helpers for integration tests: an App on a fixed fixture, input helpers, frame
//! rendering into ratatui's TestBackend, insta settings that write into the top-level
//! `snapshots/<group>/`, style-aware frame dumps, `require_peer`, the tmux end-to-end
//! harness ([`tmux`]) and private addresses for test servers ([`net`]).
//!
//! Use from `tests/<area>.rs` with `mod support;` (submodules: `use crate::support;`).
#![allow(dead_code)]

pub mod net;
pub mod tmux;

use homelab::app::{self, App, AppOptions, RepoState, Session};
use homelab::config::{LoadedCluster, parse_cluster};
use homelab::domain::repo::{Change, DirtyFile, RepoStatus};
use homelab::keymap::{Key, Keymap};
use homelab::msg::{Action, Msg};
use homelab::runtime::effects::Effects;
use homelab::theme::ThemeCatalog;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use std::path::PathBuf;

/// The sizes every screen and overlay is snapshotted at.
pub const SIZES: &[(u16, u16)] = &[(80, 24), (160, 48)];

/// The fixed clock frames are drawn at.
pub fn now() -> jiff::Timestamp {
    "2026-11-23T18:00:00Z".parse().expect("fixed timestamp")
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The fixture cluster definition (a frozen copy of prox-n100, so snapshots do not move when
/// the real one changes).
pub fn fixture_cluster_text() -> String {
    std::fs::read_to_string(manifest_dir().join("tests/fixtures/clusters/prox-n100.yaml"))
        .expect("fixture cluster")
}

pub fn loaded_cluster(text: &str) -> LoadedCluster {
    let display = "config/clusters/prox-n100.yaml";
    LoadedCluster {
        name: "prox-n100".into(),
        path: PathBuf::from("/srv/homelab").join(display),
        display: display.into(),
        config: parse_cluster("prox-n100", display, text),
    }
}

/// A repository state with a couple of changes.
pub fn repo_status() -> RepoStatus {
    RepoStatus {
        root: PathBuf::from("/srv/homelab"),
        branch: "main".into(),
        head: Some(("3f2a9c1".into(), "flux: pin v2.7.3".into())),
        dirty: vec![
            DirtyFile {
                path: "cluster/kubernetes/apps/tools/syncthing/release.yaml".into(),
                change: Change::Modified,
            },
            DirtyFile {
                path: "config/clusters/prox-n100.yaml".into(),
                change: Change::Modified,
            },
            DirtyFile {
                path: "notes.txt".into(),
                change: Change::Untracked,
            },
        ],
    }
}

pub fn session_with(cluster_text: &str) -> Session {
    let mut s = Session::new(PathBuf::from("/srv/homelab"), loaded_cluster(cluster_text));
    s.repo = RepoState::Loaded(repo_status());
    s
}

/// An app on the fixture cluster and repository, theme `theme`, builtin keymap, colours on.
pub fn app_with(session: Session, theme: &str) -> App {
    App::new(AppOptions {
        session,
        theme_name: theme.into(),
        themes: ThemeCatalog::builtin(),
        keymap: Keymap::builtin(),
        no_color: false,
        startup_warnings: Vec::new(),
        start: Default::default(),
    })
}

/// The standard fixture app (homelab-dark).
pub fn app() -> App {
    app_with(session_with(&fixture_cluster_text()), "homelab-dark")
}

/// Run an action as the palette or a key would; returns the effects `update` asked for.
pub fn act(app: &mut App, action: Action) -> Effects {
    app::update(app, Msg::Action(action))
}

/// Press one key in keymap notation (`j`, `ctrl-s`, `enter`); returns the effects.
pub fn press(app: &mut App, key: &str) -> Effects {
    let k = Key::parse(key).unwrap_or_else(|e| panic!("{e}"));
    let ev = crossterm::event::KeyEvent::new(k.code, k.mods);
    app::update(app, Msg::Key(ev))
}

/// Press several keys in order.
pub fn press_all(app: &mut App, keys: &[&str]) {
    for k in keys {
        press(app, k);
    }
}

/// Deliver a backend event as the runtime would.
pub fn backend(app: &mut App, ev: impl Into<homelab::msg::BackendEvent>) -> Effects {
    app::update(app, Msg::Backend(ev.into()))
}

/// A mouse event at (`column`, `row`).
pub fn mouse(
    app: &mut App,
    kind: crossterm::event::MouseEventKind,
    column: u16,
    row: u16,
) -> Effects {
    let ev = crossterm::event::MouseEvent {
        kind,
        column,
        row,
        modifiers: crossterm::event::KeyModifiers::NONE,
    };
    app::update(app, Msg::Mouse(ev))
}

/// Type text character by character (into the palette or a focused field).
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        let ev = crossterm::event::KeyEvent::new(
            crossterm::event::KeyCode::Char(c),
            crossterm::event::KeyModifiers::NONE,
        );
        let _effects = app::update(app, Msg::Key(ev));
    }
}

/// Draw the whole app at `w`x`h`.
pub fn render(app: &mut App, w: u16, h: u16) -> TestBackend {
    app.size = Rect::new(0, 0, w, h);
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    let now = now();
    terminal
        .draw(|f| app::view(app, f, &app.view_cx(now)))
        .expect("draw");
    terminal.backend().clone()
}

/// insta settings writing into `snapshots/<group>/` with clean names (`home_default@80x24`).
pub fn settings(group: &str) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path(manifest_dir().join("snapshots").join(group));
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

/// Snapshot the app's frame at every size in [`SIZES`] as `<name>@<w>x<h>`.
pub fn assert_frames(group: &str, name: &str, app: &mut App) {
    for &(w, h) in SIZES {
        assert_frame(group, name, app, w, h);
    }
}

pub fn assert_frame(group: &str, name: &str, app: &mut App, w: u16, h: u16) {
    let frame = render(app, w, h).to_string();
    let mut s = settings(group);
    s.set_snapshot_suffix(format!("{w}x{h}"));
    s.bind(|| insta::assert_snapshot!(name, frame));
}

/// The text of row `y` of a rendered frame.
pub fn row_text(buf: &Buffer, y: u16) -> String {
    (0..buf.area.width)
        .map(|x| buf[(x, y)].symbol().to_owned())
        .collect()
}

/// Whether the rendered frame contains `needle` on some row.
pub fn contains(backend: &TestBackend, needle: &str) -> bool {
    let buf = backend.buffer();
    (0..buf.area.height).any(|y| row_text(buf, y).contains(needle))
}

/// A style-aware dump of the given rows: runs of equal style as `[style] "text"`, for colour
/// snapshots (the plain frame text ignores styles).
pub fn style_runs(buf: &Buffer, rows: impl IntoIterator<Item = u16>) -> String {
    let mut out = String::new();
    for y in rows {
        out.push_str(&format!("row {y}:\n"));
        let mut run = String::new();
        let mut style: Option<Style> = None;
        for x in 0..buf.area.width {
            let cell = &buf[(x, y)];
            let s = cell.style();
            if style != Some(s) {
                if let Some(prev) = style {
                    out.push_str(&format!("  {} {run:?}\n", describe(prev)));
                }
                run.clear();
                style = Some(s);
            }
            run.push_str(cell.symbol());
        }
        if let Some(prev) = style {
            out.push_str(&format!("  {} {run:?}\n", describe(prev)));
        }
    }
    out
}

fn describe(s: Style) -> String {
    let mut parts = Vec::new();
    if let Some(fg) = s.fg {
        parts.push(format!("fg={fg}"));
    }
    if let Some(bg) = s.bg {
        parts.push(format!("bg={bg}"));
    }
    if !s.add_modifier.is_empty() {
        parts.push(format!("+{:?}", s.add_modifier));
    }
    format!("[{}]", parts.join(" "))
}

/// For tests that need an external program (sshd, sops, tmux...). Returns true when `name` is
/// on PATH (or is an existing absolute path). Otherwise prints `SKIP: <reason>` and returns
/// false, unless `HOMELAB_REQUIRE_PEERS=1` (CI), where a missing peer is a failure.
pub fn require_peer(name: &str) -> bool {
    if find_peer(name).is_some() {
        return true;
    }
    let reason = format!("peer `{name}` not found on PATH");
    if std::env::var("HOMELAB_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("{reason} and HOMELAB_REQUIRE_PEERS=1: install it (see .ci/run)");
    }
    println!("SKIP: {reason}");
    false
}

/// Full path of a peer program, if present.
pub fn find_peer(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(name);
    if p.is_absolute() {
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A stage's questions as a wizard task asks them (`homelab::screens::wizard::asking`), with
/// the test delivering each to the app ([`deliver`]) instead of the runtime.
pub fn asking(stage: homelab::stages::engine::StageId) -> homelab::screens::wizard::asking::Asking {
    homelab::screens::wizard::asking::Asking::new(homelab::screens::wizard::event::Asker {
        stage,
        task: 1,
    })
}

/// Deliver the next question `asking` got to the app, as the wizard's task would.
pub async fn deliver(app: &mut App, asking: &mut homelab::screens::wizard::asking::Asking) {
    let question = asking.next().await;
    backend(app, homelab::msg::BackendEvent::Wizard(question));
}
