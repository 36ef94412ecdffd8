//! The GitOps tree model: every file `homelab check` looks at, read once, YAML documents split
//! and parsed with their line numbers so rules can point at `file:line`.
//!
//! Scope: the repository's top-level entries (names only), every YAML file under `cluster/` and
//! `config/`, every shell script under `cluster/`, `config/` and `infrastructure/`, and the SOPS
//! env files in `config/env/`, the JSON files under `cluster/` (Grafana dashboards), and the
//! names (only) of the files under `docs/` and `ai/` (the memo's skeleton requires some of them).
//! `target/` and `.git/` are never read.

use serde_yaml::Value;
use std::fmt;
use std::path::{Path, PathBuf};

/// Folders whose YAML is part of the homelab (the Flux tree and the cluster definitions).
const YAML_ROOTS: &[&str] = &["cluster", "config"];
/// Folders whose shell scripts are checked (swap rules).
const SCRIPT_ROOTS: &[&str] = &["cluster", "config", "infrastructure"];
/// Folders whose files are listed by name only, never read (the memo's skeleton names files there).
const LISTED_ROOTS: &[&str] = &["docs", "ai"];
/// Never descended into.
const SKIP_DIRS: &[&str] = &[".git", "target"];

/// A failure to read the tree at all (as opposed to a rule violation inside it).
#[derive(Debug)]
pub struct TreeError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.source)
    }
}

impl std::error::Error for TreeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// 1-based line of the document's first line (after a `---` separator).
    pub start_line: u32,
    /// The document's own lines, `start_line` is `lines[0]`.
    pub lines: Vec<String>,
    /// Parsed value; `None` for an empty document or a parse error.
    pub value: Option<Value>,
    /// Parse error: message and 1-based absolute line.
    pub error: Option<(String, u32)>,
}

impl Doc {
    pub fn kind(&self) -> Option<&str> {
        self.value.as_ref()?.get("kind")?.as_str()
    }
    pub fn api_version(&self) -> Option<&str> {
        self.value.as_ref()?.get("apiVersion")?.as_str()
    }
    pub fn name(&self) -> Option<&str> {
        self.value.as_ref()?.get("metadata")?.get("name")?.as_str()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value
            .as_ref()?
            .get("metadata")?
            .get("namespace")?
            .as_str()
    }
    /// `kind` with the API group, e.g. `("kustomize.toolkit.fluxcd.io", "Kustomization")`.
    pub fn is(&self, group_prefix: &str, kind: &str) -> bool {
        self.kind() == Some(kind)
            && self
                .api_version()
                .is_some_and(|a| a.starts_with(group_prefix))
    }
    /// Follow `path` (mapping keys) from the document root.
    pub fn get(&self, path: &[&str]) -> Option<&Value> {
        let mut v = self.value.as_ref()?;
        for k in path {
            v = v.get(*k)?;
        }
        Some(v)
    }
    pub fn get_str(&self, path: &[&str]) -> Option<&str> {
        self.get(path)?.as_str()
    }

    /// First non-comment line containing `text` (for list items and embedded text, which
    /// [`locate`] does not see as keys). Falls back to the document start.
    pub fn line_containing(&self, text: &str) -> u32 {
        self.lines
            .iter()
            .position(|l| l.contains(text) && !l.trim_start().starts_with('#'))
            .map(|i| self.start_line + i as u32)
            .unwrap_or(self.start_line)
    }

    /// Line of the value (or, for a nested block, the key) at `path` - `spec.rules[0].name`
    /// syntax, as [`crate::config::locate::locate`] reads it - or of its nearest ancestor that
    /// exists. Falls back to the document start.
    pub fn line_at(&self, path: &str) -> u32 {
        crate::config::locate::locate(&self.lines.join("\n"), path)
            .map(|(line, _)| self.start_line + line as u32 - 1)
            .unwrap_or(self.start_line)
    }
}

/// A YAML file, split into documents.
#[derive(Debug, Clone)]
pub struct YamlFile {
    /// Path relative to the repository root, `/`-separated.
    pub rel: String,
    pub docs: Vec<Doc>,
}

impl YamlFile {
    /// Split and parse `text` (multi-document YAML).
    pub fn parse(rel: String, text: &str) -> Self {
        let mut docs = Vec::new();
        let mut cur: Vec<String> = Vec::new();
        let mut start = 1u32;
        for (i, line) in text.lines().enumerate() {
            let lno = i as u32 + 1;
            if is_separator(line) {
                if cur.iter().any(|l| !l.trim().is_empty()) {
                    docs.push(parse_doc(start, std::mem::take(&mut cur)));
                }
                cur.clear();
                start = lno + 1;
                continue;
            }
            cur.push(line.to_string());
        }
        if cur.iter().any(|l| !l.trim().is_empty()) {
            docs.push(parse_doc(start, cur));
        }
        YamlFile { rel, docs }
    }

    /// Documents that parsed to a value.
    pub fn values(&self) -> impl Iterator<Item = &Doc> {
        self.docs.iter().filter(|d| d.value.is_some())
    }
}

