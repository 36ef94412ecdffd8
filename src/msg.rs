//! The messages that drive the app: [`Msg`] in, [`Action`] (user intent, from the keymap or the
//! palette), [`BackendEvent`] (results of effects, past tense). Effects live in
//! [`crate::runtime::effects`].

use crate::screens::ScreenId;
use crossterm::event::{KeyEvent, MouseEvent};
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;

/// Everything `app::update` reacts to.
#[derive(Debug)]
pub enum Msg {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Paste(String),
    Resize(u16, u16),
    /// An action injected directly (palette, tests, scripted input).
    Action(Action),
    Backend(BackendEvent),
    /// Fires every 250 ms: toast expiry, spinners, chord timeouts.
    Tick,
}

/// User intent. The keymap's `run = "..."` and the command palette both parse into this, with
/// the same text form (`open console`, `theme homelab-light`, `page_down`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub enum Action {
    // --- app ---
    /// Quit (asks first when work is running).
    Quit,
    /// `q`: back to the previous screen; on the home screen, quit.
    Back,
    /// `Esc`: close the top overlay, leave a mode, dismiss error toasts, else back.
    Close,
    /// `Ctrl-C`: cancel the running step (the screen asks), else quit.
    Cancel,
    /// `Ctrl-Z`: suspend to the shell.
    Suspend,
    Help,
    Palette,
    /// Dismiss every toast.
    DismissToasts,
    Open(ScreenId),
    /// Switch the colour theme live.
    Theme(String),
    /// Switch to the cluster definition `config/clusters/<name>.yaml` (`:cluster NAME`).
    Cluster(String),
    /// Switch to the next cluster definition (home screen).
    NextCluster,
    // --- movement (lists, logs, forms) ---
    Up,
    Down,
    Left,
    Right,
    Top,
    Bottom,
    PageUp,
    PageDown,
    Select,
    NextPane,
    PrevPane,
    Search,
    NextMatch,
    PrevMatch,
    Refresh,
    // --- confirm overlay ---
    Confirm,
    // --- wizard ---
    Plan,
    Run,
    /// Wizard: run the stage changing drift back (each destructive write asks first).
    Reconcile,
    Retry,
    Skip,
    ToggleLog,
    // --- console ---
    Follow,
    Wrap,
    Timestamps,
    Zoom,
    /// Logs: append a `|= ""` line filter to the LogQL query and edit it.
    LineFilter,
    /// Logs: show only search matches with context lines, or everything.
    ContextLines,
    /// Logs: show the stream label column.
    Labels,
    /// Logs: jump to a time.
    JumpTo,
    /// Logs: set the history window (last N minutes or M lines).
    Window,
    /// Logs: copy the selected line (OSC 52).
    Copy,
    /// Alerts: labels and annotations of the selected alert.
    Details,
    /// Alerts: silence the selected alert (asks for duration and comment).
    Silence,
    /// Alerts: expire the silences of the selected alert (asks).
    Expire,
    /// Alerts: the incident view of the selected alert (Flux owner, pods, logs, Proxmox VM).
    Incident,
    /// The env editor's changed-on-disk popup: apply the unsaved edits on top of the file on disk.
    Merge,
    /// Give the first pane more / less room.
    Grow,
    Shrink,
    // --- env editor ---
    Edit,
    Add,
    Delete,
    Reveal,
    Save,
    /// Reveal / mask every value (env editor).
    RevealAll,
    /// Rename the selected key (env editor).
    Rename,
    /// Undo the last edit (env editor).
    Undo,
}

/// Action names without an argument, in one table so parse and display agree.
const SIMPLE: &[(&str, Action)] = &[
    ("quit", Action::Quit),
    ("back", Action::Back),
    ("close", Action::Close),
    ("cancel", Action::Cancel),
    ("suspend", Action::Suspend),
    ("help", Action::Help),
    ("palette", Action::Palette),
    ("dismiss_toasts", Action::DismissToasts),
    ("next_cluster", Action::NextCluster),
    ("up", Action::Up),
    ("down", Action::Down),
    ("left", Action::Left),
    ("right", Action::Right),
    ("top", Action::Top),
    ("bottom", Action::Bottom),
    ("page_up", Action::PageUp),
    ("page_down", Action::PageDown),
    ("select", Action::Select),
    ("next_pane", Action::NextPane),
    ("prev_pane", Action::PrevPane),
    ("search", Action::Search),
    ("next_match", Action::NextMatch),
    ("prev_match", Action::PrevMatch),
    ("refresh", Action::Refresh),
    ("confirm", Action::Confirm),
    ("plan", Action::Plan),
    ("run", Action::Run),
    ("reconcile", Action::Reconcile),
    ("retry", Action::Retry),
    ("skip", Action::Skip),
    ("toggle_log", Action::ToggleLog),
    ("follow", Action::Follow),
    ("wrap", Action::Wrap),
    ("timestamps", Action::Timestamps),
    ("zoom", Action::Zoom),
    ("line_filter", Action::LineFilter),
    ("context_lines", Action::ContextLines),
    ("labels", Action::Labels),
    ("jump_to", Action::JumpTo),
    ("window", Action::Window),
    ("copy", Action::Copy),
    ("details", Action::Details),
    ("silence", Action::Silence),
    ("expire", Action::Expire),
    ("incident", Action::Incident),
    ("merge", Action::Merge),
    ("grow", Action::Grow),
    ("shrink", Action::Shrink),
    ("edit", Action::Edit),
    ("add", Action::Add),
    ("delete", Action::Delete),
    ("reveal", Action::Reveal),
    ("save", Action::Save),
    ("reveal_all", Action::RevealAll),
    ("rename", Action::Rename),
    ("undo", Action::Undo),
];

