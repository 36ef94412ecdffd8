//! The observability stage: Prometheus, Alertmanager, Loki, Promtail (a Ready pod on every
//! node), Grafana, the OTel collector and Tempo are Ready, five probes exercise them through
//! port-forwards, and the console's port-forward targets go into the cluster definition.
//!
//! | step | what | holds when |
//! |---|---|---|
//! | `ready/releases` | the HelmReleases of [`components::RELEASES`] Ready; a failed one's root cause (`flux::diagnose`) | all Ready |
//! | `ready/promtail` | DaemonSet `logging/promtail`: desired = ready = nodes; else the nodes without a Ready pod | one Ready pod per node |
//! | `ready/services` | each probed Service has a Ready pod behind it | all resolve |
//! | `probe/prometheus-targets` | `/api/v1/targets`: every active target up; down ones named | probe passes |
//! | `probe/alertmanager-watchdog` | `/api/v2/alerts` holds Watchdog, active | probe passes |
//! | `probe/loki-nodes` | a count of `{node_name="<node>"}` lines over 5 min per node | every node has lines |
//! | `probe/grafana-datasources` | `/api/datasources/uid/{uid}/health` OK for each datasource | all OK |
//! | `probe/otlp-trace` | a span POSTed to the collector's `/v1/traces`, read back from Tempo's `/api/traces/{id}` | Tempo returns it |
//! | `definition/endpoints` | `observability.{loki,prometheus,alertmanager}_service` of the cluster definition ([`definition`]) | the file names them |
//!
//! Every `check` observes (the probes run in `check`: a passing probe is an effect that
//! holds, reported with its evidence, so a re-run writes nothing); `execute` observes again
//! until it passes or its time is up ([`wait`]), then fails naming the broken thing.

pub mod components;
pub mod definition;
pub mod probes;
pub mod ready;
pub mod wait;

use crate::config::ClusterConfig;
use crate::stages::engine::{
    Check, Holds, Intent, Plan, Stage, StageError, StageId, StageResult, Step, StepCx,
};
use async_trait::async_trait;
use std::path::PathBuf;
use std::time::Duration;
use wait::{Passed, Pending};

pub const STEP_RELEASES: &str = "ready/releases";
pub const STEP_PROMTAIL: &str = "ready/promtail";
pub const STEP_SERVICES: &str = "ready/services";
pub const STEP_TARGETS: &str = "probe/prometheus-targets";
pub const STEP_WATCHDOG: &str = "probe/alertmanager-watchdog";
pub const STEP_LOKI: &str = "probe/loki-nodes";
pub const STEP_GRAFANA: &str = "probe/grafana-datasources";
pub const STEP_TRACE: &str = "probe/otlp-trace";
pub const STEP_DEFINITION: &str = "definition/endpoints";

/// Every step, in order.
pub const STEPS: [&str; 9] = [
    STEP_RELEASES,
    STEP_PROMTAIL,
    STEP_SERVICES,
    STEP_TARGETS,
    STEP_WATCHDOG,
    STEP_LOKI,
    STEP_GRAFANA,
    STEP_TRACE,
    STEP_DEFINITION,
];

/// Where the stage reads and how long it waits.
#[derive(Debug, Clone)]
pub struct ObservabilityOptions {
    pub kubeconfig: PathBuf,
    pub context: String,
    /// For the releases, Promtail and the Services to become Ready.
    pub ready_timeout: Duration,
    /// For a failing probe to pass.
    pub probe_timeout: Duration,
    /// For Tempo to have the trace, per attempt.
    pub trace_wait: Duration,
    /// Between observations.
    pub poll: Duration,
}

impl ObservabilityOptions {
    /// The operator's kubeconfig (as the k3s stage merged it) at the cluster's context; 15 min
    /// for readiness, 5 min for probes, 30 s for a trace, a look every 2 s.
    pub fn from_process(cfg: &ClusterConfig) -> Self {
        ObservabilityOptions {
            kubeconfig: crate::stages::k3s::K3sOptions::from_process().kubeconfig,
            context: cfg.name.clone(),
            ready_timeout: Duration::from_secs(900),
            probe_timeout: Duration::from_secs(300),
            trace_wait: Duration::from_secs(30),
            poll: Duration::from_secs(2),
        }
    }
}

