//! The Kubernetes Secrets the tree's workloads need, rendered from the env file as
//! `*.sops.yaml` next to the workloads that use them (the Flux stage calls [`render_all`]).
//!
//! The list is [`RENDERED`] (what each `SECRETS.md` under `cluster/kubernetes` documents, with
//! the env-file key of every value) and [`MADE_OUTSIDE`] (Secrets something else creates in the
//! cluster, which `homelab check` accepts without a file). Each file is encrypted with the
//! project's SOPS code to the recipients of the `.sops.yaml` rule that matches it, written
//! with the one atomic writer, and listed in its folder's `kustomization.yaml` so Flux applies
//! it. A file whose decrypted content and recipients already match is left alone (no new
//! ciphertext, no diff, no commit).

use super::document::{EncryptedFile, Format, Opened};
use super::keys::Identities;
use super::kube_secret::{Field, SecretSpec, render};
use super::rules::SopsConfig;
use std::path::Path;

/// One Secret rendered from the env file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rendered {
    pub namespace: &'static str,
    pub name: &'static str,
    /// Repository-relative folder of the workload; the file is `<dir>/<name>.sops.yaml`.
    pub dir: &'static str,
    /// `(Secret key, env-file key)`, in the Secret's order.
    pub keys: &'static [(&'static str, &'static str)],
    /// Skipped (not an error) when its env-file keys are missing or empty.
    pub optional: bool,
}

impl Rendered {
    /// `<dir>/<name>.sops.yaml`.
    pub fn rel_path(&self) -> String {
        format!("{}/{}.sops.yaml", self.dir, self.name)
    }
}

/// Every Secret the Flux stage renders (SECRETS.md files under cluster/kubernetes).
pub const RENDERED: &[Rendered] = &[
    Rendered {
        namespace: "monitoring",
        name: "grafana-admin",
        dir: "cluster/kubernetes/platform/monitoring/grafana",
        keys: &[
            ("admin-user", "GRAFANA_ADMIN_USER"),
            ("admin-password", "GRAFANA_ADMIN_PASSWORD"),
        ],
        optional: false,
    },
    Rendered {
        namespace: "networking",
        name: "cloudflare-api-token",
        dir: "cluster/kubernetes/platform/dns/external-dns",
        keys: &[("api-token", "CLOUDFLARE_API_TOKEN")],
        optional: false,
    },
    Rendered {
        namespace: "cert-manager",
        name: "cloudflare-api-token",
        dir: "cluster/kubernetes/platform/certs/issuers",
        keys: &[("api-token", "CLOUDFLARE_API_TOKEN")],
        optional: false,
    },
    Rendered {
        namespace: "networking",
        name: "cloudflared-tunnel",
        dir: "cluster/kubernetes/platform/ingress/cloudflared",
        keys: &[("TUNNEL_TOKEN", "CLOUDFLARE_TUNNEL_TOKEN")],
        optional: false,
    },
    Rendered {
        namespace: "tools",
        name: "tailscale-auth",
        dir: "cluster/kubernetes/apps/tools/tailscale",
        keys: &[("TS_AUTHKEY", "TAILSCALE_AUTH_KEY")],
        optional: false,
    },
    Rendered {
        namespace: "tools",
        name: "vscode-server",
        dir: "cluster/kubernetes/apps/tools/vscode-server",
        keys: &[("PASSWORD", "VSCODE_SERVER_PASSWORD")],
        optional: false,
    },
    Rendered {
        namespace: "monitoring",
        name: "alertmanager-webhook",
        dir: "cluster/kubernetes/platform/monitoring/alertmanager",
        keys: &[("url", "ALERTMANAGER_WEBHOOK_URL")],
        optional: true,
    },
];

/// `(namespace, name, who makes it)`: Secrets that exist in the cluster without a file in the
/// tree.
pub const MADE_OUTSIDE: &[(&str, &str, &str)] = &[
    (
        "tools",
        "tailscale-state",
        "tailscaled writes its node state there at first start (TS_KUBE_SECRET)",
    ),
    (
        "flux-system",
        "flux-system",
        "the Flux stage applies the deploy key to the cluster",
    ),
    (
        "flux-system",
        "sops-age",
        "the Flux stage applies the age key to the cluster",
    ),
];

