//! Kubernetes through kube-rs, only what the k3s stage needs: the kubeconfig k3s writes (rewritten
//! and merged into the operator's), and "is every node Ready" (list + watch).

pub mod kubeconfig;
pub mod nodes;
