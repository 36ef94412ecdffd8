//! Switching the cluster the app works on (`:cluster NAME`, the home screen's next-cluster
//! key). The definition is read in a blocking task; when it arrives the screens are built
//! again for it, so each cluster keeps its own journal (the wizard reads
//! `<state dir>/<cluster>/journal.jsonl`), env file (`config/env/<cluster>.env`) and kube
//! context (named after the cluster). Refused while a screen has work running.

use super::update::{busy, with_screen};
use super::{App, Event};
use crate::config::{LoadedCluster, choose_cluster, cluster_names, load_cluster};
use crate::msg::{Action, BackendEvent};
use crate::overlays::palette::Entry;
use crate::runtime::effects::{Effect, Task, TaskKey};
use crate::screens::{ScreenId, Screens, StartParams};
use crate::theme::{Health, Level};

/// What the switch task found: the definition and the repository's current list of names.
pub type Switched = Result<(Box<LoadedCluster>, Vec<String>), String>;

/// `:cluster NAME`: read that definition (a task), unless it is the current one or work runs.
pub(crate) fn request(app: &mut App, name: &str) {
    if app.session.file_only.is_some() {
        app.toasts.push(
            Level::Warn,
            "this session edits one file only; there is no cluster to switch".to_owned(),
            app.tick,
        );
        return;
    }
    if name == app.session.cluster.name {
        app.status = Some((Level::Info, format!("Already on cluster {name}")));
        return;
    }
    if let Some(busy) = running(app) {
        app.toasts.push(
            Level::Error,
            format!("cannot switch to cluster {name} yet: in cluster {}, {busy}; let it finish or cancel it (Ctrl-C), save or undo open changes, then switch", app.session.cluster.name),
            app.tick,
        );
        return;
    }
    let root = app.session.repo_root.clone();
    let name = name.to_owned();
    app.effects.push(Effect::Spawn(Task::blocking(
        TaskKey::new("cluster-switch"),
        format!("reading cluster definition {name}"),
        move || BackendEvent::App(Event::ClusterSwitched(read(&root, &name))),
    )));
}

/// The next definition after the current one (wrapping), as `:cluster NAME` would.
pub(crate) fn next(app: &mut App) {
    let names = &app.session.clusters;
    let next = match names.iter().position(|c| *c == app.session.cluster.name) {
        Some(i) => names.get((i + 1) % names.len()),
        None => names.first(),
    };
    match next.cloned() {
        Some(name) if name != app.session.cluster.name => request(app, &name),
        _ => {
            app.status = Some((
                Level::Info,
                "config/clusters/ holds one cluster definition: nothing to switch to".to_owned(),
            ))
        }
    }
}

/// The task body: the definition of `name` and every name, or the message to show.
fn read(root: &std::path::Path, name: &str) -> Switched {
    let file = choose_cluster(root, Some(name))?;
    let names = cluster_names(root)?;
    Ok((Box::new(load_cluster(root, &file)), names))
}

/// The definition arrived: rebuild the screens for it and go home.
pub(crate) fn switched(app: &mut App, result: Switched) {
    let (loaded, names) = match result {
        Ok(found) => found,
        Err(e) => {
            app.toasts
                .push(Level::Error, format!("cluster: {e}"), app.tick);
            return;
        }
    };
    if let Some(busy) = running(app) {
        app.toasts.push(
            Level::Error,
            format!(
                "did not switch to cluster {}: {busy} started meanwhile; switch again when it ends",
                loaded.name
            ),
            app.tick,
        );
        return;
    }
    let from = app.current;
    with_screen(app, from, |s, cx| s.on_leave(cx));
    toast_problems(app, &loaded);
    app.session.clusters = names;
    app.session.cluster = *loaded;
    app.session.badges = [Health::Unknown; 5];
    // The command line's stage was for the cluster it named; the endpoints stay.
    let start = StartParams {
        wizard_stage: None,
        ..app.start.clone()
    };
    app.screens = Screens::new(&app.session, &start);
    app.history.clear();
    app.current = ScreenId::Home;
    app.status = Some((
        Level::Info,
        format!(
            "Cluster {} ({})",
            app.session.cluster.name, app.session.cluster.display
        ),
    ));
    with_screen(app, ScreenId::Home, |s, cx| s.on_enter(cx));
}

/// What some screen is running, if anything.
fn running(app: &App) -> Option<String> {
    let busy = busy(app);
    (!busy.is_empty()).then(|| busy.join("; "))
}

/// The palette's `cluster NAME` entries, one per definition.
pub(crate) fn palette_entries(app: &App) -> Vec<Entry> {
    // One definition: nothing to switch to, no entry.
    if app.session.file_only.is_some() || app.session.clusters.len() < 2 {
        return Vec::new();
    }
    app.session
        .clusters
        .iter()
        .map(|name| {
            let current = *name == app.session.cluster.name;
            Entry {
                command: format!("cluster {name}"),
                desc: if current {
                    "Cluster (current)".to_owned()
                } else {
                    format!("Switch to config/clusters/{name}.yaml (its own journal, env file and kube context)")
                },
                key: None,
                action: Action::Cluster(name.clone()),
            }
        })
        .collect()
}

/// A toast when the definition just read has problems (the home screen lists them).
pub(super) fn toast_problems(app: &mut App, loaded: &LoadedCluster) {
    if let Err(d) = &loaded.config {
        app.toasts.push(
            Level::Error,
            format!(
                "{} has {} problem(s); see the home screen",
                loaded.display,
                d.len()
            ),
            app.tick,
        );
    }
}
