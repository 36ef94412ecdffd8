//! The tree's Secrets rendered into a copy of the repository as the Flux stage writes them
//! (`secrets::cluster_secrets`), from a made-up env file: with a `.sops.yaml` present,
//! `homelab check`'s `secrets/resolves` needs them, as on a bootstrapped repository. Shared by
//! tests/scaffold and benches/scaffold-gen.rs.

use std::path::Path;

/// Render every Secret under `root`, encrypted to `.sops.yaml`'s rules; `secret` is the age
/// identity (to leave unchanged files alone), `recipient` its public key.
pub fn render(root: &Path, secret: &str, recipient: &str) {
    use homelab::secrets::cluster_secrets::{RENDERED, render_all};
    use homelab::secrets::keys::identities_from_text;
    use homelab::secrets::metadata::CryptRule;
    use homelab::secrets::rules::SopsConfig;
    use homelab::secrets::{Format, Opened};
    // A placeholder for every env key a rendered Secret reads.
    let mut text = String::new();
    for spec in RENDERED {
        for (_, key) in spec.keys {
            if !text.contains(&format!("\n{key}=")) {
                text.push_str(&format!("\n{key}=placeholder-{}", key.to_ascii_lowercase()));
            }
        }
    }
    let env = Opened::new_plain(
        &root.join("config/env/lab.env"),
        Format::Dotenv,
        text.trim_start(),
        CryptRule::default(),
        false,
        &[recipient.to_string()],
    )
    .unwrap();
    let config = SopsConfig::load(&root.join(".sops.yaml")).unwrap();
    let ids = identities_from_text(secret, "lab key");
    render_all(root, &env, "config/env/lab.env", &config, &ids).unwrap();
}
