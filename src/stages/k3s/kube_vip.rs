//! The API's virtual IP: kube-vip as a static pod on every server (`k3s.vip`).
//!
//! The kubelet of each server starts the pod from k3s' static pod directory as soon as k3s runs;
//! the pods elect a leader through a Lease (`plndr-cp-lock` in kube-system, through the local
//! API at 127.0.0.1 with the node's admin kubeconfig), and the leader answers ARP for the VIP on
//! the configured interface. When the leader's server goes away, another one takes the address
//! over within a few seconds. The VIP is in `--tls-san`, so the API certificate covers it.

use crate::config::{ClusterConfig, K3sVip};

/// k3s reads static pod manifests from here (the agent's kubelet `--pod-manifest-path`).
pub const MANIFEST_DIR: &str = "/var/lib/rancher/k3s/agent/pod-manifests";
pub const MANIFEST_FILE: &str = "/var/lib/rancher/k3s/agent/pod-manifests/kube-vip.yaml";
/// The image when `k3s.vip.image` is not set: a pinned release, never `latest`.
pub const DEFAULT_IMAGE: &str = "ghcr.io/kube-vip/kube-vip:v0.8.1";
/// The admin kubeconfig k3s writes on every server (server 127.0.0.1:<port>).
const NODE_KUBECONFIG: &str = "/etc/rancher/k3s/k3s.yaml";

/// The image a VIP runs.
pub fn image(vip: &K3sVip) -> &str {
    vip.image.as_deref().unwrap_or(DEFAULT_IMAGE)
}

/// A YAML double-quoted scalar (JSON string syntax is valid YAML): values are data, whatever
/// they contain.
fn q(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The static pod manifest for `vip` (ARP mode, control plane, leader election).
pub fn manifest(cluster: &ClusterConfig, vip: &K3sVip) -> String {
    let port = super::commands::api_port(cluster).to_string();
    let env: [(&str, String); 12] = [
        ("vip_arp", "true".into()),
        ("port", port),
        ("vip_interface", vip.interface.clone()),
        ("vip_cidr", "32".into()),
        ("cp_enable", "true".into()),
        ("cp_namespace", "kube-system".into()),
        ("vip_leaderelection", "true".into()),
        ("vip_leasename", "plndr-cp-lock".into()),
        ("vip_leaseduration", "5".into()),
        ("vip_renewdeadline", "3".into()),
        ("vip_retryperiod", "1".into()),
        ("address", vip.address.to_string()),
    ];
    let env: String = env
        .iter()
        .map(|(k, v)| format!("    - name: {k}\n      value: {}\n", q(v)))
        .collect();
    format!(
        "# Written by homelab (k3s stage): the API's virtual IP. See docs/k3s-stage.md.\n\
         apiVersion: v1\n\
         kind: Pod\n\
         metadata:\n  name: kube-vip\n  namespace: kube-system\n\
         spec:\n  hostNetwork: true\n  hostAliases:\n  - hostnames: [kubernetes]\n    ip: 127.0.0.1\n\
         \x20 containers:\n  - name: kube-vip\n    image: {image}\n    imagePullPolicy: IfNotPresent\n    args: [manager]\n\
         \x20   env:\n{env}\
         \x20   securityContext:\n      capabilities:\n        add: [NET_ADMIN, NET_RAW]\n\
         \x20   volumeMounts:\n    - name: kubeconfig\n      mountPath: /etc/kubernetes/admin.conf\n      readOnly: true\n\
         \x20 volumes:\n  - name: kubeconfig\n    hostPath:\n      path: {NODE_KUBECONFIG}\n      type: File\n",
        image = q(image(vip)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_is_a_pod_with_the_vip_the_interface_and_a_pinned_image() {
        let mut c: ClusterConfig =
            serde_yaml::from_str(include_str!("../../../config/clusters/prox-n100.yaml")).unwrap();
        let vip = K3sVip {
            address: "192.168.1.20".parse().unwrap(),
            interface: "ens18".into(),
            image: None,
        };
        c.k3s.api_port = Some(7443);
        let text = manifest(&c, &vip);
        let pod: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["spec"]["hostNetwork"], true);
        let ctr = &pod["spec"]["containers"][0];
        assert_eq!(ctr["image"], DEFAULT_IMAGE);
        assert!(!DEFAULT_IMAGE.ends_with(":latest") && DEFAULT_IMAGE.contains(":v"));
        let env: std::collections::BTreeMap<String, String> = ctr["env"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap().to_owned(),
                    e["value"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert_eq!(env["address"], "192.168.1.20");
        assert_eq!(env["vip_interface"], "ens18");
        assert_eq!(env["vip_arp"], "true");
        assert_eq!(env["port"], "7443");
        assert_eq!(env["cp_enable"], "true");
        assert_eq!(
            pod["spec"]["volumes"][0]["hostPath"]["path"],
            "/etc/rancher/k3s/k3s.yaml"
        );
        let pinned = K3sVip {
            image: Some("registry.lan/kube-vip:v0.8.1@sha256:abc".into()),
            ..vip
        };
        assert!(
            manifest(&c, &pinned).contains("image: \"registry.lan/kube-vip:v0.8.1@sha256:abc\"")
        );
    }
}
