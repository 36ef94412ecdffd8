//! The reachability doctor (`backends::doctor`, docs/doctor.md) as a task, for the screens
//! that show a walk: the console's reachability pane and the scaffold screen once its app is
//! Ready. The task reads the doctor's facts from the tree, connects (the Cloudflare tokens
//! only for a public host), walks, and reports every [`WalkEvent`] as it comes; the screen
//! keeps a `domain::doctor::Walk` and draws it with `widgets::doctor`.

use crate::backends::doctor::connect::{self, Setup};
use crate::domain::doctor::{Exposure, Link, WalkEvent};
use crate::msg::BackendEvent;
use crate::runtime::effects::{Task, TaskKey};
use std::path::PathBuf;

/// Where the doctor finds the cluster: the repository, its definition, the kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub repo_root: PathBuf,
    pub definition: PathBuf,
    pub cluster: String,
    pub kubeconfig: PathBuf,
}

/// The walk of `host` as a stream task under `key`; `wrap` makes each report the owner's
/// event.
pub fn task(
    key: TaskKey,
    target: Target,
    host: String,
    exposure: Exposure,
    wrap: impl Fn(WalkEvent) -> BackendEvent + Send + Sync + 'static,
) -> Task {
    Task::stream(key, "reachability doctor", move |sink| async move {
        let t = target;
        let (root, def, cluster) = (t.repo_root.clone(), t.definition.clone(), t.cluster.clone());
        let facts = tokio::task::spawn_blocking(move || {
            crate::repo::doctor_facts::read(&root, &def, &cluster)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        let setup = Setup::from_process(
            t.kubeconfig.clone(),
            &t.cluster,
            crate::config::env_file(&t.repo_root, &t.cluster),
        );
        let doctor = match facts {
            Ok(facts) => connect::connect_for(&setup, facts, exposure).await,
            Err(e) => Err(e),
        };
        let doctor = match doctor {
            Ok(d) => d,
            Err(e) => {
                sink.send(wrap(WalkEvent::Failed(e))).await;
                return;
            }
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel(Link::ALL.len() + 1);
        let walk = async {
            let o = doctor.walk_exposed(&host, exposure, &tx).await;
            drop(tx);
            o
        };
        let forward = async {
            while let Some(f) = rx.recv().await {
                sink.send(wrap(WalkEvent::Found(f))).await;
            }
        };
        let (outcome, ()) = tokio::join!(walk, forward);
        sink.send(wrap(WalkEvent::Done(outcome))).await;
    })
}
