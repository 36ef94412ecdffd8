//! A save killed with SIGKILL at any point leaves the file either old or new, never a mix, and
//! no plaintext anywhere under the folder or /tmp.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::interop::DOTENV;
use super::support::{Lab, ok};

fn kill9(child: &mut Child) {
    let _ = child.kill(); // SIGKILL on unix
    let _ = child.wait();
}

/// Every regular file under `root` (bounded size) that contains one of `needles`.
fn files_containing(root: &Path, needles: &regex::bytes::Regex, found: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        let path = entry.path();
        if ft.is_dir() {
            files_containing(&path, needles, found);
        } else if ft.is_file() {
            let small = entry.metadata().map(|m| m.len() < 8 << 20).unwrap_or(false);
            if small
                && let Ok(bytes) = std::fs::read(&path)
                && needles.is_match(&bytes)
            {
                found.push(path.display().to_string());
            }
        }
    }
}

/// No file under the lab folder or /tmp holds any of `markers` (values only ever set through
/// argv, so any hit is plaintext written by us).
fn assert_no_plaintext(lab: &Lab, markers: &[String]) {
    let alternation: Vec<String> = markers.iter().map(|m| regex::escape(m)).collect();
    let needles = regex::bytes::Regex::new(&alternation.join("|")).expect("escaped markers");
    let mut found = Vec::new();
    files_containing(lab.dir.path(), &needles, &mut found);
    files_containing(Path::new("/tmp"), &needles, &mut found);
    assert!(found.is_empty(), "plaintext found on disk: {found:?}");
}

fn value_of(lab: &Lab, key: &str) -> String {
    ok(lab.ours(&["get", "c.env", key]), "get after crash")
}

#[test]
fn kill_between_write_and_rename_leaves_the_old_file() {
    let Some(lab) = Lab::new() else { return };
    lab.write("c.env", DOTENV);
    ok(lab.ours(&["encrypt", "c.env"]), "encrypt");
    let old = lab.read("c.env");
    let marker = format!("PAUSED-SECRET-{}", std::process::id());
    let signal = lab.path("paused.signal");
    let mut cmd = lab.ours_cmd(&lab.key1, &["set", "c.env", "DB_PORT", &marker]);
    cmd.env(homelab::secrets::atomic::PAUSE_BEFORE_RENAME_ENV, &signal);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while !signal.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "writer never reached the pause point"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The new file is complete on disk beside the old one; kill before the rename.
    kill9(&mut child);
    assert_eq!(lab.read("c.env"), old, "the original file is untouched");
    assert_eq!(
        ok(lab.sops(&["decrypt", "c.env"]), "sops decrypt"),
        DOTENV.replace("\n\n", "\n")
    );
    assert_no_plaintext(&lab, std::slice::from_ref(&marker));
    // The next save cleans the dead writer's temp file (ciphertext only) away.
    ok(lab.ours(&["set", "c.env", "DB_PORT", "6000"]), "next save");
    let temps: Vec<_> = std::fs::read_dir(lab.dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".homelab-tmp"))
        .collect();
    assert!(temps.is_empty(), "stale temp files removed");
}

#[test]
fn kill_at_many_points_never_mixes_old_and_new() {
    let Some(lab) = Lab::new() else { return };
    lab.write("c.env", DOTENV);
    ok(lab.ours(&["encrypt", "c.env"]), "encrypt");
    let tag = std::process::id();
    let mut committed = "localhost".to_string();
    let mut outcomes = (0, 0);
    for i in 0..40u64 {
        let candidate = format!("KILLED-{tag}-{i}");
        let mut child = lab
            .ours_cmd(&lab.key1, &["set", "c.env", "DB_HOST", &candidate])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Spread the kill over the whole run of the process (start-up, decrypt, encrypt, write).
        std::thread::sleep(Duration::from_micros(500 * (i % 20) + 137 * (i / 20)));
        kill9(&mut child);
        let now = value_of(&lab, "DB_HOST");
        if now == candidate {
            outcomes.1 += 1;
            committed = candidate;
        } else {
            assert_eq!(
                now, committed,
                "iteration {i}: neither the old nor the new value"
            );
            outcomes.0 += 1;
        }
        if i % 10 == 9 {
            let plain = ok(lab.sops(&["decrypt", "c.env"]), "sops decrypt after kill");
            assert!(plain.contains(&format!("DB_HOST={committed}\n")));
        }
    }
    eprintln!(
        "kills before commit: {}, after commit: {}",
        outcomes.0, outcomes.1
    );
    // No value ever reached the disk in plaintext, committed or not.
    let markers: Vec<String> = (0..40u64).map(|i| format!("KILLED-{tag}-{i}\n")).collect();
    assert_no_plaintext(&lab, &markers);
}
