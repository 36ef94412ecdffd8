//! "Jump to a time": `14:05`, `14:05:30` (today, in the display time zone), `-15m` / `15m ago`,
//! or a full `2026-11-23T14:05:00Z` / `2026-11-23 14:05`.

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// Parse into Unix nanoseconds.
pub fn parse_jump(input: &str, now: Timestamp, tz: &TimeZone) -> Result<i64, String> {
    let s = input.trim();
    let help = "give HH:MM[:SS], -15m, 15m ago, or YYYY-MM-DD HH:MM";
    if s.is_empty() {
        return Err(help.into());
    }
    let rel = s
        .strip_prefix('-')
        .or_else(|| s.strip_suffix("ago").map(str::trim));
    if let Some(rel) = rel {
        let (num, unit) =
            rel.split_at(rel.find(|c: char| !c.is_ascii_digit()).unwrap_or(rel.len()));
        let n: i64 = num.parse().map_err(|_| format!("`{s}`: {help}"))?;
        let secs = match unit.trim() {
            "s" => n,
            "m" | "min" => n * 60,
            "h" => n * 3600,
            "d" => n * 86_400,
            _ => return Err(format!("`{s}`: {help}")),
        };
        return Ok(now.as_nanosecond() as i64 - secs * 1_000_000_000);
    }
    if let Ok(ts) = s.parse::<Timestamp>() {
        return Ok(ts.as_nanosecond() as i64);
    }
    if let Ok(dt) = s.replace(' ', "T").parse::<jiff::civil::DateTime>() {
        let zoned = dt.to_zoned(tz.clone()).map_err(|e| e.to_string())?;
        return Ok(zoned.timestamp().as_nanosecond() as i64);
    }
    if let Ok(t) = s.parse::<jiff::civil::Time>() {
        let today = now.to_zoned(tz.clone()).date();
        let zoned = today
            .to_datetime(t)
            .to_zoned(tz.clone())
            .map_err(|e| e.to_string())?;
        return Ok(zoned.timestamp().as_nanosecond() as i64);
    }
    Err(format!("`{s}`: {help}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_relative_and_absolute() {
        let now: Timestamp = "2026-11-23T18:00:00Z".parse().unwrap();
        let utc = TimeZone::UTC;
        let at = |s: &str| parse_jump(s, now, &utc).unwrap();
        assert_eq!(
            at("14:05"),
            "2026-11-23T14:05:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_nanosecond() as i64
        );
        assert_eq!(
            at("14:05:30"),
            "2026-11-23T14:05:30Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_nanosecond() as i64
        );
        assert_eq!(at("-15m"), at("17:45"));
        assert_eq!(at("2h ago"), at("16:00"));
        assert_eq!(
            at("2026-11-22 09:00"),
            "2026-11-22T09:00:00Z"
                .parse::<Timestamp>()
                .unwrap()
                .as_nanosecond() as i64
        );
        assert_eq!(at("2026-11-22T09:00:00Z"), at("2026-11-22 09:00"));
        assert!(
            parse_jump("yesterday", now, &utc)
                .unwrap_err()
                .contains("HH:MM")
        );
    }
}
