//! Making log text safe and fitting it to cells: ANSI escapes and control characters removed
//! (they would corrupt the terminal; [`sanitize`] is crate::domain::printable's), tabs expanded,
//! and width-aware cutting for wrap.

use ratatui::style::Style;
use ratatui::text::Span;
use std::borrow::Cow;
use unicode_width::UnicodeWidthChar;

/// The one terminal sanitizer (crate::domain::printable), re-exported for the console's views.
pub use crate::domain::printable::sanitize;

/// Display width of a string.
pub fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

/// Cut `s` to at most `max` columns, with `…` when cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if width(s) <= max {
        return Cow::Borrowed(s);
    }
    if max == 0 {
        return Cow::Borrowed("");
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw > max - 1 {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    Cow::Owned(out)
}

/// Split styled spans into rows of at most `cols` columns (character wrap, no trimming).
pub fn wrap_spans(spans: Vec<Span<'static>>, cols: usize) -> Vec<Vec<Span<'static>>> {
    let cols = cols.max(1);
    let mut rows: Vec<Vec<Span<'static>>> = vec![Vec::new()];
    let mut used = 0;
    for span in spans {
        let style: Style = span.style;
        let mut cur = String::new();
        for c in span.content.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > cols && used > 0 {
                if let (false, Some(r)) = (cur.is_empty(), rows.last_mut()) {
                    r.push(Span::styled(std::mem::take(&mut cur), style));
                }
                rows.push(Vec::new());
                used = 0;
            }
            cur.push(c);
            used += cw;
        }
        if let (false, Some(r)) = (cur.is_empty(), rows.last_mut()) {
            r.push(Span::styled(cur, style));
        }
    }
    rows
}

/// Rows a string of `w` columns takes at `cols` wide.
pub fn rows_for(w: usize, cols: usize) -> usize {
    w.div_ceil(cols.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncates_and_wraps_by_display_width() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("日本語", 4), "日…");
        let rows = wrap_spans(vec![Span::raw("abcde"), Span::raw("fg")], 3);
        let text: Vec<String> = rows
            .iter()
            .map(|r| r.iter().map(|s| s.content.to_string()).collect())
            .collect();
        assert_eq!(text, vec!["abc", "def", "g"]);
        assert_eq!(rows_for(7, 3), 3);
        assert_eq!(rows_for(0, 3), 1);
    }
}
