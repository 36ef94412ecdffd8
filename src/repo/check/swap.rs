//! Swap policy (Stage 1 memo 3): swap stays enabled; no automation may disable it or make the
//! kubelet require it off.

use super::{Rule, Violation};
use crate::repo::tree::Tree;
use regex::Regex;
use std::sync::LazyLock;

pub const SWAP_DISABLED: Rule = Rule {
    id: "swap/disabled",
    title: "Nothing disables swap (swapoff, fstab swap removal, fail-swap-on=true, failSwapOn: true)",
    hint: "leave swap on: k3s runs with --kubelet-arg=fail-swap-on=false (memorySwap.swapBehavior LimitedSwap or NoSwap in a kubelet drop-in); delete the command or set the flag to false",
};

/// (pattern, what it does)
static PATTERNS: LazyLock<Vec<(Regex, &'static str)>> = LazyLock::new(|| {
    [
        (r"\bswapoff\b", "runs swapoff"),
        (r"fstab.*swap|swap.*fstab", "edits /etc/fstab swap entries"),
        (
            r#"fail-swap-on\s*[=:]?\s*["']?true\b|--fail-swap-on(\s|$|["'])"#,
            "sets kubelet fail-swap-on=true",
        ),
        (
            r#"failSwapOn["']?\s*:\s*["']?true\b"#,
            "sets kubelet failSwapOn: true",
        ),
        (
            r"systemctl\s+(mask|disable|stop)\b.*\bswap\b",
            "stops or masks a swap unit",
        ),
    ]
    .into_iter()
    .filter_map(|(p, w)| Regex::new(p).ok().map(|r| (r, w)))
    .collect()
});

/// Why a line disables swap, if it does. Comment lines never count.
pub fn disables_swap(line: &str) -> Option<&'static str> {
    let t = line.trim_start();
    if t.starts_with('#') {
        return None;
    }
    // an fstab line merely mentioned while reading is fine; editing it is not
    PATTERNS.iter().find_map(|(re, what)| {
        if !re.is_match(line) {
            return None;
        }
        if what.contains("fstab") && !edits(line) {
            return None;
        }
        Some(*what)
    })
}

fn edits(line: &str) -> bool {
    [
        "sed ",
        "sed\t",
        "awk",
        "perl",
        "grep -v",
        "tee",
        ">",
        "ed ",
        "lineinfile",
    ]
    .iter()
    .any(|w| line.contains(w))
}

pub fn check(tree: &Tree, out: &mut Vec<Violation>) {
    for s in &tree.scripts {
        for (i, line) in s.text.lines().enumerate() {
            if let Some(what) = disables_swap(line) {
                out.push(Violation::new(
                    &SWAP_DISABLED,
                    &s.rel,
                    Some(i as u32 + 1),
                    format!("{what}: `{}`", line.trim()),
                ));
            }
        }
    }
    for f in &tree.yaml {
        for d in &f.docs {
            for (i, line) in d.lines.iter().enumerate() {
                if let Some(what) = disables_swap(line) {
                    out.push(Violation::new(
                        &SWAP_DISABLED,
                        &f.rel,
                        Some(d.start_line + i as u32),
                        format!("{what}: `{}`", line.trim()),
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::disables_swap;

    #[test]
    fn detects_swap_disabling() {
        for bad in [
            "swapoff -a",
            "  sudo swapoff -a && echo",
            "sed -i '/ swap / s/^/#/' /etc/fstab",
            "--kubelet-arg=fail-swap-on=true",
            "kubelet --fail-swap-on",
            "failSwapOn: true",
            "systemctl mask swap.target",
            "  - swapoff -a",
        ] {
            assert!(disables_swap(bad).is_some(), "{bad}");
        }
        for ok in [
            "# never run swapoff here",
            "--kubelet-arg=fail-swap-on=false",
            "failSwapOn: false",
            "grep swap /proc/swaps",
            "swapon --show",
            "cat /etc/fstab | grep swap",
        ] {
            assert!(disables_swap(ok).is_none(), "{ok}");
        }
    }
}
