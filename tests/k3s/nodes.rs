//! Test nodes: real OpenSSH `sshd` processes, each started by the test with its own host key and
//! authorized_keys. Where the sandbox allows (root + iproute2), every node is a small "VM": its own
//! network namespace and address (10.213.x.2 behind a veth pair), its own hostname (UTS namespace)
//! and its own view of /etc, /var/lib and /usr/local (overlay mounts in a private mount namespace,
//! with an empty /tmp and /root), so a k3s install stub can write /etc/rancher and
//! /usr/local/bin/k3s without touching the host, and the host's dotfiles do not run in it.
//! Elsewhere nodes fall back to sshd on loopback ports (SSH-only tests still run).
//!
//! Namespaces, links and subnets are machine-wide: a node's /24 (10.213.N.0/24) is claimed with
//! a lock file under /run/lock held for the node's lifetime (the kernel drops it when the test
//! process dies, however it dies), so tests of two runs at once never share one, and whatever
//! a killed run left behind on N (its namespace with a live sshd, its link with the gateway
//! address) is removed by the next claim before N is used again.

// `tests/support/net.rs`, as the including crate names it (tests/k3s.rs, benches/k3s_join.rs).
use crate::net;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The peer check every test starts with: skip with a reason, or fail under HOMELAB_REQUIRE_PEERS=1.
pub fn require_peer(name: &str, available: bool, reason: &str) -> bool {
    if available {
        return true;
    }
    if std::env::var("HOMELAB_REQUIRE_PEERS").as_deref() == Ok("1") {
        panic!("peer `{name}` is required (HOMELAB_REQUIRE_PEERS=1) but missing: {reason}");
    }
    eprintln!("SKIP: peer `{name}` missing: {reason}");
    false
}

pub fn have_sshd() -> bool {
    require_peer(
        "sshd",
        Path::new("/usr/sbin/sshd").exists() && which("ssh-keygen"),
        "install openssh-server and openssh-client (apt-get install -y openssh-server)",
    )
}

pub fn have_netns() -> bool {
    require_peer(
        "netns",
        netns_works(),
        "node namespaces need root, iproute2 and overlayfs (run as root)",
    )
}

pub fn have_sudo() -> bool {
    require_peer("sudo", which("sudo"), "apt-get install -y sudo")
}

fn netns_works() -> bool {
    static OK: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *OK.get_or_init(|| {
        let name = format!("hlprobe{}", std::process::id());
        sh(&format!("ip netns add {name} && ip netns del {name}")).is_ok()
            && which("unshare")
            && which("useradd")
    })
}

