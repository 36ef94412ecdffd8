//! Fixture trees: copies of the real tree with a broken fixture applied, and their expectations.

use std::path::{Path, PathBuf};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    repo_root().join("tests/fixtures/check")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A temporary repository: the real cluster/, config/, infrastructure/, docs/ and ai/ folders
/// (docs/ and ai/ because the memo's skeleton names them), with the
/// fixture's `delete` list removed and its `files/` copied over.
pub fn tree_with_fixture(case: &str) -> tempfile::TempDir {
    tree_with_fixtures(&[case])
}

/// The same with several fixtures applied in order.
pub fn tree_with_fixtures(cases: &[&str]) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["cluster", "config", "infrastructure", "docs", "ai"] {
        copy_dir(&repo_root().join(dir), &tmp.path().join(dir));
    }
    for case in cases {
        apply(tmp.path(), case);
    }
    tmp
}

fn apply(root: &Path, case: &str) {
    let fixture = fixtures().join(case);
    assert!(fixture.is_dir(), "no fixture {}", fixture.display());
    if let Ok(list) = std::fs::read_to_string(fixture.join("delete")) {
        for rel in list.lines().filter(|l| !l.trim().is_empty()) {
            std::fs::remove_file(root.join(rel.trim())).unwrap();
        }
    }
    if fixture.join("files").is_dir() {
        copy_dir(&fixture.join("files"), root);
    }
}

/// The fixture's expected violations, `rule file[:line]` per line.
pub fn expected(case: &str) -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join(case).join("expect")).unwrap();
    let mut v: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    v.sort();
    v
}
