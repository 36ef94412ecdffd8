//! Alertmanager API v2: alerts, silences (create with author and comment, expire).

use super::{rfc3339_secs, secs_to_rfc3339};
use crate::backends::endpoint::{Auth, EndpointError, HttpEndpoint, Timeouts};
use crate::domain::alerts::{AlertLabels, NewSilence, Silence, SilenceMatcher, SilenceState};
use reqwest::Method;
use serde::{Deserialize, Serialize};

/// One alert as `GET /api/v2/alerts` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    #[serde(default)]
    pub labels: AlertLabels,
    #[serde(default)]
    pub annotations: AlertLabels,
    pub fingerprint: String,
    #[serde(default)]
    pub starts_at: Option<String>,
    #[serde(default)]
    pub ends_at: Option<String>,
    #[serde(default)]
    pub generator_url: Option<String>,
    pub status: AmAlertStatus,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlertStatus {
    /// `unprocessed`, `active` or `suppressed`.
    pub state: String,
    #[serde(default)]
    pub silenced_by: Vec<String>,
    #[serde(default)]
    pub inhibited_by: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSilence {
    id: String,
    matchers: Vec<WireMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
    status: WireSilenceStatus,
}

#[derive(Debug, Deserialize)]
struct WireSilenceStatus {
    state: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct WirePostSilence<'a> {
    matchers: Vec<WireMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: &'a str,
    comment: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireSilenceCreated {
    #[serde(rename = "silenceID")]
    silence_id: String,
}

#[derive(Debug, Clone)]
pub struct AlertmanagerClient {
    http: HttpEndpoint,
}

impl AlertmanagerClient {
    /// Trust the CAs in `ca_file` too (backends::tls_trust).
    pub fn with_ca_file(self, ca_file: Option<&std::path::Path>) -> Result<Self, EndpointError> {
        Ok(Self {
            http: self.http.with_ca_file(ca_file)?,
        })
    }

    pub fn new(base: &str, auth: Auth, timeouts: Timeouts) -> Result<Self, EndpointError> {
        Ok(Self {
            http: HttpEndpoint::new("Alertmanager", base, auth, timeouts)?,
        })
    }

    pub fn endpoint(&self) -> &HttpEndpoint {
        &self.http
    }

    /// `GET /api/v2/alerts`: active, silenced and inhibited alerts.
    pub async fn alerts(&self) -> Result<Vec<AmAlert>, EndpointError> {
        self.http
            .send_json(self.http.request(Method::GET, "api/v2/alerts"))
            .await
    }

    /// `GET /api/v2/silences`.
    pub async fn silences(&self) -> Result<Vec<Silence>, EndpointError> {
        let wire: Vec<WireSilence> = self
            .http
            .send_json(self.http.request(Method::GET, "api/v2/silences"))
            .await?;
        Ok(wire
            .into_iter()
            .map(|s| Silence {
                id: s.id,
                matchers: s
                    .matchers
                    .into_iter()
                    .map(|m| SilenceMatcher {
                        name: m.name,
                        value: m.value,
                        is_regex: m.is_regex,
                        is_equal: m.is_equal,
                    })
                    .collect(),
                starts_at: rfc3339_secs(&s.starts_at).unwrap_or(0),
                ends_at: rfc3339_secs(&s.ends_at).unwrap_or(0),
                created_by: s.created_by,
                comment: s.comment,
                state: match s.status.state.as_str() {
                    "active" => SilenceState::Active,
                    "pending" => SilenceState::Pending,
                    _ => SilenceState::Expired,
                },
            })
            .collect())
    }

    /// `POST /api/v2/silences`; returns the new silence id. Alertmanager requires an author and
    /// a comment; we refuse to send a silence without them.
    pub async fn create_silence(&self, s: &NewSilence) -> Result<String, EndpointError> {
        if s.created_by.trim().is_empty() || s.comment.trim().is_empty() {
            return Err(EndpointError::Unsupported {
                peer: "Alertmanager",
                message: "a silence needs an author and a comment".into(),
            });
        }
        if s.matchers.is_empty() {
            return Err(EndpointError::Unsupported {
                peer: "Alertmanager",
                message: "a silence needs matchers".into(),
            });
        }
        let body = WirePostSilence {
            matchers: s
                .matchers
                .iter()
                .map(|m| WireMatcher {
                    name: m.name.clone(),
                    value: m.value.clone(),
                    is_regex: m.is_regex,
                    is_equal: m.is_equal,
                })
                .collect(),
            starts_at: secs_to_rfc3339(s.starts_at),
            ends_at: secs_to_rfc3339(s.ends_at),
            created_by: &s.created_by,
            comment: &s.comment,
        };
        let created: WireSilenceCreated = self
            .http
            .send_json(
                self.http
                    .request(Method::POST, "api/v2/silences")
                    .json(&body),
            )
            .await?;
        Ok(created.silence_id)
    }

    /// `DELETE /api/v2/silence/{id}`: expire a silence now.
    pub async fn expire_silence(&self, id: &str) -> Result<(), EndpointError> {
        if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(EndpointError::Unsupported {
                peer: "Alertmanager",
                message: format!("`{id}` is not a silence id"),
            });
        }
        self.http
            .send_bytes(
                self.http
                    .request(Method::DELETE, &format!("api/v2/silence/{id}")),
            )
            .await
            .map(drop)
    }
}

impl AmAlert {
    pub fn starts(&self) -> Option<i64> {
        self.starts_at.as_deref().and_then(rfc3339_secs)
    }
    pub fn ends(&self) -> Option<i64> {
        self.ends_at.as_deref().and_then(rfc3339_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_documented_alert() {
        let a: Vec<AmAlert> = serde_json::from_str(r#"[{"labels":{"alertname":"KubeNodeNotReady","severity":"warning","node":"k3s-1"},
  "annotations":{"summary":"Node k3s-1 not ready"},
  "fingerprint":"a1b2c3d4e5f60718",
  "startsAt":"2024-06-01T10:00:00.000Z","updatedAt":"2024-06-01T10:05:00.000Z","endsAt":"2024-06-01T10:09:00.000Z",
  "generatorURL":"http://prometheus:9090/graph?g0.expr=...",
  "receivers":[{"name":"default"}],
  "status":{"state":"active","silencedBy":[],"inhibitedBy":[]}}]"#)
        .unwrap();
        assert_eq!(a[0].fingerprint, "a1b2c3d4e5f60718");
        assert_eq!(a[0].starts(), Some(1717236000));
    }

    #[test]
    fn silence_body_has_the_wire_field_names() {
        let body = WirePostSilence {
            matchers: vec![WireMatcher {
                name: "a".into(),
                value: "b".into(),
                is_regex: false,
                is_equal: true,
            }],
            starts_at: secs_to_rfc3339(0),
            ends_at: secs_to_rfc3339(60),
            created_by: "me",
            comment: "why",
        };
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["createdBy"], "me");
        assert_eq!(v["matchers"][0]["isRegex"], false);
        assert_eq!(v["matchers"][0]["isEqual"], true);
        assert_eq!(v["endsAt"], "1970-01-01T00:01:00Z");
    }
}
