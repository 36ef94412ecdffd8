//! The subset of `ssh_config(5)` homelab honours: `Host` blocks with `*`/`?`/`!` patterns,
//! `Match` blocks with the `host`, `originalhost` and `all` criteria (each may be negated with
//! `!`), `Include`, and the keywords HostName, User, Port, IdentityFile, IdentitiesOnly,
//! ProxyJump, ProxyCommand, StrictHostKeyChecking and UserKnownHostsFile.
//!
//! OpenSSH semantics: for each keyword the first value obtained wins (IdentityFile accumulates;
//! ProxyJump and ProxyCommand share one slot, the first of the two wins), blocks are read top to
//! bottom, `Match host` compares the HostName set so far (else the alias) and `Match
//! originalhost` the alias, unknown keywords are ignored. Every other `Match` criterion (`exec`
//! above all: homelab never runs a command to decide which settings apply) is refused with the
//! file and line, rather than silently skipped. Parse errors name the file and line.
//!
//! Why not the `russh-config` crate: it has no `Include`, `Match` or negated patterns, and its
//! ProxyCommand builds the shell line without our one quoting function; extending this parser
//! kept the located errors and the fuzz target.

use std::path::{Path, PathBuf};

/// One `Host` or `Match` block.
#[derive(Debug, Clone, PartialEq)]
struct Block {
    condition: Condition,
    /// `(keyword lowercased, value, line)`.
    options: Vec<(String, String, usize)>,
}

/// When a block applies.
#[derive(Debug, Clone, PartialEq)]
enum Condition {
    /// `Host pattern...`: the alias matches the pattern list.
    Host(Vec<String>),
    /// `Match criterion...`: every criterion holds.
    Match(Vec<Criterion>),
}

/// One criterion of a `Match` line.
#[derive(Debug, Clone, PartialEq)]
struct Criterion {
    negated: bool,
    kind: CriterionKind,
}

#[derive(Debug, Clone, PartialEq)]
enum CriterionKind {
    All,
    /// The host name as it stands (HostName if set earlier, else the alias).
    Host(Vec<String>),
    /// The alias as given.
    OriginalHost(Vec<String>),
}

/// `StrictHostKeyChecking`: what happens with a host key that is not on record. A CHANGED or
/// revoked key stops the connection whatever this says (docs/k3s-stage.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StrictHostKeyChecking {
    /// `yes`: refuse unknown keys without asking.
    Yes,
    /// `accept-new`: record keys of hosts with none on record, without asking.
    AcceptNew,
    /// `ask` or unset: the trust prompt (wizard or terminal, `--accept-new`).
    #[default]
    Ask,
    /// `no`/`off`: record unknown keys without asking (changed and revoked keys still stop).
    No,
}

impl StrictHostKeyChecking {
    fn parse(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "yes" => Ok(Self::Yes),
            "accept-new" => Ok(Self::AcceptNew),
            "ask" => Ok(Self::Ask),
            "no" | "off" => Ok(Self::No),
            _ => Err(format!(
                "StrictHostKeyChecking must be yes, accept-new, ask, no or off, not `{value}`"
            )),
        }
    }
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
    /// The raw command line (`%` tokens not yet expanded); `None` when unset or when ProxyJump
    /// came first, `Some("none")` for `ProxyCommand none`.
    pub proxy_command: Option<String>,
    pub strict_host_key_checking: Option<StrictHostKeyChecking>,
    /// Raw paths (`~` and `%` tokens not yet expanded), in order; the first is written.
    pub user_known_hosts_files: Option<Vec<String>>,
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
        for block in &self.blocks {
            if !block.applies(alias, s.host_name.as_deref()) {
                continue;
            }
            for (key, value, _) in &block.options {
                let proxy_unset = s.proxy_jump.is_none() && s.proxy_command.is_none();
                match key.as_str() {
                    "hostname" if s.host_name.is_none() => s.host_name = Some(value.clone()),
                    "user" if s.user.is_none() => s.user = Some(value.clone()),
                    "port" if s.port.is_none() => s.port = value.parse().ok(),
                    "identityfile" => s.identity_files.push(value.clone()),
                    "identitiesonly" if s.identities_only.is_none() => {
                        s.identities_only = Some(value.eq_ignore_ascii_case("yes"))
                    }
                    "proxyjump" if proxy_unset => {
                        s.proxy_jump = Some(parse_proxy_jump(value).unwrap_or_default())
                    }
                    "proxycommand" if proxy_unset => s.proxy_command = Some(value.clone()),
                    "stricthostkeychecking" if s.strict_host_key_checking.is_none() => {
                        s.strict_host_key_checking = StrictHostKeyChecking::parse(value).ok()
                    }
                    "userknownhostsfile" if s.user_known_hosts_files.is_none() => {
                        // Stored as the argument list (validated at parse time).
                        s.user_known_hosts_files = split_args(value).ok()
                    }
                    _ => {}
                }
            }
        }
        s
    }
}

