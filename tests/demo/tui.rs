//! `homelab demo` in a real terminal (tmux), as a newcomer runs it: the TUI opens on the demo
//! cluster; the bootstrap of every stage in this build runs from the wizard, answering the
//! env-value form, the PVE certificate fingerprint, each VM's SSH host key, the git host's
//! key and the Flux commit; the nodes end Ready, Flux's objects Ready and verified; then the
//! storage, ingress and observability stages run their probes and verify; quitting removes
//! the lab.

use crate::support::tmux::{Has, Lacks, Tmux};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(90);

/// The fingerprint the host-key prompt shows.
fn prompted_fingerprint(screen: &str) -> Option<String> {
    screen
        .lines()
        .find_map(|l| l.split("fingerprint").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .map(|fp| fp.trim_end_matches('│').to_string())
}

/// The wizard's first two stages as a newcomer answers them: secrets (the form comes
/// pre-filled from the lab; Ctrl-S runs the stage), then proxmox's preflight with its
/// certificate trusted, up to its plan.
fn secrets_then_proxmox_plan(t: &Tmux) {
    t.press_until(&["b"], &[Has("Secrets · 3 steps")], T);
    t.press_until(&["Enter"], &[Has("Values for config/env/demo.env")], T);
    t.press_until(
        &["C-s"],
        &[Has("✓ done:"), Has("config/env/demo.env decrypts")],
        T,
    );
    t.press_until(&["j"], &[Has("Press p to run the preflight")], T);
    t.press_until(&["p"], &[Has("Trust this certificate?")], T);
    t.press_until(&["y"], &[Has("Proxmox VMs · 18 steps")], T);
}

/// Rehearsing recovery (`homelab demo --fail`): the armed step fails in the wizard with its
/// diagnosis and what to do; `r` retries, and the stage finishes.
#[test]
fn a_rehearsed_failure_shows_its_diagnosis_in_the_wizard_and_r_retries_it() {
    let Some((t, _lab)) =
        crate::harness::tui_demo_with("demo-fail", &["--fail", "proxmox:vm/k3s-agent-1/clone"])
    else {
        return;
    };
    secrets_then_proxmox_plan(&t);
    let s = t.press_until(
        &["Enter"],
        &[Has("failed on purpose"), Has("retry the step")],
        T,
    );
    assert!(!s.contains("✓ done:"), "{s}");
    t.press_until(
        &["r"],
        &[
            Has("✓ done:"),
            Has("✓ k3s-agent-1 (211): running"),
            Has("✓ k3s-agent-2 (212): running"),
        ],
        T,
    );
}

#[test]
fn the_demo_bootstraps_every_stage_from_the_wizard_and_quitting_removes_the_lab() {
    let Some((t, lab)) = crate::harness::tui_demo("demo") else {
        return;
    };

    secrets_then_proxmox_plan(&t);
    t.press_until(
        &["Enter"],
        &[
            Has("✓ done:"),
            Has("✓ k3s-server-1 (201): running"),
            Has("✓ k3s-agent-2 (212): running"),
        ],
        T,
    );
    // k3s: trust each VM's host key (three prompts), then run.
    t.press_until(&["j"], &[Has("Press p to run the preflight")], T);
    t.press_until(&["p"], &[Has("Unknown SSH host key")], T);
    let mut trusted = Vec::new();
    loop {
        let s = t.wait_until("a host-key prompt or the k3s plan", T, |s| {
            s.contains("k3s · 8 steps") || prompted_fingerprint(s).is_some()
        });
        let Some(fp) = prompted_fingerprint(&s) else {
            break;
        };
        t.press_until(&["y"], &[Lacks(&fp)], T);
        trusted.push(fp);
    }
    assert_eq!(trusted.len(), 3, "host keys trusted: {trusted:?}");
    t.press_until(
        &["Enter"],
        &[
            Has("already held, 0 skipped"),
            Has("✓ k3s-agent-1 · agent"),
            Has("✓ k3s-agent-2 · agent"),
            Has("✓ ready"),
        ],
        T,
    );
    // flux: trust the git host's key (the preflight reaches flux.repo), run, confirm the
    // commit; Flux is installed from the lab's manifest, the push lands on the git host and
    // every Flux object turns Ready; verify observes it.
    t.press_until(&["j"], &[Has("Press p to run the preflight")], T);
    let s = t.press_until(&["p"], &[Has("Unknown SSH host key"), Has(".4:2222")], T);
    let fp = prompted_fingerprint(&s).expect("a fingerprint");
    t.press_until(&["y"], &[Lacks(&fp), Has("Flux v2.7.3 · 0/12 steps")], T);
    t.press_until(&["Enter"], &[Has("Commit "), Has("file(s) to main?")], T);
    t.press_until(
        &["y"],
        &[
            Has("12/12 steps"),
            Has("✓ git/push done"),
            Has("✓ cluster/follow done"),
            Has("Verified (observed now) ✓ Flux objects Ready"),
        ],
        T,
    );
    // The platform stages: each runs its preflight, then its steps; each probe writes and
    // reads back through the lab's peers, and verify observes the result.
    for (title, steps, probes) in [
        ("Storage", 10, 4),
        ("Ingress", 7, 1),
        ("Observability", 9, 5),
    ] {
        t.press_until(&["j"], &[Has("Press p to run the preflight")], T);
        t.press_until(&["p"], &[Has(&format!("{title} · 0/{steps} steps"))], T);
        let s = t.press_until(
            &["Enter"],
            &[
                Has(&format!(
                    "{title} · {steps}/{steps} steps · {probes}/{probes} probes ok · done:"
                )),
                Has("Verified (observed now)"),
            ],
            T,
        );
        assert!(!s.contains("failed"), "{title}:\n{s}");
    }
    // Quit: back home, then q; the lab goes with the process.
    t.press_until(&["q"], &[Has("Cluster demo")], T);
    t.keys(&["q"]);
    let start = Instant::now();
    while lab.exists() {
        assert!(
            start.elapsed() < T,
            "{} still there after quitting",
            lab.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
