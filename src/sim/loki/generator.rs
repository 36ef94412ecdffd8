//! Realistic homelab log lines: Envoy Gateway access logs, Flux controllers (JSON), Jellyfin,
//! Prometheus (logfmt), CoreDNS, Longhorn, k3s (klog), with the labels Promtail attaches.

use crate::domain::logs::Labels;
use rand::Rng;
use rand::rngs::StdRng;
use std::sync::Arc;

/// A source of log lines: one stream per workload.
pub struct Generator {
    rng: StdRng,
    streams: Vec<(Arc<Labels>, Kind)>,
}

#[derive(Clone, Copy)]
enum Kind {
    Envoy,
    Flux,
    Jellyfin,
    Prometheus,
    CoreDns,
    Longhorn,
    K3s,
    Navidrome,
    Jellyseer,
}

fn stream(namespace: &str, app: &str, pod: &str, container: &str, node: &str) -> Arc<Labels> {
    let mut l = Labels::new();
    l.insert("namespace".into(), namespace.into());
    l.insert("app".into(), app.into());
    l.insert("pod".into(), pod.into());
    l.insert("container".into(), container.into());
    l.insert("node_name".into(), node.into());
    l.insert("job".into(), format!("{namespace}/{app}"));
    l.insert("stream".into(), "stdout".into());
    Arc::new(l)
}

const PATHS: &[&str] = &[
    "/web/index.html",
    "/Items?ParentId=7e64e319657a9516ec78490da03edccb",
    "/Sessions/Playing/Progress",
    "/rest/stream.view?id=al-42",
    "/api/v1/request?take=10",
    "/healthz",
    "/Users/Me",
    "/socket",
];
const HOSTS: &[&str] = &[
    "jellyfin.funoffshore.com",
    "navidrome.funoffshore.com",
    "jellyseer.funoffshore.com",
];
const FLUX_OBJECTS: &[(&str, &str)] = &[
    ("kustomization", "apps"),
    ("kustomization", "platform-monitoring"),
    ("helmrelease", "longhorn"),
    ("gitrepository", "flux-system"),
    ("helmrelease", "kube-prometheus-stack"),
];

