//! API-server defaulting: the fields a real server fills in on every create, update and apply,
//! as kubernetes `pkg/apis/{core,apps}/v1/defaults.go` set them (plus the values the Service
//! registry allocates and the ServiceAccount and Priority admission plugins write on Pods).
//! Only missing fields are filled, so defaulting an already defaulted object changes nothing.
//!
//! The store calls [`apply`] once, in its one write path, after server-side apply computed
//! managedFields: an applier never owns a defaulted field (an `Update` writer does, on the object
//! it sent, as on a real server). docs/reference/kubernetes.md §7 lists what is defaulted.

use serde_json::{Map, Value, json};

/// Values the server allocates, from the objects it already holds.
pub trait Allocate {
    /// A free ClusterIP in the service range (10.43.0.0/16, k3s's default).
    fn cluster_ip(&mut self) -> String;
    /// A free port in the NodePort range 30000-32767.
    fn node_port(&mut self) -> Option<u16>;
}

/// Fill in the defaults of the object of type (`group`, `plural`); `old` is the stored object on
/// an update (allocated values such as a Service's ClusterIP carry over from it).
pub fn apply(
    group: &str,
    plural: &str,
    obj: &mut Value,
    old: Option<&Value>,
    alloc: &mut dyn Allocate,
) {
    match (group, plural) {
        ("apps", "deployments") => deployment(obj),
        ("apps", "statefulsets") => statefulset(obj),
        ("apps", "daemonsets") => daemonset(obj),
        ("apps", "replicasets") => {
            set(&mut obj["spec"], "replicas", json!(1));
            template(obj.pointer_mut("/spec/template"));
        }
        ("batch", "jobs") => template(obj.pointer_mut("/spec/template")),
        ("batch", "cronjobs") => template(obj.pointer_mut("/spec/jobTemplate/spec/template")),
        ("", "podtemplates") => template(obj.get_mut("template")),
        ("", "pods") => pod(obj),
        ("", "services") => service(obj, old, alloc),
        ("", "persistentvolumeclaims") => {
            set(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            set(&mut obj["status"], "phase", json!("Pending"));
        }
        ("", "persistentvolumes") => {
            set(
                &mut obj["spec"],
                "persistentVolumeReclaimPolicy",
                json!("Retain"),
            );
            set(&mut obj["spec"], "volumeMode", json!("Filesystem"));
            set(&mut obj["status"], "phase", json!("Pending"));
        }
        ("", "secrets") => set(obj, "type", json!("Opaque")),
        _ => {}
    }
}

/// Set `field` of the map `v` (made a map when it is null) when it is absent.
fn set(v: &mut Value, field: &str, value: Value) {
    if v.is_null() {
        *v = json!({});
    }
    if let Some(m) = v.as_object_mut() {
        m.entry(field).or_insert(value);
    }
}

fn deployment(obj: &mut Value) {
    let spec = &mut obj["spec"];
    set(spec, "replicas", json!(1));
    set(&mut spec["strategy"], "type", json!("RollingUpdate"));
    if spec["strategy"]["type"] == "RollingUpdate" {
        let ru = &mut spec["strategy"]["rollingUpdate"];
        set(ru, "maxUnavailable", json!("25%"));
        set(ru, "maxSurge", json!("25%"));
    }
    set(spec, "revisionHistoryLimit", json!(10));
    set(spec, "progressDeadlineSeconds", json!(600));
    template(obj.pointer_mut("/spec/template"));
}

fn statefulset(obj: &mut Value) {
    let spec = &mut obj["spec"];
    set(spec, "podManagementPolicy", json!("OrderedReady"));
    if spec.pointer("/updateStrategy/type").is_none() {
        set(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
        set(&mut spec["updateStrategy"], "rollingUpdate", json!({}));
    }
    if spec["updateStrategy"]["type"] == "RollingUpdate"
        && spec["updateStrategy"]["rollingUpdate"].is_object()
    {
        set(
            &mut spec["updateStrategy"]["rollingUpdate"],
            "partition",
            json!(0),
        );
    }
    // StatefulSetAutoDeletePVC is GA (on) since 1.32.
    let retention = &mut spec["persistentVolumeClaimRetentionPolicy"];
    set(retention, "whenDeleted", json!("Retain"));
    set(retention, "whenScaled", json!("Retain"));
    set(spec, "replicas", json!(1));
    set(spec, "revisionHistoryLimit", json!(10));
    template(obj.pointer_mut("/spec/template"));
}

fn daemonset(obj: &mut Value) {
    let spec = &mut obj["spec"];
    set(&mut spec["updateStrategy"], "type", json!("RollingUpdate"));
    if spec["updateStrategy"]["type"] == "RollingUpdate" {
        let ru = &mut spec["updateStrategy"]["rollingUpdate"];
        set(ru, "maxUnavailable", json!(1));
        set(ru, "maxSurge", json!(0));
    }
    set(spec, "revisionHistoryLimit", json!(10));
    template(obj.pointer_mut("/spec/template"));
}

/// A PodTemplateSpec: the pod spec defaults, not the Pod-only ones.
fn template(tpl: Option<&mut Value>) {
    if let Some(spec) = tpl
        .and_then(|t| t.get_mut("spec"))
        .filter(|s| s.is_object())
    {
        pod_spec(spec);
    }
}

/// SetDefaults_Pod (and the admission plugins' fields) on top of the pod spec defaults.
fn pod(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else {
        return;
    };
    pod_spec(spec);
    set(spec, "enableServiceLinks", json!(true));
    // ServiceAccount admission; `serviceAccount` is the deprecated mirror the server keeps.
    set(spec, "serviceAccountName", json!("default"));
    let sa = spec["serviceAccountName"].clone();
    set(spec, "serviceAccount", sa);
    // Priority admission without a PriorityClass.
    set(spec, "priority", json!(0));
    set(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
    // Requests default to limits on Pods (not on templates).
    for c in containers(spec) {
        let Some(limits) = c
            .pointer("/resources/limits")
            .and_then(Value::as_object)
            .cloned()
        else {
            continue;
        };
        let req = &mut c["resources"]["requests"];
        for (k, v) in limits {
            set(req, &k, v);
        }
    }
}

/// SetDefaults_PodSpec, the container, port, probe and volume defaults.
fn pod_spec(spec: &mut Value) {
    set(spec, "dnsPolicy", json!("ClusterFirst"));
    set(spec, "restartPolicy", json!("Always"));
    set(spec, "securityContext", json!({}));
    set(spec, "terminationGracePeriodSeconds", json!(30));
    set(spec, "schedulerName", json!("default-scheduler"));
    let host_network = spec["hostNetwork"] == true;
    for c in containers(spec) {
        container(c, host_network);
    }
    for v in spec
        .get_mut("volumes")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        volume(v);
    }
}

/// Every container of a pod spec: init, app and ephemeral.
fn containers(spec: &mut Value) -> impl Iterator<Item = &mut Value> {
    let Some(m) = spec.as_object_mut() else {
        return Vec::new().into_iter();
    };
    m.iter_mut()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "initContainers" | "containers" | "ephemeralContainers"
            )
        })
        .filter_map(|(_, v)| v.as_array_mut())
        .flatten()
        .filter(|c| c.is_object())
        .collect::<Vec<_>>()
        .into_iter()
}

