//! `backends::git_push` against a real git server: OpenSSH sshd on a test node whose `git` user
//! has `git-shell` as its login shell and owns a bare repository. Checks the bare repository
//! afterwards, a push the pre-receive hook refuses, a non-fast-forward and a changed host key.

use crate::nodes::{self, Node, NodeSpec, Operator, sh};
use crate::ssh::accept;
use homelab::backends::git_push::{self, PushError, SshAccess};
use homelab::backends::ssh::{SshEnv, SshError};
use std::path::Path;
use std::sync::Arc;

pub(crate) const BARE: &str = "/var/lib/hlgit/flux.git";

/// A node serving `BARE` to user `git` (login shell git-shell), trusting the operator's key.
pub(crate) fn git_server(wd: &Path, op: &Operator) -> Node {
    let node = Node::start(wd, &NodeSpec::isolated("gitsrv"), &op.pubkey());
    let shell = sh("command -v git-shell").unwrap();
    let shell = shell.trim();
    node.exec(&format!(
        "useradd -M -d /var/lib/hlgit -s {shell} git && usermod -p '*' git && \
         mkdir -p /var/lib/hlgit && git init -q --bare -b main {BARE} && chown -R git /var/lib/hlgit"
    ))
    .unwrap();
    node
}

pub(crate) fn bare_git(node: &Node, args: &str) -> Result<String, String> {
    node.exec(&format!(
        "cd {BARE} && git -c safe.directory='*' --git-dir={BARE} {args}"
    ))
    .map(|s| s.trim().to_string())
}

fn local_repo(dir: &Path) -> git2::Repository {
    let repo =
        git2::Repository::init_opts(dir, git2::RepositoryInitOptions::new().initial_head("main"))
            .unwrap();
    let mut cfg = repo.config().unwrap();
    cfg.set_str("user.name", "Op Erator").unwrap();
    cfg.set_str("user.email", "op@example.org").unwrap();
    repo
}

pub(crate) fn access(op: &Operator) -> SshAccess {
    SshAccess {
        env: Arc::new(SshEnv::for_home(&op.home, None).unwrap()),
        prompter: accept(),
        identity_file: Some(op.key.display().to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_lands_in_the_bare_repository_and_refusals_say_why() {
    if !nodes::have_sshd()
        || !nodes::have_netns()
        || !nodes::require_peer(
            "git-shell",
            nodes::which("git-shell") && nodes::which("git"),
            "apt-get install -y git",
        )
    {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = git_server(wd.path(), &op);
    let url = format!("ssh://git@{}:{}{BARE}", node.addr, node.port);

    let work = tempfile::tempdir().unwrap();
    local_repo(work.path());
    std::fs::create_dir_all(work.path().join("cluster/flux")).unwrap();
    std::fs::write(
        work.path().join("cluster/flux/sync.yaml"),
        "kind: GitRepository\n",
    )
    .unwrap();
    let diff = git_push::diff_text(work.path(), &["cluster"]).unwrap();
    assert!(diff.contains("+kind: GitRepository"), "{diff}");
    let first = git_push::commit(work.path(), &["cluster"], "flux: sync objects")
        .unwrap()
        .unwrap();

    let pushed = git_push::push(work.path(), &url, "main", access(&op))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pushed.head, first);
    assert_eq!(
        bare_git(&node, "rev-parse refs/heads/main").unwrap(),
        first.to_string()
    );
    assert_eq!(
        bare_git(&node, "ls-tree -r --name-only main").unwrap(),
        "cluster/flux/sync.yaml"
    );
    assert_eq!(
        bare_git(&node, "log -1 --format=%an/%ae/%s main").unwrap(),
        "Op Erator/op@example.org/flux: sync objects"
    );
    // Nothing new: no commit, and pushing again changes nothing.
    assert_eq!(
        git_push::commit(work.path(), &["cluster"], "again").unwrap(),
        None
    );
    git_push::push(work.path(), &url, "main", access(&op))
        .await
        .unwrap();
    assert_eq!(
        bare_git(&node, "rev-parse main").unwrap(),
        first.to_string()
    );

    // A pre-receive hook refuses: the error carries the ref, the reason and the hook's words.
    node.exec(&format!(
        "printf '#!/bin/sh\\necho \"policy: pushes to main need a review\" >&2\\nexit 1\\n' \
         > {BARE}/hooks/pre-receive && chmod 755 {BARE}/hooks/pre-receive"
    ))
    .unwrap();
    std::fs::write(
        work.path().join("cluster/flux/sync.yaml"),
        "kind: Kustomization\n",
    )
    .unwrap();
    let second = git_push::commit(work.path(), &["cluster"], "flux: change")
        .unwrap()
        .unwrap();
    match git_push::push(work.path(), &url, "main", access(&op)).await {
        Err(e @ PushError::Rejected { .. }) => {
            let text = e.to_string();
            assert!(text.contains("refs/heads/main"), "{text}");
            assert!(text.contains("pre-receive hook declined"), "{text}");
            assert!(
                text.contains("policy: pushes to main need a review"),
                "{text}"
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        bare_git(&node, "rev-parse main").unwrap(),
        first.to_string()
    );

    // Someone else pushed meanwhile: a non-fast-forward, never forced.
    node.exec(&format!("rm {BARE}/hooks/pre-receive")).unwrap();
    node.exec(&format!(
        "cd {BARE} && c=$(GIT_AUTHOR_NAME=o GIT_AUTHOR_EMAIL=o@x GIT_COMMITTER_NAME=o \
         GIT_COMMITTER_EMAIL=o@x git -c safe.directory='*' commit-tree -p main -m theirs 'main^{{tree}}') \
         && git -c safe.directory='*' update-ref refs/heads/main $c"
    ))
    .unwrap();
    let theirs = bare_git(&node, "rev-parse main").unwrap();
    assert_ne!(theirs, first.to_string());
    match git_push::push(work.path(), &url, "main", access(&op)).await {
        Err(e @ PushError::NonFastForward { .. }) => {
            let text = e.to_string();
            assert!(text.contains("non-fast-forward"), "{text}");
            assert!(text.contains("git pull --rebase"), "{text}");
        }
        other => panic!("expected a non-fast-forward, got {other:?}"),
    }
    assert_eq!(bare_git(&node, "rev-parse main").unwrap(), theirs);
    assert_ne!(second.to_string(), theirs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_stops_the_push() {
    if !nodes::have_sshd() || !nodes::have_netns() || !nodes::which("git-shell") {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = git_server(wd.path(), &op);
    let url = format!("git@{}:{BARE}", node.addr);
    let other = op.extra_key("not_the_host", "ed25519", "");
    let other_pub = std::fs::read_to_string(format!("{}.pub", other.display())).unwrap();
    let other_pub: Vec<&str> = other_pub.split_whitespace().take(2).collect();
    std::fs::write(
        op.home.join(".ssh/known_hosts"),
        format!("{} {}\n", node.addr, other_pub.join(" ")),
    )
    .unwrap();

    let work = tempfile::tempdir().unwrap();
    local_repo(work.path());
    std::fs::write(work.path().join("f"), "x\n").unwrap();
    git_push::commit(work.path(), &[], "m").unwrap().unwrap();
    match git_push::push(work.path(), &url, "main", access(&op)).await {
        Err(PushError::Ssh(SshError::HostKeyChanged(changed), _)) => {
            assert_eq!(changed.host, node.addr);
        }
        other => panic!("expected a changed host key, got {other:?}"),
    }
    assert!(bare_git(&node, "rev-parse --verify -q refs/heads/main").is_err());
}
