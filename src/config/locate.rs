//! Find where a field lives in YAML source text, so semantic errors can name `line:column`
//! (serde_yaml only locates syntax and type errors). Handles what cluster files use: block
//! mappings and sequences, and one-line flow mappings/sequences (`{ name: a, vmid: 1 }`,
//! `[a, b]`). Paths look like `vms[1].vmid` or `proxmox.nodes[0]`.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Seg::Key(key.to_owned()));
        }
        while let Some(end) = rest.find(']') {
            if let Ok(i) = rest[1..end].parse() {
                out.push(Seg::Index(i));
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

/// One logical line: 1-based number, 0-based column where `text` starts.
#[derive(Debug, Clone, Copy)]
struct VLine<'a> {
    no: usize,
    indent: usize,
    text: &'a str,
}

fn strip_comment(s: &str) -> &str {
    // A `#` starts a comment at the line start or after whitespace, outside quotes.
    let mut quote: Option<char> = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev_space => return s[..i].trim_end(),
            None => {}
        }
        prev_space = c.is_whitespace();
    }
    s.trim_end()
}

fn lines(text: &str) -> Vec<VLine<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let body = strip_comment(raw);
            let trimmed = body.trim_start();
            if trimmed.is_empty() || trimmed == "---" {
                return None;
            }
            Some(VLine {
                no: i + 1,
                indent: body.len() - trimmed.len(),
                text: trimmed,
            })
        })
        .collect()
}

/// Where `path` is in `text`: 1-based (line, column) of its value (or of its key when the value
/// is a nested block). The closest ancestor found when the full path is not.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    let all = lines(text);
    let segs = parse_path(path);
    let mut best = None;
    walk(&all, &segs, &mut best);
    best
}

fn walk(region: &[VLine], segs: &[Seg], best: &mut Option<(usize, usize)>) {
    let Some((seg, rest)) = segs.split_first() else {
        return;
    };
    let Some(first) = region.first() else { return };
    let indent = first.indent;
    match seg {
        Seg::Key(key) => {
            for (i, l) in region.iter().enumerate() {
                if l.indent != indent {
                    continue;
                }
                let Some(after) = l
                    .text
                    .strip_prefix(key.as_str())
                    .and_then(|a| a.strip_prefix(':'))
                else {
                    continue;
                };
                if !(after.is_empty() || after.starts_with(' ')) {
                    continue;
                }
                let value = after.trim_start();
                if !value.is_empty() {
                    let col = l.indent + (l.text.len() - value.len());
                    *best = Some((l.no, col + 1));
                    inline(value, col, l.no, rest, best);
                    return;
                }
                *best = Some((l.no, l.indent + 1));
                let tail = &region[i + 1..];
                let end = tail
                    .iter()
                    .position(|x| {
                        x.indent < indent || (x.indent == indent && !x.text.starts_with('-'))
                    })
                    .unwrap_or(tail.len());
                // `key:` followed by a sequence may keep the key's indentation.
                let child = &tail[..end];
                let child = if child.first().is_some_and(|c| c.indent == indent) {
                    child
                } else {
                    let e = child
                        .iter()
                        .position(|x| x.indent <= indent)
                        .unwrap_or(child.len());
                    &child[..e]
                };
                walk(child, rest, best);
                return;
            }
        }
        Seg::Index(n) => {
            let items: Vec<usize> = region
                .iter()
                .enumerate()
                .filter(|(_, l)| l.indent == indent && (l.text == "-" || l.text.starts_with("- ")))
                .map(|(i, _)| i)
                .collect();
            let Some(&start) = items.get(*n) else { return };
            let end = items.get(n + 1).copied().unwrap_or_else(|| {
                region[start + 1..]
                    .iter()
                    .position(|x| x.indent <= indent)
                    .map(|p| start + 1 + p)
                    .unwrap_or(region.len())
            });
            let dash = region[start];
            let content = dash.text[1..].trim_start();
            let col = dash.indent + (dash.text.len() - content.len());
            *best = Some((dash.no, col + 1));
            if content.starts_with('{')
                || content.starts_with('[')
                || (rest.is_empty() && !content.is_empty())
            {
                inline(content, col, dash.no, rest, best);
                return;
            }
            let mut sub: Vec<VLine> = Vec::with_capacity(end - start);
            if !content.is_empty() {
                sub.push(VLine {
                    no: dash.no,
                    indent: col,
                    text: content,
                });
            }
            sub.extend_from_slice(&region[start + 1..end]);
            walk(&sub, rest, best);
        }
    }
}

