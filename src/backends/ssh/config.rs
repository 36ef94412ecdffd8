//! The subset of `ssh_config(5)` homelab honours: `Host` blocks with `*`/`?`/`!` patterns, `Include`, and the
//! keywords HostName, User, Port, IdentityFile, IdentitiesOnly and ProxyJump.
//!
//! OpenSSH semantics: for each keyword the first value obtained wins (IdentityFile accumulates),
//! blocks are read top to bottom, `Match` blocks are skipped (never applied), unknown keywords are
//! ignored. Parse errors name the file and line.

use std::path::{Path, PathBuf};

/// One `Host` block.
#[derive(Debug, Clone, Default, PartialEq)]
struct Block {
    patterns: Vec<String>,
    /// `(keyword lowercased, value, line)`.
    options: Vec<(String, String, usize)>,
}

/// A parsed `~/.ssh/config`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SshConfigFile {
    blocks: Vec<Block>,
}

/// A parse error with its position.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// What the config says about one host alias (only keys it sets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostSettings {
    pub host_name: Option<String>,
    pub user: Option<String>,
    pub port: Option<u16>,
    /// Raw values, `~` and `%` tokens not yet expanded.
    pub identity_files: Vec<String>,
    pub identities_only: Option<bool>,
    /// `None` when unset, `Some(vec![])` for `ProxyJump none`.
    pub proxy_jump: Option<Vec<JumpHost>>,
}

/// One hop of a `ProxyJump` list: `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JumpHost {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshConfigFile {
    /// Read `path`; a missing file is an empty config. `Include` lines are followed (relative
    /// to the file's directory, `~` expanded, `*`/`?` in file names, 8 levels deep at most).
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let mut p = Parser::new();
        p.include(path, 0)?;
        Ok(Self { blocks: p.blocks })
    }

    /// Parse `text` (no `Include` following: there is no directory to resolve against).
    pub fn parse(text: &str, file: &str) -> Result<Self, ConfigError> {
        let mut p = Parser::new();
        p.lines(text, file, None, 0)?;
        Ok(Self { blocks: p.blocks })
    }

    /// Settings for `alias` (the name given on the command line).
    pub fn settings_for(&self, alias: &str) -> HostSettings {
        let mut s = HostSettings::default();
        for block in self
            .blocks
            .iter()
            .filter(|b| host_matches(b.patterns.iter().map(String::as_str), alias))
        {
            for (key, value, _) in &block.options {
                match key.as_str() {
                    "hostname" if s.host_name.is_none() => s.host_name = Some(value.clone()),
                    "user" if s.user.is_none() => s.user = Some(value.clone()),
                    "port" if s.port.is_none() => s.port = value.parse().ok(),
                    "identityfile" => s.identity_files.push(value.clone()),
                    "identitiesonly" if s.identities_only.is_none() => {
                        s.identities_only = Some(value.eq_ignore_ascii_case("yes"))
                    }
                    "proxyjump" if s.proxy_jump.is_none() => {
                        s.proxy_jump = Some(parse_proxy_jump(value).unwrap_or_default())
                    }
                    _ => {}
                }
            }
        }
        s
    }
}

/// Reads lines into blocks; `Include` splices the included files in place, as OpenSSH does.
struct Parser {
    blocks: Vec<Block>,
    skipping_match: bool,
}

impl Parser {
    fn new() -> Self {
        // Options before the first Host line apply to every host.
        Self {
            blocks: vec![Block {
                patterns: vec!["*".into()],
                options: vec![],
            }],
            skipping_match: false,
        }
    }

