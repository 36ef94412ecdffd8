//! The manifests of a request, as text, in the tree's own style (the layout and comments of
//! cluster/kubernetes/apps/*): pure, one function per file.

use super::facts::{GATEWAY_NAME, GATEWAY_NAMESPACE};
use super::request::{AppRequest, ChartRepo, Exposure, Source, Storage};
use zeroize::Zeroizing;

/// The label of the namespaces the Gateway's public listener accepts routes from.
pub const EXPOSURE_LABEL: &str = "homelab.funoffshore.com/exposure";
/// The user a non-root app runs as (and the group its volumes are writable by).
pub const APP_UID: u32 = 1000;

/// One generated file: its path under the app folder and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// File name inside the app folder.
    pub file: String,
    pub text: String,
}

/// The app's plaintext Secret manifest (to be encrypted before anything sees it) and its file.
pub struct PlainSecret {
    pub file: String,
    pub text: Zeroizing<String>,
}

/// A YAML scalar: plain when that reads back as the same string, else double-quoted (a JSON
/// string is a valid YAML double-quoted scalar).
pub fn scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "./_-@:".contains(c))
        && !s.starts_with(['-', ':', '@', '.'])
        && !s.contains(": ")
        && !s.ends_with(':')
        && matches!(serde_yaml::from_str::<serde_yaml::Value>(s), Ok(serde_yaml::Value::String(ref v)) if v == s);
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
    }
}

/// The secret file's name.
pub fn secret_file(req: &AppRequest) -> String {
    format!("{}.sops.yaml", req.name)
}

/// The claim's name.
pub fn claim_name(req: &AppRequest) -> String {
    format!("{}-data", req.name)
}

/// Every file but the Secret, `kustomization.yaml` first.
pub fn files(req: &AppRequest, public_zone: &str) -> Vec<Rendered> {
    let mut out = vec![
        file("namespace.yaml", namespace(req)),
        file("networkpolicy.yaml", network_policy(req)),
    ];
    if req.storage != Storage::None {
        out.push(file("pvc.yaml", pvc(req)));
    }
    match &req.source {
        Source::Image { image } => {
            out.push(file("deployment.yaml", deployment(req, image)));
            out.push(file("service.yaml", service(req)));
        }
        Source::Helm {
            repo,
            chart,
            version,
            values,
            ..
        } => {
            out.push(file("source.yaml", helm_source(req, repo, chart, version)));
            out.push(file(
                "helmrelease.yaml",
                helm_release(req, repo, chart, version, values.as_deref()),
            ));
        }
    }
    out.push(file("httproute.yaml", route(req, public_zone)));
    let mut resources: Vec<String> = out.iter().map(|r| r.file.clone()).collect();
    if !req.secrets.is_empty() {
        resources.insert(2, secret_file(req));
    }
    out.insert(
        0,
        file("kustomization.yaml", kustomization(req, &resources)),
    );
    out
}

fn file(name: &str, text: String) -> Rendered {
    Rendered {
        file: name.to_string(),
        text,
    }
}

fn kustomization(req: &AppRequest, resources: &[String]) -> String {
    let what = match &req.source {
        Source::Image { image } => format!("the image {image}"),
        Source::Helm { chart, version, .. } => format!("the Helm chart {chart} {version}"),
    };
    let mut s = format!(
        "# {name}: {what}, scaffolded by `homelab scaffold app` (docs/scaffolding.md).\n\
         apiVersion: kustomize.config.k8s.io/v1beta1\n\
         kind: Kustomization\n\
         resources:\n",
        name = req.name
    );
    for r in resources {
        s.push_str(&format!("  - {r}\n"));
    }
    s
}

fn level(req: &AppRequest) -> &'static str {
    if req.runs_as_root {
        "baseline"
    } else {
        "restricted"
    }
}

fn namespace(req: &AppRequest) -> String {
    let why = if req.runs_as_root {
        format!(
            "# PodSecurity exception: {} runs as root (--runs-as-root), so `enforce` is baseline, not\n\
             # restricted; warn/audit stay at restricted so the exception shows up.\n",
            req.name
        )
    } else {
        "# enforce: restricted (the app runs as a non-root user, without privilege escalation).\n"
            .to_string()
    };
    let exposure = match req.exposure {
        Exposure::Internal => "internal",
        Exposure::Public => "public",
    };
    format!(
        "# {name}'s own namespace, with Pod Security Admission labels as in\n\
         # platform/security/namespaces.yaml.\n\
         {why}\
         apiVersion: v1\n\
         kind: Namespace\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 labels:\n\
         \x20   pod-security.kubernetes.io/enforce: {level}\n\
         \x20   pod-security.kubernetes.io/enforce-version: latest\n\
         \x20   pod-security.kubernetes.io/warn: restricted\n\
         \x20   pod-security.kubernetes.io/audit: restricted\n\
         \x20   {EXPOSURE_LABEL}: {exposure}\n",
        name = req.name,
        level = level(req),
    )
}

