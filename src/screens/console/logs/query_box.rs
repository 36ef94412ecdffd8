//! The LogQL box: a one-line editor with history (Up/Down) and completion of label names and
//! values (Tab), driven by what `/loki/api/v1/labels` and `/label/<name>/values` return.

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

#[derive(Debug, Clone, Default)]
pub struct QueryBox {
    text: String,
    /// Byte offset, always on a char boundary.
    cursor: usize,
    history: Vec<String>,
    /// Position while browsing history (index into `history`).
    browsing: Option<usize>,
    /// The text being edited before history browsing started.
    draft: String,
    /// Completion candidates for the current context, and which one Tab last inserted.
    pub candidates: Vec<String>,
    pub candidate_idx: Option<usize>,
    /// Byte span and kind of the text the last Tab inserted (for cycling).
    last_insert: Option<(usize, usize, Kind)>,
    /// Known label names and values (filled by the backend).
    pub label_names: Vec<String>,
    pub label_values: HashMap<String, Vec<String>>,
}

/// What the box needs from outside after an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryBoxNeed {
    Nothing,
    LabelNames,
    LabelValues(String),
}

const HISTORY_MAX: usize = 200;

impl QueryBox {
    pub fn text(&self) -> &str {
        &self.text
    }
    pub fn cursor(&self) -> usize {
        self.cursor
    }
    pub fn history(&self) -> &[String] {
        &self.history
    }

    /// Replace the text, cursor at the end.
    pub fn set_text(&mut self, text: impl Into<String>) {
        self.text = text.into();
        self.cursor = self.text.len();
        self.browsing = None;
        self.clear_candidates();
    }

    /// Put the cursor at byte `pos` (clamped to a char boundary).
    pub fn set_cursor(&mut self, pos: usize) {
        let mut p = pos.min(self.text.len());
        while !self.text.is_char_boundary(p) {
            p -= 1;
        }
        self.cursor = p;
    }

    fn clear_candidates(&mut self) {
        self.candidates.clear();
        self.candidate_idx = None;
        self.last_insert = None;
    }

    pub fn insert(&mut self, c: char) {
        self.text.insert(self.cursor, c);
        self.cursor += c.len_utf8();
        self.browsing = None;
        self.clear_candidates();
    }

    pub fn backspace(&mut self) {
        if let Some((i, _)) = self.text[..self.cursor].char_indices().next_back() {
            self.text.replace_range(i..self.cursor, "");
            self.cursor = i;
        }
        self.clear_candidates();
    }

