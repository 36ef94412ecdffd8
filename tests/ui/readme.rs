//! The README shows a text capture of the home screen; it must be the current frame, not a
//! memory of it. The capture is the 80x24 home snapshot with its quotes removed.

use std::path::Path;

fn frame_lines(snapshot: &str) -> Vec<String> {
    snapshot
        .split("\n---\n")
        .nth(1)
        .expect("insta snapshot has a header and a body")
        .lines()
        .filter_map(|l| l.strip_prefix('"').and_then(|l| l.strip_suffix('"')))
        .map(|l| l.trim_end().to_owned())
        .collect()
}

#[test]
fn readme_capture_is_the_current_home_screen() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let snap = std::fs::read_to_string(root.join("snapshots/home/home_default@80x24.snap"))
        .expect("home snapshot exists");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md exists");
    let frame = frame_lines(&snap);
    assert_eq!(frame.len(), 24, "the snapshot is an 80x24 frame");
    let block: Vec<String> = readme
        .split("```\n")
        .find(|b| b.contains("╭ Jobs"))
        .expect("README.md has a fenced text capture of the home screen")
        .lines()
        .map(|l| l.trim_end().to_owned())
        .collect();
    assert_eq!(
        block, frame,
        "README.md's home-screen capture is stale: paste snapshots/home/home_default@80x24.snap \
         (without the quotes) into it"
    );
}
