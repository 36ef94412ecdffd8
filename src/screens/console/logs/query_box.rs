//! The LogQL box: a one-line editor with history (Up/Down) and completion of label names and
//! values (Tab), driven by what `/loki/api/v1/labels` and `/label/<name>/values` return.

use crate::widgets::line_edit::{History, LineEdit};
use crossterm::event::{KeyCode, KeyEvent};
use std::collections::HashMap;

/// Where the cursor is, as far as completion cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CompletionContext {
    /// Typing a label name inside `{...}`.
    LabelName {
        prefix: String,
    },
    /// Typing a value inside quotes after `name=`, `name=~`...
    LabelValue {
        name: String,
        prefix: String,
    },
    /// After a `|`: a pipeline stage.
    Stage {
        prefix: String,
    },
    None,
}

/// Pipeline words offered after `|`.
const STAGES: &[&str] = &[
    "json",
    "logfmt",
    "line_format \"{{.msg}}\"",
    "= \"\"",
    "~ \"\"",
];

/// Analyse the text before the cursor.
pub fn context_at(before: &str) -> CompletionContext {
    // Inside a selector? Find the last `{` that is not closed (quotes respected).
    let mut depth_open: Option<usize> = None;
    let mut in_quote = false;
    let mut quote_start = 0;
    let mut escaped = false;
    for (i, c) in before.char_indices() {
        if in_quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quote = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_quote = true;
                quote_start = i;
            }
            '{' => depth_open = Some(i),
            '}' => depth_open = None,
            _ => {}
        }
    }
    if let Some(open) = depth_open {
        if in_quote {
            // `name op "prefix`
            let head = before[open + 1..quote_start].trim_end();
            let head = head.trim_end_matches(['=', '~', '!']).trim_end();
            let name: String = head
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
                .chars()
                .rev()
                .collect();
            if name.is_empty() {
                return CompletionContext::None;
            }
            return CompletionContext::LabelValue {
                name,
                prefix: before[quote_start + 1..].to_owned(),
            };
        }
        let segment = &before[open + 1..];
        let segment = segment.rsplit(',').next().unwrap_or("").trim_start();
        if segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return CompletionContext::LabelName {
                prefix: segment.to_owned(),
            };
        }
        return CompletionContext::None;
    }
    if in_quote {
        return CompletionContext::None;
    }
    if let Some(pos) = before.rfind('|') {
        let after = &before[pos + 1..];
        let trimmed = after.trim_start();
        if trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return CompletionContext::Stage {
                prefix: trimmed.to_owned(),
            };
        }
    }
    CompletionContext::None
}

#[derive(Debug, Clone)]
pub struct QueryBox {
    edit: LineEdit,
    history: History,
    /// Completion candidates for the current context, and which one Tab last inserted.
    pub candidates: Vec<String>,
    pub candidate_idx: Option<usize>,
    /// Byte span and kind of the text the last Tab inserted (for cycling).
    last_insert: Option<(usize, usize, Kind)>,
    /// Known label names and values (filled by the backend).
    pub label_names: Vec<String>,
    pub label_values: HashMap<String, Vec<String>>,
}

impl Default for QueryBox {
    fn default() -> Self {
        QueryBox {
            edit: LineEdit::default().with_word_stops(WORD_STOPS),
            history: History::default(),
            candidates: Vec::new(),
            candidate_idx: None,
            last_insert: None,
            label_names: Vec::new(),
            label_values: HashMap::new(),
        }
    }
}

/// Where Ctrl-W stops besides whitespace: LogQL's punctuation.
const WORD_STOPS: &str = "{},|=\"";

/// What the box needs from outside after an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryBoxNeed {
    Nothing,
    LabelNames,
    LabelValues(String),
}

impl QueryBox {
    /// The field (for drawing).
    pub fn edit(&self) -> &LineEdit {
        &self.edit
    }
    pub fn text(&self) -> &str {
        self.edit.value()
    }
    pub fn cursor(&self) -> usize {
        self.edit.cursor()
    }
    pub fn history(&self) -> &[String] {
        self.history.entries()
    }

