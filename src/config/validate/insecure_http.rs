//! Credentials over plain `http://`: the PVE API token always travels with `proxmox.endpoint`,
//! the observability credentials (`basic_auth_env`, `bearer_token_env`) with every
//! observability URL. Anyone on the path reads them. Refused unless the definition says
//! `allow_insecure_http: true`; when allowed, preflight and the console warn instead
//! ([`insecure_endpoints`]).

use super::Checker;
use crate::config::ClusterConfig;

fn is_http(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
}

/// `(field, url)` of every endpoint that would carry a credential over plain http.
pub fn insecure_endpoints(cfg: &ClusterConfig) -> Vec<(&'static str, &str)> {
    let mut out = Vec::new();
    if is_http(&cfg.proxmox.endpoint) {
        out.push(("proxmox.endpoint", cfg.proxmox.endpoint.as_str()));
    }
    let o = &cfg.observability;
    if o.basic_auth_env.is_some() || o.bearer_token_env.is_some() {
        for (path, v) in [
            ("observability.loki_url", &o.loki_url),
            ("observability.prometheus_url", &o.prometheus_url),
            ("observability.alertmanager_url", &o.alertmanager_url),
        ] {
            if let Some(v) = v.as_deref().filter(|v| is_http(v)) {
                out.push((path, v));
            }
        }
    }
    out
}

pub(super) fn check(cfg: &ClusterConfig, c: &mut Checker) {
    if cfg.allow_insecure_http {
        return;
    }
    for (path, url) in insecure_endpoints(cfg) {
        let what = if path == "proxmox.endpoint" {
            "the PVE API token"
        } else {
            "the observability credentials"
        };
        c.err(
            path,
            format!(
                "`{url}` would send {what} unencrypted; expected https://, or `allow_insecure_http: true` at the top level to accept the risk"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::shell_safe::tests::{FILE, GOOD, errors};
    use crate::config::parse_cluster;

    #[test]
    fn plain_http_with_credentials_is_refused_unless_allowed() {
        let http_pve = (
            "endpoint: https://192.168.1.10:8006",
            "endpoint: http://192.168.1.10:8006",
        );
        let creds = (
            "  alertmanager_url: https://alertmanager.funoffshore.internal",
            "  alertmanager_url: https://alertmanager.funoffshore.internal\n  bearer_token_env: OBS_TOKEN",
        );
        let http_loki = ("loki_url: https://loki", "loki_url: http://loki");
        assert_eq!(
            errors(&[http_pve, creds, http_loki]),
            vec![
                "config/clusters/prox-n100.yaml:7:13: proxmox.endpoint: `http://192.168.1.10:8006` would send the PVE API token unencrypted; expected https://, or `allow_insecure_http: true` at the top level to accept the risk",
                "config/clusters/prox-n100.yaml:62:13: observability.loki_url: `http://loki.funoffshore.internal` would send the observability credentials unencrypted; expected https://, or `allow_insecure_http: true` at the top level to accept the risk",
            ]
        );
        // Plain http without credentials carries no secret.
        assert_eq!(errors(&[http_loki]), Vec::<String>::new());
        // Allowed: valid, and the endpoints are still listed for the warnings.
        let allowed = (
            "domain: funoffshore.com",
            "domain: funoffshore.com\nallow_insecure_http: true",
        );
        assert_eq!(
            errors(&[http_pve, creds, http_loki, allowed]),
            Vec::<String>::new()
        );
        let mut text = GOOD.to_owned();
        for (a, b) in [http_pve, creds, http_loki, allowed] {
            text = text.replacen(a, b, 1);
        }
        let cfg = parse_cluster("prox-n100", FILE, &text).unwrap();
        let fields: Vec<&str> = super::insecure_endpoints(&cfg)
            .iter()
            .map(|(f, _)| *f)
            .collect();
        assert_eq!(fields, ["proxmox.endpoint", "observability.loki_url"]);
    }
}
