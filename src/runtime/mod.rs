//! The event loop: one `tokio::select!` over terminal input, the backend channel, a tick, a
//! frame interval that draws only when something changed, and termination signals.

pub mod effects;
pub mod terminal;

use crate::app::{self, App};
use crate::msg::Msg;
use crossterm::event::{Event, EventStream, KeyEventKind, MouseEventKind};
use effects::{Effect, TaskRegistry};
use futures::StreamExt;
use std::time::{Duration, Instant};
use terminal::Tui;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, interval};

/// Capacity of the backend channel: a chatty task waits (back-pressure) rather than growing memory.
pub const BACKEND_CHANNEL: usize = 1024;
const TICK: Duration = Duration::from_millis(250);
/// Frame cap (~60 fps); frames are drawn only when dirty.
const FRAME: Duration = Duration::from_millis(16);
/// Backend events handled per loop turn before drawing again (log floods batch into one frame).
const BATCH: usize = 512;

#[derive(Debug, Default)]
pub struct RunOptions {
    /// Screen to open after startup (None: home).
    pub start: Option<crate::screens::ScreenId>,
    /// Effects to run at startup besides the app's own (from `launch::tui_with`).
    pub initial_effects: effects::Effects,
    /// Exit right after the first frame is drawn (startup benchmark).
    pub exit_after_first_frame: bool,
    /// When the process started, for the startup-to-first-frame figure.
    pub started: Option<Instant>,
    /// Panic after the first frame (the end-to-end test of the panic hook).
    pub debug_panic: bool,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// SIGTERM, SIGINT or SIGHUP.
    Signal(i32),
    FirstFrame(Duration),
}

pub async fn run(mut app: App, mut opts: RunOptions) -> color_eyre::Result<Exit> {
    let mut tui = Tui::enter()?;
    let size = tui.terminal.size()?;
    app.size = ratatui::layout::Rect::new(0, 0, size.width, size.height);

    let (tx, mut rx) = mpsc::channel(BACKEND_CHANNEL);
    let mut tasks = TaskRegistry::new(tx);
    let mut input = EventStream::new();
    let mut tick = interval(TICK);
    let mut frame = interval(FRAME);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    frame.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;

    let mut pending = app::init(&mut app);
    if let Some(screen) = opts.start {
        pending.extend(app::update(
            &mut app,
            Msg::Action(crate::msg::Action::Open(screen)),
        ));
    }
    pending.append(&mut opts.initial_effects);
    let exit = loop {
        for effect in pending.drain(..) {
            match effect {
                Effect::Spawn(task) => tasks.spawn(task),
                Effect::Cancel(key) => tasks.cancel(&key),
                Effect::Suspend => {
                    tui.suspend()?;
                    // The window may have changed size while we were stopped.
                    let size = tui.terminal.size()?;
                    app.size = ratatui::layout::Rect::new(0, 0, size.width, size.height);
                    app.dirty = true;
                }
                Effect::Quit => app.quitting = true,
            }
        }
        if app.quitting {
            break Exit::Quit;
        }
        let msg = tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => match to_msg(ev) {
                    Some(m) => m,
                    None => continue,
                },
                Some(Err(e)) => {
                    tracing::error!("terminal input failed: {e}");
                    break Exit::Quit;
                }
                None => break Exit::Quit,
            },
            Some(tagged) = rx.recv() => {
                // Drain a burst in one go; the next frame shows all of it.
                let mut batch = vec![tagged];
                while batch.len() < BATCH {
                    match rx.try_recv() {
                        Ok(t) => batch.push(t),
                        Err(_) => break,
                    }
                }
                for t in batch {
                    if tasks.accept(&t) {
                        pending.extend(app::update(&mut app, Msg::Backend(t.event)));
                    } else {
                        tracing::debug!(key = %t.key, "dropped stale event");
                    }
                }
                continue;
            }
            _ = tick.tick() => Msg::Tick,
            _ = sigterm.recv() => break Exit::Signal(libc::SIGTERM),
            _ = sigint.recv() => break Exit::Signal(libc::SIGINT),
            _ = sighup.recv() => break Exit::Signal(libc::SIGHUP),
            _ = frame.tick(), if app.dirty => {
                let now = jiff::Timestamp::now();
                tui.terminal.draw(|f| app::view(&app, f, &app.view_cx(now)))?;
                app.dirty = false;
                if opts.debug_panic {
                    panic!("--debug-panic: deliberate panic after the first frame");
                }
                if let Some(started) = opts.started.filter(|_| opts.exit_after_first_frame) {
                    break Exit::FirstFrame(started.elapsed());
                }
                continue;
            }
        };
        pending.extend(app::update(&mut app, msg));
    };
    tasks.abort_all();
    drop(tui);
    Ok(exit)
}

fn to_msg(ev: Event) -> Option<Msg> {
    match ev {
        Event::Key(k) if k.kind != KeyEventKind::Release => Some(Msg::Key(k)),
        // Bare pointer motion changes nothing we draw: no message, no redraw.
        Event::Mouse(m) if m.kind == MouseEventKind::Moved => None,
        Event::Mouse(m) => Some(Msg::Mouse(m)),
        Event::Paste(p) => Some(Msg::Paste(p)),
        Event::Resize(w, h) => Some(Msg::Resize(w, h)),
        _ => None,
    }
}