pub fn which(bin: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {bin}")])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Run a host shell command, returning stdout or the error text.
pub fn sh(script: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .args(["-c", script])
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{script}` failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The subnets test nodes may use: 10.213.N.0/24 for N in this range.
const SUBNETS: std::ops::Range<u32> = 20..220;

/// 10.213.N.0/24, claimed for one node: the lock is held until this is dropped.
pub struct Subnet {
    pub n: u32,
    _lock: std::fs::File,
}

impl Subnet {
    /// The namespace of the node on this subnet.
    fn netns(&self) -> String {
        format!("hlnode{}", self.n)
    }
    /// The host end of the node's link (the node's end is `...b`).
    fn veth(&self) -> String {
        format!("hlnode{}a", self.n)
    }

    /// Claim a free subnet (starting at a random one), after removing what an earlier run
    /// that died while holding it left there.
    fn claim() -> Subnet {
        Self::reap_dead_runs();
        let first = rand::random::<u32>();
        for i in 0..SUBNETS.len() as u32 {
            let n = SUBNETS.start + (first.wrapping_add(i)) % SUBNETS.len() as u32;
            if let Some(subnet) = Self::try_lock(n) {
                subnet.clear_leftovers();
                return subnet;
            }
        }
        panic!("every test node subnet 10.213.{SUBNETS:?}.0/24 is claimed");
    }

    /// Subnet `n`, unless someone alive holds it.
    fn try_lock(n: u32) -> Option<Subnet> {
        let dir = Path::new("/run/lock");
        let _ = std::fs::create_dir_all(dir);
        let path = dir.join(format!("homelab-test-node-{n}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // SAFETY: flock on a descriptor we own; no memory is involved.
        let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        locked.then_some(Subnet { n, _lock: file })
    }

    /// Once per test process: remove the namespaces and links of subnets nobody holds (runs
    /// that were killed), with their sshds, so they do not pile up until a claim lands there.
    fn reap_dead_runs() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let names = [
                sh("ip netns list").unwrap_or_default(),
                sh("ip -o link show").unwrap_or_default(),
            ]
            .join("\n");
            let used: std::collections::BTreeSet<u32> = names
                .split(|c: char| c.is_whitespace() || c == ':' || c == '@')
                .filter_map(|w| w.strip_prefix("hlnode"))
                .filter_map(|w| w.trim_end_matches(['a', 'b']).parse().ok())
                .collect();
            for n in used {
                if let Some(dead) = Self::try_lock(n) {
                    dead.clear_leftovers();
                }
            }
        });
    }

    /// Nobody alive holds the lock, so anything on this subnet is a dead run's: its namespace
    /// (and the sshd still serving in it) and any host link with an address in the subnet
    /// (also links named by the older pid-based scheme).
    fn clear_leftovers(&self) {
        let ns = self.netns();
        if let Ok(pids) = sh(&format!("ip netns pids {ns} 2>/dev/null")) {
            for pid in pids.split_whitespace() {
                let _ = sh(&format!("kill -9 {pid}"));
            }
            let _ = sh(&format!("ip netns del {ns} 2>/dev/null"));
        }
        let mut links = vec![self.veth()];
        if let Ok(out) = sh(&format!("ip -o -4 addr show to 10.213.{}.0/24", self.n)) {
            links.extend(
                out.lines()
                    .filter_map(|l| l.split_whitespace().nth(1))
                    .map(|dev| dev.split('@').next().unwrap_or(dev).to_owned())
                    .filter(|dev| dev.starts_with("hl")),
            );
        }
        for link in links {
            let _ = sh(&format!("ip link del {link} 2>/dev/null"));
        }
    }
}

/// Options for one node.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    /// In a namespace (own address, hostname, filesystem view) instead of a loopback port.
    pub isolated: bool,
    /// Ubuntu release written into the node's /etc/os-release.
    pub ubuntu: String,
    /// Existing host key to reuse (to simulate a reinstalled node, pass a fresh one).
    pub host_key: Option<PathBuf>,
}

impl NodeSpec {
    pub fn isolated(name: &str) -> Self {
        Self {
            name: name.into(),
            isolated: true,
            ubuntu: "24.04".into(),
            host_key: None,
        }
    }
    pub fn loopback(name: &str) -> Self {
        Self {
            isolated: false,
            ..Self::isolated(name)
        }
    }
}

/// One running sshd.
pub struct Node {
    pub name: String,
    pub addr: String,
    pub port: u16,
    pub dir: PathBuf,
    pub host_key: PathBuf,
    /// Isolated nodes: their claimed subnet (namespace and link are named after it).
    subnet: Option<Subnet>,
    child: Option<Child>,
}

impl Node {
    /// Start a node whose sshd trusts `authorized_keys`.
    pub fn start(base: &Path, spec: &NodeSpec, authorized_keys: &str) -> Node {
        let dir = base.join(format!("node-{}", spec.name));
        std::fs::create_dir_all(&dir).unwrap();
        sh(&format!("chmod 755 {} {}", base.display(), dir.display())).unwrap();
        std::fs::create_dir_all("/run/sshd").ok();
        let host_key = dir.join("ssh_host_ed25519_key");
        match &spec.host_key {
            Some(k) => {
                std::fs::copy(k, &host_key).unwrap();
                std::fs::copy(
                    format!("{}.pub", k.display()),
                    format!("{}.pub", host_key.display()),
                )
                .unwrap();
                sh(&format!("chmod 600 {}", host_key.display())).unwrap();
            }
            None => {
                sh(&format!(
                    "ssh-keygen -q -t ed25519 -N '' -f {}",
                    host_key.display()
                ))
                .unwrap();
            }
        }
        std::fs::write(dir.join("authorized_keys"), authorized_keys).unwrap();
        sh(&format!("chmod 644 {}/authorized_keys", dir.display())).unwrap();

        let (addr, port, subnet) = if spec.isolated {
            let subnet = Subnet::claim();
            let (n, ns, va) = (subnet.n, subnet.netns(), subnet.veth());
            let vb = format!("hlnode{n}b");
            sh(&format!(
                "ip netns add {ns} && ip link add {va} type veth peer name {vb} && \
                 ip link set {vb} netns {ns} && ip addr add 10.213.{n}.1/24 dev {va} && \
                 ip link set {va} up && ip netns exec {ns} ip addr add 10.213.{n}.2/24 dev {vb} && \
                 ip netns exec {ns} ip link set {vb} up && ip netns exec {ns} ip link set lo up && \
                 ip netns exec {ns} ip route add default via 10.213.{n}.1"
            ))
            .unwrap();
            (format!("10.213.{n}.2"), 22u16, Some(subnet))
        } else {
            // An address of its own: the port cannot be taken before sshd binds it (net.rs).
            let ip = net::loopback_ip();
            (ip.to_string(), net::free_port(ip), None)
        };

        let listen = if spec.isolated {
            "0.0.0.0".to_string()
        } else {
            addr.clone()
        };
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress {listen}\nHostKey {d}/ssh_host_ed25519_key\n\
                 PidFile {d}/sshd.pid\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 StrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n\
                 LogLevel VERBOSE\nMaxStartups 100\nMaxSessions 50\n"
            ),
        )
        .unwrap();
        let sshd = format!("exec /usr/sbin/sshd -D -e -f {d}/sshd_config");
        let log = std::fs::File::create(dir.join("sshd.log")).unwrap();
        let child = if let Some(ns) = subnet.as_ref().map(Subnet::netns) {
            std::fs::write(dir.join("setup.sh"), node_setup(&dir, spec) + &sshd + "\n").unwrap();
            Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &ns,
                    "unshare",
                    "--uts",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                ])
                .arg(dir.join("setup.sh"))
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap()
        } else {
            Command::new("sh")
                .args(["-c", &sshd])
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap()
        };
        let mut node = Node {
            name: spec.name.clone(),
            addr,
            port,
            dir,
            host_key,
            subnet,
            child: Some(child),
        };
        node.wait_listening();
        node
    }

    /// Until sshd accepts connections; fails at once if it (or the setup before it) exited,
    /// and after a generous bound otherwise.
    fn wait_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let target = format!("{}:{}", self.addr, self.port);
        let log = |dir: &Path| std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default();
        loop {
            if std::net::TcpStream::connect_timeout(
                &target.parse().unwrap(),
                Duration::from_millis(200),
            )
            .is_ok()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "sshd for {} exited ({status}) before listening on {target}: {}",
                    self.name,
                    log(&self.dir)
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "sshd for {} did not listen on {target}: {}",
                    self.name,
                    log(&self.dir)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The host key as OpenSSH prints its fingerprint.
    pub fn host_fingerprint(&self) -> String {
        let out = sh(&format!("ssh-keygen -lf {}.pub", self.host_key.display())).unwrap();
        out.split_whitespace().nth(1).unwrap().to_string()
    }

    /// The host's public key line (`type base64`).
    pub fn host_pub(&self) -> String {
        let t = std::fs::read_to_string(format!("{}.pub", self.host_key.display())).unwrap();
        t.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
    }

    /// A file as the node sees it (its overlay upper dir first, then the host).
    pub fn read_file(&self, path: &str) -> Option<String> {
        let rel = path.trim_start_matches('/');
        for (prefix, upper) in [
            ("etc/", "up/etc/"),
            ("var/lib/", "up/var/lib/"),
            ("usr/local/", "up/usr/local/"),
        ] {
            if let Some(rest) = rel.strip_prefix(prefix) {
                let p = self.dir.join(upper).join(rest);
                if p.exists() {
                    return std::fs::read_to_string(p).ok();
                }
            }
        }
        std::fs::read_to_string(path).ok()
    }

    /// Run a command inside the node (its namespaces), as root.
    pub fn exec(&self, script: &str) -> Result<String, String> {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        if self.subnet.is_some() {
            sh(&format!(
                "nsenter -t {pid} -n -m -u sh -c {}",
                homelab::shell_quote::quote(script)
            ))
        } else {
            sh(script)
        }
    }

    /// Kill every live connection's sshd process (the listener stays), like a dropped link.
    pub fn kill_connections(&self) {
        self.signal_connections("KILL");
    }

    /// Send `signal` (KILL, STOP, CONT...) to every live connection's processes.
    pub fn signal_connections(&self, signal: &str) {
        let pid = self.child.as_ref().map(|c| c.id()).unwrap_or(0);
        for child in descendants(pid) {
            let _ = sh(&format!("kill -{signal} {child}"));
        }
    }

    /// Stop the sshd (the namespace stays until drop).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// All descendant pids of `pid` (from /proc).
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = std::collections::HashMap::<u32, Vec<u32>>::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat"))
            && let Some(after) = stat.rsplit_once(')').map(|(_, a)| a.to_string())
            && let Some(ppid) = after.split_whitespace().nth(1).and_then(|s| s.parse().ok())
        {
            parents.entry(ppid).or_default().push(p);
        }
    }
    let mut out = vec![];
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        for c in parents.get(&p).cloned().unwrap_or_default() {
            out.push(c);
            stack.push(c);
        }
    }
    out
}

impl Drop for Node {
    fn drop(&mut self) {
        let pid = self.child.as_ref().map(|c| c.id());
        if let Some(pid) = pid {
            for c in descendants(pid) {
                let _ = sh(&format!("kill -9 {c}"));
            }
        }
        self.stop();
        // Then the lock goes (with `subnet`), once nothing is left on the subnet.
        if let Some(subnet) = &self.subnet {
            let _ = sh(&format!("ip netns del {}", subnet.netns()));
            let _ = sh(&format!("ip link del {} 2>/dev/null", subnet.veth()));
        }
    }
}

/// The script that turns a namespace into a small Ubuntu "VM" before exec'ing sshd.
fn node_setup(dir: &Path, spec: &NodeSpec) -> String {
    let d = dir.display();
    let name = &spec.name;
    let ver = &spec.ubuntu;
    format!(
        r#"set -e
mount --make-rprivate /
for p in etc var/lib usr/local; do
  mkdir -p {d}/up/$p {d}/work/$p
  mount -t overlay overlay -o lowerdir=/$p,upperdir={d}/up/$p,workdir={d}/work/$p /$p
done
mount -t cgroup2 none /sys/fs/cgroup 2>/dev/null || true
# Private /tmp like a VM's, and 2 GiB of swap as the node sees it (/proc/swaps, swapon --show).
mount -t tmpfs tmpfs /tmp
# A fresh VM's root home, not the host's: sshd runs commands through root's bash, which reads
# ~/.bashrc for them, and a host's may do anything (a pyenv init rehashes under a lock file on
# every command; a session killed by a test leaves the lock, and then every command as root
# waits 60 s for it).
mount -t tmpfs -o mode=0700 tmpfs /root
printf 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swap.img                               file\t\t2097148\t\t0\t\t-2\n' > {d}/swaps
mount --bind {d}/swaps /proc/swaps
# Anything calling swapoff is recorded (sudo's secure_path finds /usr/local/sbin first).
mkdir -p /usr/local/sbin /var/lib/homelab-test
printf '#!/bin/sh\necho "swapoff $*" >> /var/lib/homelab-test/swapoff-calls\nexit 0\n' > /usr/local/sbin/swapoff
chmod 755 /usr/local/sbin/swapoff
hostname {name}
echo {name} > /etc/hostname
printf '127.0.0.1 localhost\n127.0.1.1 {name}\n' > /etc/hosts
# /etc/os-release links to /usr/lib/os-release (Debian, Ubuntu), which is not overlaid:
# writing through the link rewrote the host's file, every node's setup truncating it while
# other nodes read it. The node gets a file of its own in the overlay instead.
rm -f /etc/os-release
cat > /etc/os-release <<EOF
PRETTY_NAME="Ubuntu {ver} LTS"
NAME="Ubuntu"
VERSION_ID="{ver}"
ID=ubuntu
ID_LIKE=debian
EOF
printf '/swap.img none swap sw 0 0\n' >> /etc/fstab
id ubuntu >/dev/null 2>&1 || useradd -M -d /var/lib/ubuntu-home -s /bin/sh ubuntu
usermod -p '*' ubuntu
id op >/dev/null 2>&1 || useradd -M -d /var/lib/op-home -s /bin/sh op
echo 'op:correct horse' | chpasswd
mkdir -p /etc/sudoers.d
printf 'ubuntu ALL=(ALL) NOPASSWD:ALL\nop ALL=(ALL) ALL\n' > /etc/sudoers.d/homelab-test
chmod 0440 /etc/sudoers.d/homelab-test
"#
    )
}

/// A throwaway operator: home with ~/.ssh, client keys.
pub struct Operator {
    pub home: PathBuf,
    pub key: PathBuf,
}

impl Operator {
    pub fn new(base: &Path) -> Operator {
        let home = base.join("home");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let key = home.join(".ssh").join("id_ed25519");
        sh(&format!(
            "ssh-keygen -q -t ed25519 -N '' -C operator -f {}",
            key.display()
        ))
        .unwrap();
        Operator { home, key }
    }

    pub fn pubkey(&self) -> String {
        std::fs::read_to_string(format!("{}.pub", self.key.display())).unwrap()
    }

    /// A new key of `kind` (ed25519, ecdsa, rsa), optionally encrypted.
    pub fn extra_key(&self, name: &str, kind: &str, passphrase: &str) -> PathBuf {
        let p = self.home.join(".ssh").join(name);
        let bits = if kind == "rsa" { "-b 3072" } else { "" };
        sh(&format!(
            "ssh-keygen -q -t {kind} {bits} -N {} -C {name} -f {}",
            homelab::shell_quote::quote(passphrase),
            p.display()
        ))
        .unwrap();
        p
    }
}

/// A tempdir the node users can traverse, outside /tmp (isolated nodes get a private /tmp).
pub fn workdir() -> tempfile::TempDir {
    let d = tempfile::Builder::new()
        .prefix("hl-k3s-")
        .tempdir_in("/var/tmp")
        .unwrap();
    sh(&format!("chmod 755 {}", d.path().display())).unwrap();
    d
}