fn network_policy(req: &AppRequest) -> String {
    let ns = req.namespace();
    let policy = |name: &str, from: &str| {
        format!(
            "apiVersion: networking.k8s.io/v1\n\
             kind: NetworkPolicy\n\
             metadata:\n\
             \x20 name: {name}\n\
             \x20 namespace: {ns}\n\
             spec:\n\
             \x20 podSelector: {{}}\n\
             \x20 policyTypes: [Ingress]\n{from}"
        )
    };
    let from_ns = |n: &str| {
        format!(
            "  ingress:\n    - from:\n        - namespaceSelector:\n            matchLabels:\n              kubernetes.io/metadata.name: {n}\n"
        )
    };
    [
        format!(
            "# {ns}: nothing reaches a pod unless allowed below (as platform/security/network-policies/):\n\
             # the Gateway's Envoy proxies, the namespace itself and monitoring. Egress stays open.\n---\n{}",
            policy("default-deny-ingress", "")
        ),
        policy(
            "allow-same-namespace",
            "  ingress:\n    - from:\n        - podSelector: {}\n",
        ),
        policy("allow-from-gateway", &from_ns("envoy-gateway-system")),
        policy("allow-from-monitoring", &from_ns("monitoring")),
    ]
    .join("\n---\n")
}

fn pvc(req: &AppRequest) -> String {
    let (class, mode, size, why) = match &req.storage {
        Storage::Longhorn { size, .. } => (
            "longhorn",
            "ReadWriteOnce",
            size.as_str(),
            format!("# {}'s state: block storage (Longhorn).", req.name),
        ),
        Storage::Nfs { size, .. } => (
            "nfs",
            "ReadWriteMany",
            size.as_str(),
            format!(
                "# Bulk data on the Synology (StorageClass nfs -> <export>/{}-{}).",
                req.namespace(),
                claim_name(req)
            ),
        ),
        Storage::None => return String::new(),
    };
    format!(
        "{why}\n\
         apiVersion: v1\n\
         kind: PersistentVolumeClaim\n\
         metadata:\n\
         \x20 name: {claim}\n\
         \x20 namespace: {ns}\n\
         spec:\n\
         \x20 storageClassName: {class}\n\
         \x20 accessModes: [{mode}]\n\
         \x20 resources:\n\
         \x20   requests:\n\
         \x20     storage: {size}\n",
        claim = claim_name(req),
        ns = req.namespace(),
    )
}

