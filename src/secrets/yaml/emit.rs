//! Writes a tree the way sops' yaml store does through go-yaml v3 with indent 4: sequences
//! indented under their key, compact `- key: value` items, literal block scalars for multi-line
//! strings, comments as `#text` lines at the indentation of their collection.

use super::scalar::{Style, quote, string_style};
use crate::secrets::numfmt::yaml_float;
use crate::secrets::tree::{Entry, Node, Scalar};

const BEST_INDENT: usize = 4;

/// Indentation of a collection nested under a mapping key at `indent` (go-yaml v3 rounds up to
/// the next multiple of the indent width).
fn child_indent(indent: usize) -> usize {
    BEST_INDENT * ((indent + BEST_INDENT) / BEST_INDENT)
}

/// Emit several documents, separated by `---` as go-yaml's Encoder does.
pub fn emit(branches: &[&[Entry]]) -> String {
    let mut e = Emitter {
        out: String::new(),
        inline: false,
    };
    for (i, entries) in branches.iter().enumerate() {
        if i > 0 {
            e.out.push_str("---\n");
        }
        if entries.iter().all(|x| matches!(x, Entry::Comment(_))) && !entries.is_empty() {
            for x in entries.iter() {
                if let Entry::Comment(c) = x {
                    e.comment(c, 0);
                }
            }
            e.out.push_str("{}\n");
        } else if entries.is_empty() {
            e.out.push_str("{}\n");
        } else {
            e.map(entries, 0);
        }
    }
    e.out
}

struct Emitter {
    out: String,
    /// The next line continues after `- ` (no indentation to write).
    inline: bool,
}

impl Emitter {
    fn start_line(&mut self, indent: usize) {
        if self.inline {
            self.inline = false;
        } else {
            for _ in 0..indent {
                self.out.push(' ');
            }
        }
    }

