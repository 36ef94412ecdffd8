//! ssh_config cases of issue 13 (item 6) against real sshd on loopback: ProxyCommand, `Match
//! host` (and `Match exec` refused), StrictHostKeyChecking, UserKnownHostsFile, and
//! passphrase-protected ed25519 keys from the agent and from a file (asked once per run).

use crate::nodes::{self, Node, NodeSpec, Operator, sh};
use crate::ssh::{Scripted, accept, read_pub, run, start_agent, target};
use homelab::backends::ssh::{NodeShell, RemoteCommand, SshEnv, SshError, SshTarget};
use std::path::Path;
use std::sync::Arc;

fn write_config(op: &Operator, text: &str) {
    std::fs::write(op.home.join(".ssh/config"), text).unwrap();
}

fn alias(name: &str) -> SshTarget {
    SshTarget {
        alias: name.into(),
        user: None,
        port: None,
        identity_file: None,
    }
}

fn shell(op: &Operator, t: SshTarget, p: Arc<Scripted>) -> NodeShell {
    NodeShell::new(Arc::new(SshEnv::for_home(&op.home, None).unwrap()), t, p)
}

fn loopback(wd: &Path, name: &str, op: &Operator) -> Node {
    Node::start(wd, &NodeSpec::loopback(name), &op.pubkey())
}

/// `ProxyCommand` carries the whole connection: HostName is a name that does not resolve, so a
/// direct connection would fail; the command (a bash relay to the node's address) gets the
/// tokens expanded, and SSH runs over its stdin/stdout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_command_carries_the_connection_with_tokens_expanded() {
    if !nodes::have_sshd()
        || !nodes::require_peer("bash", nodes::which("bash"), "apt-get install -y bash")
    {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = loopback(wd.path(), "proxied", &op);
    let marker = wd.path().join("proxy-args");
    write_config(
        &op,
        &format!(
            "Host via-proxy\n  HostName node.invalid\n  Port {port}\n  User root\n\
             \x20 ProxyCommand bash -c 'echo \"$1 $2 $3 $4\" > {m}; exec 3<>/dev/tcp/$5/$2; cat <&3 & exec cat >&3' relay %h %p %r %n {addr}\n\
             Host broken-proxy\n  HostName node.invalid\n  Port {port}\n\
             \x20 ProxyCommand sh -c 'echo no route to $0 >&2; exit 1' %h\n",
            port = node.port,
            addr = node.addr,
            m = marker.display(),
        ),
    );
    let p = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    let (out, _) = run(
        &shell(&op, alias("via-proxy"), p.clone()),
        RemoteCommand::probe("echo through-the-proxy; echo $SSH_CONNECTION"),
    )
    .await
    .unwrap();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("through-the-proxy"));
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(&format!("{} {}", node.addr, node.port)),
        "{}",
        out.stdout
    );
    assert_eq!(
        std::fs::read_to_string(&marker).unwrap().trim(),
        format!("node.invalid {} root via-proxy", node.port)
    );
    // The host key is checked (and recorded) under the HostName, as OpenSSH does.
    assert_eq!(
        *p.asked.lock().unwrap(),
        vec!["trust node.invalid".to_string()]
    );

    let err = run(
        &shell(&op, alias("broken-proxy"), p.clone()),
        RemoteCommand::probe("true"),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SshError::Connect { .. }), "{msg}");
    assert!(
        msg.contains("ProxyCommand") && msg.contains("no route to node.invalid"),
        "{msg}"
    );
}

/// `Match host` applies (the key and user only it names get in), a negated pattern keeps a
/// block away, and `Match exec` stops at load time naming the file and line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_host_blocks_apply_and_match_exec_is_refused() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let only = op.extra_key("match_only", "ed25519", "");
    let node = Node::start(wd.path(), &NodeSpec::loopback("match"), &read_pub(&only));
    write_config(
        &op,
        &format!(
            "Match host 127.*,!{addr}\n  User nobody\n  Port 1\n\
             Match host {addr}\n  User root\n  Port {port}\n  IdentityFile ~/.ssh/match_only\n  IdentitiesOnly yes\n",
            addr = node.addr,
            port = node.port
        ),
    );
    let (out, _) = run(
        &NodeShell::new(
            Arc::new(SshEnv::for_home(&op.home, None).unwrap()),
            alias(&node.addr),
            accept(),
        ),
        RemoteCommand::probe("id -un"),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, "root\n");

    let config = op.home.join(".ssh/config");
    std::fs::write(
        &config,
        "Host *\n  User root\n\nMatch exec \"test -e /etc/hosts\"\n  User other\n",
    )
    .unwrap();
    let err = SshEnv::for_home(&op.home, None).unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "{}:4: `Match exec` is not supported",
            config.display()
        )),
        "{err}"
    );
}

