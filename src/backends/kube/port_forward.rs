//! Port-forward to a Service, as `kubectl port-forward svc/NAME` does it: the Service's selector
//! picks a Ready pod, the Service port's `targetPort` (a number, or a container port's name
//! looked up in that pod) picks the pod's port, and every connection accepted on
//! 127.0.0.1:<ephemeral> is carried over its own kube-rs port-forward (the websocket channel
//! protocol, docs/reference/kubernetes.md §7). When the pod goes away (the forward is refused, or
//! its error channel reports a failure) the Service is resolved again for the next connection.
//! Failures reach the caller as [`ForwardEvent`]s naming the Service and the step.

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::Client;
use kube::api::{Api, ListParams};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// Where a forward failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the Service or its port.
    Service,
    /// Finding a Ready pod behind it.
    Pods,
    /// Opening the port-forward to the pod.
    Connect,
    /// The pod's side of a forwarded connection (its error channel).
    Forward,
    /// Listening on or accepting from the local address.
    Listen,
    /// Reading the kubeconfig and building the client.
    Client,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Service => "reading the service",
            Step::Pods => "finding a ready pod",
            Step::Connect => "opening the port-forward",
            Step::Forward => "forwarding",
            Step::Listen => "listening locally",
            Step::Client => "loading the kubeconfig",
        }
    }
}

/// What happened to a forward: `service` is `namespace/name:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardEvent {
    pub service: String,
    pub step: Step,
    /// For `Resolved`-style notices this is empty and `target` says where connections go.
    pub message: String,
    /// `pod:port` connections went to, when known.
    pub target: Option<String>,
}

impl std::fmt::Display for ForwardEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "port-forward to {}: {} failed: {}",
            self.service,
            self.step.as_str(),
            self.message
        )
    }
}

/// The callback that receives a forward's failures.
pub type OnEvent = Arc<dyn Fn(ForwardEvent) + Send + Sync>;

/// The pod and port a Service port leads to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub pod: String,
    pub port: u16,
}

/// A running forward; dropping it stops listening (connections in flight finish).
pub struct ServiceForward {
    pub local: SocketAddr,
    pub service: String,
    accept: tokio::task::JoinHandle<()>,
    current: Arc<Mutex<Option<Target>>>,
}

impl Drop for ServiceForward {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl ServiceForward {
    /// The pod and port the last connection went to (None before the first, or after the pod
    /// went away).
    pub fn target(&self) -> Option<Target> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
}

/// The container port named `name` in `pod` (`kubectl`'s lookup of a named targetPort).
fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    pod.spec
        .as_ref()?
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

/// A failure of [`resolve`]: the step and what to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveError {
    pub step: Step,
    pub message: String,
}

/// The Ready pod and port `namespace/service:port` leads to now.
pub async fn resolve(
    client: &Client,
    namespace: &str,
    service: &str,
    port: u16,
) -> Result<Target, ResolveError> {
    let fail = |step, message: String| ResolveError { step, message };
    let svc = Api::<Service>::namespaced(client.clone(), namespace)
        .get(service)
        .await
        .map_err(|e| fail(Step::Service, e.to_string()))?;
    let spec = svc.spec.unwrap_or_default();
    let sp = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.port == i32::from(port))
        .ok_or_else(|| {
            fail(
                Step::Service,
                format!("service {namespace}/{service} has no port {port}; check the port the cluster tree gives it"),
            )
        })?;
    let selector = spec.selector.unwrap_or_default();
    if selector.is_empty() {
        return Err(fail(
            Step::Service,
            format!("service {namespace}/{service} has no selector, so no pod to forward to"),
        ));
    }
    let labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let labels = labels.join(",");
    let mut pods = Api::<Pod>::namespaced(client.clone(), namespace)
        .list(&ListParams::default().labels(&labels))
        .await
        .map_err(|e| fail(Step::Pods, e.to_string()))?
        .items;
    pods.retain(is_ready);
    pods.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let Some(pod) = pods.first() else {
        return Err(fail(
            Step::Pods,
            format!(
                "no Ready pod matches {labels} in {namespace}; check the workload with `kubectl get pods -n {namespace} -l {labels}`"
            ),
        ));
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    let target_port = match &sp.target_port {
        None => port,
        Some(IntOrString::Int(n)) => u16::try_from(*n).map_err(|_| {
            fail(Step::Service, format!("service {namespace}/{service} port {port}: targetPort {n} is not a port"))
        })?,
        Some(IntOrString::String(s)) => match s.parse::<u16>() {
            Ok(n) => n,
            Err(_) => named_port(pod, s).ok_or_else(|| {
                fail(
                    Step::Pods,
                    format!("pod {name} has no container port named {s:?} (targetPort of {namespace}/{service}:{port})"),
                )
            })?,
        },
    };
    Ok(Target {
        pod: name,
        port: target_port,
    })
}

