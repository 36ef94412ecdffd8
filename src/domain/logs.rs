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

    /// Guess the level of a line: `level=warn`, `"level":"error"`, `severity: E`, klog
    /// `E0102 ...`, or the first upper-case level word (`[ERROR]`, `WARN`, `[WRN]`). One pass
    /// over the first 160 bytes, so a flood stays cheap.
    pub fn detect(line: &str) -> Self {
        let head = truncate_to_char_boundary(line, 160);
        let b = head.as_bytes();
        // klog: `I0102 15:04:05.000000 ...`
        if b.len() > 5
            && matches!(b[0], b'I' | b'W' | b'E' | b'F')
            && b[1..5].iter().all(u8::is_ascii_digit)
        {
            return match b[0] {
                b'I' => LogLevel::Info,
                b'W' => LogLevel::Warn,
                b'E' => LogLevel::Error,
                _ => LogLevel::Fatal,
            };
        }
        let mut first_upper: Option<LogLevel> = None;
        let mut i = 0;
        while i < b.len() {
            if !b[i].is_ascii_alphabetic() {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &head[start..i];
            let is_key = ["level", "lvl", "severity"]
                .iter()
                .any(|k| word.eq_ignore_ascii_case(k));
            if is_key {
                // `level=warn`, `"level":"error"`, `severity: E`
                let mut j = i;
                while j < b.len() && matches!(b[j], b'=' | b':' | b'"' | b' ' | b'\'') {
                    j += 1;
                }
                let mut k = j;
                while k < b.len() && b[k].is_ascii_alphabetic() {
                    k += 1;
                }
                if j > i
                    && k > j
                    && let Some(level) = LogLevel::from_word(&head[j..k])
                {
                    return level;
                }
            } else if first_upper.is_none()
                && word.len() >= 3
                && word.bytes().all(|c| c.is_ascii_uppercase())
            {
                first_upper = match word {
                    "ERROR" | "ERR" => Some(LogLevel::Error),
                    "FATAL" | "PANIC" | "CRIT" => Some(LogLevel::Fatal),
                    "WARN" | "WARNING" | "WRN" => Some(LogLevel::Warn),
                    "INFO" | "INF" => Some(LogLevel::Info),
                    "DEBUG" | "DBG" => Some(LogLevel::Debug),
                    "TRACE" | "TRC" => Some(LogLevel::Trace),
                    _ => None,
                };
            }
        }
        first_upper.unwrap_or(LogLevel::Unknown)
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
        let cases = [
            (r#"{"level":"error","msg":"x"}"#, LogLevel::Error),
            ("ts=1 level=warn msg=slow", LogLevel::Warn),
            (
                "E0102 15:04:05.000000 1 reflector.go] failed",
                LogLevel::Error,
            ),
            ("2024-01-01 [INFO] started", LogLevel::Info),
            ("WARNING: disk almost full", LogLevel::Warn),
            ("GET /healthz 200", LogLevel::Unknown),
            ("INFORMATIONAL", LogLevel::Unknown),
            // The first marker wins; a level key beats words.
            ("INFO retry after ERROR", LogLevel::Info),
            ("INFO msg level=error", LogLevel::Error),
            ("time=\"x\" level=warning msg=\"y\"", LogLevel::Warn),
            ("nothing like a level here: levels=3", LogLevel::Unknown),
            ("[10:00:00] [WRN] [12] Session: slow", LogLevel::Warn),
        ];
        for (line, want) in cases {
            assert_eq!(LogLevel::detect(line), want, "{line}");
        }
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
