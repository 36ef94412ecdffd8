//! What a simulated node does with the scripts the k3s stage sends (`src/stages/k3s/commands.rs`):
//! each script is recognised by its shape, never run. Pure: a script and the node's state in,
//! the output lines, the exit status and the node's new state out; the server paces the lines.
//!
//! Recognised: the preflight probe (`echo "os=..."` lines), `k3s --version`, reading and writing
//! root files (the swap drop-in, kube-vip's manifest: `cat > FILE.tmp <<'HOMELAB_EOF'`), the
//! join token and k3s.yaml (`cat /var/lib/rancher/k3s/...`), and the install script (`sh
//! "$tmp/install.sh" server|agent ...` with `INSTALL_K3S_VERSION`, `K3S_TOKEN`, `K3S_URL`).
//! The storage stage's scripts are in `storage.rs`.
//! Anything else exits 127 naming the node, so a new command the stage learns shows up at once.

use std::collections::BTreeMap;

/// The facts a node reports (from its VM's definition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeProfile {
    pub name: String,
    pub cores: u32,
    pub memory_mib: u64,
}

/// What a node holds: its files and the installed k3s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    pub files: BTreeMap<String, String>,
    /// `k3s --version`'s version, once installed.
    pub k3s: Option<String>,
    /// `server` or `agent`, once installed.
    pub role: Option<String>,
    /// Packages, services, modules and NFS exports the storage stage's scripts see.
    pub storage: super::storage::NodeStorage,
}

/// Where a line goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Stdout,
    Stderr,
}

/// One line of output (with its newline) and how much of the command's simulated duration passes before it
/// (in thousandths of the whole).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub out: Out,
    pub text: String,
    pub weight: u32,
}

/// An install the node performed: the server makes it a Kubernetes node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub version: String,
    pub server: bool,
}

/// The answer to one script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub lines: Vec<Line>,
    pub status: u32,
    /// The simulated duration's weight: installs take long, probes do not.
    pub slow: bool,
    pub installed: Option<Installed>,
}

impl Answer {
    pub(super) fn quick(status: u32, stdout: &str) -> Answer {
        Answer {
            lines: stdout
                .lines()
                .map(|l| Line {
                    out: Out::Stdout,
                    text: format!("{l}\n"),
                    weight: 0,
                })
                .collect(),
            status,
            slow: false,
            installed: None,
        }
    }

    /// The same answer with `text` as its stderr lines.
    pub(super) fn with_stderr(mut self, text: &str) -> Answer {
        self.lines.extend(text.lines().map(|l| Line {
            out: Out::Stderr,
            text: format!("{l}\n"),
            weight: 0,
        }));
        self
    }

    pub(super) fn error(text: String, status: u32) -> Answer {
        Answer {
            lines: vec![Line {
                out: Out::Stderr,
                text: format!("{text}\n"),
                weight: 0,
            }],
            status,
            slow: false,
            installed: None,
        }
    }
}

pub const TOKEN_PATH: &str = "/var/lib/rancher/k3s/server/node-token";
pub const KUBECONFIG_PATH: &str = "/etc/rancher/k3s/k3s.yaml";

