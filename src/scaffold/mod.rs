//! `homelab scaffold app`: a conforming app written into `cluster/kubernetes/apps/<category>/
//! <name>/` (docs/scaffolding.md).
//!
//! [`request`] is the request as typed and as validated (pure, shared by the command line and
//! the form to come), [`facts`] what the tree says that the request depends on (the Gateway's
//! zones, taken names), [`render`] the manifests, [`seal`] the SOPS-encrypted Secret,
//! [`parent`] the in-place edit of the group's kustomization, [`plan`] the preview, diff and
//! write, [`commit`] the git2 commit.

pub mod apply;
pub mod commit;
pub mod facts;
pub mod parent;
pub mod plan;
pub mod push;
pub mod render;
pub mod request;
pub mod seal;
pub mod values_file;
pub mod watch;

pub use facts::TreeFacts;
pub use plan::{Plan, PlannedFile};
pub use request::{AppInput, AppRequest, Field, FieldError, validate};

/// The commit message of a scaffold.
pub fn commit_message(name: &str) -> String {
    format!("apps: add {name}")
}
