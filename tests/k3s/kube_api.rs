//! The kube simulator as a cluster: the real kubectl (apply --server-side, get -A / -o yaml / -w,
//! describe, delete with a finalizer, api-resources) and kube-rs (server-side apply, discovery,
//! the runtime watcher, paging, the status subresource, deletion propagation).

use crate::nodes::{require_peer, which};
use homelab::backends::kube::nodes as kube_nodes;
use homelab::sim::kube::resources::TypeKey;
use homelab::sim::kube::store::EventType;
use homelab::sim::kube::{KubeSim, SimOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

const ALL: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
  labels: {app: web}
data:
  color: blue
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: nginx:1.27
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
---
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: demo
  finalizers: [example.com/hold]
spec:
  size: 3
"#;

const OTHER: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
data:
  color: red
"#;

fn key(group: &str, plural: &str) -> TypeKey {
    (group.to_string(), plural.to_string())
}

/// kubectl with this sim's kubeconfig, a private HOME and discovery cache.
pub(crate) struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    pub(crate) fn new(sim: &KubeSim, dir: &Path) -> Kubectl {
        let kubeconfig = dir.join("kubeconfig");
        std::fs::write(&kubeconfig, sim.kubeconfig(&sim.url())).unwrap();
        Kubectl {
            kubeconfig,
            home: dir.to_path_buf(),
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new("kubectl");
        c.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.home.join("cache"))
            .args(args)
            .env("HOME", &self.home)
            .kill_on_drop(true);
        c
    }

    pub(crate) async fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().await.unwrap()
    }

    /// stdout of a run that must succeed.
    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

