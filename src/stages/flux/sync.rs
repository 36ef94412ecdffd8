//! `gotk-sync.yaml`: the GitRepository and the root Kustomization named `flux-system` that point
//! Flux at this repository (WIRE-2 H.2, plus the root's SOPS decryption through `sops-age` and
//! its health check on the source, as the tree's template has them). Rendered from the cluster
//! definition's `flux.repo`, `flux.branch` and `flux.path`; the same text every time, so a
//! second run writes nothing.

use crate::config::FluxConfig;

/// The file name inside `flux.path`.
pub const FILE: &str = "gotk-sync.yaml";
/// The install manifest's file name inside `flux.path`.
pub const INSTALL_FILE: &str = "flux-install.yaml";

/// A YAML scalar: plain when it is made of URL-safe characters only, else double-quoted (a JSON
/// string is a YAML double-quoted scalar).
fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@:/._~+-".contains(c))
        && !s.starts_with(['@', ':', '-', '~'])
        && !s.contains(": ");
    if plain {
        s.to_string()
    } else {
        serde_json::Value::String(s.to_string()).to_string()
    }
}

/// The file's text for `flux`.
pub fn render(flux: &FluxConfig) -> String {
    let path = format!(
        "./{}",
        flux.path.trim_start_matches("./").trim_end_matches('/')
    );
    format!(
        "# Written by the Flux stage of `homelab bootstrap` from config/clusters/<name>.yaml\n\
         # (flux.repo, flux.branch, flux.path); edit those and run the stage again.\n\
         # The git credentials secret `flux-system` (identity, identity.pub, known_hosts) and the\n\
         # age key secret `sops-age` (age.agekey) are applied by that stage, never committed.\n\
         apiVersion: source.toolkit.fluxcd.io/v1\n\
         kind: GitRepository\n\
         metadata:\n  name: flux-system\n  namespace: flux-system\n\
         spec:\n  interval: 1m0s\n  ref:\n    branch: {branch}\n  secretRef:\n    name: flux-system\n  url: {url}\n\
         ---\n\
         apiVersion: kustomize.toolkit.fluxcd.io/v1\n\
         kind: Kustomization\n\
         metadata:\n  name: flux-system\n  namespace: flux-system\n\
         spec:\n  interval: 10m0s\n  path: {path}\n  prune: true\n\
         \x20 # The root is healthy when its source is: waiting on everything it applies (the platform and\n\
         \x20 # app Kustomizations) would hold it for the whole first bootstrap. Those report their own health.\n\
         \x20 healthChecks:\n    - apiVersion: source.toolkit.fluxcd.io/v1\n      kind: GitRepository\n      name: flux-system\n      namespace: flux-system\n\
         \x20 timeout: 5m\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n\
         \x20 decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n",
        branch = scalar(&flux.branch),
        url = scalar(&flux.repo),
        path = scalar(&path),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flux(repo: &str, branch: &str) -> FluxConfig {
        serde_yaml::from_str(&format!(
            "repo: {}\nbranch: {}\nversion: v2.7.3\n",
            serde_json::Value::String(repo.into()),
            serde_json::Value::String(branch.into())
        ))
        .unwrap()
    }

    #[test]
    fn the_sync_objects_point_at_the_definitions_repository() {
        let text = render(&flux("ssh://git@git.lab:2222/me/homelab.git", "main"));
        let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&text)
            .map(|d| serde::Deserialize::deserialize(d).unwrap())
            .collect();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["kind"], "GitRepository");
        assert_eq!(
            docs[0]["spec"]["url"],
            "ssh://git@git.lab:2222/me/homelab.git"
        );
        assert_eq!(docs[0]["spec"]["ref"]["branch"], "main");
        assert_eq!(docs[0]["spec"]["secretRef"]["name"], "flux-system");
        assert_eq!(docs[1]["spec"]["path"], "./cluster/kubernetes/flux");
        assert_eq!(
            docs[1]["spec"]["decryption"]["secretRef"]["name"],
            "sops-age"
        );
        assert_eq!(docs[1]["spec"]["healthChecks"][0]["kind"], "GitRepository");
        // A value YAML would read otherwise is quoted, and reads back as given.
        let odd = render(&flux("git@h:x.git", "feat: #1"));
        let d: serde_yaml::Value = serde_yaml::from_str(odd.split("---").next().unwrap()).unwrap();
        assert_eq!(d["spec"]["ref"]["branch"], "feat: #1");
        assert_eq!(d["spec"]["url"], "git@h:x.git");
    }

    #[test]
    fn the_committed_template_is_what_the_stage_renders_for_this_repository() {
        // The tree's gotk-sync.yaml is the stage's output for prox-n100: running the stage
        // against the real cluster leaves it unchanged.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let cfg: crate::config::ClusterConfig = serde_yaml::from_str(
            &std::fs::read_to_string(root.join("config/clusters/prox-n100.yaml")).unwrap(),
        )
        .unwrap();
        let committed =
            std::fs::read_to_string(root.join("cluster/kubernetes/flux").join(FILE)).unwrap();
        assert_eq!(render(&cfg.flux), committed);
    }
}