    fn comment(&mut self, text: &str, indent: usize) {
        self.start_line(indent);
        self.out.push('#');
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn map(&mut self, entries: &[Entry], indent: usize) {
        for entry in entries {
            match entry {
                Entry::Comment(c) => self.comment(c, indent),
                Entry::Pair(key, value) => {
                    self.start_line(indent);
                    let style = string_style(key, true);
                    self.out.push_str(&quote(key, style));
                    self.out.push(':');
                    self.value(value, indent, child_indent(indent));
                }
            }
        }
    }

    /// A value after `key:` (or `-`); `nested` is the indentation for block content under it.
    fn value(&mut self, value: &Node, parent: usize, nested: usize) {
        match value {
            Node::Map(entries) if has_pairs(entries) => {
                self.out.push('\n');
                self.map(entries, nested);
            }
            Node::Map(entries) => {
                self.out.push_str(" {}\n");
                for e in entries {
                    if let Entry::Comment(c) = e {
                        self.comment(c, nested);
                    }
                }
            }
            Node::List(items) if items.iter().any(|i| !matches!(i, Node::Comment(_))) => {
                self.out.push('\n');
                self.seq(items, nested, false);
            }
            Node::List(items) => {
                self.out.push_str(" []\n");
                for i in items {
                    if let Node::Comment(c) = i {
                        self.comment(c, nested);
                    }
                }
            }
            Node::Comment(c) => {
                // Only reachable for list items; written by `seq`.
                self.out.push_str(" #");
                self.out.push_str(c);
                self.out.push('\n');
            }
            Node::Scalar(s) => self.scalar(s, parent, nested),
        }
    }

    fn scalar(&mut self, s: &Scalar, parent: usize, block_indent: usize) {
        let text = match s {
            Scalar::Null => "null".to_string(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => yaml_float(*f),
            Scalar::Bool(b) => b.to_string(),
            Scalar::Time(t) => t.clone(),
            Scalar::Bytes(b) => quote(&String::from_utf8_lossy(b), Style::Double),
            Scalar::Str(v) => {
                let style = string_style(v, false);
                if style == Style::Literal {
                    self.literal(v, parent, block_indent);
                    return;
                }
                quote(v, style)
            }
        };
        self.out.push(' ');
        self.out.push_str(&text);
        self.out.push('\n');
    }

    fn literal(&mut self, v: &str, parent: usize, indent: usize) {
        self.out.push_str(" |");
        let first = v.chars().next();
        if first.is_some_and(|c| c == ' ' || super::scalar::is_break(c)) {
            // The indentation indicator is relative to the parent node (go-yaml always writes its
            // indent width, which reads back wrong inside `- ` items).
            self.out.push_str(&(indent - parent).to_string());
        }
        let trailing = v.len() - v.trim_end_matches('\n').len();
        if !v.ends_with('\n') {
            self.out.push('-');
        } else if trailing >= 2 || v.len() == 1 {
            self.out.push('+');
        }
        self.out.push('\n');
        for (i, line) in v.split('\n').enumerate() {
            if i > 0 {
                self.out.push('\n');
            }
            if !line.is_empty() {
                for _ in 0..indent {
                    self.out.push(' ');
                }
                self.out.push_str(line);
            }
        }
        if !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// A block sequence at `indent`. With `hoisted`, the leading comments of the first item's
    /// chain were already written before the `- ` that holds this sequence.
    fn seq(&mut self, items: &[Node], indent: usize, hoisted: bool) {
        let mut skipping = hoisted;
        for item in items {
            if skipping && matches!(item, Node::Comment(_)) {
                continue;
            }
            let first = std::mem::take(&mut skipping);
            match item {
                Node::Comment(c) => self.comment(c, indent),
                Node::Map(entries) if has_pairs(entries) => {
                    self.hoist(item, indent, first);
                    let lead = entries
                        .iter()
                        .take_while(|e| matches!(e, Entry::Comment(_)))
                        .count();
                    self.map(&entries[lead..], indent + 2);
                }
                Node::List(inner) if inner.iter().any(|i| !matches!(i, Node::Comment(_))) => {
                    self.hoist(item, indent, first);
                    self.seq(inner, indent + 2, true);
                }
                other => {
                    self.start_line(indent);
                    self.out.push('-');
                    self.value(other, indent, indent + 2);
                }
            }
        }
    }

    /// Write the comments that lead `item` (down its chain of first items, which all start on
    /// the `- ` line) before that line, then start it. Comments cannot follow `- ` on its line.
    fn hoist(&mut self, item: &Node, indent: usize, already: bool) {
        if !already {
            let mut lead = Vec::new();
            leading_comments(item, &mut lead);
            for c in lead {
                self.comment(c, indent);
            }
        }
        self.start_line(indent);
        self.out.push_str("- ");
        self.inline = true;
    }
}

/// Comments before the first pair of a mapping, or before the first item of a list and,
/// recursively, of that item.
fn leading_comments<'a>(node: &'a Node, out: &mut Vec<&'a str>) {
    match node {
        Node::Map(entries) => out.extend(entries.iter().map_while(|e| match e {
            Entry::Comment(c) => Some(c.as_str()),
            Entry::Pair(..) => None,
        })),
        Node::List(items) => {
            for item in items {
                match item {
                    Node::Comment(c) => out.push(c),
                    other => return leading_comments(other, out),
                }
            }
        }
        _ => {}
    }
}

fn has_pairs(entries: &[Entry]) -> bool {
    entries.iter().any(|e| matches!(e, Entry::Pair(..)))
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::*;
    use std::path::Path;

    /// Text exactly as sops 3.11.0 wrote it (decrypting a file made from a hand-written YAML).
    const SOPS_CANONICAL: &str = "\
# head
top: plain
list:
    - name: a
      value: |
        multi
        line
    # line comment
    - name: b
      other:
        - 1
        - 2
        - x
    - - nested1
      - nested2
    - scalar
map:
    a: 1
    b: two
quoted: \"8080\"
single: it's
spaces: '  lead'
colon: 'a: b'
hash: 'a #b'
dash: '- x'
null_val: null
yesval: \"yes\"
empty_list: []
empty_map: {}
multi_trail: |+
    a
    b

multi_nochomp: |-
    a
    b
lead_space_multi: |4
     a
    b
tab: \"a\\tb\"
date: 2024-01-01T00:00:00Z
unicode: héllo
float: 1000
# foot comment
";

    #[test]
    fn canonical_sops_output_round_trips_byte_for_byte() {
        let branches = parse(SOPS_CANONICAL, Path::new("t.yaml")).unwrap();
        let refs: Vec<&[Entry]> = branches.iter().map(Vec::as_slice).collect();
        assert_eq!(emit(&refs), SOPS_CANONICAL);
    }

    #[test]
    fn hand_written_yaml_is_normalised_like_sops() {
        let hand = "a:\n  b: 1\n  list:\n  - x\n  - yk: 2\n    z: 3\nq: 'x'\n";
        let branches = parse(hand, Path::new("t.yaml")).unwrap();
        let refs: Vec<&[Entry]> = branches.iter().map(Vec::as_slice).collect();
        assert_eq!(
            emit(&refs),
            "a:\n    b: 1\n    list:\n        - x\n        - yk: 2\n          z: 3\nq: x\n"
        );
    }
}
