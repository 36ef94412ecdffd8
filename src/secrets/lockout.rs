//! The lock-out guard: never let the cluster hold an age key that cannot read the tree.
//!
//! Flux decrypts every `*.sops.*` file with the identities in `flux-system/sops-age`
//! (`age.agekey`). When they do not match the recipients the files were encrypted to, nothing
//! fails at commit or apply time: a Kustomization reports a decryption error minutes later,
//! far from the cause. So the Flux stage checks both ends itself:
//!
//! - [`before_commit`]: every `*.sops.*` file of the tree decrypts with an identity the
//!   `sops-age` Secret holds;
//! - [`after_apply`]: the recipients of the identities in the cluster's `sops-age` are the ones
//!   `.sops.yaml` encrypts the tree's Secrets to.
//!
//! Pure functions over texts (the stage reads the files and the Secret); [`sops_files`] lists the
//! files to pass. Errors say which file or rule, which recipients, and how to fix it.

use super::document::{EncryptedFile, Format};
use super::keys::{AGE_SECRET_PREFIX, identities_from_text};
use super::kube_secret::{Field, SecretSpec, render};
use super::rules::SopsConfig;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The Secret's name and key, as the tree's Kustomizations name them (`decryption.secretRef`).
pub const SOPS_AGE: &str = "sops-age";
pub const AGE_KEY: &str = "age.agekey";

/// A mismatch that would lock Flux out of the tree's secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Lockout {
    #[error(
        "{file}: the cluster's sops-age key cannot decrypt it: the file is encrypted to {file_recipients}, \
         sops-age holds {cluster_recipients}. Flux would fail on it with a decryption error. Fix: \
         add {cluster_recipients} to the matching rule in .sops.yaml and run `sops updatekeys {file}` \
         (or let the Flux stage render it again), or run the stage with the age identity of one of \
         the file's recipients (SOPS_AGE_KEY_FILE)"
    )]
    FileUnreadable {
        file: String,
        file_recipients: String,
        cluster_recipients: String,
    },
    #[error("{file}: {message}")]
    FileBroken { file: String, message: String },
    #[error(
        "the cluster's flux-system/sops-age holds {cluster_recipients}, but .sops.yaml encrypts \
         {sample} to {rule_recipients}. Flux cannot decrypt what homelab writes. Fix: re-run the \
         Flux stage with the age identity for {rule_recipients} (it applies sops-age again), or put \
         {cluster_recipients} in .sops.yaml and re-encrypt the tree (`sops updatekeys` on each \
         *.sops.yaml file)"
    )]
    ClusterKeyMismatch {
        cluster_recipients: String,
        rule_recipients: String,
        sample: String,
    },
    #[error(
        "flux-system/sops-age holds no age identity (key {AGE_KEY} with {AGE_SECRET_PREFIX}... lines). \
         Re-run the Flux stage: it applies the operator's age identity there"
    )]
    NoClusterKey,
}

fn listed(r: &[String]) -> String {
    if r.is_empty() {
        "no age recipient".into()
    } else {
        r.join(", ")
    }
}

/// `x.sops.yaml` and the like; not the `.x.sops.yaml.lock` files writers leave beside them.
fn is_sops_file(name: &str) -> bool {
    name.contains(".sops.") && !(name.starts_with('.') && name.ends_with(".lock"))
}

