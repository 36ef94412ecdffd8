//! A block-YAML reader for the files sops handles: mappings, sequences (also indentless and
//! compact `- key: value`), plain / quoted / block scalars, flow collections, comments and
//! several documents. Comments become tree items where sops' yaml store puts them: head
//! comments before the entry they precede, line comments before their entry, trailing comments
//! at the end of the collection at their indentation. Anchors, aliases and tags are refused
//! with a clear error rather than guessed.
//!
//! Size: about 1000 lines, of which some 130 are its tests; one recursive-descent reader whose
//! block, flow and scalar parts share the cursor and indentation state.

use std::path::Path;

/// YAML's white space inside a line: space and tab only (not Unicode spaces such as U+00A0).
const WS: &[char] = &[' ', '\t'];

use super::scalar::resolve_plain;
use crate::secrets::error::{Result, SopsError};
use crate::secrets::tree::{Entry, MAX_NESTING, Node, Scalar, too_deep_message};

#[derive(Debug, Clone)]
struct Line {
    no: usize,
    indent: usize,
    /// The line after its indentation (trailing `\r` removed).
    text: String,
}

impl Line {
    fn is_blank(&self) -> bool {
        self.text.trim_matches(WS).is_empty()
    }
    fn is_comment(&self) -> bool {
        self.text.starts_with('#')
    }
}

/// Parse every document of a YAML stream into branches.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Vec<Entry>>> {
    let mut docs: Vec<Vec<Line>> = vec![Vec::new()];
    let mut seen_content = false;
    // YAML line breaks are LF, CR LF and CR; all of them end a line.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    // The break ending the last line does not start another (empty) line.
    let body = text.strip_suffix('\n').unwrap_or(&text);
    for (i, raw) in body.split('\n').enumerate() {
        let no = i + 1;
        if raw.starts_with("---") && (raw.len() == 3 || raw[3..].starts_with([' ', '\t'])) {
            let rest = raw[3..].trim_matches(WS);
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(err(
                    path,
                    no,
                    "content on a `---` line is not supported; start the document on the next line",
                ));
            }
            if seen_content {
                docs.push(Vec::new());
                seen_content = false;
            }
            continue;
        }
        if raw == "..." || raw.starts_with('%') {
            continue;
        }
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let text = raw[indent..].to_string();
        let line = Line { no, indent, text };
        if !line.is_blank() && !line.is_comment() {
            seen_content = true;
        }
        docs.last_mut().expect("one doc").push(line);
    }
    let mut branches = Vec::new();
    let count = docs.len();
    for (i, lines) in docs.into_iter().enumerate() {
        let has_content = lines.iter().any(|l| !l.is_blank() && !l.is_comment());
        if !has_content && i + 1 == count && count > 1 && lines.iter().all(Line::is_blank) {
            continue; // a trailing `---`
        }
        let mut p = Parser {
            lines,
            pos: 0,
            pending: Vec::new(),
            path,
            hoisted: None,
            hoist_next: false,
            depth: 0,
        };
        branches.push(p.document()?);
    }
    Ok(branches)
}

fn err(path: &Path, line: usize, message: &str) -> SopsError {
    SopsError::Parse {
        path: path.to_path_buf(),
        line,
        message: message.to_string(),
    }
}

