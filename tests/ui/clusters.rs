//! Several cluster definitions: the home screen names the current one, the palette lists
//! `cluster NAME` for each, and switching builds the screens again for the chosen cluster, so
//! the wizard reads that cluster's journal. Frames in snapshots/home/home_two_clusters* and
//! snapshots/overlays/palette_clusters*.

use crate::support::{self, assert_frames, backend, press, type_text};
use homelab::app::{App, Session};
use homelab::config::load_cluster;
use homelab::msg::BackendEvent;
use homelab::runtime::effects::{Effect, Effects, Job, Task};
use homelab::screens::ScreenId;

fn two_clusters() -> App {
    let mut app = support::app();
    app.session.clusters = vec!["prox-n100".into(), "sandbox".into()];
    app
}

#[test]
fn home_two_clusters() {
    let mut app = two_clusters();
    assert_frames("home", "home_two_clusters", &mut app);
}

#[test]
fn palette_lists_the_clusters() {
    let mut app = two_clusters();
    press(&mut app, ":");
    type_text(&mut app, "cluster");
    assert_frames("overlays", "palette_clusters", &mut app);
}

/// A repository on disk with prox-n100 and a sandbox (other name and addresses).
fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let clusters = dir.path().join("config/clusters");
    std::fs::create_dir_all(&clusters).unwrap();
    let text = support::fixture_cluster_text();
    std::fs::write(clusters.join("prox-n100.yaml"), &text).unwrap();
    let sandbox = text
        .replace("name: prox-n100", "name: sandbox")
        .replace("192.168.1.", "192.168.50.");
    std::fs::write(clusters.join("sandbox.yaml"), sandbox).unwrap();
    dir
}

fn app_in(root: &std::path::Path) -> App {
    let cluster = load_cluster(root, &root.join("config/clusters/prox-n100.yaml"));
    let mut session = Session::new(root.to_path_buf(), cluster);
    session.clusters = vec!["prox-n100".into(), "sandbox".into()];
    support::app_with(session, "homelab-dark")
}

/// The spawned tasks with key `key`, taken out of `effects`.
fn take(effects: Effects, key: &str) -> Vec<Task> {
    effects
        .into_iter()
        .filter_map(|e| match e {
            Effect::Spawn(t) if t.key.to_string() == key => Some(t),
            _ => None,
        })
        .collect()
}

/// Run a blocking task as the runtime would and return its event.
fn run(task: Task) -> BackendEvent {
    match task.job {
        Job::Blocking(f) => f(),
        _ => panic!("`{}` is not a blocking task", task.key),
    }
}

/// The label of the journal read the wizard asks for when it is opened.
fn journal_read_on_entering_the_wizard(app: &mut App) -> String {
    let key = app
        .keymap
        .key_for("home", &homelab::msg::Action::Open(ScreenId::Wizard))
        .expect("the wizard has a home key")
        .to_string();
    let reads = take(press(app, &key), "wizard-history");
    assert_eq!(reads.len(), 1, "entering the wizard reads the journal once");
    reads[0].label.clone()
}

#[test]
fn switching_cluster_switches_the_journal_the_wizard_reads() {
    let dir = repo();
    let mut app = app_in(dir.path());
    assert_eq!(
        journal_read_on_entering_the_wizard(&mut app),
        "read the bootstrap journal of cluster prox-n100"
    );
    press(&mut app, "q");
    assert_eq!(app.current, ScreenId::Home);

    // `:cluster sandbox` reads the definition in a task; its event switches.
    press(&mut app, ":");
    type_text(&mut app, "cluster sandbox");
    let reads = take(press(&mut app, "enter"), "cluster-switch");
    assert_eq!(reads.len(), 1, "the palette asks for the definition");
    assert_eq!(
        app.session.cluster.name, "prox-n100",
        "not before it is read"
    );
    let event = reads.into_iter().map(run).next().unwrap();
    backend(&mut app, event);
    assert_eq!(app.session.cluster.name, "sandbox");
    assert_eq!(app.session.cluster.display, "config/clusters/sandbox.yaml");
    let ips: Vec<String> = app
        .session
        .cluster
        .config
        .as_ref()
        .unwrap()
        .vms
        .iter()
        .map(|v| v.ip.to_string())
        .collect();
    assert_eq!(ips, ["192.168.50.21", "192.168.50.31", "192.168.50.32"]);
    assert_eq!(app.current, ScreenId::Home);
    assert_eq!(
        journal_read_on_entering_the_wizard(&mut app),
        "read the bootstrap journal of cluster sandbox"
    );

    // The home key goes to the next definition, wrapping around.
    press(&mut app, "q");
    let key = app
        .keymap
        .key_for("home", &homelab::msg::Action::NextCluster)
        .expect("next_cluster has a home key")
        .to_string();
    let reads = take(press(&mut app, &key), "cluster-switch");
    let event = reads.into_iter().map(run).next().expect("a switch task");
    backend(&mut app, event);
    assert_eq!(app.session.cluster.name, "prox-n100");
}

#[test]
fn an_unknown_cluster_is_an_error_naming_the_available_ones() {
    let dir = repo();
    let mut app = app_in(dir.path());
    let reads = take(
        support::act(&mut app, homelab::msg::Action::Cluster("nowhere".into())),
        "cluster-switch",
    );
    let event = reads.into_iter().map(run).next().expect("a switch task");
    backend(&mut app, event);
    assert_eq!(app.session.cluster.name, "prox-n100");
    let toast = app
        .toasts
        .iter()
        .map(|t| t.text.clone())
        .collect::<Vec<_>>();
    assert_eq!(
        toast,
        [
            "cluster: cluster `nowhere` not found in config/clusters/ (available: prox-n100, sandbox)"
        ]
    );
}

#[test]
fn no_switch_while_work_runs() {
    let dir = repo();
    let mut app = app_in(dir.path());
    let key = app
        .keymap
        .key_for("home", &homelab::msg::Action::Open(ScreenId::Check))
        .expect("the check screen has a home key")
        .to_string();
    press(&mut app, &key);
    assert!(
        app.screens.get(ScreenId::Check).busy().is_some(),
        "check runs on entering"
    );
    let effects = support::act(&mut app, homelab::msg::Action::Cluster("sandbox".into()));
    assert!(
        take(effects, "cluster-switch").is_empty(),
        "nothing is read"
    );
    assert_eq!(app.session.cluster.name, "prox-n100");
    let toasts: Vec<String> = app.toasts.iter().map(|t| t.text.clone()).collect();
    assert_eq!(
        toasts,
        [
            "cannot switch to cluster sandbox yet: in cluster prox-n100, homelab check; let it finish or cancel it (Ctrl-C), save or undo open changes, then switch"
        ]
    );
}
