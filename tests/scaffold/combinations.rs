//! Every source x exposure x storage: the generated files pass `homelab check` and the group
//! builds with the real `kubectl kustomize`.

use crate::lab::{Lab, kustomize};
use homelab::repo::{check, output, tree::Tree};
use homelab::scaffold::request::{SecretEntry, SecretValue};
use homelab::scaffold::{AppInput, TreeFacts, plan, validate};

#[derive(Debug, Clone, Copy)]
enum Src {
    Image,
    HelmHttps,
    HelmOci,
}

fn input(src: Src, public: bool, storage: &str, i: usize) -> AppInput {
    let (name, category) = if public {
        ("navidrome".to_string(), "media")
    } else {
        (format!("app{i}-{storage}"), "games")
    };
    let mut a = AppInput {
        name,
        category: category.into(),
        exposure: if public { "public" } else { "internal" }.into(),
        storage: storage.into(),
        port: "8080".into(),
        secrets: vec![SecretEntry {
            key: "API_TOKEN".into(),
            value: SecretValue::new("not-a-real-token"),
        }],
        ..AppInput::default()
    };
    match src {
        Src::Image => {
            a.image = "ghcr.io/example/app:1.2.3".into();
            a.probe_path = "/healthz".into();
            a.runs_as_root = i % 2 == 1;
        }
        Src::HelmHttps => {
            a.chart_repo = "https://charts.example.org".into();
            a.chart = "app".into();
            a.chart_version = "1.4.0".into();
            a.values =
                "# the operator's values, comments kept\nservice:\n  type: ClusterIP\n".into();
        }
        Src::HelmOci => {
            a.chart_repo = "oci://ghcr.io/example/charts".into();
            a.chart = "app".into();
            a.chart_version = "2.0.1".into();
        }
    }
    a
}

#[test]
fn every_source_exposure_and_storage_passes_check_and_kubectl_kustomize() {
    let kubectl = crate::ui_support::require_peer("kubectl")
        .then(|| crate::ui_support::find_peer("kubectl"))
        .flatten();
    let mut failures = Vec::new();
    let mut i = 0;
    for src in [Src::Image, Src::HelmHttps, Src::HelmOci] {
        for public in [false, true] {
            for storage in ["none", "longhorn", "nfs"] {
                i += 1;
                let case = format!("{src:?} public={public} storage={storage}");
                // Public: navidrome (allowlisted by the memo) is taken out first, to be scaffolded.
                let lab = if public {
                    Lab::new(&["cluster/kubernetes/apps/media/navidrome"])
                } else {
                    Lab::new(&[])
                };
                let root = lab.root();
                let tree = Tree::load(&root).unwrap();
                let facts = TreeFacts::read(&tree).unwrap();
                let req = match validate(&input(src, public, storage, i), &facts) {
                    Ok(r) => r,
                    Err(e) => {
                        failures.push(format!("{case}: refused: {e:?}"));
                        continue;
                    }
                };
                let plan = plan::plan(&root, &facts, &req).unwrap();
                plan.write(&root).unwrap();
                let report = check::run(&root).unwrap();
                if !report.ok() {
                    failures.push(format!(
                        "{case}: homelab check:\n{}",
                        output::human(&report)
                    ));
                }
                let Some(kubectl) = &kubectl else { continue };
                let group = root.join(format!("cluster/kubernetes/apps/{}", req.category.as_str()));
                match kustomize(kubectl, &group) {
                    Ok(out) => {
                        for want in [
                            format!(
                                "kind: Namespace\nmetadata:\n  labels:\n    homelab.funoffshore.com/exposure: {}",
                                req.exposure.as_str()
                            ),
                            format!("    sectionName: {}", req.exposure.as_str()),
                            format!("  - {}", req.hostname),
                            "  name: allow-from-gateway\n".to_string(),
                        ] {
                            if !out.contains(&want) {
                                failures.push(format!("{case}: kustomize output lacks `{want}`"));
                            }
                        }
                    }
                    Err(e) => failures.push(format!("{case}: {e}")),
                }
                // games waits for longhorn but not nfs-subdir: the scaffold edits flux/apps.yaml.
                if storage == "nfs"
                    && let Err(e) = kustomize(kubectl, &root.join("cluster/kubernetes/flux"))
                {
                    failures.push(format!("{case}: {e}"));
                }
            }
        }
    }
    assert_eq!(i, 18);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