pub struct ObservabilityStage {
    repo: PathBuf,
    cfg: ClusterConfig,
    opts: ObservabilityOptions,
}

impl ObservabilityStage {
    pub fn new(repo: PathBuf, cfg: ClusterConfig, opts: ObservabilityOptions) -> Self {
        ObservabilityStage { repo, cfg, opts }
    }

    fn cluster_file(&self) -> PathBuf {
        crate::config::cluster_file(&self.repo, &self.cfg.name)
    }

    async fn client(&self) -> Result<kube::Client, Pending> {
        crate::stages::flux::cluster::connect(&self.opts.kubeconfig, &self.opts.context)
            .await
            .map_err(Pending::fatal)
    }

    /// One observation of `id`.
    async fn observe(&self, id: &str) -> Result<Passed, Pending> {
        if id == STEP_DEFINITION {
            let differs = definition::differs(&self.cluster_file()).map_err(Pending::fatal)?;
            return if differs.is_empty() {
                Ok(format!(
                    "{} names the console's port-forward targets",
                    self.shown_file()
                )
                .into())
            } else {
                Err(Pending::waiting(StageError::new(format!(
                    "{} lacks {}",
                    self.shown_file(),
                    differs.join(", ")
                ))))
            };
        }
        let client = self.client().await?;
        match id {
            STEP_RELEASES => ready::releases(&client).await.map(Passed::from),
            STEP_PROMTAIL => ready::promtail(&client).await.map(Passed::from),
            STEP_SERVICES => ready::services(&client).await.map(Passed::from),
            STEP_TARGETS => probes::prometheus_targets(&client).await,
            STEP_WATCHDOG => probes::watchdog(&client).await,
            STEP_LOKI => probes::loki_nodes(&client).await,
            STEP_GRAFANA => probes::grafana_datasources(&client).await,
            STEP_TRACE => probes::otlp_trace(&client, self.opts.trace_wait, self.opts.poll).await,
            other => Err(Pending::fatal(StageError::new(format!(
                "observability has no step {other}"
            )))),
        }
    }

    fn shown_file(&self) -> String {
        let f = self.cluster_file();
        f.strip_prefix(&self.repo)
            .unwrap_or(&f)
            .display()
            .to_string()
    }

    fn step(&self, id: &str) -> Step {
        let (subject, title, intent, call) = match id {
            STEP_RELEASES => (
                "releases",
                "HelmReleases Ready: kube-prometheus-stack, loki, promtail, grafana, otel-collector, tempo",
                Intent::Wait,
                "GET helm.toolkit.fluxcd.io/v2 helmreleases (all namespaces)".to_string(),
            ),
            STEP_PROMTAIL => (
                "releases",
                "Promtail: a Ready pod on every node",
                Intent::Wait,
                "GET apps/v1 daemonsets logging/promtail, nodes".to_string(),
            ),
            STEP_SERVICES => (
                "releases",
                "A Ready pod behind each Service the probes reach",
                Intent::Wait,
                "GET services + pods per Service".to_string(),
            ),
            STEP_TARGETS => (
                "probes",
                "Prometheus reports its targets up",
                Intent::Wait,
                format!(
                    "port-forward {} ; GET /api/v1/targets?state=active",
                    components::PROMETHEUS.label()
                ),
            ),
            STEP_WATCHDOG => (
                "probes",
                "Alertmanager shows the Watchdog alert firing",
                Intent::Wait,
                format!(
                    "port-forward {} ; GET /api/v2/alerts",
                    components::ALERTMANAGER.label()
                ),
            ),
            STEP_LOKI => (
                "probes",
                "Loki has Promtail's logs from every node",
                Intent::Wait,
                format!(
                    "port-forward {} ; GET /loki/api/v1/query sum(count_over_time({{node_name=\"<node>\"}} [5m]))",
                    components::LOKI.label()
                ),
            ),
            STEP_GRAFANA => (
                "probes",
                "Grafana's datasources answer healthy",
                Intent::Wait,
                format!(
                    "port-forward {} ; GET /api/datasources ; GET /api/datasources/uid/<uid>/health",
                    components::GRAFANA.label()
                ),
            ),
            STEP_TRACE => (
                "probes",
                "An OTLP span through the collector comes back from Tempo",
                Intent::Wait,
                format!(
                    "port-forward {} ; POST /v1/traces ; port-forward {} ; GET /api/traces/<id>",
                    components::OTEL_COLLECTOR.label(),
                    components::TEMPO.label()
                ),
            ),
            _ => (
                "definition",
                "The console's port-forward targets in the cluster definition",
                Intent::Create,
                format!(
                    "edit {}: observability.loki_service, prometheus_service, alertmanager_service",
                    self.shown_file()
                ),
            ),
        };
        Step::new(id, subject, intent, title).call(call)
    }
}

