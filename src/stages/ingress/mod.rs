//! The ingress stage (docs/ingress-stage.md): after Flux, prove that a request reaches the
//! cluster's apps: Gateway API on Envoy Gateway, the wildcard certificates, cloudflared's
//! tunnel, external-dns's records, and an echo route answering through the Gateway.
//!
//! | step | holds when | on failure |
//! |---|---|---|
//! | `gateway/crds` | the Gateway API CRDs are `Established` | names the CRD; Envoy Gateway's chart installs them |
//! | `gateway/envoy` | HelmRelease `envoy-gateway-system/envoy-gateway` is Ready | the Flux stage's root cause ([`crate::stages::flux::diagnose`]) |
//! | `gateway/programmed` | the shared Gateway `networking/homelab` is `Programmed` with an address | the EnvoyProxy field to set, or the command |
//! | `certs/wildcard` | every Certificate its HTTPS listeners serve is `Ready` | the Certificate, its issuer's file and line |
//! | `cloudflare/tunnel` | the tunnel of `CLOUDFLARE_TUNNEL_TOKEN` has connections serving (Cloudflare API v4) | the doctor's link 2 ([`crate::backends::doctor`]) |
//! | `cloudflare/records` | HelmRelease `networking/external-dns` is Ready and every public host the tree routes has its proxied record, owned by external-dns, leading to the tunnel | the doctor's link 1 |
//! | `probe/echo` | never (a probe runs every time) | the doctor's internal walk of the probe host (links 4-7), or the answer |
//!
//! The waits (`gateway/*`, `certs/*`, `cloudflare/*`) are read-only: `check` observes, and
//! `execute` polls the same observation until it holds or [`IngressOptions::wait`] passes,
//! then fails with the diagnosis. The probe applies its objects (server-side apply as
//! `homelab`), sends its marker, reports [`crate::stages::probe::Evidence`] and deletes them;
//! leftovers of a killed run are deleted before the next probe applies (the apply itself is
//! idempotent: no duplicates). A second run writes nothing but the probe's own objects,
//! which it removes again.

pub mod echo;
pub mod readiness;
pub mod tokens;

use crate::backends::doctor::connect::{Setup, connect_for};
use crate::backends::doctor::{Doctor, tree};
use crate::config::ClusterConfig;
use crate::domain::doctor::{Exposure, Facts, Finding, Link, Outcome};
use crate::stages::engine::{
    Check, Holds, Intent, Plan, Stage, StageError, StageId, StageResult, Step, StepCx,
};
use crate::stages::probe::{Evidence, Stopwatch, report};
use async_trait::async_trait;
use readiness::Verdict;
use std::path::PathBuf;
use std::time::Duration;
use zeroize::Zeroizing;

pub const STEP_CRDS: &str = "gateway/crds";
pub const STEP_ENVOY: &str = "gateway/envoy";
pub const STEP_GATEWAY: &str = "gateway/programmed";
pub const STEP_CERTS: &str = "certs/wildcard";
pub const STEP_TUNNEL: &str = "cloudflare/tunnel";
pub const STEP_RECORDS: &str = "cloudflare/records";
pub const STEP_PROBE: &str = "probe/echo";

/// Every step, in order.
pub const STEPS: [&str; 7] = [
    STEP_CRDS,
    STEP_ENVOY,
    STEP_GATEWAY,
    STEP_CERTS,
    STEP_TUNNEL,
    STEP_RECORDS,
    STEP_PROBE,
];

/// The shared Gateway (cluster/kubernetes/platform/ingress/gateway-api/gateway/gateway.yaml).
pub const GATEWAY: (&str, &str) = ("networking", "homelab");
const ENVOY_HR: (&str, &str) = ("envoy-gateway-system", "envoy-gateway");
const EXTERNAL_DNS_HR: (&str, &str) = ("networking", "external-dns");
const TARGET_ANNOTATION: &str = "external-dns.alpha.kubernetes.io/target";

/// Where the stage reads and how long it waits.
#[derive(Debug, Clone)]
pub struct IngressOptions {
    pub kubeconfig: PathBuf,
    pub context: String,
    /// The repository (the tree and the cluster definition the doctor's fixes name).
    pub repo: PathBuf,
    /// The operator's age identity file: it decrypts the env file's Cloudflare tokens.
    pub identity_file: PathBuf,
    /// The Cloudflare API (`CLOUDFLARE_BASE_URL`, else Cloudflare's) and a CA to trust for it
    /// (`HOMELAB_CLOUDFLARE_CA`: the simulator's).
    pub api_base: String,
    pub ca_file: Option<PathBuf>,
    /// How long each wait may take before the step fails with its diagnosis.
    pub wait: Duration,
    /// Between two observations of a wait.
    pub poll: Duration,
}

