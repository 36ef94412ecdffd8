//! `homelab scaffold app`: every source x exposure x storage generates files that pass
//! `homelab check` and build with the real `kubectl kustomize`; refusals and invalid input say
//! why and write nothing; the commit is checked with git2; the Secret decrypts with the real sops.

#[path = "check/fixture.rs"]
#[allow(dead_code)]
mod fixture;

#[path = "sops/support.rs"]
#[allow(dead_code)]
mod sops_support;

/// The foundation's helpers (require_peer), under the name the sops helpers use.
#[path = "support/mod.rs"]
mod ui_support;

#[path = "support/rendered_secrets.rs"]
mod rendered_secrets;

#[path = "scaffold/lab.rs"]
mod lab;

#[path = "scaffold/combinations.rs"]
mod combinations;

#[path = "scaffold/cli.rs"]
mod cli;

#[path = "scaffold/screen.rs"]
mod screen;
