//! The LogQL subset the simulated Loki runs (docs/reference/loki.md §5): a stream selector with
//! `=`, `!=`, `=~`, `!~`; line filters `|=`, `!=`, `|~`, `!~`; `| json`, `| logfmt`;
//! label filters `| name="v"` (same four operators); `| line_format "{{.key}}"`.
//! Anything else is rejected with a message in Loki's style.

use crate::domain::logs::Labels;
use regex::Regex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    NotRe,
}

#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
    re: Option<Regex>,
}

impl LabelMatcher {
    fn new(name: String, op: MatchOp, value: String, at: usize) -> Result<Self, ParseError> {
        let re = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                // Label regexes are fully anchored in LogQL/PromQL.
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| ParseError::at(at, format!("invalid regex: {e}")))?,
            ),
            _ => None,
        };
        Ok(Self {
            name,
            op,
            value,
            re,
        })
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match self.op {
            MatchOp::Eq => v == self.value,
            MatchOp::Ne => v != self.value,
            MatchOp::Re => self.re.as_ref().is_some_and(|r| r.is_match(v)),
            MatchOp::NotRe => !self.re.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }
}

#[derive(Debug, Clone)]
enum Stage {
    Contains(String),
    NotContains(String),
    Matches(Regex),
    NotMatches(Regex),
    Json,
    Logfmt,
    LabelFilter(LabelMatcher),
    LineFormat(String),
}

/// A parsed log query.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub selector: Vec<LabelMatcher>,
    stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parse error at line 1, col {col}: {message}")]
pub struct ParseError {
    pub col: usize,
    pub message: String,
}

impl ParseError {
    fn at(pos: usize, message: impl Into<String>) -> Self {
        Self {
            col: pos + 1,
            message: message.into(),
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    fn skip_ws(&mut self) {
        while let Some(c) = self.src[self.pos..].chars().next() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }
    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.src[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.pos >= self.src.len()
    }
    fn ident(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        let rest = &self.src[self.pos..];
        let len = rest
            .char_indices()
            .take_while(|(i, c)| {
                c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_digit())
            })
            .count();
        if len == 0 {
            return Err(ParseError::at(
                self.pos,
                format!("syntax error: unexpected {}", describe(rest)),
            ));
        }
        self.pos += len;
        Ok(rest[..len].to_owned())
    }
    fn string(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let rest = &self.src[self.pos..];
        if let Some(raw) = rest.strip_prefix('`') {
            let end = raw
                .find('`')
                .ok_or_else(|| ParseError::at(start, "unterminated raw string"))?;
            self.pos += end + 2;
            return Ok(raw[..end].to_owned());
        }
        if !rest.starts_with('"') {
            return Err(ParseError::at(
                start,
                format!(
                    "syntax error: unexpected {}, expecting STRING",
                    describe(rest)
                ),
            ));
        }
        let mut out = String::new();
        let mut chars = rest[1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 2;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, other)) => out.push(other),
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(ParseError::at(start, "unterminated string"))
    }
    fn match_op(&mut self) -> Result<MatchOp, ParseError> {
        for (tok, op) in [
            ("=~", MatchOp::Re),
            ("!~", MatchOp::NotRe),
            ("!=", MatchOp::Ne),
            ("=", MatchOp::Eq),
        ] {
            if self.eat(tok) {
                return Ok(op);
            }
        }
        Err(ParseError::at(
            self.pos,
            format!(
                "syntax error: unexpected {}, expecting = or != or =~ or !~",
                describe(&self.src[self.pos..])
            ),
        ))
    }
}

fn describe(rest: &str) -> String {
    match rest.chars().next() {
        None => "end of input".into(),
        Some(_) => format!("`{}`", rest.chars().take(12).collect::<String>()),
    }
}

fn compile(re: &str, at: usize) -> Result<Regex, ParseError> {
    Regex::new(re).map_err(|e| ParseError::at(at, format!("invalid regex: {e}")))
}

