//! The event loop: one `tokio::select!` over terminal input, the backend channel, a tick, a
//! frame interval that draws only when something changed, and termination signals.

pub mod effects;
pub mod panics;
pub mod terminal;

use crate::app::{self, App};
use crate::msg::Msg;
use crossterm::event::{Event, EventStream, KeyEventKind, MouseEventKind};
use effects::{Effect, TaskRegistry};
use futures::StreamExt;
use std::process::Stdio;
use std::time::{Duration, Instant};
use terminal::Tui;
use tokio::signal::unix::{Signal, SignalKind, signal};
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
    /// Exit right after the first frame is drawn (startup benchmark).
    pub exit_after_first_frame: bool,
    /// When the process started, for the startup-to-first-frame figure.
    pub started: Option<Instant>,
    /// Panic after the first frame (the end-to-end test of the panic hook).
    pub debug_panic: bool,
    /// Panic in a background task after the first frame (the end-to-end test that the app
    /// goes on with an error toast).
    pub debug_task_panic: bool,
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
    resized(&mut app, &tui)?;

    let (tx, mut rx) = mpsc::channel(BACKEND_CHANNEL);
    let mut tasks = TaskRegistry::new(tx);
    let mut input = EventStream::new();
    let mut tick = interval(TICK);
    let mut frame = interval(FRAME);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    frame.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut signals = Signals::new()?;

    let mut pending = app::init(&mut app);
    if let Some(screen) = opts.start {
        pending.extend(app::update(
            &mut app,
            Msg::Action(crate::msg::Action::Open(screen)),
        ));
    }
    let exit = 'run: loop {
        // Performing an effect may produce more (an external program's result): run them all.
        while !pending.is_empty() {
            for effect in std::mem::take(&mut pending) {
                match effect {
                    Effect::Spawn(task) => tasks.spawn(task),
                    Effect::Cancel(key) => tasks.cancel(&key),
                    Effect::Suspend => {
                        tui.suspend()?;
                        // The window may have changed size while we were stopped.
                        resized(&mut app, &tui)?;
                    }
                    Effect::External(ext) => {
                        // Stop crossterm reading stdin, or it would take the program's keys
                        // (and its terminal's answers to queries). Dropping the stream stops
                        // its reader thread; building the next one takes crossterm's reader
                        // lock, so it returns only once that thread has let go of stdin. The
                        // new stream reads nothing until it is polled, after the program.
                        drop(input);
                        input = EventStream::new();
                        tui.release();
                        let result = match run_foreground(&ext, &mut signals).await {
                            Foreground::Done(result) => result,
                            // Told to end while the program ran: the terminal is already the
                            // shell's again; leave without taking it back.
                            Foreground::Signalled(sig) => break 'run Exit::Signal(sig),
                        };
                        tui.reclaim()?;
                        resized(&mut app, &tui)?;
                        let event = (ext.then)(result);
                        pending.extend(app::update(&mut app, Msg::Backend(event)));
                    }
                    Effect::Quit => app.quitting = true,
                }
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
            sig = signals.recv() => {
                if sig == libc::SIGTSTP {
                    // `kill -TSTP`: the same as Ctrl-Z.
                    pending.push(Effect::Suspend);
                    continue;
                }
                break Exit::Signal(sig);
            }
            _ = frame.tick(), if app.dirty => {
                let now = jiff::Timestamp::now();
                tui.terminal.draw(|f| app::view(&app, f, &app.view_cx(now)))?;
                app.dirty = false;
                if opts.debug_panic {
                    panic!("--debug-panic: deliberate panic after the first frame");
                }
                if std::mem::take(&mut opts.debug_task_panic) {
                    tasks.spawn(effects::Task::future::<crate::msg::BackendEvent>(
                        effects::TaskKey::new("debug-task-panic"),
                        "--debug-task-panic",
                        async { panic!("deliberate panic in a background task") },
                    ));
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

/// On entering, and after the terminal was handed away: its current size, and a redraw.
fn resized(app: &mut App, tui: &Tui) -> std::io::Result<()> {
    let size = tui.terminal.size()?;
    app.size = ratatui::layout::Rect::new(0, 0, size.width, size.height);
    app.dirty = true;
    Ok(())
}

/// The signals the loop handles: termination (it ends, restoring the terminal) and SIGTSTP from
/// outside (`kill -TSTP`; the Ctrl-Z key arrives as a key in raw mode): it suspends as Ctrl-Z
/// does, giving the terminal back first.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
    tstp: Signal,
}

impl Signals {
    fn new() -> std::io::Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
            tstp: signal(SignalKind::from_raw(libc::SIGTSTP))?,
        })
    }
}

/// Where termination signals come from (the process's, or a test's).
trait SignalSource {
    /// The next signal's number. Cancel-safe.
    async fn recv(&mut self) -> i32;
}

impl SignalSource for Signals {
    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.int.recv() => libc::SIGINT,
            _ = self.hup.recv() => libc::SIGHUP,
            _ = self.tstp.recv() => libc::SIGTSTP,
        }
    }
}

/// How long a program passed SIGTERM/SIGHUP gets to exit (an editor saving its swap file)
/// before it is killed.
const CHILD_GRACE: Duration = Duration::from_secs(3);

