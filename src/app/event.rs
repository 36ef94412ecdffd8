//! The app's own backend events: shared session state (repository, cluster definition) and
//! tasks that ended without producing their event.

use crate::config::LoadedCluster;
use crate::domain::repo::RepoStatus;
use crate::runtime::effects::TaskKey;

#[derive(Debug)]
pub enum Event {
    /// The repository's git state was read (home screen, top bar).
    RepoStatusLoaded(Result<RepoStatus, String>),
    /// The cluster definition was re-read (`r` on the home screen, `Ctrl-R`).
    ClusterLoaded(Box<LoadedCluster>),
    /// `:cluster NAME`: that definition was read (with every definition's name), or why not.
    ClusterSwitched(super::cluster_switch::Switched),
    /// A task ended without producing its event (it panicked or was dropped); the key says which.
    TaskFailed { key: TaskKey, error: String },
}

impl From<Event> for crate::msg::BackendEvent {
    fn from(event: Event) -> Self {
        crate::msg::BackendEvent::App(event)
    }
}
