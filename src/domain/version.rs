//! Release versions as k3s and Kubernetes spell them. Shared by the k3s stage and the kube
//! simulator (which answers `/version` the way the real API server does).

/// `v1.33.5+k3s1` -> (1, 33, 5).
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let core = v.trim().trim_start_matches('v');
    let core = core.split(['+', '-']).next()?;
    let mut it = core.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}
