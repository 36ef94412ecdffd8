//! The kustomize subset this repository's `cluster/kubernetes` tree uses, built the way
//! `kustomize build` (and so `kubectl kustomize` and kustomize-controller) builds it:
//!
//! - `resources`: files (multi-document YAML) and folders with their own kustomization,
//!   relative to the kustomization, never above the build root;
//! - `namespace`: set on every namespaced resource;
//! - `configMapGenerator` with `files` (`key=path` or the file name as key) and `literals`,
//!   `namespace`, `options.labels` / `options.annotations`, and `generatorOptions` with
//!   `disableNameSuffixHash: true`, `labels` and `annotations`.
//!
//! Everything else (`patches`, `labels`/`commonLabels`, `images`, `replicas`, `components`,
//! `secretGenerator`, `helmCharts`, remote resources, name suffix hashes, ...) is refused with
//! an error naming the field and the file; docs/reference/kubernetes.md §7 lists it.
//! Cross-checked against the real `kubectl kustomize` in tests/k3s/kube_flux.rs.

mod files;

pub use files::{Dir, Entry, Files, GitTree, MAX_FILE};

use serde_json::{Map, Value, json};

/// Kinds kustomize treats as cluster-scoped (no namespace set on them).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "GatewayClass",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "StorageClass",
    "ValidatingWebhookConfiguration",
];

/// How deep kustomizations may include each other.
const MAX_DEPTH: usize = 32;
/// How many objects one build may produce.
const MAX_OBJECTS: usize = 10_000;

/// One built object, and its document's text when it carries SOPS metadata (decryption needs
/// the text as written: the MAC covers the values in file order).
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub object: Value,
    pub sops_text: Option<String>,
}

const KUSTOMIZATION_FILES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

const SUPPORTED: &[&str] = &[
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "configMapGenerator",
    "generatorOptions",
];

/// Build the kustomization in folder `dir` (relative to the root of `files`).
pub fn build(files: &dyn Files, dir: &str) -> Result<Vec<Built>, String> {
    let dir = normalize("", dir).ok_or_else(|| format!("{dir}: outside the source root"))?;
    let mut out = vec![];
    build_dir(files, &dir, 0, &mut out)?;
    Ok(out)
}

fn build_dir(
    files: &dyn Files,
    dir: &str,
    depth: usize,
    out: &mut Vec<Built>,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{dir}: kustomizations nested deeper than {MAX_DEPTH}"
        ));
    }
    let Some(kfile) = KUSTOMIZATION_FILES
        .iter()
        .map(|f| join(dir, f))
        .find(|p| files.entry(p) == Some(Entry::File))
    else {
        return Err(format!(
            "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '{dir}'"
        ));
    };
    let text = utf8(&kfile, files.read(&kfile)?)?;
    let k: Value = yaml_value(&text).map_err(|e| format!("{kfile}: {e}"))?;
    let Some(k) = k.as_object() else {
        return Err(format!("{kfile}: not a kustomization (expected a mapping)"));
    };
    if let Some(field) = k.keys().find(|f| !SUPPORTED.contains(&f.as_str())) {
        return Err(format!(
            "{kfile}: kustomization field '{field}' is not supported by the simulator's kustomize subset (docs/reference/kubernetes.md §7)"
        ));
    }
    let mut mine: Vec<Built> = vec![];
    for r in strings(k.get("resources"), &kfile, "resources")? {
        if r.contains("://") || r.starts_with("github.com/") || r.contains("?ref=") {
            return Err(format!(
                "{kfile}: remote resource '{r}' is not supported by the simulator's kustomize subset"
            ));
        }
        let path = normalize(dir, &r).ok_or_else(|| {
            format!("{kfile}: security; file '{r}' is not in or below the source root")
        })?;
        match files.entry(&path) {
            Some(Entry::Dir) => build_dir(files, &path, depth + 1, &mut mine)?,
            Some(Entry::File) => {
                let text = utf8(&path, files.read(&path)?)?;
                mine.extend(documents(&path, &text)?);
            }
            None => {
                return Err(format!(
                    "{kfile}: accumulating resources: '{r}': no such file or directory"
                ));
            }
        }
        if mine.len() > MAX_OBJECTS {
            return Err(format!("{kfile}: more than {MAX_OBJECTS} objects"));
        }
    }
    mine.extend(generate(files, dir, &kfile, k)?);
    if let Some(ns) = k.get("namespace") {
        let ns = ns
            .as_str()
            .ok_or_else(|| format!("{kfile}: namespace must be a string"))?;
        for b in &mut mine {
            let kind = b.object["kind"].as_str().unwrap_or_default();
            if !CLUSTER_SCOPED.contains(&kind) {
                b.object["metadata"]["namespace"] = json!(ns);
            }
        }
    }
    for b in mine {
        let id = res_id(&b.object);
        if out.iter().any(|o| res_id(&o.object) == id) {
            return Err(format!(
                "{kfile}: may not add resource with an already registered id: {id}"
            ));
        }
        out.push(b);
    }
    Ok(())
}

