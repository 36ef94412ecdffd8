//! Day two in the demo, in a real terminal (tmux), as an operator runs it: a headless lab
//! (`homelab demo --headless --speed max`) bootstrapped with `homelab bootstrap --yes`, then
//! the real `homelab` TUI opened in the lab's printed environment and driven with keys:
//! - the console (`c`): Loki's lines, the nodes and Flux from the kube simulator, the alerts
//!   simulator's firing alerts; one is silenced through the UI and the silence is read back
//!   from Alertmanager's API;
//! - the env editor (`e`): a value changed and saved, read back with `homelab env get` (the
//!   lab's age identity), the file still SOPS-encrypted and the other values' ciphertext kept;
//! - the scaffold form (`a`): filled, previewed, and its write asked for; the outcome is held
//!   against `homelab check` on the lab's repository (see the test's doc for what it proves
//!   today).

use crate::harness::{HeadlessLab, assert_green, bin, bootstrap_all, text};
use crate::support::tmux::{Has, Lacks, Launch, Tmux};
use std::io::{Read, Write};
use std::time::Duration;

const T: Duration = Duration::from_secs(90);

/// A headless lab with every stage of this build bootstrapped (green).
fn bootstrapped_lab() -> HeadlessLab {
    let lab = HeadlessLab::start(&["--speed", "max"]);
    let o = bootstrap_all(&lab, &[]);
    assert_green(&o);
    lab
}

/// `homelab` (its home screen) in tmux, in the lab's printed environment (as a shell that
/// evaluated the `export` lines), on the demo cluster.
fn open_tui(lab: &HeadlessLab, tag: &str) -> Option<Tmux> {
    let mut launch = Launch::new(tag)?.size(130, 40);
    for (k, v) in &lab.env {
        launch = launch.env(k, v.clone());
    }
    let t = launch.run(&[bin()]);
    t.wait_screen(&[Has("Cluster demo"), Has("k3s-agent-2")], T);
    Some(t)
}

/// A plain HTTP GET on the lab's loopback (the simulators speak HTTP/1.1); the body.
fn http_get(url: &str) -> String {
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut s = std::net::TcpStream::connect(authority).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("response");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("a response");
    assert!(head.starts_with("HTTP/1.1 200"), "GET {url}: {head}");
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("a chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The alert row's name on a line of the alerts pane (`FIRING   NAME   5m 3s  labels`).
fn alert_row<'a>(screen: &'a str, state: &str, name: &str) -> Option<&'a str> {
    screen.lines().find(|l| {
        let mut w = l.trim_start_matches(['┃', ' ']).split_whitespace();
        w.next() == Some(state) && w.next() == Some(name)
    })
}