impl Action {
    /// Every action name the keymap accepts, for error messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        SIMPLE
            .iter()
            .map(|(n, _)| *n)
            .chain(["open <screen>", "theme <name>", "cluster <name>"])
    }
}

impl FromStr for Action {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (head, arg) = match text.split_once(char::is_whitespace) {
            Some((h, a)) => (h, Some(a.trim())),
            None => (text, None),
        };
        match (head, arg) {
            ("open", Some(screen)) => {
                ScreenId::from_name(screen)
                    .map(Action::Open)
                    .ok_or_else(|| {
                        format!(
                            "unknown screen `{screen}` (expected one of: {})",
                            ScreenId::names()
                        )
                    })
            }
            ("theme", Some(name)) if !name.is_empty() => Ok(Action::Theme(name.to_owned())),
            ("cluster", Some(name)) if !name.is_empty() => Ok(Action::Cluster(name.to_owned())),
            (name, None) => SIMPLE
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| a.clone())
                .ok_or_else(|| format!("unknown action `{name}`")),
            (name, Some(_)) => Err(format!(
                "unknown action `{text}` (`{name}` takes no argument)"
            )),
        }
    }
}

impl TryFrom<String> for Action {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        value.parse()
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Open(id) => write!(f, "open {}", id.name()),
            Action::Theme(name) => write!(f, "theme {name}"),
            Action::Cluster(name) => write!(f, "cluster {name}"),
            other => {
                let name = SIMPLE
                    .iter()
                    .find(|(_, a)| a == other)
                    .map(|(n, _)| *n)
                    .unwrap_or("?");
                f.write_str(name)
            }
        }
    }
}

/// Results coming back from effects, past tense, one variant per owner. Each owner defines its
/// enum in its own module and gets its events only: the app (`app::Event`), or a screen (its
/// registry entry in `screens/mod.rs` says `events: module::Event`; a variant here without that
/// entry does not compile).
#[derive(Debug)]
pub enum BackendEvent {
    /// Repository and cluster state, failed tasks: the app's own.
    App(crate::app::Event),
    Wizard(crate::screens::wizard::Event),
    Console(crate::screens::console::events::ConsoleEvent),
    Env(crate::screens::env::Event),
    Check(crate::screens::check::Event),
    Scaffold(crate::screens::scaffold::Event),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_simple_action_round_trips() {
        for (name, action) in SIMPLE {
            assert_eq!(name.parse::<Action>().as_ref(), Ok(action));
            assert_eq!(action.to_string(), *name);
        }
    }

    #[test]
    fn actions_with_arguments() {
        assert_eq!("open console".parse(), Ok(Action::Open(ScreenId::Console)));
        assert_eq!(
            "theme  homelab-light ".parse(),
            Ok(Action::Theme("homelab-light".into()))
        );
        assert_eq!(Action::Theme("x".into()).to_string(), "theme x");
        assert_eq!(
            "cluster sandbox".parse(),
            Ok(Action::Cluster("sandbox".into()))
        );
        assert_eq!(
            Action::Cluster("sandbox".into()).to_string(),
            "cluster sandbox"
        );
        assert_eq!(
            "open nowhere".parse::<Action>(),
            Err(format!(
                "unknown screen `nowhere` (expected one of: {})",
                ScreenId::names() // the registered screens: home, wizard, console, ...
            ))
        );
        assert_eq!(
            "jump".parse::<Action>(),
            Err("unknown action `jump`".into())
        );
        assert_eq!(
            "quit now".parse::<Action>(),
            Err("unknown action `quit now` (`quit` takes no argument)".into())
        );
    }
}
