//! Server of the simulated Prometheus + Alertmanager.

use crate::domain::alerts::AlertLabels;
use crate::sim::server::SimServer;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use regex::Regex;
use serde::Deserialize;
use serde_json::{Value, json};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// One alert the simulated Prometheus evaluates.
#[derive(Debug, Clone, PartialEq)]
pub struct SimAlert {
    pub labels: AlertLabels,
    pub annotations: AlertLabels,
    /// Inside the rule's `for:` window: Prometheus shows it, Alertmanager does not have it yet.
    pub pending: bool,
    /// Unix seconds it became active.
    pub active_at: i64,
    /// The rule expression shown in `/api/v1/rules`.
    pub expr: String,
}

impl SimAlert {
    pub fn new(name: &str, severity: &str, pending: bool, active_at: i64) -> Self {
        let mut labels = AlertLabels::new();
        labels.insert("alertname".into(), name.into());
        labels.insert("severity".into(), severity.into());
        Self {
            labels,
            annotations: AlertLabels::new(),
            pending,
            active_at,
            expr: "vector(1)".into(),
        }
    }
    pub fn label(mut self, k: &str, v: &str) -> Self {
        self.labels.insert(k.into(), v.into());
        self
    }
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        self.annotations.insert(k.into(), v.into());
        self
    }
    fn fingerprint(&self) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.labels.hash(&mut h);
        format!("{:016x}", h.finish())
    }

    /// A homelab's worth of alerts: something firing in each severity, one pending, Watchdog.
    pub fn homelab_defaults(now: i64) -> Vec<SimAlert> {
        vec![
            SimAlert::new("Watchdog", "none", false, now - 86_400)
                .label("namespace", "monitoring")
                .annotation("summary", "An alert that should always be firing to certify that Alertmanager is working properly."),
            SimAlert::new("KubePodCrashLooping", "warning", false, now - 1_260)
                .label("namespace", "media")
                .label("pod", "jellyseer-6d9f7c8b5-2xkqp")
                .label("container", "jellyseer")
                .label("job", "kube-state-metrics")
                .annotation("summary", "Pod is crash looping.")
                .annotation("description", "Pod media/jellyseer-6d9f7c8b5-2xkqp (jellyseer) is in waiting state (reason: \"CrashLoopBackOff\").")
                .annotation("runbook_url", "https://runbooks.prometheus-operator.dev/runbooks/kubernetes/kubepodcrashlooping"),
            SimAlert::new("LonghornVolumeStatusWarning", "warning", false, now - 5_400)
                .label("namespace", "longhorn-system")
                .label("app", "longhorn-manager")
                .label("volume", "pvc-3f9a1c2e")
                .label("node", "k3s-agent-1")
                .annotation("summary", "Longhorn volume pvc-3f9a1c2e is Degraded")
                .annotation("description", "Longhorn volume pvc-3f9a1c2e on k3s-agent-1 is Degraded for more than 10 minutes."),
            SimAlert::new("NodeFilesystemAlmostOutOfSpace", "critical", false, now - 600)
                .label("instance", "k3s-agent-2:9100")
                .label("job", "node-exporter")
                .label("mountpoint", "/var/lib/rancher")
                .annotation("summary", "Filesystem has less than 5% space left.")
                .annotation("description", "Filesystem on /dev/sda1 at k3s-agent-2:9100 has only 3.81% available space left."),
            SimAlert::new("FluxKustomizationFailing", "critical", false, now - 180)
                .label("namespace", "flux-system")
                .label("app", "kustomize-controller")
                .label("name", "apps")
                .annotation("summary", "Kustomization flux-system/apps is not ready")
                .annotation("description", "health check failed after 1m0s: timeout waiting for: [Deployment/media/jellyseer status: 'InProgress']"),
            SimAlert::new("TargetDown", "warning", true, now - 40)
                .label("namespace", "media")
                .label("job", "navidrome")
                .label("service", "navidrome")
                .annotation("summary", "One or more targets are unreachable.")
                .annotation("description", "100% of the navidrome/navidrome targets in media namespace are down."),
            SimAlert::new("CPUThrottlingHigh", "info", false, now - 3_000)
                .label("namespace", "monitoring")
                .label("pod", "prometheus-kube-prometheus-stack-0")
                .label("container", "config-reloader")
                .annotation("summary", "Processes experience elevated CPU throttling."),
        ]
    }
}

