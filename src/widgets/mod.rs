//! Reusable drawing pieces. Widgets take the [`crate::theme::Theme`] (not the app context);
//! they never name colours. The app's bars and toasts (`bars`, `toasts`) draw app state and
//! still take `ViewCx`.

pub mod bars;
pub mod line_edit;
pub mod list;
pub mod panel;
pub mod popup;
pub mod toasts;