#[async_trait]
impl Stage for ObservabilityStage {
    fn id(&self) -> StageId {
        StageId::Observability
    }

    async fn plan(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Observability);
        plan.steps = STEPS.iter().map(|id| self.step(id)).collect();
        if let Ok(d) = definition::differs(&self.cluster_file())
            && d.is_empty()
            && let Some(s) = plan.steps.last_mut()
        {
            s.intent = Intent::Verify;
        }
        plan.notes.push(format!(
            "reads context {:?} of {}; every probe goes through a port-forward to its Service",
            self.opts.context,
            self.opts.kubeconfig.display()
        ));
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut out = Vec::new();
        out.push(
            crate::stages::flux::cluster::reachable(&self.opts.kubeconfig, &self.opts.context)
                .await,
        );
        match definition::differs(&self.cluster_file()) {
            Ok(_) => out.push(Check::pass(
                "definition/readable",
                "Cluster definition readable",
                self.shown_file(),
            )),
            Err(e) => out.push(Check::fail(
                "definition/readable",
                "Cluster definition readable",
                e.message,
                e.hint.unwrap_or_else(|| "fix the file".into()),
            )),
        }
        out
    }

    async fn check(&self, step: &Step, cx: &StepCx) -> StageResult<Holds> {
        match self.observe(&step.id).await {
            Ok(p) => {
                if let Some(e) = &p.evidence {
                    crate::stages::probe::report(cx, e).await;
                }
                Ok(Holds::Yes(p.detail))
            }
            Err(p) if p.fatal && step.id == STEP_DEFINITION => Err(p.error),
            Err(p) => Ok(Holds::No(p.error.message)),
        }
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        if step.id == STEP_DEFINITION {
            definition::write(&self.cluster_file())?;
            cx.log(format!(
                "wrote {}: {}",
                self.shown_file(),
                definition::wanted()
                    .iter()
                    .map(|(k, v)| format!("observability.{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .await;
            return Ok(());
        }
        let limit = if step.id.starts_with("probe/") {
            self.opts.probe_timeout
        } else {
            self.opts.ready_timeout
        };
        wait::until(cx, limit, self.opts.poll, || self.observe(&step.id))
            .await
            .map_err(|e| e.context(&step.id))
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let mut out = Vec::new();
        for id in [STEP_RELEASES, STEP_PROMTAIL, STEP_SERVICES, STEP_DEFINITION] {
            let title = self.step(id).title;
            out.push(match self.observe(id).await {
                Ok(p) => Check::pass(id, title, p.detail),
                Err(p) => Check::fail(
                    id,
                    title,
                    p.error.message,
                    p.error.hint.unwrap_or_else(|| "run the stage again".into()),
                ),
            });
        }
        Ok(out)
    }
}