#[derive(Debug, Clone)]
struct SimMatcher {
    name: String,
    value: String,
    is_regex: bool,
    is_equal: bool,
    re: Option<Regex>,
}

impl SimMatcher {
    fn matches(&self, labels: &AlertLabels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        let hit = match &self.re {
            Some(r) => r.is_match(v),
            None => v == self.value,
        };
        hit == self.is_equal
    }
}

#[derive(Debug, Clone)]
struct SimSilence {
    id: String,
    matchers: Vec<SimMatcher>,
    starts_at: i64,
    ends_at: i64,
    updated_at: i64,
    created_by: String,
    comment: String,
}

impl SimSilence {
    fn state(&self, now: i64) -> &'static str {
        if self.ends_at <= now {
            "expired"
        } else if self.starts_at > now {
            "pending"
        } else {
            "active"
        }
    }
}

#[derive(Debug, Default)]
struct Data {
    alerts: Vec<SimAlert>,
    silences: Vec<SimSilence>,
    next_silence: u64,
    targets: Vec<SimTarget>,
    /// Alerts that start firing once `/api/v1/targets` was read (the observability stage's
    /// first probe: "once observability is up").
    once_probed: Vec<SimAlert>,
}

/// One scrape target of `/api/v1/targets`.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTarget {
    pub job: String,
    pub instance: String,
    /// `up`, `down` or `unknown`.
    pub health: String,
    pub last_error: String,
}

impl SimTarget {
    pub fn up(job: &str, instance: &str) -> SimTarget {
        SimTarget {
            job: job.into(),
            instance: instance.into(),
            health: "up".into(),
            last_error: String::new(),
        }
    }
    pub fn down(job: &str, instance: &str, error: &str) -> SimTarget {
        SimTarget {
            health: "down".into(),
            last_error: error.into(),
            ..SimTarget::up(job, instance)
        }
    }

    /// What a homelab's Prometheus scrapes, all up.
    pub fn homelab_defaults() -> Vec<SimTarget> {
        vec![
            SimTarget::up("apiserver", "10.0.0.1:6443"),
            SimTarget::up("kube-state-metrics", "10.42.0.12:8080"),
            SimTarget::up("node-exporter", "k3s-server-1:9100"),
            SimTarget::up("node-exporter", "k3s-agent-1:9100"),
            SimTarget::up("node-exporter", "k3s-agent-2:9100"),
            SimTarget::up("kube-prometheus-stack-prometheus", "10.42.1.7:9090"),
            SimTarget::up("alertmanager-operated", "10.42.1.8:9093"),
        ]
    }

    fn json(&self) -> Value {
        let url = format!("http://{}/metrics", self.instance);
        json!({
            "discoveredLabels": {"__address__": self.instance, "__metrics_path__": "/metrics", "__scheme__": "http", "job": self.job},
            "labels": {"instance": self.instance, "job": self.job},
            "scrapePool": self.job, "scrapeUrl": url, "globalUrl": url,
            "lastError": self.last_error,
            "lastScrape": if self.health == "unknown" { "0001-01-01T00:00:00Z".to_string() } else { rfc3339(now_s() - 5) },
            "lastScrapeDuration": 0.004, "health": self.health,
            "scrapeInterval": "30s", "scrapeTimeout": "10s",
        })
    }
}

type Shared = Arc<Mutex<Data>>;

fn lock(s: &Shared) -> MutexGuard<'_, Data> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_s() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn rfc3339(secs: i64) -> String {
    crate::backends::prom::secs_to_rfc3339(secs)
}

/// A running simulated Prometheus + Alertmanager.
pub struct AlertsSim {
    server: SimServer,
    data: Shared,
}

