//! Label and field selectors as the apiserver parses them (`labels.Parse`, `fields.ParseSelector`).
//! Field selectors take any dotted path into the object (`metadata.name`, `metadata.namespace`,
//! `involvedObject.name`, `spec.nodeName`, `status.phase`...): a superset of the per-type lists a
//! real server accepts, so an unsupported field is not refused here.

use super::errors::ApiError;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
enum LabelReq {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    Absent(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selectors {
    labels: Vec<LabelReq>,
    fields: Vec<(String, bool, String)>,
}

/// Split on commas outside parentheses.
fn terms(s: &str) -> Vec<&str> {
    let mut out = vec![];
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect()
}

fn set(rest: &str, whole: &str) -> Result<Vec<String>, ApiError> {
    let inner = rest
        .trim()
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{whole}', expected: '('"
            ))
        })?;
    Ok(inner.split(',').map(|v| v.trim().to_string()).collect())
}

fn parse_label(t: &str) -> Result<LabelReq, ApiError> {
    if let Some(k) = t.strip_prefix('!') {
        return Ok(LabelReq::Absent(k.trim().to_string()));
    }
    if let Some((k, v)) = t.split_once("!=") {
        return Ok(LabelReq::Ne(k.trim().into(), v.trim().into()));
    }
    if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
        return Ok(LabelReq::Eq(k.trim().into(), v.trim().into()));
    }
    let mut words = t.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default().to_string();
    let rest = words.next().unwrap_or_default().trim();
    if let Some(r) = rest.strip_prefix("notin") {
        return Ok(LabelReq::NotIn(key, set(r, t)?));
    }
    if let Some(r) = rest.strip_prefix("in") {
        return Ok(LabelReq::In(key, set(r, t)?));
    }
    if rest.is_empty() {
        return Ok(LabelReq::Exists(key));
    }
    Err(ApiError::bad_request(format!(
        "unable to parse requirement: {t}"
    )))
}

impl Selectors {
    pub fn parse(label: Option<&str>, field: Option<&str>) -> Result<Self, ApiError> {
        let labels = terms(label.unwrap_or_default())
            .into_iter()
            .map(parse_label)
            .collect::<Result<_, _>>()?;
        let fields = terms(field.unwrap_or_default())
            .into_iter()
            .map(|t| {
                if let Some((k, v)) = t.split_once("!=") {
                    Ok((k.trim().to_string(), false, v.trim().to_string()))
                } else if let Some((k, v)) = t.split_once("==").or_else(|| t.split_once('=')) {
                    Ok((k.trim().to_string(), true, v.trim().to_string()))
                } else {
                    Err(ApiError::bad_request(format!(
                        "invalid selector: '{t}'; can't understand '{t}'"
                    )))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { labels, fields })
    }

    pub fn matches(&self, obj: &Value) -> bool {
        let labels = obj.pointer("/metadata/labels");
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|r| match r {
            LabelReq::Eq(k, v) => label(k) == Some(v.as_str()),
            LabelReq::Ne(k, v) => label(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::NotIn(k, vs) => !label(k).is_some_and(|l| vs.iter().any(|v| v == l)),
            LabelReq::Exists(k) => label(k).is_some(),
            LabelReq::Absent(k) => label(k).is_none(),
        });
        labels_ok
            && self
                .fields
                .iter()
                .all(|(path, eq, want)| (field(obj, path) == *want) == *eq)
    }
}

/// A dotted path's value as the string a field selector compares ("" when absent).
fn field(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_and_field_selectors() {
        let o = json!({"metadata":{"name":"a","namespace":"n","labels":{"app":"web","tier":"fe"}},"status":{"phase":"Running"}});
        let m = |l: &str, f: &str| Selectors::parse(Some(l), Some(f)).unwrap().matches(&o);
        assert!(m("app=web", ""));
        assert!(m("app==web,tier", ""));
        assert!(!m("app!=web", ""));
        assert!(m("app in (web, db),!gone", ""));
        assert!(!m("tier notin (fe)", ""));
        assert!(m("", "metadata.name=a,metadata.namespace==n"));
        assert!(m("", "status.phase=Running,metadata.name!=b"));
        assert!(!m("", "metadata.name=b"));
        assert!(Selectors::parse(Some("app in web"), None).is_err());
    }
}