struct Parser<'a> {
    lines: Vec<Line>,
    pos: usize,
    /// Comment lines seen but not yet placed: (column, text after `#`).
    pending: Vec<(usize, String)>,
    path: &'a Path,
    /// Line comment of the first line of a compact mapping in a sequence item (goes before the item).
    hoisted: Option<String>,
    hoist_next: bool,
    /// Block collections being parsed ([`MAX_NESTING`]).
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, line: usize, message: &str) -> SopsError {
        err(self.path, line, message)
    }

    /// Tabs cannot indent YAML (inside block scalars they are content and never reach here).
    fn refuse_tab(&self, line: &Line) -> Result<()> {
        if line.text.starts_with('\t') {
            return Err(self.err(
                line.no,
                "tab used for indentation; YAML indents with spaces",
            ));
        }
        Ok(())
    }

    /// Skip blank lines and collect comment lines; return the next content line.
    fn next_content(&mut self) -> Option<Line> {
        while let Some(line) = self.lines.get(self.pos) {
            if line.is_blank() {
                self.pos += 1;
            } else if line.is_comment() {
                self.pending.push((line.indent, line.text[1..].to_string()));
                self.pos += 1;
            } else {
                return Some(line.clone());
            }
        }
        None
    }

    /// Trailing comments of a collection that just ended: go-yaml gives every comment indented
    /// deeper than the next entry (or than column 0 at the end of the document) to the innermost
    /// collection that closed, which is the first one to call this.
    fn take_foot(&mut self) -> Vec<String> {
        let next_indent = self.lines.get(self.pos).map(|l| l.indent).unwrap_or(0);
        let n = self
            .pending
            .iter()
            .take_while(|(col, _)| *col > next_indent)
            .count();
        self.pending.drain(..n).map(|(_, t)| t).collect()
    }

    fn document(&mut self) -> Result<Vec<Entry>> {
        let Some(first) = self.next_content() else {
            return Ok(self
                .pending
                .drain(..)
                .map(|(_, t)| Entry::Comment(t))
                .collect());
        };
        self.refuse_tab(&first)?;
        if is_seq_item(&first.text) {
            return Err(self.err(
                first.no,
                "YAML documents that are sequences are not supported",
            ));
        }
        if first.text.starts_with('{') {
            // A flow mapping as the whole document (`{}` is how an empty one is written).
            self.pos += 1;
            let text = first.text.clone();
            let (node, comment) = self.flow(&text, first.no)?;
            let Node::Map(mut entries) = node else {
                return Err(self.err(first.no, "a sops YAML file is a mapping"));
            };
            if let Some(extra) = self.next_content() {
                return Err(self.err(extra.no, "unexpected content after the top-level mapping"));
            }
            entries.extend(comment.map(Entry::Comment));
            entries.extend(self.pending.drain(..).map(|(_, t)| Entry::Comment(t)));
            return Ok(entries);
        }
        if split_key(&first.text).is_none() {
            return Err(self.err(
                first.no,
                "YAML documents that are values are not supported; a sops YAML file is a mapping",
            ));
        }
        let mut entries = self.mapping(first.indent)?;
        if let Some(extra) = self.next_content() {
            return Err(self.err(
                extra.no,
                "unexpected content after the top-level mapping (check the indentation)",
            ));
        }
        entries.extend(self.pending.drain(..).map(|(_, t)| Entry::Comment(t)));
        Ok(entries)
    }

    /// Run `f` one nesting level deeper; refused beyond [`MAX_NESTING`].
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        if self.depth >= MAX_NESTING {
            let no = self.lines.get(self.pos).map_or(0, |l| l.no);
            return Err(self.err(no, &too_deep_message()));
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn mapping(&mut self, indent: usize) -> Result<Vec<Entry>> {
        self.nested(|p| p.mapping_here(indent))
    }

    fn sequence(&mut self, indent: usize) -> Result<Vec<Node>> {
        self.nested(|p| p.sequence_here(indent))
    }

    fn mapping_here(&mut self, indent: usize) -> Result<Vec<Entry>> {
        let mut entries = Vec::new();
        let mut first = true;
        while let Some(line) = self.next_content() {
            self.refuse_tab(&line)?;
            if line.indent < indent {
                break;
            }
            if line.indent > indent {
                return Err(self.err(
                    line.no,
                    "unexpected indentation (a key is indented deeper than the keys before it)",
                ));
            }
            if is_seq_item(&line.text) {
                return Err(self.err(line.no, "a list item where a key was expected"));
            }
            entries.extend(self.pending.drain(..).map(|(_, t)| Entry::Comment(t)));
            let Some((key, rest)) = split_key(&line.text) else {
                return Err(self.err(line.no, "expected `key: value`"));
            };
            let key = self.key_text(&key, line.no)?;
            if entries
                .iter()
                .any(|e| matches!(e, Entry::Pair(k, _) if *k == key))
            {
                return Err(self.err(line.no, &format!("mapping key \"{key}\" already defined")));
            }
            self.pos += 1;
            let (value, comment) = self.value_after_indicator(&rest, indent, line.no, true)?;
            if let Some(c) = comment {
                if first && self.hoist_next {
                    self.hoisted = Some(c);
                } else {
                    entries.push(Entry::Comment(c));
                }
            }
            if first {
                self.hoist_next = false;
            }
            first = false;
            entries.push(Entry::Pair(key, value));
        }
        entries.extend(self.take_foot().into_iter().map(Entry::Comment));
        Ok(entries)
    }

    fn sequence_here(&mut self, indent: usize) -> Result<Vec<Node>> {
        let mut items = Vec::new();
        while let Some(line) = self.next_content() {
            self.refuse_tab(&line)?;
            if line.indent < indent || !is_seq_item(&line.text) {
                if line.indent > indent {
                    return Err(self.err(line.no, "unexpected indentation inside a list"));
                }
                break;
            }
            if line.indent > indent {
                return Err(self.err(line.no, "unexpected indentation inside a list"));
            }
            items.extend(self.pending.drain(..).map(|(_, t)| Node::Comment(t)));
            let after_dash = &line.text[1..];
            let rest = after_dash.trim_start_matches(' ');
            let col = line.indent + 1 + (after_dash.len() - rest.len());
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                let (value, comment) = self.value_after_indicator(rest, indent, line.no, false)?;
                items.extend(comment.map(Node::Comment));
                items.push(value);
            } else if is_seq_item(rest) {
                self.lines[self.pos] = Line {
                    no: line.no,
                    indent: col,
                    text: rest.to_string(),
                };
                items.push(Node::List(self.sequence(col)?));
            } else if split_key(rest).is_some() && !rest.starts_with(['"', '\'', '[', '{'])
                || quoted_key(rest)
            {
                self.lines[self.pos] = Line {
                    no: line.no,
                    indent: col,
                    text: rest.to_string(),
                };
                self.hoist_next = true;
                self.hoisted = None;
                let map = self.mapping(col)?;
                self.hoist_next = false;
                items.extend(self.hoisted.take().map(Node::Comment));
                items.push(Node::Map(map));
            } else {
                self.pos += 1;
                let (value, comment) = self.value_after_indicator(rest, indent, line.no, false)?;
                items.extend(comment.map(Node::Comment));
                items.push(value);
            }
        }
        items.extend(self.take_foot().into_iter().map(Node::Comment));
        Ok(items)
    }

    fn key_text(&self, key: &str, no: usize) -> Result<String> {
        let key = key.trim_end_matches(WS);
        if key.starts_with('"') {
            return self.double_quoted_inline(key, no).map(|(s, _)| s);
        }
        if key.starts_with('\'') {
            return self.single_quoted_inline(key, no).map(|(s, _)| s);
        }
        if key.starts_with(['&', '*', '!', '[', '{']) || key == "?" || key.starts_with("? ") {
            return Err(self.err(no, "anchors, aliases, tags and complex keys are not supported in sops files homelab edits"));
        }
        Ok(key.to_string())
    }

    /// The value after `key:` or `- `. `parent` is the indentation of the key or the dash.
    fn value_after_indicator(
        &mut self,
        rest: &str,
        parent: usize,
        no: usize,
        in_mapping: bool,
    ) -> Result<(Node, Option<String>)> {
        let rest = rest.trim_start_matches(' ');
        if rest.is_empty() || rest.starts_with('#') {
            let comment = rest.strip_prefix('#').map(str::to_string);
            let node = match self.next_content() {
                Some(next) if next.indent > parent => {
                    if is_seq_item(&next.text) {
                        Node::List(self.sequence(next.indent)?)
                    } else if split_key(&next.text).is_some() {
                        Node::Map(self.mapping(next.indent)?)
                    } else {
                        let (v, c) = self.scalar_on_own_line(&next, parent)?;
                        if let Some(c) = c {
                            self.pending.push((next.indent, c));
                        }
                        v
                    }
                }
                Some(next) if in_mapping && next.indent == parent && is_seq_item(&next.text) => {
                    Node::List(self.sequence(parent)?)
                }
                _ => Node::Scalar(Scalar::Null),
            };
            return Ok((node, comment));
        }
        match rest.as_bytes()[0] {
            b'|' | b'>' => self.block_scalar(rest, parent, no).map(|n| (n, None)),
            b'[' | b'{' => self.flow(rest, no),
            b'&' | b'*' | b'!' => Err(self.err(
                no,
                "anchors, aliases and tags are not supported in sops files homelab edits; use sops for this file",
            )),
            b'"' => {
                let (s, tail) = self.double_quoted_multiline(rest, parent, no)?;
                Ok((Node::Scalar(Scalar::Str(s)), self.trailing_comment(&tail, no)?))
            }
            b'\'' => {
                let (s, tail) = self.single_quoted_inline(rest, no)?;
                Ok((Node::Scalar(Scalar::Str(s)), self.trailing_comment(&tail, no)?))
            }
            _ => {
                let (text, comment) = split_plain_comment(rest);
                let mut text = text.to_string();
                // Continuation lines of a multi-line plain scalar.
                if comment.is_none() {
                    let mut folded_breaks = 0;
                    while let Some(next) = self.lines.get(self.pos) {
                        if next.is_blank() {
                            folded_breaks += 1;
                            self.pos += 1;
                            continue;
                        }
                        if next.indent <= parent || next.is_comment() || (!in_mapping && next.indent <= parent + 1) {
                            break;
                        }
                        if in_mapping && (split_key(&next.text).is_some() || is_seq_item(&next.text)) {
                            break;
                        }
                        let (more, c) = split_plain_comment(&next.text);
                        if folded_breaks == 0 {
                            text.push(' ');
                        } else {
                            text.push_str(&"\n".repeat(folded_breaks));
                        }
                        folded_breaks = 0;
                        text.push_str(more);
                        self.pos += 1;
                        if let Some(c) = c {
                            self.pending.push((next.indent, c.to_string()));
                            break;
                        }
                    }
                }
                let value = resolve_plain(&text).map_err(|e| self.err(no, &e))?;
                Ok((Node::Scalar(value), comment.map(str::to_string)))
            }
        }
    }

    /// A scalar that starts on its own line under `key:` or `-`.
    fn scalar_on_own_line(&mut self, line: &Line, parent: usize) -> Result<(Node, Option<String>)> {
        self.pos += 1;
        if line.text.starts_with(['|', '>']) {
            return self
                .block_scalar(&line.text, parent, line.no)
                .map(|n| (n, None));
        }
        self.value_after_indicator(&line.text, parent, line.no, false)
    }

    fn trailing_comment(&self, tail: &str, no: usize) -> Result<Option<String>> {
        let tail = tail.trim_start_matches(WS);
        if tail.is_empty() {
            Ok(None)
        } else if let Some(c) = tail.strip_prefix('#') {
            Ok(Some(c.to_string()))
        } else {
            Err(self.err(
                no,
                &format!("unexpected text `{tail}` after a quoted value"),
            ))
        }
    }

    fn single_quoted_inline(&self, s: &str, no: usize) -> Result<(String, String)> {
        let mut out = String::new();
        let mut chars = s[1..].char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if let Some((_, '\'')) = chars.peek() {
                    chars.next();
                    out.push('\'');
                } else {
                    return Ok((out, s[1 + i + 1..].to_string()));
                }
            } else {
                out.push(c);
            }
        }
        Err(self.err(
            no,
            "unterminated single-quoted string (multi-line single quotes are not supported)",
        ))
    }

    fn double_quoted_inline(&self, s: &str, no: usize) -> Result<(String, String)> {
        match unescape_double(&s[1..]) {
            Ok(Some((value, consumed))) => Ok((value, s[1 + consumed..].to_string())),
            Ok(None) => Err(self.err(no, "unterminated double-quoted string")),
            Err(e) => Err(self.err(no, &e)),
        }
    }

    /// A double-quoted scalar, possibly folded over several lines.
    fn double_quoted_multiline(
        &mut self,
        s: &str,
        parent: usize,
        no: usize,
    ) -> Result<(String, String)> {
        if let Ok(Some(_)) = unescape_double(&s[1..]) {
            return self.double_quoted_inline(s, no);
        }
        let mut joined = s.trim_end_matches(WS).to_string();
        while let Some(next) = self.lines.get(self.pos) {
            if next.indent <= parent && !next.is_blank() {
                break;
            }
            let t = next.text.trim_matches(WS);
            self.pos += 1;
            if t.is_empty() {
                joined.push('\n');
                continue;
            }
            if joined.ends_with('\\') && !joined.ends_with("\\\\") {
                joined.pop();
            } else if !joined.ends_with('\n') {
                joined.push(' ');
            }
            joined.push_str(t);
            if let Ok(Some(_)) = unescape_double(&joined[1..]) {
                return self.double_quoted_inline(&joined.replace("\n ", "\n"), no);
            }
        }
        Err(self.err(no, "unterminated double-quoted string"))
    }

    fn block_scalar(&mut self, header: &str, parent: usize, no: usize) -> Result<Node> {
        let (head, _comment) = split_plain_comment(header);
        let head = head.trim_matches(WS);
        let folded = head.starts_with('>');
        let mut chomp = ' ';
        let mut explicit: Option<usize> = None;
        for c in head[1..].chars() {
            match c {
                '+' | '-' => chomp = c,
                '1'..='9' => explicit = c.to_digit(10).map(|d| d as usize),
                _ => return Err(self.err(no, &format!("invalid block scalar header `{head}`"))),
            }
        }
        let mut raw: Vec<String> = Vec::new();
        let mut content_indent = explicit.map(|d| parent + d);
        while let Some(line) = self.lines.get(self.pos) {
            if line.is_blank() {
                let full = " ".repeat(line.indent) + &line.text;
                let keep = content_indent
                    .map(|ci| full.len().saturating_sub(ci))
                    .unwrap_or(0);
                raw.push(" ".repeat(keep));
                self.pos += 1;
                continue;
            }
            let ci = *content_indent.get_or_insert(line.indent);
            if line.indent < ci || line.indent <= parent {
                break;
            }
            raw.push(" ".repeat(line.indent - ci) + &line.text);
            self.pos += 1;
        }
        // Trailing blank lines are not content lines of the next node: count them for chomping.
        let mut trailing = 0;
        while raw.last().is_some_and(|l| l.trim_matches(WS).is_empty()) {
            raw.pop();
            trailing += 1;
        }
        let mut body = if folded {
            fold_lines(&raw)
        } else {
            raw.join("\n")
        };
        if !raw.is_empty() {
            match chomp {
                '-' => {}
                '+' => body.push_str(&"\n".repeat(trailing + 1)),
                _ => body.push('\n'),
            }
        } else if chomp == '+' {
            body.push_str(&"\n".repeat(trailing));
        }
        Ok(Node::Scalar(Scalar::Str(body)))
    }

    /// A flow collection, possibly continued on following lines until its brackets balance.
    fn flow(&mut self, first: &str, no: usize) -> Result<(Node, Option<String>)> {
        let mut text = first.to_string();
        loop {
            match flow_end(&text) {
                Some(end) => {
                    let tail = text[end..].to_string();
                    let mut fp = FlowParser {
                        s: &text.as_bytes()[..end],
                        i: 0,
                        depth: self.depth,
                    };
                    let node = fp
                        .value()
                        .map_err(|e| self.err(no, &format!("in flow collection: {e}")))?;
                    let comment = self.trailing_comment(&tail, no)?;
                    return Ok((node, comment));
                }
                None => {
                    let Some(next) = self.lines.get(self.pos) else {
                        return Err(self.err(no, "unterminated flow collection"));
                    };
                    text.push(' ');
                    text.push_str(next.text.trim_matches(WS));
                    self.pos += 1;
                }
            }
        }
    }
}