impl Generator {
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        let streams = vec![
            (
                stream(
                    "envoy-gateway-system",
                    "envoy",
                    "envoy-homelab-gw-5d8c7b9f4-x2k8q",
                    "envoy",
                    "k3s-agent-1",
                ),
                Kind::Envoy,
            ),
            (
                stream(
                    "flux-system",
                    "kustomize-controller",
                    "kustomize-controller-6f7d8c9b5-4mzqp",
                    "manager",
                    "k3s-server-1",
                ),
                Kind::Flux,
            ),
            (
                stream(
                    "flux-system",
                    "helm-controller",
                    "helm-controller-7b9c6d5f8-9tqzl",
                    "manager",
                    "k3s-server-1",
                ),
                Kind::Flux,
            ),
            (
                stream("media", "jellyfin", "jellyfin-0", "jellyfin", "k3s-agent-2"),
                Kind::Jellyfin,
            ),
            (
                stream(
                    "media",
                    "navidrome",
                    "navidrome-7c5b8d6f9-kq2vn",
                    "navidrome",
                    "k3s-agent-2",
                ),
                Kind::Navidrome,
            ),
            (
                stream(
                    "monitoring",
                    "prometheus",
                    "prometheus-kube-prometheus-stack-0",
                    "prometheus",
                    "k3s-agent-1",
                ),
                Kind::Prometheus,
            ),
            (
                stream(
                    "kube-system",
                    "coredns",
                    "coredns-ccb96694c-8fz7r",
                    "coredns",
                    "k3s-server-1",
                ),
                Kind::CoreDns,
            ),
            (
                stream(
                    "longhorn-system",
                    "longhorn-manager",
                    "longhorn-manager-7xk2p",
                    "longhorn-manager",
                    "k3s-agent-1",
                ),
                Kind::Longhorn,
            ),
            (
                stream(
                    "media",
                    "jellyseer",
                    "jellyseer-6d9f7c8b5-2xkqp",
                    "jellyseer",
                    "k3s-agent-2",
                ),
                Kind::Jellyseer,
            ),
            (
                stream("kube-system", "k3s", "k3s-server-1", "k3s", "k3s-server-1"),
                Kind::K3s,
            ),
        ];
        Self {
            rng: StdRng::seed_from_u64(seed),
            streams,
        }
    }

    /// The label sets of every stream this generator writes.
    pub fn streams(&self) -> impl Iterator<Item = &Arc<Labels>> {
        self.streams.iter().map(|(l, _)| l)
    }

    /// One line at `ts_ns`: (stream labels, text).
    pub fn line(&mut self, ts_ns: i64) -> (Arc<Labels>, String) {
        // Busy streams (access logs) more often than quiet ones.
        let weights = [30u32, 6, 4, 14, 8, 6, 14, 6, 3, 5];
        let total: u32 = weights.iter().sum();
        let mut pick = self.rng.gen_range(0..total);
        let mut idx = 0;
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                idx = i;
                break;
            }
            pick -= w;
        }
        let (labels, kind) = self.streams[idx].clone();
        let text = self.text(kind, ts_ns);
        (labels, text)
    }

    fn text(&mut self, kind: Kind, ts_ns: i64) -> String {
        let time =
            jiff::Timestamp::from_nanosecond(ts_ns as i128).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let iso = time.to_string();
        let hms = time.strftime("%H:%M:%S").to_string();
        let r = &mut self.rng;
        let roll: u32 = r.gen_range(0..100);
        match kind {
            Kind::Envoy => {
                let path = PATHS[r.gen_range(0..PATHS.len())];
                let host = HOSTS[r.gen_range(0..HOSTS.len())];
                let status = match roll {
                    0..=1 => 503,
                    2..=4 => 404,
                    5 => 499,
                    _ => 200,
                };
                let method = if roll.is_multiple_of(7) {
                    "POST"
                } else {
                    "GET"
                };
                format!(
                    "[{iso}] \"{method} {path} HTTP/1.1\" {status} - 0 {} {} {} \"10.42.0.{}\" \"Mozilla/5.0 (X11; Linux x86_64)\" \"{:08x}-{:04x}\" \"{host}\" \"10.42.2.{}:8096\"",
                    r.gen_range(120..90_000),
                    r.gen_range(1..900),
                    r.gen_range(1..800),
                    r.gen_range(2..250),
                    r.r#gen::<u32>(),
                    r.r#gen::<u16>(),
                    r.gen_range(2..60)
                )
            }
            Kind::Flux => {
                let (kind, name) = FLUX_OBJECTS[r.gen_range(0..FLUX_OBJECTS.len())];
                if roll < 4 {
                    format!(
                        r#"{{"level":"error","ts":"{iso}","msg":"Reconciliation failed after {}.{}s, next try in 2m0s","controller":"{kind}","name":"{name}","namespace":"flux-system","error":"health check failed after 1m0s: timeout waiting for: [Deployment/media/jellyseer status: 'InProgress']"}}"#,
                        r.gen_range(1..60),
                        r.gen_range(0..10)
                    )
                } else {
                    format!(
                        r#"{{"level":"info","ts":"{iso}","msg":"Reconciliation finished in {}ms, next run in 10m0s","controller":"{kind}","name":"{name}","namespace":"flux-system","revision":"main@sha1:{:08x}"}}"#,
                        r.gen_range(80..4000),
                        r.r#gen::<u32>()
                    )
                }
            }
            Kind::Jellyfin => match roll {
                0..=2 => format!(
                    "[{hms}] [ERR] [{}] MediaBrowser.MediaEncoding.Transcoding.TranscodeManager: FFmpeg exited with code 1",
                    r.gen_range(10..80)
                ),
                3..=9 => format!(
                    "[{hms}] [WRN] [{}] Emby.Server.Implementations.Session.SessionManager: Slow response time for GET /Sessions/Playing/Progress: {}ms",
                    r.gen_range(10..80),
                    r.gen_range(500..3000)
                ),
                _ => format!(
                    "[{hms}] [INF] [{}] Jellyfin.Api.Helpers.MediaInfoHelper: User policy for viewer. EnablePlaybackRemuxing: True EnableVideoPlaybackTranscoding: True",
                    r.gen_range(10..80)
                ),
            },
            Kind::Navidrome => format!(
                "time=\"{iso}\" level={} msg=\"HTTP: GET http://navidrome.funoffshore.com/rest/getCoverArt.view\" elapsedTime={}ms httpStatus=200 remoteAddr=10.42.0.{}",
                if roll < 5 { "warning" } else { "info" },
                r.gen_range(1..400),
                r.gen_range(2..250)
            ),
            Kind::Prometheus => match roll {
                0..=4 => format!(
                    "ts={iso} caller=scrape.go:1384 level=warn component=\"scrape manager\" scrape_pool=serviceMonitor/media/jellyfin/0 target=http://10.42.2.{}:8096/metrics msg=\"Append failed\" err=\"out of bounds\"",
                    r.gen_range(2..60)
                ),
                _ => format!(
                    "ts={iso} caller=head.go:1{:03} level=info component=tsdb msg=\"Head GC completed\" caller=truncateMemory duration={}.{}ms",
                    r.gen_range(0..999),
                    r.gen_range(1..90),
                    r.gen_range(0..999)
                ),
            },
            Kind::CoreDns => {
                let rcode = if roll < 3 { "NXDOMAIN" } else { "NOERROR" };
                format!(
                    "[INFO] 10.42.{}.{}:{} - {} \"A IN jellyfin.media.svc.cluster.local. udp 50 false 512\" {rcode} qr,aa,rd 106 0.000{}s",
                    r.gen_range(0..3),
                    r.gen_range(2..250),
                    r.gen_range(30000..65000),
                    r.gen_range(1000..65000),
                    r.gen_range(100..999)
                )
            }
            Kind::Longhorn => format!(
                "time=\"{iso}\" level={} msg=\"{}\" node=k3s-agent-1 volume=pvc-{:08x}",
                if roll < 8 { "warning" } else { "info" },
                if roll < 8 {
                    "Volume is degraded: replica count 1 of 2 healthy"
                } else {
                    "Snapshot completed"
                },
                r.r#gen::<u32>()
            ),
            Kind::Jellyseer => match roll {
                0..=39 => "Error: connect ECONNREFUSED 10.43.12.7:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1607:16)".replace("\n    ", " "),
                40..=69 => format!("{iso} [error][Jobs]: Failed to sync Jellyfin libraries {{\"errorMessage\":\"connect ECONNREFUSED\",\"attempt\":{}}}", r.gen_range(1..6)),
                _ => format!("{iso} [info]: Starting Overseerr version 1.33.2"),
            },
            Kind::K3s => {
                let tag = if roll < 6 {
                    'E'
                } else if roll < 15 {
                    'W'
                } else {
                    'I'
                };
                let msg = match tag {
                    'E' => {
                        "\"Unhandled Error\" err=\"failed to list *v1.Endpoints: the server was unable to return a response in the time allotted\""
                    }
                    'W' => {
                        "\"Swap is enabled; production deployments should use LimitedSwap\" swapBehavior=\"LimitedSwap\""
                    }
                    _ => "\"Successfully renewed lease\" lease=\"kube-system/k3s\"",
                };
                format!(
                    "{tag}{} {hms}.{:06}       1 controller.go:{}] {msg}",
                    time.strftime("%m%d"),
                    r.gen_range(0..999_999),
                    r.gen_range(100..400)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::logs::{LogLevel, LogLine};

    #[test]
    fn lines_are_varied_and_levels_detectable() {
        let mut g = Generator::new(7);
        let mut levels = std::collections::BTreeSet::new();
        let mut apps = std::collections::BTreeSet::new();
        for i in 0..2000 {
            let (labels, text) = g.line(1_700_000_000_000_000_000 + i);
            apps.insert(labels["app"].clone());
            levels.insert(LogLine::new(0, labels, text).level);
        }
        assert!(apps.len() >= 8, "{apps:?}");
        for l in [LogLevel::Info, LogLevel::Warn, LogLevel::Error] {
            assert!(levels.contains(&l), "{levels:?}");
        }
    }
}
