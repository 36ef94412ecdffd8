//! TUI integration tests: build the App on fixtures, feed it messages, snapshot frames into
//! snapshots/{home,overlays,themes,widgets,wizard}/.

mod support;

#[path = "ui/clusters.rs"]
mod clusters;
#[path = "ui/home.rs"]
mod home;
#[path = "ui/overlays.rs"]
mod overlays;
#[path = "ui/readme.rs"]
mod readme;
#[path = "ui/routing.rs"]
mod routing;
#[path = "ui/themes.rs"]
mod themes;
#[path = "ui/widgets.rs"]
mod widgets;
#[path = "ui/wizard.rs"]
mod wizard;
