//! A scaffold lab: a copy of the real tree in a git repository of its own, with a `.sops.yaml`
//! for a fresh age identity, the tree's Secrets rendered as the Flux stage renders them (so
//! `secrets/resolves` holds, as on a bootstrapped repository) and a committer in its git config.

use crate::fixture::repo_root;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Lab {
    pub dir: tempfile::TempDir,
    /// The age identity file (AGE-SECRET-KEY-...), outside the repository.
    pub key_file: PathBuf,
    pub recipient: String,
}

pub const AUTHOR: &str = "Scaffold Tester";
pub const EMAIL: &str = "tester@example.org";

impl Lab {
    /// The real tree (cluster/, config/, infrastructure/, docs/, ai/) with `remove` deleted
    /// (app folders, and their lines in the group kustomization), committed.
    pub fn new(remove: &[&str]) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        for d in ["cluster", "config", "infrastructure", "docs", "ai"] {
            crate::fixture::copy_dir(&repo_root().join(d), &root.join(d));
        }
        for app in remove {
            let folder = root.join(app);
            std::fs::remove_dir_all(&folder).unwrap();
            let (group, name) = app.rsplit_once('/').unwrap();
            let k = root.join(group).join("kustomization.yaml");
            let text = std::fs::read_to_string(&k).unwrap();
            let kept: String = text
                .split_inclusive('\n')
                .filter(|l| l.trim() != format!("- {name}"))
                .collect();
            std::fs::write(&k, kept).unwrap();
        }
        let (secret, recipient) = homelab::secrets::keys::generate_identity();
        let key_file = dir.path().join("key.txt");
        std::fs::write(&key_file, secret.as_bytes()).unwrap();
        std::fs::write(
            root.join(".sops.yaml"),
            homelab::secrets::rules::homelab_config(std::slice::from_ref(&recipient)),
        )
        .unwrap();
        crate::rendered_secrets::render(&root, &secret, &recipient);
        let repo = git2::Repository::init_opts(
            &root,
            git2::RepositoryInitOptions::new().initial_head("main"),
        )
        .unwrap();
        let mut cfg = repo.config().unwrap();
        cfg.set_str("user.name", AUTHOR).unwrap();
        cfg.set_str("user.email", EMAIL).unwrap();
        let mut index = repo.index().unwrap();
        index
            .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
            .unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let sig = repo.signature().unwrap();
        repo.commit(Some("HEAD"), &sig, &sig, "the tree", &tree, &[])
            .unwrap();
        Lab {
            dir,
            key_file,
            recipient,
        }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    pub fn repo(&self) -> git2::Repository {
        git2::Repository::open(self.root()).unwrap()
    }

    /// `homelab --repo <lab> scaffold app <args>` with `stdin` on its standard input.
    pub fn scaffold(&self, args: &[&str], stdin: &str) -> Output {
        self.scaffold_with(args, stdin, false)
    }

    /// The same; with `detached`, in a session of its own without a controlling terminal.
    pub fn scaffold_with(&self, args: &[&str], stdin: &str, detached: bool) -> Output {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_homelab"));
        if detached {
            // SAFETY: setsid is async-signal-safe; it only makes the child a session leader.
            unsafe {
                cmd.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
        }
        let mut child = cmd
            .arg("--repo")
            .arg(self.root())
            .args(["scaffold", "app"])
            .args(args)
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Paths git reports as changed or new (nothing: the work tree matches HEAD).
    pub fn dirty(&self) -> Vec<String> {
        let repo = self.repo();
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(true).recurse_untracked_dirs(true);
        repo.statuses(Some(&mut opts))
            .unwrap()
            .iter()
            .filter_map(|s| s.path().ok().map(str::to_string))
            .collect()
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `kubectl kustomize dir` with the real kubectl: its output, or the failure.
pub fn kustomize(kubectl: &Path, dir: &Path) -> Result<String, String> {
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
