//! The document tree every store (dotenv, YAML, JSON) loads into, the same shape sops uses:
//! ordered mappings whose entries are key/value pairs or comments, lists whose items may be
//! comments, and typed scalars. Leaves hold ciphertext (`ENC[...]` strings) or plaintext,
//! depending on which side of encryption the tree is.
//!
//! Plaintext lives here, so every string is zeroized when the tree is dropped.

use zeroize::Zeroize;

/// A leaf value with the type sops records in `type:` (docs/reference/sops.md §1).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// RFC 3339 text, as YAML timestamps are emitted.
    Time(String),
    Bytes(Vec<u8>),
}

impl Scalar {
    /// The bytes sops encrypts and feeds into the MAC for this value (`ToBytes`).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Scalar::Null => Vec::new(),
            Scalar::Str(s) => s.as_bytes().to_vec(),
            Scalar::Int(i) => i.to_string().into_bytes(),
            Scalar::Float(f) => crate::secrets::numfmt::go_format_f(*f).into_bytes(),
            Scalar::Bool(true) => b"True".to_vec(),
            Scalar::Bool(false) => b"False".to_vec(),
            Scalar::Time(t) => crate::secrets::numfmt::rfc3339_without_fraction(t).into_bytes(),
            Scalar::Bytes(b) => b.clone(),
        }
    }

    /// The `type:` tag of an encrypted value.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null | Scalar::Str(_) => "str",
            Scalar::Int(_) => "int",
            Scalar::Float(_) => "float",
            Scalar::Bool(_) => "bool",
            Scalar::Time(_) => "time",
            Scalar::Bytes(_) => "bytes",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Scalar::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Human text of the value, as `homelab env get` prints it.
    pub fn display_text(&self) -> String {
        match self {
            Scalar::Null => String::new(),
            Scalar::Str(s) => s.clone(),
            Scalar::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Scalar::Bool(b) => b.to_string(),
            other => String::from_utf8_lossy(&other.to_bytes()).into_owned(),
        }
    }
}

impl Zeroize for Scalar {
    fn zeroize(&mut self) {
        match self {
            Scalar::Str(s) | Scalar::Time(s) => s.zeroize(),
            Scalar::Bytes(b) => b.zeroize(),
            Scalar::Int(i) => i.zeroize(),
            Scalar::Float(f) => f.zeroize(),
            Scalar::Bool(b) => b.zeroize(),
            Scalar::Null => {}
        }
    }
}

/// How deeply mappings and lists may nest in a file the parsers read (YAML block and flow,
/// JSON). sops files are shallow key/value trees; the limit keeps a hostile file (4,000 `[`)
/// from overflowing the stack of the recursive parser, walker, writer and drop.
pub const MAX_NESTING: usize = 100;

/// The parse error message for [`MAX_NESTING`].
pub fn too_deep_message() -> String {
    format!(
        "mappings and lists nest deeper than {MAX_NESTING} levels; a sops file is a shallow key/value tree (is this the right file?)"
    )
}

/// A value in the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(Scalar),
    Map(Vec<Entry>),
    List(Vec<Node>),
    /// A comment inside a list (comments inside mappings are [`Entry::Comment`]).
    Comment(String),
}

/// One item of a mapping.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Comment(String),
    Pair(String, Node),
}

impl Entry {
    pub fn pair(key: impl Into<String>, value: impl Into<String>) -> Entry {
        Entry::Pair(key.into(), Node::Scalar(Scalar::Str(value.into())))
    }
}

impl Zeroize for Node {
    fn zeroize(&mut self) {
        match self {
            Node::Scalar(s) => s.zeroize(),
            Node::Map(entries) => entries.iter_mut().for_each(Zeroize::zeroize),
            Node::List(items) => items.iter_mut().for_each(Zeroize::zeroize),
            Node::Comment(c) => c.zeroize(),
        }
    }
}

impl Zeroize for Entry {
    fn zeroize(&mut self) {
        match self {
            Entry::Comment(c) => c.zeroize(),
            Entry::Pair(k, v) => {
                k.zeroize();
                v.zeroize();
            }
        }
    }
}

/// The documents of a file (dotenv and JSON have one; YAML may have several), each a
/// top-level mapping. Zeroized on drop.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Branches(pub Vec<Vec<Entry>>);

impl Drop for Branches {
    fn drop(&mut self) {
        for branch in &mut self.0 {
            branch.iter_mut().for_each(Zeroize::zeroize);
        }
    }
}

/// What the walker hands to the leaf callback.
pub enum Leaf<'a> {
    /// A scalar value (or a list comment stored as an `ENC[...type:comment]` string).
    Value(&'a mut Node),
    /// A comment that is a mapping entry.
    MapComment(&'a mut String),
}

/// Context of a leaf: the mapping keys from the root, and the comments seen since the last
/// non-comment item at each nesting level (sops' comment stack).
pub struct LeafCx<'p> {
    pub path: &'p [String],
    pub comments: &'p [Vec<String>],
}

/// Walk every leaf of a branch in document order, as sops' walkBranch/walkSlice do.
pub fn walk_branch<E>(
    entries: &mut [Entry],
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    f: &mut dyn FnMut(Leaf<'_>, &LeafCx<'_>) -> Result<(), E>,
) -> Result<(), E> {
    stack.push(Vec::new());
    for entry in entries.iter_mut() {
        match entry {
            Entry::Comment(c) => {
                let text = c.clone();
                if let Some(top) = stack.last_mut() {
                    top.push(text);
                }
                let cx = LeafCx {
                    path,
                    comments: stack,
                };
                f(Leaf::MapComment(c), &cx)?;
            }
            Entry::Pair(key, value) => {
                path.push(key.clone());
                walk_node(value, path, stack, f)?;
                path.pop();
                if let Some(top) = stack.last_mut() {
                    top.clear();
                }
            }
        }
    }
    stack.pop();
    Ok(())
}