/// kustomize's resource id text: `Kind.version.group/name.namespace`.
fn res_id(o: &Value) -> String {
    let api = o["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = match api.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("[noGrp]", api),
    };
    let ns = o
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("[noNs]");
    format!(
        "{}.{version}.{group}/{}.{ns}",
        o["kind"].as_str().unwrap_or_default(),
        o.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    )
}

fn utf8(path: &str, bytes: Vec<u8>) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{path}: not UTF-8 text"))
}

fn yaml_value(text: &str) -> Result<Value, String> {
    let y: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| e.to_string())?;
    serde_json::to_value(y).map_err(|e| e.to_string())
}

/// The documents of a multi-document YAML file; empty ones are skipped.
fn documents(path: &str, text: &str) -> Result<Vec<Built>, String> {
    let mut out = vec![];
    for (i, doc) in split_documents(text).into_iter().enumerate() {
        let v = yaml_value(&doc).map_err(|e| format!("{path}: document {}: {e}", i + 1))?;
        if v.is_null() {
            continue;
        }
        let ok = v.is_object()
            && v["apiVersion"].is_string()
            && v["kind"].is_string()
            && v.pointer("/metadata/name").is_some_and(Value::is_string);
        if !ok {
            return Err(format!(
                "{path}: document {}: missing apiVersion, kind or metadata.name",
                i + 1
            ));
        }
        let sops_text = v.get("sops").is_some().then(|| doc.clone());
        out.push(Built {
            object: v,
            sops_text,
        });
    }
    Ok(out)
}

fn split_documents(text: &str) -> Vec<String> {
    let mut docs = vec![String::new()];
    for line in text.lines() {
        if line == "---" || line.starts_with("--- ") || line.starts_with("---\t") {
            docs.push(String::new());
            continue;
        }
        if let Some(d) = docs.last_mut() {
            d.push_str(line);
            d.push('\n');
        }
    }
    docs
}

fn strings(v: Option<&Value>, kfile: &str, field: &str) -> Result<Vec<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{kfile}: {field} must be a list of strings"))
            })
            .collect(),
        Some(_) => Err(format!("{kfile}: {field} must be a list of strings")),
    }
}

fn string_map(v: Option<&Value>, kfile: &str, field: &str) -> Result<Map<String, Value>, String> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
        Some(_) => Err(format!("{kfile}: {field} must map strings to strings")),
    }
}

/// ConfigMaps of `configMapGenerator`.
fn generate(
    files: &dyn Files,
    dir: &str,
    kfile: &str,
    k: &Map<String, Value>,
) -> Result<Vec<Built>, String> {
    let Some(gens) = k.get("configMapGenerator") else {
        return Ok(vec![]);
    };
    let opts = k.get("generatorOptions").cloned().unwrap_or(json!({}));
    if let Some(f) = opts.as_object().and_then(|o| {
        o.keys()
            .find(|f| !["disableNameSuffixHash", "labels", "annotations"].contains(&f.as_str()))
    }) {
        return Err(format!(
            "{kfile}: generatorOptions.{f} is not supported by the simulator's kustomize subset"
        ));
    }
    let gens = gens
        .as_array()
        .ok_or_else(|| format!("{kfile}: configMapGenerator must be a list"))?;
    let mut out = vec![];
    for g in gens {
        let name = g["name"]
            .as_str()
            .ok_or_else(|| format!("{kfile}: configMapGenerator entry without a name"))?;
        if let Some(f) = g.as_object().and_then(|o| {
            o.keys().find(|f| {
                ![
                    "name",
                    "namespace",
                    "files",
                    "literals",
                    "options",
                    "behavior",
                ]
                .contains(&f.as_str())
            })
        }) {
            return Err(format!(
                "{kfile}: configMapGenerator '{name}': field '{f}' is not supported by the simulator's kustomize subset"
            ));
        }
        if g.get("behavior").is_some_and(|b| b != "create") {
            return Err(format!(
                "{kfile}: configMapGenerator '{name}': only behavior 'create' is supported by the simulator's kustomize subset"
            ));
        }
        let own = g.get("options").cloned().unwrap_or(json!({}));
        let no_hash = own["disableNameSuffixHash"]
            .as_bool()
            .or(opts["disableNameSuffixHash"].as_bool())
            .unwrap_or(false);
        if !no_hash {
            return Err(format!(
                "{kfile}: configMapGenerator '{name}': name suffix hashes are not computed by the simulator's kustomize subset; set generatorOptions.disableNameSuffixHash: true"
            ));
        }
        let mut data = Map::new();
        for f in strings(g.get("files"), kfile, "configMapGenerator.files")? {
            let (key, rel) = match f.split_once('=') {
                Some((k, p)) => (k.to_string(), p.to_string()),
                None => (f.rsplit('/').next().unwrap_or(&f).to_string(), f.clone()),
            };
            let path = normalize(dir, &rel).ok_or_else(|| {
                format!("{kfile}: security; file '{rel}' is not in or below the source root")
            })?;
            let text = utf8(&path, files.read(&path)?)?;
            if data.insert(key.clone(), json!(text)).is_some() {
                return Err(format!(
                    "{kfile}: configMapGenerator '{name}': cannot add key {key}, another key by that name already exists"
                ));
            }
        }
        for l in strings(g.get("literals"), kfile, "configMapGenerator.literals")? {
            let (key, value) = l.split_once('=').ok_or_else(|| {
                format!("{kfile}: configMapGenerator '{name}': literal '{l}' is not KEY=VALUE")
            })?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            data.insert(key.to_string(), json!(value));
        }
        let mut labels = string_map(opts.get("labels"), kfile, "generatorOptions.labels")?;
        labels.extend(string_map(own.get("labels"), kfile, "options.labels")?);
        let mut annotations = string_map(
            opts.get("annotations"),
            kfile,
            "generatorOptions.annotations",
        )?;
        annotations.extend(string_map(
            own.get("annotations"),
            kfile,
            "options.annotations",
        )?);
        let mut metadata = json!({"name": name});
        if let Some(ns) = g["namespace"].as_str() {
            metadata["namespace"] = json!(ns);
        }
        if !labels.is_empty() {
            metadata["labels"] = Value::Object(labels);
        }
        if !annotations.is_empty() {
            metadata["annotations"] = Value::Object(annotations);
        }
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata});
        if !data.is_empty() {
            cm["data"] = Value::Object(data);
        }
        out.push(Built {
            object: cm,
            sops_text: None,
        });
    }
    Ok(out)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// `rel` resolved against `dir` (`.` and `..` applied); None when it leaves the root.
