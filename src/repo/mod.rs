//! The GitOps repository as data: the tree model ([`tree`]), the Stage 1 conformance rules
//! ([`check`]), their text/JSON output ([`output`]) and the `homelab check` command ([`cli`]).

pub mod check;
pub mod cli;
pub mod file_read;
pub mod output;
pub mod tree;