    pub fn delete(&mut self) {
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.text
                .replace_range(self.cursor..self.cursor + c.len_utf8(), "");
        }
        self.clear_candidates();
    }

    pub fn left(&mut self) {
        self.last_insert = None;
        self.candidate_idx = None;
        if let Some((i, _)) = self.text[..self.cursor].char_indices().next_back() {
            self.cursor = i;
        }
    }
    pub fn right(&mut self) {
        self.last_insert = None;
        self.candidate_idx = None;
        if let Some(c) = self.text[self.cursor..].chars().next() {
            self.cursor += c.len_utf8();
        }
    }
    pub fn home(&mut self) {
        self.clear_candidates();
        self.cursor = 0;
    }
    pub fn end(&mut self) {
        self.clear_candidates();
        self.cursor = self.text.len();
    }
    /// Ctrl-U: delete to the start.
    pub fn kill_to_start(&mut self) {
        self.text.replace_range(..self.cursor, "");
        self.cursor = 0;
        self.clear_candidates();
    }
    /// Ctrl-W: delete the word before the cursor.
    pub fn kill_word(&mut self) {
        let before = &self.text[..self.cursor];
        let trimmed = before.trim_end();
        let start = trimmed
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || "{},|=\"".contains(*c))
            .map(|(i, c)| i + c.len_utf8())
            .unwrap_or(0);
        self.text.replace_range(start..self.cursor, "");
        self.cursor = start;
        self.clear_candidates();
    }

    /// Up: older history entry.
    pub fn history_prev(&mut self) {
        if self.history.is_empty() {
            return;
        }
        let idx = match self.browsing {
            None => {
                self.draft = self.text.clone();
                self.history.len() - 1
            }
            Some(0) => 0,
            Some(i) => i - 1,
        };
        self.browsing = Some(idx);
        self.text = self.history[idx].clone();
        self.cursor = self.text.len();
    }

    /// Down: newer history entry, then back to the draft.
    pub fn history_next(&mut self) {
        let Some(i) = self.browsing else { return };
        if i + 1 < self.history.len() {
            self.browsing = Some(i + 1);
            self.text = self.history[i + 1].clone();
        } else {
            self.browsing = None;
            self.text = std::mem::take(&mut self.draft);
        }
        self.cursor = self.text.len();
    }

    /// Enter: the query to run, recorded in history (no consecutive duplicates).
    pub fn submit(&mut self) -> String {
        let q = self.text.trim().to_owned();
        if !q.is_empty() && self.history.last() != Some(&q) {
            self.history.push(q.clone());
            if self.history.len() > HISTORY_MAX {
                self.history.remove(0);
            }
        }
        self.browsing = None;
        self.clear_candidates();
        q
    }

    /// Load history (oldest first), e.g. from the state file.
    pub fn set_history(&mut self, history: Vec<String>) {
        self.history = history;
        if self.history.len() > HISTORY_MAX {
            let cut = self.history.len() - HISTORY_MAX;
            self.history.drain(..cut);
        }
    }

    pub fn context(&self) -> CompletionContext {
        context_at(&self.text[..self.cursor])
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
            self.text.replace_range(start..end, &insert);
            self.cursor = start + insert.len();
            self.candidate_idx = Some(next);
            self.last_insert = Some((start, self.cursor, kind));
            return true;
        }
        let ctx = self.context();
        self.candidates = self.candidates_for(&ctx);
        if self.candidates.is_empty() {
            return false;
        }
        let (kind, start) = match &ctx {
            CompletionContext::LabelName { prefix } => (Kind::Name, self.cursor - prefix.len()),
            CompletionContext::LabelValue { prefix, .. } => {
                (Kind::Value, self.cursor - prefix.len())
            }
            CompletionContext::Stage { .. } => (
                Kind::Stage,
                self.text[..self.cursor]
                    .rfind('|')
                    .map_or(self.cursor, |p| p + 1),
            ),
            CompletionContext::None => return false,
        };
        let insert = render_candidate(kind, &self.candidates[0]);
        self.text.replace_range(start..self.cursor, &insert);
        self.cursor = start + insert.len();
        if kind == Kind::Name && !self.text[self.cursor..].starts_with('"') {
            self.text.insert(self.cursor, '"');
        }
        self.candidate_idx = Some(0);
        self.last_insert = Some((start, self.cursor, kind));
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
        for c in "{na".chars() {
            q.insert(c);
        }
        assert_eq!(q.need(), QueryBoxNeed::Nothing);
        assert!(q.complete());
        assert_eq!(q.text(), "{namespace=\"\"");
        assert_eq!(q.cursor(), "{namespace=\"".len());
        assert!(q.complete(), "cycles names");
        assert_eq!(q.text(), "{node_name=\"\"");
        assert!(q.complete());
        assert_eq!(q.text(), "{namespace=\"\"");
        // A new context: values for namespace.
        q.insert('m');
        assert!(q.complete());
        assert_eq!(q.text(), "{namespace=\"media\"");
        assert!(q.complete(), "cycles");
        assert_eq!(q.text(), "{namespace=\"monitoring\"");
        q.end();
        q.insert('}');
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

    #[test]
    fn editing_is_utf8_safe() {
        let mut q = QueryBox::default();
        q.set_text("é{");
        q.left();
        q.left();
        q.insert('x');
        assert_eq!(q.text(), "xé{");
        q.end();
        q.backspace();
        q.backspace();
        assert_eq!(q.text(), "x");
        q.set_text("{app=\"x\"} |= \"foo bar");
        q.kill_word();
        assert_eq!(q.text(), "{app=\"x\"} |= \"foo ");
        q.kill_to_start();
        assert_eq!(q.text(), "");
    }
}