impl IngressOptions {
    /// `$KUBECONFIG` (first entry) or `~/.kube/config`, context = the cluster's name; 5 min per
    /// wait, observed every 2 s.
    pub fn from_process(cfg: &ClusterConfig, repo: PathBuf, identity_file: PathBuf) -> Self {
        let kubeconfig = std::env::var_os("KUBECONFIG")
            .and_then(|v| std::env::split_paths(&v).next())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".kube/config")))
            .unwrap_or_else(|| PathBuf::from(".kube/config"));
        let probe = Setup::from_process(kubeconfig.clone(), &cfg.name, PathBuf::new());
        IngressOptions {
            kubeconfig,
            context: cfg.name.clone(),
            repo,
            identity_file,
            api_base: probe.api_base,
            ca_file: probe.ca_file,
            wait: Duration::from_secs(300),
            poll: Duration::from_secs(2),
        }
    }
}

pub struct IngressStage {
    cfg: ClusterConfig,
    opts: IngressOptions,
}

fn finding_err(f: &Finding) -> StageError {
    let mut e = StageError::new(format!("link {}: {}", f.link, f.summary));
    if let Some(fix) = &f.fix {
        e = e.with_hint(fix.to_string());
    }
    e
}

impl IngressStage {
    pub fn new(cfg: ClusterConfig, opts: IngressOptions) -> Self {
        IngressStage { cfg, opts }
    }

    async fn client(&self) -> StageResult<kube::Client> {
        crate::stages::flux::cluster::connect(&self.opts.kubeconfig, &self.opts.context).await
    }

    fn facts(&self) -> StageResult<Facts> {
        let definition = crate::config::cluster_file(&self.opts.repo, &self.cfg.name);
        crate::repo::doctor_facts::read(&self.opts.repo, &definition, &self.cfg.name)
            .map_err(|e| StageError::new(e).with_hint("run `homelab check`"))
    }

    fn env_file(&self) -> (PathBuf, String) {
        let file = crate::config::env_file(&self.opts.repo, &self.cfg.name);
        let shown = file
            .strip_prefix(&self.opts.repo)
            .unwrap_or(&file)
            .display()
            .to_string();
        (file, shown)
    }

    /// The env file's `(api token, tunnel token)`, decrypted on a blocking thread.
    async fn tokens(&self) -> StageResult<(Zeroizing<String>, Zeroizing<String>)> {
        let (file, shown) = self.env_file();
        let identity = self.opts.identity_file.clone();
        tokio::task::spawn_blocking(move || tokens::read(&file, &shown, &identity))
            .await
            .map_err(|e| StageError::new(format!("a background task stopped: {e}")))?
    }

    async fn doctor(&self, exposure: Exposure) -> StageResult<Doctor> {
        let facts = self.facts()?;
        let (env_file, _) = self.env_file();
        let (api_token, tunnel_token) = match exposure {
            Exposure::Public => {
                let (a, t) = self.tokens().await?;
                (Some(a), Some(t))
            }
            Exposure::Internal => (None, None),
        };
        let setup = Setup {
            kubeconfig: self.opts.kubeconfig.clone(),
            context: self.opts.context.clone(),
            env_file,
            api_base: self.opts.api_base.clone(),
            ca_file: self.opts.ca_file.clone(),
            api_token,
            tunnel_token,
        };
        connect_for(&setup, facts, exposure).await.map_err(|e| {
            StageError::new(format!("the Cloudflare API and the cluster: {e}")).with_hint(
                "the tokens come from the env file (CLOUDFLARE_API_TOKEN, CLOUDFLARE_TUNNEL_TOKEN): run the secrets stage, or `homelab env set`",
            )
        })
    }

