//! Number and time text exactly as Go's strconv, encoding/json and go-yaml write them, so the
//! bytes we encrypt, hash and emit are the bytes sops would.

/// Shortest decimal digits and decimal exponent of a finite, non-negative float:
/// value = 0.d1d2d3... x 10^point.
fn shortest_digits(abs: f64) -> (String, i32) {
    if abs == 0.0 {
        return ("0".to_string(), 1);
    }
    // Rust's `{:e}` is the shortest round-trip representation: `1.2345e6`.
    let text = format!("{abs:e}");
    let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    (digits, exp + 1)
}

fn special(f: f64, inf: &str, neg_inf: &str, nan: &str) -> Option<String> {
    if f.is_nan() {
        Some(nan.to_string())
    } else if f.is_infinite() {
        Some(if f > 0.0 { inf } else { neg_inf }.to_string())
    } else {
        None
    }
}

fn sign(f: f64) -> &'static str {
    if f.is_sign_negative() { "-" } else { "" }
}

/// Go `strconv.FormatFloat(f, 'f', -1, 64)`: what sops encrypts and hashes for a float.
pub fn go_format_f(f: f64) -> String {
    if let Some(s) = special(f, "+Inf", "-Inf", "NaN") {
        return s;
    }
    let (digits, point) = shortest_digits(f.abs());
    format!("{}{}", sign(f), fixed(&digits, point))
}

fn fixed(digits: &str, point: i32) -> String {
    let n = digits.len() as i32;
    if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point >= n {
        format!("{}{}", digits, "0".repeat((point - n) as usize))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    }
}

fn exponent(digits: &str, point: i32) -> String {
    let exp = point - 1;
    let mantissa = if digits.len() > 1 {
        format!("{}.{}", &digits[..1], &digits[1..])
    } else {
        digits.to_string()
    };
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mantissa}e{sign}{:02}", exp.abs())
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` with go-yaml's spellings of infinities and NaN:
/// how a float is emitted into YAML.
pub fn yaml_float(f: f64) -> String {
    if let Some(s) = special(f, ".inf", "-.inf", ".nan") {
        return s;
    }
    let (digits, point) = shortest_digits(f.abs());
    let exp = point - 1;
    let body = if !(-4..6).contains(&exp) {
        exponent(&digits, point)
    } else {
        fixed(&digits, point)
    };
    format!("{}{}", sign(f), body)
}

/// Go encoding/json float64 text.
pub fn json_float(f: f64) -> String {
    if !f.is_finite() {
        return "null".to_string();
    }
    let abs = f.abs();
    let (digits, point) = shortest_digits(abs);
    let body = if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let e = exponent(&digits, point);
        // encoding/json shortens e-07 to e-7.
        match e.split_once("e-0") {
            Some((m, d)) => format!("{m}e-{d}"),
            None => e,
        }
    } else {
        fixed(&digits, point)
    };
    format!("{}{}", sign(f), body)
}

/// RFC 3339 without a fractional second, as Go `time.RFC3339` formats it.
pub fn rfc3339_without_fraction(t: &str) -> String {
    match t.find('.') {
        Some(dot) => {
            let rest = &t[dot + 1..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}{}", &t[..dot], &rest[end..])
        }
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_format_like_go() {
        assert_eq!(go_format_f(1.5), "1.5");
        assert_eq!(go_format_f(9090.0), "9090");
        assert_eq!(go_format_f(1e21), "1000000000000000000000");
        assert_eq!(go_format_f(1e-7), "0.0000001");
        assert_eq!(go_format_f(-0.25), "-0.25");
        assert_eq!(yaml_float(1000.0), "1000");
        assert_eq!(yaml_float(1.5), "1.5");
        assert_eq!(yaml_float(1e6), "1e+06");
        assert_eq!(yaml_float(1234567.0), "1.234567e+06");
        assert_eq!(yaml_float(0.0001), "0.0001");
        assert_eq!(yaml_float(0.00001), "1e-05");
        assert_eq!(yaml_float(f64::INFINITY), ".inf");
        assert_eq!(json_float(5.0), "5");
        assert_eq!(json_float(1e21), "1e+21");
        assert_eq!(json_float(1e-7), "1e-7");
        assert_eq!(json_float(123456789.0), "123456789");
    }

    #[test]
    fn times_lose_only_the_fraction() {
        assert_eq!(
            rfc3339_without_fraction("2024-01-01T00:00:00.5Z"),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            rfc3339_without_fraction("2024-01-01T00:00:00+02:00"),
            "2024-01-01T00:00:00+02:00"
        );
    }
}