impl LogQuery {
    pub fn parse(src: &str) -> Result<Self, ParseError> {
        let mut lx = Lexer { src, pos: 0 };
        if !lx.eat("{") {
            lx.skip_ws();
            return Err(ParseError::at(
                lx.pos,
                "queries require at least one stream selector such as {app=\"x\"}",
            ));
        }
        let mut selector = Vec::new();
        if !lx.eat("}") {
            loop {
                let at = lx.pos;
                let name = lx.ident()?;
                let op = lx.match_op()?;
                let value = lx.string()?;
                selector.push(LabelMatcher::new(name, op, value, at)?);
                if lx.eat(",") {
                    continue;
                }
                if lx.eat("}") {
                    break;
                }
                return Err(ParseError::at(
                    lx.pos,
                    format!(
                        "syntax error: unexpected {}, expecting , or }}",
                        describe(&src[lx.pos..])
                    ),
                ));
            }
        }
        if !selector.iter().any(|m| match m.op {
            MatchOp::Eq => !m.value.is_empty(),
            MatchOp::Re => m.re.as_ref().is_some_and(|r| !r.is_match("")),
            _ => false,
        }) {
            return Err(ParseError::at(
                0,
                "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will",
            ));
        }
        let mut stages = Vec::new();
        while !lx.at_end() {
            let at = lx.pos;
            if lx.eat("|=") {
                stages.push(Stage::Contains(lx.string()?));
            } else if lx.eat("|~") {
                let s = lx.string()?;
                stages.push(Stage::Matches(compile(&s, at)?));
            } else if lx.eat("!=") {
                stages.push(Stage::NotContains(lx.string()?));
            } else if lx.eat("!~") {
                let s = lx.string()?;
                stages.push(Stage::NotMatches(compile(&s, at)?));
            } else if lx.eat("|") {
                let at = lx.pos;
                let word = lx.ident()?;
                match word.as_str() {
                    "json" => stages.push(Stage::Json),
                    "logfmt" => stages.push(Stage::Logfmt),
                    "line_format" => stages.push(Stage::LineFormat(lx.string()?)),
                    "regexp" | "pattern" | "unpack" | "label_format" | "drop" | "keep"
                    | "decolorize" | "unwrap" => {
                        return Err(ParseError::at(
                            at,
                            format!("`{word}` is not supported by the simulated Loki"),
                        ));
                    }
                    _ => {
                        let op = lx.match_op()?;
                        let value = lx.string()?;
                        stages.push(Stage::LabelFilter(LabelMatcher::new(word, op, value, at)?));
                    }
                }
            } else {
                return Err(ParseError::at(
                    at,
                    format!("syntax error: unexpected {}", describe(&src[at..])),
                ));
            }
        }
        Ok(Self { selector, stages })
    }

    /// Whether a stream's labels match the selector.
    pub fn selects(&self, labels: &Labels) -> bool {
        self.selector.iter().all(|m| m.matches(labels))
    }

    /// Run the pipeline on one line of a selected stream: `None` when filtered out, else the
    /// (possibly extended) labels and the (possibly reformatted) line. Labels are only cloned
    /// when a parser stage adds to them.
    pub fn run<'l>(
        &self,
        labels: &'l Labels,
        line: &str,
    ) -> Option<(std::borrow::Cow<'l, Labels>, String)> {
        let mut labels = std::borrow::Cow::Borrowed(labels);
        let mut line = std::borrow::Cow::Borrowed(line);
        for stage in &self.stages {
            match stage {
                Stage::Contains(s) => {
                    if !line.contains(s.as_str()) {
                        return None;
                    }
                }
                Stage::NotContains(s) => {
                    if line.contains(s.as_str()) {
                        return None;
                    }
                }
                Stage::Matches(r) => {
                    if !r.is_match(&line) {
                        return None;
                    }
                }
                Stage::NotMatches(r) => {
                    if r.is_match(&line) {
                        return None;
                    }
                }
                Stage::Json => {
                    if let Ok(serde_json::Value::Object(map)) =
                        serde_json::from_str::<serde_json::Value>(&line)
                    {
                        let l = labels.to_mut();
                        for (k, v) in map {
                            let v = match v {
                                serde_json::Value::String(s) => s,
                                other => other.to_string(),
                            };
                            l.insert(sanitize(&k), v);
                        }
                    } else {
                        labels
                            .to_mut()
                            .insert("__error__".into(), "JSONParserErr".into());
                    }
                }
                Stage::Logfmt => {
                    let pairs = logfmt_pairs(&line);
                    let l = labels.to_mut();
                    for (k, v) in pairs {
                        l.insert(sanitize(&k), v);
                    }
                }
                Stage::LabelFilter(m) => {
                    if !m.matches(&labels) {
                        return None;
                    }
                }
                Stage::LineFormat(tpl) => {
                    line = std::borrow::Cow::Owned(line_format(tpl, &labels));
                }
            }
        }
        Some((labels, line.into_owned()))
    }
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn logfmt_pairs(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        let key_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let key = &rest[..key_end];
        rest = &rest[key_end..];
        let value = if let Some(r) = rest.strip_prefix('=') {
            if let Some(q) = r.strip_prefix('"') {
                let mut v = String::new();
                let mut end = q.len();
                let mut esc = false;
                for (i, c) in q.char_indices() {
                    if esc {
                        v.push(c);
                        esc = false;
                    } else if c == '\\' {
                        esc = true;
                    } else if c == '"' {
                        end = i + 1;
                        break;
                    } else {
                        v.push(c);
                    }
                }
                rest = &q[end.min(q.len())..];
                v
            } else {
                let end = r.find(char::is_whitespace).unwrap_or(r.len());
                rest = &r[end..];
                r[..end].to_owned()
            }
        } else {
            String::new()
        };
        if !key.is_empty() {
            out.push((key.to_owned(), value));
        }
        rest = rest.trim_start();
    }
    out
}