    /// Read `path` into the blocks; a missing file adds nothing (like OpenSSH).
    fn include(&mut self, path: &Path, depth: usize) -> Result<(), ConfigError> {
        let file = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => self.lines(&text, &file, path.parent(), depth),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ConfigError {
                file,
                line: 0,
                message: format!("cannot read: {e}"),
            }),
        }
    }

    fn lines(
        &mut self,
        text: &str,
        file: &str,
        dir: Option<&Path>,
        depth: usize,
    ) -> Result<(), ConfigError> {
        let err = |line: usize, message: String| ConfigError {
            file: file.to_string(),
            line,
            message,
        };
        for (idx, raw) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (keyword, rest) = split_keyword(line);
            let keyword = keyword.to_ascii_lowercase();
            let args = split_args(rest).map_err(|m| err(line_no, m))?;
            match keyword.as_str() {
                "host" => {
                    if args.is_empty() {
                        return Err(err(line_no, "`Host` needs at least one pattern".into()));
                    }
                    self.skipping_match = false;
                    self.blocks.push(Block {
                        patterns: args,
                        options: vec![],
                    });
                }
                "match" => self.skipping_match = true,
                _ if self.skipping_match => {}
                "include" => {
                    let Some(dir) = dir else { continue };
                    if depth >= 8 {
                        return Err(err(line_no, "Include nested too deeply (8 levels)".into()));
                    }
                    for pattern in &args {
                        for path in include_paths(dir, pattern) {
                            self.include(&path, depth + 1)?;
                        }
                    }
                }
                _ => {
                    let Some(value) = args.first() else {
                        return Err(err(line_no, format!("`{keyword}` needs a value")));
                    };
                    validate(&keyword, value).map_err(|m| err(line_no, m))?;
                    if let Some(block) = self.blocks.last_mut() {
                        block.options.push((keyword, value.clone(), line_no));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Files an `Include` pattern names: `~/` is the home (the parent of `~/.ssh`), relative paths
/// are relative to `dir`, `*`/`?` match file names (sorted).
fn include_paths(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let home = dir.parent().unwrap_or(dir);
    let full = match pattern.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None if Path::new(pattern).is_absolute() => PathBuf::from(pattern),
        None => dir.join(pattern),
    };
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return vec![full];
    }
    let parent = full.parent().unwrap_or(dir);
    let mut found: Vec<PathBuf> = std::fs::read_dir(parent)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| glob(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    found.sort();
    found
}

fn validate(keyword: &str, value: &str) -> Result<(), String> {
    match keyword {
        "port" => value
            .parse::<u16>()
            .map(|_| ())
            .map_err(|_| format!("Port `{value}` is not a port number")),
        "identitiesonly" if !matches!(value.to_ascii_lowercase().as_str(), "yes" | "no") => {
            Err(format!("IdentitiesOnly must be yes or no, not `{value}`"))
        }
        "proxyjump" => parse_proxy_jump(value).map(|_| ()),
        _ => Ok(()),
    }
}

/// `keyword value` or `keyword=value`.
fn split_keyword(line: &str) -> (&str, &str) {
    let end = line
        .find(|c: char| c.is_whitespace() || c == '=')
        .unwrap_or(line.len());
    let (k, rest) = line.split_at(end);
    let rest = rest.trim_start();
    let rest = rest.strip_prefix('=').unwrap_or(rest).trim_start();
    (k, rest)
}

/// Whitespace-separated arguments with double quotes.
fn split_args(rest: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut has = false;
    for c in rest.chars() {
        match c {
            '"' => {
                in_quote = !in_quote;
                has = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if has {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => {
                cur.push(c);
                has = true;
            }
        }
    }
    if in_quote {
        return Err("unterminated quote".into());
    }
    if has {
        out.push(cur);
    }
    Ok(out)
}

/// A pattern list (ssh_config `Host`, known_hosts host field): any positive match and no
/// negated (`!pattern`) match.
pub(crate) fn host_matches<'a>(patterns: impl IntoIterator<Item = &'a str>, host: &str) -> bool {
    let mut matched = false;
    for p in patterns {
        if let Some(neg) = p.strip_prefix('!') {
            if glob(neg, host) {
                return false;
            }
        } else if glob(p, host) {
            matched = true;
        }
    }
    matched
}

/// `*` and `?` wildcards, case-insensitive like OpenSSH host matching.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// `none` or a comma-separated list of `[user@]host[:port]` (also `ssh://` URIs).
pub fn parse_proxy_jump(value: &str) -> Result<Vec<JumpHost>, String> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(vec![]);
    }
    value
        .split(',')
        .map(|hop| {
            let hop = hop.trim();
            let hop = hop.strip_prefix("ssh://").unwrap_or(hop);
            let (user, hostport) = match hop.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()), h),
                None => (None, hop),
            };
            let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
                let (h, after) = inner
                    .split_once(']')
                    .ok_or_else(|| format!("ProxyJump hop `{hop}`: missing `]`"))?;
                let port = after.strip_prefix(':').map(str::parse::<u16>).transpose();
                (h.to_string(), port)
            } else {
                match hostport.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), Some(p.parse::<u16>()).transpose()),
                    None => (hostport.to_string(), Ok(None)),
                }
            };
            let port = port.map_err(|_| format!("ProxyJump hop `{hop}`: bad port"))?;
            if host.is_empty() {
                return Err(format!("ProxyJump hop `{hop}`: empty host"));
            }
            Ok(JumpHost { user, host, port })
        })
        .collect()
}

