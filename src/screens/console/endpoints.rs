//! Where the console's peers are: `homelab console --loki/--prometheus/--alertmanager` (or
//! HOMELAB_LOKI_URL / HOMELAB_PROMETHEUS_URL / HOMELAB_ALERTMANAGER_URL) win over the cluster
//! config's `observability` section, as logcli and amtool users expect.
//!
//! Credentials: HOMELAB_BEARER_TOKEN or HOMELAB_BASIC_AUTH (`user:password`) in the environment
//! win; otherwise the cluster config names env-file keys (`bearer_token_env`,
//! `basic_auth_env`) whose values are decrypted from `config/env/<cluster>.env` (see
//! [`super::credentials`]).

use super::credentials::CredentialSource;
use crate::backends::endpoint::Auth;
use crate::config::ObservabilityConfig;
use std::path::Path;

/// Endpoints given on the command line (clap already folds in the HOMELAB_*_URL variables).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointOverrides {
    pub loki: Option<String>,
    pub prometheus: Option<String>,
    pub alertmanager: Option<String>,
}

/// Where a URL came from (shown in the pane when the peer is unreachable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    ClusterConfig,
    /// No URL anywhere: a loopback port forwarded to this Service (`super::forwarded`).
    PortForward(super::forwarded::ServiceRef),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub origin: Origin,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub loki: Option<Endpoint>,
    pub prometheus: Option<Endpoint>,
    pub alertmanager: Option<Endpoint>,
    pub auth: Auth,
    /// Credentials still to be read from the SOPS env file (off the UI task).
    pub credentials: Option<CredentialSource>,
    /// Things the operator should know (malformed credentials...).
    pub notes: Vec<String>,
    /// Private CAs per endpoint, from the cluster config ([`ca_files`]).
    pub ca_files: CaFiles,
}

/// PEM files of private CAs to trust per endpoint (backends::tls_trust), absolute.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaFiles {
    pub loki: Option<std::path::PathBuf>,
    pub prometheus: Option<std::path::PathBuf>,
    pub alertmanager: Option<std::path::PathBuf>,
}

/// The cluster config's `*_ca_file` entries, relative to the repository root.
pub fn ca_files(cfg: Option<&ObservabilityConfig>, repo_root: &Path) -> CaFiles {
    let path = |f: Option<&String>| f.map(|f| repo_root.join(f));
    CaFiles {
        loki: path(cfg.and_then(|c| c.loki_ca_file.as_ref())),
        prometheus: path(cfg.and_then(|c| c.prometheus_ca_file.as_ref())),
        alertmanager: path(cfg.and_then(|c| c.alertmanager_ca_file.as_ref())),
    }
}

