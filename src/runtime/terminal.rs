//! The terminal guard: raw mode, alternate screen, mouse capture and bracketed paste on enter;
//! all of it undone on drop, on a panic of the loop thread (before the report prints), on SIGTERM/SIGINT (the loop
//! exits normally), around Ctrl-Z suspend and around an external program (the editor).

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
};
use crossterm::terminal::{
    Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static ACTIVE: AtomicBool = AtomicBool::new(false);

pub struct Tui {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Tui {
    pub fn enter() -> io::Result<Self> {
        setup()?;
        // A fresh fullscreen Terminal draws everything on its first frame; `Terminal::clear`
        // would query the cursor position (DSR), which some terminals never answer.
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(Self { terminal })
    }

    /// Give the terminal back, stop the process (as the shell's Ctrl-Z would), and take the
    /// terminal again when resumed with `fg`.
    pub fn suspend(&mut self) -> io::Result<()> {
        self.release();
        stop_self();
        self.reclaim()
    }

    /// Give the terminal back (cooked mode, main screen, cursor shown, no mouse reporting) so
    /// another program can use it. Dropping the guard afterwards is still fine.
    pub fn release(&mut self) {
        restore();
    }

    /// Take the terminal again after [`Tui::release`]. New buffers: the next frame repaints the
    /// whole screen at the terminal's current size.
    pub fn reclaim(&mut self) -> io::Result<()> {
        setup()?;
        self.terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        Ok(())
    }
}

impl Drop for Tui {
    fn drop(&mut self) {
        restore();
    }
}

fn setup() -> io::Result<()> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        EnableMouseCapture,
        EnableBracketedPaste,
        cursor::Hide,
        Clear(ClearType::All)
    )
}

/// Undo everything `enter` did. Idempotent; safe to call from a panic hook.
pub fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let mut out = io::stdout();
        let wrote = execute!(
            out,
            DisableBracketedPaste,
            DisableMouseCapture,
            LeaveAlternateScreen,
            cursor::Show
        )
        .and_then(|()| out.flush());
        let _ = disable_raw_mode();
        if wrote.is_err() {
            detach_output();
        }
    }
}

/// The terminal is gone (hung up: its window closed, `tmux kill-session`, a dropped SSH
/// connection): point stdout and stderr at /dev/null, so what still writes on the way out
/// (ratatui's drop showing the cursor, a report) cannot fail with EIO. Such a failure in
/// `eprintln!` would panic, and a panic in the panic hook aborts, skipping every destructor:
/// the demo's lab directory would stay behind.
fn detach_output() {
    let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
        return;
    };
    use std::os::fd::AsRawFd;
    // SAFETY: dup2(2) on descriptors this process owns: `null` is open for the call, 1 and 2
    // are the standard streams; replacing them is what dup2 is for.
    unsafe {
        libc::dup2(null.as_raw_fd(), libc::STDOUT_FILENO);
        libc::dup2(null.as_raw_fd(), libc::STDERR_FILENO);
    }
}

/// color-eyre's hooks, with the terminal restored before a panic report is printed (otherwise
/// it would land in the alternate screen and vanish). Only a panic on the calling thread (the
/// loop's) does that: a background task's panic is logged and reported as the task's failure,
/// and the app goes on in a working terminal (see [`super::panics`]).
pub fn install_hooks() -> color_eyre::Result<()> {
    let (panic_hook, eyre_hook) = color_eyre::config::HookBuilder::default()
        .display_env_section(false)
        .into_hooks();
    eyre_hook.install()?;
    super::panics::mark_loop_thread();
    std::panic::set_hook(Box::new(move |info| {
        if super::panics::on_loop_thread() {
            restore();
            // Not `eprintln!`: it panics when stderr fails, and a panic here aborts.
            let _ = writeln!(io::stderr(), "{}", panic_hook.panic_report(info));
        } else {
            super::panics::log_background(info);
        }
    }));
    Ok(())
}

/// Stop the process as the shell's Ctrl-Z would (SIGTSTP with its default action, so the shell
/// reports the job as stopped) and return once it is continued (`fg`). The runtime catches
/// SIGTSTP to restore the terminal first, so its handler is set aside around the raise and put
/// back afterwards.
pub fn stop_self() {
    // SAFETY: sigaction(2)/raise(3) with a valid signal number and pointers to initialised
    // sigaction structs; the saved handler is restored before returning.
    unsafe {
        let mut default: libc::sigaction = std::mem::zeroed();
        default.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut default.sa_mask);
        let mut saved: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(libc::SIGTSTP, &default, &mut saved) != 0 {
            // Cannot reset the handler: stop anyway (SIGSTOP cannot be caught).
            libc::raise(libc::SIGSTOP);
            return;
        }
        libc::raise(libc::SIGTSTP);
        libc::sigaction(libc::SIGTSTP, &saved, std::ptr::null_mut());
    }
}
