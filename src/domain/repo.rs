//! The repository's git state as the home screen and the top bar show it.

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoStatus {
    /// Working tree root.
    pub root: PathBuf,
    /// Branch name, `HEAD (detached at abc1234)`, or `(no commits yet)`.
    pub branch: String,
    /// Short id and summary of HEAD, when there is one.
    pub head: Option<(String, String)>,
    /// Changed and untracked files, relative to the root, sorted.
    pub dirty: Vec<DirtyFile>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirtyFile {
    pub path: String,
    pub change: Change,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Added,
    Modified,
    Deleted,
    Renamed,
    Untracked,
    Conflicted,
}

impl Change {
    /// One-letter code as `git status --short` shows it.
    pub fn code(self) -> &'static str {
        match self {
            Change::Added => "A",
            Change::Modified => "M",
            Change::Deleted => "D",
            Change::Renamed => "R",
            Change::Untracked => "?",
            Change::Conflicted => "U",
        }
    }
}