    /// The public hosts the tree routes through the tunnel: hostnames of HTTPRoutes that
    /// carry external-dns's target annotation (its `--annotation-filter`), under the domain.
    fn public_hosts(facts: &Facts) -> Vec<String> {
        let domain = facts
            .domain
            .as_ref()
            .map(|d| d.value.trim_end_matches('.').to_ascii_lowercase());
        let mut out: Vec<String> = facts
            .of_kind("HTTPRoute")
            .filter(|r| {
                r.value
                    .pointer(&format!(
                        "/metadata/annotations/{}",
                        TARGET_ANNOTATION.replace('/', "~1")
                    ))
                    .is_some()
            })
            .flat_map(|r| {
                r.value
                    .pointer("/spec/hostnames")
                    .and_then(serde_json::Value::as_array)
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|h| h.as_str().map(str::to_ascii_lowercase))
            .filter(|h| {
                domain
                    .as_ref()
                    .is_some_and(|d| h == d || h.ends_with(&format!(".{d}")))
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// Observe one wait step: `Ok(Ok(what holds))`, `Ok(Err(diagnosis))`, or `Err` when the
    /// observation itself failed.
    async fn observe(&self, id: &str) -> StageResult<Verdict> {
        match id {
            STEP_CRDS => readiness::crds(&self.client().await?).await,
            STEP_ENVOY => {
                readiness::helm_release(&self.client().await?, ENVOY_HR.0, ENVOY_HR.1).await
            }
            STEP_GATEWAY => {
                let facts = self.facts()?;
                readiness::gateway(&self.client().await?, &facts, GATEWAY.0, GATEWAY.1).await
            }
            STEP_CERTS => {
                let facts = self.facts()?;
                readiness::certificates(&self.client().await?, &facts, GATEWAY.0, GATEWAY.1).await
            }
            STEP_TUNNEL => {
                let (_, tunnel) = self.tokens().await?;
                let (ns, name, key) = tokens::TUNNEL_SECRET;
                let in_cluster = crate::stages::flux::cluster::secret_value(
                    &self.client().await?,
                    ns,
                    name,
                    key,
                )
                .await?;
                let (_, shown) = self.env_file();
                if let Err(e) =
                    tokens::same_tunnel(&tunnel, in_cluster.as_deref().map(|s| s.as_str()), &shown)
                {
                    return Ok(Err(e));
                }
                let doctor = self.doctor(Exposure::Public).await?;
                let f = doctor.link_alone(Link::Tunnel, "").await;
                Ok(if f.ok {
                    Ok(format!("tunnel: {}", f.summary))
                } else {
                    Err(finding_err(&f))
                })
            }
            STEP_RECORDS => {
                let client = self.client().await?;
                if let Err(e) =
                    readiness::helm_release(&client, EXTERNAL_DNS_HR.0, EXTERNAL_DNS_HR.1).await?
                {
                    return Ok(Err(e));
                }
                let doctor = self.doctor(Exposure::Public).await?;
                let hosts = Self::public_hosts(&doctor.facts);
                if hosts.is_empty() {
                    return Ok(Ok(
                        "external-dns is Ready; the tree routes no public host through the tunnel"
                            .into(),
                    ));
                }
                for host in &hosts {
                    let f = doctor.link_alone(Link::Dns, host).await;
                    if !f.ok {
                        let mut e = finding_err(&f);
                        e.message = format!("{host}: {}", e.message);
                        return Ok(Err(e));
                    }
                }
                let owner = tree::registry(&doctor.facts).owner;
                Ok(Ok(format!(
                    "external-dns ({owner}) wrote proxied records to the tunnel for {}",
                    hosts.join(", ")
                )))
            }
            other => Err(StageError::new(format!("ingress: unknown step {other}"))),
        }
    }

    /// Poll [`Self::observe`] until it holds or the wait ends.
    async fn wait_for(&self, id: &str, cx: &StepCx) -> StageResult<()> {
        let deadline = tokio::time::Instant::now() + self.opts.wait;
        let mut last = String::new();
        let mut backoff = crate::stages::poll::Backoff::new(self.opts.poll);
        loop {
            let verdict = self.observe(id).await;
            match verdict {
                Ok(Ok(detail)) => {
                    cx.log(detail).await;
                    return Ok(());
                }
                Ok(Err(e)) | Err(e) => {
                    if e.message != last {
                        cx.log(format!("waiting: {}", e.message)).await;
                        last = e.message.clone();
                    }
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StageError {
                            message: format!(
                                "{id}: still broken after {} s: {}",
                                self.opts.wait.as_secs(),
                                e.message
                            ),
                            ..e
                        });
                    }
                }
            }
            cx.sleep(backoff.next_interval()).await?;
        }
    }

    fn step(&self, id: &str) -> Step {
        let (gns, gname) = GATEWAY;
        match id {
            STEP_CRDS => Step::new(id, "gateway", Intent::Wait, "Gateway API CRDs Established")
                .call(format!("read CustomResourceDefinitions {}", readiness::GATEWAY_CRDS.join(", "))),
            STEP_ENVOY => Step::new(id, "gateway", Intent::Wait, "Envoy Gateway Ready")
                .call(format!("read HelmRelease {}/{}; if not Ready, the Flux objects' root cause", ENVOY_HR.0, ENVOY_HR.1)),
            STEP_GATEWAY => Step::new(id, "gateway", Intent::Wait, "The shared Gateway Programmed with an address")
                .call(format!("read Gateway {gns}/{gname}: Programmed=True, status.addresses")),
            STEP_CERTS => Step::new(id, "certificates", Intent::Wait, "Wildcard certificates Ready")
                .call(format!("read the Certificates in {gns} whose Secrets the Gateway's HTTPS listeners serve: Ready=True")),
            STEP_TUNNEL => Step::new(id, "cloudflare", Intent::Wait, "cloudflared connected")
                .call("GET /accounts/{account}/cfd_tunnel/{tunnel} and .../connections (account and tunnel from CLOUDFLARE_TUNNEL_TOKEN of the env file)"),
            STEP_RECORDS => Step::new(id, "cloudflare", Intent::Wait, "external-dns running and its records written")
                .call(format!("read HelmRelease {}/{}", EXTERNAL_DNS_HR.0, EXTERNAL_DNS_HR.1))
                .call("GET /zones/{zone}/dns_records for each public host the tree routes: proxied CNAME to the tunnel, TXT owner record"),
            _ => Step::new(STEP_PROBE, "probe", Intent::Wait, "Echo route answers through the Gateway")
                .call(format!("delete leftovers labelled app.kubernetes.io/managed-by={} in {}", echo::MANAGED_BY, echo::NAMESPACE))
                .call(format!("server-side apply as homelab: Namespace {ns}, Deployment, Service and HTTPRoute {ns}/{n}", ns = echo::NAMESPACE, n = echo::NAME))
                .call("walk the probe host from the Gateway listener to its pods (the doctor's links 4-7)")
                .call("GET https://homelab-probe.<internal domain>/echo?msg=<marker> through a port-forward to the Envoy Service")
                .call("delete the Deployment, Service and HTTPRoute"),
        }
    }

    /// Delete the probe's objects (whatever a killed run left); `true` when something was.
    async fn cleanup(&self, client: &kube::Client, cx: &StepCx) -> StageResult<bool> {
        use kube::api::{Api, ApiResource, DeleteParams, DynamicObject};
        use kube::core::GroupVersionKind;
        let kinds = [
            ("gateway.networking.k8s.io", "v1", "HTTPRoute"),
            ("", "v1", "Service"),
            ("apps", "v1", "Deployment"),
        ];
        let api = |(group, version, kind): (&str, &str, &str)| {
            let res = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
            Api::<DynamicObject>::namespaced_with(client.clone(), echo::NAMESPACE, &res)
        };
        let mut any = false;
        for (group, version, kind) in kinds {
            let api = api((group, version, kind));
            match api.delete(echo::NAME, &DeleteParams::background()).await {
                Ok(_) => {
                    any = true;
                    cx.log(format!("deleted {kind} {}/{}", echo::NAMESPACE, echo::NAME))
                        .await;
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    return Err(StageError::new(format!(
                        "deleting the probe's {kind} {}/{}: {e}",
                        echo::NAMESPACE,
                        echo::NAME
                    ))
                    .with_hint(format!(
                        "delete it by hand: `kubectl -n {} delete {} {}`",
                        echo::NAMESPACE,
                        kind.to_ascii_lowercase(),
                        echo::NAME
                    )));
                }
            }
        }
        // Gone, not only Terminating: the next apply must not meet an object on its way out.
        let deadline = tokio::time::Instant::now() + self.opts.wait;
        for kind in kinds {
            let mut backoff = crate::stages::poll::Backoff::new(self.opts.poll);
            loop {
                match api(kind).get_opt(echo::NAME).await {
                    Ok(None) => break,
                    Ok(Some(_)) | Err(_) if tokio::time::Instant::now() >= deadline => {
                        return Err(StageError::new(format!(
                            "the probe's {} {}/{} is still there {} s after its deletion",
                            kind.2,
                            echo::NAMESPACE,
                            echo::NAME,
                            self.opts.wait.as_secs()
                        ))
                        .with_hint(format!(
                            "see what holds it: `kubectl -n {} get {} {} -o yaml` (finalizers)",
                            echo::NAMESPACE,
                            kind.2.to_ascii_lowercase(),
                            echo::NAME
                        )));
                    }
                    _ => cx.sleep(backoff.next_interval()).await?,
                }
            }
        }
        Ok(any)
    }

    async fn probe(&self, cx: &StepCx) -> StageResult<()> {
        let client = self.client().await?;
        if self.cleanup(&client, cx).await? {
            cx.log("removed a probe left by an interrupted run").await;
        }
        let (gns, gname) = GATEWAY;
        let gw = crate::backends::doctor::kube::get(
            &client,
            crate::backends::doctor::kube::GATEWAY,
            gns,
            gname,
        )
        .await
        .map_err(StageError::new)?
        .ok_or_else(|| {
            StageError::new(format!("Gateway {gns}/{gname} is not in the cluster"))
                .with_hint("see the gateway/programmed step")
        })?;
        let domain = self.cfg.domain.trim_end_matches('.').to_ascii_lowercase();
        let (host, section) = echo::probe_host(&gw, Some(&domain)).ok_or_else(|| {
            StageError::new(format!("Gateway {gns}/{gname} has no wildcard HTTPS listener to probe"))
                .with_hint("cluster/kubernetes/platform/ingress/gateway-api/gateway/gateway.yaml: spec.listeners: add an HTTPS listener with hostname *.<domain>")
        })?;
        let text = echo::manifest(&host, GATEWAY, &section);
        let result = self
            .probe_with(&client, cx, &host, &section, &gw, &text)
            .await;
        // Whatever happened, the probe's objects go.
        let cleaned = self.cleanup(&client, cx).await;
        result?;
        cleaned.map(|_| ())
    }

    async fn probe_with(
        &self,
        client: &kube::Client,
        cx: &StepCx,
        host: &str,
        section: &str,
        gw: &serde_json::Value,
        text: &str,
    ) -> StageResult<()> {
        let watch = Stopwatch::start();
        for line in
            crate::stages::flux::cluster::apply_text(client, "the ingress probe", text).await?
        {
            cx.log(line).await;
        }
        cx.note("probe", host)?;
        // The doctor's walk from the listener to the pods: route Accepted, endpoints Ready.
        let doctor = self.doctor(Exposure::Internal).await?;
        let deadline = tokio::time::Instant::now() + self.opts.wait;
        let mut backoff = crate::stages::poll::Backoff::new(self.opts.poll);
        loop {
            let (found, outcome) = doctor.walk_all_exposed(host, Exposure::Internal).await;
            if outcome == Outcome::Reachable {
                for f in &found {
                    cx.log(format!("link {}: {}", f.link, f.summary)).await;
                }
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let broken = found.iter().find(|f| !f.ok);
                return Err(match broken {
                    Some(f) => {
                        let mut e = finding_err(f);
                        e.message = format!("probe route {host}: {}", e.message);
                        e
                    }
                    None => StageError::new(format!("probe route {host}: the walk ended early")),
                });
            }
            cx.sleep(backoff.next_interval()).await?;
        }
        let (gns, gname) = GATEWAY;
        let svc = echo::envoy_service(client, gns, gname)
            .await
            .map_err(StageError::new)?
            .ok_or_else(|| {
                StageError::new(format!(
                    "no Envoy Service for Gateway {gns}/{gname} in {}",
                    echo::ENVOY_NS
                ))
                .with_hint(format!(
                    "run `kubectl -n {} get svc,pods`: Envoy Gateway creates it",
                    echo::ENVOY_NS
                ))
            })?;
        let listener = gw
            .pointer("/spec/listeners")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .find(|l| l["name"] == section);
        let port = listener
            .and_then(|l| l["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(443);
        let secret = listener
            .and_then(|l| l.pointer("/tls/certificateRefs/0/name"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let roots = echo::listener_ca(client, gns, secret)
            .await
            .map_err(|e| StageError::new(e).with_hint("see the certs/wildcard step"))?;
        let on_event: crate::backends::kube::port_forward::OnEvent = std::sync::Arc::new(|_| {});
        let fwd = crate::backends::kube::port_forward::forward_service(
            client.clone(),
            echo::ENVOY_NS,
            &svc,
            port,
            on_event,
        )
        .await
        .map_err(|e| {
            StageError::new(e.to_string()).with_hint(format!(
                "run `kubectl -n {} get pods`: the Envoy proxy of Gateway {gns}/{gname} must be Ready",
                echo::ENVOY_NS
            ))
        })?;
        let marker = echo::marker();
        let sent = format!("GET https://{host}/echo?msg={marker}");
        cx.log(format!("{sent} through {}:{port}", fwd.service))
            .await;
        let answer = echo::request(
            fwd.local,
            host,
            &marker,
            roots,
            self.opts.wait.min(Duration::from_secs(30)),
        )
        .await;
        let (status, body) = match answer {
            Ok(a) => a,
            Err(e) => {
                let ev = Evidence::new(
                    format!("route/{}", echo::NAME),
                    &sent,
                    &e,
                    watch.elapsed(),
                    false,
                );
                report(cx, &ev).await;
                return Err(StageError::new(format!("probe route {host}: {e}")).with_hint(format!(
                    "run `kubectl -n {} logs deploy/{svc}`: the Envoy proxy's log says what it did with the request",
                    echo::ENVOY_NS
                )));
            }
        };
        let body = crate::domain::printable::sanitize(&body);
        let ok = status.contains(" 200") && body.contains(&marker);
        let ev = Evidence::new(
            format!("route/{}", echo::NAME),
            &sent,
            format!("{status}: {body}"),
            watch.elapsed(),
            ok,
        );
        report(cx, &ev).await;
        if !ok {
            return Err(StageError::new(format!(
                "probe route {host}: the answer does not carry the marker {marker}: {status}"
            ))
            .with_hint(format!(
                "run `homelab doctor {host}` and `kubectl -n {} logs deploy/{}`",
                echo::NAMESPACE,
                echo::NAME
            )));
        }
        Ok(())
    }
}

#[async_trait]
impl Stage for IngressStage {
    fn id(&self) -> StageId {
        StageId::Ingress
    }

    async fn plan(&self) -> StageResult<Plan> {
        let mut plan = Plan::new(StageId::Ingress);
        for id in STEPS {
            plan.steps.push(self.step(id));
        }
        plan.notes.push(format!(
            "the cluster through context {} of {}; the tunnel and records through the Cloudflare API with the env file's tokens",
            self.opts.context,
            self.opts.kubeconfig.display()
        ));
        Ok(plan)
    }

    async fn preflight(&self) -> Vec<Check> {
        let mut checks = Vec::new();
        checks.push(
            crate::stages::flux::cluster::reachable(&self.opts.kubeconfig, &self.opts.context)
                .await,
        );
        checks.push(match self.facts() {
            Ok(f) => Check::pass(
                "tree/read",
                "Tree read",
                format!("{} documents the doctor may name", f.docs.len()),
            ),
            Err(e) => Check::fail(
                "tree/read",
                "Tree read",
                e.message,
                e.hint.unwrap_or_default(),
            ),
        });
        checks
    }

    async fn check(&self, step: &Step, _cx: &StepCx) -> StageResult<Holds> {
        if step.id == STEP_PROBE {
            return Ok(Holds::No("a probe runs every time".into()));
        }
        Ok(match self.observe(&step.id).await? {
            Ok(detail) => Holds::Yes(detail),
            Err(e) => Holds::No(e.message),
        })
    }

    async fn execute(&self, step: &Step, cx: &StepCx) -> StageResult<()> {
        match step.id.as_str() {
            STEP_PROBE => self.probe(cx).await,
            id if STEPS.contains(&id) => self.wait_for(id, cx).await,
            other => Err(StageError::new(format!("ingress: unknown step {other}"))),
        }
    }

    async fn verify(&self) -> StageResult<Vec<Check>> {
        let mut checks = Vec::new();
        for id in &STEPS[..STEPS.len() - 1] {
            let step = self.step(id);
            checks.push(match self.observe(id).await? {
                Ok(detail) => Check::pass(*id, step.title, detail),
                Err(e) => Check::fail(*id, step.title, e.message, e.hint.unwrap_or_default()),
            });
        }
        Ok(checks)
    }
}
