//! "Last N minutes or M lines": how much history a query loads before the live tail.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    pub minutes: u32,
    pub lines: u32,
}

impl Default for HistoryWindow {
    fn default() -> Self {
        Self {
            minutes: 15,
            lines: 1000,
        }
    }
}

impl fmt::Display for HistoryWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "last {} or {} lines",
            crate::screens::console::conn::human_secs(i64::from(self.minutes) * 60),
            self.lines
        )
    }
}

/// Loki's default `max_entries_limit_per_query`.
pub const MAX_LINES: u32 = 5000;

impl HistoryWindow {
    /// Parse `15m`, `2h`, `500`, `30m 2000`, `1h/500` (a duration, a line count, or both).
    pub fn parse(input: &str, current: HistoryWindow) -> Result<Self, String> {
        let mut out = current;
        let mut any = false;
        for word in input
            .split(|c: char| c.is_whitespace() || c == '/' || c == ',')
            .filter(|w| !w.is_empty())
        {
            any = true;
            if let Ok(n) = word.parse::<u32>() {
                if n == 0 || n > MAX_LINES {
                    return Err(format!(
                        "{n} lines: give 1 to {MAX_LINES} (Loki's per-query limit)"
                    ));
                }
                out.lines = n;
                continue;
            }
            let (num, unit) = word.split_at(
                word.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(word.len()),
            );
            let n: u32 = num.parse().map_err(|_| {
                format!("`{word}`: give minutes like 15m, hours like 2h, or a line count")
            })?;
            let minutes = match unit {
                "m" | "min" => n,
                "h" => n.saturating_mul(60),
                "d" => n.saturating_mul(1440),
                _ => return Err(format!("`{word}`: unknown unit `{unit}` (use m, h or d)")),
            };
            if minutes == 0 || minutes > 30 * 1440 {
                return Err(format!("`{word}`: give 1m to 30d"));
            }
            out.minutes = minutes;
        }
        if !any {
            return Err("give a duration (15m), a line count (500), or both".into());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_either_or_both() {
        let d = HistoryWindow::default();
        assert_eq!(
            HistoryWindow::parse("2h", d).unwrap(),
            HistoryWindow {
                minutes: 120,
                lines: 1000
            }
        );
        assert_eq!(
            HistoryWindow::parse("500", d).unwrap(),
            HistoryWindow {
                minutes: 15,
                lines: 500
            }
        );
        assert_eq!(
            HistoryWindow::parse("30m 2000", d).unwrap(),
            HistoryWindow {
                minutes: 30,
                lines: 2000
            }
        );
        assert!(
            HistoryWindow::parse("9000", d)
                .unwrap_err()
                .contains("5000")
        );
        assert!(HistoryWindow::parse("5y", d).unwrap_err().contains("unit"));
        assert!(HistoryWindow::parse("", d).is_err());
        assert_eq!(d.to_string(), "last 15m or 1000 lines");
    }
}