/// Listen on 127.0.0.1:0 and forward every connection to `namespace/service:port`. The Service
/// is resolved once before this returns, so a wrong name fails here; later failures go to
/// `on_event`.
pub async fn forward_service(
    client: Client,
    namespace: &str,
    service: &str,
    port: u16,
    on_event: OnEvent,
) -> Result<ServiceForward, ForwardEvent> {
    let label = format!("{namespace}/{service}:{port}");
    let event = |step: Step, message: String, target: Option<&Target>| ForwardEvent {
        service: label.clone(),
        step,
        message,
        target: target.map(|t| format!("{}:{}", t.pod, t.port)),
    };
    let first = resolve(&client, namespace, service, port)
        .await
        .map_err(|e| event(e.step, e.message, None))?;
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| event(Step::Listen, e.to_string(), None))?;
    let local = listener
        .local_addr()
        .map_err(|e| event(Step::Listen, e.to_string(), None))?;
    let current = Arc::new(Mutex::new(Some(first)));
    let shared = Arc::new(Forwarding {
        client,
        namespace: namespace.to_string(),
        service: service.to_string(),
        port,
        label: label.clone(),
        current: current.clone(),
        on_event,
    });
    let accept = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((conn, _)) => {
                    let f = shared.clone();
                    tokio::spawn(async move { f.carry(conn).await });
                }
                Err(e) => {
                    (shared.on_event)(ForwardEvent {
                        service: shared.label.clone(),
                        step: Step::Listen,
                        message: e.to_string(),
                        target: None,
                    });
                    return;
                }
            }
        }
    });
    Ok(ServiceForward {
        local,
        service: label,
        accept,
        current,
    })
}

/// Forward connections accepted on `listener` (already bound, so its address can be handed
/// out at once) to `namespace/service:port`, with a client for `context` of the kubeconfig at
/// `kubeconfig` built in the task. Nothing is resolved before the first connection; a
/// connection that cannot be forwarded is closed and its failure goes to `on_event`. Must be
/// called inside a tokio runtime; the task ends when the listener fails.
pub fn spawn_lazy(
    listener: std::net::TcpListener,
    kubeconfig: std::path::PathBuf,
    context: String,
    target: (String, String, u16),
    on_event: OnEvent,
) -> tokio::task::JoinHandle<()> {
    let (namespace, service, port) = target;
    let label = format!("{namespace}/{service}:{port}");
    tokio::spawn(async move {
        let emit = |step: Step, message: String| {
            on_event(ForwardEvent {
                service: label.clone(),
                step,
                message,
                target: None,
            })
        };
        let listener = match listener
            .set_nonblocking(true)
            .and_then(|()| TcpListener::from_std(listener))
        {
            Ok(l) => l,
            Err(e) => return emit(Step::Listen, e.to_string()),
        };
        let client = super::client::client_for(&kubeconfig, &context).await;
        let shared = client.map(|client| {
            Arc::new(Forwarding {
                client,
                namespace,
                service,
                port,
                label: label.clone(),
                current: Arc::default(),
                on_event: on_event.clone(),
            })
        });
        loop {
            let conn = match listener.accept().await {
                Ok((conn, _)) => conn,
                Err(e) => return emit(Step::Listen, e.to_string()),
            };
            match &shared {
                Ok(f) => {
                    let f = f.clone();
                    tokio::spawn(async move { f.carry(conn).await });
                }
                // Each connection is refused with the reason, so the pane shows it.
                Err(e) => {
                    drop(conn);
                    emit(Step::Client, e.clone());
                }
            }
        }
    })
}

struct Forwarding {
    client: Client,
    namespace: String,
    service: String,
    port: u16,
    label: String,
    current: Arc<Mutex<Option<Target>>>,
    on_event: OnEvent,
}

impl Forwarding {
    fn emit(&self, step: Step, message: String, target: Option<&Target>) {
        (self.on_event)(ForwardEvent {
            service: self.label.clone(),
            step,
            message,
            target: target.map(|t| format!("{}:{}", t.pod, t.port)),
        });
    }

    fn cached(&self) -> Option<Target> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set(&self, t: Option<Target>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = t;
    }

    async fn target(&self) -> Option<Target> {
        if let Some(t) = self.cached() {
            return Some(t);
        }
        match resolve(&self.client, &self.namespace, &self.service, self.port).await {
            Ok(t) => {
                self.set(Some(t.clone()));
                Some(t)
            }
            Err(e) => {
                self.emit(e.step, e.message, None);
                None
            }
        }
    }

    /// One accepted connection: open a port-forward (resolving again once if the cached pod
    /// refuses), then copy both ways.
    async fn carry(&self, mut conn: TcpStream) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut fresh = self.cached().is_none();
        let (target, mut pf) = loop {
            let Some(t) = self.target().await else {
                return;
            };
            match pods.portforward(&t.pod, &[t.port]).await {
                Ok(pf) => break (t, pf),
                Err(e) => {
                    self.set(None);
                    if fresh {
                        self.emit(Step::Connect, e.to_string(), Some(&t));
                        return;
                    }
                    // The pod the cache named went away: resolve again once.
                    fresh = true;
                }
            }
        };
        let (Some(mut upstream), Some(errors)) =
            (pf.take_stream(target.port), pf.take_error(target.port))
        else {
            self.emit(
                Step::Connect,
                "the port-forward has no stream for the port".into(),
                Some(&target),
            );
            return;
        };
        {
            let copy = tokio::io::copy_bidirectional(&mut conn, &mut upstream);
            tokio::pin!(copy);
            let mut errors = Box::pin(errors);
            let mut error_seen = false;
            loop {
                tokio::select! {
                    _ = &mut copy => break,
                    msg = &mut errors, if !error_seen => {
                        error_seen = true;
                        if let Some(msg) = msg {
                            self.set(None);
                            self.emit(Step::Forward, msg, Some(&target));
                            break;
                        }
                    }
                }
            }
        }
        drop(upstream);
        let _ = pf.join().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_name_service_and_step() {
        let e = ForwardEvent {
            service: "monitoring/loki:3100".into(),
            step: Step::Pods,
            message: "no Ready pod".into(),
            target: None,
        };
        assert_eq!(
            e.to_string(),
            "port-forward to monitoring/loki:3100: finding a ready pod failed: no Ready pod"
        );
    }
}