impl Block {
    /// Does this block apply to `alias`, given the HostName set by the blocks before it?
    fn applies(&self, alias: &str, host_name: Option<&str>) -> bool {
        match &self.condition {
            Condition::Host(patterns) => host_matches(patterns.iter().map(String::as_str), alias),
            Condition::Match(criteria) => criteria.iter().all(|c| {
                let hit = match &c.kind {
                    CriterionKind::All => true,
                    CriterionKind::Host(list) => {
                        let host = host_name
                            .map_or_else(|| alias.to_string(), |h| expand_host_name(h, alias));
                        host_matches(list.iter().map(String::as_str), &host)
                    }
                    CriterionKind::OriginalHost(list) => {
                        host_matches(list.iter().map(String::as_str), alias)
                    }
                };
                hit != c.negated
            }),
        }
    }
}

/// The criteria of a `Match` line, or why homelab refuses it.
fn parse_match(args: &[String]) -> Result<Vec<Criterion>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(word) = it.next() {
        let (negated, name) = match word.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, word.as_str()),
        };
        let mut list = |what: &str| -> Result<Vec<String>, String> {
            let value = it
                .next()
                .ok_or_else(|| format!("`Match {what}` needs a pattern list"))?;
            Ok(value.split(',').map(str::to_string).collect())
        };
        let kind = match name.to_ascii_lowercase().as_str() {
            "all" => CriterionKind::All,
            "host" => CriterionKind::Host(list("host")?),
            "originalhost" => CriterionKind::OriginalHost(list("originalhost")?),
            "exec" => {
                return Err(
                    "`Match exec` is not supported: homelab never runs a command from \
                            ssh_config to pick settings. Put the homelab nodes under a `Host` or \
                            `Match host` block before this line"
                        .into(),
                );
            }
            other => {
                return Err(format!(
                    "`Match {other}` is not supported (homelab honours Match host, originalhost \
                     and all). Put the homelab nodes under a `Host` or `Match host` block \
                     before this line"
                ));
            }
        };
        out.push(Criterion { negated, kind });
    }
    if out.is_empty() {
        return Err("`Match` needs a criterion (host, originalhost or all)".into());
    }
    Ok(out)
}

/// Reads lines into blocks; `Include` splices the included files in place, as OpenSSH does.
struct Parser {
    blocks: Vec<Block>,
}