/// What happened to one Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Written (new, a value changed, or the recipients changed).
    Written,
    /// Its decrypted content and recipients already matched: not touched.
    Unchanged,
    /// Optional and its env-file keys are empty: nothing written.
    Skipped(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Repository-relative path of the `.sops.yaml` file.
    pub file: String,
    pub outcome: Outcome,
    /// The folder's kustomization.yaml gained the file.
    pub listed: bool,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: {e}", path.display())
}

/// The values of `spec` from the decrypted env file; `Ok(None)` for an optional Secret whose
/// keys are empty.
fn values(
    spec: &Rendered,
    env: &Opened,
    env_name: &str,
) -> Result<Option<Vec<zeroize::Zeroizing<String>>>, String> {
    let mut out = Vec::new();
    for (_, env_key) in spec.keys {
        match env.top_level_str(env_key) {
            Some(v) if !v.is_empty() => out.push(v),
            _ if spec.optional => return Ok(None),
            _ => {
                return Err(format!(
                    "{env_name}: no {env_key} (needed for Secret {}/{}); add it with \
                     `homelab env set {env_name} {env_key} -`",
                    spec.namespace, spec.name
                ));
            }
        }
    }
    Ok(Some(out))
}

/// Render every Secret of [`RENDERED`] under `root` from the decrypted env file `env`
/// (`env_name` names it in errors), encrypting to the `.sops.yaml` rules of `config` and
/// reading existing files with `ids` to leave unchanged ones alone.
pub fn render_all(
    root: &Path,
    env: &Opened,
    env_name: &str,
    config: &SopsConfig,
    ids: &Identities,
) -> Result<Vec<Report>, String> {
    render_files(root, env, env_name, config, ids, Write::Yes)
}

