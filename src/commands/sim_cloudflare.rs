//! `homelab sim cloudflare`: the Cloudflare API v4 simulator standalone, printing its base
//! URL, token, identifiers and the CA file to trust, until Ctrl-C.

use crate::cli::CloudflareSimArgs;
use crate::sim::cloudflare::{CloudflareSim, Fault, SimOptions};
use std::process::ExitCode;

pub async fn run(args: CloudflareSimArgs) -> ExitCode {
    let zone = args.zone.trim_end_matches('.').to_ascii_lowercase();
    let hosts = if args.hosts.is_empty() {
        vec![format!("echo.{zone}")]
    } else {
        args.hosts.clone()
    };
    let opts = SimOptions {
        listen: args.listen,
        zone,
        hosts: hosts.clone(),
        registry: crate::backends::cloudflare::TxtRegistry {
            owner: args.txt_owner.clone(),
            prefix: args.txt_prefix.clone(),
            ..Default::default()
        },
        ..SimOptions::default()
    };
    let sim = match CloudflareSim::start(opts).await {
        Ok(s) => s,
        Err(e) => return super::sim::bind_error("cloudflare", args.listen, e),
    };
    if args.no_connectors {
        sim.inject(Fault::TunnelWithoutConnectors);
    }
    for host in args.not_proxied {
        sim.inject(Fault::RecordNotProxied { host });
    }
    for host in args.no_owner {
        sim.inject(Fault::RecordWithoutOwner { host });
    }
    let dir = std::env::temp_dir().join(format!("homelab-sim-cloudflare-{}", std::process::id()));
    let ca = dir.join("ca.pem");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        crate::atomic_write::write(
            &ca,
            sim.ca_pem.as_bytes(),
            crate::atomic_write::Mode::Secret,
        )
    });
    if let Err(e) = written {
        eprintln!("homelab sim cloudflare: writing {}: {e}", ca.display());
        return ExitCode::from(1);
    }
    let url = sim.url();
    println!("Cloudflare API v4 simulator on {url} (HTTPS)");
    println!("  CA file:      {}", ca.display());
    println!("  API token:    {} (every permission)", sim.token);
    println!("  account id:   {}", sim.account_id);
    println!("  zone:         {} ({})", args.zone, sim.zone_id);
    println!("  tunnel:       homelab ({})", sim.tunnel_id);
    println!("  tunnel token: {}", sim.tunnel_token.as_str());
    println!("  hosts:        {}", hosts.join(", "));
    println!(
        "Try: curl --cacert {} -H 'Authorization: Bearer {}' {url}/zones",
        ca.display(),
        sim.token
    );
    println!(
        "     CLOUDFLARE_BASE_URL={url} CLOUDFLARE_API_TOKEN={} SSL_CERT_FILE={} python3 -c 'import cloudflare; print(cloudflare.Cloudflare().zones.list())'",
        sim.token,
        ca.display()
    );
    println!("Ctrl-C stops it.");
    super::sim::ctrl_c().await;
    let _ = std::fs::remove_dir_all(&dir);
    sim.stop().await;
    ExitCode::SUCCESS
}
