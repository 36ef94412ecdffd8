//! Plain-scalar resolution and scalar styles as go-yaml v3 does them (resolve.go, encode.go
//! stringv, emitterc.go analyze/select), so a value reads back with the type sops gives it and
//! is written back quoted exactly where sops quotes it.

use regex::Regex;
use std::sync::OnceLock;

use crate::secrets::tree::Scalar;

fn float_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("static")
    })
}

fn base60_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("static")
    })
}

fn timestamp_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})(?:([Tt ])([0-9]{1,2}):([0-9]{1,2}):([0-9]{1,2})(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:[0-9]{2})?)?$",
        )
        .expect("static")
    })
}

/// Go strconv.ParseInt(s, 0, 64).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

/// Parse a YAML timestamp into RFC 3339 text as Go formats time.Time (RFC3339Nano).
fn timestamp(s: &str) -> Option<String> {
    let c = timestamp_re().captures(s)?;
    let num = |i: usize| {
        c.get(i)
            .map(|m| m.as_str().parse::<u32>().unwrap_or(0))
            .unwrap_or(0)
    };
    let (y, mo, d) = (num(1), num(2), num(3));
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if c.get(4).is_none() {
        return Some(format!("{y:04}-{mo:02}-{d:02}T00:00:00Z"));
    }
    let (h, mi, se) = (num(5), num(6), num(7));
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    let frac = c
        .get(8)
        .map(|m| m.as_str().trim_end_matches('0'))
        .unwrap_or("");
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    let zone = match c.get(9).map(|m| m.as_str()) {
        None | Some("Z") | Some("+00:00") => "Z".to_string(),
        Some(z) => z.to_string(),
    };
    Some(format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{frac}{zone}"
    ))
}

/// What an unquoted scalar means (go-yaml v3 resolve with no tag).
pub fn resolve_plain(s: &str) -> Result<Scalar, String> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Scalar::Null),
        "true" | "True" | "TRUE" => return Ok(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Scalar::Bool(false)),
        ".nan" | ".NaN" | ".NAN" => return Ok(Scalar::Float(f64::NAN)),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Ok(Scalar::Float(f64::INFINITY));
        }
        "-.inf" | "-.Inf" | "-.INF" => return Ok(Scalar::Float(f64::NEG_INFINITY)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        if let Ok(f) = s.parse::<f64>()
            && float_re().is_match(s)
        {
            return Ok(Scalar::Float(f));
        }
        return Ok(Scalar::Str(s.to_string()));
    }
    if !(first.is_ascii_digit() || first == b'+' || first == b'-') {
        return Ok(Scalar::Str(s.to_string()));
    }
    if let Some(t) = timestamp(s) {
        return Ok(Scalar::Time(t));
    }
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Ok(Scalar::Int(i));
    }
    let unsigned = plain.strip_prefix('+').unwrap_or(&plain);
    if !unsigned.is_empty()
        && !unsigned.starts_with('0')
        && unsigned.chars().all(|c| c.is_ascii_digit())
        && unsigned.parse::<u64>().is_ok()
    {
        // Only u64 fits: sops cannot walk uint64 values.
        return Err(format!(
            "the integer {s} does not fit in 64 bits (sops cannot encrypt uint64 values)"
        ));
    }
    if float_re().is_match(&plain)
        && let Ok(f) = plain.parse::<f64>()
    {
        return Ok(Scalar::Float(f));
    }
    Ok(Scalar::Str(s.to_string()))
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// Could this string be written unquoted and still read back as the same string?
fn can_use_plain(s: &str) -> bool {
    let resolves_to_str = matches!(resolve_plain(s), Ok(Scalar::Str(_))) && s != "<<";
    resolves_to_str && !base60_re().is_match(s) && !is_old_bool(s)
}

/// How a scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

