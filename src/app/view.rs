//! `view(&App, &mut Frame, &ViewCx)`: pure. Top bar, the current screen, bottom bar, toasts,
//! then overlays over a dimmed background.

use super::App;
use super::ViewCx;
use super::layout::frame_areas;
use super::{bars, toasts_view as toasts};
use crate::widgets::popup;
use ratatui::Frame;

pub fn view(app: &App, frame: &mut Frame, cx: &ViewCx) {
    let area = frame.area();
    let t = cx.theme;
    frame.buffer_mut().set_style(area, t.ui.base);
    let areas = frame_areas(area);

    app.screens.get(app.current).view(frame, areas.body, cx);
    bars::render_top(frame, areas.top, app.current, cx);

    let context = app.context();
    let status = app
        .status
        .as_ref()
        .map(|(level, text)| (text.as_str(), t.level(*level)));
    if app.overlays.is_empty() {
        let hints = cx.keymap.footer_hints(context);
        bars::render_bottom(frame, areas.bottom, hints, status, cx);
    } else {
        bars::render_bottom(frame, areas.bottom, cx.keymap.hints(context), status, cx);
    }
    toasts::render(frame, &app.toasts, areas.body, cx);

    for overlay in &app.overlays {
        popup::dim(frame.buffer_mut(), areas.top.union(areas.body), t.ui.dim);
        overlay.view(frame, area, cx);
    }
}
