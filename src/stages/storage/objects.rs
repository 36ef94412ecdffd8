//! The storage stage's reads and writes of cluster objects, by group/version/kind: get, list by
//! label, create, server-side apply of one field set, delete and wait until gone. Errors name
//! the object.

use crate::stages::engine::{StageError, StageResult, StepCx};
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams,
};
use kube::core::GroupVersionKind;
use serde_json::Value;
use std::time::Duration;

/// A kind the stage touches: (group, version, kind, plural).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
}

pub const POD: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
};
pub const PVC: Kind = Kind {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
};
pub const PV: Kind = Kind {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
};
pub const NAMESPACE: Kind = Kind {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
};
pub const STORAGE_CLASS: Kind = Kind {
    group: "storage.k8s.io",
    version: "v1",
    kind: "StorageClass",
    plural: "storageclasses",
};
pub const HELM_RELEASE: Kind = Kind {
    group: "helm.toolkit.fluxcd.io",
    version: "v2",
    kind: "HelmRelease",
    plural: "helmreleases",
};
pub const BACKUP_TARGET: Kind = Kind {
    group: "longhorn.io",
    version: "v1beta2",
    kind: "BackupTarget",
    plural: "backuptargets",
};
pub const LH_VOLUME: Kind = Kind {
    group: "longhorn.io",
    version: "v1beta2",
    kind: "Volume",
    plural: "volumes",
};
pub const LH_SNAPSHOT: Kind = Kind {
    group: "longhorn.io",
    version: "v1beta2",
    kind: "Snapshot",
    plural: "snapshots",
};
pub const LH_BACKUP: Kind = Kind {
    group: "longhorn.io",
    version: "v1beta2",
    kind: "Backup",
    plural: "backups",
};

impl Kind {
    fn resource(self) -> ApiResource {
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(self.group, self.version, self.kind),
            self.plural,
        )
    }

    fn api(self, client: &Client, ns: Option<&str>) -> Api<DynamicObject> {
        let res = self.resource();
        match ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &res),
            None => Api::all_with(client.clone(), &res),
        }
    }

    /// `PersistentVolumeClaim homelab-probe/probe-longhorn`.
    pub fn label(self, ns: Option<&str>, name: &str) -> String {
        match ns {
            Some(ns) => format!("{} {ns}/{name}", self.kind),
            None => format!("{} {name}", self.kind),
        }
    }
}

fn json_of(o: DynamicObject) -> Value {
    serde_json::to_value(o).unwrap_or_default()
}

fn api_err(what: &str, e: kube::Error) -> StageError {
    StageError::new(format!("{what}: {e}"))
}

/// The object, `None` when absent or when its kind is not served (CRDs not installed).
pub async fn get(
    client: &Client,
    kind: Kind,
    ns: Option<&str>,
    name: &str,
) -> StageResult<Option<Value>> {
    match kind.api(client, ns).get_opt(name).await {
        Ok(o) => Ok(o.map(json_of)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(api_err(&kind.label(ns, name), e)),
    }
}

/// Objects of `kind` in `ns` (all namespaces: `None`) matching `selector`; none when the kind
/// is not served.
pub async fn list(
    client: &Client,
    kind: Kind,
    ns: Option<&str>,
    selector: Option<&str>,
) -> StageResult<Vec<Value>> {
    let mut lp = ListParams::default();
    if let Some(s) = selector {
        lp = lp.labels(s);
    }
    match kind.api(client, ns).list(&lp).await {
        Ok(l) => Ok(l.items.into_iter().map(json_of).collect()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(vec![]),
        Err(e) => Err(api_err(&format!("listing {}s", kind.kind), e)),
    }
}

/// Create `obj` (its namespace from its metadata).
pub async fn create(client: &Client, kind: Kind, obj: &Value) -> StageResult<()> {
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let what = kind.label(ns, name);
    let o: DynamicObject =
        serde_json::from_value(obj.clone()).map_err(|e| StageError::new(format!("{what}: {e}")))?;
    kind.api(client, ns)
        .create(&PostParams::default(), &o)
        .await
        .map(|_| ())
        .map_err(|e| api_err(&what, e))
}

/// Server-side apply of `obj` as `homelab` (the fields it holds, forced).
pub async fn apply(client: &Client, kind: Kind, obj: &Value) -> StageResult<()> {
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let what = kind.label(ns, name);
    kind.api(client, ns)
        .patch(
            name,
            &PatchParams::apply("homelab").force(),
            &Patch::Apply(obj),
        )
        .await
        .map(|_| ())
        .map_err(|e| api_err(&what, e))
}

/// Delete the object if it exists; true when a delete was sent.
pub async fn delete(
    client: &Client,
    kind: Kind,
    ns: Option<&str>,
    name: &str,
) -> StageResult<bool> {
    match kind
        .api(client, ns)
        .delete(name, &DeleteParams::background())
        .await
    {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(api_err(&format!("deleting {}", kind.label(ns, name)), e)),
    }
}

/// Wait until the object is gone (polling every `every`, up to `timeout`).
pub async fn wait_gone(
    client: &Client,
    cx: &StepCx,
    kind: Kind,
    ns: Option<&str>,
    name: &str,
    timeout: Duration,
) -> StageResult<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut backoff = crate::stages::poll::Backoff::new(POLL);
    loop {
        if get(client, kind, ns, name).await?.is_none() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(StageError::new(format!(
                "{} is still there {}s after it was deleted",
                kind.label(ns, name),
                timeout.as_secs()
            ))
            .with_hint(format!(
                "look at its finalizers: kubectl get {}{} {name} -o yaml",
                kind.plural,
                ns.map(|n| format!(" -n {n}")).unwrap_or_default()
            )));
        }
        cx.sleep(backoff.next_interval()).await?;
    }
}

/// The longest interval between two looks while the stage waits (`stages::poll::Backoff`).
pub const POLL: Duration = Duration::from_millis(250);

/// `metadata.name`, `metadata.namespace` and friends.
pub fn text<'v>(o: &'v Value, ptr: &str) -> &'v str {
    o.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

/// Peer text made safe for a terminal (`domain::printable::sanitize`), owned.
pub fn clean(s: &str) -> String {
    crate::domain::printable::sanitize(s).into_owned()
}