fn is_separator(line: &str) -> bool {
    let t = line.trim_end();
    t == "---" || t == "..." || t.starts_with("--- ") || t.starts_with("---\t")
}

fn parse_doc(start_line: u32, lines: Vec<String>) -> Doc {
    let text = lines.join("\n");
    let only_comments = lines.iter().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    });
    if only_comments {
        return Doc {
            start_line,
            lines,
            value: None,
            error: None,
        };
    }
    match serde_yaml::from_str::<Value>(&text) {
        Ok(Value::Null) => Doc {
            start_line,
            lines,
            value: None,
            error: None,
        },
        Ok(v) => Doc {
            start_line,
            lines,
            value: Some(v),
            error: None,
        },
        Err(e) => {
            let line = e.location().map(|l| l.line() as u32).unwrap_or(1);
            let msg = absolute_lines(&e.to_string(), start_line);
            Doc {
                start_line,
                lines,
                value: None,
                error: Some((msg, start_line + line - 1)),
            }
        }
    }
}

/// serde_yaml reports lines relative to the document; say them relative to the file.
fn absolute_lines(msg: &str, start_line: u32) -> String {
    static LINE: std::sync::LazyLock<Option<regex::Regex>> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"line (\d+)").ok());
    let Some(re) = LINE.as_ref() else {
        return msg.to_string();
    };
    re.replace_all(msg, |c: &regex::Captures| {
        let n: u32 = c[1].parse().unwrap_or(1);
        format!("line {}", n + start_line - 1)
    })
    .into_owned()
}

/// A text file checked line by line (shell scripts, env files).
#[derive(Debug, Clone)]
pub struct TextFile {
    pub rel: String,
    pub text: String,
}

/// Everything `homelab check` reads.
#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub root: PathBuf,
    /// Names of the top-level entries (files and folders), sorted.
    pub top_level: Vec<String>,
    pub yaml: Vec<YamlFile>,
    pub scripts: Vec<TextFile>,
    pub env_files: Vec<TextFile>,
    /// `SECRETS.md` files next to workloads (which secrets they reference, with their keys).
    pub secret_docs: Vec<TextFile>,
    /// JSON files under `cluster/` (Grafana dashboards the kustomizations turn into ConfigMaps).
    pub json: Vec<TextFile>,
    /// Every file path (relative, `/`-separated) under the scanned roots, for existence checks.
    pub files: std::collections::BTreeSet<String>,
    /// Every directory path (relative) under the scanned roots.
    pub dirs: std::collections::BTreeSet<String>,
}

impl Tree {
    /// Read the repository at `root`.
    pub fn load(root: &Path) -> Result<Tree, TreeError> {
        let mut tree = Tree {
            root: root.to_path_buf(),
            ..Tree::default()
        };
        let entries = read_dir_sorted(root)?;
        for (name, is_dir) in &entries {
            if name == ".git" || name == "target" {
                continue;
            }
            tree.top_level.push(name.clone());
            let scanned = YAML_ROOTS.contains(&name.as_str())
                || SCRIPT_ROOTS.contains(&name.as_str())
                || LISTED_ROOTS.contains(&name.as_str());
            if *is_dir && scanned {
                tree.dirs.insert(name.clone());
                tree.walk(&root.join(name), name)?;
            }
        }
        Ok(tree)
    }

    fn walk(&mut self, dir: &Path, rel: &str) -> Result<(), TreeError> {
        for (name, is_dir) in read_dir_sorted(dir)? {
            if SKIP_DIRS.contains(&name.as_str()) {
                continue;
            }
            let path = dir.join(&name);
            let child = format!("{rel}/{name}");
            if is_dir {
                self.dirs.insert(child.clone());
                self.walk(&path, &child)?;
                continue;
            }
            self.files.insert(child.clone());
            let top = rel.split('/').next().unwrap_or("");
            let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
            if is_yaml && YAML_ROOTS.contains(&top) {
                let text = read_text(&self.root, &path)?;
                self.yaml.push(YamlFile::parse(child, &text));
            } else if name.ends_with(".sh") && SCRIPT_ROOTS.contains(&top) {
                let text = read_text(&self.root, &path)?;
                self.scripts.push(TextFile { rel: child, text });
            } else if name.ends_with(".env") && rel == "config/env" {
                let text = read_text(&self.root, &path)?;
                self.env_files.push(TextFile { rel: child, text });
            } else if name == "SECRETS.md" && top == "cluster" {
                let text = read_text(&self.root, &path)?;
                self.secret_docs.push(TextFile { rel: child, text });
            } else if name.ends_with(".json") && top == "cluster" {
                let text = read_text(&self.root, &path)?;
                self.json.push(TextFile { rel: child, text });
            }
        }
        Ok(())
    }

    /// Every parsed document with its file.
    pub fn docs(&self) -> impl Iterator<Item = (&YamlFile, &Doc)> {
        self.yaml
            .iter()
            .flat_map(|f| f.values().map(move |d| (f, d)))
    }

    /// Whether a relative path (file or directory) exists in the scanned tree.
    pub fn exists(&self, rel: &str) -> bool {
        self.files.contains(rel) || self.dirs.contains(rel)
    }
}

