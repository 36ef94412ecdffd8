//! Quantities as people read them. Shared by the stage printer, the wizard and the simulators
//! (which print what a real PVE task log prints).

/// Binary units with one decimal: "1.5 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// The value of a Kubernetes quantity (`2Ti`, `500G`, `1.5e12`, `250m`, `151608133n`); `None`
/// if it is not one or is negative. CPU in cores, memory in bytes.
pub fn quantity(q: &str) -> Option<f64> {
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
        ("m", 1e-3),
        ("u", 1e-6),
        ("n", 1e-9),
    ];
    let q = q.trim();
    let (num, mult) = SUFFIXES
        .iter()
        .find_map(|(s, m)| q.strip_suffix(s).map(|n| (n, *m)))
        .unwrap_or((q, 1.0));
    let n: f64 = num.parse().ok()?;
    let v = n * mult;
    (v.is_finite() && v >= 0.0).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_units_with_one_decimal() {
        assert_eq!(bytes(12), "12 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3584 << 20), "3.5 GiB");
    }

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        assert_eq!(quantity("2Ki"), Some(2048.0));
        assert_eq!(quantity("250m"), Some(0.25));
        assert_eq!(
            quantity("151608133n").map(|c| (c * 1000.0).round()),
            Some(152.0)
        );
        assert_eq!(quantity("4"), Some(4.0));
        assert_eq!(quantity("-1"), None);
        assert_eq!(quantity("x"), None);
    }
}