    /// Replace the text, cursor at the end.
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.edit.set(&text.into());
        self.history.stop_browsing();
        self.clear_candidates();
    }

    /// Put the cursor at byte `pos` (clamped to a char boundary).
    pub fn set_cursor(&mut self, pos: usize) {
        self.edit.set_cursor(pos);
    }

    fn clear_candidates(&mut self) {
        self.candidates.clear();
        self.candidate_idx = None;
        self.last_insert = None;
    }

    /// An editing key (see [`LineEdit::on_key`]). Moving the cursor ends a Tab cycle; editing
    /// drops the candidates, and changing the text ends history browsing.
    pub fn on_key(&mut self, key: KeyEvent) -> bool {
        let len = self.edit.value().len();
        if !self.edit.on_key(key) {
            return false;
        }
        if matches!(key.code, KeyCode::Left | KeyCode::Right) {
            self.last_insert = None;
            self.candidate_idx = None;
        } else {
            self.clear_candidates();
        }
        if self.edit.value().len() != len {
            self.history.stop_browsing();
        }
        true
    }

    /// Pasted text at the cursor.
    pub fn insert_str(&mut self, text: &str) {
        self.edit.insert_str(text);
        self.history.stop_browsing();
        self.clear_candidates();
    }

    /// Up: older history entry.
    pub fn history_prev(&mut self) {
        self.history.prev(&mut self.edit);
    }

    /// Down: newer history entry, then back to the draft.
    pub fn history_next(&mut self) {
        self.history.next(&mut self.edit);
    }

    /// Enter: the query to run, recorded in history (no consecutive duplicates).
    pub fn submit(&mut self) -> String {
        let q = self.text().trim().to_owned();
        self.history.record(&q);
        self.clear_candidates();
        q
    }

    /// Load history (oldest first), e.g. from the state file.
    pub fn set_history(&mut self, history: Vec<String>) {
        self.history.set(history);
    }

    pub fn context(&self) -> CompletionContext {
        context_at(&self.text()[..self.cursor()])
    }

    /// What completion needs fetched for the current context, if anything.
    pub fn need(&self) -> QueryBoxNeed {
        match self.context() {
            CompletionContext::LabelName { .. } if self.label_names.is_empty() => {
                QueryBoxNeed::LabelNames
            }
            CompletionContext::LabelValue { name, .. }
                if !self.label_values.contains_key(&name) =>
            {
                QueryBoxNeed::LabelValues(name)
            }
            _ => QueryBoxNeed::Nothing,
        }
    }

    /// Candidates for the context: prefix matches first, then substring matches.
    pub fn candidates_for(&self, ctx: &CompletionContext) -> Vec<String> {
        let (pool, prefix): (Vec<&str>, &str) = match ctx {
            CompletionContext::LabelName { prefix } => (
                self.label_names.iter().map(String::as_str).collect(),
                prefix,
            ),
            CompletionContext::LabelValue { name, prefix } => (
                self.label_values
                    .get(name)
                    .map(|v| v.iter().map(String::as_str).collect())
                    .unwrap_or_default(),
                prefix,
            ),
            CompletionContext::Stage { prefix } => (STAGES.to_vec(), prefix),
            CompletionContext::None => return Vec::new(),
        };
        let p = prefix.to_ascii_lowercase();
        let mut starts: Vec<String> = Vec::new();
        let mut contains: Vec<String> = Vec::new();
        for c in pool {
            let lc = c.to_ascii_lowercase();
            if lc.starts_with(&p) {
                starts.push(c.to_owned());
            } else if !p.is_empty() && lc.contains(&p) {
                contains.push(c.to_owned());
            }
        }
        starts.extend(contains);
        starts
    }

    /// Tab: insert the next candidate; Tab again cycles. Returns false when there is nothing to
    /// offer.
    pub fn complete(&mut self) -> bool {
        if let (Some(idx), Some((start, end, kind))) = (self.candidate_idx, self.last_insert) {
            if self.candidates.is_empty() {
                return false;
            }
            let next = (idx + 1) % self.candidates.len();
            let insert = render_candidate(kind, &self.candidates[next]);
            self.edit.replace_range(start..end, &insert);
            self.candidate_idx = Some(next);
            self.last_insert = Some((start, self.cursor(), kind));
            return true;
        }
        let ctx = self.context();
        self.candidates = self.candidates_for(&ctx);
        if self.candidates.is_empty() {
            return false;
        }
        let cursor = self.cursor();
        let (kind, start) = match &ctx {
            CompletionContext::LabelName { prefix } => (Kind::Name, cursor - prefix.len()),
            CompletionContext::LabelValue { prefix, .. } => (Kind::Value, cursor - prefix.len()),
            CompletionContext::Stage { .. } => (
                Kind::Stage,
                self.text()[..cursor].rfind('|').map_or(cursor, |p| p + 1),
            ),
            CompletionContext::None => return false,
        };
        let insert = render_candidate(kind, &self.candidates[0]);
        self.edit.replace_range(start..cursor, &insert);
        let end = self.cursor();
        if kind == Kind::Name && !self.text()[end..].starts_with('"') {
            self.edit.replace_range(end..end, "\"");
            self.edit.set_cursor(end);
        }
        self.candidate_idx = Some(0);
        self.last_insert = Some((start, end, kind));
        true
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Name,
    Value,
    Stage,
}

