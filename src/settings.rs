//! The user's own files, outside the repository: `$XDG_CONFIG_HOME/homelab/` (settings
//! `config.toml`, `keymap.toml`, `themes/*.toml`) and `$XDG_STATE_HOME/homelab/` (log file,
//! journals).

use crate::diag::Diagnostic;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserDirs {
    pub config: PathBuf,
    pub state: PathBuf,
}

impl UserDirs {
    /// The XDG locations (`XDG_CONFIG_HOME`/`XDG_STATE_HOME` honoured), or None without a home.
    pub fn discover() -> Option<Self> {
        let dirs = directories::ProjectDirs::from("", "", "homelab")?;
        let state = dirs
            .state_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| dirs.data_local_dir().to_path_buf());
        Some(Self {
            config: dirs.config_dir().to_path_buf(),
            state,
        })
    }

    pub fn keymap_file(&self) -> PathBuf {
        self.config.join("keymap.toml")
    }

    pub fn themes_dir(&self) -> PathBuf {
        self.config.join("themes")
    }

    pub fn settings_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }
}

/// `config.toml`: preferences that are not per-repository.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Theme used when `--theme`/HOMELAB_THEME is not given.
    #[serde(default)]
    pub theme: Option<String>,
}

impl Settings {
    /// Read `path`; a missing file is the defaults, a broken one is the defaults plus a diagnostic.
    pub fn load(path: &Path) -> (Settings, Option<Diagnostic>) {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return (Settings::default(), None);
            }
            Err(e) => {
                return (
                    Settings::default(),
                    Some(Diagnostic::new(
                        crate::diag::tilde(path),
                        0,
                        0,
                        format!("cannot read: {e}"),
                    )),
                );
            }
        };
        match toml::from_str(&text) {
            Ok(s) => (s, None),
            Err(e) => {
                let offset = e.span().map(|s| s.start).unwrap_or(0);
                let msg = format!("{}; using defaults", e.message().trim());
                (
                    Settings::default(),
                    Some(Diagnostic::at_offset(
                        crate::diag::tilde(path),
                        &text,
                        offset,
                        msg,
                    )),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_file_errors_are_located() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.toml");
        assert_eq!(Settings::load(&p), (Settings::default(), None));
        std::fs::write(&p, "theme = \"homelab-light\"\n").unwrap();
        assert_eq!(Settings::load(&p).0.theme.as_deref(), Some("homelab-light"));
        std::fs::write(&p, "theme = \"x\"\ncolour = 1\n").unwrap();
        let (s, d) = Settings::load(&p);
        assert_eq!(s, Settings::default());
        let d = d.unwrap().to_string();
        assert!(d.contains("config.toml:2:1: unknown field `colour`"), "{d}");
    }
}
