//! `homelab check` and the GitOps tree: the real tree passes, every rule has a broken fixture
//! that fails with that rule's id at the right file:line, the CLI's exit codes and JSON, the
//! check screen's frames, and the outside cross-checks (kubectl kustomize on every
//! kustomization, shellcheck on the scripts).

mod support;

#[path = "check/fixture.rs"]
mod fixture;

#[path = "check/rules.rs"]
mod rules;

#[path = "check/cli.rs"]
mod cli;

#[path = "check/outdated.rs"]
mod outdated;

#[path = "check/peers.rs"]
mod peers;

#[path = "check/tui.rs"]
mod tui;
