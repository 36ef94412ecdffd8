//! Which ingress rule of a tunnel serves a host, the way cloudflared picks it
//! (docs/reference/cloudflare.md §6; upstream cloudflared `ingress/ingress.go` and
//! `ingress/rule.go`).

use super::types::{IngressConfig, IngressRule};

/// Whether a rule's hostname pattern matches `host`: empty or `*` match every host; a
/// leading `*.` matches any name ending in the rest (`*.example.com` matches
/// `a.b.example.com`, not `example.com`); anything else matches only itself.
pub fn host_matches(pattern: &str, host: &str) -> bool {
    let host = host.trim_end_matches('.');
    if pattern.is_empty() || pattern == "*" || pattern.eq_ignore_ascii_case(host) {
        return true;
    }
    match pattern.strip_prefix('*') {
        Some(rest) if rest.starts_with('.') => host
            .to_ascii_lowercase()
            .ends_with(&rest.to_ascii_lowercase()),
        _ => false,
    }
}

/// Why a rule list is not one cloudflared accepts.
pub fn validate(rules: &[IngressRule]) -> Result<(), String> {
    let Some(last) = rules.last() else {
        return Err("no ingress rules: cloudflared needs at least a catch-all rule".into());
    };
    let catch_all = |r: &IngressRule| {
        matches!(r.hostname.as_deref(), None | Some("") | Some("*")) && r.path.is_none()
    };
    if !catch_all(last) {
        return Err(
            "The last ingress rule must match all URLs (i.e. it should not have a hostname or path filter)"
                .into(),
        );
    }
    if let Some(i) = rules[..rules.len() - 1].iter().position(catch_all) {
        return Err(format!(
            "ingress rule {} matches every host but is not the last one: the rules after it are never used",
            i + 1
        ));
    }
    Ok(())
}

impl IngressConfig {
    /// The rule that serves `https://host/` and its index: the first whose hostname matches
    /// and whose path (a regular expression) matches `/`; cloudflared falls back to the last
    /// rule when none does. `None` when there are no rules.
    pub fn route_for(&self, host: &str) -> Option<(usize, &IngressRule)> {
        let found = self.ingress.iter().enumerate().find(|(_, r)| {
            let host_ok = host_matches(r.hostname.as_deref().unwrap_or(""), host);
            let path_ok = r
                .path
                .as_deref()
                .is_none_or(|p| regex::Regex::new(p).is_ok_and(|re| re.is_match("/")));
            host_ok && path_ok
        });
        found.or_else(|| {
            let last = self.ingress.len().checked_sub(1)?;
            Some((last, &self.ingress[last]))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(host: Option<&str>, service: &str) -> IngressRule {
        IngressRule {
            hostname: host.map(str::to_string),
            path: None,
            service: service.into(),
            origin_request: None,
        }
    }

    #[test]
    fn wildcards_match_like_cloudflared() {
        assert!(host_matches("*.example.com", "app.example.com"));
        assert!(host_matches("*.example.com", "a.b.example.com"));
        assert!(!host_matches("*.example.com", "example.com"));
        assert!(!host_matches("*.example.com", "app.example.org"));
        assert!(!host_matches("app.*", "app.example.com"));
        assert!(host_matches("APP.example.com", "app.example.com."));
        assert!(host_matches("", "anything"));
        assert!(host_matches("*", "anything"));
    }

    #[test]
    fn first_match_wins_and_the_last_rule_catches_the_rest() {
        let cfg = IngressConfig {
            ingress: vec![
                rule(Some("ssh.example.com"), "ssh://10.0.0.1:22"),
                rule(Some("*.example.com"), "https://gw:443"),
                rule(None, "http_status:404"),
            ],
            origin_request: None,
        };
        assert_eq!(cfg.route_for("ssh.example.com").unwrap().0, 0);
        assert_eq!(
            cfg.route_for("app.example.com").unwrap().1.service,
            "https://gw:443"
        );
        assert_eq!(
            cfg.route_for("other.org").unwrap().1.service,
            "http_status:404"
        );
        assert!(validate(&cfg.ingress).is_ok());
        let bad = vec![rule(Some("*.example.com"), "https://gw:443")];
        assert!(
            validate(&bad)
                .unwrap_err()
                .starts_with("The last ingress rule")
        );
        let shadowing = vec![rule(None, "https://gw"), rule(None, "http_status:404")];
        assert!(validate(&shadowing).unwrap_err().contains("rule 1"));
        assert!(IngressConfig::default().route_for("x").is_none());
    }
}
