//! Render benchmarks: a full home-screen frame (view + terminal diff into a TestBackend) at
//! 200x60 and 80x24, the help overlay, and palette filtering per keystroke.
//! Run: `cargo bench --bench render`. Medians are recorded in docs/performance.md.

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::app;
use homelab::msg::Action;
use homelab::overlays::palette::{Entry, PaletteState};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;
use std::hint::black_box;

fn frame(c: &mut Criterion, name: &str, w: u16, h: u16, setup: impl Fn(&mut homelab::app::App)) {
    let mut app = support::app();
    setup(&mut app);
    app.size = Rect::new(0, 0, w, h);
    let now = support::now();
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    c.bench_function(name, |b| {
        b.iter(|| {
            // Alternate two ticks so the spinner-free frame still differs from the last one
            // only where it would in the real loop (the diff stays honest, not empty).
            app.tick = app.tick.wrapping_add(1);
            terminal
                .draw(|f| app::view(&app, f, &app.view_cx(now)))
                .expect("draw");
            black_box(terminal.backend().buffer().area);
        })
    });
}

fn render(c: &mut Criterion) {
    frame(c, "home_frame_200x60", 200, 60, |_| {});
    frame(c, "home_frame_80x24", 80, 24, |_| {});
    frame(c, "help_overlay_200x60", 200, 60, |app| {
        support::press_all(app, &["?"])
    });
    frame(c, "palette_overlay_200x60", 200, 60, |app| {
        support::press_all(app, &[":"])
    });

    let entries: Vec<Entry> = (0..200)
        .map(|i| Entry {
            command: format!("open thing-{i}"),
            desc: format!("Item {i}"),
            action: Action::Help,
            key: None,
        })
        .collect();
    c.bench_function("palette_filter_200_entries", |b| {
        let mut p = PaletteState::new(entries.clone());
        b.iter(|| {
            p.set_query(black_box("thg 1"));
            black_box(p.matching().count())
        })
    });
}

criterion_group!(benches, render);
criterion_main!(benches);