pub fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// yaml_emitter_analyze_scalar (block context only: we never emit flow collections with content).
fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    let n = chars.len();
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = i + 1 >= n || matches!(chars[i + 1], ' ' | '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == n {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == n {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t') || is_break(c);
    }
    let mut a = Analysis {
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || tabs || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// The style go-yaml picks for a string value (or key, when `simple_key`).
pub fn string_style(s: &str, simple_key: bool) -> Style {
    let requested = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    match requested {
        Style::Plain => {
            if !a.block_plain_allowed || (s.is_empty() && simple_key) {
                if a.single_quoted_allowed {
                    Style::Single
                } else {
                    Style::Double
                }
            } else {
                Style::Plain
            }
        }
        Style::Literal if !a.block_allowed || simple_key => Style::Double,
        other => other,
    }
}

/// A double-quoted scalar as go-yaml writes it.
pub fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        let u = c as u32;
        if !is_printable(c) || u == 0xFEFF || is_break(c) || c == '"' || c == '\\' {
            out.push('\\');
            match u {
                0x00 => out.push('0'),
                0x07 => out.push('a'),
                0x08 => out.push('b'),
                0x09 => out.push('t'),
                0x0A => out.push('n'),
                0x0B => out.push('v'),
                0x0C => out.push('f'),
                0x0D => out.push('r'),
                0x1B => out.push('e'),
                0x22 => out.push('"'),
                0x5C => out.push('\\'),
                0x85 => out.push('N'),
                0xA0 => out.push('_'),
                0x2028 => out.push('L'),
                0x2029 => out.push('P'),
                u if u <= 0xFF => out.push_str(&format!("x{u:02X}")),
                u if u <= 0xFFFF => out.push_str(&format!("u{u:04X}")),
                u => out.push_str(&format!("U{u:08X}")),
            }
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// The text of a string scalar in `style` (literal style is handled by the emitter).
pub fn quote(s: &str, style: Style) -> String {
    match style {
        Style::Plain => s.to_string(),
        Style::Single => format!("'{}'", s.replace('\'', "''")),
        Style::Double | Style::Literal => double_quoted(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_go_yaml_v3() {
        assert_eq!(resolve_plain("8080").unwrap(), Scalar::Int(8080));
        assert_eq!(resolve_plain("0x1F").unwrap(), Scalar::Int(31));
        assert_eq!(resolve_plain("0755").unwrap(), Scalar::Int(493));
        assert_eq!(resolve_plain("1_000").unwrap(), Scalar::Int(1000));
        assert_eq!(resolve_plain("1.5").unwrap(), Scalar::Float(1.5));
        assert_eq!(resolve_plain("1.0e3").unwrap(), Scalar::Float(1000.0));
        assert_eq!(resolve_plain(".5").unwrap(), Scalar::Float(0.5));
        assert_eq!(resolve_plain("yes").unwrap(), Scalar::Str("yes".into()));
        assert_eq!(resolve_plain("True").unwrap(), Scalar::Bool(true));
        assert_eq!(resolve_plain("~").unwrap(), Scalar::Null);
        assert_eq!(
            resolve_plain("3.11.0").unwrap(),
            Scalar::Str("3.11.0".into())
        );
        assert_eq!(
            resolve_plain("2024-01-01").unwrap(),
            Scalar::Time("2024-01-01T00:00:00Z".into())
        );
        assert!(resolve_plain("12345678901234567890").is_err());
    }

    #[test]
    fn styles_match_sops_output() {
        assert_eq!(string_style("plain", false), Style::Plain);
        assert_eq!(string_style("8080", false), Style::Double);
        assert_eq!(string_style("yes", false), Style::Double);
        assert_eq!(string_style("", false), Style::Double);
        assert_eq!(string_style("  lead", false), Style::Single);
        assert_eq!(string_style("a: b", false), Style::Single);
        assert_eq!(string_style("a #b", false), Style::Single);
        assert_eq!(string_style("- x", false), Style::Single);
        assert_eq!(string_style("it's", false), Style::Plain);
        assert_eq!(string_style("a\tb", false), Style::Double);
        assert_eq!(string_style("a\nb", false), Style::Literal);
        assert_eq!(string_style("a \nb", false), Style::Double);
        assert_eq!(string_style("héllo", false), Style::Plain);
        assert_eq!(string_style("2026-11-23T07:28:08Z", false), Style::Double);
        assert_eq!(quote("a\tb", Style::Double), "\"a\\tb\"");
        assert_eq!(quote("😀", Style::Double), "\"\\U0001F600\"");
    }
}
