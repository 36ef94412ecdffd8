//! The kubeconfig k3s writes on its first server (`/etc/rancher/k3s/k3s.yaml`): its cluster, user
//! and context are all called `default` and its server is `https://127.0.0.1:6443`. We rename
//! them to the cluster's name, point the server at the API address, and merge the result into
//! `~/.kube/config` without touching any other context (a backup is written first).

use kube::config::Kubeconfig;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    #[error("{what}: not a kubeconfig: {message}")]
    Parse { what: String, message: String },
    #[error("{what}: {message}")]
    Shape { what: String, message: String },
    #[error("{path}: {message}")]
    Io { path: String, message: String },
}

/// Rename k3s' `default` entries to `name` and point the cluster at `server`.
pub fn rewrite(k3s_yaml: &str, name: &str, server: &str) -> Result<Kubeconfig, KubeconfigError> {
    let what = "k3s.yaml from the first server";
    let mut kc = Kubeconfig::from_yaml(k3s_yaml).map_err(|e| KubeconfigError::Parse {
        what: what.into(),
        message: e.to_string(),
    })?;
    let shape = |m: &str| KubeconfigError::Shape {
        what: what.into(),
        message: m.into(),
    };
    if kc.clusters.len() != 1 || kc.auth_infos.len() != 1 || kc.contexts.len() != 1 {
        return Err(shape("expected exactly one cluster, user and context"));
    }
    let cluster = kc.clusters[0]
        .cluster
        .as_mut()
        .ok_or_else(|| shape("the cluster entry is empty"))?;
    cluster.server = Some(server.to_string());
    kc.clusters[0].name = name.to_string();
    kc.auth_infos[0].name = name.to_string();
    kc.contexts[0].name = name.to_string();
    let ctx = kc.contexts[0]
        .context
        .as_mut()
        .ok_or_else(|| shape("the context entry is empty"))?;
    ctx.cluster = name.to_string();
    ctx.user = Some(name.to_string());
    kc.current_context = Some(name.to_string());
    Ok(kc)
}

/// What merging would do to the operator's kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeEffect {
    /// The context is there with identical cluster and user.
    AlreadyPresent,
    /// New context; others untouched.
    Added,
    /// A context, cluster or user of this name exists with different content (needs consent).
    Replaces,
}

fn yaml<T: serde::Serialize>(v: &T) -> String {
    serde_yaml::to_string(v).unwrap_or_default()
}

/// Compare `ours` (one cluster/user/context named `name`) with `existing`.
pub fn merge_effect(existing: &Kubeconfig, ours: &Kubeconfig, name: &str) -> MergeEffect {
    let find_c = |k: &Kubeconfig| k.clusters.iter().find(|c| c.name == name).map(yaml);
    let find_u = |k: &Kubeconfig| k.auth_infos.iter().find(|c| c.name == name).map(yaml);
    let find_x = |k: &Kubeconfig| k.contexts.iter().find(|c| c.name == name).map(yaml);
    let present = [find_c(existing), find_u(existing), find_x(existing)];
    if present.iter().all(Option::is_none) {
        return MergeEffect::Added;
    }
    if present == [find_c(ours), find_u(ours), find_x(ours)] {
        MergeEffect::AlreadyPresent
    } else {
        MergeEffect::Replaces
    }
}

/// Put `ours`' entries (named `name`) into `existing`, replacing same-named entries only.
/// `current-context` is set only when the file had none.
pub fn merge(mut existing: Kubeconfig, ours: Kubeconfig, name: &str) -> Kubeconfig {
    existing.clusters.retain(|c| c.name != name);
    existing.auth_infos.retain(|c| c.name != name);
    existing.contexts.retain(|c| c.name != name);
    existing.clusters.extend(ours.clusters);
    existing.auth_infos.extend(ours.auth_infos);
    existing.contexts.extend(ours.contexts);
    if existing.current_context.as_deref().unwrap_or("").is_empty() {
        existing.current_context = Some(name.to_string());
    }
    if existing.api_version.is_none() {
        existing.api_version = Some("v1".into());
    }
    if existing.kind.is_none() {
        existing.kind = Some("Config".into());
    }
    existing
}

/// Read the operator's kubeconfig (empty when missing).
pub fn load(path: &Path) -> Result<Kubeconfig, KubeconfigError> {
    match std::fs::read_to_string(path) {
        Ok(t) if t.trim().is_empty() => Ok(Kubeconfig::default()),
        Ok(t) => Kubeconfig::from_yaml(&t).map_err(|e| KubeconfigError::Parse {
            what: path.display().to_string(),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Kubeconfig::default()),
        Err(e) => Err(KubeconfigError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }),
    }
}