impl Parser {
    fn new() -> Self {
        // Options before the first Host line apply to every host.
        Self {
            blocks: vec![Block {
                condition: Condition::Host(vec!["*".into()]),
                options: vec![],
            }],
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
                    self.blocks.push(Block {
                        condition: Condition::Host(args),
                        options: vec![],
                    });
                }
                "match" => {
                    let criteria = parse_match(&args).map_err(|m| err(line_no, m))?;
                    self.blocks.push(Block {
                        condition: Condition::Match(criteria),
                        options: vec![],
                    });
                }
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
                    let Some(first) = args.first() else {
                        return Err(err(line_no, format!("`{keyword}` needs a value")));
                    };
                    // ProxyCommand is the rest of the line, as written (the shell parses it);
                    // UserKnownHostsFile keeps every file it lists.
                    let value = match keyword.as_str() {
                        "proxycommand" | "userknownhostsfile" => rest.to_string(),
                        _ => first.clone(),
                    };
                    validate(&keyword, &value).map_err(|m| err(line_no, m))?;
                    if let Some(block) = self.blocks.last_mut() {
                        block.options.push((keyword, value, line_no));
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
        "stricthostkeychecking" => StrictHostKeyChecking::parse(value).map(|_| ()),
        "proxycommand" if value.chars().any(char::is_control) => {
            Err("ProxyCommand holds a control character".into())
        }
        "proxycommand" => expand_proxy_command(value, "h", 22, "u", "a").map(|_| ()),
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

/// `HostName` with its `%h` (the alias) and `%%` tokens expanded, as OpenSSH does.
pub fn expand_host_name(raw: &str, alias: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match (c, c == '%') {
            (_, false) => out.push(c),
            (_, true) => match chars.next() {
                Some('h') => out.push_str(alias),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            },
        }
    }
    out
}

/// The `ProxyCommand` line with its tokens expanded: `%h` host (after HostName), `%p` port,
/// `%r` remote user, `%n` the alias as given, `%%` a percent sign. Every value goes through the
/// one quoting function, so a host name cannot smuggle shell syntax into the command.
pub fn expand_proxy_command(
    raw: &str,
    host: &str,
    port: u16,
    user: &str,
    alias: &str,
) -> Result<String, String> {
    use crate::shell_quote::quote;
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(&quote(host)),
            Some('p') => out.push_str(&port.to_string()),
            Some('r') => out.push_str(&quote(user)),
            Some('n') => out.push_str(&quote(alias)),
            Some('%') => out.push('%'),
            Some(other) => {
                return Err(format!(
                    "ProxyCommand token `%{other}` is not supported (homelab expands %h %p %r %n %%)"
                ));
            }
            None => return Err("ProxyCommand ends with a lone `%`".into()),
        }
    }
    Ok(out)
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

Match host bastion,!10.*
    ProxyCommand none

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
    fn negated_pattern_excludes() {
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

    #[test]
    fn match_host_sees_the_host_name_set_so_far_and_negation() {
        let text = "Host web\n  HostName 10.1.2.3\n\
                    Match host 10.1.*,!10.1.2.9\n  User matched\n\
                    Match originalhost web !host 10.9.*\n  Port 2201\n\
                    Match !host 10.*\n  User outside\n\
                    Match all\n  StrictHostKeyChecking accept-new\n";
        let cfg = SshConfigFile::parse(text, "cfg").unwrap();
        let web = cfg.settings_for("web");
        assert_eq!(
            web.user.as_deref(),
            Some("matched"),
            "Match host compares HostName"
        );
        assert_eq!(web.port, Some(2201));
        assert_eq!(
            web.strict_host_key_checking,
            Some(StrictHostKeyChecking::AcceptNew)
        );
        assert_eq!(cfg.settings_for("10.1.2.9").user, None, "negated pattern");
        assert_eq!(cfg.settings_for("10.1.2.9").port, None);
        assert_eq!(
            cfg.settings_for("db").user.as_deref(),
            Some("outside"),
            "negated criterion"
        );
    }

    #[test]
    fn match_exec_and_unknown_criteria_are_refused_with_file_and_line() {
        let e = SshConfigFile::parse(
            "Host a\n  User b\nMatch exec \"test -f /x\"\n  User c\n",
            "/home/x/.ssh/config",
        )
        .unwrap_err();
        assert_eq!(e.line, 3);
        let msg = e.to_string();
        assert!(
            msg.starts_with("/home/x/.ssh/config:3: `Match exec` is not supported"),
            "{msg}"
        );
        let e = SshConfigFile::parse("Match user root\n", "cfg").unwrap_err();
        assert!(e.message.contains("`Match user` is not supported"), "{e}");
        let e = SshConfigFile::parse("Match host\n", "cfg").unwrap_err();
        assert!(e.message.contains("needs a pattern list"), "{e}");
    }

    #[test]
    fn proxy_command_known_hosts_and_strict_checking_are_read() {
        let text = "Host cf-*\n  ProxyCommand cloudflared access ssh --hostname %h\n\
                    \x20 UserKnownHostsFile ~/.ssh/kh_lab \"/etc/my hosts\"\n\
                    \x20 StrictHostKeyChecking yes\n\
                    Host jumped\n  ProxyJump gw\n  ProxyCommand never %h\n\
                    Host *\n  ProxyCommand later %h\n  StrictHostKeyChecking off\n  UserKnownHostsFile /dev/null\n";
        let cfg = SshConfigFile::parse(text, "cfg").unwrap();
        let s = cfg.settings_for("cf-node1");
        assert_eq!(
            s.proxy_command.as_deref(),
            Some("cloudflared access ssh --hostname %h")
        );
        assert_eq!(
            s.user_known_hosts_files,
            Some(vec!["~/.ssh/kh_lab".to_string(), "/etc/my hosts".into()])
        );
        assert_eq!(s.strict_host_key_checking, Some(StrictHostKeyChecking::Yes));
        let j = cfg.settings_for("jumped");
        assert!(j.proxy_jump.is_some() && j.proxy_command.is_none(), "{j:?}");
        let other = cfg.settings_for("other");
        assert_eq!(other.proxy_command.as_deref(), Some("later %h"));
        assert_eq!(
            other.strict_host_key_checking,
            Some(StrictHostKeyChecking::No)
        );
        assert_eq!(
            other.user_known_hosts_files,
            Some(vec!["/dev/null".to_string()])
        );
        let e = SshConfigFile::parse("StrictHostKeyChecking maybe\n", "cfg").unwrap_err();
        assert!(e.message.contains("StrictHostKeyChecking must be"), "{e}");
        let e = SshConfigFile::parse("ProxyCommand nc %z\n", "cfg").unwrap_err();
        assert!(e.message.contains("`%z` is not supported"), "{e}");
    }

    #[test]
    fn proxy_command_tokens_are_expanded_and_quoted() {
        let cmd = expand_proxy_command("nc %h %p # %r %n 100%%", "10.0.0.5", 2222, "ubuntu", "n1")
            .unwrap();
        assert_eq!(cmd, "nc 10.0.0.5 2222 # ubuntu n1 100%");
        let cmd = expand_proxy_command("nc %h %p", "x;touch /tmp/pwn", 22, "u", "a").unwrap();
        assert_eq!(cmd, "nc 'x;touch /tmp/pwn' 22");
        assert_eq!(expand_host_name("%h.lab.example", "n1"), "n1.lab.example");
    }
}
