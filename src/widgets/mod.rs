//! Reusable drawing pieces. Widgets take the theme from `ViewCx`; they never name colours.

pub mod bars;
pub mod list;
pub mod panel;
pub mod popup;
pub mod text_input;
pub mod toasts;