fn line_format(tpl: &str, labels: &Labels) -> String {
    let mut out = String::with_capacity(tpl.len());
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let key = after[..end].trim().trim_start_matches('.');
                out.push_str(labels.get(key).map(String::as_str).unwrap_or(""));
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A duration the way Loki reads a range `[...]` and `since`: Prometheus' `model.ParseDuration`,
/// units `y`, `w`, `d`, `h`, `m`, `s`, `ms`, each at most once and largest first (`1h30m`,
/// `250ms`, `0`). `ns`, `us` and `µs` are refused, as real Loki refuses them. In ns; `None` when
/// invalid or beyond `i64`.
pub fn parse_duration_ns(s: &str) -> Option<i64> {
    const UNITS: [(&str, i64); 7] = [
        ("y", 365 * 86_400_000_000_000),
        ("w", 7 * 86_400_000_000_000),
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
    ];
    if s == "0" {
        return Some(0);
    }
    if s.is_empty() {
        return None;
    }
    let mut rest = s;
    let mut total = 0i64;
    let mut next_unit = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest.get(..digits)?.parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let i = next_unit + UNITS[next_unit..].iter().position(|(u, _)| *u == unit)?;
        next_unit = i + 1;
        total = total.checked_add(n.checked_mul(UNITS[i].1)?)?;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn selector_and_line_filters() {
        let q = LogQuery::parse(
            r#"{namespace="media", app=~"jelly.*"} |= "GET" != "healthz" |~ "5\\d\\d""#,
        )
        .unwrap();
        let l = labels(&[("namespace", "media"), ("app", "jellyfin")]);
        assert!(q.selects(&l));
        assert!(
            !q.selects(&labels(&[("namespace", "media"), ("app", "xjellyfin")])),
            "regex is anchored"
        );
        assert!(q.run(&l, "GET /items 503").is_some());
        assert!(q.run(&l, "GET /healthz 503").is_none());
        assert!(q.run(&l, "GET /items 200").is_none());
    }

    #[test]
    fn json_label_filter_and_line_format() {
        let q = LogQuery::parse(
            r#"{app="flux"} | json | level="error" | line_format "{{.level}}: {{.msg}}""#,
        )
        .unwrap();
        let l = labels(&[("app", "flux")]);
        let (labels_out, line) = q
            .run(&l, r#"{"level":"error","msg":"apply failed"}"#)
            .unwrap();
        assert_eq!(line, "error: apply failed");
        assert_eq!(labels_out["msg"], "apply failed");
        assert!(q.run(&l, r#"{"level":"info","msg":"ok"}"#).is_none());
    }

    #[test]
    fn logfmt_with_quotes() {
        let q = LogQuery::parse(r#"{app="p"} | logfmt | component="tsdb""#).unwrap();
        let input = labels(&[("app", "p")]);
        let (l, _) = q
            .run(
                &input,
                r#"ts=1 level=info component=tsdb msg="Head GC completed""#,
            )
            .unwrap();
        assert_eq!(l["msg"], "Head GC completed");
    }

    #[test]
    fn rejects_what_loki_rejects() {
        assert!(
            LogQuery::parse("app=\"x\"")
                .unwrap_err()
                .message
                .contains("stream selector")
        );
        assert!(
            LogQuery::parse(r#"{app=~".*"}"#)
                .unwrap_err()
                .message
                .contains("empty-compatible")
        );
        assert!(
            LogQuery::parse(r#"{app="x"} |= "a"#)
                .unwrap_err()
                .message
                .contains("unterminated")
        );
        assert!(
            LogQuery::parse(r#"{app="x"} | regexp "(?P<a>.)""#)
                .unwrap_err()
                .message
                .contains("not supported")
        );
        assert!(LogQuery::parse(r#"{app="x" job="y"}"#).is_err());
        let e = LogQuery::parse(r#"{app="x"} |~ "(""#).unwrap_err();
        assert!(
            e.to_string().starts_with("parse error at line 1, col 11"),
            "{e}"
        );
    }

    #[test]
    fn durations_are_prometheus_ones_without_ns_or_us() {
        assert_eq!(parse_duration_ns("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration_ns("250ms"), Some(250_000_000));
        assert_eq!(parse_duration_ns("1d2h"), Some(93_600_000_000_000));
        assert_eq!(parse_duration_ns("0"), Some(0));
        for bad in [
            "5x",
            "",
            "5",
            "1500ns",
            "15us",
            "15µs",
            "30m1h",
            "1s1s",
            "ms",
            "999999999999y",
        ] {
            assert_eq!(parse_duration_ns(bad), None, "{bad}");
        }
    }
}
