//! homelab: the library behind the `homelab` binary. Layers, top down (docs/code-layout.md,
//! "Layers"; tests/architecture.rs checks them): commands (every subcommand's entry point) ->
//! TUI (app, runtime, screens, overlays, widgets, theme, keymap) -> stages, repo -> backends,
//! secrets, sim -> domain, config.

pub mod app;
pub mod atomic_write;
pub mod backends;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diag;
pub mod domain;
pub mod editor;
pub mod keymap;
pub mod lockfile;
pub mod logging;
pub mod msg;
pub mod overlays;
pub mod repo;
pub mod runtime;
pub mod scaffold;
pub mod screens;
pub mod secrets;
pub mod settings;
pub mod shell_quote;
pub mod sim;
pub mod stages;
pub mod theme;
pub mod widgets;
