//! `homelab check` on the whole repository: load the tree (read + split + parse every YAML
//! document) and run every rule. Goal: < 100 ms. Reproduce: `cargo bench --bench check`.

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::repo::{check, tree::Tree};
use std::hint::black_box;
use std::path::Path;

fn bench_check(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    c.bench_function("check/whole_tree", |b| {
        b.iter(|| {
            let report = check::run(black_box(root)).expect("tree loads");
            assert!(report.ok());
            report
        })
    });
    let tree = Tree::load(root).expect("tree loads");
    c.bench_function("check/rules_only", |b| {
        b.iter(|| check::check_tree(black_box(&tree)))
    });
}

criterion_group!(benches, bench_check);
criterion_main!(benches);