/// Run `script` (as `sh -s` reads it) on the node. `kubeconfig` is what the node's k3s.yaml
/// holds once it is a server.
pub fn answer(
    profile: &NodeProfile,
    state: &mut NodeState,
    script: &str,
    kubeconfig: &str,
) -> Answer {
    let script = script.trim_end();
    if script.contains("echo \"os=") {
        return Answer::quick(0, &facts(profile, state));
    }
    if script.contains("k3s --version | head -n1") && !script.contains("install.sh") {
        let out = state
            .k3s
            .as_ref()
            .map(|v| format!("k3s version {v} (demo)"))
            .unwrap_or_default();
        return Answer::quick(0, &out);
    }
    if script.contains("sh \"$tmp/install.sh\"") {
        return install(profile, state, script, kubeconfig);
    }
    if let Some(a) = super::storage::answer(state, script) {
        return a;
    }
    if let Some((file, content)) = heredoc_write(script) {
        state.files.insert(file, content);
        return Answer::quick(0, "");
    }
    if let Some(rest) = script.strip_prefix("cat ") {
        let lenient = rest.ends_with("2>/dev/null || true");
        let path = unquote(rest.trim_end_matches("2>/dev/null || true").trim());
        return match state.files.get(&path) {
            Some(c) => Answer::quick(0, "").with_raw(c),
            None if lenient => Answer::quick(0, ""),
            None => Answer::error(format!("cat: {path}: No such file or directory"), 1),
        };
    }
    if script == "true" {
        return Answer::quick(0, "");
    }
    Answer::error(
        format!(
            "{}: homelab demo node: this command is not simulated: {}",
            profile.name,
            script.lines().next().unwrap_or("")
        ),
        127,
    )
}

impl Answer {
    /// Stdout exactly as `text` (a file's bytes: the last line's newline kept by the reader).
    fn with_raw(mut self, text: &str) -> Answer {
        self.lines = text
            .split_inclusive('\n')
            .map(|l| Line {
                out: Out::Stdout,
                text: l.into(),
                weight: 0,
            })
            .collect();
        self
    }
}

fn facts(p: &NodeProfile, s: &NodeState) -> String {
    let k3s = s
        .k3s
        .as_ref()
        .map(|v| format!("k3s version {v} (demo)"))
        .unwrap_or_default();
    let listening = match s.role.as_deref() {
        Some("server") => "22 6443 10250",
        Some(_) => "22 10250",
        None => "22",
    };
    format!(
        "os=ubuntu 24.04\narch=x86_64\ncpus={}\nmem_kib={}\nswap_kib=2097148\ncgroup=cgroup2fs\n\
         ntp=yes\nhostname={}\nlistening={listening}\nk3s={k3s}\ndownloader=/usr/bin/curl\n",
        p.cores,
        p.memory_mib.saturating_mul(1024).saturating_sub(180_000),
        p.name,
    )
}

/// `mkdir -p DIR && cat > FILE.tmp <<'HOMELAB_EOF'\nCONTENT HOMELAB_EOF\nmv FILE.tmp FILE`.
fn heredoc_write(script: &str) -> Option<(String, String)> {
    let (head, rest) = script.split_once("<<'HOMELAB_EOF'\n")?;
    let target = head.rsplit_once("cat > ")?.1.trim();
    let file = unquote(target.strip_suffix(".tmp").unwrap_or(target));
    let end = rest.rfind("HOMELAB_EOF\nmv ")?;
    Some((file, rest[..end].to_string()))
}

/// One shell word as `shell_quote::quote` writes it: bare, or in single quotes with `'\''`.
pub(super) fn unquote(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("'\\''") {
            out.push('\'');
            rest = r;
        } else if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'').unwrap_or(r.len());
            out.push_str(&r[..end]);
            rest = r.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find('\'').unwrap_or(rest.len());
            out.push_str(&rest[..end]);
            rest = &rest[end..];
        }
    }
    out
}

/// `NAME=value` words of the install line (values quoted by `shell_quote::quote`).
fn env_of(line: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let before = line.split(" sh \"$tmp/install.sh\"").next().unwrap_or("");
    let mut rest = before.trim();
    while let Some((name, after)) = rest.split_once('=') {
        let (value, next) = split_word(after);
        env.insert(name.trim().to_string(), unquote(value));
        rest = next.trim_start();
    }
    env
}

/// The first shell word of `s` (quotes respected) and the rest.
fn split_word(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            ' ' if !quoted => return (&s[..i], &s[i..]),
            _ => {}
        }
    }
    (s, "")
}

