//! homelab: the library behind the `homelab` binary. Layers (see docs/architecture.md):
//! TUI (app, runtime, screens, overlays, widgets, theme, keymap) -> stages, console models,
//! secrets, repo -> backends, domain, config, sim.

pub mod cli;
pub mod config;
pub mod domain;
pub mod secrets;