impl AlertsSim {
    /// Start with the homelab default alerts.
    pub async fn start(listen: SocketAddr) -> std::io::Result<Self> {
        Self::start_with(listen, SimAlert::homelab_defaults(now_s())).await
    }

    pub async fn start_with(listen: SocketAddr, alerts: Vec<SimAlert>) -> std::io::Result<Self> {
        let data: Shared = Arc::new(Mutex::new(Data {
            alerts,
            targets: SimTarget::homelab_defaults(),
            ..Data::default()
        }));
        let app = Router::new()
            .route("/-/healthy", get(|| async { "Healthy.\n" }))
            .route("/-/ready", get(|| async { "Ready.\n" }))
            .route("/api/v1/alerts", get(prom_alerts))
            .route("/api/v1/rules", get(prom_rules))
            .route("/api/v1/targets", get(prom_targets))
            .route("/api/v2/alerts", get(am_alerts))
            .route("/api/v2/silences", get(am_silences).post(am_post_silence))
            .route(
                "/api/v2/silence/{id}",
                delete(am_delete_silence).get(am_get_silence),
            )
            .route("/api/v2/status", get(am_status))
            .with_state(Arc::clone(&data));
        let server = SimServer::start(listen, app, CancellationToken::new()).await?;
        Ok(Self { server, data })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Base URL of both APIs (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Replace the evaluated alerts.
    pub fn set_alerts(&self, alerts: Vec<SimAlert>) {
        lock(&self.data).alerts = alerts;
    }

    /// Replace the scrape targets `/api/v1/targets` reports.
    pub fn set_targets(&self, targets: Vec<SimTarget>) {
        lock(&self.data).targets = targets;
    }

    /// Start firing `alerts` once `/api/v1/targets` has been read (the observability stage's
    /// first probe), as an alert that fires once observability is up.
    pub fn fire_once_probed(&self, alerts: Vec<SimAlert>) {
        lock(&self.data).once_probed = alerts;
    }

    /// Ids of silences that are active now.
    pub fn active_silences(&self) -> Vec<String> {
        let now = now_s();
        lock(&self.data)
            .silences
            .iter()
            .filter(|s| s.state(now) == "active")
            .map(|s| s.id.clone())
            .collect()
    }

    pub async fn stop(self) {
        self.server.stop().await;
    }
}

fn prom_alert_json(a: &SimAlert) -> Value {
    json!({
        "labels": a.labels, "annotations": a.annotations,
        "state": if a.pending { "pending" } else { "firing" },
        "activeAt": rfc3339(a.active_at), "value": "1e+00"
    })
}

async fn prom_targets(State(d): State<Shared>) -> Response {
    let mut d = lock(&d);
    let now = now_s();
    let fired: Vec<SimAlert> = std::mem::take(&mut d.once_probed)
        .into_iter()
        .map(|mut a| {
            a.active_at = now;
            a
        })
        .collect();
    d.alerts.extend(fired);
    let targets: Vec<Value> = d.targets.iter().map(SimTarget::json).collect();
    axum::Json(
        json!({"status": "success", "data": {"activeTargets": targets, "droppedTargets": []}}),
    )
    .into_response()
}

async fn prom_alerts(State(d): State<Shared>) -> Response {
    let d = lock(&d);
    let alerts: Vec<Value> = d.alerts.iter().map(prom_alert_json).collect();
    axum::Json(json!({"status": "success", "data": {"alerts": alerts}})).into_response()
}

#[derive(Debug, Deserialize)]
struct RulesParams {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn prom_rules(State(d): State<Shared>, Query(p): Query<RulesParams>) -> Response {
    let d = lock(&d);
    let mut rules: Vec<Value> = Vec::new();
    let mut names: Vec<&str> = d
        .alerts
        .iter()
        .filter_map(|a| a.labels.get("alertname").map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    if p.kind.as_deref() != Some("record") {
        for name in names {
            let members: Vec<&SimAlert> = d
                .alerts
                .iter()
                .filter(|a| a.labels.get("alertname").map(String::as_str) == Some(name))
                .collect();
            let state = if members.iter().any(|a| !a.pending) {
                "firing"
            } else {
                "pending"
            };
            let first = members[0];
            let mut rule_labels = AlertLabels::new();
            if let Some(s) = first.labels.get("severity") {
                rule_labels.insert("severity".into(), s.clone());
            }
            rules.push(json!({
                "type": "alerting", "name": name, "query": first.expr, "duration": 300,
                "labels": rule_labels, "annotations": first.annotations,
                "alerts": members.iter().map(|a| prom_alert_json(a)).collect::<Vec<_>>(),
                "health": "ok", "state": state, "lastError": "",
                "evaluationTime": 0.000412, "lastEvaluation": rfc3339(now_s())
            }));
        }
    }
    if p.kind.as_deref() != Some("alert") {
        rules.push(json!({
            "type": "recording", "name": "namespace:container_cpu_usage_seconds_total:sum_rate",
            "query": "sum by (namespace) (rate(container_cpu_usage_seconds_total[5m]))", "health": "ok",
            "evaluationTime": 0.0011, "lastEvaluation": rfc3339(now_s())
        }));
    }
    axum::Json(json!({"status": "success", "data": {"groups": [
        {"name": "homelab.rules", "file": "/etc/prometheus/rules/homelab.yaml", "interval": 30, "rules": rules,
         "evaluationTime": 0.002, "lastEvaluation": rfc3339(now_s())}
    ]}}))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct AmAlertParams {
    active: Option<bool>,
    silenced: Option<bool>,
    inhibited: Option<bool>,
}

async fn am_alerts(State(d): State<Shared>, Query(p): Query<AmAlertParams>) -> Response {
    let now = now_s();
    let d = lock(&d);
    let mut out = Vec::new();
    for a in d.alerts.iter().filter(|a| !a.pending) {
        let silenced_by: Vec<&str> = d
            .silences
            .iter()
            .filter(|s| s.state(now) == "active" && s.matchers.iter().all(|m| m.matches(&a.labels)))
            .map(|s| s.id.as_str())
            .collect();
        let suppressed = !silenced_by.is_empty();
        if (suppressed && p.silenced == Some(false)) || (!suppressed && p.active == Some(false)) {
            continue;
        }
        let _ = p.inhibited;
        out.push(json!({
            "labels": a.labels, "annotations": a.annotations, "fingerprint": a.fingerprint(),
            "startsAt": rfc3339(a.active_at), "updatedAt": rfc3339(now), "endsAt": rfc3339(now + 240),
            "generatorURL": format!("http://prometheus.monitoring:9090/graph?g0.expr={}&g0.tab=1", a.expr),
            "receivers": [{"name": "default"}],
            "status": {"state": if suppressed { "suppressed" } else { "active" }, "silencedBy": silenced_by, "inhibitedBy": [], "mutedBy": []}
        }));
    }
    axum::Json(Value::Array(out)).into_response()
}

fn silence_json(s: &SimSilence, now: i64) -> Value {
    json!({
        "id": s.id,
        "matchers": s.matchers.iter().map(|m| json!({"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal})).collect::<Vec<_>>(),
        "startsAt": rfc3339(s.starts_at), "endsAt": rfc3339(s.ends_at), "updatedAt": rfc3339(s.updated_at),
        "createdBy": s.created_by, "comment": s.comment, "status": {"state": s.state(now)}
    })
}

async fn am_silences(State(d): State<Shared>) -> Response {
    let now = now_s();
    let d = lock(&d);
    axum::Json(Value::Array(
        d.silences.iter().map(|s| silence_json(s, now)).collect(),
    ))
    .into_response()
}

async fn am_get_silence(State(d): State<Shared>, Path(id): Path<String>) -> Response {
    let now = now_s();
    let d = lock(&d);
    match d.silences.iter().find(|s| s.id == id) {
        Some(s) => axum::Json(silence_json(s, now)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(json!(format!("silence {id} not found"))),
        )
            .into_response(),
    }
}

/// Alertmanager answers validation errors with a JSON string body.
fn am_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(Value::String(msg.into()))).into_response()
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostMatcher {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default)]
    is_equal: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostSilence {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<PostMatcher>,
    starts_at: String,
    ends_at: String,
    created_by: String,
    comment: String,
}

async fn am_post_silence(State(d): State<Shared>, body: axum::body::Bytes) -> Response {
    let p: PostSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return am_error(StatusCode::BAD_REQUEST, format!("parsing body: {e}")),
    };
    let (Some(starts), Some(ends)) = (
        p.starts_at
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_second()),
        p.ends_at
            .parse::<jiff::Timestamp>()
            .ok()
            .map(|t| t.as_second()),
    ) else {
        return am_error(StatusCode::BAD_REQUEST, "invalid startsAt or endsAt");
    };
    if p.matchers.is_empty() {
        return am_error(
            StatusCode::BAD_REQUEST,
            "silence invalid: at least one matcher required",
        );
    }
    if ends <= starts {
        return am_error(
            StatusCode::BAD_REQUEST,
            "silence invalid: end time must not be before start time",
        );
    }
    if p.created_by.trim().is_empty() {
        return am_error(
            StatusCode::BAD_REQUEST,
            "silence invalid: creator information missing",
        );
    }
    if p.comment.trim().is_empty() {
        return am_error(StatusCode::BAD_REQUEST, "silence invalid: comment missing");
    }
    let mut matchers = Vec::new();
    for m in p.matchers {
        let re = if m.is_regex {
            match Regex::new(&format!("^(?:{})$", m.value)) {
                Ok(r) => Some(r),
                Err(e) => {
                    return am_error(
                        StatusCode::BAD_REQUEST,
                        format!("silence invalid: invalid regex {}: {e}", m.value),
                    );
                }
            }
        } else {
            None
        };
        matchers.push(SimMatcher {
            name: m.name,
            value: m.value,
            is_regex: m.is_regex,
            is_equal: m.is_equal.unwrap_or(true),
            re,
        });
    }
    let now = now_s();
    let mut d = lock(&d);
    let id = match p.id.filter(|i| !i.is_empty()) {
        Some(id) => {
            let Some(s) = d.silences.iter_mut().find(|s| s.id == id) else {
                return am_error(StatusCode::NOT_FOUND, format!("silence {id} not found"));
            };
            s.matchers = matchers;
            s.starts_at = starts;
            s.ends_at = ends;
            s.updated_at = now;
            s.created_by = p.created_by;
            s.comment = p.comment;
            id
        }
        None => {
            d.next_silence += 1;
            let n = d.next_silence;
            let id = format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                0x51_1e_0c_e5u32,
                n & 0xffff,
                n & 0xfff,
                n & 0xfff,
                n
            );
            d.silences.push(SimSilence {
                id: id.clone(),
                matchers,
                starts_at: starts,
                ends_at: ends,
                updated_at: now,
                created_by: p.created_by,
                comment: p.comment,
            });
            id
        }
    };
    axum::Json(json!({"silenceID": id})).into_response()
}

async fn am_delete_silence(State(d): State<Shared>, Path(id): Path<String>) -> Response {
    let now = now_s();
    let mut d = lock(&d);
    match d.silences.iter_mut().find(|s| s.id == id) {
        None => am_error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
        Some(s) if s.state(now) == "expired" => {
            am_error(StatusCode::INTERNAL_SERVER_ERROR, "silence already expired")
        }
        Some(s) => {
            s.ends_at = now;
            s.updated_at = now;
            StatusCode::OK.into_response()
        }
    }
}

async fn am_status() -> Response {
    axum::Json(json!({
        "cluster": {"name": "01HOMELABSIM", "status": "disabled", "peers": []},
        "versionInfo": {"version": "0.27.0-homelab-sim", "revision": "sim", "branch": "HEAD", "buildUser": "homelab", "buildDate": "", "goVersion": ""},
        "config": {"original": "route:\n  receiver: default\nreceivers:\n- name: default\n"},
        "uptime": rfc3339(now_s())
    }))
    .into_response()
}
