//! The simulator's Flux against this repository's tree, seen through the real kubectl: a
//! GitRepository fetched from a temporary git copy of `cluster/kubernetes`, every
//! Kustomization applied in `dependsOn` order, HelmReleases installed; the objects that appear
//! are what the real `kubectl kustomize` builds for the same paths (the cross-check of the
//! kustomize subset). Injected failures (SSH authentication, SOPS decryption, a Helm install)
//! show with their messages in `kubectl get` and `describe`.

use crate::kube_api::{Kubectl, words};
use crate::nodes::{require_peer, which};
use homelab::secrets::keys::generate_identity;
use homelab::secrets::metadata::CryptRule;
use homelab::secrets::{Format, Opened};
use homelab::sim::kube::controllers::{Fault, Timing};
use homelab::sim::kube::objects::NodeSpec;
use homelab::sim::kube::{KubeSim, SimOptions};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The URL gotk-sync.yaml points Flux at.
pub(crate) const URL: &str = "ssh://git@github.com/funoffshore/homelab.git";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A git repository (branch main, one commit) holding a copy of this repository's
/// `cluster/kubernetes`, changed by `edit` before the commit.
fn git_copy(dir: &Path, edit: impl FnOnce(&Path)) -> PathBuf {
    let work = dir.join("repo");
    copy_dir(
        &repo_root().join("cluster/kubernetes"),
        &work.join("cluster/kubernetes"),
    );
    edit(&work);
    let repo = git2::Repository::init_opts(
        &work,
        git2::RepositoryInitOptions::new().initial_head("main"),
    )
    .unwrap();
    let mut index = repo.index().unwrap();
    index
        .add_all(["*"], git2::IndexAddOption::DEFAULT, None)
        .unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("homelab test", "test@example.invalid").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "cluster tree", &tree, &[])
        .unwrap();
    work
}

pub(crate) async fn cluster() -> KubeSim {
    let sim = KubeSim::start(SimOptions {
        controllers: Some(Timing::instant(Duration::from_millis(200))),
        ..Default::default()
    })
    .await
    .unwrap();
    for (i, name) in ["k3s-server-1", "k3s-agent-1", "k3s-agent-2"]
        .iter()
        .enumerate()
    {
        sim.upsert_node(NodeSpec {
            name: name.to_string(),
            ip: format!("127.0.0.{}", i + 21),
            server: i == 0,
            ready: true,
            kubelet_version: "v1.33.5+k3s1".into(),
        });
    }
    sim.install_flux().unwrap();
    sim
}

/// What the Flux stage of `homelab bootstrap` does after installing Flux: the flux-system
/// namespace, the `sops-age` Secret, then gotk-sync.yaml.
pub(crate) async fn bootstrap(k: &Kubectl, dir: &Path, work: &Path, age_key: &str) {
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode(age_key);
    let secrets = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: sops-age\n  namespace: flux-system\ndata:\n  age.agekey: {key}\n"
    );
    let file = dir.join("bootstrap.yaml");
    std::fs::write(&file, secrets).unwrap();
    k.ok(&["apply", "--server-side", "-f", file.to_str().unwrap()])
        .await;
    let sync = work.join("cluster/kubernetes/flux/gotk-sync.yaml");
    k.ok(&["apply", "--server-side", "-f", sync.to_str().unwrap()])
        .await;
}

