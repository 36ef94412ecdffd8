//! The demo's terminal goes away under it (its window closed, `tmux kill-session`, a dropped
//! SSH connection): SIGHUP, and every write to the terminal fails with EIO from then on. The
//! demo still stops its servers and removes the lab directory. It used to abort instead: the
//! write of ratatui's cursor reset failed in `eprintln!`, whose panic the panic hook repeated
//! on the same dead stderr, and a panic in the hook aborts without running destructors.

use std::time::{Duration, Instant};

#[test]
fn closing_the_demos_terminal_still_removes_the_lab() {
    let Some((t, lab)) = crate::harness::tui_demo("demo-hup") else {
        return;
    };
    let pid: u32 = t
        .tmux(&["display", "-p", "-t", "main", "#{pane_pid}"])
        .trim()
        .parse()
        .expect("the pane's pid");

    t.tmux(&["kill-session", "-t", "main"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the demo (pid {pid}) still runs 30 s after its terminal closed"
    );
    assert!(
        !lab.exists(),
        "the lab directory {} outlived the demo whose terminal closed",
        lab.display()
    );
}
