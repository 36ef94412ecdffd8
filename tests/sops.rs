//! Interop with the real sops 3.11.0 ELF and Debian's age, both directions, with vectors made at
//! test time. Needs peers; skips with a reason unless HOMELAB_REQUIRE_PEERS=1.

#[path = "sops/support.rs"]
mod support;

#[path = "sops/cluster_secrets.rs"]
mod cluster_secrets;
#[path = "sops/concurrent.rs"]
mod concurrent;
#[path = "sops/crash.rs"]
mod crash;
#[path = "sops/edits.rs"]
mod edits;
#[path = "sops/exposure.rs"]
mod exposure;
#[path = "sops/failures.rs"]
mod failures;
#[path = "sops/interop.rs"]
mod interop;

#[path = "sops/env_screen.rs"]
mod env_screen;
#[path = "sops/stage.rs"]
mod stage;
#[path = "sops/tui.rs"]
mod tui;
/// The foundation's UI test helpers (app fixture, rendering, snapshot settings).
#[path = "support/mod.rs"]
mod ui_support;