/// Every `*.sops.*` file under `root/cluster` (repository-relative, sorted), the files Flux
/// decrypts. Symbolic links are not followed; depth is capped.
pub fn sops_files(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![(root.join("cluster"), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        if depth > 32 {
            continue;
        }
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            let path = entry.path();
            if kind.is_dir() {
                stack.push((path, depth + 1));
            } else if kind.is_file()
                && is_sops_file(&entry.file_name().to_string_lossy())
                && let Ok(rel) = path.strip_prefix(root)
            {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Before committing: each `(repository-relative path, text)` decrypts with an identity of
/// `sops_age_key` (the `age.agekey` text the cluster gets). Every failing file is reported.
pub fn before_commit(files: &[(String, String)], sops_age_key: &str) -> Result<(), Vec<Lockout>> {
    let ids = identities_from_text(sops_age_key, "flux-system/sops-age");
    let cluster = ids.recipients();
    if ids.is_empty() {
        return Err(vec![Lockout::NoClusterKey]);
    }
    let mut problems = Vec::new();
    for (rel, text) in files {
        let path = Path::new(rel);
        let parsed =
            Format::from_path(path).and_then(|format| EncryptedFile::parse(text, path, format));
        let file = match parsed {
            Ok(f) => f,
            Err(e) => {
                problems.push(Lockout::FileBroken {
                    file: rel.clone(),
                    message: e.to_string(),
                });
                continue;
            }
        };
        if file.data_key(&ids).is_err() {
            problems.push(Lockout::FileUnreadable {
                file: rel.clone(),
                file_recipients: listed(&file.recipients()),
                cluster_recipients: listed(&cluster),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// After applying: the identities in the cluster's `sops-age` (`in_cluster_key`, the decoded
/// `age.agekey`) include one for a recipient of the `.sops.yaml` rule that covers the tree's
/// Secrets (`config`, checked for `<repo>/cluster/…/x.sops.yaml`).
pub fn after_apply(in_cluster_key: &str, config: &SopsConfig) -> Result<(), Lockout> {
    let ids = identities_from_text(in_cluster_key, "flux-system/sops-age");
    if ids.is_empty() {
        return Err(Lockout::NoClusterKey);
    }
    let cluster = ids.recipients();
    let base = config.path.parent().unwrap_or(Path::new("."));
    let sample = "cluster/kubernetes/x.sops.yaml";
    let rule = config
        .rule_for(&base.join(sample))
        .map_err(|e| Lockout::FileBroken {
            file: config.path.display().to_string(),
            message: e.to_string(),
        })?;
    if rule.age.iter().any(|r| cluster.contains(r)) {
        Ok(())
    } else {
        Err(Lockout::ClusterKeyMismatch {
            cluster_recipients: listed(&cluster),
            rule_recipients: listed(&rule.age),
            sample: "cluster/**/*.sops.yaml".into(),
        })
    }
}

/// The `flux-system/sops-age` Secret holding the operator's age identity text (one or more
/// age secret-key lines) under `age.agekey`, to apply to the cluster; never to disk.
pub fn sops_age_secret(identity_text: &str) -> Result<Zeroizing<String>, String> {
    if identities_from_text(identity_text, "the age identity").is_empty() {
        return Err(format!(
            "the age identity holds no {AGE_SECRET_PREFIX}... line (SOPS_AGE_KEY_FILE, or \
             ~/.config/sops/age/keys.txt)"
        ));
    }
    render(&SecretSpec {
        name: SOPS_AGE,
        namespace: "flux-system",
        entries: vec![(AGE_KEY, identity_text)],
        field: Field::Data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::Opened;
    use crate::secrets::keys::generate_identity;
    use crate::secrets::metadata::CryptRule;
    use crate::secrets::rules::homelab_config;

    fn encrypted_to(recipient: &str, rel: &str) -> String {
        Opened::new_plain(
            Path::new(rel),
            Format::Yaml,
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  k: v\n",
            CryptRule::EncryptedRegex("^(data|stringData)$".into()),
            false,
            &[recipient.to_string()],
        )
        .unwrap()
        .encrypt_to_text()
        .unwrap()
    }

    #[test]
    fn a_file_the_cluster_key_cannot_read_is_caught_before_committing() {
        let (right, right_r) = generate_identity();
        let (wrong, wrong_r) = generate_identity();
        let files = vec![
            (
                "cluster/a/a.sops.yaml".to_string(),
                encrypted_to(&right_r, "a.sops.yaml"),
            ),
            (
                "cluster/b/b.sops.yaml".to_string(),
                encrypted_to(&wrong_r, "b.sops.yaml"),
            ),
        ];
        let problems = before_commit(&files, &right).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        let text = problems[0].to_string();
        assert!(text.starts_with("cluster/b/b.sops.yaml: "), "{text}");
        assert!(text.contains(&wrong_r) && text.contains(&right_r), "{text}");
        assert!(
            text.contains("sops updatekeys cluster/b/b.sops.yaml"),
            "{text}"
        );

        // A sops-age holding both identities reads both.
        let both = format!("{}\n{}\n", right.as_str(), wrong.as_str());
        assert_eq!(before_commit(&files, &both), Ok(()));
        assert_eq!(
            before_commit(&files, "# nothing"),
            Err(vec![Lockout::NoClusterKey])
        );
        let broken = vec![(
            "cluster/c.sops.yaml".to_string(),
            "kind: Secret\n".to_string(),
        )];
        assert!(matches!(
            before_commit(&broken, &right).unwrap_err()[0],
            Lockout::FileBroken { .. }
        ));
    }

    #[test]
    fn a_cluster_key_for_another_recipient_than_sops_yaml_is_caught_after_applying() {
        let (right, right_r) = generate_identity();
        let (wrong, wrong_r) = generate_identity();
        let config = SopsConfig::parse(
            &homelab_config(std::slice::from_ref(&right_r)),
            Path::new("/repo/.sops.yaml"),
        )
        .unwrap();
        assert_eq!(after_apply(&right, &config), Ok(()));
        let e = after_apply(&wrong, &config).unwrap_err();
        assert_eq!(
            e,
            Lockout::ClusterKeyMismatch {
                cluster_recipients: wrong_r.clone(),
                rule_recipients: right_r.clone(),
                sample: "cluster/**/*.sops.yaml".into(),
            }
        );
        assert!(e.to_string().contains("re-run the Flux stage"), "{e}");
        assert_eq!(after_apply("", &config), Err(Lockout::NoClusterKey));
    }

    #[test]
    fn sops_age_holds_the_identity_under_age_agekey() {
        use base64::Engine as _;
        let (id, _) = generate_identity();
        let text = sops_age_secret(&id).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["metadata"]["name"], "sops-age");
        assert_eq!(v["metadata"]["namespace"], "flux-system");
        let b = base64::engine::general_purpose::STANDARD
            .decode(v["data"]["age.agekey"].as_str().unwrap())
            .unwrap();
        assert_eq!(String::from_utf8(b).unwrap(), id.as_str());
        assert!(sops_age_secret("not a key").is_err());
    }

    #[test]
    fn sops_files_lists_the_encrypted_files_under_cluster() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("cluster/a/b")).unwrap();
        std::fs::write(dir.path().join("cluster/a/b/x.sops.yaml"), "").unwrap();
        std::fs::write(dir.path().join("cluster/a/y.yaml"), "").unwrap();
        std::fs::write(dir.path().join("cluster/z.sops.json"), "").unwrap();
        std::fs::write(dir.path().join("cluster/a/b/.x.sops.yaml.lock"), "").unwrap();
        assert_eq!(
            sops_files(dir.path()).unwrap(),
            vec![
                PathBuf::from("cluster/a/b/x.sops.yaml"),
                PathBuf::from("cluster/z.sops.json")
            ]
        );
    }
}
