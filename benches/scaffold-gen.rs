//! `homelab scaffold app` without the terminal: validate a request and render its files (pure),
//! the whole plan (the Gateway's zones from a loaded tree, the SOPS seal of the Secret, the
//! parent kustomization edit, the preview and diff), and write + `homelab check` on a copy of
//! the tree. Reproduce: `cargo bench --profile dev --bench scaffold-gen` (figures in
//! docs/performance.md, "Scaffold").

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use homelab::repo::{check, tree::Tree};
use homelab::scaffold::request::{SecretEntry, SecretValue};
use homelab::scaffold::{AppInput, TreeFacts, plan, render, validate};
use std::hint::black_box;
use std::path::{Path, PathBuf};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

#[path = "../tests/support/rendered_secrets.rs"]
mod rendered_secrets;

/// A copy of the real tree with a `.sops.yaml` for a fresh age recipient and the tree's
/// Secrets rendered (as after the Flux stage).
fn lab() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("repo");
    let src = Path::new(env!("CARGO_MANIFEST_DIR"));
    for d in ["cluster", "config", "infrastructure", "docs", "ai"] {
        copy_dir(&src.join(d), &root.join(d));
    }
    let (secret, recipient) = homelab::secrets::keys::generate_identity();
    std::fs::write(
        root.join(".sops.yaml"),
        homelab::secrets::rules::homelab_config(std::slice::from_ref(&recipient)),
    )
    .unwrap();
    rendered_secrets::render(&root, &secret, &recipient);
    (dir, root)
}

fn input(name: &str) -> AppInput {
    AppInput {
        name: name.into(),
        category: "games".into(),
        image: "ghcr.io/example/app:1.2.3".into(),
        storage: "nfs".into(),
        secrets: vec![SecretEntry {
            key: "API_TOKEN".into(),
            value: SecretValue::new("not-a-real-token"),
        }],
        ..AppInput::default()
    }
}

fn bench_scaffold(c: &mut Criterion) {
    let (_dir, root) = lab();
    let tree = Tree::load(&root).unwrap();
    let facts = TreeFacts::read(&tree).unwrap();
    let req = validate(&input("whoami"), &facts).unwrap();
    c.bench_function("scaffold/validate_render", |b| {
        b.iter(|| {
            let r = validate(black_box(&input("whoami")), &facts).unwrap();
            render::files(&r, &facts.public_zone)
        })
    });
    c.bench_function("scaffold/plan_preview_diff", |b| {
        b.iter(|| {
            let p = plan::plan(&root, &facts, black_box(&req)).unwrap();
            (p.preview(), p.diff(true))
        })
    });
    // A fresh copy of the tree per iteration (the copy is not timed), so every run adds the
    // same app to the same tree.
    c.bench_function("scaffold/facts_write_check", |b| {
        b.iter_batched(
            lab,
            |(dir, root)| {
                let tree = Tree::load(&root).unwrap();
                let facts = TreeFacts::read(&tree).unwrap();
                let req = validate(&input("whoami"), &facts).unwrap();
                let p = plan::plan(&root, &facts, &req).unwrap();
                p.write(&root).unwrap();
                let report = check::run(&root).unwrap();
                assert!(report.ok());
                dir
            },
            BatchSize::PerIteration,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench_scaffold
}
criterion_main!(benches);