/// StrictHostKeyChecking yes refuses an unknown key without asking; accept-new records a new
/// host without asking but refuses a changed key; no/off records unknown keys without asking
/// and still refuses changed and revoked keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_host_key_checking_yes_accept_new_and_no() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = loopback(wd.path(), "strict", &op);
    let known = op.home.join(".ssh/known_hosts");
    let name = crate::ssh::known_name(&node);
    let other = op.extra_key("not_the_host_key", "ed25519", "");
    let wrong_key = read_pub(&other)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let set = |mode: &str| write_config(&op, &format!("Host *\n  StrictHostKeyChecking {mode}\n"));
    let connect = |p: Arc<Scripted>| {
        let t = target(&node, "root", Some(&op.key));
        let sh = shell(&op, t, p);
        async move { run(&sh, RemoteCommand::probe("true")).await.map(|_| ()) }
    };

    // yes: refused, nobody asked, nothing written.
    set("yes");
    let p = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    let err = connect(p.clone()).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyStrict { .. }), "{err}");
    assert!(
        err.to_string().contains("StrictHostKeyChecking yes"),
        "{err}"
    );
    assert!(p.asked.lock().unwrap().is_empty());
    assert!(!known.exists());

    // accept-new: a new host is recorded without asking (the prompter would say no).
    set("accept-new");
    let p = Arc::new(Scripted::default());
    connect(p.clone()).await.unwrap();
    assert!(p.asked.lock().unwrap().is_empty());
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .contains(&node.host_pub())
    );
    // ... but a changed key stops it.
    let changed = format!("{name} {wrong_key}\n");
    std::fs::write(&known, &changed).unwrap();
    let err = connect(Arc::new(Scripted::default())).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyChanged(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&known).unwrap(), changed);

    // accept-new and a host on record with another key type: not new, so the prompt decides.
    let ecdsa = op.extra_key("other_type_host_key", "ecdsa", "");
    let ecdsa_line = read_pub(&ecdsa)
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let other_type = format!("{name} {ecdsa_line}\n");
    std::fs::write(&known, &other_type).unwrap();
    let p = Arc::new(Scripted::default());
    let err = connect(p.clone()).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyNotTrusted { .. }), "{err}");
    assert_eq!(p.host_prompts.lock().unwrap().len(), 1);
    assert!(!p.host_prompts.lock().unwrap()[0].is_new_host());
    assert_eq!(std::fs::read_to_string(&known).unwrap(), other_type);

    // no: unknown keys are recorded without asking; changed and revoked keys still stop.
    set("no");
    std::fs::remove_file(&known).unwrap();
    let p = Arc::new(Scripted::default());
    connect(p.clone()).await.unwrap();
    assert!(p.asked.lock().unwrap().is_empty());
    assert!(
        std::fs::read_to_string(&known)
            .unwrap()
            .contains(&node.host_pub())
    );
    std::fs::write(&known, &changed).unwrap();
    let err = connect(Arc::new(Scripted::default())).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyChanged(_)), "{err}");
    set("off");
    let revoked = format!("@revoked * {}\n", node.host_pub());
    std::fs::write(&known, &revoked).unwrap();
    let err = connect(Arc::new(Scripted::default())).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyRevoked { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&known).unwrap(), revoked);
}

/// UserKnownHostsFile: several files (with `~`), a key known in the second is trusted, a new
/// key goes to the first, ~/.ssh/known_hosts is not touched; `/dev/null` records nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_known_hosts_files_are_read_and_written_there() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let a = loopback(wd.path(), "kh-a", &op);
    let b = loopback(wd.path(), "kh-b", &op);
    let (first, second) = (
        op.home.join(".ssh/kh_first"),
        op.home.join(".ssh/kh_second"),
    );
    let default = op.home.join(".ssh/known_hosts");
    std::fs::write(
        &second,
        format!("{} {}\n", crate::ssh::known_name(&a), a.host_pub()),
    )
    .unwrap();
    write_config(
        &op,
        &format!(
            "Host {b}\n  UserKnownHostsFile /dev/null\n\
             Host *\n  UserKnownHostsFile ~/.ssh/kh_first \"~/.ssh/kh_second\"\n",
            b = b.addr
        ),
    );
    let connect = |node: &Node, p: Arc<Scripted>| {
        let sh = shell(&op, target(node, "root", Some(&op.key)), p);
        async move { run(&sh, RemoteCommand::probe("true")).await.map(|_| ()) }
    };

    // Known in the second file: no question.
    let quiet = Arc::new(Scripted::default());
    connect(&a, quiet.clone()).await.unwrap();
    assert!(quiet.asked.lock().unwrap().is_empty());
    // Unknown: the prompt names the first file, and the key lands there only.
    std::fs::write(&second, "").unwrap();
    let yes = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    connect(&a, yes.clone()).await.unwrap();
    assert_eq!(yes.host_prompts.lock().unwrap()[0].known_hosts, first);
    assert!(
        std::fs::read_to_string(&first)
            .unwrap()
            .contains(&a.host_pub())
    );
    assert_eq!(std::fs::read_to_string(&second).unwrap(), "");
    assert!(!default.exists(), "~/.ssh/known_hosts must not be used");

    // /dev/null: trusted for the connection, recorded nowhere, asked again next time.
    let yes = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    for _ in 0..2 {
        connect(&b, yes.clone()).await.unwrap();
    }
    assert_eq!(yes.asked.lock().unwrap().len(), 2);
    assert_eq!(
        yes.host_prompts.lock().unwrap()[0].known_hosts,
        Path::new("/dev/null")
    );
    assert!(
        !std::fs::read_to_string(&first)
            .unwrap()
            .contains(&b.host_pub())
    );
    assert!(!default.exists());
}

