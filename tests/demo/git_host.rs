//! The lab's git host (`src/sim/git_host.rs`) with real clients: our git_push backend (git2 over
//! russh: ls-remote and push) and the git CLI over OpenSSH's `ssh` (clone, fetch, push, with
//! protocol v2), both streaming to a real `git upload-pack`/`git receive-pack` on a bare
//! repository; a command other than those two is refused, as is another repository, and a
//! missing `git` is named.

use homelab::backends::git_push::{self, SshAccess};
use homelab::backends::ssh::SshEnv;
use homelab::backends::ssh::prompt::NonInteractive;
use homelab::sim::git_host::{GitHost, GitHostOptions};
use homelab::sim::ssh_node::random_key;
use russh::keys::ssh_key::LineEnding;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

struct Fixture {
    _dir: tempfile::TempDir,
    home: PathBuf,
    key: PathBuf,
    work: PathBuf,
    bare: PathBuf,
    host: GitHost,
    url: String,
}

fn commit_file(repo: &git2::Repository, name: &str, text: &str) -> git2::Oid {
    let root = repo.workdir().unwrap().to_path_buf();
    std::fs::write(root.join(name), text).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(name)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("Op Erator", "op@example.org").unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, name, &tree, &parents)
        .unwrap()
}

fn head_of(repo: &Path, refname: &str) -> String {
    git2::Repository::open(repo)
        .unwrap()
        .refname_to_id(refname)
        .unwrap()
        .to_string()
}

/// A working repository with one commit, its bare clone served by a git host on a loopback
/// address of its own, and an operator home whose key the host accepts.
async fn fixture(git: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    let client = random_key();
    let key = home.join(".ssh/id_ed25519");
    homelab::atomic_write::write(
        &key,
        client.to_openssh(LineEnding::LF).unwrap().as_bytes(),
        homelab::atomic_write::Mode::Secret,
    )
    .unwrap();
    let work = dir.path().join("work");
    let repo = git2::Repository::init_opts(
        &work,
        git2::RepositoryInitOptions::new().initial_head("main"),
    )
    .unwrap();
    commit_file(&repo, "README", "first\n");
    let bare = dir.path().join("git/homelab.git");
    homelab::sim::lab::repo::publish(&work, &bare, "ssh://unused/homelab.git").unwrap();
    let host = GitHost::start(GitHostOptions {
        listen: crate::support::net::any_port(),
        user: "git".into(),
        authorized: client.public_key().clone(),
        host_key: Arc::new(random_key()),
        path: "/homelab.git".into(),
        repo: bare.clone(),
        git: git.into(),
    })
    .await
    .unwrap();
    let url = format!("ssh://git@{}/homelab.git", host.addr);
    Fixture {
        _dir: dir,
        home,
        key,
        work,
        bare,
        host,
        url,
    }
}

impl Fixture {
    fn access(&self) -> SshAccess {
        SshAccess {
            env: Arc::new(SshEnv::for_home(&self.home, None).unwrap()),
            prompter: Arc::new(NonInteractive { accept_new: true }),
            identity_file: None,
        }
    }

    /// A known_hosts file holding the host's key, for OpenSSH.
    fn known_hosts(&self) -> PathBuf {
        let file = self.home.join("cli_known_hosts");
        let name = homelab::backends::ssh::known_hosts::host_port_name(
            &self.host.addr.ip().to_string(),
            self.host.addr.port(),
        );
        std::fs::write(
            &file,
            format!("{name} {}\n", self.host.host_key.to_openssh().unwrap()),
        )
        .unwrap();
        file
    }

    fn ssh_command(&self) -> String {
        format!(
            "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes \
             -o StrictHostKeyChecking=yes -o UserKnownHostsFile={}",
            self.key.display(),
            self.known_hosts().display()
        )
    }

    /// `git ARGS` in `cwd` over OpenSSH, with nothing of the machine's git or ssh setup.
    async fn git(&self, cwd: &Path, args: &[&str]) -> Output {
        let mut c = Command::new("git");
        c.current_dir(cwd)
            .args([
                "-c",
                "user.name=Op Erator",
                "-c",
                "user.email=op@example.org",
                "-c",
                "protocol.version=2",
            ])
            .args(args)
            .env("HOME", &self.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_SSH_COMMAND", self.ssh_command())
            .env_remove("GIT_DIR")
            .env_remove("SSH_AUTH_SOCK");
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }

    /// `ssh git@host COMMAND` over OpenSSH.
    async fn ssh(&self, command: &str) -> Output {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!(
                "{} -p {} git@{} \"$0\"",
                self.ssh_command(),
                self.host.addr.port(),
                self.host.addr.ip()
            ))
            .arg(command)
            .env("HOME", &self.home)
            .env_remove("SSH_AUTH_SOCK");
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }
}