/// The Kustomizations of the tree: (name, path) from flux/{gotk-sync,platform,apps}.yaml.
fn flux_kustomizations() -> Vec<(String, String)> {
    let mut out = vec![];
    for f in ["gotk-sync.yaml", "platform.yaml", "apps.yaml"] {
        let text =
            std::fs::read_to_string(repo_root().join("cluster/kubernetes/flux").join(f)).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v: Value = serde_yaml::Value::deserialize(doc)
                .ok()
                .and_then(|y| serde_json::to_value(y).ok())
                .unwrap_or_default();
            if v["kind"] == "Kustomization" {
                out.push((
                    v["metadata"]["name"].as_str().unwrap().to_string(),
                    v["spec"]["path"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

use serde::Deserialize as _;

fn yaml_docs(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .filter_map(|y| serde_json::to_value(y).ok())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Every field of `want` is in `have` with the same value (`have` may hold more: server
/// metadata, defaults, status).
fn contained(want: &Value, have: &Value, at: &str) -> Result<(), String> {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => {
            for (k, v) in w {
                let at = format!("{at}.{k}");
                contained(v, h.get(k).unwrap_or(&Value::Null), &at)?;
            }
            Ok(())
        }
        // Lists item by item: the API server defaults fields inside them (a container's
        // imagePullPolicy, a port's protocol), as a real one does.
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => {
            for (i, (w, h)) in w.iter().zip(h).enumerate() {
                contained(w, h, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        _ if want == have => Ok(()),
        _ => Err(format!("{at}: built {want} but the cluster has {have}")),
    }
}

async fn get_json(k: &Kubectl, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    serde_json::from_str(&k.ok(&all).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flux_applies_this_repository_tree_as_kubectl_kustomize_builds_it() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let work = git_copy(dir.path(), |_| {});
    sim.serve_git(URL, &work);
    let k = Kubectl::new(&sim, dir.path());
    let (age_key, _) = generate_identity();
    bootstrap(&k, dir.path(), &work, &age_key).await;

    let head = git2::Repository::open(&work)
        .unwrap()
        .head()
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id()
        .to_string();
    let revision = format!("main@sha1:{head}");
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "gitrepository/flux-system",
            "-n",
            "flux-system",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let repo = get_json(
        &k,
        &["get", "gitrepository", "flux-system", "-n", "flux-system"],
    )
    .await;
    assert_eq!(repo["status"]["artifact"]["revision"], json!(revision));
    assert_eq!(repo["status"]["observedGeneration"], json!(1));
    let msg = format!("stored artifact for revision '{revision}'");
    for ty in ["Ready", "ArtifactInStorage"] {
        let c = repo["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == ty)
            .unwrap();
        assert_eq!(
            (&c["status"], &c["reason"], &c["message"]),
            (&json!("True"), &json!("Succeeded"), &json!(msg)),
            "{ty}"
        );
    }

    // Every Kustomization of the tree becomes Ready at this revision.
    let kss = flux_kustomizations();
    assert!(kss.len() >= 20, "{kss:?}");
    let out = k
        .run(&[
            "wait",
            "--for=condition=Ready",
            "kustomizations",
            "--all",
            "-n",
            "flux-system",
            "--timeout=120s",
        ])
        .await;
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        k.ok(&["get", "kustomizations", "-A"]).await
    );
    let waited = String::from_utf8_lossy(&out.stdout);
    for (name, _) in &kss {
        assert!(
            waited.contains(&format!(
                "kustomization.kustomize.toolkit.fluxcd.io/{name} condition met"
            )),
            "{name}: {waited}"
        );
    }
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "helmrelease/cert-manager",
            "-n",
            "cert-manager",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");

    // kubectl get shows the printer columns of the real CRDs.
    let table = k.ok(&["get", "kustomizations,helmreleases", "-A"]).await;
    let rows = words(&table);
    assert_eq!(
        rows[0],
        ["NAMESPACE", "NAME", "AGE", "READY", "STATUS"],
        "{table}"
    );
    let applied = format!("Applied revision: {revision}");
    assert!(
        table.lines().any(|l| l.starts_with("flux-system")
            && l.contains("kustomization.kustomize.toolkit.fluxcd.io/apps-media")
            && l.contains("True")
            && l.contains(&applied)),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.contains("helmrelease.helm.toolkit.fluxcd.io/cert-manager")
            && l.contains("True")
            && l.contains("Helm install succeeded for release cert-manager/cert-manager.v1 with chart cert-manager@")),
        "{table}"
    );

    // The cross-check: what each Kustomization applied is what kubectl kustomize builds.
    let mut checked = 0;
    for (name, path) in &kss {
        let built = k
            .ok(&["kustomize", work.join(path).to_str().unwrap()])
            .await;
        let docs = yaml_docs(&built);
        let ks = get_json(&k, &["get", "kustomization", name, "-n", "flux-system"]).await;
        assert_eq!(
            ks["status"]["lastAppliedRevision"],
            json!(revision),
            "{name}"
        );
        let mut want_ids: Vec<String> = vec![];
        for doc in &docs {
            let kind = doc["kind"].as_str().unwrap();
            let api = doc["apiVersion"].as_str().unwrap();
            let obj_name = doc["metadata"]["name"].as_str().unwrap();
            let ns = doc["metadata"]["namespace"].as_str().unwrap_or_default();
            let group = api.rsplit_once('/').map(|(g, _)| g).unwrap_or_default();
            want_ids.push(format!("{ns}_{obj_name}_{group}_{kind}"));
            // Read from the store: one kubectl run per object would cost minutes.
            let rt = sim.store().for_kind(api, kind).unwrap();
            let have = sim.store().get(&rt.key(), ns, obj_name).unwrap();
            let mut want = doc.clone();
            want["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] = json!(name);
            want["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/namespace"] =
                json!("flux-system");
            if let Err(e) = contained(&want, &have, "") {
                panic!("{name}: {kind} {ns}/{obj_name}: {e}");
            }
            checked += 1;
        }
        want_ids.sort();
        let have_ids: Vec<String> = ks["status"]["inventory"]["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(have_ids, want_ids, "{name}: inventory");
    }
    assert!(checked > 100, "{checked}");

    // helm-controller's labels on the workload it installed.
    let deploy = get_json(
        &k,
        &["get", "deployment", "cert-manager", "-n", "cert-manager"],
    )
    .await;
    let labels = &deploy["metadata"]["labels"];
    assert_eq!(labels["helm.toolkit.fluxcd.io/name"], "cert-manager");
    assert_eq!(labels["helm.toolkit.fluxcd.io/namespace"], "cert-manager");
    assert_eq!(labels["app.kubernetes.io/managed-by"], "Helm");
    assert_eq!(
        deploy["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "cert-manager"
    );
    let hr = get_json(
        &k,
        &["get", "helmrelease", "cert-manager", "-n", "cert-manager"],
    )
    .await;
    assert_eq!(hr["status"]["history"][0]["status"], "deployed");
    assert_eq!(hr["status"]["history"][0]["chartName"], "cert-manager");

    // `flux reconcile` annotates and waits for the controller to echo the request.
    for (target, ns) in [
        ("gitrepository/flux-system", "flux-system"),
        ("kustomization/apps-media", "flux-system"),
        ("helmrelease/cert-manager", "cert-manager"),
    ] {
        k.ok(&[
            "annotate",
            target,
            "-n",
            ns,
            "--overwrite",
            "reconcile.fluxcd.io/requestedAt=2026-12-07T06:00:00Z",
        ])
        .await;
        let out = k
            .ok(&[
                "wait",
                "--for=jsonpath={.status.lastHandledReconcileAt}=2026-12-07T06:00:00Z",
                target,
                "-n",
                ns,
                "--timeout=60s",
            ])
            .await;
        assert!(out.contains("condition met"), "{target}: {out}");
    }
    let ks = get_json(
        &k,
        &["get", "kustomization", "apps-media", "-n", "flux-system"],
    )
    .await;
    assert_eq!(condition(&ks, "Ready")["reason"], "ReconciliationSucceeded");
}

/// A Secret encrypted for `recipient` as `sops` encrypts Kubernetes Secrets for Flux
/// (`encrypted_regex: ^(data|stringData)$`), with the project's SOPS code.
fn sops_secret(ns: &str, name: &str, recipient: &str) -> String {
    let plain = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\nstringData:\n  password: hunter2\n"
    );
    let mut opened = Opened::new_plain(
        Path::new("secret.sops.yaml"),
        Format::Yaml,
        &plain,
        CryptRule::EncryptedRegex("^(data|stringData)$".into()),
        false,
        &[recipient.to_string()],
    )
    .unwrap();
    opened.encrypt_to_text().unwrap()
}

/// Add `secret.sops.yaml` (Secret `name`) to the kustomization in `folder`.
fn add_secret(work: &Path, folder: &str, ns: &str, name: &str, recipient: &str) {
    let dir = work.join("cluster/kubernetes").join(folder);
    std::fs::write(
        dir.join("secret.sops.yaml"),
        sops_secret(ns, name, recipient),
    )
    .unwrap();
    let k = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&k).unwrap();
    let text = text.replace("resources:\n", "resources:\n  - secret.sops.yaml\n");
    std::fs::write(k, text).unwrap();
}

fn condition<'v>(obj: &'v Value, ty: &str) -> &'v Value {
    obj["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == ty))
        .unwrap_or(&Value::Null)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gitrepository_that_cannot_authenticate_shows_the_ssh_error() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let work = git_copy(dir.path(), |_| {});
    sim.serve_git(URL, &work);
    sim.inject(Fault::GitAuth {
        namespace: "flux-system".into(),
        name: "flux-system".into(),
    });
    let k = Kubectl::new(&sim, dir.path());
    let (age_key, _) = generate_identity();
    bootstrap(&k, dir.path(), &work, &age_key).await;
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready=False",
            "gitrepository/flux-system",
            "-n",
            "flux-system",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let msg = format!(
        "failed to checkout and determine revision: unable to clone '{URL}': ssh: handshake failed: ssh: unable to authenticate, attempted methods [none publickey], no supported methods remain"
    );
    let table = k.ok(&["get", "gitrepositories", "-A"]).await;
    let rows = words(&table);
    assert_eq!(
        rows[0],
        ["NAMESPACE", "NAME", "URL", "AGE", "READY", "STATUS"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(URL) && l.contains("False") && l.contains(&msg)),
        "{table}"
    );
    let repo = get_json(
        &k,
        &["get", "gitrepository", "flux-system", "-n", "flux-system"],
    )
    .await;
    for ty in ["Ready", "FetchFailed"] {
        let c = condition(&repo, ty);
        assert_eq!(c["reason"], "GitOperationFailed", "{ty}: {repo}");
        assert_eq!(c["message"], json!(msg), "{ty}");
    }
    assert!(repo["status"]["artifact"].is_null());
    let described = k
        .ok(&[
            "describe",
            "gitrepository",
            "flux-system",
            "-n",
            "flux-system",
        ])
        .await;
    assert!(
        described.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.starts_with(&["Warning", "GitOperationFailed"])
                && w.contains(&"source-controller")
                && l.contains("ssh: handshake failed")
        }),
        "{described}"
    );
    // A failed fetch is retried at the interval (1m), not on every pass of the loop.
    let events = get_json(&k, &["get", "events", "-n", "flux-system"]).await;
    let failed: Vec<&Value> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["reason"] == "GitOperationFailed")
        .collect();
    assert_eq!(failed.len(), 1, "{events}");
    assert_eq!(failed[0]["count"], 1, "{events}");
    // The root Kustomization has nothing to build.
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready=False",
            "kustomization/flux-system",
            "-n",
            "flux-system",
            "--timeout=60s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let ks = get_json(
        &k,
        &["get", "kustomization", "flux-system", "-n", "flux-system"],
    )
    .await;
    assert_eq!(condition(&ks, "Ready")["reason"], "ArtifactFailed");
    assert_eq!(
        condition(&ks, "Ready")["message"],
        "Source artifact not found, retrying in 30s"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sops_secrets_decrypt_and_injected_decryption_and_helm_install_failures_show_their_messages()
 {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let (age_key, recipient) = generate_identity();
    let work = git_copy(dir.path(), |work| {
        add_secret(
            work,
            "apps/games/minecraft",
            "games",
            "minecraft-rcon",
            &recipient,
        );
        add_secret(
            work,
            "apps/demos/podinfo",
            "demos",
            "podinfo-token",
            &recipient,
        );
    });
    sim.serve_git(URL, &work);
    sim.inject(Fault::SopsDecryption {
        namespace: "flux-system".into(),
        name: "apps-demos".into(),
    });
    sim.inject(Fault::HelmInstall {
        namespace: "kube-system".into(),
        name: "metrics-server".into(),
    });
    let k = Kubectl::new(&sim, dir.path());
    bootstrap(&k, dir.path(), &work, &age_key).await;

    // The key in sops-age opens the Secret of apps-games: it is applied decrypted.
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready",
            "kustomization/apps-games",
            "-n",
            "flux-system",
            "--timeout=120s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let secret = get_json(&k, &["get", "secret", "minecraft-rcon", "-n", "games"]).await;
    let password = secret
        .pointer("/stringData/password")
        .or(secret.pointer("/data/password"))
        .cloned();
    assert!(
        password == Some(json!("hunter2")) || password == Some(json!("aHVudGVyMg==")),
        "{secret}"
    );
    assert!(secret.get("sops").is_none(), "{secret}");

    // apps-demos: the injected decryption failure, as kustomize-controller words it.
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready=False",
            "kustomization/apps-demos",
            "-n",
            "flux-system",
            "--timeout=120s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let ks = get_json(
        &k,
        &["get", "kustomization", "apps-demos", "-n", "flux-system"],
    )
    .await;
    let ready = condition(&ks, "Ready");
    assert_eq!(ready["reason"], "BuildFailed", "{ks}");
    let msg = ready["message"].as_str().unwrap();
    let expected = format!(
        "decryption failed for 'Secret.v1.[noGrp]/podinfo-token': failed to decrypt and format 'demos/podinfo-token' Secret data: cannot get sops data key: Failed to get the data key required to decrypt the SOPS file.\n\nGroup 0: FAILED\n  {recipient}: FAILED\n    - | failed to create reader for decrypting sops data key with\n      | age: no identity matched any of the recipients\n\nRecovery failed because no master key was able to decrypt the file. In\norder for SOPS to recover the file, at least one key has to be successful,\nbut none were."
    );
    assert_eq!(msg, expected);
    let table = k.ok(&["get", "kustomizations", "-n", "flux-system"]).await;
    assert!(
        table.lines().any(|l| l.starts_with("apps-demos")
            && l.contains("False")
            && l.contains("decryption failed for 'Secret.v1.[noGrp]/podinfo-token'")),
        "{table}"
    );
    let described = k
        .ok(&[
            "describe",
            "kustomization",
            "apps-demos",
            "-n",
            "flux-system",
        ])
        .await;
    assert!(
        described.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.starts_with(&["Warning", "BuildFailed"]) && l.contains("decryption failed for")
        }),
        "{described}"
    );
    let missing = k
        .run(&["get", "secret", "podinfo-token", "-n", "demos"])
        .await;
    assert!(!missing.status.success());

    // metrics-server: the install fails as Helm's wait reports it, with its events.
    let out = k
        .ok(&[
            "wait",
            "--for=condition=Ready=False",
            "helmrelease/metrics-server",
            "-n",
            "kube-system",
            "--timeout=120s",
        ])
        .await;
    assert!(out.contains("condition met"), "{out}");
    let hr = get_json(
        &k,
        &["get", "helmrelease", "metrics-server", "-n", "kube-system"],
    )
    .await;
    let ready = condition(&hr, "Ready");
    assert_eq!(ready["reason"], "InstallFailed", "{hr}");
    assert_eq!(
        ready["message"],
        "Helm install failed for release kube-system/metrics-server with chart metrics-server@3.13.0: resource Deployment/kube-system/metrics-server not ready. status: InProgress, message: Available: 0/1\ncontext deadline exceeded"
    );
    assert_eq!(condition(&hr, "Released")["reason"], "InstallFailed");
    assert_eq!(hr["status"]["installFailures"], 1);
    assert_eq!(hr["status"]["history"][0]["status"], "failed");
    let table = k.ok(&["get", "helmreleases", "-n", "kube-system"]).await;
    assert!(
        table.lines().any(|l| l.starts_with("metrics-server")
            && l.contains("False")
            && l.contains("Helm install failed for release kube-system/metrics-server")),
        "{table}"
    );
    let described = k
        .ok(&[
            "describe",
            "helmrelease",
            "metrics-server",
            "-n",
            "kube-system",
        ])
        .await;
    assert!(
        described.lines().any(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.starts_with(&["Warning", "InstallFailed"]) && w.contains(&"helm-controller")
        }),
        "{described}"
    );
    let pods = k
        .ok(&[
            "get",
            "pods",
            "-n",
            "kube-system",
            "-l",
            "app.kubernetes.io/instance=metrics-server",
        ])
        .await;
    assert!(pods.contains("CrashLoopBackOff"), "{pods}");
    // A waiting `kubectl wait` for Ready gives up on it.
    let waited = k
        .run(&[
            "wait",
            "--for=condition=Ready",
            "helmrelease/metrics-server",
            "-n",
            "kube-system",
            "--timeout=1s",
        ])
        .await;
    assert!(!waited.status.success());
}

#[test]
fn homelab_sim_kube_flux_installs_the_crds_and_serves_git() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    use std::io::BufRead;
    use std::process::Command;
    let home = tempfile::tempdir().unwrap();
    let work = git_copy(home.path(), |_| {});
    let url = "https://git.example.invalid/homelab.git";
    let mut child = Command::new(env!("CARGO_BIN_EXE_homelab"))
        .args([
            "sim",
            "kube",
            "--listen",
            "127.0.0.1:0",
            "--speed",
            "1000",
            "--flux",
            "--git",
        ])
        .arg(format!("{url}={}", work.display()))
        .env("TMPDIR", home.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let kubeconfig = lines
        .by_ref()
        .take(10)
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("kubeconfig: ").map(str::to_string))
        .expect("the simulator prints its kubeconfig path");
    let kubectl = |args: &[&str], stdin: Option<&str>| {
        let mut c = Command::new("kubectl");
        c.args(["--kubeconfig", &kubeconfig])
            .args(args)
            .env("HOME", home.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut p = c.spawn().unwrap();
        if let Some(text) = stdin {
            use std::io::Write;
            p.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        p.wait_with_output().unwrap()
    };
    let crds = kubectl(&["get", "crds", "-o", "name"], None);
    let repo = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: homelab\n  namespace: flux-system\nspec:\n  interval: 1m\n  url: {url}\n  ref:\n    branch: main\n"
    );
    let applied = kubectl(&["apply", "--server-side", "-f", "-"], Some(&repo));
    let waited = kubectl(
        &[
            "wait",
            "--for=condition=Ready",
            "gitrepository/homelab",
            "-n",
            "flux-system",
            "--timeout=60s",
        ],
        None,
    );
    let _ = child.kill();
    let _ = child.wait();
    let names = String::from_utf8_lossy(&crds.stdout);
    for crd in [
        "gitrepositories.source.toolkit.fluxcd.io",
        "kustomizations.kustomize.toolkit.fluxcd.io",
        "helmreleases.helm.toolkit.fluxcd.io",
        "receivers.notification.toolkit.fluxcd.io",
    ] {
        assert!(names.contains(crd), "{crd}: {names}");
    }
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    assert!(
        waited.status.success(),
        "{}",
        String::from_utf8_lossy(&waited.stderr)
    );
}
