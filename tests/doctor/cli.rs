//! `homelab doctor HOST`, the real binary against the lab: its output and exit codes, and a
//! hostile record that does not reach the terminal raw.

use super::{HOST, Lab, root};
use homelab::sim::cloudflare::Fault as CfFault;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn doctor(lab: &Lab, host: &str) -> Run {
    run(lab, host, true).await
}

/// The binary against the lab; `tokens`: the Cloudflare tokens come from the environment.
async fn run(lab: &Lab, host: &str, tokens: bool) -> Run {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_homelab"));
    if tokens {
        cmd.env("CLOUDFLARE_API_TOKEN", &lab.cf.token)
            .env("CLOUDFLARE_TUNNEL_TOKEN", lab.cf.tunnel_token.as_str());
    } else {
        cmd.env_remove("CLOUDFLARE_API_TOKEN")
            .env_remove("CLOUDFLARE_TUNNEL_TOKEN")
            .env("HOME", lab.dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE");
    }
    let out = cmd
        .args(["--repo"])
        .arg(root())
        .args(["--cluster", "prox-n100", "doctor", host])
        .env("KUBECONFIG", lab.kubeconfig())
        .env("CLOUDFLARE_BASE_URL", lab.cf.url())
        .env("HOMELAB_CLOUDFLARE_CA", lab.ca())
        .env("XDG_STATE_HOME", lab.dir.path())
        .output()
        .await
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_and_output() {
    let lab = Lab::start().await;
    let ok = doctor(&lab, HOST).await;
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert!(
        ok.stdout
            .starts_with("homelab doctor jellyfin.funoffshore.com (cluster prox-n100)\n"),
        "{}",
        ok.stdout
    );
    assert_eq!(ok.stdout.matches("\n  ok   ").count(), 7, "{}", ok.stdout);
    assert!(
        ok.stdout.ends_with("reachable: every link holds\n"),
        "{}",
        ok.stdout
    );

    // Not a hostname: nothing is asked of anyone, exit 2, and the name is not echoed.
    let bad = doctor(&lab, "a\u{1b}[2Jb.example.com").await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.starts_with("homelab doctor: not a hostname"),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains('\u{1b}'));

    // No token in the environment and no env file to read it from: exit 2, naming both.
    let no_token = run(&lab, HOST, false).await;
    assert_eq!(no_token.code, 2, "{}\n{}", no_token.stdout, no_token.stderr);
    assert!(
        no_token.stderr.contains("config/env/prox-n100.env")
            && no_token.stderr.contains("CLOUDFLARE_API_TOKEN"),
        "{}",
        no_token.stderr
    );
    assert!(no_token.stdout.is_empty(), "{}", no_token.stdout);

    lab.cf.inject(CfFault::TunnelWithoutConnectors);
    let broken = doctor(&lab, HOST).await;
    assert_eq!(broken.code, 1, "{}\n{}", broken.stdout, broken.stderr);
    assert!(
        broken.stdout.contains("  FAIL 2. tunnel connectors"),
        "{}",
        broken.stdout
    );
    assert!(
        broken
            .stdout
            .contains("  fix: run `kubectl -n networking logs deploy/cloudflared`"),
        "{}",
        broken.stdout
    );
    assert_eq!(
        broken.stdout.matches(" not checked\n").count(),
        5,
        "{}",
        broken.stdout
    );
    assert!(
        broken
            .stdout
            .ends_with("broken at link 2. tunnel connectors\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_record_does_not_reach_the_terminal_raw() {
    let lab = Lab::start().await;
    lab.cf.with(|st| {
        for r in st.records.iter_mut().filter(|r| r.record_type == "CNAME") {
            r.content = "\u{1b}]0;owned\u{7}\u{1b}[2Jevil.example.net".into();
        }
    });
    let run = doctor(&lab, HOST).await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout
            .contains("does not lead to this cluster's tunnel"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("evil.example.net"), "{}", run.stdout);
    assert!(
        !run.stdout.contains('\u{1b}') && !run.stdout.contains('\u{7}'),
        "{:?}",
        run.stdout
    );
}
