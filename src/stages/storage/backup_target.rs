//! Longhorn's backup target: the Synology, taken from the cluster definition
//! (`storage.backup_target`, else `nfs://<nfs_server>:<nfs_export>`), set by the stage on
//! `BackupTarget longhorn-system/default` (server-side apply of `spec.backupTargetURL` as
//! `homelab`; Longhorn 1.8+ configures targets through that object, WIRE-2 K.3), and verified
//! through its status: `available: true` and no `Unavailable=True` condition. The HelmRelease
//! carries no backup target, so the cluster definition is the one place it is written.

use super::objects::{BACKUP_TARGET, text};
use crate::config::ClusterConfig;
use crate::stages::engine::{StageError, StageResult};
use serde_json::{Value, json};

pub const NAMESPACE: &str = "longhorn-system";
pub const NAME: &str = "default";

/// The URL the cluster definition asks for, checked for its shape.
pub fn url(cfg: &ClusterConfig) -> StageResult<String> {
    let file = format!("config/clusters/{}.yaml", cfg.name);
    let Some(url) = cfg.storage.backup_target() else {
        return Err(StageError::new(format!(
            "{file}: no backup target: storage.backup_target, or storage.nfs_server and storage.nfs_export, must be set"
        ))
        .with_hint(format!("set storage.nfs_server and storage.nfs_export (or storage.backup_target) in {file}")));
    };
    let known = ["nfs://", "cifs://", "s3://", "azblob://"];
    if !known.iter().any(|k| url.starts_with(k))
        || url.len() > 1024
        || url.chars().any(char::is_control)
    {
        return Err(StageError::new(format!(
            "{file}: storage.backup_target `{}` is not a Longhorn backup target URL",
            super::objects::clean(&url)
        ))
        .with_hint("use nfs://server:/path (optionally ?nfsOptions=nfsvers=4.1), cifs://, s3:// or azblob://"));
    }
    Ok(url)
}

/// What the stage applies.
pub fn object(url: &str) -> Value {
    json!({
        "apiVersion": "longhorn.io/v1beta2",
        "kind": BACKUP_TARGET.kind,
        "metadata": {"name": NAME, "namespace": NAMESPACE},
        "spec": {"backupTargetURL": url},
    })
}

/// What the BackupTarget's status says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Longhorn has not created it yet (the chart is not installed or not running).
    Missing,
    /// It points elsewhere (the URL it has).
    Elsewhere(String),
    /// The right URL, not available: the `Unavailable` condition's message.
    Unavailable(String),
    Available,
}

pub fn state(bt: Option<&Value>, want: &str) -> State {
    let Some(bt) = bt else {
        return State::Missing;
    };
    let have = text(bt, "/spec/backupTargetURL");
    if have != want {
        return State::Elsewhere(have.to_string());
    }
    let unavailable = bt
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Unavailable" && c["status"] == "True");
    match (
        bt.pointer("/status/available") == Some(&json!(true)),
        unavailable,
    ) {
        (true, None) => State::Available,
        (_, Some(c)) => State::Unavailable(super::objects::clean(text(c, "/message"))),
        (false, None) => State::Unavailable("Longhorn has not reported it available yet".into()),
    }
}

/// The error for a target that stays unavailable.
pub fn unavailable(url: &str, why: &str, cluster: &str) -> StageError {
    StageError::new(format!(
        "BackupTarget {NAMESPACE}/{NAME} ({url}) is not available: {why}"
    ))
    .with_hint(format!(
        "check that the Synology exports that path to the nodes over NFS (read-write), or fix \
         storage.backup_target in config/clusters/{cluster}.yaml; then run the stage again"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_defaults_from_the_export_and_bad_ones_name_the_field() {
        let mut cfg: ClusterConfig =
            serde_yaml::from_str(include_str!("../../../config/clusters/prox-n100.yaml")).unwrap();
        assert_eq!(
            url(&cfg).unwrap(),
            "nfs://192.168.1.5:/volume1/longhorn-backup?nfsOptions=nfsvers=4.1"
        );
        cfg.storage.backup_target = None;
        assert_eq!(url(&cfg).unwrap(), "nfs://192.168.1.5:/volume1/kubernetes");
        cfg.storage.backup_target = Some("ftp://x".into());
        let e = url(&cfg).unwrap_err();
        assert!(e.message.contains("storage.backup_target"), "{e:?}");
        cfg.storage.backup_target = None;
        cfg.storage.nfs_server = None;
        assert!(url(&cfg).unwrap_err().message.contains("no backup target"));
    }

    #[test]
    fn status_reads_as_longhorn_reports_it() {
        let want = "nfs://nas:/b";
        assert_eq!(state(None, want), State::Missing);
        let bt = json!({"spec": {"backupTargetURL": "nfs://old:/x"}});
        assert_eq!(
            state(Some(&bt), want),
            State::Elsewhere("nfs://old:/x".into())
        );
        let bt = json!({"spec": {"backupTargetURL": want}, "status": {"available": false,
            "conditions": [{"type": "Unavailable", "status": "True", "message": "cannot mount"}]}});
        assert_eq!(
            state(Some(&bt), want),
            State::Unavailable("cannot mount".into())
        );
        let bt = json!({"spec": {"backupTargetURL": want}, "status": {"available": true,
            "conditions": [{"type": "Unavailable", "status": "False"}]}});
        assert_eq!(state(Some(&bt), want), State::Available);
    }
}
