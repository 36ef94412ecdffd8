//! Overlays: a stack above the current screen. The top one gets every key first (modal); the
//! app dims what is behind it. Each has its own keymap context.

pub mod confirm;
pub mod help;
pub mod palette;

use crate::app::ViewCx;
use crate::msg::Action;
use crate::screens::ScreenId;
use confirm::ConfirmState;
use crossterm::event::{KeyEvent, MouseEvent};
use help::HelpState;
use palette::PaletteState;
use ratatui::Frame;
use ratatui::layout::Rect;

#[derive(Debug, Clone)]
pub enum Overlay {
    Help(HelpState),
    Palette(PaletteState),
    Confirm(ConfirmState),
}

/// What the app should do after an overlay handled something.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Stay,
    Close,
    /// Close and run this action as if its key was pressed on the screen.
    Run(Action),
    /// Close; the user said yes to the confirm `tag` asked by `owner` (None: the app).
    Confirmed {
        owner: Option<ScreenId>,
        tag: String,
    },
}

impl Overlay {
    /// Keymap context.
    pub fn context(&self) -> &'static str {
        match self {
            Overlay::Help(_) => "help",
            Overlay::Palette(_) => "palette",
            Overlay::Confirm(_) => "confirm",
        }
    }

    pub fn text_input_active(&self) -> bool {
        match self {
            Overlay::Help(_) => false,
            Overlay::Palette(_) => true,
            Overlay::Confirm(c) => c.wants_typing(),
        }
    }

    /// Editing keys for overlays with a text field. True when consumed.
    pub fn on_text_key(&mut self, key: KeyEvent) -> bool {
        match self {
            Overlay::Help(_) => false,
            Overlay::Palette(p) => p.on_text_key(key),
            Overlay::Confirm(c) => c.on_text_key(key),
        }
    }

    /// Bracketed paste into the overlay's text field, if it has one.
    pub fn on_paste(&mut self, text: &str) {
        match self {
            Overlay::Help(_) => {}
            Overlay::Palette(p) => p.paste(text),
            Overlay::Confirm(c) => c.typed.insert_str(text),
        }
    }

    pub fn on_action(&mut self, action: &Action) -> Outcome {
        match self {
            Overlay::Help(h) => h.on_action(action),
            Overlay::Palette(p) => p.on_action(action),
            Overlay::Confirm(c) => c.on_action(action),
        }
    }

    /// Mouse inside the full frame `area`. Clicking outside the overlay closes it.
    pub fn on_mouse(&mut self, ev: MouseEvent, area: Rect) -> Outcome {
        match self {
            Overlay::Help(h) => h.on_mouse(ev, area),
            Overlay::Palette(p) => p.on_mouse(ev, area),
            Overlay::Confirm(c) => c.on_mouse(ev, area),
        }
    }

    pub fn view(&self, frame: &mut Frame, area: Rect, cx: &ViewCx) {
        match self {
            Overlay::Help(h) => h.view(frame, area, cx),
            Overlay::Palette(p) => p.view(frame, area, cx),
            Overlay::Confirm(c) => c.view(frame, area, cx),
        }
    }
}
