//! `update(&mut App, Msg) -> Effects`: the only place app state changes. Never awaits.

use super::{App, Badge, Command, Event, RepoState, UpdateCx, cluster_switch, route};
use crate::backends::git;
use crate::msg::{Action, BackendEvent, Msg};
use crate::overlays::confirm::ConfirmState;
use crate::overlays::help::HelpState;
use crate::overlays::palette::{Entry, PaletteState};
use crate::overlays::{Outcome, Overlay};
use crate::runtime::effects::{Effect, Effects, Task, TaskKey};
use crate::screens::{Handled, Screen, ScreenId, Screens};
use crate::theme::Level;
use ratatui::layout::Rect;

/// Effects to run once at startup: read the repository state, enter the home screen.
pub fn init(app: &mut App) -> Effects {
    refresh_repo(app);
    let id = app.current;
    with_screen(app, id, |s, cx| s.on_enter(cx));
    std::mem::take(&mut app.effects)
}

pub fn update(app: &mut App, msg: Msg) -> Effects {
    let mut dirty = true;
    let input = matches!(msg, Msg::Key(_) | Msg::Mouse(_) | Msg::Paste(_));
    match msg {
        Msg::Key(ev) => route::key(app, ev),
        Msg::Mouse(ev) => route::mouse(app, ev),
        Msg::Paste(text) => route::paste(app, &text),
        Msg::Resize(w, h) => app.size = Rect::new(0, 0, w, h),
        Msg::Action(action) => dispatch(app, action),
        Msg::Backend(ev) => backend(app, ev),
        Msg::Tick => dirty = tick(app),
    }
    if input {
        sync_theme_preview(app);
    }
    app.dirty |= dirty;
    std::mem::take(&mut app.effects)
}

/// While the palette highlights `theme <name>`, show that theme; otherwise the chosen one.
fn sync_theme_preview(app: &mut App) {
    let wanted = match app.overlays.last() {
        Some(Overlay::Palette(p)) => p.highlighted().and_then(|e| match &e.action {
            Action::Theme(name) => Some(name.clone()),
            _ => None,
        }),
        _ => None,
    };
    match wanted {
        Some(name) => app.preview_theme(&name),
        None => app.end_theme_preview(),
    }
}

/// Read the repository's git state in a blocking task (newest request wins).
pub(crate) fn refresh_repo(app: &mut App) {
    if app.session.file_only.is_some() {
        return;
    }
    let root = app.session.repo_root.clone();
    app.session.repo = RepoState::Loading;
    app.effects.push(Effect::Spawn(Task::blocking(
        TaskKey::new("repo-status"),
        "reading git status",
        move || BackendEvent::App(Event::RepoStatusLoaded(git::status(&root))),
    )));
}

/// Re-read the cluster definition from disk in a blocking task.
fn reload_cluster(app: &mut App) {
    if app.session.file_only.is_some() {
        return;
    }
    let root = app.session.repo_root.clone();
    let path = app.session.cluster.path.clone();
    app.effects.push(Effect::Spawn(Task::blocking(
        TaskKey::new("cluster-config"),
        "reading the cluster definition",
        move || {
            let loaded = crate::config::load_cluster(&root, &path);
            BackendEvent::App(Event::ClusterLoaded(Box::new(loaded)))
        },
    )));
}

/// Run `f` on screen `id` with an [`UpdateCx`], then apply what it asked for.
pub(crate) fn with_screen<R>(
    app: &mut App,
    id: ScreenId,
    f: impl FnOnce(&mut dyn Screen, &mut UpdateCx) -> R,
) -> R {
    with_screens(app, id, |screens, cx| f(screens.get_mut(id), cx))
}

/// Run `f` on the screens with the [`UpdateCx`] of screen `id`, then apply what it asked for.
fn with_screens<R>(
    app: &mut App,
    id: ScreenId,
    f: impl FnOnce(&mut Screens, &mut UpdateCx) -> R,
) -> R {
    let App {
        screens,
        session,
        keymap,
        tick,
        ..
    } = app;
    let mut cx = UpdateCx::new(session, keymap, id, *tick);
    let result = f(screens, &mut cx);
    let commands = cx.into_commands();
    apply(app, commands);
    result
}

