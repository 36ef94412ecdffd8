//! A kube-rs client for one named context of a kubeconfig file (the operator's merged
//! `~/.kube/config`, or the file the simulator prints).

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::Path;

/// A client for `context` of the kubeconfig at `path`. Errors name the file and the context.
pub async fn client_for(path: &Path, context: &str) -> Result<Client, String> {
    let kc = Kubeconfig::read_from(path).map_err(|e| {
        format!(
            "{}: not a readable kubeconfig: {e}; check the file or run the k3s stage again",
            path.display()
        )
    })?;
    from_kubeconfig(kc, context, &path.display().to_string()).await
}

/// A client for `context` of an already loaded kubeconfig; `what` names its origin in errors.
pub async fn from_kubeconfig(kc: Kubeconfig, context: &str, what: &str) -> Result<Client, String> {
    if !kc.contexts.iter().any(|c| c.name == context) {
        let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "{what}: no context {context:?} (contexts: {}); pick one of these in the cluster settings",
            known.join(", ")
        ));
    }
    let opts = KubeConfigOptions {
        context: Some(context.to_string()),
        ..Default::default()
    };
    let cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
        .await
        .map_err(|e| format!("{what} context {context}: {e}"))?;
    Client::try_from(cfg).map_err(|e| format!("{what}: building a client for {context}: {e}"))
}
