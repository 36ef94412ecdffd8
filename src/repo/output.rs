//! `homelab check` output: human (grouped by rule, `file:line`) and JSON.

use super::check::{RULES, Report};
use crate::domain::printable::sanitize;
use std::fmt::Write;

/// Grouped, plain-text report (no colour codes: it is read in CI logs as often as in terminals).
pub fn human(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "homelab check: {} ({} files, {} YAML documents, {} rules)",
        sanitize(&report.root),
        report.files,
        report.documents,
        RULES.len()
    );
    if report.ok() {
        let _ = writeln!(
            s,
            "\nok: the repository conforms to the Stage 1 architecture"
        );
        return s;
    }
    let groups = report.by_rule();
    for (rule, violations) in &groups {
        let _ = writeln!(s, "\n[{}] {} ({})", rule.id, rule.title, violations.len());
        // File names and the values quoted in messages come from the repository.
        let locations: Vec<String> = violations
            .iter()
            .map(|v| sanitize(&v.location()).into_owned())
            .collect();
        let width = locations.iter().map(String::len).max().unwrap_or(0);
        for (v, location) in violations.iter().zip(&locations) {
            let _ = writeln!(s, "  {location:<width$}  {}", sanitize(&v.message));
        }
        let _ = writeln!(s, "  fix: {}", rule.hint);
    }
    let _ = writeln!(
        s,
        "\n{} violation{} of {} rule{}",
        report.violations.len(),
        if report.violations.len() == 1 {
            ""
        } else {
            "s"
        },
        groups.len(),
        if groups.len() == 1 { "" } else { "s" }
    );
    s
}

/// [`json`] with the `--outdated` comparison under `outdated`:
/// `{pins: [{release, file, line, chart, version, repository, url, status, ...}], repository_errors}`.
pub fn json_with_outdated(report: &Report, outdated: &super::outdated::OutdatedReport) -> String {
    let mut doc = json_value(report);
    if let Some(map) = doc.as_object_mut() {
        map.insert(
            "outdated".into(),
            serde_json::to_value(outdated).unwrap_or(serde_json::Value::Null),
        );
    }
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Machine-readable report: `{root, files, documents, ok, rules, violations: [{rule, file, line, message, hint}]}`.
pub fn json(report: &Report) -> String {
    serde_json::to_string_pretty(&json_value(report))
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

fn json_value(report: &Report) -> serde_json::Value {
    let violations: Vec<serde_json::Value> = report
        .violations
        .iter()
        .map(|v| {
            serde_json::json!({
                "rule": v.rule,
                "file": v.file,
                "line": v.line,
                "message": v.message,
                "hint": super::check::rule(v.rule).map(|r| r.hint),
            })
        })
        .collect();
    serde_json::json!({
        "root": report.root,
        "files": report.files,
        "documents": report.documents,
        "ok": report.ok(),
        "rules": RULES,
        "violations": violations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::check::Violation;

    /// A file name and a YAML value with CSI, OSC and C1 controls come out neutralised.
    #[test]
    fn file_names_and_values_are_sanitized() {
        let hostile = "x\x1b[2J\x1b]0;owned\x07\u{9b}31m\x1bcy";
        let rule = &crate::repo::check::RULES[0];
        let report = Report {
            root: format!("/srv/{hostile}"),
            files: 1,
            documents: 1,
            violations: vec![Violation::new(
                rule,
                &format!("cluster/{hostile}.yaml"),
                Some(3),
                format!("value `{hostile}` is not allowed"),
            )],
        };
        let out = human(&report);
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\n'),
            "control characters reach the terminal: {out:?}"
        );
        assert!(out.contains("cluster/xy.yaml:3"), "{out}");
        assert!(out.contains("value `xy` is not allowed"), "{out}");
    }
}