fn render_candidate(kind: Kind, candidate: &str) -> String {
    match kind {
        Kind::Name => format!("{candidate}=\""),
        Kind::Value => escape_value(candidate),
        Kind::Stage => format!(" {candidate}"),
    }
}

fn escape_value(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts() {
        assert_eq!(
            context_at("{"),
            CompletionContext::LabelName { prefix: "".into() }
        );
        assert_eq!(
            context_at("{app=\"x\", name"),
            CompletionContext::LabelName {
                prefix: "name".into()
            }
        );
        assert_eq!(
            context_at("{app=~\"jel"),
            CompletionContext::LabelValue {
                name: "app".into(),
                prefix: "jel".into()
            }
        );
        assert_eq!(
            context_at("{app=\"a\", namespace != \""),
            CompletionContext::LabelValue {
                name: "namespace".into(),
                prefix: "".into()
            }
        );
        assert_eq!(
            context_at("{app=\"a\"} | js"),
            CompletionContext::Stage {
                prefix: "js".into()
            }
        );
        assert_eq!(context_at("{app=\"a\"} |= \"x"), CompletionContext::None);
        assert_eq!(
            context_at("{app=\"a{b\", x"),
            CompletionContext::LabelName { prefix: "x".into() }
        );
    }

    fn keys(q: &mut QueryBox, text: &str) {
        for c in text.chars() {
            assert!(q.on_key(KeyEvent::from(KeyCode::Char(c))));
        }
    }

    #[test]
    fn completes_names_then_values_and_cycles() {
        let mut q = QueryBox {
            label_names: vec!["app".into(), "namespace".into(), "node_name".into()],
            ..Default::default()
        };
        q.label_values.insert(
            "namespace".into(),
            vec!["media".into(), "monitoring".into()],
        );
        keys(&mut q, "{na");
        assert_eq!(q.need(), QueryBoxNeed::Nothing);
        assert!(q.complete());
        assert_eq!(q.text(), "{namespace=\"\"");
        assert_eq!(q.cursor(), "{namespace=\"".len());
        assert!(q.complete(), "cycles names");
        assert_eq!(q.text(), "{node_name=\"\"");
        assert!(q.complete());
        assert_eq!(q.text(), "{namespace=\"\"");
        // A new context: values for namespace.
        keys(&mut q, "m");
        assert!(q.complete());
        assert_eq!(q.text(), "{namespace=\"media\"");
        assert!(q.complete(), "cycles");
        assert_eq!(q.text(), "{namespace=\"monitoring\"");
        q.on_key(KeyEvent::from(KeyCode::End));
        keys(&mut q, "}");
        assert_eq!(q.text(), "{namespace=\"monitoring\"}");
    }

    #[test]
    fn asks_for_what_it_lacks() {
        let mut q = QueryBox::default();
        q.set_text("{");
        assert_eq!(q.need(), QueryBoxNeed::LabelNames);
        q.set_text("{pod=\"");
        assert_eq!(q.need(), QueryBoxNeed::LabelValues("pod".into()));
    }

    #[test]
    fn history_browsing_restores_the_draft() {
        let mut q = QueryBox::default();
        q.set_text("{a=\"1\"}");
        q.submit();
        q.set_text("{a=\"2\"}");
        q.submit();
        q.set_text("{a=\"2\"}");
        q.submit();
        assert_eq!(q.history().len(), 2, "no consecutive duplicates");
        q.set_text("draft");
        q.history_prev();
        assert_eq!(q.text(), "{a=\"2\"}");
        q.history_prev();
        q.history_prev();
        assert_eq!(q.text(), "{a=\"1\"}");
        q.history_next();
        q.history_next();
        assert_eq!(q.text(), "draft");
    }
}