fn deployment(req: &AppRequest, image: &str) -> String {
    let name = &req.name;
    let mut s = String::new();
    if req.runs_as_root {
        s.push_str(
            "# Runs as root (--runs-as-root): the namespace enforces PodSecurity baseline, not restricted.\n",
        );
    }
    s.push_str(&format!(
        "apiVersion: apps/v1\n\
         kind: Deployment\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: {name}\n\
         spec:\n\
         \x20 replicas: 1\n\
         \x20 strategy:\n\
         \x20   type: Recreate\n\
         \x20 selector:\n\
         \x20   matchLabels:\n\
         \x20     app.kubernetes.io/name: {name}\n\
         \x20 template:\n\
         \x20   metadata:\n\
         \x20     labels:\n\
         \x20       app.kubernetes.io/name: {name}\n\
         \x20   spec:\n\
         \x20     securityContext:\n",
        ns = req.namespace()
    ));
    if !req.runs_as_root {
        s.push_str(&format!(
            "        runAsNonRoot: true\n\
             \x20       runAsUser: {APP_UID}\n\
             \x20       runAsGroup: {APP_UID}\n\
             \x20       fsGroup: {APP_UID}\n"
        ));
    }
    s.push_str(&format!(
        "        seccompProfile:\n\
         \x20         type: RuntimeDefault\n\
         \x20     containers:\n\
         \x20       - name: {name}\n\
         \x20         image: {image}\n\
         \x20         ports:\n\
         \x20           - name: http\n\
         \x20             containerPort: {port}\n\
         \x20             protocol: TCP\n",
        image = scalar(image),
        port = req.port,
    ));
    if !req.secrets.is_empty() {
        s.push_str("          env:\n");
        for e in &req.secrets {
            s.push_str(&format!(
                "            - name: {k}\n\
                 \x20             valueFrom:\n\
                 \x20               secretKeyRef:\n\
                 \x20                 name: {name}\n\
                 \x20                 key: {k}\n",
                k = e.key
            ));
        }
    }
    let path = scalar(&req.probe_path);
    s.push_str(&format!(
        "          readinessProbe:\n\
         \x20           httpGet:\n\
         \x20             path: {path}\n\
         \x20             port: http\n\
         \x20         livenessProbe:\n\
         \x20           httpGet:\n\
         \x20             path: {path}\n\
         \x20             port: http\n\
         \x20           initialDelaySeconds: 10\n\
         \x20           periodSeconds: 30\n\
         \x20         resources:\n\
         \x20           requests:\n\
         \x20             cpu: {cpu}\n\
         \x20             memory: {mem}\n",
        cpu = scalar(&req.resources.cpu_request),
        mem = scalar(&req.resources.memory_request),
    ));
    if req.resources.cpu_limit.is_some() || req.resources.memory_limit.is_some() {
        s.push_str("            limits:\n");
        if let Some(c) = &req.resources.cpu_limit {
            s.push_str(&format!("              cpu: {}\n", scalar(c)));
        }
        if let Some(m) = &req.resources.memory_limit {
            s.push_str(&format!("              memory: {}\n", scalar(m)));
        }
    }
    if !req.runs_as_root {
        s.push_str(
            "          securityContext:\n\
             \x20           allowPrivilegeEscalation: false\n\
             \x20           capabilities:\n\
             \x20             drop: [ALL]\n",
        );
    }
    let mount = match &req.storage {
        Storage::Longhorn { mount_path, .. } | Storage::Nfs { mount_path, .. } => {
            Some(mount_path.as_str())
        }
        Storage::None => None,
    };
    if let Some(m) = mount {
        s.push_str(&format!(
            "          volumeMounts:\n\
             \x20           - name: data\n\
             \x20             mountPath: {m}\n\
             \x20     volumes:\n\
             \x20       - name: data\n\
             \x20         persistentVolumeClaim:\n\
             \x20           claimName: {claim}\n",
            m = scalar(m),
            claim = claim_name(req)
        ));
    }
    s
}

fn service(req: &AppRequest) -> String {
    format!(
        "apiVersion: v1\n\
         kind: Service\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         \x20 labels:\n\
         \x20   app.kubernetes.io/name: {name}\n\
         spec:\n\
         \x20 type: ClusterIP\n\
         \x20 selector:\n\
         \x20   app.kubernetes.io/name: {name}\n\
         \x20 ports:\n\
         \x20   - name: http\n\
         \x20     port: {port}\n\
         \x20     targetPort: http\n\
         \x20     protocol: TCP\n",
        name = req.name,
        ns = req.namespace(),
        port = req.port
    )
}

fn helm_source(req: &AppRequest, repo: &ChartRepo, chart: &str, version: &str) -> String {
    match repo {
        ChartRepo::Https(url) => format!(
            "# The chart's Helm repository (Flux sources live in flux-system, as in\n\
             # cluster/kubernetes/flux/repositories.yaml); the version is pinned in helmrelease.yaml.\n\
             apiVersion: source.toolkit.fluxcd.io/v1\n\
             kind: HelmRepository\n\
             metadata:\n\
             \x20 name: {name}\n\
             \x20 namespace: flux-system\n\
             spec:\n\
             \x20 interval: 12h\n\
             \x20 url: {url}\n",
            name = req.name,
            url = scalar(url)
        ),
        ChartRepo::Oci(base) => format!(
            "# The chart as an OCI artifact, pinned by tag (Flux sources live in flux-system, as in\n\
             # cluster/kubernetes/flux/repositories.yaml).\n\
             apiVersion: source.toolkit.fluxcd.io/v1\n\
             kind: OCIRepository\n\
             metadata:\n\
             \x20 name: {name}\n\
             \x20 namespace: flux-system\n\
             spec:\n\
             \x20 interval: 12h\n\
             \x20 url: {url}\n\
             \x20 ref:\n\
             \x20   tag: {tag}\n\
             \x20 layerSelector:\n\
             \x20   mediaType: application/vnd.cncf.helm.chart.content.v1.tar+gzip\n\
             \x20   operation: copy\n",
            name = req.name,
            url = scalar(&format!("{base}/{chart}")),
            tag = scalar(version)
        ),
    }
}

