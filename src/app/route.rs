//! Input routing: top overlay -> focused text input -> screen keymap -> global keymap.
//! The first layer that takes the input wins.

use super::App;
use super::layout::frame_areas;
use super::toasts_view as toasts;
use super::update::{dispatch, outcome, with_screen};
use crate::keymap::Key;
use crate::overlays::Outcome;
use crate::screens::Handled;
use crossterm::event::{KeyEvent, KeyEventKind, MouseButton, MouseEvent, MouseEventKind};

pub(crate) fn key(app: &mut App, ev: KeyEvent) {
    if ev.kind == KeyEventKind::Release {
        return;
    }
    let key = Key::from_event(&ev);
    // 1. The top overlay is modal: it gets every key.
    if let Some(top) = app.overlays.last_mut() {
        let result = if top.text_input_active() && top.on_text_key(ev) {
            Outcome::Stay
        } else {
            match app.keymap.lookup(top.context(), key) {
                Some(b) => top.on_action(&b.action),
                None => Outcome::Stay,
            }
        };
        outcome(app, result);
        return;
    }
    // 2. A focused text field on the screen.
    let id = app.current;
    let typed = with_screen(app, id, |s, cx| {
        s.text_input_active() && s.on_text_key(ev, cx) == Handled::Yes
    });
    if typed {
        return;
    }
    // 3. The screen's keymap, then 4. the global one.
    let action = app
        .keymap
        .lookup(id.name(), key)
        .or_else(|| app.keymap.lookup("global", key))
        .map(|b| b.action.clone());
    if let Some(action) = action {
        dispatch(app, action);
    }
}

pub(crate) fn mouse(app: &mut App, ev: MouseEvent) {
    let area = app.size;
    if let Some(top) = app.overlays.last_mut() {
        let result = top.on_mouse(ev, area);
        outcome(app, result);
        return;
    }
    let areas = frame_areas(area);
    let pos = (ev.column, ev.row).into();
    if let MouseEventKind::Down(MouseButton::Left) = ev.kind
        && let Some(i) = toasts::layout(&app.toasts, areas.body)
            .iter()
            .position(|r| r.contains(pos))
    {
        app.toasts.dismiss(i);
        return;
    }
    if areas.body.contains(pos) {
        let id = app.current;
        with_screen(app, id, |s, cx| s.on_mouse(ev, areas.body, cx));
    }
}

pub(crate) fn paste(app: &mut App, text: &str) {
    if let Some(top) = app.overlays.last_mut() {
        top.on_paste(text);
        return;
    }
    let id = app.current;
    with_screen(app, id, |s, cx| s.on_paste(text, cx));
}
