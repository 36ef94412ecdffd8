//! A port-forward target `namespace/service:port`, as `observability.*_service` of the cluster
//! definition holds it.

use std::fmt;

/// `namespace/service:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceTarget {
    pub namespace: String,
    pub name: String,
    pub port: u16,
}

impl ServiceTarget {
    pub fn new(namespace: &str, name: &str, port: u16) -> ServiceTarget {
        ServiceTarget {
            namespace: namespace.into(),
            name: name.into(),
            port,
        }
    }

    /// Parse `namespace/service:port` (DNS-1123 names, a port 1-65535); the error says what
    /// is wrong.
    pub fn parse(s: &str) -> Result<ServiceTarget, String> {
        let shape = || format!("`{s}` is not namespace/service:port");
        let (ns, rest) = s.trim().split_once('/').ok_or_else(shape)?;
        let (name, port) = rest.rsplit_once(':').ok_or_else(shape)?;
        let dns = |v: &str| {
            !v.is_empty()
                && v.len() <= 63
                && v.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !v.starts_with('-')
                && !v.ends_with('-')
        };
        if !dns(ns) || !dns(name) {
            return Err(format!(
                "`{s}`: namespace and service must be lowercase DNS labels"
            ));
        }
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("`{s}`: `{port}` is not a port (1-65535)"))?;
        Ok(ServiceTarget::new(ns, name, port))
    }
}

impl fmt::Display for ServiceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.name, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_and_refuses_what_is_not_a_target() {
        let t = ServiceTarget::parse("logging/loki:3100").unwrap();
        assert_eq!(t, ServiceTarget::new("logging", "loki", 3100));
        assert_eq!(t.to_string(), "logging/loki:3100");
        for bad in [
            "loki:3100",
            "logging/loki",
            "logging/loki:0",
            "logging/loki:99999",
            "Logging/loki:1",
            "logging/lo ki:1",
            "/loki:1",
        ] {
            assert!(ServiceTarget::parse(bad).is_err(), "{bad}");
        }
    }
}
