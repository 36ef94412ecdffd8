//! Which cluster definition syncs which part of the GitOps tree.
//!
//! A definition in `config/clusters/` names the folder its Flux is bootstrapped on
//! (`flux.path`, default `cluster/kubernetes/flux`). Flux applies everything under that folder,
//! and every Flux Kustomization found there applies its own `spec.path`, and so on: the folders
//! reached that way are the tree that cluster is synced to. A folder reached is synced whole
//! (its subfolders too), as Flux does for a folder without a `kustomization.yaml`.
//!
//! The values of the tree that depend on the cluster (the EnvoyProxy's externalIPs are the node
//! addresses, public hostnames are under the domain) are checked against the definitions that
//! sync the file holding them ([`Synced::owners`]), never against every definition: a second
//! cluster (a sandbox) with other addresses syncs its own copy of those files. See
//! docs/clusters.md.

use super::tree::{Doc, Tree, normalize};
use serde_yaml::Value;

/// Where the cluster definitions live, relative to the repository root.
const CLUSTERS_DIR: &str = "config/clusters/";

/// The folder Flux is bootstrapped on when a definition names none (the schema's default).
pub const DEFAULT_FLUX_PATH: &str = "cluster/kubernetes/flux";

/// What `check` reads from one cluster definition: the values the tree depends on and the
/// folders that cluster is synced to. Read from the raw YAML, so an otherwise invalid
/// definition still counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Definition {
    /// Repository-relative file, `config/clusters/<name>.yaml`.
    pub file: String,
    /// `flux.path`, normalised (no `./`, no trailing `/`).
    pub flux_path: String,
    /// Line of `flux.path` (or of the document start when the default applies).
    pub flux_line: u32,
    pub domain: Option<String>,
    /// `vms[].ip`, in file order.
    pub node_ips: Vec<String>,
    /// Folders Flux applies on this cluster: `flux_path` and every reachable `spec.path`.
    pub folders: Vec<String>,
}

impl Definition {
    /// Whether Flux on this cluster applies the file (or folder) at `rel`.
    pub fn syncs(&self, rel: &str) -> bool {
        self.folders.iter().any(|f| within(rel, f))
    }

