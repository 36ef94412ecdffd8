//! In-process cost of the SOPS layer on a 200-key dotenv file: open (parse, unwrap the data key
//! with age, decrypt every value, verify the MAC) and save-side encryption after one change.
//! The whole-process comparison with `sops decrypt` is in docs/performance.md.

use criterion::{Criterion, criterion_group, criterion_main};
use homelab::secrets::keys::{generate_identity, identities_from_text};
use homelab::secrets::metadata::CryptRule;
use homelab::secrets::tree::{Node, PathStep, Scalar};
use homelab::secrets::{EncryptedFile, Format, Opened};
use std::hint::black_box;
use std::path::Path;

fn two_hundred_keys() -> String {
    (0..200)
        .map(|i| format!("KEY_{i:03}=fake-value-{i}-{}\n", "x".repeat(i % 50)))
        .collect()
}

fn bench(c: &mut Criterion) {
    let (identity, recipient) = generate_identity();
    let ids = identities_from_text(&identity, "bench");
    let path = Path::new("bench.env");
    let mut fresh = Opened::new_plain(
        path,
        Format::Dotenv,
        &two_hundred_keys(),
        CryptRule::default(),
        false,
        &[recipient],
    )
    .expect("plaintext parses");
    let encrypted = fresh.encrypt_to_text().expect("encrypts");

    c.bench_function("sops_open_200_keys", |b| {
        b.iter(|| {
            let file =
                EncryptedFile::parse(black_box(&encrypted), path, Format::Dotenv).expect("parses");
            let opened = file.open(&ids).expect("opens");
            black_box(opened.plaintext().expect("emits").len())
        })
    });

    let file = EncryptedFile::parse(&encrypted, path, Format::Dotenv).expect("parses");
    c.bench_function("sops_set_one_and_encrypt_200_keys", |b| {
        b.iter(|| {
            let mut opened = file
                .decrypt_with_key(file.data_key(&ids).expect("key"))
                .expect("decrypts");
            opened
                .set(
                    &[PathStep::Key("KEY_100".into())],
                    Node::Scalar(Scalar::Str("changed".into())),
                )
                .expect("sets");
            black_box(opened.encrypt_to_text().expect("encrypts").len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
