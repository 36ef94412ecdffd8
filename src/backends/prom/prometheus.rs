//! Prometheus HTTP API: alerts, rules and scrape targets.

use super::rfc3339_secs;
use crate::backends::endpoint::{Auth, EndpointError, HttpEndpoint, Timeouts};
use crate::domain::alerts::AlertLabels;
use reqwest::Method;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
}

/// One alert as `/api/v1/alerts` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromAlert {
    #[serde(default)]
    pub labels: AlertLabels,
    #[serde(default)]
    pub annotations: AlertLabels,
    /// `pending` or `firing`.
    pub state: String,
    #[serde(default)]
    pub active_at: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

impl PromAlert {
    pub fn active_since(&self) -> Option<i64> {
        self.active_at.as_deref().and_then(rfc3339_secs)
    }
}

#[derive(Debug, Deserialize)]
struct AlertsData {
    alerts: Vec<PromAlert>,
}

/// A rule group from `/api/v1/rules`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RuleGroup {
    pub name: String,
    #[serde(default)]
    pub file: String,
    #[serde(default)]
    pub interval: f64,
    pub rules: Vec<Rule>,
}

/// An alerting or recording rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    /// `alerting` or `recording`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub duration: f64,
    #[serde(default)]
    pub labels: AlertLabels,
    #[serde(default)]
    pub annotations: AlertLabels,
    #[serde(default)]
    pub alerts: Vec<PromAlert>,
    #[serde(default)]
    pub health: String,
    /// `inactive`, `pending` or `firing` (alerting rules, Prometheus >= 2.x).
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
}

/// One active scrape target as `/api/v1/targets` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    #[serde(default)]
    pub labels: AlertLabels,
    #[serde(default)]
    pub scrape_pool: String,
    #[serde(default)]
    pub scrape_url: String,
    /// `up`, `down`, or `unknown` (not scraped yet).
    #[serde(default)]
    pub health: String,
    #[serde(default)]
    pub last_error: String,
}

impl Target {
    /// `job instance` (or the scrape URL when a label is missing), for messages.
    pub fn name(&self) -> String {
        match (self.labels.get("job"), self.labels.get("instance")) {
            (Some(job), Some(instance)) => format!("{job} {instance}"),
            _ => self.scrape_url.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TargetsData {
    #[serde(default)]
    active_targets: Vec<Target>,
}

#[derive(Debug, Deserialize)]
struct RulesData {
    groups: Vec<RuleGroup>,
}

#[derive(Debug, Clone)]
pub struct PrometheusClient {
    http: HttpEndpoint,
}

impl PrometheusClient {
    /// Trust the CAs in `ca_file` too (backends::tls_trust).
    pub fn with_ca_file(self, ca_file: Option<&std::path::Path>) -> Result<Self, EndpointError> {
        Ok(Self {
            http: self.http.with_ca_file(ca_file)?,
        })
    }

    pub fn new(base: &str, auth: Auth, timeouts: Timeouts) -> Result<Self, EndpointError> {
        Ok(Self {
            http: HttpEndpoint::new("Prometheus", base, auth, timeouts)?,
        })
    }

    pub fn endpoint(&self) -> &HttpEndpoint {
        &self.http
    }

    /// `GET /api/v1/alerts`: pending and firing alerts.
    pub async fn alerts(&self) -> Result<Vec<PromAlert>, EndpointError> {
        let env: Envelope<AlertsData> = self
            .http
            .send_json(self.http.request(Method::GET, "api/v1/alerts"))
            .await?;
        Ok(self.unwrap(env)?.alerts)
    }

    /// `GET /api/v1/rules?type=alert`: alerting rules with their state.
    pub async fn alert_rules(&self) -> Result<Vec<RuleGroup>, EndpointError> {
        let rb = self
            .http
            .request(Method::GET, "api/v1/rules")
            .query(&[("type", "alert")]);
        let env: Envelope<RulesData> = self.http.send_json(rb).await?;
        Ok(self.unwrap(env)?.groups)
    }

    /// `GET /api/v1/targets?state=active`: the active scrape targets and their health.
    pub async fn targets(&self) -> Result<Vec<Target>, EndpointError> {
        let rb = self
            .http
            .request(Method::GET, "api/v1/targets")
            .query(&[("state", "active")]);
        let env: Envelope<TargetsData> = self.http.send_json(rb).await?;
        Ok(self.unwrap(env)?.active_targets)
    }

    fn unwrap<T>(&self, env: Envelope<T>) -> Result<T, EndpointError> {
        match (env.status.as_str(), env.data) {
            ("success", Some(d)) => Ok(d),
            _ => Err(EndpointError::Unsupported {
                peer: "Prometheus",
                message: format!(
                    "{}: {}",
                    env.error_type.unwrap_or_else(|| env.status.clone()),
                    env.error.unwrap_or_else(|| "no data".into())
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_documented_shapes() {
        let a: Envelope<AlertsData> = serde_json::from_str(
            r#"{"status":"success","data":{"alerts":[
 {"labels":{"alertname":"KubeNodeNotReady","severity":"warning"},"annotations":{"summary":"..."},
  "state":"firing","activeAt":"2018-07-04T20:27:12.60602144+02:00","value":"1e+00"}]}}"#,
        )
        .unwrap();
        let alerts = a.data.unwrap().alerts;
        assert_eq!(alerts[0].state, "firing");
        assert_eq!(alerts[0].active_since(), Some(1530728832));
        let r: Envelope<RulesData> = serde_json::from_str(r#"{"status":"success","data":{"groups":[{"name":"example","file":"/rules.yaml","interval":60,"rules":[
 {"type":"alerting","name":"HighRequestLatency","query":"x > 0.5","duration":600,"labels":{"severity":"page"},"annotations":{"summary":"High"},"alerts":[],"health":"ok","state":"inactive"},
 {"type":"recording","name":"job:x:sum","query":"sum by (job) (x)","health":"ok"}]}]}}"#)
        .unwrap();
        let groups = r.data.unwrap().groups;
        let t: Envelope<TargetsData> = serde_json::from_str(r#"{"status":"success","data":{"activeTargets":[
 {"discoveredLabels":{"job":"dead"},"labels":{"instance":"127.0.0.1:19999","job":"dead"},
  "scrapePool":"dead","scrapeUrl":"http://127.0.0.1:19999/metrics","globalUrl":"http://vm:19999/metrics",
  "lastError":"connection refused","lastScrape":"2026-12-06T23:49:17.156671182Z","lastScrapeDuration":0.000742,
  "health":"down","scrapeInterval":"1s","scrapeTimeout":"1s"}],"droppedTargets":[]}}"#)
        .unwrap();
        let targets = t.data.unwrap().active_targets;
        assert_eq!(targets[0].health, "down");
        assert_eq!(targets[0].name(), "dead 127.0.0.1:19999");
        assert_eq!(groups[0].rules.len(), 2);
        assert_eq!(groups[0].rules[0].state.as_deref(), Some("inactive"));
    }
}