/// Issue 18 (2): the console shows the lab's logs (Loki), health (nodes and Flux from the kube
/// simulator) and its firing alerts; the selected alert is silenced through the UI, turns
/// SILENCED, and Alertmanager holds the silence with the comment typed and a matcher on the
/// alert's name.
#[test]
fn the_console_shows_the_labs_logs_health_and_alerts_and_silences_one() {
    let lab = bootstrapped_lab();
    let Some(t) = open_tui(&lab, "daytwo-console") else {
        return;
    };
    let s = t.press_until(
        &["c"],
        &[
            Has("Loki live"),
            Has("FOLLOW"),
            Has("Prometheus live"),
            Has("Alertmanager live"),
            Has("firing"),
            Has("0 silenced"),
            Has("Kubernetes live"),
            Has("Nodes  3/3 Ready"),
            Has("✓ k3s-server-1  Ready"),
            Has("✓ k3s-agent-1  Ready"),
            Has("✓ k3s-agent-2  Ready"),
            Has("objects, all Ready"),
            Lacks("not installed"),
        ],
        T,
    );
    // Loki: lines with their timestamp column below the query; the count in the status line.
    let logged = s
        .lines()
        .filter(|l| {
            let l = l.trim_start_matches('│');
            l.len() > 13 && l.as_bytes()[2] == b':' && l.as_bytes()[8] == b'.'
        })
        .count();
    assert!(logged > 0, "no log lines in the logs pane:\n{s}");
    // Flux: the tree of what the Flux stage installed (more than the flux-system objects).
    let flux = s
        .lines()
        .find_map(|l| l.split("Flux  ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no `Flux  N objects` in the health pane:\n{s}"));
    assert!(flux > 2, "{flux} Flux objects:\n{s}");
    // The alerts simulator's firing alerts, cross-checked with Prometheus's API.
    let prom = http_get(&format!(
        "{}/api/v1/alerts",
        lab.var("HOMELAB_PROMETHEUS_URL")
    ));
    let prom: serde_json::Value = serde_json::from_str(&prom).expect("alerts JSON");
    let firing: Vec<&str> = prom["data"]["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter(|a| a["state"] == "firing")
        .filter_map(|a| a["labels"]["alertname"].as_str())
        .collect();
    assert!(!firing.is_empty(), "the lab fires no alert");
    // The alert that starts firing once the observability stage has probed Prometheus
    // (`sim/lab/observability.rs`), shown like the others.
    assert!(
        firing.contains(&"KubeMemoryOvercommit"),
        "no alert fired once observability was up: {firing:?}"
    );
    for name in &firing {
        assert!(
            alert_row(&s, "FIRING", name).is_some(),
            "{name} fires in Prometheus but is not a FIRING row:\n{s}"
        );
    }

    // Silence the selected alert (the first row): `s`, a comment, Enter.
    let s = t.press_until(&["s"], &[Has("╭ Silence "), Has("Enter create")], T);
    let name = s
        .lines()
        .find_map(|l| l.split("╭ Silence ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .expect("the silenced alert's name")
        .to_string();
    assert!(firing.contains(&name.as_str()), "{name} is not firing");
    assert!(s.contains("Duration  2h"), "{s}");
    let comment = format!("day-two e2e {}", std::process::id());
    t.keys(&["Tab"]);
    t.type_until(&comment, &[Has(&comment)], T);
    let s = t.press_until(
        &["Enter"],
        &[Lacks("Enter create"), Has("1 silenced"), Has("SILENCED")],
        T,
    );
    assert!(
        alert_row(&s, "SILENCED", &name).is_some(),
        "{name} is not SILENCED:\n{s}"
    );
    assert!(alert_row(&s, "FIRING", &name).is_none(), "{s}");

    // Alertmanager holds it: active, our comment, an exact matcher on the alert's name.
    let silences = http_get(&format!(
        "{}/api/v2/silences",
        lab.var("HOMELAB_ALERTMANAGER_URL")
    ));
    let silences: serde_json::Value = serde_json::from_str(&silences).expect("silences JSON");
    let ours: Vec<&serde_json::Value> = silences
        .as_array()
        .expect("a list")
        .iter()
        .filter(|s| s["comment"] == comment.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{silences:#}");
    let sil = ours[0];
    assert_eq!(sil["status"]["state"], "active", "{sil:#}");
    assert!(
        sil["createdBy"]
            .as_str()
            .is_some_and(|c| c.ends_with("(homelab console)")),
        "{sil:#}"
    );
    assert!(
        sil["matchers"]
            .as_array()
            .expect("matchers")
            .iter()
            .any(|m| {
                m["name"] == "alertname"
                    && m["value"] == name.as_str()
                    && m["isEqual"] == true
                    && m["isRegex"] == false
            }),
        "{sil:#}"
    );
}

/// `KEY=value` lines of a dotenv file, by key.
fn dotenv_lines(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Issue 18 (3): the env editor opens the lab's SOPS env file (MAC verified with the lab's
/// identity), a value is changed and saved after the review; `homelab env get` decrypts the
/// new value, the file is still SOPS (the value is ciphertext, a new MAC), and every other
/// value keeps its exact ciphertext.
#[test]
fn the_env_editor_changes_a_value_and_saves_it_encrypted() {
    const KEY: &str = "ALERTMANAGER_WEBHOOK_URL";
    let lab = bootstrapped_lab();
    let file = lab.path("HOMELAB_REPO").join("config/env/demo.env");
    let before = std::fs::read_to_string(&file).expect("the env file");
    let Some(t) = open_tui(&lab, "daytwo-env") else {
        return;
    };
    t.press_until(&["e"], &[Has("Env files · config/env"), Has("demo.env")], T);
    let s = t.press_until(
        &["Enter"],
        &[Has("config/env/demo.env · "), Has("MAC verified"), Has(KEY)],
        T,
    );
    // Values are masked; the key starts empty in the lab's file.
    let row = |s: &str| {
        s.lines()
            .position(|l| l.trim_start_matches(['│', ' ']).starts_with(KEY))
            .expect("the key's row")
    };
    let first = s
        .lines()
        .position(|l| l.contains(" KEY ") && l.contains("VALUE"))
        .expect("the header row");
    let key_row = s.lines().nth(row(&s)).unwrap_or_default();
    assert!(key_row.contains("(empty)"), "{key_row}");
    assert!(
        !s.contains("tskey-auth-demo"),
        "a value is shown unmasked:\n{s}"
    );
    // Down to the key (rows below the header, the first key selected), Enter edits it.
    let downs = row(&s) - first - 1;
    for _ in 0..downs {
        t.keys(&["j"]);
    }
    t.press_until(&["Enter"], &[Has(&format!("Edit {KEY}"))], T);
    let value = format!("http://127.0.0.1:9/hook-{}", std::process::id());
    t.type_until(&value, &[Has(&value)], T);
    let s = t.press_until(
        &["Enter"],
        &[Lacks(&format!("Edit {KEY}")), Has("~ changed")],
        T,
    );
    assert!(!s.contains(&value), "the new value is shown unmasked:\n{s}");
    // Ctrl-S reviews the change (masked), Enter encrypts and saves.
    let s = t.press_until(&["C-s"], &[Has("Save "), Has("Enter encrypt and save")], T);
    assert!(s.contains(&format!("~ changed  {KEY}")), "{s}");
    assert!(!s.contains(&value), "{s}");
    t.press_until(
        &["Enter"],
        &[Lacks("Enter encrypt and save"), Lacks("unsaved change")],
        T,
    );
    let start = std::time::Instant::now();
    let after = loop {
        let now = std::fs::read_to_string(&file).expect("the env file");
        if now != before {
            break now;
        }
        assert!(start.elapsed() < T, "{} was not written", file.display());
        std::thread::sleep(Duration::from_millis(100));
    };

    // `homelab env get` (the lab's identity) reads the new value back.
    let got = lab.homelab(&["env", "get", &file.display().to_string(), KEY], &[]);
    assert!(got.status.success(), "{}", text(&got));
    assert_eq!(String::from_utf8_lossy(&got.stdout).trim_end(), value);
    // Still SOPS: the value is ciphertext, the MAC changed; the other values are untouched.
    assert!(!after.contains(&value), "plaintext in the file:\n{after}");
    let (b, a) = (dotenv_lines(&before), dotenv_lines(&after));
    assert!(a[KEY].starts_with("ENC[AES256_GCM,data:"), "{}", a[KEY]);
    assert!(a["sops_mac"].starts_with("ENC[AES256_GCM,data:"), "{after}");
    assert_ne!(a["sops_mac"], b["sops_mac"]);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (k, v) in &b {
        if k != KEY && k != "sops_mac" && k != "sops_lastmodified" {
            assert_eq!(&a[k], v, "{k} changed");
        }
    }
}

/// `git rev-parse REF` in `dir`.
fn rev(lab: &HeadlessLab, dir: &std::path::Path, r: &str) -> String {
    let o = lab
        .command("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", r])
        .output()
        .expect("git");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Issue 18 (4) and (5). The scaffold form is filled (an image app, internal), previewed (its
/// six files and the group kustomization's diff) and written: `homelab check` passes on the
/// result and it is committed. `p` pushes it to the lab's git host; the watch asks Flux to
/// fetch and follows the app until Ready; the doctor walks its hostname (internal: from the
/// Gateway listener). Then, from outside: the git host holds the commit, `homelab check`
/// passes, the Deployment is Ready, and `homelab doctor` walks the same hostname.
#[test]
fn a_scaffolded_app_is_checked_committed_pushed_ready_and_walked_by_the_doctor() {
    let lab = bootstrapped_lab();
    let repo = lab.path("HOMELAB_REPO");
    let bare = lab.root().join("git/homelab.git");
    let head = rev(&lab, &repo, "HEAD");
    let Some(t) = open_tui(&lab, "daytwo-scaffold") else {
        return;
    };
    t.press_until(&["a"], &[Has("New app · cluster/kubernetes/apps/")], T);
    // name, category (tools: two to the right of media), source (image), image, port.
    t.type_until("whoami", &[Has("name              whoami")], T);
    t.press_until(&["Tab", "Right", "Right"], &[Has("[tools]")], T);
    t.press_until(&["Tab", "Tab"], &[Has("› image")], T);
    t.type_until(
        "traefik/whoami:v1.11.0",
        &[Has("image             traefik/whoami:v1.11.0")],
        T,
    );
    t.press_until(&["Tab"], &[Has("› port")], T);
    t.type_until("80", &[Has("port              80")], T);
    let s = t.wait_screen(
        &[
            Has("New app · cluster/kubernetes/apps/tools/whoami"),
            Has("[internal]"),
        ],
        T,
    );
    assert!(!s.contains("required:"), "a field is missing:\n{s}");
    // Preview: every new file in full, then the diff of the group kustomization.
    let s = t.press_until(
        &["C-s"],
        &[Has("Preview · apps: add whoami"), Has("Files (6 new)")],
        T,
    );
    assert!(s.contains("Diff (1 edited)"), "{s}");
    assert!(
        s.contains("==> cluster/kubernetes/apps/tools/whoami/kustomization.yaml (new)"),
        "{s}"
    );
    t.press_until(
        &["Tab"],
        &[
            Has("cluster/kubernetes/apps/tools/kustomization.yaml"),
            Has("+  - whoami"),
        ],
        T,
    );
    // Write: the question, then yes: written, checked, committed.
    t.press_until(
        &["C-s"],
        &[
            Has("Commit \"apps: add whoami\""),
            Has("run homelab check, commit?"),
        ],
        T,
    );
    let s = t.press_until(
        &["y"],
        &[
            Has("Wrote 7 files under cluster/kubernetes/apps/tools/whoami"),
            Has("homelab check passes"),
            Has("\"apps: add whoami\""),
            Has("Push: not yet"),
        ],
        T,
    );
    let committed = rev(&lab, &repo, "HEAD");
    assert_ne!(committed, head, "nothing was committed:\n{s}");
    assert!(
        s.contains(&format!("Committed {}", &committed[..12])),
        "{s}"
    );
    assert!(
        repo.join("cluster/kubernetes/apps/tools/whoami/deployment.yaml")
            .is_file()
    );
    // Push, watch, doctor: each starts by itself after the one before.
    let s = t.press_until(
        &["p"],
        &[
            Has(&format!(
                "Push: pushed {} to main at ssh://",
                &committed[..12]
            )),
            Has("Watch: whoami is Ready"),
            Has("Doctor: whoami.demo.lan (internal) reachable"),
            Has("✓ 7. TLS certificate"),
        ],
        T,
    );
    assert!(s.contains("– 1-3. Cloudflare DNS record"), "{s}");
    assert_eq!(rev(&lab, &bare, "main"), committed, "the git host's main");

    // From outside the TUI.
    let check = lab.homelab(&["check"], &[]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let ready = lab
        .command("kubectl")
        .args(["--kubeconfig", lab.var("KUBECONFIG")])
        .args([
            "--context",
            "demo",
            "-n",
            "whoami",
            "get",
            "deployment",
            "whoami",
        ])
        .args(["-o", "jsonpath={.status.readyReplicas}/{.spec.replicas}"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ready.stdout),
        "1/1",
        "{}",
        text(&ready)
    );
    let doctor = lab.homelab(&["doctor", "whoami.demo.lan"], &[]);
    let out = String::from_utf8_lossy(&doctor.stdout);
    assert_eq!(doctor.status.code(), Some(0), "{}", text(&doctor));
    for line in [
        "--   1. Cloudflare DNS record, 2. tunnel connectors, 3. tunnel ingress rule: not under the public domain demo.internal",
        "ok   4. Gateway listener",
        "ok   7. TLS certificate",
        "reachable: every link holds",
    ] {
        assert!(out.contains(line), "{line}:\n{out}");
    }
}

/// `homelab doctor` in the demo talks to the lab's Cloudflare simulator (its URL, CA and the
/// tokens it was started with are in the lab's environment; nothing reaches the real API).
/// The lab's copy of the tree serves the demo's domain (src/sim/lab/tree_values.rs), so a
/// public app of the tree walks the whole chain: the record external-dns wrote (proxied, owned
/// as the tree's `txtOwnerId`/`txtPrefix` name it, leading to the tunnel), the tunnel's
/// connectors (cloudflared is Ready), its rule to the Gateway, the listener and the route, the
/// app's endpoints and the wildcard certificate.
#[test]
fn the_doctor_walks_a_public_demo_host_through_the_labs_cloudflare_to_its_pods() {
    let lab = bootstrapped_lab();
    let o = lab.homelab(&["doctor", "jellyfin.demo.internal"], &[]);
    let out = String::from_utf8_lossy(&o.stdout);
    for link in [
        "ok   1. Cloudflare DNS record",
        "ok   2. tunnel connectors",
        "ok   3. tunnel ingress rule",
        "ok   4. Gateway listener",
        "ok   5. HTTPRoute status",
        "ok   6. Service endpoints",
        "ok   7. TLS certificate",
    ] {
        assert!(out.contains(link), "{link} missing:\n{}", text(&o));
    }
    assert!(out.contains("zone demo.internal ("), "{}", text(&o));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