fn helm_release(
    req: &AppRequest,
    repo: &ChartRepo,
    chart: &str,
    version: &str,
    values: Option<&str>,
) -> String {
    let mut s = String::new();
    if req.storage != Storage::None {
        s.push_str(&format!(
            "# Storage: the claim `{}` (pvc.yaml) exists for this chart; point the chart's values at it\n\
             # (many charts: persistence.existingClaim).\n",
            claim_name(req)
        ));
    }
    if !req.secrets.is_empty() {
        let keys: Vec<&str> = req.secrets.iter().map(|e| e.key.as_str()).collect();
        s.push_str(&format!(
            "# Secret `{}` ({}) holds {}; point the chart's values at it (many charts: existingSecret).\n",
            req.name,
            secret_file(req),
            keys.join(", ")
        ));
    }
    s.push_str(&format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2\n\
         kind: HelmRelease\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         spec:\n\
         \x20 interval: 30m\n",
        name = req.name,
        ns = req.namespace()
    ));
    match repo {
        ChartRepo::Https(_) => s.push_str(&format!(
            "  chart:\n\
             \x20   spec:\n\
             \x20     chart: {chart}\n\
             \x20     version: {version}\n\
             \x20     sourceRef:\n\
             \x20       kind: HelmRepository\n\
             \x20       name: {name}\n\
             \x20       namespace: flux-system\n",
            chart = scalar(chart),
            version = scalar(version),
            name = req.name
        )),
        ChartRepo::Oci(_) => s.push_str(&format!(
            "  chartRef:\n\
             \x20   kind: OCIRepository\n\
             \x20   name: {name}\n\
             \x20   namespace: flux-system\n",
            name = req.name
        )),
    }
    s.push_str(
        "  install:\n\
         \x20   remediation:\n\
         \x20     retries: 3\n\
         \x20 upgrade:\n\
         \x20   remediation:\n\
         \x20     retries: 3\n",
    );
    if let Some(v) = values {
        s.push_str("  values:\n");
        for line in v.lines() {
            if line.trim().is_empty() {
                s.push('\n');
            } else {
                s.push_str("    ");
                s.push_str(line);
                s.push('\n');
            }
        }
    }
    s
}

fn route(req: &AppRequest, public_zone: &str) -> String {
    let (comment, annotations, section) = match req.exposure {
        Exposure::Internal => (
            format!("# Internal only (LAN / tailnet): https://{}", req.hostname),
            String::new(),
            "internal",
        ),
        Exposure::Public => (
            format!(
                "# PUBLIC through the Cloudflare Tunnel (allowlisted in the Stage 1 memo 8.1): https://{}",
                req.hostname
            ),
            format!(
                "  annotations:\n\
                 \x20   # Public: external-dns publishes {host} as a proxied CNAME to the tunnel.\n\
                 \x20   external-dns.alpha.kubernetes.io/target: tunnel.{public_zone}\n",
                host = req.hostname
            ),
            "public",
        ),
    };
    format!(
        "{comment}\n\
         apiVersion: gateway.networking.k8s.io/v1\n\
         kind: HTTPRoute\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         {annotations}\
         spec:\n\
         \x20 parentRefs:\n\
         \x20   - name: {GATEWAY_NAME}\n\
         \x20     namespace: {GATEWAY_NAMESPACE}\n\
         \x20     sectionName: {section}\n\
         \x20 hostnames:\n\
         \x20   - {host}\n\
         \x20 rules:\n\
         \x20   - backendRefs:\n\
         \x20       - name: {svc}\n\
         \x20         port: {port}\n",
        name = req.name,
        ns = req.namespace(),
        host = req.hostname,
        svc = req.service(),
        port = req.port,
    )
}

/// The Secret in plaintext, only ever handed to the encryption.
pub fn plain_secret(req: &AppRequest) -> Option<PlainSecret> {
    if req.secrets.is_empty() {
        return None;
    }
    let cap = 256
        + req
            .secrets
            .iter()
            .map(|e| e.key.len() + 8 + 6 * e.value.expose().len())
            .sum::<usize>();
    // Room for every value up front: a growing String would leave copies of the values behind.
    let mut text = Zeroizing::new(String::with_capacity(cap));
    text.push_str(&format!(
        "apiVersion: v1\n\
         kind: Secret\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 namespace: {ns}\n\
         type: Opaque\n\
         stringData:\n",
        name = req.name,
        ns = req.namespace()
    ));
    for e in &req.secrets {
        let v = Zeroizing::new(serde_json::to_string(e.value.expose()).unwrap_or_default());
        text.push_str("  ");
        text.push_str(&e.key);
        text.push_str(": ");
        text.push_str(&v);
        text.push('\n');
    }
    Some(PlainSecret {
        file: secret_file(req),
        text,
    })
}
