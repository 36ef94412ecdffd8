//! Prometheus (`/api/v1/alerts`, `/api/v1/rules`, `/api/v1/targets`) and Alertmanager (`/api/v2/alerts`, silences)
//! clients, and the merge of both views into one list of [`Alert`]s.

mod alertmanager;
mod merge;
mod prometheus;

pub use alertmanager::{AlertmanagerClient, AmAlert};
pub use merge::merge_alerts;
pub use prometheus::{PromAlert, PrometheusClient, Rule, RuleGroup, Target};

/// RFC 3339 to Unix seconds; `None` for Alertmanager's zero time and unparsable input.
pub(crate) fn rfc3339_secs(s: &str) -> Option<i64> {
    let ts: jiff::Timestamp = s.parse().ok()?;
    let secs = ts.as_second();
    (secs > 0).then_some(secs)
}

pub fn secs_to_rfc3339(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_both_ways() {
        assert_eq!(
            super::rfc3339_secs("2018-07-04T20:27:12.60602144+02:00"),
            Some(1530728832)
        );
        assert_eq!(super::rfc3339_secs("0001-01-01T00:00:00Z"), None);
        assert_eq!(super::secs_to_rfc3339(1530728832), "2018-07-04T18:27:12Z");
    }
}