/// Back the current file up (`config.homelab-backup-<unix seconds>`, mode 600) and write the
/// merged one atomically with mode 600. Returns the backup path, if there was a file.
pub fn save_with_backup(path: &Path, kc: &Kubeconfig) -> Result<Option<PathBuf>, KubeconfigError> {
    let io = |p: &Path, e: std::io::Error| KubeconfigError::Io {
        path: p.display().to_string(),
        message: e.to_string(),
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let mut backup = None;
    if path.exists() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let b = dir.join(format!(
            "{name}.homelab-backup-{}",
            jiff::Timestamp::now().as_second()
        ));
        let bytes = std::fs::read(path).map_err(|e| io(path, e))?;
        crate::atomic_write::write(&b, &bytes, crate::atomic_write::Mode::Secret)
            .map_err(|e| io(&b, e))?;
        backup = Some(b);
    }
    let text = serde_yaml::to_string(kc).map_err(|e| KubeconfigError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::atomic_write::write(path, text.as_bytes(), crate::atomic_write::Mode::Secret)
        .map_err(|e| io(path, e))?;
    Ok(backup)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const K3S_YAML: &str = "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: TFMwdExTMUNSVWRKVGc9PQ==\n    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n    user: default\n  name: default\ncurrent-context: default\nkind: Config\npreferences: {}\nusers:\n- name: default\n  user:\n    client-certificate-data: Y2VydA==\n    client-key-data: a2V5\n";

    #[test]
    fn rewrite_renames_and_points_at_the_api() {
        let kc = rewrite(K3S_YAML, "prox-n100", "https://192.168.1.21:6443").unwrap();
        assert_eq!(kc.clusters[0].name, "prox-n100");
        assert_eq!(
            kc.clusters[0].cluster.as_ref().unwrap().server.as_deref(),
            Some("https://192.168.1.21:6443")
        );
        let ctx = kc.contexts[0].context.as_ref().unwrap();
        assert_eq!(
            (ctx.cluster.as_str(), ctx.user.as_deref()),
            ("prox-n100", Some("prox-n100"))
        );
        let text = serde_yaml::to_string(&kc).unwrap();
        assert!(
            text.contains("client-key-data: a2V5"),
            "keys survive the round trip: {text}"
        );
    }

    #[test]
    fn merge_keeps_other_contexts_and_current_context() {
        let other = "apiVersion: v1\nkind: Config\ncurrent-context: work\nclusters:\n- name: work\n  cluster: {server: 'https://work:6443'}\nusers:\n- name: work\n  user: {token: abc}\ncontexts:\n- name: work\n  context: {cluster: work, user: work}\n";
        let existing = Kubeconfig::from_yaml(other).unwrap();
        let ours = rewrite(K3S_YAML, "lab", "https://10.0.0.1:6443").unwrap();
        assert_eq!(merge_effect(&existing, &ours, "lab"), MergeEffect::Added);
        let merged = merge(existing, ours.clone(), "lab");
        assert_eq!(merged.current_context.as_deref(), Some("work"));
        let names: Vec<_> = merged.contexts.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, vec!["work", "lab"]);
        assert_eq!(
            merge_effect(&merged, &ours, "lab"),
            MergeEffect::AlreadyPresent
        );
        let moved = rewrite(K3S_YAML, "lab", "https://10.0.0.2:6443").unwrap();
        assert_eq!(merge_effect(&merged, &moved, "lab"), MergeEffect::Replaces);
        let again = merge(merged, moved, "lab");
        assert_eq!(again.clusters.len(), 2, "replaced, not duplicated");
    }

    #[test]
    fn save_backs_up_first() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".kube/config");
        assert_eq!(save_with_backup(&p, &Kubeconfig::default()).unwrap(), None);
        let ours = rewrite(K3S_YAML, "lab", "https://10.0.0.1:6443").unwrap();
        let b = save_with_backup(&p, &merge(load(&p).unwrap(), ours, "lab"))
            .unwrap()
            .unwrap();
        assert!(
            std::fs::read_to_string(&b).unwrap().len() < std::fs::read_to_string(&p).unwrap().len()
        );
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(load(&p).unwrap().contexts[0].name, "lab");
    }

    #[test]
    fn garbage_is_a_named_error() {
        let e = rewrite("clusters: 7", "lab", "https://x:6443").unwrap_err();
        assert!(
            e.to_string().starts_with("k3s.yaml from the first server"),
            "{e}"
        );
    }
}
