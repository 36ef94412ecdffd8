//! Reusable drawing pieces. Widgets take the `&Theme` and never name colours; they know
//! nothing of the app (the top and bottom bars and the toasts are the app's own, in app/).

pub mod doctor;
pub mod line_edit;
pub mod list;
pub mod panel;
pub mod popup;
