//! The SSH backend against real sshd: auth (files, agent, encrypted keys), host key trust,
//! changed keys, hashed known_hosts, ssh_config + ProxyJump, sudo, failures, drops, SFTP.

use crate::nodes::{self, Node, NodeSpec, Operator, sh};
use async_trait::async_trait;
use homelab::backends::ssh::prompt::{HostKeyPrompt, NonInteractive, Prompter};
use homelab::backends::ssh::{
    NodeShell, RemoteCommand, RemoteShell, SshEnv, SshError, SshTarget, Stream,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use zeroize::Zeroizing;

/// Answers prompts from a script and records what was asked.
#[derive(Default)]
pub struct Scripted {
    pub trust: bool,
    pub passphrase: Option<String>,
    pub sudo: Option<String>,
    pub asked: Mutex<Vec<String>>,
    pub host_prompts: Mutex<Vec<HostKeyPrompt>>,
}

#[async_trait]
impl Prompter for Scripted {
    async fn trust_host_key(&self, prompt: &HostKeyPrompt) -> bool {
        self.asked
            .lock()
            .unwrap()
            .push(format!("trust {}", prompt.host));
        self.host_prompts.lock().unwrap().push(prompt.clone());
        self.trust
    }
    async fn key_passphrase(&self, key_path: &Path) -> Option<Zeroizing<String>> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("passphrase {}", key_path.display()));
        self.passphrase.clone().map(Zeroizing::new)
    }
    async fn sudo_password(&self, user: &str, host: &str) -> Option<Zeroizing<String>> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("sudo {user}@{host}"));
        self.sudo.clone().map(Zeroizing::new)
    }
}

pub fn accept() -> Arc<dyn Prompter> {
    Arc::new(NonInteractive { accept_new: true })
}

pub fn target(node: &Node, user: &str, key: Option<&Path>) -> SshTarget {
    SshTarget {
        alias: node.addr.clone(),
        user: Some(user.into()),
        port: Some(node.port),
        identity_file: key.map(|k| k.display().to_string()),
    }
}

pub fn env(op: &Operator, agent: Option<PathBuf>) -> Arc<SshEnv> {
    Arc::new(SshEnv::for_home(&op.home, agent).unwrap())
}

pub async fn run(
    shell: &NodeShell,
    cmd: RemoteCommand,
) -> Result<(homelab::backends::ssh::ExecOutcome, Vec<(Stream, String)>), SshError> {
    let mut lines = vec![];
    let out = shell
        .run(&cmd, &mut |l| lines.push((l.stream, l.text)))
        .await?;
    Ok((out, lines))
}