/// Expand `~/` and the `%d %h %u %r %%` tokens of IdentityFile values.
pub fn expand_path(raw: &str, home: &Path, host: &str, remote_user: &str) -> PathBuf {
    let local_user = std::env::var("USER").unwrap_or_default();
    let mut out = String::new();
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('d') => out.push_str(&home.display().to_string()),
                Some('h') => out.push_str(host),
                Some('u') => out.push_str(&local_user),
                Some('r') => out.push_str(remote_user),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    if out == "~" {
        return home.to_path_buf();
    }
    match out.strip_prefix("~/") {
        Some(rest) => home.join(rest),
        None => PathBuf::from(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
# global defaults
IdentitiesOnly no

Host bastion
    HostName 203.0.113.7
    User jump
    Port 2200

Host k3s-* 192.168.1.*  !192.168.1.99
    User ubuntu
    IdentityFile ~/.ssh/homelab_ed25519
    ProxyJump bastion

Match exec "false"
    User never

Host *
    User fallback
    IdentityFile=%d/.ssh/id_rsa
    IdentitiesOnly yes
"#;

    #[test]
    fn first_value_wins_and_identity_files_accumulate() {
        let cfg = SshConfigFile::parse(SAMPLE, "config").unwrap();
        let s = cfg.settings_for("192.168.1.21");
        assert_eq!(s.user.as_deref(), Some("ubuntu"));
        assert_eq!(
            s.identity_files,
            vec![
                "~/.ssh/homelab_ed25519".to_string(),
                "%d/.ssh/id_rsa".into()
            ]
        );
        assert_eq!(s.identities_only, Some(false), "global line comes first");
        assert_eq!(
            s.proxy_jump,
            Some(vec![JumpHost {
                user: None,
                host: "bastion".into(),
                port: None
            }])
        );
    }

    #[test]
    fn negated_pattern_excludes_and_match_blocks_are_skipped() {
        let cfg = SshConfigFile::parse(SAMPLE, "config").unwrap();
        let s = cfg.settings_for("192.168.1.99");
        assert_eq!(s.user.as_deref(), Some("fallback"));
        assert_eq!(s.proxy_jump, None);
        let b = cfg.settings_for("bastion");
        assert_eq!(b.host_name.as_deref(), Some("203.0.113.7"));
        assert_eq!(b.port, Some(2200));
        assert_eq!(b.user.as_deref(), Some("jump"));
    }

    #[test]
    fn bad_port_names_file_and_line() {
        let e = SshConfigFile::parse("Host a\n  Port eighty\n", "/home/x/.ssh/config").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("/home/x/.ssh/config:2:"), "{e}");
    }

    #[test]
    fn proxy_jump_forms() {
        let hops = parse_proxy_jump("admin@gw:2222,[fe80::1]:22,ssh://u@h").unwrap();
        assert_eq!(hops[0].user.as_deref(), Some("admin"));
        assert_eq!(hops[0].port, Some(2222));
        assert_eq!(hops[1].host, "fe80::1");
        assert_eq!(hops[2].host, "h");
        assert_eq!(parse_proxy_jump("none").unwrap(), vec![]);
        assert!(parse_proxy_jump("gw:notaport").is_err());
    }

    #[test]
    fn glob_and_expansion() {
        assert!(glob("k3s-*", "K3S-agent-1"));
        assert!(glob("10.0.?.1", "10.0.7.1"));
        assert!(!glob("10.0.?.1", "10.0.77.1"));
        let home = Path::new("/home/op");
        assert_eq!(
            expand_path("~/.ssh/id_%h", home, "node1", "ubuntu"),
            PathBuf::from("/home/op/.ssh/id_node1")
        );
        assert_eq!(
            expand_path("%d/k_%r", home, "n", "ubuntu"),
            PathBuf::from("/home/op/k_ubuntu")
        );
    }

    #[test]
    fn include_splices_files_in_place_with_globs() {
        let dir = tempfile::tempdir().unwrap();
        let ssh = dir.path().join(".ssh");
        std::fs::create_dir_all(ssh.join("config.d")).unwrap();
        std::fs::write(
            ssh.join("config"),
            "Include config.d/*.conf ~/.ssh/missing\nHost *\n  User late\n",
        )
        .unwrap();
        std::fs::write(
            ssh.join("config.d/10-lab.conf"),
            "Host 10.0.0.*\n  User lab\n  Port 2222\n",
        )
        .unwrap();
        std::fs::write(ssh.join("config.d/20-bad.conf"), "Host x\n  Port nope\n").unwrap();
        let e = SshConfigFile::load(&ssh.join("config")).unwrap_err();
        assert!(e.file.ends_with("20-bad.conf") && e.line == 2, "{e}");
        std::fs::remove_file(ssh.join("config.d/20-bad.conf")).unwrap();
        let cfg = SshConfigFile::load(&ssh.join("config")).unwrap();
        let s = cfg.settings_for("10.0.0.4");
        assert_eq!((s.user.as_deref(), s.port), (Some("lab"), Some(2222)));
        assert_eq!(cfg.settings_for("other").user.as_deref(), Some("late"));
    }
}