fn fold_lines(lines: &[String]) -> String {
    let mut out = String::new();
    let mut prev_normal = false;
    for (i, line) in lines.iter().enumerate() {
        let normal = !line.is_empty() && !line.starts_with(' ');
        if i > 0 {
            if line.is_empty() {
                out.push('\n');
                continue;
            }
            if prev_normal && normal && !lines[i - 1].is_empty() {
                out.push(' ');
            } else if !lines[i - 1].is_empty() {
                out.push('\n');
            }
        }
        out.push_str(line);
        prev_normal = normal;
    }
    out
}

/// Where a `- ` item starts.
fn is_seq_item(text: &str) -> bool {
    text == "-" || text.starts_with("- ") || text.starts_with("-\t")
}

fn quoted_key(text: &str) -> bool {
    split_key(text).is_some() && text.starts_with(['"', '\''])
}

/// Split `key: rest` at the first `:` followed by space or end, outside quotes and brackets.
/// Returns None when the line is not a mapping entry.
pub(crate) fn split_key(text: &str) -> Option<(String, String)> {
    let bytes = text.as_bytes();
    let mut i = 0;
    if bytes.first() == Some(&b'"') {
        let (_, consumed) = unescape_double(&text[1..]).ok()??;
        i = 1 + consumed;
    } else if bytes.first() == Some(&b'\'') {
        let mut j = 1;
        loop {
            match bytes.get(j) {
                None => return None,
                Some(b'\'') if bytes.get(j + 1) == Some(&b'\'') => j += 2,
                Some(b'\'') => break,
                _ => j += 1,
            }
        }
        i = j + 1;
    } else if bytes.first() == Some(&b'#') {
        return None;
    }
    while i < bytes.len() {
        if bytes[i] == b':'
            && (i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t')
        {
            return Some((text[..i].to_string(), text[i + 1..].to_string()));
        }
        if bytes[i] == b'#' && i > 0 && bytes[i - 1] == b' ' {
            return None;
        }
        i += 1;
    }
    None
}

/// Split a plain scalar from a ` #comment` after it.
fn split_plain_comment(text: &str) -> (&str, Option<&str>) {
    let bytes = text.as_bytes();
    for i in 0..bytes.len() {
        if bytes[i] == b'#' && (i == 0 || bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') {
            return (text[..i].trim_end_matches(WS), Some(&text[i + 1..]));
        }
    }
    (text.trim_end_matches(WS), None)
}

/// Unescape the body of a double-quoted scalar (after the opening quote). Returns the value and
/// how many bytes were consumed including the closing quote, or None if it is not closed.
fn unescape_double(s: &str) -> Result<Option<(String, usize)>, String> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok(Some((out, i + 1))),
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    return Ok(None);
                };
                let hex =
                    |chars: &mut std::str::CharIndices<'_>, n: usize| -> Result<char, String> {
                        let digits: String = chars.by_ref().take(n).map(|(_, c)| c).collect();
                        u32::from_str_radix(&digits, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("invalid escape \\{e}{digits}"))
                    };
                out.push(match e {
                    '0' => '\0',
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    't' | '\t' => '\t',
                    'n' => '\n',
                    'v' => '\u{b}',
                    'f' => '\u{c}',
                    'r' => '\r',
                    'e' => '\u{1b}',
                    ' ' => ' ',
                    '"' => '"',
                    '/' => '/',
                    '\\' => '\\',
                    'N' => '\u{85}',
                    '_' => '\u{a0}',
                    'L' => '\u{2028}',
                    'P' => '\u{2029}',
                    'x' => hex(&mut chars, 2)?,
                    'u' => hex(&mut chars, 4)?,
                    'U' => hex(&mut chars, 8)?,
                    other => {
                        return Err(format!(
                            "invalid escape \\{other} in a double-quoted string"
                        ));
                    }
                });
            }
            c => out.push(c),
        }
    }
    Ok(None)
}