fn apply(app: &mut App, commands: Vec<Command>) {
    for c in commands {
        match c {
            Command::Toast(level, text) => app.toasts.push(level, text, app.tick),
            Command::Status(text) => app.status = Some((Level::Info, text)),
            Command::Open(id) => open(app, id),
            Command::Back => back(app),
            Command::Confirm(c) => app.overlays.push(Overlay::Confirm(c)),
            Command::WithdrawConfirm { owner, tag } => app.overlays.retain(
                |o| !matches!(o, Overlay::Confirm(c) if c.owner == Some(owner) && c.tag == tag),
            ),
            Command::Badge(b, h) => {
                if let Some(i) = Badge::ALL.iter().position(|x| *x == b) {
                    app.session.badges[i] = h;
                }
            }
            Command::Effect(e) => app.effects.push(e),
            Command::Quit => quit_now(app),
        }
    }
}

/// Go to a screen. One that needs a repository says so in a one-file session.
pub(crate) fn open(app: &mut App, id: ScreenId) {
    if id == app.current {
        return;
    }
    if app.session.file_only.is_some() && id.info().needs_repo {
        app.toasts.push(
            Level::Warn,
            format!(
                "{} needs a repository (config/clusters/); this session edits one file only.",
                id.title()
            ),
            app.tick,
        );
        return;
    }
    let from = app.current;
    with_screen(app, from, |s, cx| s.on_leave(cx));
    if id == ScreenId::Home {
        app.history.clear();
    } else {
        app.history.retain(|s| *s != id);
        app.history.push(from);
    }
    app.current = id;
    app.status = None;
    with_screen(app, id, |s, cx| s.on_enter(cx));
}

fn back(app: &mut App) {
    if app.current == ScreenId::Home || app.session.file_only.is_some() {
        request_quit(app);
        return;
    }
    let to = app.history.pop().unwrap_or(ScreenId::Home);
    let from = app.current;
    with_screen(app, from, |s, cx| s.on_leave(cx));
    app.current = to;
    app.status = None;
    with_screen(app, to, |s, cx| s.on_enter(cx));
}

/// Quit, asking first when a screen reports running work.
fn request_quit(app: &mut App) {
    let busy = busy(app);
    if busy.is_empty() {
        quit_now(app);
    } else {
        app.overlays.push(Overlay::Confirm(
            ConfirmState::new(
                "quit",
                "Quit homelab?",
                format!("Still running: {}. Quitting stops it.", busy.join("; ")),
            )
            .labels("Quit", "Stay"),
        ));
    }
}

/// What the screens report running (quitting asks first; a cluster switch waits).
pub(crate) fn busy(app: &App) -> Vec<String> {
    ScreenId::ALL
        .iter()
        .filter_map(|id| app.screens.get(*id).busy())
        .collect()
}

fn quit_now(app: &mut App) {
    if !app.quitting {
        app.quitting = true;
        app.effects.push(Effect::Quit);
    }
}

/// Run an action: the current screen first, then the app's global handling.
pub(crate) fn dispatch(app: &mut App, action: Action) {
    let id = app.current;
    let handled = with_screen(app, id, |s, cx| s.on_action(&action, cx));
    if handled == Handled::No {
        global(app, action);
    }
}

fn global(app: &mut App, action: Action) {
    match action {
        Action::Quit | Action::Cancel => request_quit(app),
        Action::Back => back(app),
        // Esc dismisses error toasts first; only when there were none does it go back.
        Action::Close if !app.toasts.dismiss_errors() && app.current != ScreenId::Home => back(app),
        Action::Suspend => app.effects.push(Effect::Suspend),
        Action::Help => app
            .overlays
            .push(Overlay::Help(HelpState::new(&app.keymap, app.current))),
        Action::Palette => {
            let entries = palette_entries(app);
            app.overlays
                .push(Overlay::Palette(PaletteState::new(entries)));
        }
        Action::DismissToasts => {
            app.toasts.clear();
        }
        Action::Open(id) => open(app, id),
        Action::Theme(name) => app.set_theme(&name),
        Action::Cluster(name) => cluster_switch::request(app, &name),
        Action::NextCluster => cluster_switch::next(app),
        Action::Refresh => {
            refresh_repo(app);
            reload_cluster(app);
        }
        _ => {}
    }
}