/// What [`render_all`] would do, writing nothing: `Written` and `listed` mean "would write"
/// and "would list" (the Flux stage's check, so a second run changes nothing).
pub fn pending(
    root: &Path,
    env: &Opened,
    env_name: &str,
    config: &SopsConfig,
    ids: &Identities,
) -> Result<Vec<Report>, String> {
    render_files(root, env, env_name, config, ids, Write::No)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Write {
    Yes,
    No,
}

fn render_files(
    root: &Path,
    env: &Opened,
    env_name: &str,
    config: &SopsConfig,
    ids: &Identities,
    write: Write,
) -> Result<Vec<Report>, String> {
    let mut reports = Vec::new();
    for spec in RENDERED {
        let rel = spec.rel_path();
        let Some(vals) = values(spec, env, env_name)? else {
            reports.push(Report {
                file: rel,
                outcome: Outcome::Skipped(format!(
                    "{} is empty in {env_name}",
                    spec.keys
                        .iter()
                        .map(|(_, e)| *e)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                listed: false,
            });
            continue;
        };
        let entries: Vec<(&str, &str)> = spec
            .keys
            .iter()
            .zip(&vals)
            .map(|((k, _), v)| (*k, v.as_str()))
            .collect();
        let text = render(&SecretSpec {
            name: spec.name,
            namespace: spec.namespace,
            entries,
            field: Field::StringData,
        })?;
        let path = root.join(&rel);
        let rule = config.rule_for(&path).map_err(|e| e.to_string())?;
        let mut desired = Opened::new_plain(
            &path,
            Format::Yaml,
            &text,
            rule.rule.clone(),
            rule.mac_only_encrypted,
            &rule.age,
        )
        .map_err(|e| e.to_string())?;
        let outcome = if unchanged(&path, &desired, &rule.age, ids)? {
            Outcome::Unchanged
        } else {
            if write == Write::Yes {
                desired.save_as(&path).map_err(|e| e.to_string())?;
            }
            Outcome::Written
        };
        let listed = list_in_kustomization(
            &root.join(spec.dir),
            &format!("{}.sops.yaml", spec.name),
            write,
        )?;
        reports.push(Report {
            file: rel,
            outcome,
            listed,
        });
    }
    Ok(reports)
}

/// The file at `path` decrypts (with a valid MAC) to exactly `desired` and is encrypted for
/// exactly `recipients`.
fn unchanged(
    path: &Path,
    desired: &Opened,
    recipients: &[String],
    ids: &Identities,
) -> Result<bool, String> {
    if !path.exists() {
        return Ok(false);
    }
    let file = EncryptedFile::load(path).map_err(|e| e.to_string())?;
    let mut have = file.recipients();
    let mut want = recipients.to_vec();
    have.sort();
    want.sort();
    if have != want {
        return Ok(false);
    }
    // A file we cannot open (another key, a bad MAC) is rewritten from the env file.
    let Ok(opened) = file.open(ids) else {
        return Ok(false);
    };
    if opened.require_mac().is_err() {
        return Ok(false);
    }
    Ok(opened.branches == desired.branches)
}

/// Add `- file` to the `resources:` list of `<dir>/kustomization.yaml` unless it is there.
/// Returns whether the file changed.
fn list_in_kustomization(dir: &Path, file: &str, write: Write) -> Result<bool, String> {
    let path = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&path).map_err(|e| {
        io_err(
            &path,
            format!("{e}; the folder needs a kustomization.yaml listing its resources"),
        )
    })?;
    let lines: Vec<&str> = text.lines().collect();
    let Some(start) = lines.iter().position(|l| l.trim_end() == "resources:") else {
        return Err(io_err(
            &path,
            "no top-level `resources:` list to add the Secret to",
        ));
    };
    let mut end = start + 1;
    let mut indent = "  ".to_string();
    while let Some(l) = lines.get(end) {
        let t = l.trim_start();
        if let Some(item) = t.strip_prefix("- ") {
            if item.trim() == file {
                return Ok(false);
            }
            indent = l[..l.len() - t.len()].to_string();
        } else if !(t.is_empty() || t.starts_with('#')) {
            break;
        }
        end += 1;
    }
    // After the last item (not after trailing blank or comment lines).
    while end > start + 1 && !lines[end - 1].trim_start().starts_with("- ") {
        end -= 1;
    }
    if write == Write::No {
        return Ok(true);
    }
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    out.insert(end, format!("{indent}- {file}"));
    let mut new = out.join("\n");
    new.push('\n');
    crate::atomic_write::write(
        &path,
        new.as_bytes(),
        crate::atomic_write::Mode::KeepOr(0o644),
    )
    .map_err(|e| io_err(&path, e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_every_secrets_md_in_the_tree() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for spec in RENDERED {
            let doc = std::fs::read_to_string(root.join(spec.dir).join("SECRETS.md"))
                .or_else(|_| {
                    std::fs::read_to_string(
                        root.join(spec.dir).parent().unwrap().join("SECRETS.md"),
                    )
                })
                .unwrap_or_else(|e| panic!("{}: {e}", spec.dir));
            assert!(doc.contains(spec.name), "{}: {}", spec.dir, spec.name);
            for (key, env) in spec.keys {
                assert!(
                    doc.contains(key) && doc.contains(env),
                    "{}: {key}/{env}",
                    spec.dir
                );
            }
            assert!(root.join(spec.dir).join("kustomization.yaml").is_file());
        }
    }

    #[test]
    fn a_kustomization_gains_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let k = dir.path().join("kustomization.yaml");
        std::fs::write(
            &k,
            "# c\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - rbac.yaml\n  - deployment.yaml\n\n# tail\n",
        )
        .unwrap();
        assert!(list_in_kustomization(dir.path(), "x.sops.yaml", Write::Yes).unwrap());
        assert!(!list_in_kustomization(dir.path(), "x.sops.yaml", Write::Yes).unwrap());
        assert_eq!(
            std::fs::read_to_string(&k).unwrap(),
            "# c\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - rbac.yaml\n  - deployment.yaml\n  - x.sops.yaml\n\n# tail\n"
        );
        std::fs::write(&k, "kind: Kustomization\n").unwrap();
        assert!(list_in_kustomization(dir.path(), "x.sops.yaml", Write::Yes).is_err());
    }
}