fn install(p: &NodeProfile, s: &mut NodeState, script: &str, kubeconfig: &str) -> Answer {
    let Some(line) = script
        .lines()
        .find(|l| l.contains("sh \"$tmp/install.sh\""))
    else {
        return Answer::error("install line not found".into(), 2);
    };
    let env = env_of(line);
    let args = line.split("sh \"$tmp/install.sh\"").nth(1).unwrap_or("");
    let server = args.trim_start().starts_with("server");
    let Some(version) = env.get("INSTALL_K3S_VERSION").cloned() else {
        return Answer::error(
            "[ERROR]  INSTALL_K3S_VERSION is not set (homelab demo node)".into(),
            1,
        );
    };
    let unit = if server { "k3s" } else { "k3s-agent" };
    let mut lines: Vec<(u32, String)> = vec![
        (20, format!("[INFO]  Using {version} as release")),
        (
            140,
            format!(
                "[INFO]  Downloading hash https://github.com/k3s-io/k3s/releases/download/{version}/sha256sum-amd64.txt"
            ),
        ),
        (
            260,
            format!(
                "[INFO]  Downloading binary https://github.com/k3s-io/k3s/releases/download/{version}/k3s"
            ),
        ),
        (120, "[INFO]  Verifying binary download".into()),
        (30, "[INFO]  Installing k3s to /usr/local/bin/k3s".into()),
        (20, "[INFO]  Skipping installation of SELinux RPM".into()),
        (
            10,
            "[INFO]  Creating /usr/local/bin/kubectl symlink to k3s".into(),
        ),
        (
            10,
            "[INFO]  Creating /usr/local/bin/crictl symlink to k3s".into(),
        ),
        (
            10,
            "[INFO]  Creating /usr/local/bin/ctr symlink to k3s".into(),
        ),
        (
            10,
            "[INFO]  Creating killall script /usr/local/bin/k3s-killall.sh".to_string(),
        ),
        (
            10,
            format!("[INFO]  Creating uninstall script /usr/local/bin/{unit}-uninstall.sh"),
        ),
        (
            10,
            "[INFO]  env: Creating environment file /etc/systemd/system/".to_string()
                + unit
                + ".service.env",
        ),
        (
            10,
            format!("[INFO]  systemd: Creating service file /etc/systemd/system/{unit}.service"),
        ),
        (30, format!("[INFO]  systemd: Enabling {unit} unit")),
        (
            10,
            format!(
                "Created symlink /etc/systemd/system/multi-user.target.wants/{unit}.service → /etc/systemd/system/{unit}.service."
            ),
        ),
    ];
    lines.push((350, format!("[INFO]  systemd: Starting {unit}")));
    if server {
        s.files
            .entry(TOKEN_PATH.into())
            .or_insert_with(|| node_token(env.get("K3S_TOKEN").map(String::as_str)));
        s.files.insert(KUBECONFIG_PATH.into(), kubeconfig.into());
    } else if !env.contains_key("K3S_URL") || !env.contains_key("K3S_TOKEN") {
        return Answer::error(
            format!("[ERROR]  {}: an agent needs K3S_URL and K3S_TOKEN", p.name),
            1,
        );
    }
    s.k3s = Some(version.clone());
    s.role = Some(if server { "server" } else { "agent" }.into());
    Answer {
        lines: lines
            .into_iter()
            .map(|(weight, text)| Line {
                out: Out::Stdout,
                text: format!("{text}\n"),
                weight,
            })
            .collect(),
        status: 0,
        slow: true,
        installed: Some(Installed { version, server }),
    }
}

/// The node-token k3s writes: `K10<CA hash>::server:<token>`.
fn node_token(token: Option<&str>) -> String {
    let ca: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    match token {
        Some(t) if t.starts_with("K10") => format!("{t}\n"),
        Some(t) => format!("K10{ca}::server:{t}\n"),
        None => format!("K10{ca}::server:{:032x}\n", rand::random::<u128>()),
    }
}