/// What the palette lists, in this order: screens, this screen's actions, global actions, themes.
fn palette_entries(app: &App) -> Vec<Entry> {
    let ctx = app.current.name();
    let key = |action: &Action| {
        app.keymap
            .key_for(ctx, action)
            .or_else(|| app.keymap.key_for("global", action))
            .map(|k| k.to_string())
    };
    let mut out: Vec<Entry> = Vec::new();
    for id in ScreenId::ALL
        .iter()
        .copied()
        .filter(|id| *id != app.current)
    {
        let action = Action::Open(id);
        out.push(Entry {
            command: action.to_string(),
            desc: format!("{} · {}", id.title(), id.blurb()),
            key: key(&action),
            action,
        });
    }
    let skip = |a: &Action| {
        matches!(
            a,
            Action::Up
                | Action::Down
                | Action::Left
                | Action::Right
                | Action::Top
                | Action::Bottom
                | Action::PageUp
                | Action::PageDown
                | Action::NextPane
                | Action::PrevPane
                | Action::Select
                | Action::Close
                | Action::Back
                | Action::Palette
                | Action::Open(_)
                | Action::NextMatch
                | Action::PrevMatch
                | Action::Search
                | Action::Confirm
        )
    };
    // With one definition there is no other cluster to switch to.
    let single = app.session.clusters.len() < 2;
    for context in [ctx, "global"] {
        for b in app.keymap.bindings(context) {
            if skip(&b.action)
                || (single && b.action == Action::NextCluster)
                || out.iter().any(|e| e.action == b.action)
            {
                continue;
            }
            out.push(Entry {
                command: b.action.to_string(),
                desc: b.desc.clone(),
                key: b.keys.first().map(|k| k.to_string()),
                action: b.action.clone(),
            });
        }
    }
    if !out.iter().any(|e| e.action == Action::Quit) {
        out.push(Entry {
            command: "quit".into(),
            desc: "Quit homelab (asks if work is running)".into(),
            key: None,
            action: Action::Quit,
        });
    }
    out.extend(cluster_switch::palette_entries(app));
    for name in app.themes.names() {
        let current = name == app.theme.name || app.theme.name.starts_with(&format!("{name} "));
        let desc = if current {
            "Colour theme (current)".to_owned()
        } else {
            "Switch the colour theme".to_owned()
        };
        out.push(Entry {
            command: format!("theme {name}"),
            desc,
            key: None,
            action: Action::Theme(name),
        });
    }
    out
}

/// Apply what an overlay decided.
pub(crate) fn outcome(app: &mut App, outcome: Outcome) {
    match outcome {
        Outcome::Stay => {}
        Outcome::Close => {
            let closed = app.overlays.pop();
            app.end_theme_preview();
            if let Some(crate::overlays::Overlay::Confirm(c)) = closed
                && let Some(id) = c.owner
            {
                with_screen(app, id, |s, cx| s.on_declined(&c.tag, cx));
            }
        }
        Outcome::Run(action) => {
            app.overlays.pop();
            app.end_theme_preview();
            dispatch(app, action);
        }
        Outcome::Confirmed { owner, tag } => {
            app.overlays.pop();
            match owner {
                Some(id) => {
                    with_screen(app, id, |s, cx| s.on_confirmed(&tag, cx));
                }
                None if tag == "quit" => quit_now(app),
                None => tracing::warn!(%tag, "confirmation without an owner"),
            }
        }
    }
}

/// Deliver a backend event to its owner only: the app, or the one screen whose event it is.
fn backend(app: &mut App, ev: BackendEvent) {
    match Screens::route(ev) {
        Ok((id, deliver)) => with_screens(app, id, deliver),
        Err(ev) => app_event(app, ev),
    }
}

fn app_event(app: &mut App, ev: Event) {
    match ev {
        Event::RepoStatusLoaded(result) => {
            app.session.repo = match result {
                Ok(st) => RepoState::Loaded(st),
                Err(e) => {
                    // Fades: the repository pane and the top bar keep showing it.
                    app.toasts.push(Level::Warn, format!("git: {e}"), app.tick);
                    RepoState::Failed(e)
                }
            };
        }
        Event::ClusterLoaded(loaded) => {
            match &loaded.config {
                Ok(_) => app.status = Some((Level::Info, format!("Re-read {}", loaded.display))),
                Err(_) => super::cluster_switch::toast_problems(app, &loaded),
            }
            app.session.cluster = *loaded;
        }
        Event::ClusterSwitched(result) => cluster_switch::switched(app, result),
        Event::TaskFailed { key, error } => {
            app.toasts.push(
                Level::Error,
                format!("task `{key}` failed: {error}"),
                app.tick,
            );
        }
    }
}

/// 250 ms tick: expire toasts, animate. True when a redraw is needed.
fn tick(app: &mut App) -> bool {
    app.tick += 1;
    let mut dirty = app.toasts.expire(app.tick);
    dirty |= app.toasts.iter().any(|t| t.fading(app.tick));
    dirty |= app.session.repo == RepoState::Loading;
    let id = app.current;
    dirty |= with_screen(app, id, |s, cx| s.on_tick(cx));
    dirty
}
