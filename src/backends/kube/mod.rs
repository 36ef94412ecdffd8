//! Kubernetes through kube-rs: a client from a kubeconfig context, cached CRD-aware discovery,
//! server-side apply of multi-document YAML, waits on the conditions each kind reports, events
//! of an object, cluster health watched for the console (`health`), pod logs followed
//! (`pod_logs`); plus what the k3s stage needs (the kubeconfig k3s writes, rewritten and merged
//! into the operator's, and "is every node Ready").

pub mod apply;
pub mod client;
pub mod discovery;
pub mod events;
pub mod health;
pub mod kubeconfig;
pub mod nodes;
pub mod pod_logs;
pub mod port_forward;
pub mod wait;