fn pick(
    flag: &Option<String>,
    env_name: &str,
    cfg: Option<&String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<Endpoint> {
    let clean = |s: &String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(url) = flag.as_ref().and_then(clean) {
        return Some(Endpoint {
            url,
            origin: Origin::Flag,
        });
    }
    if let Some(url) = env(env_name).as_ref().and_then(clean) {
        return Some(Endpoint {
            url,
            origin: Origin::Env,
        });
    }
    cfg.and_then(clean).map(|url| Endpoint {
        url,
        origin: Origin::ClusterConfig,
    })
}

/// Resolve with flags > environment > cluster config.
pub fn resolve(
    flags: &EndpointOverrides,
    cfg: Option<&ObservabilityConfig>,
    env_file: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Resolved {
    let mut notes = Vec::new();
    let mut credentials = None;
    let auth = if let Some(token) = env("HOMELAB_BEARER_TOKEN").filter(|t| !t.is_empty()) {
        Auth::bearer(&token)
    } else if let Some(pair) = env("HOMELAB_BASIC_AUTH").filter(|t| !t.is_empty()) {
        Auth::basic_from_pair(&pair).unwrap_or_else(|| {
            notes.push("HOMELAB_BASIC_AUTH must be user:password; sending no credentials".into());
            Auth::None
        })
    } else {
        if let Some(c) = cfg.filter(|c| c.bearer_token_env.is_some() || c.basic_auth_env.is_some())
        {
            credentials = Some(CredentialSource {
                env_file: env_file.to_path_buf(),
                basic_auth_key: c.basic_auth_env.clone(),
                bearer_token_key: c.bearer_token_env.clone(),
            });
        }
        Auth::None
    };
    let mut r = Resolved {
        loki: pick(
            &flags.loki,
            "HOMELAB_LOKI_URL",
            cfg.and_then(|c| c.loki_url.as_ref()),
            env,
        ),
        prometheus: pick(
            &flags.prometheus,
            "HOMELAB_PROMETHEUS_URL",
            cfg.and_then(|c| c.prometheus_url.as_ref()),
            env,
        ),
        alertmanager: pick(
            &flags.alertmanager,
            "HOMELAB_ALERTMANAGER_URL",
            cfg.and_then(|c| c.alertmanager_url.as_ref()),
            env,
        ),
        auth,
        credentials,
        notes,
        ca_files: CaFiles::default(),
    };
    // Validation refuses this in the cluster definition unless allow_insecure_http is set;
    // flags and the environment can still ask for it. Either way the operator is told.
    if !matches!(r.auth, Auth::None) || r.credentials.is_some() {
        let plain: Vec<String> = [&r.loki, &r.prometheus, &r.alertmanager]
            .into_iter()
            .flatten()
            .filter(|e| {
                e.url
                    .get(..7)
                    .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
            })
            .map(|e| e.url.clone())
            .collect();
        for url in plain {
            r.notes.push(format!(
                "{url} is plain http: the credentials travel unencrypted"
            ));
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_env_beat_cluster_config() {
        let cfg = ObservabilityConfig {
            loki_url: Some("https://loki.cfg".into()),
            prometheus_url: Some("https://prom.cfg".into()),
            alertmanager_url: Some("https://am.cfg".into()),
            basic_auth_env: None,
            bearer_token_env: Some("OBS_TOKEN".into()),
            ..Default::default()
        };
        let flags = EndpointOverrides {
            loki: Some("http://loki.flag".into()),
            ..Default::default()
        };
        let env = |k: &str| (k == "HOMELAB_PROMETHEUS_URL").then(|| "http://prom.env".to_string());
        let r = resolve(&flags, Some(&cfg), Path::new("config/env/x.env"), &env);
        assert_eq!(
            r.loki,
            Some(Endpoint {
                url: "http://loki.flag".into(),
                origin: Origin::Flag
            })
        );
        assert_eq!(
            r.prometheus,
            Some(Endpoint {
                url: "http://prom.env".into(),
                origin: Origin::Env
            })
        );
        assert_eq!(
            r.alertmanager,
            Some(Endpoint {
                url: "https://am.cfg".into(),
                origin: Origin::ClusterConfig
            })
        );
        assert_eq!(r.auth, Auth::None);
        let c = r.credentials.expect("read from the env file");
        assert_eq!(c.bearer_token_key.as_deref(), Some("OBS_TOKEN"));
        assert_eq!(c.env_file, Path::new("config/env/x.env"));
    }

    #[test]
    fn credentials_from_the_environment() {
        let env = |k: &str| (k == "HOMELAB_BASIC_AUTH").then(|| "ops:pw".to_string());
        let r = resolve(
            &EndpointOverrides::default(),
            None,
            Path::new("e.env"),
            &env,
        );
        assert_eq!(r.auth, Auth::basic_from_pair("ops:pw").unwrap());
        assert_eq!(r.loki, None);
        let env = |k: &str| (k == "HOMELAB_BASIC_AUTH").then(|| "no-colon".to_string());
        assert!(
            resolve(
                &EndpointOverrides::default(),
                None,
                Path::new("e.env"),
                &env
            )
            .notes[0]
                .contains("user:password")
        );
    }

    /// Issue 12: credentials bound for a plain-http endpoint are never sent silently; without
    /// credentials plain http says nothing.
    #[test]
    fn credentials_over_plain_http_leave_a_note() {
        let env = |k: &str| match k {
            "HOMELAB_BEARER_TOKEN" => Some("t0ken".to_string()),
            "HOMELAB_LOKI_URL" => Some("http://loki.lan:3100".to_string()),
            "HOMELAB_PROMETHEUS_URL" => Some("https://prom.lan".to_string()),
            _ => None,
        };
        let r = resolve(
            &EndpointOverrides::default(),
            None,
            Path::new("e.env"),
            &env,
        );
        assert_eq!(
            r.notes,
            ["http://loki.lan:3100 is plain http: the credentials travel unencrypted"]
        );
        assert!(!r.notes[0].contains("t0ken"));
        let env = |k: &str| (k == "HOMELAB_LOKI_URL").then(|| "http://loki.lan:3100".to_string());
        let r = resolve(
            &EndpointOverrides::default(),
            None,
            Path::new("e.env"),
            &env,
        );
        assert!(r.notes.is_empty(), "{:?}", r.notes);
    }
}