/// A passphrase-protected ed25519 key loaded into the real ssh-agent (passphrase fed through
/// SSH_ASKPASS): used without any passphrase question, even with IdentitiesOnly and no `.pub`
/// next to the key file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_ed25519_key_in_the_agent_needs_no_passphrase() {
    if !nodes::have_sshd()
        || !nodes::require_peer(
            "ssh-agent",
            nodes::which("ssh-agent") && nodes::which("ssh-add"),
            "apt-get install -y openssh-client",
        )
    {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let locked = op.extra_key("id_agent_locked", "ed25519", "agent pass");
    let node = Node::start(
        wd.path(),
        &NodeSpec::loopback("agentpass"),
        &read_pub(&locked),
    );
    let (_agent, sock) = start_agent(wd.path());
    let askpass = wd.path().join("askpass.sh");
    std::fs::write(&askpass, "#!/bin/sh\necho 'agent pass'\n").unwrap();
    sh(&format!("chmod 700 {}", askpass.display())).unwrap();
    sh(&format!(
        "SSH_AUTH_SOCK={} SSH_ASKPASS={} SSH_ASKPASS_REQUIRE=force DISPLAY=none ssh-add -q {} </dev/null",
        sock.display(),
        askpass.display(),
        locked.display()
    ))
    .unwrap();
    std::fs::remove_file(format!("{}.pub", locked.display())).unwrap();
    write_config(
        &op,
        "Host *\n  IdentitiesOnly yes\n  IdentityFile ~/.ssh/id_agent_locked\n",
    );
    let p = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    let sh_ = NodeShell::new(
        Arc::new(SshEnv::for_home(&op.home, Some(sock)).unwrap()),
        target(&node, "root", None),
        p.clone(),
    );
    let (out, _) = run(&sh_, RemoteCommand::probe("echo via-agent"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "via-agent\n");
    let asked = p.asked.lock().unwrap().clone();
    assert!(
        asked.iter().all(|a| !a.starts_with("passphrase")),
        "{asked:?}"
    );
}

/// A passphrase-protected ed25519 key read from its file: the passphrase is asked once for the
/// run, however many nodes and reconnections use the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_ed25519_key_file_is_asked_once_per_run() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let locked = op.extra_key("id_run_locked", "ed25519", "once only");
    let one = Node::start(wd.path(), &NodeSpec::loopback("once-1"), &read_pub(&locked));
    let two = Node::start(wd.path(), &NodeSpec::loopback("once-2"), &read_pub(&locked));
    let p = Arc::new(Scripted {
        trust: true,
        passphrase: Some("once only".into()),
        ..Default::default()
    });
    // One environment per run, shared by every node's shell (as the k3s stage does).
    let env = Arc::new(SshEnv::for_home(&op.home, None).unwrap());
    let shells: Vec<NodeShell> = [&one, &two]
        .into_iter()
        .map(|n| NodeShell::new(env.clone(), target(n, "root", Some(&locked)), p.clone()))
        .collect();
    let both = futures::future::join_all(
        shells
            .iter()
            .map(|s| run(s, RemoteCommand::probe("echo unlocked"))),
    )
    .await;
    for r in both {
        assert_eq!(r.unwrap().0.stdout, "unlocked\n");
    }
    shells[0].disconnect().await;
    run(&shells[0], RemoteCommand::probe("true")).await.unwrap();
    let asked = p.asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().filter(|a| a.starts_with("passphrase")).count(),
        1,
        "{asked:?}"
    );
}