fn container(c: &mut Value, host_network: bool) {
    let policy = match image_tag(c["image"].as_str().unwrap_or_default()) {
        Some("latest") => "Always",
        _ => "IfNotPresent",
    };
    set(c, "imagePullPolicy", json!(policy));
    set(c, "terminationMessagePath", json!("/dev/termination-log"));
    set(c, "terminationMessagePolicy", json!("File"));
    // A struct, not a pointer, upstream: always printed, `{}` when empty.
    set(c, "resources", json!({}));
    for p in c
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set(p, "protocol", json!("TCP"));
        if host_network && p.get("hostPort").is_none() {
            let port = p["containerPort"].clone();
            set(p, "hostPort", port);
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(pr) = c.get_mut(probe).filter(|p| p.is_object()) {
            set(pr, "timeoutSeconds", json!(1));
            set(pr, "periodSeconds", json!(10));
            set(pr, "successThreshold", json!(1));
            set(pr, "failureThreshold", json!(3));
            if let Some(get) = pr.get_mut("httpGet").filter(|g| g.is_object()) {
                set(get, "path", json!("/"));
                set(get, "scheme", json!("HTTP"));
            }
        }
    }
}

/// The tag the kubelet would pull: None for a digest without a tag, `latest` when the image
/// names neither (parsers.ParseImageName).
fn image_tag(image: &str) -> Option<&str> {
    let (name, digest) = match image.split_once('@') {
        Some((n, _)) => (n, true),
        None => (image, false),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => Some(tag),
        None if digest => None,
        None => Some("latest"),
    }
}

fn volume(v: &mut Value) {
    let Some(m) = v.as_object_mut() else {
        return;
    };
    if m.len() == 1 && m.contains_key("name") {
        m.insert("emptyDir".into(), json!({}));
    }
    for source in ["secret", "configMap", "projected", "downwardAPI"] {
        if let Some(s) = m.get_mut(source).filter(|s| s.is_object()) {
            // 0644
            set(s, "defaultMode", json!(420));
        }
    }
}

