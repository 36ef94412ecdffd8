//! JSON as sops' json store reads and writes it: key order kept, numbers as float64, output
//! indented with tabs and escaped as Go's encoding/json does (`<`, `>`, `&` as \u003c...).

use std::path::Path;

use super::error::{Result, SopsError};
use super::numfmt::json_float;
use super::tree::{Entry, MAX_NESTING, Node, Scalar, too_deep_message};

/// Parse a JSON document whose top level is an object.
pub fn parse(text: &str, path: &Path) -> Result<Vec<Entry>> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
        path,
        depth: 0,
    };
    p.ws();
    let node = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("unexpected text after the JSON document"));
    }
    match node {
        Node::Map(entries) => Ok(entries),
        _ => Err(p.err("the top level of a sops JSON file must be an object")),
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    path: &'a Path,
    /// Values being parsed, outermost first ([`MAX_NESTING`]).
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, message: &str) -> SopsError {
        let line = self.s[..self.i.min(self.s.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        SopsError::Parse {
            path: self.path.to_path_buf(),
            line,
            message: message.to_string(),
        }
    }

    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.s.get(self.i) == Some(&b) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Node> {
        if self.depth >= MAX_NESTING {
            return Err(self.err(&too_deep_message()));
        }
        self.depth += 1;
        let node = self.value_here();
        self.depth -= 1;
        node
    }

    fn value_here(&mut self) -> Result<Node> {
        match self.s.get(self.i) {
            Some(b'{') => {
                self.i += 1;
                let mut entries = Vec::new();
                self.ws();
                if self.eat(b'}') {
                    return Ok(Node::Map(entries));
                }
                loop {
                    self.ws();
                    if self.s.get(self.i) != Some(&b'"') {
                        return Err(self.err("expected a string key"));
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(b':') {
                        return Err(self.err("expected `:` after the key"));
                    }
                    self.ws();
                    let value = self.value()?;
                    entries.push(Entry::Pair(key, value));
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b'}') {
                        return Ok(Node::Map(entries));
                    }
                    return Err(self.err("expected `,` or `}`"));
                }
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b']') {
                    return Ok(Node::List(items));
                }
                loop {
                    self.ws();
                    items.push(self.value()?);
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b']') {
                        return Ok(Node::List(items));
                    }
                    return Err(self.err("expected `,` or `]`"));
                }
            }
            Some(b'"') => Ok(Node::Scalar(Scalar::Str(self.string()?))),
            Some(b't') if self.s[self.i..].starts_with(b"true") => {
                self.i += 4;
                Ok(Node::Scalar(Scalar::Bool(true)))
            }
            Some(b'f') if self.s[self.i..].starts_with(b"false") => {
                self.i += 5;
                Ok(Node::Scalar(Scalar::Bool(false)))
            }
            Some(b'n') if self.s[self.i..].starts_with(b"null") => {
                self.i += 4;
                Ok(Node::Scalar(Scalar::Null))
            }
            Some(b'-' | b'0'..=b'9') => {
                let start = self.i;
                while self.i < self.s.len()
                    && matches!(
                        self.s[self.i],
                        b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
                    )
                {
                    self.i += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default();
                text.parse::<f64>()
                    .map(|f| Node::Scalar(Scalar::Float(f)))
                    .map_err(|_| self.err(&format!("invalid number `{text}`")))
            }
            _ => Err(self.err("expected a JSON value")),
        }
    }

    fn hex4(&mut self) -> Result<u32> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("short \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi)
                                && self.s[self.i..].starts_with(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo.wrapping_sub(0xDC00) & 0x3FF)
                            } else {
                                hi
                            };
                            char::from_u32(code).unwrap_or('\u{FFFD}')
                        }
                        _ => return Err(self.err("invalid escape in string")),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                b if b < 0x20 => return Err(self.err("control character in string")),
                b => out.push(b),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not UTF-8"))
    }
}

/// Emit a JSON document (data entries plus, for an encrypted file, the `sops` key).
pub fn emit(entries: &[Entry], path: &Path) -> Result<String> {
    let mut out = String::new();
    write_map(entries, 0, &mut out, path)?;
    out.push('\n');
    Ok(out)
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push('\t');
    }
}

fn write_map(entries: &[Entry], level: usize, out: &mut String, path: &Path) -> Result<()> {
    let pairs: Vec<(&String, &Node)> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Pair(k, v) => Some((k, v)),
            Entry::Comment(_) => None,
        })
        .collect();
    if pairs.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push_str("{\n");
    for (i, (k, v)) in pairs.iter().enumerate() {
        indent(out, level + 1);
        write_string(k, out);
        out.push_str(": ");
        write_node(v, level + 1, out, path)?;
        if i + 1 < pairs.len() {
            out.push(',');
        }
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
    Ok(())
}

fn write_node(node: &Node, level: usize, out: &mut String, path: &Path) -> Result<()> {
    match node {
        Node::Map(entries) => write_map(entries, level, out, path),
        Node::List(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(out, level + 1);
                write_node(item, level + 1, out, path)?;
                if i + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            indent(out, level);
            out.push(']');
            Ok(())
        }
        Node::Comment(c) => {
            write_string(c, out);
            Ok(())
        }
        Node::Scalar(s) => {
            match s {
                Scalar::Null => out.push_str("null"),
                Scalar::Str(v) | Scalar::Time(v) => write_string(v, out),
                Scalar::Int(i) => out.push_str(&i.to_string()),
                Scalar::Float(f) => out.push_str(&json_float(*f)),
                Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Scalar::Bytes(b) => write_string(&String::from_utf8_lossy(b), out),
            }
            Ok(())
        }
    }
}

/// A string as Go's json.Marshal writes it (HTML-safe escaping).
pub fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_go_layout() {
        let text = "{\"a\": \"x<&>\", \"n\": 5, \"l\": [1.5, true, null, {\"k\": \"v\"}], \"e\": {}, \"z\": []}";
        let entries = parse(text, Path::new("t.json")).unwrap();
        let out = emit(&entries, Path::new("t.json")).unwrap();
        assert_eq!(
            out,
            "{\n\t\"a\": \"x\\u003c\\u0026\\u003e\",\n\t\"n\": 5,\n\t\"l\": [\n\t\t1.5,\n\t\ttrue,\n\t\tnull,\n\t\t{\n\t\t\t\"k\": \"v\"\n\t\t}\n\t],\n\t\"e\": {},\n\t\"z\": []\n}\n"
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(4000), "]".repeat(4000));
        let err = parse(&deep, Path::new("deep.json"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nest deeper than 100 levels"), "{err}");
        let ok = format!("{{\"a\": {}1{}}}", "[".repeat(98), "]".repeat(98));
        assert!(parse(&ok, Path::new("ok.json")).is_ok());
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse("{\n\"a\": tru\n}", Path::new("t.json"))
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("t.json:2:"), "{err}");
        assert!(parse("[1]", Path::new("t.json")).is_err());
    }
}
