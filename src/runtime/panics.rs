//! Panics and which thread they belong to. A panic on the loop thread (the one that installed
//! the hooks and runs `runtime::run`) ends the process: the hook restores the terminal and prints
//! the report. A panic anywhere else is a background task's: the hook only logs it to
//! homelab.log, the [`TaskRegistry`](super::effects::TaskRegistry) turns it into a `TaskFailed`
//! event (an error toast), and the terminal stays as the loop keeps it.

use std::any::Any;
use std::sync::OnceLock;
use std::thread::ThreadId;

static LOOP_THREAD: OnceLock<ThreadId> = OnceLock::new();

/// Mark the calling thread as the loop thread (once; later calls change nothing).
pub fn mark_loop_thread() {
    let _ = LOOP_THREAD.set(std::thread::current().id());
}

/// Whether a panic here ends the process: on the loop thread, or before any thread was marked.
pub fn on_loop_thread() -> bool {
    LOOP_THREAD
        .get()
        .is_none_or(|id| *id == std::thread::current().id())
}

/// The text of a panic payload (`panic!("...")` gives a `&str` or a `String`).
pub fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// Log a background panic (called from the panic hook, off the loop thread).
pub fn log_background(info: &std::panic::PanicHookInfo<'_>) {
    let thread = std::thread::current();
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    tracing::error!(
        thread = thread.name().unwrap_or("unnamed"),
        %location,
        "background task panicked: {}",
        message(info.payload())
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_text() {
        let p = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(message(p.as_ref()), "plain");
        let n = 7;
        let p = std::panic::catch_unwind(|| panic!("formatted {n}")).unwrap_err();
        assert_eq!(message(p.as_ref()), "formatted 7");
    }
}