fn service(obj: &mut Value, old: Option<&Value>, alloc: &mut dyn Allocate) {
    let spec = &mut obj["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    set(spec, "type", json!("ClusterIP"));
    set(spec, "sessionAffinity", json!("None"));
    if spec["sessionAffinity"] == "None"
        && let Some(m) = spec.as_object_mut()
    {
        m.remove("sessionAffinityConfig");
    }
    let ty = spec["type"].as_str().unwrap_or_default().to_string();
    let external = ty == "NodePort" || ty == "LoadBalancer";
    // Allocated values are immutable: an update that omits them keeps the old ones.
    if let Some(o) = old.and_then(|o| o.get("spec")) {
        for f in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            if spec.get(f).is_none()
                && let Some(v) = o.get(f)
            {
                spec[f] = v.clone();
            }
        }
    }
    let old_ports: Vec<Value> = old
        .and_then(|o| o.pointer("/spec/ports"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        set(p, "protocol", json!("TCP"));
        let port = p["port"].clone();
        if p.get("targetPort")
            .is_none_or(|t| *t == json!(0) || *t == json!(""))
        {
            p["targetPort"] = port;
        }
        if external && p.get("nodePort").is_none() {
            let kept = old_ports
                .iter()
                .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"])
                .and_then(|o| o.get("nodePort").cloned());
            if let Some(np) = kept.or_else(|| alloc.node_port().map(|n| json!(n))) {
                p["nodePort"] = np;
            }
        }
    }
    if ty != "ExternalName" {
        if spec.get("clusterIP").is_none_or(|c| *c == json!("")) {
            spec["clusterIP"] = json!(alloc.cluster_ip());
        }
        let ip = spec["clusterIP"].clone();
        set(spec, "clusterIPs", json!([ip]));
        set(spec, "ipFamilies", json!(["IPv4"]));
        set(spec, "ipFamilyPolicy", json!("SingleStack"));
        set(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if external {
        set(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if ty == "LoadBalancer" {
        set(spec, "allocateLoadBalancerNodePorts", json!(true));
    }
    set(
        &mut obj["status"],
        "loadBalancer",
        Value::Object(Map::new()),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl Allocate for Fixed {
        fn cluster_ip(&mut self) -> String {
            "10.43.0.10".into()
        }
        fn node_port(&mut self) -> Option<u16> {
            Some(30001)
        }
    }

    #[test]
    fn image_pull_policy_follows_the_tag() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("registry.local:5000/app", "Always"),
            ("registry.local:5000/app:v1", "IfNotPresent"),
            ("ghcr.io/x/app@sha256:abcd", "IfNotPresent"),
            ("ghcr.io/x/app:latest@sha256:abcd", "Always"),
        ] {
            let mut c = json!({"name": "c", "image": image});
            container(&mut c, false);
            assert_eq!(c["imagePullPolicy"], want, "{image}");
        }
    }

    #[test]
    fn defaults_fill_only_what_is_missing_and_are_idempotent() {
        let mut d = json!({"spec": {"replicas": 3, "strategy": {"type": "Recreate"},
            "template": {"spec": {"containers": [{"name": "a", "image": "a:1",
                "ports": [{"containerPort": 80}]}]}}}});
        apply("apps", "deployments", &mut d, None, &mut Fixed);
        assert_eq!(d["spec"]["replicas"], 3);
        assert_eq!(d["spec"]["strategy"], json!({"type": "Recreate"}));
        assert_eq!(d["spec"]["revisionHistoryLimit"], 10);
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"], json!({}));
        assert!(pod.get("enableServiceLinks").is_none(), "Pod-only default");
        assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
        let again = {
            let mut x = d.clone();
            apply("apps", "deployments", &mut x, None, &mut Fixed);
            x
        };
        assert_eq!(again, d);
    }

    #[test]
    fn services_get_a_cluster_ip_ports_and_keep_them() {
        let mut s = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        apply("", "services", &mut s, None, &mut Fixed);
        assert_eq!(s["spec"]["clusterIP"], "10.43.0.10");
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.43.0.10"]));
        assert_eq!(
            s["spec"]["ports"][0],
            json!({"port": 80, "protocol": "TCP", "targetPort": 80, "nodePort": 30001})
        );
        assert_eq!(s["spec"]["externalTrafficPolicy"], "Cluster");
        let mut update = json!({"spec": {"type": "NodePort", "ports": [{"port": 80}]}});
        struct Other;
        impl Allocate for Other {
            fn cluster_ip(&mut self) -> String {
                "10.43.9.9".into()
            }
            fn node_port(&mut self) -> Option<u16> {
                Some(32000)
            }
        }
        apply("", "services", &mut update, Some(&s), &mut Other);
        assert_eq!(update["spec"], s["spec"]);
        let mut headless = json!({"spec": {"clusterIP": "None"}});
        apply("", "services", &mut headless, None, &mut Fixed);
        assert_eq!(headless["spec"]["clusterIP"], "None");
    }
}
