//! The LogQL box's history, kept across sessions in `$XDG_STATE_HOME/homelab/logql-history`
//! (one query per line, oldest first). Written atomically: temp file in the same folder, fsync,
//! rename.

use std::path::{Path, PathBuf};

/// Where the history lives, if the state dir is known.
pub fn path() -> Option<PathBuf> {
    crate::settings::UserDirs::discover().map(|d| d.state.join("logql-history"))
}

/// Read the history; a missing or unreadable file is an empty history.
pub fn load(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Write the history atomically.
pub fn save(path: &Path, history: &[String]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut text = String::new();
    for q in history {
        // One query per line: newlines inside a query would split it.
        text.push_str(&q.replace(['\n', '\r'], " "));
        text.push('\n');
    }
    crate::atomic_write::write(
        path,
        text.as_bytes(),
        crate::atomic_write::Mode::KeepOr(0o600),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state/logql-history");
        assert!(load(&p).is_empty());
        save(
            &p,
            &["{app=\"a\"}".into(), "{app=\"b\"} |= \"x\ny\"".into()],
        )
        .unwrap();
        assert_eq!(load(&p), vec!["{app=\"a\"}", "{app=\"b\"} |= \"x y\""]);
        let leftovers: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temp file left behind");
    }
}
