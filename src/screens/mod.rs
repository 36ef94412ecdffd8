//! Screens of the TUI.

pub mod console;
