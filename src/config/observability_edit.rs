//! Set keys of the cluster definition's top-level `observability:` mapping in place: only the
//! lines of those keys are replaced or inserted (a missing mapping is appended), so every
//! comment and the operator's layout stay. The result is parsed again before it is returned.
//! The observability stage writes the port-forward targets it verified through this.

use super::ClusterConfig;

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn is_content(line: &str) -> bool {
    let t = line.trim_start();
    !t.is_empty() && !t.starts_with('#')
}

fn key_of(line: &str) -> Option<&str> {
    let (k, _) = line.trim_start().split_once(':')?;
    (!k.is_empty() && !k.contains(' ') && !k.starts_with('-')).then_some(k)
}

/// Return `text` with `observability.<key>: "<value>"` for every pair. Values are quoted YAML
/// strings; they must not hold `"` or `\` (port-forward targets and URLs never do).
pub fn with_observability(text: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
    if let Some((k, v)) = pairs.iter().find(|(k, v)| {
        v.contains(['"', '\\', '\n']) || !k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
    }) {
        return Err(format!(
            "observability.{k}: `{v}` cannot be written as a plain YAML string"
        ));
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let top = lines
        .iter()
        .position(|l| is_content(l) && indent_of(l) == 0 && key_of(l) == Some("observability"));
    let top = match top {
        Some(i) => {
            let rest = lines[i].trim_start()["observability:".len()..].trim();
            if rest == "{}" {
                lines[i] = "observability:".into();
            } else if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "line {}: `observability:` is written inline; write it as a block, or set {} by hand",
                    i + 1,
                    pairs
                        .iter()
                        .map(|(k, _)| format!("observability.{k}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            i
        }
        None => {
            if lines.last().is_some_and(|l| !l.trim().is_empty()) {
                lines.push(String::new());
            }
            lines.push("observability:".into());
            lines.len() - 1
        }
    };
    for (key, value) in pairs {
        // The block: every line after `top` until a content line at indent 0.
        let end = (top + 1..lines.len())
            .find(|&i| is_content(&lines[i]) && indent_of(&lines[i]) == 0)
            .unwrap_or(lines.len());
        let children: Vec<usize> = (top + 1..end).filter(|&i| is_content(&lines[i])).collect();
        let indent = children.first().map(|&i| indent_of(&lines[i])).unwrap_or(2);
        let line = format!("{}{key}: \"{value}\"", " ".repeat(indent));
        match children
            .iter()
            .find(|&&i| indent_of(&lines[i]) == indent && key_of(&lines[i]) == Some(key))
        {
            Some(&i) => {
                let comment = lines[i]
                    .find(" #")
                    .map(|c| lines[i][c..].to_string())
                    .unwrap_or_default();
                lines[i] = format!("{line}{comment}");
            }
            None => {
                let at = children.last().map_or(top + 1, |&i| i + 1);
                lines.insert(at, line);
            }
        }
    }
    let mut out = lines.join("\n");
    out.push('\n');
    serde_yaml::from_str::<ClusterConfig>(&out)
        .map_err(|e| format!("the edited cluster definition does not parse: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/clusters/prox-n100.yaml"
        ))
        .unwrap()
    }

    #[test]
    fn keys_are_replaced_or_added_and_comments_stay() {
        let text = base();
        let out = with_observability(&text, &[("loki_service", "logging/loki:3100")]).unwrap();
        let cfg: ClusterConfig = serde_yaml::from_str(&out).unwrap();
        assert_eq!(
            cfg.observability.loki_service.as_deref(),
            Some("logging/loki:3100")
        );
        // Every line of the original is still there, in order.
        let kept: Vec<&str> = out
            .lines()
            .filter(|l| text.lines().any(|t| t == *l))
            .collect();
        assert_eq!(kept, text.lines().collect::<Vec<_>>());
        assert_eq!(out.lines().count(), text.lines().count() + 1);
        // Writing the same again changes nothing; a new value replaces the line.
        assert_eq!(
            with_observability(&out, &[("loki_service", "logging/loki:3100")]).unwrap(),
            out
        );
        let again = with_observability(&out, &[("loki_service", "logging/loki-gw:80")]).unwrap();
        assert_eq!(again.lines().count(), out.lines().count());
        assert!(again.contains("  loki_service: \"logging/loki-gw:80\""));
    }

    #[test]
    fn a_missing_or_empty_mapping_is_written_and_inline_ones_are_refused() {
        let text: String = base()
            .lines()
            .take_while(|l| !l.starts_with("observability:"))
            .map(|l| format!("{l}\n"))
            .collect();
        let out =
            with_observability(&text, &[("prometheus_service", "monitoring/p:9090")]).unwrap();
        assert!(
            out.ends_with("observability:\n  prometheus_service: \"monitoring/p:9090\"\n"),
            "{out}"
        );
        let empty = format!("{text}observability: {{}}  \n");
        let out = with_observability(&empty, &[("loki_service", "logging/loki:3100")]).unwrap();
        assert!(
            out.ends_with("observability:\n  loki_service: \"logging/loki:3100\"\n"),
            "{out}"
        );
        let inline = format!("{text}observability: {{loki_url: \"http://x\"}}\n");
        let e = with_observability(&inline, &[("loki_service", "logging/loki:3100")]).unwrap_err();
        assert!(e.contains("written inline"), "{e}");
        let e = with_observability(&text, &[("loki_service", "a\"b")]).unwrap_err();
        assert!(e.contains("observability.loki_service"), "{e}");
    }
}
