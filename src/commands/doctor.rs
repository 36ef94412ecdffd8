//! `homelab doctor HOST`: walk a hostname to the pods that answer it, printing each link as it
//! is checked, and stop at the first broken one with its fix (docs/doctor.md). A host under
//! the cluster's public domain is walked from its Cloudflare record; any other (an internal
//! app's, on the LAN and the tailnet) from the Gateway listener that covers it, with no token.
//!
//! Exit codes: 0 every link holds, 1 a link is broken (its fix is printed), 2 the doctor could
//! not start (not a hostname, no cluster definition, no token, no kubeconfig context).

use crate::backends::doctor::connect::{self, Setup};
use crate::cli::{DoctorArgs, GlobalArgs};
use crate::domain::doctor::{Exposure, Finding, Link, Outcome};
use crate::domain::printable::sanitize;
use std::io::Write;
use std::process::ExitCode;

pub fn run(global: &GlobalArgs, args: &DoctorArgs) -> ExitCode {
    let host = match crate::backends::doctor::check_host(&args.host) {
        Ok(h) => h,
        Err(why) => {
            eprintln!("homelab doctor: {}", sanitize(&why));
            return ExitCode::from(2);
        }
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    match rt.block_on(walk(global, &host)) {
        Ok(Outcome::Reachable) => ExitCode::SUCCESS,
        Ok(Outcome::Broken(_)) => ExitCode::from(1),
        Err(msg) => {
            eprintln!("homelab doctor: {}", sanitize(&msg));
            ExitCode::from(2)
        }
    }
}

async fn walk(global: &GlobalArgs, host: &str) -> Result<Outcome, String> {
    let (root, file) =
        crate::config::repo_and_cluster(global.repo.as_deref(), global.cluster.as_deref())?;
    let cfg = crate::config::valid_cluster(&root, &file)?;
    let facts = crate::repo::doctor_facts::read(&root, &file, &cfg.name)?;
    let kubeconfig = crate::stages::k3s::K3sOptions::from_process().kubeconfig;
    let setup = Setup::from_process(
        kubeconfig,
        &cfg.name,
        crate::config::env_file(&root, &cfg.name),
    );
    let exposure = Exposure::of_host(host, &cfg.domain);
    let doctor = connect::connect_for(&setup, facts, exposure).await?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        sanitize(&format!("homelab doctor {host} (cluster {})", cfg.name))
    );
    if exposure == Exposure::Internal {
        let _ = out.write_all(render_internal(&cfg.domain).as_bytes());
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(Link::ALL.len() + 1);
    let host_owned = host.to_string();
    let walker = tokio::spawn(async move { doctor.walk_exposed(&host_owned, exposure, &tx).await });
    let mut last = None;
    while let Some(f) = rx.recv().await {
        let _ = out.write_all(render_finding(&f).as_bytes());
        let _ = out.flush();
        last = Some(f.link);
    }
    let outcome = walker.await.map_err(|e| e.to_string())?;
    let _ = out.write_all(render_end(&outcome, last).as_bytes());
    Ok(outcome)
}

/// The line that stands for links 1 to 3 of an internal host.
pub fn render_internal(domain: &str) -> String {
    let skipped: Vec<String> = Link::ALL
        .iter()
        .filter(|l| !Exposure::Internal.walks(**l))
        .map(|l| l.to_string())
        .collect();
    let line = format!(
        "  --   {}: not under the public domain {domain}, so an internal host (LAN and tailnet, not Cloudflare)",
        skipped.join(", ")
    );
    format!("{}\n", sanitize(&line))
}

/// One link as printed: a status word, the link and its summary, the evidence, and the fix
/// when it is broken. Everything from files and peers goes through the one sanitizer.
pub fn render_finding(f: &Finding) -> String {
    let mut s = format!(
        "{} {:<28} {}\n",
        if f.ok { "  ok  " } else { "  FAIL" },
        f.link.to_string(),
        sanitize(&f.summary)
    );
    for e in &f.evidence {
        s.push_str(&format!("         {}\n", sanitize(e)));
    }
    if let Some(fix) = &f.fix {
        s.push_str(&format!("  fix: {}\n", sanitize(&fix.to_string())));
    }
    s
}

/// The links not checked after a broken one, and the last line.
pub fn render_end(outcome: &Outcome, last: Option<Link>) -> String {
    let mut s = String::new();
    if let Outcome::Broken(link) = outcome {
        for l in Link::ALL.iter().filter(|l| Some(**l) > last) {
            s.push_str(&format!("  --   {:<28} not checked\n", l.to_string()));
        }
        s.push_str(&format!("broken at link {link}\n"));
    } else {
        s.push_str("reachable: every link holds\n");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::doctor::Fix;

    #[test]
    fn a_hostile_summary_is_printed_sanitized() {
        let f = Finding::broken(
            Link::Dns,
            "record \u{1b}]0;owned\u{7}x.example.com",
            Fix::Command {
                command: "echo \u{1b}[2J".into(),
                why: "x".into(),
            },
        )
        .with_evidence(vec!["CNAME \u{1b}[31mred".into()]);
        let out = render_finding(&f);
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("FAIL 1. Cloudflare DNS record"), "{out}");
        assert!(out.contains("fix: run `echo"), "{out}");
        let end = render_end(&Outcome::Broken(Link::Dns), Some(Link::Dns));
        assert_eq!(end.matches("not checked").count(), 6, "{end}");
    }

    #[test]
    fn the_internal_line_names_the_links_it_skips() {
        let line = render_internal("example.com");
        assert!(line.ends_with(")\n"), "{line:?}");
        assert!(
            line.starts_with(
                "  --   1. Cloudflare DNS record, 2. tunnel connectors, 3. tunnel ingress rule:"
            ),
            "{line}"
        );
    }
}