/// How a foreground program's run ended, seen from the loop.
#[derive(Debug)]
enum Foreground {
    /// It exited (or could not be started).
    Done(effects::ExternalResult),
    /// homelab was told to end (SIGTERM/SIGHUP) while it ran; the program has been stopped.
    Signalled(i32),
}

/// Run `ext` in the foreground on the terminal (inherited stdio) and wait for it. Meanwhile no
/// terminal input is read; SIGINT is left to the program (Ctrl-C at a cooked terminal reaches
/// both, as with git's editor), SIGTERM and SIGHUP are passed on to it (killed after
/// [`CHILD_GRACE`]) and then end homelab.
async fn run_foreground(ext: &effects::External, signals: &mut impl SignalSource) -> Foreground {
    tracing::info!(program = %ext.program, args = ?ext.args, cwd = %ext.cwd.display(), "running external program");
    let spawned = tokio::process::Command::new(&ext.program)
        .args(&ext.args)
        .current_dir(&ext.cwd)
        .stdin(Stdio::inherit())
        .stdout(Stdio::inherit())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(program = %ext.program, "cannot start: {e}");
            return Foreground::Done(Err(e));
        }
    };
    loop {
        tokio::select! {
            status = child.wait() => {
                tracing::info!(program = %ext.program, ?status, "external program ended");
                return Foreground::Done(status);
            }
            sig = signals.recv() => {
                if sig == libc::SIGINT {
                    tracing::debug!("SIGINT while {} runs: left to it", ext.program);
                    continue;
                }
                if sig == libc::SIGTSTP {
                    // The program's process group was stopped (an editor's own Ctrl-Z): stop
                    // with it, so the shell sees the whole job stopped; `fg` continues both.
                    tracing::debug!("SIGTSTP while {} runs: stopping with it", ext.program);
                    terminal::stop_self();
                    continue;
                }
                tracing::info!(sig, "signal while {} runs: passing it on", ext.program);
                if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                    // SAFETY: kill(2) has no memory-safety preconditions; the pid is our
                    // child's and is not reaped yet (`child` has not been waited to the end).
                    unsafe {
                        libc::kill(pid, sig);
                    }
                }
                if tokio::time::timeout(CHILD_GRACE, child.wait()).await.is_err() {
                    tracing::warn!("{} ignored the signal: killing it", ext.program);
                    let _ = child.kill().await;
                }
                return Foreground::Signalled(sig);
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::msg::BackendEvent;
    use effects::External;

    /// No signal ever arrives.
    struct Quiet;
    impl SignalSource for Quiet {
        async fn recv(&mut self) -> i32 {
            std::future::pending().await
        }
    }

    /// These signals arrive one after the other (the last first), once the program has
    /// created `ready` (its handlers are in place).
    struct Arrive {
        signals: Vec<i32>,
        ready: std::path::PathBuf,
    }
    impl SignalSource for Arrive {
        async fn recv(&mut self) -> i32 {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !self.ready.exists() {
                assert!(Instant::now() < deadline, "the program never got ready");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            match self.signals.pop() {
                Some(sig) => sig,
                None => std::future::pending().await,
            }
        }
    }

    fn sh(script: &str, cwd: &std::path::Path) -> External {
        External::new("sh", vec!["-c".into(), script.into()], cwd, |_| {
            BackendEvent::App(crate::app::Event::TaskFailed {
                key: effects::TaskKey::new("unused"),
                error: String::new(),
            })
        })
    }

    #[tokio::test]
    async fn the_program_runs_in_its_directory_and_its_status_comes_back() {
        let dir = tempfile::tempdir().unwrap();
        let ext = sh("pwd > where; exit 3", dir.path());
        let Foreground::Done(Ok(status)) = run_foreground(&ext, &mut Quiet).await else {
            panic!("did not run");
        };
        assert_eq!(status.code(), Some(3));
        let wrote = std::fs::read_to_string(dir.path().join("where")).unwrap();
        assert_eq!(
            std::path::Path::new(wrote.trim()).canonicalize().unwrap(),
            dir.path().canonicalize().unwrap()
        );
    }

    #[tokio::test]
    async fn a_missing_program_is_an_error_not_a_panic() {
        let ext = External::new(
            "/nonexistent/homelab-editor",
            vec![],
            std::env::temp_dir(),
            |_| -> BackendEvent { unreachable!() },
        );
        match run_foreground(&ext, &mut Quiet).await {
            Foreground::Done(Err(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn sigint_is_left_to_the_program_and_sigterm_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        // SIGINT (ignored by us) first, then SIGTERM: passed on, the program ends (its trap
        // writes `got`, long before its own 30 s), and so does homelab. The signals wait for
        // the trap: a SIGTERM before it would end the shell without a word.
        let ext = sh(
            "sleep 30 & pid=$!; trap 'kill $pid; echo term > got; exit 7' TERM; : > ready; wait",
            dir.path(),
        );
        let mut signals = Arrive {
            signals: vec![libc::SIGTERM, libc::SIGINT],
            ready: dir.path().join("ready"),
        };
        let end = run_foreground(&ext, &mut signals).await;
        // Signalled(SIGTERM) means SIGINT did not end the run: it came first.
        assert!(
            matches!(end, Foreground::Signalled(libc::SIGTERM)),
            "{end:?}"
        );
        assert!(signals.signals.is_empty(), "both signals were delivered");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("got")).unwrap(),
            "term\n",
            "the program got SIGTERM"
        );
    }
}
