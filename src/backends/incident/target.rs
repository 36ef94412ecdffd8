//! What an alert points at, read from its labels: the namespace, the workload (a pod, or a
//! Deployment, StatefulSet, DaemonSet or Job named by kube-state-metrics' labels), and the node
//! (`node`, or the host of `instance` for node-exporter alerts). Pure.

use crate::domain::alerts::AlertLabels;

/// A workload kind an alert label can name, in the order they are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pod,
    Deployment,
    StatefulSet,
    DaemonSet,
    Job,
}

impl Kind {
    /// The alert label naming this kind (kube-state-metrics' names).
    pub fn label(self) -> &'static str {
        match self {
            Kind::Pod => "pod",
            Kind::Deployment => "deployment",
            Kind::StatefulSet => "statefulset",
            Kind::DaemonSet => "daemonset",
            Kind::Job => "job_name",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pod => "Pod",
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::DaemonSet => "DaemonSet",
            Kind::Job => "Job",
        }
    }
    /// API group, version and plural.
    pub fn resource(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Kind::Pod => ("", "v1", "pods"),
            Kind::Deployment => ("apps", "v1", "deployments"),
            Kind::StatefulSet => ("apps", "v1", "statefulsets"),
            Kind::DaemonSet => ("apps", "v1", "daemonsets"),
            Kind::Job => ("batch", "v1", "jobs"),
        }
    }
    pub fn from_name(kind: &str) -> Option<Kind> {
        [
            Kind::Pod,
            Kind::Deployment,
            Kind::StatefulSet,
            Kind::DaemonSet,
            Kind::Job,
        ]
        .into_iter()
        .find(|k| k.name() == kind)
    }
}

/// The alert's pointers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    pub namespace: Option<String>,
    /// The most specific workload label: `pod` before `deployment` before ... `job_name`.
    pub workload: Option<(Kind, String)>,
    /// `node`, else the host part of `instance` (`k3s-agent-2:9100` -> `k3s-agent-2`).
    pub node: Option<String>,
    /// Labels that are present but are not Kubernetes names (said, then ignored).
    pub rejected: Vec<String>,
}

/// A DNS-1123 subdomain as Kubernetes names objects (lower case, digits, `-` and `.`).
pub fn is_kube_name(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 253
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !v.starts_with(['-', '.'])
        && !v.ends_with(['-', '.'])
}

/// The host of an `instance` label: `host:port`, `[v6]:port`, or a bare host.
fn instance_host(v: &str) -> &str {
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match v.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => v,
    }
}

/// Read the pointers of `labels`.
pub fn read(labels: &AlertLabels) -> Target {
    let mut t = Target::default();
    let mut take = |key: &str| -> Option<String> {
        let v = labels.get(key).filter(|v| !v.is_empty())?;
        if is_kube_name(v) {
            Some(v.clone())
        } else {
            t.rejected.push(format!("{key}={v:?}"));
            None
        }
    };
    let namespace = take("namespace");
    let workload = [
        Kind::Pod,
        Kind::Deployment,
        Kind::StatefulSet,
        Kind::DaemonSet,
        Kind::Job,
    ]
    .into_iter()
    .find_map(|k| take(k.label()).map(|n| (k, n)));
    let node = take("node").or_else(|| {
        let inst = labels.get("instance").filter(|v| !v.is_empty())?;
        let host = instance_host(inst);
        // An IP address is kept as is: the cluster definition maps VM addresses too.
        (is_kube_name(host) || host.parse::<std::net::IpAddr>().is_ok()).then(|| host.to_owned())
    });
    t.namespace = namespace;
    t.workload = workload;
    t.node = node;
    t
}

impl Target {
    /// Why there is no workload to look up, in words for the view (None when there is one).
    pub fn missing(&self, labels: &AlertLabels) -> Option<String> {
        let rejected = if self.rejected.is_empty() {
            String::new()
        } else {
            format!(
                " ({} {} not a Kubernetes name)",
                self.rejected.join(", "),
                if self.rejected.len() == 1 {
                    "is"
                } else {
                    "are"
                }
            )
        };
        match (&self.namespace, &self.workload) {
            (Some(_), Some(_)) => None,
            (None, Some((k, n))) => Some(format!(
                "the alert names {} {n} but has no namespace label{rejected}",
                k.name()
            )),
            (Some(ns), None) => Some(format!(
                "the alert names namespace {ns} but no pod, deployment, statefulset, daemonset or job_name label{rejected}"
            )),
            (None, None) => {
                let names: Vec<&str> = labels.keys().map(String::as_str).collect();
                Some(format!(
                    "the alert has no namespace label and no pod or workload label{rejected} (its labels: {})",
                    names.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> AlertLabels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_most_specific_workload_label_wins() {
        let l = labels(&[
            ("namespace", "media"),
            ("deployment", "jellyfin"),
            ("pod", "jellyfin-7d9c-abcde"),
        ]);
        let t = read(&l);
        assert_eq!(t.namespace.as_deref(), Some("media"));
        assert_eq!(t.workload, Some((Kind::Pod, "jellyfin-7d9c-abcde".into())));
        assert_eq!(t.missing(&l), None);
        let t = read(&labels(&[("namespace", "batch"), ("job_name", "backup-1")]));
        assert_eq!(t.workload, Some((Kind::Job, "backup-1".into())));
    }

    #[test]
    fn node_comes_from_node_or_the_instance_host() {
        let t = read(&labels(&[("instance", "k3s-agent-2:9100")]));
        assert_eq!(t.node.as_deref(), Some("k3s-agent-2"));
        let t = read(&labels(&[("instance", "10.0.0.12:9100")]));
        assert_eq!(t.node.as_deref(), Some("10.0.0.12"));
        let t = read(&labels(&[("instance", "[fd00::1]:9100")]));
        assert_eq!(t.node.as_deref(), Some("fd00::1"));
        let t = read(&labels(&[("node", "k3s-1"), ("instance", "x:1")]));
        assert_eq!(t.node.as_deref(), Some("k3s-1"));
    }

    #[test]
    fn says_what_is_missing() {
        let l = labels(&[("alertname", "Watchdog"), ("severity", "none")]);
        let m = read(&l).missing(&l).unwrap();
        assert!(m.contains("no namespace label"), "{m}");
        assert!(m.contains("alertname, severity"), "{m}");
        let l = labels(&[("pod", "web-1")]);
        assert_eq!(
            read(&l).missing(&l).unwrap(),
            "the alert names Pod web-1 but has no namespace label"
        );
        let l = labels(&[("namespace", "media")]);
        assert!(
            read(&l)
                .missing(&l)
                .unwrap()
                .contains("namespace media but no pod")
        );
        // A value that is no Kubernetes name is never sent to the API; the view says why.
        let l = labels(&[("namespace", "media"), ("pod", "../../etc")]);
        let t = read(&l);
        assert_eq!(t.workload, None);
        assert!(
            t.missing(&l)
                .unwrap()
                .contains(r#"pod="../../etc" is not a Kubernetes name"#)
        );
    }
}