fn walk_node<E>(
    node: &mut Node,
    path: &mut Vec<String>,
    stack: &mut Vec<Vec<String>>,
    f: &mut dyn FnMut(Leaf<'_>, &LeafCx<'_>) -> Result<(), E>,
) -> Result<(), E> {
    match node {
        Node::Map(entries) => walk_branch(entries, path, stack, f),
        Node::List(items) => {
            stack.push(Vec::new());
            for item in items.iter_mut() {
                let is_comment = if let Node::Comment(c) = item {
                    let text = c.clone();
                    if let Some(top) = stack.last_mut() {
                        top.push(text);
                    }
                    true
                } else {
                    false
                };
                walk_node(item, path, stack, f)?;
                if !is_comment && let Some(top) = stack.last_mut() {
                    top.clear();
                }
            }
            stack.pop();
            Ok(())
        }
        Node::Scalar(Scalar::Null) => Ok(()),
        Node::Scalar(_) | Node::Comment(_) => {
            let cx = LeafCx {
                path,
                comments: stack,
            };
            f(Leaf::Value(node), &cx)
        }
    }
}

/// Find the first top-level pair with this key in a branch.
pub fn find<'a>(entries: &'a [Entry], key: &str) -> Option<&'a Node> {
    entries.iter().find_map(|e| match e {
        Entry::Pair(k, v) if k == key => Some(v),
        _ => None,
    })
}

/// Follow a path of mapping keys (list indices as decimal numbers) from a branch.
pub fn lookup<'a>(entries: &'a [Entry], path: &[PathStep]) -> Option<&'a Node> {
    let (first, rest) = path.split_first()?;
    let PathStep::Key(k) = first else { return None };
    let mut node = find(entries, k)?;
    for step in rest {
        node = match (step, node) {
            (PathStep::Key(k), Node::Map(entries)) => find(entries, k)?,
            (PathStep::Index(i), Node::List(items)) => items
                .iter()
                .filter(|n| !matches!(n, Node::Comment(_)))
                .nth(*i)?,
            _ => return None,
        };
    }
    Some(node)
}

/// One step of a value path: `["a"]["b"][0]` in sops' syntax, or a bare top-level key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Parse `KEY` or sops' `["a"]["b"][0]` path syntax.
pub fn parse_path(text: &str) -> Result<Vec<PathStep>, String> {
    if !text.starts_with('[') {
        return Ok(vec![PathStep::Key(text.to_string())]);
    }
    let mut steps = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let Some(inner) = rest.strip_prefix('[') else {
            return Err(format!("expected `[` at `{rest}` in path {text}"));
        };
        let Some(end) = find_closing(inner) else {
            return Err(format!("missing `]` in path {text}"));
        };
        let part = &inner[..end];
        rest = &inner[end + 1..];
        if let Some(quoted) = part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
            steps.push(PathStep::Key(quoted.replace("\\\"", "\"")));
        } else if let Some(quoted) = part.strip_prefix('\'').and_then(|p| p.strip_suffix('\'')) {
            steps.push(PathStep::Key(quoted.to_string()));
        } else {
            let index = part.parse::<usize>().map_err(|_| {
                format!("`{part}` in path {text} is neither a quoted key nor a list index")
            })?;
            steps.push(PathStep::Index(index));
        }
    }
    Ok(steps)
}

fn find_closing(s: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                ']' => return Some(i),
                _ => {}
            },
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walk_visits_leaves_with_sops_paths_and_comment_stack() {
        let mut entries = vec![
            Entry::Comment(" top".into()),
            Entry::Pair(
                "app".into(),
                Node::Map(vec![
                    Entry::Comment(" inner".into()),
                    Entry::pair("name", "demo"),
                    Entry::Pair(
                        "tags".into(),
                        Node::List(vec![
                            Node::Scalar(Scalar::Str("a".into())),
                            Node::Comment(" c".into()),
                            Node::Scalar(Scalar::Null),
                        ]),
                    ),
                ]),
            ),
        ];
        let mut seen = Vec::new();
        walk_branch::<()>(
            &mut entries,
            &mut Vec::new(),
            &mut Vec::new(),
            &mut |leaf, cx| {
                let what = match leaf {
                    Leaf::Value(Node::Scalar(s)) => format!("{s:?}"),
                    Leaf::Value(Node::Comment(c)) => format!("listcomment {c}"),
                    Leaf::Value(_) => "other".into(),
                    Leaf::MapComment(c) => format!("comment {c}"),
                };
                let stack: Vec<usize> = cx.comments.iter().map(Vec::len).collect();
                seen.push(format!("{}: {what} {stack:?}", cx.path.join(":")));
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(
            seen,
            vec![
                ": comment  top [1]",
                "app: comment  inner [1, 1]",
                "app:name: Str(\"demo\") [1, 1]",
                "app:tags: Str(\"a\") [1, 0, 0]",
                "app:tags: listcomment  c [1, 0, 1]",
            ]
        );
    }

    #[test]
    fn paths_parse_in_sops_syntax() {
        assert_eq!(
            parse_path("DB_HOST").unwrap(),
            vec![PathStep::Key("DB_HOST".into())]
        );
        assert_eq!(
            parse_path(r#"["a"]["b]"][2]"#).unwrap(),
            vec![
                PathStep::Key("a".into()),
                PathStep::Key("b]".into()),
                PathStep::Index(2)
            ]
        );
        assert!(parse_path(r#"["a""#).is_err());
        assert!(parse_path("[x]").is_err());
    }
}
