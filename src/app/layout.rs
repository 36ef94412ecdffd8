//! The frame's layout, shared by `view` and mouse hit-testing so clicks land on what is drawn.

use ratatui::layout::Rect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameAreas {
    pub top: Rect,
    pub body: Rect,
    pub bottom: Rect,
}

/// One line of top bar, one line of bottom bar, the body in between.
pub fn frame_areas(area: Rect) -> FrameAreas {
    let top = Rect {
        height: area.height.min(1),
        ..area
    };
    let bottom_h = if area.height >= 2 { 1 } else { 0 };
    let bottom = Rect {
        y: area.bottom().saturating_sub(bottom_h),
        height: bottom_h,
        ..area
    };
    let body = Rect {
        y: top.bottom(),
        height: area.height.saturating_sub(top.height + bottom_h),
        ..area
    };
    FrameAreas { top, body, bottom }
}