/// End (exclusive) of a balanced flow collection at the start of `s`, if it is complete.
fn flow_end(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if q == '"' && escaped {
                escaped = false;
            } else if q == '"' && c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '[' | '{' => depth += 1,
            ']' | '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

struct FlowParser<'a> {
    s: &'a [u8],
    i: usize,
    /// Collections open around the value being parsed (block ones included; [`MAX_NESTING`]).
    depth: usize,
}

impl FlowParser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node, String> {
        if self.depth >= MAX_NESTING {
            return Err(too_deep_message());
        }
        self.depth += 1;
        let node = self.value_here();
        self.depth -= 1;
        node
    }

    fn value_here(&mut self) -> Result<Node, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Node::List(items));
                    }
                    items.push(self.value()?);
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b']') => {}
                        _ => return Err("expected `,` or `]`".into()),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Node::Map(entries));
                    }
                    let key = match self.value()? {
                        Node::Scalar(Scalar::Str(s)) => s,
                        Node::Scalar(Scalar::Null) => {
                            return Err("empty key in a flow mapping".into());
                        }
                        Node::Scalar(other) => other.display_text(),
                        _ => return Err("only scalar keys are supported".into()),
                    };
                    self.ws();
                    let value = if self.s.get(self.i) == Some(&b':') {
                        self.i += 1;
                        self.value()?
                    } else {
                        Node::Scalar(Scalar::Null)
                    };
                    if entries
                        .iter()
                        .any(|e| matches!(e, Entry::Pair(k, _) if *k == key))
                    {
                        return Err(format!("mapping key \"{key}\" already defined"));
                    }
                    entries.push(Entry::Pair(key, value));
                    self.ws();
                    match self.s.get(self.i) {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {}
                        _ => return Err("expected `,` or `}`".into()),
                    }
                }
            }
            Some(b'"') => {
                let text = std::str::from_utf8(&self.s[self.i + 1..]).map_err(|e| e.to_string())?;
                let (v, consumed) = unescape_double(text)?.ok_or("unterminated string")?;
                self.i += 1 + consumed;
                Ok(Node::Scalar(Scalar::Str(v)))
            }
            Some(b'\'') => {
                let mut out = Vec::new();
                self.i += 1;
                loop {
                    match self.s.get(self.i) {
                        None => return Err("unterminated string".into()),
                        Some(b'\'') if self.s.get(self.i + 1) == Some(&b'\'') => {
                            out.push(b'\'');
                            self.i += 2;
                        }
                        Some(b'\'') => {
                            self.i += 1;
                            break;
                        }
                        Some(&b) => {
                            out.push(b);
                            self.i += 1;
                        }
                    }
                }
                Ok(Node::Scalar(Scalar::Str(
                    String::from_utf8(out).map_err(|e| e.to_string())?,
                )))
            }
            Some(_) => {
                let start = self.i;
                while let Some(&b) = self.s.get(self.i) {
                    if matches!(b, b',' | b']' | b'}') {
                        break;
                    }
                    if b == b':'
                        && matches!(
                            self.s.get(self.i + 1),
                            None | Some(b' ') | Some(b',') | Some(b']') | Some(b'}')
                        )
                    {
                        break;
                    }
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i])
                    .map_err(|e| e.to_string())?
                    .trim_matches(WS);
                resolve_plain(text).map(Node::Scalar)
            }
            None => Err("unexpected end".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let path = Path::new("deep.yaml");
        // 4,000 levels of `[` (8 KB), flow.
        let flow = format!("a: {}{}", "[".repeat(4000), "]".repeat(4000));
        let e = parse(&flow, path).unwrap_err().to_string();
        assert!(e.contains("nest deeper than 100 levels"), "{e}");
        // Block mappings, one level per line.
        let block: String = (0..300)
            .map(|d| format!("{}k{d}:\n", " ".repeat(d)))
            .collect();
        let e = parse(&block, path).unwrap_err().to_string();
        assert!(e.contains("nest deeper than 100 levels"), "{e}");
        // Compact sequences on one line.
        let compact = format!("a:\n{}x\n", "- ".repeat(4000));
        let e = parse(&compact, path).unwrap_err().to_string();
        assert!(e.contains("nest deeper than 100 levels"), "{e}");
        // Within the limit, block and flow together.
        let ok = format!("a:\n  b: {}1{}\n", "[".repeat(90), "]".repeat(90));
        assert!(parse(&ok, path).is_ok());
    }

    use super::*;

    fn p(text: &str) -> Vec<Entry> {
        parse(text, Path::new("t.yaml")).unwrap().remove(0)
    }

    fn s(v: &str) -> Node {
        Node::Scalar(Scalar::Str(v.into()))
    }

    #[test]
    fn nested_mappings_lists_and_comments() {
        let got = p(
            "# top\napp:\n    name: demo # line\n    port: 8080\n    tags:\n        - a\n        - b\n    # foot of app\nempty: \"\"\n",
        );
        assert_eq!(
            got,
            vec![
                Entry::Comment(" top".into()),
                Entry::Pair(
                    "app".into(),
                    Node::Map(vec![
                        Entry::Comment(" line".into()),
                        Entry::Pair("name".into(), s("demo")),
                        Entry::Pair("port".into(), Node::Scalar(Scalar::Int(8080))),
                        // As go-yaml: a trailing comment goes to the innermost block that closed.
                        Entry::Pair(
                            "tags".into(),
                            Node::List(vec![s("a"), s("b"), Node::Comment(" foot of app".into())])
                        ),
                    ])
                ),
                Entry::Pair("empty".into(), s("")),
            ]
        );
    }

    #[test]
    fn compact_and_indentless_sequences() {
        let got = p(
            "list:\n- name: a\n  value: |\n    multi\n    line\n- - x\n  - y\n- [1, \"two\", {k: v}]\n",
        );
        let Entry::Pair(_, Node::List(items)) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!(
            items[0],
            Node::Map(vec![
                Entry::Pair("name".into(), s("a")),
                Entry::Pair("value".into(), s("multi\nline\n"))
            ])
        );
        assert_eq!(items[1], Node::List(vec![s("x"), s("y")]));
        assert_eq!(
            items[2],
            Node::List(vec![
                Node::Scalar(Scalar::Int(1)),
                s("two"),
                Node::Map(vec![Entry::Pair("k".into(), s("v"))])
            ])
        );
    }

    #[test]
    fn block_scalar_chomping() {
        let got = p("a: |-\n    x\n    y\nb: |+\n    x\n\nc: >\n    folded\n    text\n");
        assert_eq!(got[0], Entry::Pair("a".into(), s("x\ny")));
        assert_eq!(got[1], Entry::Pair("b".into(), s("x\n\n")));
        assert_eq!(got[2], Entry::Pair("c".into(), s("folded text\n")));
    }

    #[test]
    fn quoted_scalars_and_errors() {
        let got = p("a: 'it''s'\nb: \"x\\ty\"\n\"k: 1\": v\n");
        assert_eq!(got[0], Entry::Pair("a".into(), s("it's")));
        assert_eq!(got[1], Entry::Pair("b".into(), s("x\ty")));
        assert_eq!(got[2], Entry::Pair("k: 1".into(), s("v")));
        let e = parse("a: 1\n  b: 2\n", Path::new("t.yaml"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.starts_with("t.yaml:2:"), "{e}");
        assert!(parse("a: &x 1\n", Path::new("t.yaml")).is_err());
        assert!(parse("- a\n", Path::new("t.yaml")).is_err());
    }

    #[test]
    fn empty_flow_mapping_document() {
        assert_eq!(
            parse("{}\n", Path::new("t.yaml")).unwrap(),
            vec![Vec::<Entry>::new()]
        );
        assert_eq!(
            p("{a: 1}\n"),
            vec![Entry::Pair("a".into(), Node::Scalar(Scalar::Int(1)))]
        );
    }

    #[test]
    fn several_documents() {
        let docs = parse("a: 1\n---\nb: 2\n", Path::new("t.yaml")).unwrap();
        assert_eq!(docs.len(), 2);
    }
}
