//! Values that end up inside shell scripts (URLs, names, paths) must not carry shell syntax.
//! Quoting ([`crate::shell_quote::quote`]) already makes them data; this check refuses them in
//! the definition too, so a hostile or mistyped value is named at its `file:line:column`
//! before anything runs. Versions and DNS names are held to stricter patterns elsewhere.

use super::Checker;
use crate::config::ClusterConfig;
use crate::shell_quote;

/// The first character of `value` a shell would interpret inside a URL, if any. `&`, `?`, `#`,
/// `=`, `!`, `*`, `~` and `[]` are legal URL characters and pass; they are quoted on use.
fn url_hazard(value: &str) -> Option<char> {
    value.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '"' | '\'' | '`' | '$' | '\\' | ';' | '|' | '<' | '>' | '(' | ')' | '{' | '}' | '^'
            )
    })
}

/// The first character of `value` that would need quoting (names and paths are plain words).
fn name_hazard(value: &str) -> Option<char> {
    value.chars().find(|c| {
        let mut buf = [0u8; 4];
        shell_quote::needs_quoting(c.encode_utf8(&mut buf))
    })
}

fn shown(c: char) -> String {
    match c {
        ' ' => "a space".into(),
        '`' => "a backtick".into(),
        c if c.is_control() || c.is_whitespace() => format!("`{}`", c.escape_default()),
        c => format!("`{c}`"),
    }
}

impl Checker<'_> {
    fn shell_safe_url(&mut self, path: &str, value: &str) {
        if let Some(c) = url_hazard(value) {
            self.err(
                path,
                format!(
                    "contains {}, which a shell would interpret; expected a URL without spaces, quotes, `$`, `;`, `|`, `<>`, `()`, `{{}}`, backticks, backslashes or control characters (percent-encode them)",
                    shown(c)
                ),
            );
        }
    }

    fn shell_safe_name(&mut self, path: &str, value: &str) {
        if value.is_empty() {
            return;
        }
        if let Some(c) = name_hazard(value) {
            self.err(
                path,
                format!(
                    "contains {}, which a shell would interpret; expected only letters, digits and `-_./=:,+@%`",
                    shown(c)
                ),
            );
        }
    }
}

/// Check every URL and free-form name of `cfg`.
pub(super) fn check(cfg: &ClusterConfig, c: &mut Checker) {
    let p = &cfg.proxmox;
    c.shell_safe_url("proxmox.endpoint", &p.endpoint);
    c.shell_safe_url("template.image.url", &cfg.template.image.url);
    c.shell_safe_url("k3s.install.script_url", &cfg.k3s.install.script_url);
    c.shell_safe_url("flux.repo", &cfg.flux.repo);
    let o = &cfg.observability;
    for (path, v) in [
        ("observability.loki_url", &o.loki_url),
        ("observability.prometheus_url", &o.prometheus_url),
        ("observability.alertmanager_url", &o.alertmanager_url),
    ] {
        if let Some(v) = v {
            c.shell_safe_url(path, v);
        }
    }
    for (path, v) in [
        ("proxmox.vm_storage", &p.vm_storage),
        ("proxmox.image_storage", &p.image_storage),
        ("proxmox.snippets_storage", &p.snippets_storage),
        ("proxmox.bridge", &p.bridge),
        ("proxmox.tag", &p.tag),
        ("template.image.file_name", &cfg.template.image.file_name),
        ("flux.branch", &cfg.flux.branch),
        ("flux.path", &cfg.flux.path),
    ] {
        c.shell_safe_name(path, v);
    }
    for (path, v) in [
        ("storage.nfs_server", &cfg.storage.nfs_server),
        ("storage.nfs_export", &cfg.storage.nfs_export),
    ] {
        if let Some(v) = v {
            c.shell_safe_name(path, v);
        }
    }
    let k = &cfg.k3s;
    let args = k
        .server_args
        .iter()
        .enumerate()
        .map(|(i, a)| (format!("k3s.server_args[{i}]"), a))
        .chain(
            k.agent_args
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("k3s.agent_args[{i}]"), a)),
        );
    for (path, a) in args {
        // Arguments are quoted one by one; only line breaks and control characters are refused.
        if let Some(ch) = a.chars().find(|ch| ch.is_control()) {
            c.err(
                &path,
                format!("contains {}; expected one argument on one line", shown(ch)),
            );
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use crate::config::parse_cluster;

    pub const GOOD: &str = include_str!("../../../tests/fixtures/clusters/prox-n100.yaml");
    pub const FILE: &str = "config/clusters/prox-n100.yaml";

    /// The fixture with `edits` applied (each `from` must occur), and its diagnostics.
    pub fn errors(edits: &[(&str, &str)]) -> Vec<String> {
        let mut text = GOOD.to_owned();
        for (from, to) in edits {
            assert!(text.contains(from), "fixture lacks {from:?}");
            text = text.replacen(from, to, 1);
        }
        match parse_cluster("prox-n100", FILE, &text) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(ToString::to_string).collect(),
        }
    }

    /// The payload from issue 12, and its cousins in names and versions, are named at
    /// file:line:column with the field.
    #[test]
    fn shell_syntax_in_urls_names_and_versions_is_refused() {
        assert_eq!(
            errors(&[(
                "script_url: https://get.k3s.io",
                r#"script_url: "https://get.k3s.io/?x=\"; touch /tmp/PWNED; echo \"""#
            )]),
            vec![
                "config/clusters/prox-n100.yaml:49:17: k3s.install.script_url: contains `\"`, which a shell would interpret; expected a URL without spaces, quotes, `$`, `;`, `|`, `<>`, `()`, `{}`, backticks, backslashes or control characters (percent-encode them)"
            ]
        );
        let e = errors(&[
            ("bridge: vmbr0", "bridge: \"vmbr0 $(id)\""),
            ("path: cluster/kubernetes/flux", "path: \"cluster/`id`\""),
            ("branch: main", "branch: \"main;reboot\""),
            ("version: v1.33.5+k3s1", "version: \"v1.33.5+k3s1;id\""),
            (
                "url: https://cloud-images",
                "url: https://x.test/$(id)/cloud-images",
            ),
        ]);
        let fields: Vec<&str> = e
            .iter()
            .map(|d| d.split(": ").nth(1).unwrap_or(""))
            .collect();
        assert_eq!(
            fields,
            [
                "k3s.version",
                "template.image.url",
                "proxmox.bridge",
                "flux.branch",
                "flux.path"
            ],
            "{e:#?}"
        );
        assert!(e[2].contains("contains a space"), "{}", e[2]);
        assert!(e[4].contains("contains a backtick"), "{}", e[4]);
        // Ordinary URL syntax passes (it is quoted on use).
        assert_eq!(
            errors(&[(
                "script_url: https://get.k3s.io",
                "script_url: \"https://get.k3s.io/?a=1&b=[2]#x\""
            )]),
            Vec::<String>::new()
        );
    }
}
