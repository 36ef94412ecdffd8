//! `homelab check` output: human (grouped by rule, `file:line`) and JSON.

use super::check::{RULES, Report};
use std::fmt::Write;

/// Grouped, plain-text report (no colour codes: it is read in CI logs as often as in terminals).
pub fn human(report: &Report) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "homelab check: {} ({} files, {} YAML documents, {} rules)",
        report.root,
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
        let width = violations
            .iter()
            .map(|v| v.location().len())
            .max()
            .unwrap_or(0);
        for v in violations {
            let _ = writeln!(s, "  {:<width$}  {}", v.location(), v.message);
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

/// Machine-readable report: `{root, files, documents, ok, rules, violations: [{rule, file, line, message, hint}]}`.
pub fn json(report: &Report) -> String {
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
    let doc = serde_json::json!({
        "root": report.root,
        "files": report.files,
        "documents": report.documents,
        "ok": report.ok(),
        "rules": RULES,
        "violations": violations,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
