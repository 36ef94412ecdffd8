//! One list of alerts from two views: Prometheus knows pending alerts and `activeAt`;
//! Alertmanager knows silences, inhibitions and fingerprints. They are the same alert when the
//! Alertmanager label set contains the Prometheus one (Alertmanager may add external labels).

use super::{AmAlert, PromAlert};
use crate::domain::alerts::{Alert, AlertState};

/// Merge; either side may be empty (peer not configured or down). Sorted by severity, state,
/// name, labels.
pub fn merge_alerts(prom: &[PromAlert], am: &[AmAlert]) -> Vec<Alert> {
    let mut out: Vec<Alert> = Vec::with_capacity(prom.len() + am.len());
    let mut am_used = vec![false; am.len()];
    for p in prom {
        let matched = am.iter().enumerate().find(|(i, a)| {
            !am_used[*i] && p.labels.iter().all(|(k, v)| a.labels.get(k) == Some(v))
        });
        let pending = p.state == "pending";
        let state = if pending {
            AlertState::Pending
        } else {
            AlertState::Firing
        };
        let mut alert = Alert::new(p.labels.clone(), p.annotations.clone(), state);
        alert.active_since = p.active_since();
        alert.value = p.value.clone();
        alert.sources.prometheus = true;
        if let Some((i, a)) = matched {
            am_used[i] = true;
            apply_am(&mut alert, a);
        }
        out.push(alert);
    }
    for (i, a) in am.iter().enumerate() {
        if am_used[i] {
            continue;
        }
        let mut alert = Alert::new(a.labels.clone(), a.annotations.clone(), AlertState::Firing);
        alert.active_since = a.starts();
        apply_am(&mut alert, a);
        out.push(alert);
    }
    out.sort_by(|a, b| {
        (a.severity(), a.state, a.name(), &a.labels).cmp(&(
            b.severity(),
            b.state,
            b.name(),
            &b.labels,
        ))
    });
    out
}

fn apply_am(alert: &mut Alert, a: &AmAlert) {
    alert.sources.alertmanager = true;
    alert.fingerprint = Some(a.fingerprint.clone());
    alert.silenced_by = a.status.silenced_by.clone();
    alert.inhibited_by = a.status.inhibited_by.clone();
    alert.ends_at = a.ends();
    alert.generator_url = a.generator_url.clone();
    for (k, v) in &a.annotations {
        alert
            .annotations
            .entry(k.clone())
            .or_insert_with(|| v.clone());
    }
    if a.status.state == "suppressed" {
        alert.state = AlertState::Suppressed;
    }
    if alert.active_since.is_none() {
        alert.active_since = a.starts();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::prom::alertmanager::AmAlertStatus;
    use crate::domain::alerts::Severity;

    fn labels(pairs: &[(&str, &str)]) -> crate::domain::alerts::AlertLabels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn prom(name: &str, sev: &str, state: &str) -> PromAlert {
        PromAlert {
            labels: labels(&[("alertname", name), ("severity", sev)]),
            annotations: Default::default(),
            state: state.into(),
            active_at: Some("2024-06-01T10:00:00Z".into()),
            value: Some("1e+00".into()),
        }
    }

    fn am(name: &str, sev: &str, state: &str, silenced: &[&str]) -> AmAlert {
        AmAlert {
            labels: labels(&[
                ("alertname", name),
                ("severity", sev),
                ("cluster", "prox-n100"),
            ]),
            annotations: labels(&[("summary", "s")]),
            fingerprint: format!("fp-{name}"),
            starts_at: Some("2024-06-01T10:00:30Z".into()),
            ends_at: None,
            generator_url: None,
            status: AmAlertStatus {
                state: state.into(),
                silenced_by: silenced.iter().map(|s| s.to_string()).collect(),
                inhibited_by: vec![],
            },
        }
    }

    #[test]
    fn merges_by_label_subset_and_keeps_silence_state() {
        let merged = merge_alerts(
            &[
                prom("Disk", "warning", "firing"),
                prom("Boot", "critical", "pending"),
            ],
            &[
                am("Disk", "warning", "suppressed", &["sil-1"]),
                am("Watchdog", "none", "active", &[]),
            ],
        );
        let names: Vec<_> = merged
            .iter()
            .map(|a| (a.name(), a.state, a.severity()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("Boot", AlertState::Pending, Severity::Critical),
                ("Disk", AlertState::Suppressed, Severity::Warning),
                ("Watchdog", AlertState::Firing, Severity::None),
            ]
        );
        let disk = &merged[1];
        assert_eq!(disk.silenced_by, vec!["sil-1"]);
        assert_eq!(
            disk.active_since,
            Some(1717236000),
            "Prometheus activeAt wins over startsAt"
        );
        assert!(disk.sources.prometheus && disk.sources.alertmanager);
        assert_eq!(disk.annotations["summary"], "s");
    }
}
