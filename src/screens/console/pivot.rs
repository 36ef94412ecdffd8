//! Alert -> logs: a LogQL selector from the alert's labels and a time window around it.

use crate::domain::alerts::Alert;

/// How far before the alert became active the logs start.
pub const LOOKBACK_SECS: i64 = 5 * 60;

/// The labels a pivot selects on, most specific last. `job` is used only when nothing else
/// names the workload (on pod alerts it is the exporter's job, not the pod's).
pub fn pivot_query(alert: &Alert) -> String {
    let get = |k: &str| alert.labels.get(k).filter(|v| !v.is_empty());
    let mut matchers: Vec<(&str, &String)> = Vec::new();
    if let Some(ns) = get("namespace") {
        matchers.push(("namespace", ns));
    }
    if let Some(pod) = get("pod") {
        matchers.push(("pod", pod));
    } else if let Some(app) = get("app") {
        matchers.push(("app", app));
    }
    if matchers.is_empty()
        && let Some(job) = get("job")
    {
        matchers.push(("job", job));
    }
    if matchers.is_empty() {
        // Nothing to select on: every namespace, lines that mention the alert.
        return format!(r#"{{namespace=~".+"}} |= "{}""#, escape(alert.name()));
    }
    let inner: Vec<String> = matchers
        .iter()
        .map(|(k, v)| format!(r#"{k}="{}""#, escape(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

/// Start of the pivot window (Unix ns): the alert's start minus the lookback, or `now` minus
/// the lookback when the start is unknown.
pub fn pivot_start_ns(alert: &Alert, now_s: i64) -> i64 {
    (alert.active_since.unwrap_or(now_s) - LOOKBACK_SECS) * 1_000_000_000
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::alerts::AlertState;

    fn alert(pairs: &[(&str, &str)]) -> Alert {
        let labels = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut a = Alert::new(labels, Default::default(), AlertState::Firing);
        a.active_since = Some(1_000);
        a
    }

    #[test]
    fn builds_selectors_from_workload_labels() {
        let a = alert(&[
            ("alertname", "KubePodCrashLooping"),
            ("namespace", "media"),
            ("pod", "jellyseer-1"),
            ("job", "kube-state-metrics"),
        ]);
        assert_eq!(pivot_query(&a), r#"{namespace="media", pod="jellyseer-1"}"#);
        let a = alert(&[
            ("alertname", "Flux"),
            ("namespace", "flux-system"),
            ("app", "kustomize-controller"),
        ]);
        assert_eq!(
            pivot_query(&a),
            r#"{namespace="flux-system", app="kustomize-controller"}"#
        );
        let a = alert(&[
            ("alertname", "NodeDisk"),
            ("job", "node-exporter"),
            ("instance", "k3s-agent-2:9100"),
        ]);
        assert_eq!(pivot_query(&a), r#"{job="node-exporter"}"#);
        let a = alert(&[("alertname", "Weird\"Name")]);
        assert_eq!(pivot_query(&a), r#"{namespace=~".+"} |= "Weird\"Name""#);
        assert_eq!(pivot_start_ns(&a, 9_999), (1_000 - 300) * 1_000_000_000);
    }
}
