//! The cluster's Secrets rendered from the env file (`secrets::cluster_secrets`), read back
//! by the real `sops --decrypt`; idempotent; re-encrypted when the recipients change.

use crate::support::{Lab, ok};
use homelab::secrets::cluster_secrets::{Outcome, RENDERED, render_all};
use homelab::secrets::keys::identities_from_text;
use homelab::secrets::metadata::CryptRule;
use homelab::secrets::rules::{SopsConfig, homelab_config};
use homelab::secrets::{Format, Opened};
use std::path::Path;

const HOSTILE: &str = "p@ss: \"w0rd\" 'x' #y\\z é";

fn env(lab: &Lab, webhook: bool, password: &str) -> Opened {
    let mut text = format!(
        "GRAFANA_ADMIN_USER=admin\nGRAFANA_ADMIN_PASSWORD={password}\nCLOUDFLARE_API_TOKEN=cf-token-1\n\
         CLOUDFLARE_TUNNEL_TOKEN=tunnel-token\nTAILSCALE_AUTH_KEY=tskey-auth-1\nVSCODE_SERVER_PASSWORD=code-pw\n"
    );
    if webhook {
        text.push_str("ALERTMANAGER_WEBHOOK_URL=https://ntfy.example.invalid/alerts\n");
    }
    Opened::new_plain(
        &lab.path("config/env/lab.env"),
        Format::Dotenv,
        &text,
        CryptRule::default(),
        false,
        std::slice::from_ref(&lab.r1),
    )
    .unwrap()
}

fn kustomizations(root: &Path) {
    for spec in RENDERED {
        let dir = root.join(spec.dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("kustomization.yaml"),
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - workload.yaml\n",
        )
        .unwrap();
    }
}

fn decrypted(lab: &Lab, rel: &str) -> serde_yaml::Value {
    let text = ok(lab.sops(&["--decrypt", rel]), "sops --decrypt");
    serde_yaml::from_str(&text).unwrap()
}