fn normalize(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        vec![]
    } else {
        dir.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (p, text) in files {
            let path = dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: x\n";

    #[test]
    fn resources_folders_generators_and_namespace() {
        let t = tree(&[
            (
                "k/kustomization.yaml",
                "resources:\n  - sub\n  - cm.yaml\nnamespace: z\nconfigMapGenerator:\n  - name: gen\n    files: [d/one.json, two=d/one.json]\n    literals: [k=v]\n    options:\n      labels: {l: \"1\"}\ngeneratorOptions:\n  disableNameSuffixHash: true\n  annotations: {a: b}\n",
            ),
            ("k/cm.yaml", CM),
            ("k/d/one.json", "{}\n"),
            ("k/sub/kustomization.yaml", "resources: [ns.yaml]\n"),
            (
                "k/sub/ns.yaml",
                "---\n# only a comment\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: z\n",
            ),
        ]);
        let out = build(&Dir(t.path().into()), "./k").unwrap();
        let objs: Vec<&Value> = out.iter().map(|b| &b.object).collect();
        assert_eq!(objs.len(), 3, "{objs:?}");
        assert_eq!(objs[0]["kind"], "Namespace");
        assert!(objs[0].pointer("/metadata/namespace").is_none());
        assert_eq!(objs[1]["metadata"]["namespace"], "z");
        assert_eq!(
            objs[2],
            &json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "gen", "namespace": "z",
                "labels": {"l": "1"}, "annotations": {"a": "b"}},
                "data": {"one.json": "{}\n", "two": "{}\n", "k": "v"}})
        );
    }

    #[test]
    fn refuses_what_it_does_not_build() {
        let t = tree(&[
            (
                "p/kustomization.yaml",
                "resources: [cm.yaml]\npatches:\n  - path: x.yaml\n",
            ),
            ("p/cm.yaml", CM),
            (
                "h/kustomization.yaml",
                "configMapGenerator:\n  - name: g\n    literals: [a=b]\n",
            ),
            ("u/kustomization.yaml", "resources: [../../etc]\n"),
            ("d/kustomization.yaml", "resources: [cm.yaml, cm2.yaml]\n"),
            ("d/cm.yaml", CM),
            ("d/cm2.yaml", CM),
            (
                "r/kustomization.yaml",
                "resources: [https://github.com/x/y]\n",
            ),
        ]);
        let files = Dir(t.path().into());
        let err = |d: &str| build(&files, d).unwrap_err();
        assert!(
            err("p").contains("field 'patches' is not supported"),
            "{}",
            err("p")
        );
        assert!(err("h").contains("disableNameSuffixHash"), "{}", err("h"));
        assert!(err("u").contains("not in or below"), "{}", err("u"));
        assert!(
            err("d").contains("already registered id: ConfigMap.v1.[noGrp]/a.x"),
            "{}",
            err("d")
        );
        assert!(err("r").contains("remote resource"), "{}", err("r"));
        assert!(
            err("none").contains("unable to find one of"),
            "{}",
            err("none")
        );
    }

    #[test]
    fn keeps_the_text_of_sops_documents() {
        let t = tree(&[
            ("s/kustomization.yaml", "resources: [s.yaml]\n"),
            (
                "s/s.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: ENC[x]\nsops:\n  version: 3.9.0\n",
            ),
        ]);
        let out = build(&Dir(t.path().into()), "s").unwrap();
        assert!(out[0].sops_text.as_deref().unwrap().contains("ENC[x]"));
    }
}
