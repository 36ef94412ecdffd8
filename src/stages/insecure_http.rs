//! Preflight's word on credentials over plain http (see `config::validate::insecure_endpoints`).

use crate::config::ClusterConfig;
use crate::stages::engine::Check;

/// WARN for every endpoint that carries credentials over plain http (only reachable with
/// `allow_insecure_http: true`; validation refuses it otherwise).
pub fn warnings(cfg: &ClusterConfig) -> Vec<Check> {
    crate::config::validate::insecure_endpoints(cfg)
        .into_iter()
        .map(|(field, url)| {
            Check::warn(
                format!("insecure-http/{field}"),
                "Plain HTTP",
                format!(
                    "{field} `{url}` sends credentials unencrypted (allow_insecure_http: true)"
                ),
                "serve the endpoint over https:// and drop allow_insecure_http",
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::engine::CheckStatus;

    #[test]
    fn allowed_plain_http_is_a_warning_and_https_says_nothing() {
        let text = include_str!("../../tests/fixtures/clusters/prox-n100.yaml");
        let cfg = crate::config::parse_cluster("prox-n100", "x.yaml", text).unwrap();
        assert!(warnings(&cfg).is_empty());
        let text = text
            .replacen("endpoint: https://", "endpoint: http://", 1)
            .replacen(
                "domain: funoffshore.com",
                "domain: funoffshore.com\nallow_insecure_http: true",
                1,
            );
        let cfg = crate::config::parse_cluster("prox-n100", "x.yaml", &text).unwrap();
        let w = warnings(&cfg);
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].status, CheckStatus::Warn);
        assert_eq!(w[0].id, "insecure-http/proxmox.endpoint");
        assert!(w[0].detail.contains("unencrypted"), "{}", w[0].detail);
    }
}