#[test]
fn every_secret_renders_encrypted_and_real_sops_reads_it_back() {
    let Some(lab) = Lab::new() else { return };
    let root = lab.dir.path();
    kustomizations(root);
    std::fs::write(
        lab.path(".sops.yaml"),
        homelab_config(std::slice::from_ref(&lab.r1)),
    )
    .unwrap();
    let config = SopsConfig::load(&lab.path(".sops.yaml")).unwrap();
    let ids1 = identities_from_text(&std::fs::read_to_string(&lab.key1).unwrap(), "key1");

    let reports = render_all(
        root,
        &env(&lab, true, HOSTILE),
        "config/env/lab.env",
        &config,
        &ids1,
    )
    .unwrap();
    assert_eq!(reports.len(), RENDERED.len());
    assert!(
        reports
            .iter()
            .all(|r| r.outcome == Outcome::Written && r.listed),
        "{reports:?}"
    );

    let want = |ns: &str, name: &str| -> Vec<(&'static str, String)> {
        match (ns, name) {
            ("monitoring", "grafana-admin") => {
                vec![
                    ("admin-user", "admin".into()),
                    ("admin-password", HOSTILE.into()),
                ]
            }
            (_, "cloudflare-api-token") => vec![("api-token", "cf-token-1".into())],
            (_, "cloudflared-tunnel") => vec![("TUNNEL_TOKEN", "tunnel-token".into())],
            (_, "tailscale-auth") => vec![("TS_AUTHKEY", "tskey-auth-1".into())],
            (_, "vscode-server") => vec![("PASSWORD", "code-pw".into())],
            (_, "alertmanager-webhook") => {
                vec![("url", "https://ntfy.example.invalid/alerts".into())]
            }
            other => panic!("unexpected {other:?}"),
        }
    };
    for spec in RENDERED {
        let rel = spec.rel_path();
        let raw = std::fs::read_to_string(root.join(&rel)).unwrap();
        assert!(
            !raw.contains("cf-token-1") && !raw.contains("code-pw"),
            "{rel}: plaintext"
        );
        assert!(raw.contains("ENC[AES256_GCM,"), "{rel}");
        let v = decrypted(&lab, &rel);
        assert_eq!(v["kind"], "Secret", "{rel}");
        assert_eq!(v["metadata"]["name"], spec.name);
        assert_eq!(v["metadata"]["namespace"], spec.namespace);
        for (k, val) in want(spec.namespace, spec.name) {
            assert_eq!(
                v["stringData"][k].as_str(),
                Some(val.as_str()),
                "{rel}: {k}"
            );
        }
        let k = std::fs::read_to_string(root.join(spec.dir).join("kustomization.yaml")).unwrap();
        assert!(
            k.ends_with(&format!("  - workload.yaml\n  - {}.sops.yaml\n", spec.name)),
            "{k}"
        );
    }

    // Again with the same values: nothing is written, not even new ciphertext.
    let before: Vec<String> = RENDERED
        .iter()
        .map(|s| std::fs::read_to_string(root.join(s.rel_path())).unwrap())
        .collect();
    let again = render_all(
        root,
        &env(&lab, true, HOSTILE),
        "config/env/lab.env",
        &config,
        &ids1,
    )
    .unwrap();
    assert!(
        again
            .iter()
            .all(|r| r.outcome == Outcome::Unchanged && !r.listed),
        "{again:?}"
    );
    let after: Vec<String> = RENDERED
        .iter()
        .map(|s| std::fs::read_to_string(root.join(s.rel_path())).unwrap())
        .collect();
    assert_eq!(before, after);

    // One value changes: only its file is written.
    let changed = render_all(
        root,
        &env(&lab, true, "new-pw"),
        "config/env/lab.env",
        &config,
        &ids1,
    )
    .unwrap();
    let written: Vec<&str> = changed
        .iter()
        .filter(|r| r.outcome == Outcome::Written)
        .map(|r| r.file.as_str())
        .collect();
    assert_eq!(
        written,
        vec!["cluster/kubernetes/platform/monitoring/grafana/grafana-admin.sops.yaml"]
    );
    let v = decrypted(&lab, written[0]);
    assert_eq!(v["stringData"]["admin-password"], "new-pw");

    // New recipients in .sops.yaml: every file is encrypted again, the second key reads it.
    std::fs::write(
        lab.path(".sops.yaml"),
        homelab_config(&[lab.r1.clone(), lab.r2.clone()]),
    )
    .unwrap();
    let config = SopsConfig::load(&lab.path(".sops.yaml")).unwrap();
    let rotated = render_all(
        root,
        &env(&lab, true, "new-pw"),
        "config/env/lab.env",
        &config,
        &ids1,
    )
    .unwrap();
    assert!(
        rotated.iter().all(|r| r.outcome == Outcome::Written),
        "{rotated:?}"
    );
    let rel = RENDERED[1].rel_path();
    let out = lab
        .sops_cmd(&lab.key2, &["--decrypt", &rel])
        .output()
        .unwrap();
    let text = ok(out, "sops --decrypt with the second key");
    assert!(text.contains("cf-token-1"), "{text}");

    // The optional webhook without a value: skipped; a required value missing: an error
    // naming the env file and the key.
    let skipped = render_all(
        root,
        &env(&lab, false, "new-pw"),
        "config/env/lab.env",
        &config,
        &ids1,
    )
    .unwrap();
    assert!(matches!(
        skipped.last().unwrap().outcome,
        Outcome::Skipped(_)
    ));
    let partial = Opened::new_plain(
        &lab.path("config/env/lab.env"),
        Format::Dotenv,
        "GRAFANA_ADMIN_USER=admin\n",
        CryptRule::default(),
        false,
        std::slice::from_ref(&lab.r1),
    )
    .unwrap();
    let e = render_all(root, &partial, "config/env/lab.env", &config, &ids1).unwrap_err();
    assert!(
        e.contains("config/env/lab.env: no GRAFANA_ADMIN_PASSWORD")
            && e.contains("homelab env set"),
        "{e}"
    );
}