pub(crate) fn words(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_gets_watches_describes_and_deletes_like_a_cluster() {
    if !require_peer(
        "kubectl",
        which("kubectl"),
        "kubectl is expected at /usr/bin/kubectl",
    ) {
        return;
    }
    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let k = Kubectl::new(&sim, dir.path());
    let store = sim.store().clone();
    let manifest = dir.path().join("all.yaml");
    std::fs::write(&manifest, ALL).unwrap();
    let manifest = manifest.to_str().unwrap().to_string();

    // api-resources: every group, with short names, versions, scope and kind right.
    let listed = k.ok(&["api-resources"]).await;
    let rows = words(&listed);
    assert_eq!(
        rows[0],
        ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    );
    for want in [
        vec!["pods", "po", "v1", "true", "Pod"],
        vec!["namespaces", "ns", "v1", "false", "Namespace"],
        vec!["deployments", "deploy", "apps/v1", "true", "Deployment"],
        vec!["cronjobs", "cj", "batch/v1", "true", "CronJob"],
        vec![
            "storageclasses",
            "sc",
            "storage.k8s.io/v1",
            "false",
            "StorageClass",
        ],
        vec![
            "ingresses",
            "ing",
            "networking.k8s.io/v1",
            "true",
            "Ingress",
        ],
        vec!["leases", "coordination.k8s.io/v1", "true", "Lease"],
        vec![
            "clusterroles",
            "rbac.authorization.k8s.io/v1",
            "false",
            "ClusterRole",
        ],
        vec![
            "poddisruptionbudgets",
            "pdb",
            "policy/v1",
            "true",
            "PodDisruptionBudget",
        ],
        vec!["events", "ev", "events.k8s.io/v1", "true", "Event"],
        vec![
            "customresourcedefinitions",
            "crd,crds",
            "apiextensions.k8s.io/v1",
            "false",
            "CustomResourceDefinition",
        ],
    ] {
        assert!(rows.contains(&want), "{want:?} missing from:\n{listed}");
    }

    // A CRD and its CR in one file: like a real cluster, the CR has no mapping yet.
    let first = k.run(&["apply", "--server-side", "-f", &manifest]).await;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&first.stdout),
        String::from_utf8_lossy(&first.stderr),
    );
    assert!(!first.status.success());
    assert_eq!(
        stdout.matches("serverside-applied").count(),
        4,
        "{stdout}{stderr}"
    );
    assert!(
        stderr.contains("no matches for kind \"Widget\" in version \"example.com/v1\"")
            && stderr.contains("ensure CRDs are installed first"),
        "{stderr}"
    );
    k.ok(&[
        "wait",
        "--for",
        "condition=Established",
        "crd/widgets.example.com",
        "--timeout",
        "30s",
    ])
    .await;
    let second = k.ok(&["apply", "--server-side", "-f", &manifest]).await;
    assert!(
        second.contains("widget.example.com/w1 serverside-applied"),
        "{second}"
    );
    let widget = store
        .get(&key("example.com", "widgets"), "demo", "w1")
        .unwrap();
    assert_eq!(widget["metadata"]["generation"], 1);
    assert_eq!(
        widget.pointer("/metadata/managedFields/0/manager").unwrap(),
        "kubectl"
    );

    // The same apply again changes nothing: no write, no new resourceVersion.
    let before = store.resource_version();
    k.ok(&["apply", "--server-side", "-f", &manifest]).await;
    assert_eq!(
        store.resource_version(),
        before,
        "a repeated apply is a no-op"
    );

    // Another field manager changing an owned field: 409 naming the owner and the field.
    let other = dir.path().join("other.yaml");
    std::fs::write(&other, OTHER).unwrap();
    let other = other.to_str().unwrap();
    let out = k
        .run(&[
            "apply",
            "--server-side",
            "--field-manager",
            "other",
            "-f",
            other,
        ])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Apply failed with 1 conflict: conflict with \"kubectl\": .data.color"),
        "{err}"
    );
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--force-conflicts",
        "-f",
        other,
    ])
    .await;
    let cm = store
        .get(&key("", "configmaps"), "demo", "settings")
        .unwrap();
    assert_eq!(cm["data"]["color"], "red");
    assert_eq!(
        cm["metadata"]["labels"]["app"], "web",
        "kubectl still owns the label"
    );
    // dry run: answered, not stored.
    let dry = OTHER.replace("red", "green");
    let dry_path = dir.path().join("dry.yaml");
    std::fs::write(&dry_path, dry).unwrap();
    k.ok(&[
        "apply",
        "--server-side",
        "--field-manager",
        "other",
        "--dry-run=server",
        "-f",
        dry_path.to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        store
            .get(&key("", "configmaps"), "demo", "settings")
            .unwrap()["data"]["color"],
        "red"
    );

    // get -A: server-side tables, the CR with its printer columns.
    let table = k.ok(&["get", "configmaps,deployments,widgets", "-A"]).await;
    let rows = words(&table);
    assert!(
        rows.contains(&vec!["NAMESPACE", "NAME", "DATA", "AGE"]),
        "{table}"
    );
    assert!(
        rows.contains(&vec![
            "NAMESPACE",
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE"
        ]),
        "{table}"
    );
    assert!(
        rows.contains(&vec!["NAMESPACE", "NAME", "SIZE", "READY", "AGE"]),
        "{table}"
    );
    let row = |name: &str| {
        rows.iter()
            .find(|r| r.get(1) == Some(&name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        row("configmap/settings")[..3],
        ["demo", "configmap/settings", "1"]
    );
    assert_eq!(
        row("deployment.apps/web")[..5],
        ["demo", "deployment.apps/web", "0/2", "0", "0"]
    );
    let w = row("widget.example.com/w1");
    assert_eq!(w[..3], ["demo", "widget.example.com/w1", "3"]);
    assert!(
        w[3].ends_with('s') || w[3].ends_with('m'),
        "age, not a timestamp: {table}"
    );

    // get -o yaml: the stored object with the server's metadata.
    let yaml = k
        .ok(&["get", "deployment", "web", "-n", "demo", "-o", "yaml"])
        .await;
    let dep: Value = serde_yaml::from_str(&yaml).unwrap();
    assert_eq!(dep["kind"], "Deployment");
    assert_eq!(dep["spec"]["replicas"], 2);
    assert_eq!(dep["metadata"]["generation"], 1);
    assert!(
        dep["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36),
        "{yaml}"
    );

    // describe: typed (Deployment) and generic (the CR) describers both work.
    let d = k.ok(&["describe", "deployment", "web", "-n", "demo"]).await;
    assert!(d.contains("Replicas:") && d.contains("nginx:1.27"), "{d}");
    let d = k.ok(&["describe", "widget", "w1", "-n", "demo"]).await;
    assert!(
        d.contains("Kind:         Widget") && d.contains("Size:  3"),
        "{d}"
    );

    // get -w sees a change made after it started.
    let mut watch = k
        .command(&[
            "get",
            "configmaps",
            "-n",
            "demo",
            "-w",
            "--request-timeout",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(watch.stdout.take().unwrap()).lines();
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = vec![];
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.starts_with("settings") {
                let cm = serde_json::json!({"metadata":{"name":"later"},"data":{"a":"1","b":"2"}});
                store
                    .create(
                        &key("", "configmaps"),
                        "demo",
                        cm,
                        &homelab::sim::kube::store::WriteOpts::manager("test"),
                    )
                    .unwrap();
            }
            let done = l.starts_with("later");
            seen.push(l);
            if done {
                break;
            }
        }
        seen
    })
    .await
    .expect("kubectl get -w prints the new configmap");
    let _ = watch.kill().await;
    assert_eq!(words(&seen.join("\n"))[0], ["NAME", "DATA", "AGE"]);
    assert_eq!(words(seen.last().unwrap())[0][..2], ["later", "2"]);

    // delete of an object with a finalizer waits until a patch removes the finalizer.
    let mut events = store.subscribe();
    let mut delete = k
        .command(&["delete", "widget", "w1", "-n", "demo", "--timeout", "120s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let ev = events.recv().await.unwrap();
            if ev.ty == EventType::Modified
                && ev.object.pointer("/metadata/deletionTimestamp").is_some()
            {
                break;
            }
        }
    })
    .await
    .expect("the delete marks the widget");
    assert!(
        delete.try_wait().unwrap().is_none(),
        "kubectl delete returned while the finalizer holds the object"
    );
    assert!(
        store
            .get(&key("example.com", "widgets"), "demo", "w1")
            .is_ok()
    );
    k.ok(&[
        "patch",
        "widget",
        "w1",
        "-n",
        "demo",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ])
    .await;
    let out = delete.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        store
            .get(&key("example.com", "widgets"), "demo", "w1")
            .unwrap_err()
            .code,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_applies_discovers_watches_pages_and_propagates_deletes() {
    use futures::{StreamExt, TryStreamExt};
    use k8s_openapi::api::core::v1::ConfigMap;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams};
    use kube::runtime::watcher;

    let sim = KubeSim::start(SimOptions::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, sim.kubeconfig(&sim.url())).unwrap();
    let client = kube_nodes::client_for(&path, "default").await.unwrap();

    // A CRD through server-side apply; Established at once; both discoveries serve its group.
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd: Value = serde_yaml::from_str(ALL.split("---").nth(3).unwrap()).unwrap();
    let applied = crds
        .patch(
            "widgets.example.com",
            &PatchParams::apply("homelab"),
            &Patch::Apply(&crd),
        )
        .await
        .unwrap();
    let conds = applied.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True"),
        "{conds:?}"
    );
    let aggregated = kube::Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let legacy = kube::Discovery::new(client.clone()).run().await.unwrap();
    for d in [&aggregated, &legacy] {
        assert!(
            d.has_group("example.com") && d.has_group("apps") && d.has_group("coordination.k8s.io")
        );
        let gvk = kube::api::GroupVersionKind::gvk("example.com", "v1", "Widget");
        let (ar, caps) = d.resolve_gvk(&gvk).expect("the CR kind is discovered");
        assert_eq!(ar.plural, "widgets");
        assert!(caps.supports_operation(kube::discovery::verbs::WATCH));
    }
    // Another manager changing the CRD's fields without force: 409 naming homelab.
    let mut changed = crd.clone();
    changed["spec"]["names"]["shortNames"] = serde_json::json!(["wdg"]);
    match crds
        .patch(
            "widgets.example.com",
            &PatchParams::apply("intruder"),
            &Patch::Apply(&changed),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message
                    .contains("conflict with \"homelab\": .spec.names.shortNames"),
                "{}",
                s.message
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // The runtime watcher over labelled configmaps: applies, a change, a delete; others unseen.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let config = watcher::Config::default().labels("app=web").timeout(30);
    let mut stream = watcher(cms.clone(), config).boxed();
    let mut names = vec![];
    let cm = |name: &str, labels: Value, data: &str| -> ConfigMap {
        serde_json::from_value(
            serde_json::json!({"metadata":{"name":name,"labels":labels},"data":{"k":data}}),
        )
        .unwrap()
    };
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(ev) = stream.try_next().await.unwrap() {
            match ev {
                watcher::Event::InitDone => {
                    cms.create(
                        &PostParams::default(),
                        &cm("other", serde_json::json!({}), "x"),
                    )
                    .await
                    .unwrap();
                    cms.create(
                        &PostParams::default(),
                        &cm("a", serde_json::json!({"app":"web"}), "1"),
                    )
                    .await
                    .unwrap();
                }
                watcher::Event::Apply(o) => {
                    let name = o.metadata.name.clone().unwrap();
                    let data = o.data.unwrap_or_default()["k"].clone();
                    names.push(format!("apply {name} {data}"));
                    if data == "1" {
                        cms.patch(
                            "a",
                            &PatchParams::default(),
                            &Patch::Merge(serde_json::json!({"data":{"k":"2"}})),
                        )
                        .await
                        .unwrap();
                    } else {
                        cms.delete("a", &DeleteParams::default()).await.unwrap();
                    }
                }
                watcher::Event::Delete(o) => {
                    names.push(format!("delete {}", o.metadata.name.unwrap()));
                    break;
                }
                _ => {}
            }
        }
        names
    })
    .await
    .expect("the watcher sees the configmap's life");
    assert_eq!(seen, ["apply a 1", "apply a 2", "delete a"]);

    // Paging: limit and continue.
    for i in 0..5 {
        cms.create(
            &PostParams::default(),
            &cm(&format!("p{i}"), serde_json::json!({"page":"yes"}), "p"),
        )
        .await
        .unwrap();
    }
    let lp = ListParams::default().labels("page=yes").limit(2);
    let first = cms.list(&lp).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let token = first.metadata.continue_.clone().unwrap();
    let second = cms.list(&lp.clone().continue_token(&token)).await.unwrap();
    let names: Vec<String> = second
        .items
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["p2", "p3"]);

    // A CR: the status subresource is the only way to write status; spec changes bump generation.
    let ar = aggregated
        .resolve_gvk(&kube::api::GroupVersionKind::gvk(
            "example.com",
            "v1",
            "Widget",
        ))
        .unwrap()
        .0;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let w = serde_json::json!({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":1},"status":{"ignored":true}});
    let made = widgets
        .patch("w", &PatchParams::apply("homelab"), &Patch::Apply(&w))
        .await
        .unwrap();
    assert!(
        made.data.get("status").is_none(),
        "status is not written through the main resource"
    );
    let st = serde_json::json!({"status":{"conditions":[{"type":"Ready","status":"True"}]}});
    let with_status = widgets
        .patch_status("w", &PatchParams::default(), &Patch::Merge(&st))
        .await
        .unwrap();
    assert_eq!(with_status.data["status"]["conditions"][0]["type"], "Ready");
    assert_eq!(with_status.metadata.generation, Some(1));
    let w2 = serde_json::json!({"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":2}});
    let bumped = widgets
        .patch("w", &PatchParams::apply("homelab"), &Patch::Apply(&w2))
        .await
        .unwrap();
    assert_eq!(bumped.metadata.generation, Some(2));
    assert_eq!(bumped.data["status"]["conditions"][0]["status"], "True");
    let dry = widgets
        .patch(
            "w",
            &PatchParams::apply("homelab").dry_run(),
            &Patch::Apply(&w),
        )
        .await
        .unwrap();
    assert_eq!(dry.data["spec"]["size"], 1);
    assert_eq!(
        widgets.get("w").await.unwrap().data["spec"]["size"],
        2,
        "dry run stores nothing"
    );

    // Foreground deletion takes the dependents first, then the owner.
    let owner = cms
        .create(
            &PostParams::default(),
            &cm("owner", serde_json::json!({}), "o"),
        )
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    let dep: ConfigMap = serde_json::from_value(
        serde_json::json!({"metadata":{"name":"dep","ownerReferences":[
        {"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":uid}]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &dep).await.unwrap();
    cms.delete("owner", &DeleteParams::foreground())
        .await
        .unwrap();
    for name in ["dep", "owner"] {
        match cms.get(name).await {
            Err(kube::Error::Api(s)) => {
                assert_eq!(s.code, 404);
                assert_eq!(s.message, format!("configmaps \"{name}\" not found"));
            }
            other => panic!("{name} should be gone: {other:?}"),
        }
    }
    // A missing namespace and an invalid name: 404 and 422 as the real server words them.
    let elsewhere: Api<ConfigMap> = Api::namespaced(client.clone(), "nowhere");
    match elsewhere
        .create(&PostParams::default(), &cm("x", serde_json::json!({}), "x"))
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!(
            (s.code, s.message.as_str()),
            (404, "namespaces \"nowhere\" not found")
        ),
        other => panic!("{other:?}"),
    }
    match cms
        .create(
            &PostParams::default(),
            &cm("Bad_Name", serde_json::json!({}), "x"),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message
                    .starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
    match cms
        .create(
            &PostParams::default(),
            &cm("p0", serde_json::json!({}), "x"),
        )
        .await
    {
        Err(kube::Error::Api(s)) => assert_eq!((s.code, s.reason.as_str()), (409, "AlreadyExists")),
        other => panic!("{other:?}"),
    }
}