/// Resolve `segs` inside a one-line flow value starting at 0-based column `col`.
fn inline(value: &str, col: usize, no: usize, segs: &[Seg], best: &mut Option<(usize, usize)>) {
    let Some((seg, rest)) = segs.split_first() else {
        return;
    };
    let (open, close) = match seg {
        Seg::Index(_) => ('[', ']'),
        Seg::Key(_) => ('{', '}'),
    };
    let Some(inner) = value.strip_prefix(open) else {
        return;
    };
    let inner_col = col + 1;
    // Split at top-level commas, keeping each element's column.
    let mut depth = 0i32;
    let mut elems: Vec<(usize, &str)> = Vec::new();
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '[' | '{' => depth += 1,
            ']' | '}' if depth == 0 && c == close => {
                elems.push((start, &inner[start..i]));
                start = usize::MAX;
                break;
            }
            ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                elems.push((start, &inner[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if start != usize::MAX && start < inner.len() {
        elems.push((start, &inner[start..]));
    }
    let trimmed: Vec<(usize, &str)> = elems
        .into_iter()
        .map(|(off, e)| {
            let t = e.trim_start();
            (inner_col + off + (e.len() - t.len()), t.trim_end())
        })
        .filter(|(_, e)| !e.is_empty())
        .collect();
    match seg {
        Seg::Index(n) => {
            if let Some(&(c, e)) = trimmed.get(*n) {
                *best = Some((no, c + 1));
                inline(e, c, no, rest, best);
            }
        }
        Seg::Key(key) => {
            for &(c, e) in &trimmed {
                if let Some(after) = e
                    .strip_prefix(key.as_str())
                    .and_then(|a| a.strip_prefix(':'))
                {
                    let v = after.trim_start();
                    let vc = c + (e.len() - v.len());
                    *best = Some((no, vc + 1));
                    inline(v, vc, no, rest, best);
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
name: lab   # comment
proxmox:
  endpoint: https://h:8006
  nodes: [pve-a, pve-b]
  tls:
    verify_ca: false
vms:
  - { name: s1, role: server, vmid: 201 }
  - name: a1
    vmid: 211
    ip: 10.0.0.31
dns:
- 1.1.1.1
- 8.8.8.8
";

    #[test]
    fn finds_block_flow_and_sequence_fields() {
        assert_eq!(locate(DOC, "name"), Some((1, 7)));
        assert_eq!(locate(DOC, "proxmox.endpoint"), Some((3, 13)));
        assert_eq!(locate(DOC, "proxmox.nodes[1]"), Some((4, 18)));
        assert_eq!(locate(DOC, "proxmox.tls.verify_ca"), Some((6, 16)));
        assert_eq!(locate(DOC, "vms[0].vmid"), Some((8, 37)));
        assert_eq!(locate(DOC, "vms[0]"), Some((8, 5)));
        assert_eq!(locate(DOC, "vms[1].name"), Some((9, 11)));
        assert_eq!(locate(DOC, "vms[1].ip"), Some((11, 9)));
        assert_eq!(locate(DOC, "dns[1]"), Some((14, 3)));
        assert_eq!(locate(DOC, "proxmox"), Some((2, 1)));
    }

    #[test]
    fn missing_fields_fall_back_to_the_nearest_ancestor() {
        assert_eq!(locate(DOC, "vms[1].disk_gib"), Some((9, 5)));
        assert_eq!(locate(DOC, "vms[5].name"), Some((7, 1)));
        assert_eq!(locate(DOC, "nope"), None);
    }
}
