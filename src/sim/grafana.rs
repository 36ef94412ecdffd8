//! Grafana's datasource API (WIRE-2.md M.3): `GET /api/health` (no login), `GET
//! /api/datasources` and `GET /api/datasources/uid/{uid}/health` (`200 {"status":"OK"}` or
//! `400 {"status":"ERROR"}`), behind HTTP Basic for the admin login it is started with
//! (401 with Grafana's JSON otherwise). Datasources start as the tree's (Prometheus, Loki,
//! Tempo) and can be marked failing.

use crate::sim::server::SimServer;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use serde_json::json;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio_util::sync::CancellationToken;

/// One datasource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDatasource {
    pub uid: String,
    pub name: String,
    pub kind: String,
    /// `None`: healthy; `Some(message)`: its health check fails with this.
    pub failing: Option<String>,
}

impl SimDatasource {
    pub fn new(uid: &str, name: &str, kind: &str) -> SimDatasource {
        SimDatasource {
            uid: uid.into(),
            name: name.into(),
            kind: kind.into(),
            failing: None,
        }
    }

    /// The datasources `cluster/kubernetes/platform/monitoring/grafana/helmrelease.yaml` gives.
    pub fn tree() -> Vec<SimDatasource> {
        vec![
            SimDatasource::new("prometheus", "Prometheus", "prometheus"),
            SimDatasource::new("loki", "Loki", "loki"),
            SimDatasource::new("tempo", "Tempo", "tempo"),
        ]
    }

    fn ok_message(&self) -> &'static str {
        match self.kind.as_str() {
            "prometheus" => "Successfully queried the Prometheus API.",
            "loki" => "Data source successfully connected.",
            _ => "Data source is working",
        }
    }
}

#[derive(Clone)]
struct Shared {
    /// The `Authorization` header that logs in (Basic of the admin user and password).
    authorization: Option<String>,
    sources: Arc<Mutex<Vec<SimDatasource>>>,
}

/// A running simulated Grafana.
pub struct GrafanaSim {
    server: SimServer,
    shared: Shared,
}

impl GrafanaSim {
    /// Start on `listen`; `admin`: the user and password Basic auth must carry (`None`: any
    /// Basic login is taken, as the demo lab's, whose password the env file holds).
    pub async fn start(
        listen: SocketAddr,
        admin: Option<(&str, &str)>,
    ) -> std::io::Result<GrafanaSim> {
        let shared = Shared {
            authorization: admin.map(|(u, p)| {
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
                )
            }),
            sources: Arc::new(Mutex::new(SimDatasource::tree())),
        };
        let app = Router::new()
            .route(
                "/api/health",
                get(|| async {
                    axum::Json(json!({"commit": "sim", "database": "ok", "version": "12.1.0"}))
                }),
            )
            .route("/api/datasources", get(list))
            .route("/api/datasources/uid/{uid}/health", get(health))
            .with_state(shared.clone());
        Ok(GrafanaSim {
            server: SimServer::start(listen, app, CancellationToken::new()).await?,
            shared,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Make datasource `uid`'s health check fail with `message`.
    pub fn fail(&self, uid: &str, message: &str) {
        if let Ok(mut s) = self.shared.sources.lock() {
            for d in s.iter_mut().filter(|d| d.uid == uid) {
                d.failing = Some(message.into());
            }
        }
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"extra": null, "message": "Unauthorized", "messageId": "auth.unauthorized", "statusCode": 401, "traceID": ""})),
    )
        .into_response()
}

fn logged_in(s: &Shared, h: &HeaderMap) -> bool {
    let given = h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match (&s.authorization, given) {
        (Some(want), Some(given)) => want == given,
        (None, Some(given)) => given.starts_with("Basic "),
        (_, None) => false,
    }
}

async fn list(State(s): State<Shared>, h: HeaderMap) -> Response {
    if !logged_in(&s, &h) {
        return unauthorized();
    }
    let sources = s.sources.lock().map(|v| v.clone()).unwrap_or_default();
    let out: Vec<_> = sources
        .iter()
        .enumerate()
        .map(|(i, d)| json!({"id": i + 1, "uid": d.uid, "orgId": 1, "name": d.name, "type": d.kind, "access": "proxy", "url": "", "isDefault": i == 0, "jsonData": {}, "readOnly": true}))
        .collect();
    axum::Json(out).into_response()
}

async fn health(State(s): State<Shared>, h: HeaderMap, Path(uid): Path<String>) -> Response {
    if !logged_in(&s, &h) {
        return unauthorized();
    }
    let sources = s.sources.lock().map(|v| v.clone()).unwrap_or_default();
    match sources.iter().find(|d| d.uid == uid) {
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"message": "Data source not found"})),
        )
            .into_response(),
        Some(d) => match &d.failing {
            None => axum::Json(json!({"status": "OK", "message": d.ok_message()})).into_response(),
            Some(m) => (
                StatusCode::BAD_REQUEST,
                axum::Json(json!({"status": "ERROR", "message": m})),
            )
                .into_response(),
        },
    }
}
