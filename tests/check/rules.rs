//! The real tree passes; each fixture breaks one rule and must fail with exactly that rule's
//! violations at the expected file:line.

use crate::fixture::{expected, fixtures, repo_root, tree_with_fixture};
use homelab::repo::check::{self, RULES};

fn violations(root: &std::path::Path) -> Vec<String> {
    let report = check::run(root).expect("tree loads");
    let mut v: Vec<String> = report
        .violations
        .iter()
        .map(|v| format!("{} {}", v.rule, v.location()))
        .collect();
    v.sort();
    v
}

#[test]
fn the_real_tree_passes() {
    let report = check::run(&repo_root()).expect("tree loads");
    let listed: Vec<String> = report
        .violations
        .iter()
        .map(|v| format!("{} {} {}", v.rule, v.location(), v.message))
        .collect();
    assert!(
        report.ok(),
        "the repository violates its own rules:\n{}",
        listed.join("\n")
    );
    assert!(
        report.documents > 100,
        "suspiciously few documents: {}",
        report.documents
    );
}

fn case(name: &str) {
    let tmp = tree_with_fixture(name);
    assert_eq!(violations(tmp.path()), expected(name), "fixture {name}");
}

#[test]
fn yaml_parse() {
    case("yaml-parse");
}
#[test]
fn kustomization_entry() {
    case("kustomization-entry");
}
#[test]
fn flux_path() {
    case("flux-path");
}
#[test]
fn flux_depends_on() {
    case("flux-depends-on");
}
#[test]
fn flux_cycle() {
    case("flux-cycle");
}
#[test]
fn flux_decryption() {
    case("flux-decryption");
}
#[test]
fn helm_source() {
    case("helm-source");
}
#[test]
fn namespace() {
    case("namespace");
}
#[test]
fn secrets_documented() {
    case("secrets-documented");
}
#[test]
fn top_level() {
    case("top-level");
}
#[test]
fn ingress() {
    case("ingress");
}
#[test]
fn service_type() {
    case("service-type");
}
/// The LAN path without servicelb: every Gateway has an EnvoyProxy whose Service is ClusterIP,
/// and only the shared Gateway's EnvoyProxy claims externalIPs, all of them node addresses.
#[test]
fn gateway_lan_path() {
    case("gateway-lan");
}
#[test]
fn public_allowlist() {
    case("public-allowlist");
}
#[test]
fn public_tunnel() {
    case("public-tunnel");
}
#[test]
fn storage_class() {
    case("storage-class");
}
#[test]
fn plaintext_secret() {
    case("plaintext-secret");
}
#[test]
fn plaintext_env() {
    case("plaintext-env");
}
#[test]
fn chart_version() {
    case("chart-version");
}
#[test]
fn image() {
    case("image");
}
#[test]
fn resource_requests() {
    case("resource-requests");
}
#[test]
fn swap() {
    case("swap");
}
#[test]
fn otel_config() {
    case("otel-config");
}
#[test]
fn otel_path() {
    case("otel-path");
}
#[test]
fn otel_missing() {
    case("otel-missing");
}
#[test]
fn grafana_datasources() {
    case("grafana-datasources");
}

/// Every rule is exercised by at least one fixture, and every fixture has a test above.
#[test]
fn every_rule_has_a_fixture() {
    let mut cases: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    let this_file = include_str!("rules.rs");
    let mut covered = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(
            this_file.contains(&format!("case(\"{c}\")")),
            "fixture {c} has no test"
        );
        for line in expected(c) {
            covered.insert(line.split_whitespace().next().unwrap().to_string());
        }
    }
    for r in RULES {
        assert!(
            covered.contains(r.id),
            "rule {} has no failing fixture",
            r.id
        );
    }
}
