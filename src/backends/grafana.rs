//! Grafana's HTTP API, as far as the observability stage's probe reads it: the datasources
//! (`GET /api/datasources`) and each one's health (`GET /api/datasources/uid/{uid}/health`,
//! `200 {"status":"OK","message":...}` or `400 {"status":"ERROR",...}`; WIRE-2.md M.3).

use crate::backends::endpoint::{Auth, EndpointError, HttpEndpoint, Timeouts};
use reqwest::Method;
use serde::Deserialize;

/// Datasources read at most (a homelab has a handful).
const MAX_DATASOURCES: usize = 64;

/// One datasource of `GET /api/datasources`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Datasource {
    pub uid: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// A datasource's health answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    /// `OK` or `ERROR` (what Grafana said; `HTTP <code>` when it answered no JSON).
    pub status: String,
    pub message: String,
}

impl Health {
    pub fn ok(&self) -> bool {
        self.status.eq_ignore_ascii_case("ok")
    }
}

#[derive(Debug, Deserialize)]
struct HealthBody {
    #[serde(default)]
    status: String,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Clone)]
pub struct GrafanaClient {
    http: HttpEndpoint,
}

impl GrafanaClient {
    pub fn new(base: &str, auth: Auth, timeouts: Timeouts) -> Result<Self, EndpointError> {
        Ok(Self {
            http: HttpEndpoint::new("Grafana", base, auth, timeouts)?,
        })
    }

    /// `GET /api/datasources` (at most [`MAX_DATASOURCES`]).
    pub async fn datasources(&self) -> Result<Vec<Datasource>, EndpointError> {
        let mut all: Vec<Datasource> = self
            .http
            .send_json(self.http.request(Method::GET, "api/datasources"))
            .await?;
        all.truncate(MAX_DATASOURCES);
        Ok(all)
    }

    /// `GET /api/datasources/uid/{uid}/health`: a 400 with Grafana's JSON is an answer (the
    /// datasource is unhealthy), not a failed request.
    pub async fn health(&self, uid: &str) -> Result<Health, EndpointError> {
        if uid.is_empty()
            || !uid
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
        {
            return Err(EndpointError::Unsupported {
                peer: "Grafana",
                message: format!("datasource uid {uid:?} is not a uid"),
            });
        }
        let rb = self
            .http
            .request(Method::GET, &format!("api/datasources/uid/{uid}/health"));
        let (status, url, body) = self.http.send_any(rb).await?;
        match serde_json::from_slice::<HealthBody>(&body) {
            Ok(h) if (200..300).contains(&status) || status == 400 => Ok(Health {
                status: h.status,
                message: h.message,
            }),
            _ if (200..300).contains(&status) => Ok(Health {
                status: format!("HTTP {status}"),
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
            _ => Err(EndpointError::Status {
                peer: "Grafana",
                url,
                status,
                message: String::from_utf8_lossy(&body).chars().take(200).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_documented_shapes() {
        let d: Vec<Datasource> = serde_json::from_str(
            r#"[{"id":1,"uid":"prometheus","orgId":1,"name":"Prometheus","type":"prometheus","access":"proxy","url":"http://p:9090","isDefault":true,"jsonData":{}}]"#,
        )
        .unwrap();
        assert_eq!(d[0].uid, "prometheus");
        assert_eq!(d[0].kind, "prometheus");
        let h: HealthBody =
            serde_json::from_str(r#"{"status":"ERROR","message":"Plugin health check failed"}"#)
                .unwrap();
        assert_eq!(h.status, "ERROR");
        assert!(
            !Health {
                status: h.status,
                message: h.message
            }
            .ok()
        );
    }
}
