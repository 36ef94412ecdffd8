//! Log lines as the console shows them, independent of where they came from (Loki, a simulator).

use std::collections::BTreeMap;
use std::sync::Arc;

/// The label set of one log stream. Shared by every line of that stream.
pub type Labels = BTreeMap<String, String>;

/// Severity read from the stream labels (`level`, `detected_level`) or, failing that, the line itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Unknown,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    /// Parse a level word as loggers spell it (`warn`, `WARNING`, `E`, `err`, `crit`...).
    pub fn from_word(word: &str) -> Option<Self> {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        let lower = w.to_ascii_lowercase();
        Some(match lower.as_str() {
            "trace" | "trc" => LogLevel::Trace,
            "debug" | "dbg" | "d" => LogLevel::Debug,
            "info" | "inf" | "information" | "notice" | "i" => LogLevel::Info,
            "warn" | "warning" | "wrn" | "w" => LogLevel::Warn,
            "error" | "err" | "eror" | "e" => LogLevel::Error,
            "fatal" | "crit" | "critical" | "panic" | "emerg" | "alert" | "f" => LogLevel::Fatal,
            _ => return None,
        })
    }

    /// Guess the level of a line: `level=warn`, `"level":"error"`, `[ERROR]`, ` WARN `, klog `E0102`.
    /// Looks at the first 160 bytes only, so a flood stays cheap.
    pub fn detect(line: &str) -> Self {
        let head = truncate_to_char_boundary(line, 160);
        let bytes = head.as_bytes();
        // klog: `I0102 15:04:05.000000 ...`
        if bytes.len() > 5
            && matches!(bytes[0], b'I' | b'W' | b'E' | b'F')
            && bytes[1..5].iter().all(u8::is_ascii_digit)
        {
            return match bytes[0] {
                b'I' => LogLevel::Info,
                b'W' => LogLevel::Warn,
                b'E' => LogLevel::Error,
                _ => LogLevel::Fatal,
            };
        }
        for key in [
            "level=",
            "\"level\":\"",
            "lvl=",
            "severity=",
            "\"severity\":\"",
        ] {
            if let Some(pos) = find_ascii_case_insensitive(head, key) {
                let rest = &head[pos + key.len()..];
                let word: &str = rest
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .unwrap_or_default();
                if let Some(level) = LogLevel::from_word(word) {
                    return level;
                }
            }
        }
        for (needle, level) in [
            ("ERROR", LogLevel::Error),
            ("FATAL", LogLevel::Fatal),
            ("PANIC", LogLevel::Fatal),
            ("WARN", LogLevel::Warn),
            ("INFO", LogLevel::Info),
            ("DEBUG", LogLevel::Debug),
            ("TRACE", LogLevel::Trace),
            ("ERR", LogLevel::Error),
            ("WRN", LogLevel::Warn),
            ("INF", LogLevel::Info),
            ("DBG", LogLevel::Debug),
        ] {
            if contains_word(head, needle) {
                return level;
            }
        }
        LogLevel::Unknown
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Unknown => "-",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Fatal => "fatal",
        }
    }
}

fn truncate_to_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn find_ascii_case_insensitive(hay: &str, needle: &str) -> Option<usize> {
    let h = hay.as_bytes();
    let n = needle.as_bytes();
    if n.len() > h.len() {
        return None;
    }
    (0..=h.len() - n.len()).find(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
}

/// `needle` (upper-case) as a whole word: not surrounded by letters.
fn contains_word(hay: &str, needle: &str) -> bool {
    let h = hay.as_bytes();
    let mut from = 0;
    while let Some(pos) = hay[from..].find(needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before_ok = start == 0 || !h[start - 1].is_ascii_alphabetic();
        // `WARNING` counts as WARN.
        let after_ok =
            end >= h.len() || !h[end].is_ascii_alphabetic() || hay[end..].starts_with("ING");
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

/// One log entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// Unix epoch nanoseconds as Loki reports them.
    pub ts_ns: i64,
    pub labels: Arc<Labels>,
    pub line: String,
    pub level: LogLevel,
}

impl LogLine {
    /// Build a line, taking the level from `level`/`detected_level` labels or the text.
    pub fn new(ts_ns: i64, labels: Arc<Labels>, line: String) -> Self {
        let level = level_from_labels(&labels).unwrap_or_else(|| LogLevel::detect(&line));
        Self {
            ts_ns,
            labels,
            line,
            level,
        }
    }
}

/// Level from the stream labels, if the shipper or Loki put one there.
pub fn level_from_labels(labels: &Labels) -> Option<LogLevel> {
    ["level", "detected_level", "severity", "lvl"]
        .iter()
        .find_map(|k| labels.get(*k))
        .and_then(|v| LogLevel::from_word(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_levels_in_common_formats() {
        assert_eq!(
            LogLevel::detect(r#"{"level":"error","msg":"x"}"#),
            LogLevel::Error
        );
        assert_eq!(LogLevel::detect("ts=1 level=warn msg=slow"), LogLevel::Warn);
        assert_eq!(
            LogLevel::detect("E0102 15:04:05.000000 1 reflector.go] failed"),
            LogLevel::Error
        );
        assert_eq!(
            LogLevel::detect("2024-01-01 [INFO] started"),
            LogLevel::Info
        );
        assert_eq!(
            LogLevel::detect("WARNING: disk almost full"),
            LogLevel::Warn
        );
        assert_eq!(LogLevel::detect("GET /healthz 200"), LogLevel::Unknown);
        assert_eq!(LogLevel::detect("INFORMATIONAL"), LogLevel::Unknown);
        assert_eq!(
            LogLevel::detect("[10:00:00] [WRN] [12] Session: slow"),
            LogLevel::Warn
        );
    }

    #[test]
    fn label_level_wins_over_text() {
        let mut labels = Labels::new();
        labels.insert("detected_level".into(), "debug".into());
        let l = LogLine::new(1, Arc::new(labels), "ERROR but labelled debug".into());
        assert_eq!(l.level, LogLevel::Debug);
    }

    #[test]
    fn detect_is_safe_on_multibyte_text() {
        let line = "é".repeat(200);
        assert_eq!(LogLevel::detect(&line), LogLevel::Unknown);
    }
}
