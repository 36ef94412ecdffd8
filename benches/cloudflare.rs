//! Cloudflare client speed against the simulator over TLS (keep-alive): the Cloudflare links
//! of the reachability doctor for one host (zone lookup, the host's records with their owner
//! record, the tunnel's connectors and ingress rule), and reading a 5,000-record zone page by
//! page. Figures in docs/performance.md ("Cloudflare").
//!
//! cargo bench --profile dev --bench cloudflare   (a release build takes 40-90 minutes here)

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::backends::cloudflare::{CloudflareClient, RecordQuery, TxtRegistry, tunnel_token};
use homelab::sim::cloudflare::{CloudflareSim, SimOptions};
use std::hint::black_box;

fn against_sim(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sim = rt
        .block_on(CloudflareSim::start(SimOptions::default()))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &sim.ca_pem).unwrap();
    let cf = CloudflareClient::new(&sim.url(), &sim.token, Some(&ca)).unwrap();
    let t = tunnel_token::parse(&sim.tunnel_token).unwrap();
    let reg = TxtRegistry::default();

    c.bench_function("cloudflare_doctor_links_one_host", |b| {
        b.iter(|| {
            rt.block_on(async {
                let zone = cf.zone_for_host("echo.example.com").await.unwrap();
                let recs = cf
                    .host_records(&zone, "echo.example.com", &reg)
                    .await
                    .unwrap();
                let conns = cf.tunnel_connectors(&t).await.unwrap();
                let cfg = cf.tunnel_config(&t).await.unwrap();
                let routed = cfg
                    .config
                    .and_then(|c| c.route_for("echo.example.com").map(|r| r.0));
                black_box((recs.len(), conns.len(), routed))
            })
        })
    });

    let zone_id = sim.zone_id.clone();
    sim.with(|st| {
        for i in 0..2_500u32 {
            st.add_external_dns_host(&zone_id, &format!("h{i}.example.com"), &sim.tunnel_id);
        }
    });
    let zone = rt.block_on(cf.zone("example.com")).unwrap();
    c.bench_function("cloudflare_list_5000_records", |b| {
        b.iter(|| {
            let all = rt
                .block_on(cf.dns_records(&zone, &RecordQuery::default()))
                .unwrap();
            assert!(all.len() >= 5_000);
            black_box(all.len())
        })
    });
}

criterion_group!(benches, against_sim);
criterion_main!(benches);