/// A file under `root`, read only if it is a regular file inside the repository
/// ([`super::file_read`]).
fn read_text(root: &Path, path: &Path) -> Result<String, TreeError> {
    let bytes = super::file_read::read_regular(root, path).map_err(|source| TreeError {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<(String, bool)>, TreeError> {
    let err = |source| TreeError {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let is_dir = entry.file_type().map_err(err)?.is_dir();
        out.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
    }
    out.sort();
    Ok(out)
}

/// Normalise a repository-relative path: drop `./`, resolve `..`, use `/`.
pub fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// Parent directory of a relative file path (`""` for a top-level file).
pub fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map(|(d, _)| d).unwrap_or("")
}

/// Where a node is inside a document: mapping keys and sequence indices from the root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

impl YamlPath {
    pub fn new(keys: &[&str]) -> Self {
        YamlPath(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
    }
    /// The innermost mapping key (skipping sequence indices).
    pub fn last_key(&self) -> Option<&str> {
        self.0.iter().rev().find_map(|s| match s {
            Seg::Key(k) => Some(k.as_str()),
            Seg::Index(_) => None,
        })
    }
    /// This path with `key` appended.
    pub fn join(&self, key: &str) -> YamlPath {
        let mut p = self.clone();
        p.0.push(Seg::Key(key.to_string()));
        p
    }
    /// Keys only, from the root, `.`-joined (for messages: `values.service.type`).
    pub fn keys_after(&self, skip: usize) -> String {
        self.0
            .iter()
            .filter_map(|s| match s {
                Seg::Key(k) => Some(k.as_str()),
                Seg::Index(_) => None,
            })
            .skip(skip)
            .collect::<Vec<_>>()
            .join(".")
    }
}

impl std::fmt::Display for YamlPath {
    /// `spec.template.spec.containers[1].image`, the syntax [`Doc::line_at`] takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Visit every node of `value` with its path from `path` on.
pub fn walk<'a>(value: &'a Value, path: &mut YamlPath, f: &mut dyn FnMut(&YamlPath, &'a Value)) {
    f(path, value);
    match value {
        Value::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other)
                        .unwrap_or_default()
                        .trim()
                        .to_string(),
                };
                path.0.push(Seg::Key(key));
                walk(v, path, f);
                path.0.pop();
            }
        }
        Value::Sequence(s) => {
            for (i, v) in s.iter().enumerate() {
                path.0.push(Seg::Index(i));
                walk(v, path, f);
                path.0.pop();
            }
        }
        Value::Tagged(t) => walk(&t.value, path, f),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A committed symlink to a device is reported, not read (file_read has the other cases).
    #[test]
    fn load_refuses_a_symlink_to_a_device() {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("config/clusters")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", repo.path().join("config/clusters/x.yaml"))
            .unwrap();
        let e = Tree::load(repo.path()).unwrap_err().to_string();
        assert!(e.contains("config/clusters/x.yaml"), "{e}");
        assert!(e.contains("outside the repository"), "{e}");
    }

    #[test]
    fn splits_documents_with_lines() {
        let f = YamlFile::parse("a.yaml".into(), "# c\na: 1\n---\nb: 2\nc: [\n---\n\n");
        assert_eq!(f.docs.len(), 2);
        assert_eq!(f.docs[0].start_line, 1);
        assert_eq!(f.docs[1].start_line, 4);
        let (msg, line) = f.docs[1].error.clone().expect("parse error");
        assert!(line >= 5, "{msg} at {line}");
        assert!(
            msg.contains(&format!("line {line}")),
            "message uses file lines: {msg}"
        );
    }

    #[test]
    fn paths_locate_through_sequences_and_skip_block_scalars() {
        let text = "kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: a\n          image: x:1\n        - name: b\n          image: y\n";
        let f = YamlFile::parse("d.yaml".into(), &format!("a: 1\n---\n{text}"));
        let d = &f.docs[1];
        let mut found = Vec::new();
        walk(
            d.value.as_ref().expect("parsed"),
            &mut YamlPath::default(),
            &mut |p, v| {
                if p.last_key() == Some("image") {
                    found.push((
                        p.to_string(),
                        d.line_at(&p.to_string()),
                        v.as_str().unwrap_or("").to_string(),
                    ));
                }
            },
        );
        assert_eq!(
            found,
            vec![
                (
                    "spec.template.spec.containers[0].image".into(),
                    9,
                    "x:1".into()
                ),
                (
                    "spec.template.spec.containers[1].image".into(),
                    11,
                    "y".into()
                ),
            ]
        );
        let cm = YamlFile::parse(
            "c.yaml".into(),
            "data:\n  config.yaml: |\n    kind: Ingress\nkind: ConfigMap\n",
        );
        assert_eq!(cm.docs[0].line_at("kind"), 4);
    }

    #[test]
    fn normalizes_paths() {
        assert_eq!(normalize("./cluster/kubernetes/../x/"), "cluster/x");
        assert_eq!(parent("a/b/c.yaml"), "a/b");
    }
}