fn text(o: &Output) -> String {
    crate::harness::text(o)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn our_git_push_backend_lists_and_pushes_through_the_git_host() {
    if !crate::support::require_peer("git") {
        return;
    }
    let f = fixture("git").await;
    let first = head_of(&f.work, "refs/heads/main");
    // ls-remote over git-receive-pack's advertisement; the host key is trusted on first use.
    let remote = git_push::remote_head(&f.work, &f.url, "main", f.access())
        .await
        .unwrap();
    assert_eq!(remote.map(|o| o.to_string()), Some(first.clone()));
    let known = std::fs::read_to_string(f.home.join(".ssh/known_hosts")).unwrap();
    assert!(
        known.starts_with(&format!(
            "[{}]:{} ssh-ed25519 ",
            f.host.addr.ip(),
            f.host.addr.port()
        )),
        "{known}"
    );
    // A commit pushed lands in the bare repository.
    let repo = git2::Repository::open(&f.work).unwrap();
    let second = commit_file(&repo, "flux.yaml", "kind: Kustomization\n").to_string();
    let pushed = git_push::push(&f.work, &f.url, "main", f.access())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pushed.head.to_string(), second);
    assert_eq!(head_of(&f.bare, "refs/heads/main"), second);
    assert_eq!(
        git_push::remote_head(&f.work, &f.url, "main", f.access())
            .await
            .unwrap()
            .map(|o| o.to_string()),
        Some(second.clone())
    );
    // A branch the remote moved past is refused as non-fast-forward (never forced).
    let stale = f.home.join("stale");
    let r = git2::build::RepoBuilder::new()
        .branch("main")
        .clone(&f.bare.display().to_string(), &stale)
        .unwrap();
    let sig = git2::Signature::now("Op Erator", "op@example.org").unwrap();
    let first_commit = r.find_commit(git2::Oid::from_str(&first).unwrap()).unwrap();
    r.reference("refs/heads/main", first_commit.id(), true, "rewind")
        .unwrap();
    r.commit(
        Some("refs/heads/main"),
        &sig,
        &sig,
        "diverged",
        &first_commit.tree().unwrap(),
        &[&first_commit],
    )
    .unwrap();
    let e = git_push::push(&stale, &f.url, "main", f.access())
        .await
        .unwrap_err();
    assert!(
        matches!(e, git_push::PushError::NonFastForward { .. }),
        "{e}"
    );
    assert_eq!(head_of(&f.bare, "refs/heads/main"), second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_git_cli_over_openssh_clones_fetches_and_pushes_through_the_git_host() {
    if !crate::support::require_peer("git") || !crate::support::require_peer("ssh") {
        return;
    }
    let f = fixture("git").await;
    let first = head_of(&f.work, "refs/heads/main");
    let top = f.home.clone();
    let out = f.git(&top, &["clone", &f.url, "clone"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let clone = top.join("clone");
    assert_eq!(head_of(&clone, "refs/heads/main"), first);
    assert_eq!(
        std::fs::read_to_string(clone.join("README")).unwrap(),
        "first\n"
    );

    // A push from the CLI lands.
    std::fs::write(clone.join("apps.yaml"), "kind: Kustomization\n").unwrap();
    for args in [&["add", "apps.yaml"][..], &["commit", "-q", "-m", "apps"]] {
        let out = f.git(&clone, args).await;
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = f.git(&clone, &["push", "origin", "main"]).await;
    assert!(out.status.success(), "{}", text(&out));
    let pushed = head_of(&clone, "refs/heads/main");
    assert_ne!(pushed, first);
    assert_eq!(head_of(&f.bare, "refs/heads/main"), pushed);

    // What our backend pushes next, the CLI fetches.
    let repo = git2::Repository::open(&f.work).unwrap();
    let mut remote = repo
        .remote_anonymous(&f.bare.display().to_string())
        .unwrap();
    remote
        .fetch(&["refs/heads/main:refs/remotes/local/main"], None, None)
        .unwrap();
    drop(remote);
    let tip = repo.refname_to_id("refs/remotes/local/main").unwrap();
    assert_eq!(tip.to_string(), pushed);
    repo.reference("refs/heads/main", tip, true, "fast-forward")
        .unwrap();
    repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .unwrap();
    let ours = commit_file(&repo, "ours.yaml", "ours: true\n").to_string();
    git_push::push(&f.work, &f.url, "main", f.access())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = f.git(&clone, &["fetch", "origin"]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(head_of(&clone, "refs/remotes/origin/main"), ours);

    // ls-remote with the scp-like form of the same repository.
    let scp = format!("git@{}:homelab.git", f.host.addr.ip());
    let mut ssh = f.ssh_command();
    ssh.push_str(&format!(" -p {}", f.host.addr.port()));
    let out = {
        let mut c = Command::new("git");
        c.args(["ls-remote", &scp, "refs/heads/main"])
            .env("HOME", &f.home)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_SSH_COMMAND", ssh)
            .env_remove("SSH_AUTH_SOCK");
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    };
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with(&ours),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_commands_and_other_repositories_are_refused() {
    if !crate::support::require_peer("git") || !crate::support::require_peer("ssh") {
        return;
    }
    let f = fixture("git").await;
    let out = f.ssh("ls -la /").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "`ls` is not allowed here: this git host runs only git-upload-pack and git-receive-pack"
        ),
        "{}",
        text(&out)
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
    // An unquoted path is not taken either (git-shell's rule).
    let out = f.ssh("git-upload-pack /homelab.git").await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("one single-quoted word"),
        "{}",
        text(&out)
    );
    // Another repository.
    let top = f.home.clone();
    let other = f.url.replace("/homelab.git", "/other.git");
    let out = f.git(&top, &["clone", &other, "other"]).await;
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("'/other.git' does not appear to be a git repository"),
        "{}",
        text(&out)
    );
    assert!(!top.join("other/.git").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_git_is_named_when_the_push_runs() {
    let f = fixture("git-is-not-installed-here").await;
    let e = git_push::remote_head(&f.work, &f.url, "main", f.access())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`git-is-not-installed-here` is not on PATH; the demo lab's git host runs git"),
        "{e}"
    );
}
