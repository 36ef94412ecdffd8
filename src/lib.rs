//! homelab: the library behind the `homelab` binary. Layers (see docs/architecture.md):
//! TUI (app, runtime, screens, overlays, widgets, theme, keymap) -> stages, console models,
//! secrets, repo -> backends, domain, config, sim.

pub mod app;
pub mod backends;
pub mod cli;
pub mod config;
pub mod diag;
pub mod domain;
pub mod editor;
pub mod headless;
pub mod keymap;
pub mod launch;
pub mod lockfile;
pub mod logging;
pub mod msg;
pub mod overlays;
pub mod repo;
pub mod runtime;
pub mod screens;
pub mod secrets;
pub mod settings;
pub mod sim;
pub mod stages;
pub mod theme;
pub mod widgets;
