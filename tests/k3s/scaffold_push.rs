//! The scaffold's push (`p` on the form screen after the commit): `scaffold::push` over the
//! Flux stage's path, against a real git server (OpenSSH sshd, git-shell, a bare repository).

use crate::git_push::{BARE, access, bare_git, git_server};
use crate::lab::Lab;
use crate::nodes::{self, Operator};
use homelab::repo::tree::Tree;
use homelab::scaffold::{AppInput, TreeFacts, apply, plan, validate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scaffold_commit_is_pushed_to_the_branch_flux_follows() {
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

    let lab = Lab::new(&[]);
    let root = lab.root();
    let facts = TreeFacts::read(&Tree::load(&root).unwrap()).unwrap();
    let input = AppInput {
        name: "whoami".into(),
        category: "tools".into(),
        image: "traefik/whoami:v1.11.0".into(),
        ..AppInput::default()
    };
    let req = validate(&input, &facts).unwrap();
    let plan = plan::plan(&root, &facts, &req).unwrap();
    let id = match apply::apply(&root, &plan, true).unwrap() {
        apply::Applied::Committed { id, .. } => id,
        other => panic!("not committed: {other:?}"),
    };

    // HEAD is on main; Flux following another branch: refused, nothing pushed.
    let e = homelab::scaffold::push::push(&root, &url, "production", access(&op))
        .await
        .unwrap_err();
    assert!(
        e.contains("HEAD is on `main`, but Flux follows `production`"),
        "{e}"
    );
    assert_eq!(
        bare_git(&node, "for-each-ref --format='%(refname)' refs/heads").unwrap(),
        "",
        "nothing was pushed"
    );

    let said = homelab::scaffold::push::push(&root, &url, "main", access(&op))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let short = id.to_string();
    assert_eq!(said, format!("pushed {} to main at {url}", &short[..12]));
    assert_eq!(
        bare_git(&node, "rev-parse refs/heads/main").unwrap(),
        id.to_string()
    );
    assert_eq!(
        bare_git(&node, "log -1 --format=%an/%ae/%s main").unwrap(),
        format!(
            "{}/{}/apps: add whoami",
            crate::lab::AUTHOR,
            crate::lab::EMAIL
        )
    );
}