    /// The node addresses as a sorted set, for comparing definitions.
    pub fn node_set(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.node_ips.iter().map(String::as_str).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// Every cluster definition of the tree, with the folders each one syncs.
#[derive(Debug, Clone, Default)]
pub struct Synced {
    pub definitions: Vec<Definition>,
}

impl Synced {
    pub fn of(tree: &Tree) -> Self {
        let definitions = tree
            .yaml
            .iter()
            .filter(|f| f.rel.starts_with(CLUSTERS_DIR))
            .flat_map(|f| f.values().map(move |d| (f.rel.as_str(), d)))
            .map(|(file, d)| definition(tree, file, d))
            .collect();
        Synced { definitions }
    }

    /// The definitions whose Flux applies `rel`. A file no definition reaches (a tree not
    /// wired to any Flux path yet) is checked against every definition.
    pub fn owners(&self, rel: &str) -> Vec<&Definition> {
        let reaching: Vec<&Definition> = self.definitions.iter().filter(|d| d.syncs(rel)).collect();
        if reaching.is_empty() {
            self.definitions.iter().collect()
        } else {
            reaching
        }
    }

    /// Node addresses of the definitions that sync `rel`, in definition order, deduplicated.
    pub fn node_addresses(&self, rel: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for ip in self.owners(rel).into_iter().flat_map(|d| &d.node_ips) {
            if !out.contains(ip) {
                out.push(ip.clone());
            }
        }
        out
    }

    /// Domains of the definitions that sync `rel`.
    pub fn domains(&self, rel: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for d in self
            .owners(rel)
            .into_iter()
            .filter_map(|d| d.domain.as_ref())
        {
            if !out.contains(d) {
                out.push(d.clone());
            }
        }
        out
    }
}

/// `rel` is `folder` or inside it (`""` is the repository root: everything).
fn within(rel: &str, folder: &str) -> bool {
    folder.is_empty()
        || rel == folder
        || rel
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn definition(tree: &Tree, file: &str, d: &Doc) -> Definition {
    let (flux_path, flux_line) = match d.get_str(&["flux", "path"]) {
        Some(p) => (normalize(p), d.line_at("flux.path")),
        None => (DEFAULT_FLUX_PATH.to_owned(), d.line_at("flux")),
    };
    let node_ips = d
        .get(&["vms"])
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|vm| vm.get("ip").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
    Definition {
        file: file.to_owned(),
        folders: reachable(tree, &flux_path),
        flux_path,
        flux_line,
        domain: d.get_str(&["domain"]).map(str::to_string),
        node_ips,
    }
}

/// The folders Flux applies starting from `entry`: the entry itself and, transitively, the
/// `spec.path` of every Flux Kustomization inside a folder already reached. Each round adds at
/// least one folder, and there are no more folders than Kustomizations plus one, so it ends.
fn reachable(tree: &Tree, entry: &str) -> Vec<String> {
    let kustomizations: Vec<(&str, String)> = tree
        .docs()
        .filter(|(_, d)| d.is("kustomize.toolkit.fluxcd.io/", "Kustomization"))
        .filter_map(|(f, d)| Some((f.rel.as_str(), normalize(d.get_str(&["spec", "path"])?))))
        .collect();
    let mut folders = vec![entry.to_owned()];
    loop {
        let new: Vec<String> = kustomizations
            .iter()
            .filter(|(file, _)| folders.iter().any(|f| within(file, f)))
            .map(|(_, path)| path)
            .filter(|path| !folders.contains(path))
            .cloned()
            .collect();
        if new.is_empty() {
            return folders;
        }
        for p in new {
            if !folders.contains(&p) {
                folders.push(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::tree::YamlFile;

    fn tree(files: &[(&str, &str)]) -> Tree {
        let mut t = Tree::default();
        for (rel, text) in files {
            t.yaml.push(YamlFile::parse((*rel).to_owned(), text));
        }
        t
    }

    const KS: &str = "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: x}\nspec:\n  path: ";

    #[test]
    fn a_definition_syncs_what_its_flux_path_reaches() {
        let t = tree(&[
            (
                "config/clusters/main.yaml",
                "domain: example.com\nvms: [{ip: 10.0.0.1}, {ip: 10.0.0.2}]\n",
            ),
            (
                "config/clusters/sandbox.yaml",
                "domain: sandbox.example.com\nvms: [{ip: 10.9.0.1}]\nflux:\n  path: ./cluster/sandbox/flux/\n",
            ),
            (
                "cluster/kubernetes/flux/apps.yaml",
                &format!("{KS}./cluster/kubernetes/apps\n"),
            ),
            (
                "cluster/sandbox/flux/apps.yaml",
                &format!(
                    "{KS}./cluster/kubernetes/apps/demos\n---\n{KS}./cluster/sandbox/gateway\n"
                ),
            ),
        ]);
        let s = Synced::of(&t);
        let [main, sandbox] = &s.definitions[..] else {
            panic!("{:?}", s.definitions)
        };
        assert_eq!(main.flux_path, DEFAULT_FLUX_PATH);
        assert_eq!(main.flux_line, 1, "the default: the document start");
        assert_eq!(sandbox.flux_path, "cluster/sandbox/flux");
        assert_eq!(sandbox.flux_line, 4);
        assert_eq!(
            sandbox.folders,
            [
                "cluster/sandbox/flux",
                "cluster/kubernetes/apps/demos",
                "cluster/sandbox/gateway"
            ]
        );
        let files =
            |rel: &str| -> Vec<&str> { s.owners(rel).iter().map(|d| d.file.as_str()).collect() };
        assert_eq!(
            files("cluster/kubernetes/apps/demos/podinfo/release.yaml"),
            ["config/clusters/main.yaml", "config/clusters/sandbox.yaml"]
        );
        assert_eq!(
            files("cluster/kubernetes/apps/media/jellyfin.yaml"),
            ["config/clusters/main.yaml"]
        );
        assert_eq!(
            s.node_addresses("cluster/sandbox/gateway/envoy.yaml"),
            ["10.9.0.1"]
        );
        assert_eq!(
            s.domains("cluster/kubernetes/apps/demos/x.yaml"),
            ["example.com", "sandbox.example.com"]
        );
        // `cluster/sandbox/gatewayx` is not inside `cluster/sandbox/gateway`.
        assert_eq!(
            files("cluster/sandbox/gatewayx/a.yaml"),
            ["config/clusters/main.yaml", "config/clusters/sandbox.yaml"],
            "reached by none: every definition"
        );
    }

    #[test]
    fn a_kustomization_cycle_ends() {
        let t = tree(&[
            ("config/clusters/a.yaml", "vms: []\nflux: {path: a}\n"),
            ("a/k.yaml", &format!("{KS}b\n")),
            ("b/k.yaml", &format!("{KS}./a\n")),
        ]);
        assert_eq!(Synced::of(&t).definitions[0].folders, ["a", "b"]);
    }
}