pub fn spec(name: &str) -> NodeSpec {
    if nodes::have_netns() {
        NodeSpec::isolated(name)
    } else {
        NodeSpec::loopback(name)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_files_of_every_type_stream_output_and_exit_status() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let ecdsa = op.extra_key("id_ecdsa_test", "ecdsa", "");
    let rsa = op.extra_key("id_rsa_test", "rsa", "");
    let auth = [op.pubkey(), read_pub(&ecdsa), read_pub(&rsa)].join("");
    let node = Node::start(wd.path(), &spec("keys"), &auth);
    for key in [op.key.clone(), ecdsa, rsa] {
        let shell = NodeShell::new(env(&op, None), target(&node, "root", Some(&key)), accept());
        let (out, lines) = run(
            &shell,
            RemoteCommand::probe("echo one; echo two >&2; printf 'three'; exit 3"),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        assert_eq!(out.exit_status, Some(3));
        assert_eq!(out.stdout, "one\nthree\n");
        assert_eq!(out.stderr, "two\n");
        assert!(lines.contains(&(Stream::Stderr, "two".into())), "{lines:?}");
        assert!(lines.contains(&(Stream::Stdout, "three".into())));
    }
}

pub fn read_pub(key: &Path) -> String {
    std::fs::read_to_string(format!("{}.pub", key.display())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_key_authenticates_without_files() {
    if !nodes::have_sshd()
        || !nodes::require_peer(
            "ssh-agent",
            nodes::which("ssh-agent"),
            "apt-get install -y openssh-client",
        )
    {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let agent_key = op.extra_key("agent_only", "ed25519", "");
    let (_agent, sock) = start_agent(wd.path());
    sh(&format!(
        "SSH_AUTH_SOCK={} ssh-add -q {}",
        sock.display(),
        agent_key.display()
    ))
    .unwrap();
    // Only the agent's key is authorized; the operator's default key file is not.
    let node = Node::start(wd.path(), &spec("agent"), &read_pub(&agent_key));
    std::fs::remove_file(&agent_key).unwrap();
    std::fs::remove_file(&op.key).unwrap();
    let shell = NodeShell::new(
        env(&op, Some(sock.clone())),
        target(&node, "root", None),
        accept(),
    );
    let (out, _) = run(&shell, RemoteCommand::probe("echo via-agent"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "via-agent\n");

    // Without the agent nothing authenticates, and the error lists what was tried.
    let shell = NodeShell::new(env(&op, None), target(&node, "root", None), accept());
    let err = run(&shell, RemoteCommand::probe("true")).await.unwrap_err();
    assert!(matches!(err, SshError::AuthFailed { .. }), "{err}");
}

/// A real `ssh-agent` on a socket in `dir`, ready (it accepts connections); killed when the
/// returned guard drops.
pub fn start_agent(dir: &Path) -> (KillOnDrop, PathBuf) {
    let sock = dir.join("agent.sock");
    let agent = std::process::Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut agent = KillOnDrop(agent);
    // Ready when it accepts connections (the socket file exists a moment before it listens).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::os::unix::net::UnixStream::connect(&sock).is_err() {
        if let Ok(Some(status)) = agent.0.try_wait() {
            panic!(
                "ssh-agent exited ({status}) before listening on {}",
                sock.display()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ssh-agent never listened on {}",
            sock.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    (agent, sock)
}

/// A child process killed (and reaped) when the test ends, passed or not.
pub struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_key_asks_for_its_passphrase_once() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let locked = op.extra_key("id_locked", "ed25519", "open sesame");
    let node = Node::start(wd.path(), &spec("enc"), &read_pub(&locked));
    let wrong = Arc::new(Scripted {
        trust: true,
        passphrase: Some("wrong".into()),
        ..Default::default()
    });
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&locked)),
        wrong.clone(),
    );
    let err = run(&shell, RemoteCommand::probe("true")).await.unwrap_err();
    assert!(err.to_string().contains("id_locked"), "{err}");

    let right = Arc::new(Scripted {
        trust: true,
        passphrase: Some("open sesame".into()),
        ..Default::default()
    });
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&locked)),
        right.clone(),
    );
    let (out, _) = run(&shell, RemoteCommand::probe("echo unlocked"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "unlocked\n");
    let asked = right.asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().filter(|a| a.starts_with("passphrase")).count(),
        1,
        "{asked:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_host_prompts_with_fingerprint_and_records_only_when_trusted() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Node::start(wd.path(), &spec("tofu"), &op.pubkey());
    let known = op.home.join(".ssh/known_hosts");

    let no = Arc::new(Scripted::default());
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        no.clone(),
    );
    let err = run(&shell, RemoteCommand::probe("true")).await.unwrap_err();
    assert!(matches!(err, SshError::HostKeyNotTrusted { .. }), "{err}");
    let prompt = no.host_prompts.lock().unwrap()[0].clone();
    assert_eq!(prompt.fingerprint, node.host_fingerprint());
    assert_eq!(prompt.algorithm, "ssh-ed25519");
    assert!(!known.exists(), "an untrusted key must not be recorded");

    let yes = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        yes.clone(),
    );
    run(&shell, RemoteCommand::probe("true")).await.unwrap();
    let text = std::fs::read_to_string(&known).unwrap();
    assert!(text.contains(&node.host_pub()), "{text}");

    // Known now: a second connection does not ask, and hashing the file keeps it known.
    sh(&format!("ssh-keygen -q -H -f {}", known.display())).unwrap();
    assert!(std::fs::read_to_string(&known).unwrap().starts_with("|1|"));
    let again = Arc::new(Scripted::default());
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        again.clone(),
    );
    run(&shell, RemoteCommand::probe("true")).await.unwrap();
    assert!(again.asked.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_host_key_stops_and_known_hosts_is_untouched() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let mut node = Node::start(wd.path(), &spec("rekey"), &op.pubkey());
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        accept(),
    );
    run(&shell, RemoteCommand::probe("true")).await.unwrap();
    let known = op.home.join(".ssh/known_hosts");
    let before = std::fs::read(&known).unwrap();

    // "Reinstall" the node: same address, new host key.
    node.stop();
    drop(node);
    let node = Node::start(wd.path(), &spec("rekey2"), &op.pubkey());
    // The fresh node may get another address; point the old entry at it so it is a real change.
    let old_line = String::from_utf8(before.clone()).unwrap();
    let old_key = old_line
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ");
    let name = if node.port == 22 {
        node.addr.clone()
    } else {
        format!("[{}]:{}", node.addr, node.port)
    };
    std::fs::write(&known, format!("{name} {old_key}\n")).unwrap();
    let before = std::fs::read(&known).unwrap();

    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        accept(),
    );
    let err = run(&shell, RemoteCommand::probe("true")).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, SshError::HostKeyChanged(_)), "{msg}");
    assert!(
        msg.contains("HOST KEY CHANGED") && msg.contains(&node.host_fingerprint()),
        "{msg}"
    );
    assert!(msg.contains("known_hosts:1"), "{msg}");
    assert_eq!(
        std::fs::read(&known).unwrap(),
        before,
        "known_hosts must not change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_config_and_proxy_jump_reach_a_host_only_the_jump_host_sees() {
    if !nodes::have_sshd() || !nodes::have_netns() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let bastion = Node::start(wd.path(), &NodeSpec::isolated("bastion"), &op.pubkey());
    // `inner` is the bastion's own loopback: unreachable from here, reachable through the jump.
    std::fs::write(
        op.home.join(".ssh/config"),
        format!(
            "Host inner\n  HostName 127.0.0.1\n  Port 22\n  User root\n  ProxyJump jump\n  IdentitiesOnly yes\n  IdentityFile ~/.ssh/id_ed25519\n\n\
             Host jump\n  HostName {}\n  User root\n  IdentityFile ~/.ssh/id_ed25519\n",
            bastion.addr
        ),
    )
    .unwrap();
    let t = SshTarget {
        alias: "inner".into(),
        user: None,
        port: None,
        identity_file: None,
    };
    let prompts = Arc::new(Scripted {
        trust: true,
        ..Default::default()
    });
    let shell = NodeShell::new(env(&op, None), t, prompts.clone());
    let (out, _) = run(
        &shell,
        RemoteCommand::probe("hostname; echo $SSH_CONNECTION"),
    )
    .await
    .unwrap();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("bastion"));
    assert!(
        lines.next().unwrap().starts_with("127.0.0.1 "),
        "{}",
        out.stdout
    );
    let asked = prompts.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        vec![
            format!("trust {}", bastion.addr),
            "trust 127.0.0.1".to_string()
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_without_and_with_a_prompted_password() {
    if !nodes::have_sshd() || !nodes::have_netns() || !nodes::have_sudo() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Node::start(wd.path(), &NodeSpec::isolated("sudo"), &op.pubkey());

    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "ubuntu", Some(&op.key)),
        accept(),
    );
    let (out, _) = run(&shell, RemoteCommand::root("id -un")).await.unwrap();
    assert_eq!(out.stdout, "root\n");
    let (out, _) = run(&shell, RemoteCommand::probe("id -un")).await.unwrap();
    assert_eq!(out.stdout, "ubuntu\n");

    // `op` needs a password: asked once, then reused in memory for the next command.
    let p = Arc::new(Scripted {
        trust: true,
        sudo: Some("correct horse".into()),
        ..Default::default()
    });
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "op", Some(&op.key)),
        p.clone(),
    );
    for _ in 0..2 {
        let (out, lines) = run(&shell, RemoteCommand::root("id -un")).await.unwrap();
        assert_eq!(out.stdout, "root\n");
        assert!(lines.iter().all(|(_, l)| !l.contains("correct horse")));
    }
    let asked = p.asked.lock().unwrap().clone();
    assert_eq!(
        asked.iter().filter(|a| a.starts_with("sudo ")).count(),
        1,
        "{asked:?}"
    );

    let bad = Arc::new(Scripted {
        trust: true,
        sudo: Some("wrong".into()),
        ..Default::default()
    });
    let shell = NodeShell::new(env(&op, None), target(&node, "op", Some(&op.key)), bad);
    let err = run(&shell, RemoteCommand::root("id -un"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("sudo password was rejected"),
        "{err}"
    );

    let none = NodeShell::new(env(&op, None), target(&node, "op", Some(&op.key)), accept());
    let err = run(&none, RemoteCommand::root("true")).await.unwrap_err();
    assert!(
        err.to_string().contains("needs a password for sudo"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_connection_mid_stream_is_reported_then_reconnected() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Arc::new(Node::start(wd.path(), &spec("drop"), &op.pubkey()));
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        accept(),
    );
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let killer = {
        let node = node.clone();
        tokio::spawn(async move {
            // Kill once the first line arrived: the command is mid-stream.
            rx.recv().await;
            node.kill_connections();
        })
    };
    let cmd = RemoteCommand::root("echo started; sleep 30; echo never");
    let res = shell
        .run(&cmd, &mut |l| {
            let _ = tx.send(l.text);
        })
        .await;
    killer.await.unwrap();
    let err = res.unwrap_err();
    assert!(matches!(err, SshError::Disconnected { .. }), "{err}");
    assert!(err.to_string().contains("sleep 30"), "{err}");
    // The next command reconnects by itself.
    let (out, _) = run(&shell, RemoteCommand::probe("echo back"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "back\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sftp_upload_reports_progress_and_lands_intact() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Node::start(wd.path(), &spec("sftp"), &op.pubkey());
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        accept(),
    );
    let data: Vec<u8> = (0..(3 * 1024 * 1024 + 123))
        .map(|i: u32| (i * 31 % 251) as u8)
        .collect();
    let local = wd.path().join("blob");
    std::fs::write(&local, &data).unwrap();
    let expect = sh(&format!("sha256sum {}", local.display())).unwrap();
    let expect = expect.split_whitespace().next().unwrap().to_string();
    let remote = format!("/tmp/hl-upload-{}", std::process::id());
    let mut progress = vec![];
    let mut f = tokio::fs::File::open(&local).await.unwrap();
    let sent = shell
        .upload(&mut f, data.len() as u64, &remote, 0o750, &mut |s, t| {
            progress.push((s, t))
        })
        .await
        .unwrap();
    assert_eq!(sent, data.len() as u64);
    assert_eq!(progress.first(), Some(&(0, data.len() as u64)));
    assert_eq!(
        progress.last(),
        Some(&(data.len() as u64, data.len() as u64))
    );
    assert!(progress.len() > 10, "progress is reported per chunk");
    assert!(progress.windows(2).all(|w| w[0].0 <= w[1].0));
    let (out, _) = run(
        &shell,
        RemoteCommand::probe(format!(
            "sha256sum {remote} | cut -d' ' -f1; stat -c %a {remote}; rm -f {remote}"
        )),
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, format!("{expect}\n750\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn command_timeout_is_reported_and_the_session_stays_usable() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Node::start(wd.path(), &spec("timeout"), &op.pubkey());
    let shell = NodeShell::new(
        env(&op, None),
        target(&node, "root", Some(&op.key)),
        accept(),
    );
    let mut cmd = RemoteCommand::probe("echo begin; sleep 20");
    cmd.timeout = Some(std::time::Duration::from_millis(700));
    cmd.idempotent = false;
    let err = run(&shell, cmd).await.unwrap_err();
    match &err {
        SshError::Timeout { what, .. } => assert!(what.contains("sleep 20"), "{err}"),
        other => panic!("expected a timeout, got {other}"),
    }
    let (out, _) = run(&shell, RemoteCommand::probe("echo still-here"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "still-here\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_notices_a_frozen_peer_and_the_next_command_reconnects() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Arc::new(Node::start(wd.path(), &spec("frozen"), &op.pubkey()));
    let mut e = SshEnv::for_home(&op.home, None).unwrap();
    e.keepalive = std::time::Duration::from_millis(300);
    let shell = NodeShell::new(Arc::new(e), target(&node, "root", Some(&op.key)), accept());
    run(&shell, RemoteCommand::probe("true")).await.unwrap();
    // Freeze the connection's sshd processes: the TCP link stays up but nothing answers.
    let frozen = {
        let node = node.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            node.signal_connections("STOP");
        })
    };
    let mut cmd = RemoteCommand::root("echo started; sleep 60");
    cmd.timeout = None;
    // Without keepalives this would hang until the 60 s sleep; the guard only avoids a hung test.
    let err = tokio::time::timeout(std::time::Duration::from_secs(50), run(&shell, cmd))
        .await
        .expect("keepalive should have dropped the frozen connection")
        .unwrap_err();
    frozen.await.unwrap();
    assert!(matches!(err, SshError::Disconnected { .. }), "{err}");
    node.signal_connections("KILL");
    let (out, _) = run(&shell, RemoteCommand::probe("echo back"))
        .await
        .unwrap();
    assert_eq!(out.stdout, "back\n");
}

pub fn known_name(node: &Node) -> String {
    homelab::backends::ssh::known_hosts::host_port_name(&node.addr, node.port)
}

/// Issue 12: `@revoked` only counted when it came first. A host key trusted in
/// ~/.ssh/known_hosts and revoked in the global file, or revoked further down the same file,
/// now stops the connection (and with it the run), and known_hosts is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_host_key_stops_the_connection_wherever_it_is_revoked() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Node::start(wd.path(), &spec("revoked"), &op.pubkey());
    let (name, host_key) = (known_name(&node), node.host_pub());
    let known = op.home.join(".ssh/known_hosts");
    std::fs::create_dir_all(known.parent().unwrap()).unwrap();
    let global = wd.path().join("ssh_known_hosts");
    let shell_with = |files: Vec<PathBuf>| {
        let mut env = SshEnv::for_home(&op.home, None).unwrap();
        env.known_hosts = files;
        NodeShell::new(
            Arc::new(env),
            target(&node, "root", Some(&op.key)),
            accept(),
        )
    };

    // Trusted, nothing revoked: connects (the control for the two cases below).
    std::fs::write(&known, format!("{name} {host_key}\n")).unwrap();
    std::fs::write(&global, "# fleet-wide\n").unwrap();
    run(
        &shell_with(vec![known.clone(), global.clone()]),
        RemoteCommand::probe("true"),
    )
    .await
    .unwrap();

    // Revoked in the global file, after the user file trusted it.
    std::fs::write(&global, format!("# fleet-wide\n@revoked * {host_key}\n")).unwrap();
    let err = run(
        &shell_with(vec![known.clone(), global.clone()]),
        RemoteCommand::probe("true"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SshError::HostKeyRevoked { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("{}:2", global.display())),
        "{err}"
    );

    // Revoked further down the same file.
    let text = format!("{name} {host_key}\n@revoked {name} {host_key}\n");
    std::fs::write(&known, &text).unwrap();
    let err = run(
        &shell_with(vec![known.clone()]),
        RemoteCommand::probe("true"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, SshError::HostKeyRevoked { line: 2, .. }),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&known).unwrap(), text);
}

/// Issue 12: a host on record with another key type is not new. The prompt lists the key on
/// record, and `--accept-new` does not trust it on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_key_type_for_a_known_host_is_asked_about_not_accepted_as_new() {
    if !nodes::have_sshd() {
        return;
    }
    let wd = nodes::workdir();
    let op = Operator::new(wd.path());
    let node = Node::start(wd.path(), &spec("othertype"), &op.pubkey());
    let known = op.home.join(".ssh/known_hosts");
    std::fs::create_dir_all(known.parent().unwrap()).unwrap();
    let ecdsa = op.extra_key("other_host_key", "ecdsa", "");
    let ecdsa_pub = read_pub(&ecdsa);
    let ecdsa_pub: Vec<&str> = ecdsa_pub.split_whitespace().take(2).collect();
    let text = format!("{} {}\n", known_name(&node), ecdsa_pub.join(" "));
    std::fs::write(&known, &text).unwrap();

    let err = run(
        &NodeShell::new(
            env(&op, None),
            target(&node, "root", Some(&op.key)),
            accept(),
        ),
        RemoteCommand::probe("true"),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SshError::HostKeyNotTrusted { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        text,
        "--accept-new must not add it"
    );

    let asked = Arc::new(Scripted::default());
    let _ = run(
        &NodeShell::new(
            env(&op, None),
            target(&node, "root", Some(&op.key)),
            asked.clone(),
        ),
        RemoteCommand::probe("true"),
    )
    .await;
    let prompt = asked.host_prompts.lock().unwrap()[0].clone();
    assert!(!prompt.is_new_host());
    assert_eq!(prompt.other_keys.len(), 1, "{:?}", prompt.other_keys);
    assert!(
        prompt.other_keys[0].starts_with("ecdsa-sha2-nistp256 SHA256:"),
        "{:?}",
        prompt.other_keys
    );
    assert!(
        prompt.other_keys[0].ends_with("known_hosts:1)"),
        "{:?}",
        prompt.other_keys
    );
    assert!(
        prompt
            .question()
            .contains("already known with another key type")
    );
}
