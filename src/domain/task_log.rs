//! PVE task logs as text: the progress percentage in a line (`qm importdisk`, `qmrestore`,
//! downloads). Lines come from the PVE API; nothing here may panic on any text.

/// The last percentage in a task log line (`... 45%`, `(12.50%)`), as a whole number.
pub fn percent_in(line: &str) -> Option<u64> {
    let idx = line.rfind('%')?;
    let head = &line[..idx];
    // After the last character that is not part of the number (a char boundary, not byte + 1).
    let start = head
        .char_indices()
        .rfind(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let num: f64 = head[start..].parse().ok()?;
    (0.0..=100.0).contains(&num).then_some(num as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentage_after_a_multibyte_character_is_not_a_panic() {
        assert_eq!(percent_in("é50%"), Some(50));
        assert_eq!(percent_in("…%"), None);
    }
}
