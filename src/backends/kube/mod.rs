//! Kubernetes through kube-rs: only what the k3s stage needs (nodes Ready).
