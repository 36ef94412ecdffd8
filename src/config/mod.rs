//! The cluster definition: `config/clusters/<name>.yaml`.
//!
//! This is the contract every stage and screen reads. The types in [`schema`] are plain serde
//! data; [`load`] finds the repository and the cluster file and parses it; [`validate`] checks
//! what serde cannot, with `file:line:column` diagnostics.

pub mod discover;
pub mod load;
pub mod locate;
pub mod observability_edit;
pub mod pve_hosts;
pub mod schema;
pub mod service_target;
pub mod validate;

/// The note `homelab demo` commits into its temporary copy of the repository: a tree holding
/// it is a lab copy, whose shipped cluster definition is left out on purpose (`homelab check`
/// then does not ask for it).
pub const LAB_MARKER: &str = "config/DEMO-LAB.md";

pub use discover::{ENV_DIR, cluster_file, env_file, repo_and_cluster, repo_root, valid_cluster};
pub use load::{
    LoadedCluster, choose_cluster, cluster_names, find_repo_root, load_cluster, parse_cluster,
};
pub use pve_hosts::{
    ApiEndpoint, DEFAULT_SNIPPETS_DIR, PveHost, SnippetDelivery, token_secret_key,
};
pub use schema::*;
