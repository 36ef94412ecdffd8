//! What an HTTPS endpoint (Loki, Prometheus, Alertmanager) is trusted with: the platform's
//! certificate store (rustls-platform-verifier: /etc/ssl/certs and `SSL_CERT_FILE` on Linux,
//! the keychain on macOS) plus, optionally, the operator's own CA from a PEM file named in the
//! cluster definition (`observability.*_ca_file`). One rustls configuration serves both the
//! HTTP client and the Loki websocket, so they trust exactly the same certificates.

use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The client TLS configuration for an endpoint: the platform store, plus the CAs in `ca_file`
/// when given. Errors name the file and say what to do.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
    match ca_file {
        None => {
            static PLATFORM: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
            PLATFORM.get_or_init(|| build(Vec::new())).clone()
        }
        Some(path) => build(read_cas(path)?),
    }
}

fn build(
    extra: Vec<rustls::pki_types::CertificateDer<'static>>,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = crate::backends::pve::tls::provider();
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
            .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Every certificate of a PEM file.
fn read_cas(path: &Path) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, String> {
    use rustls::pki_types::pem::PemObject;
    let text = std::fs::read(path)
        .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
    let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not a PEM certificate file ({e})", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no certificate in it; expected one or more -----BEGIN CERTIFICATE----- blocks",
            path.display()
        ));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let e = client_config(Some(&missing)).unwrap_err();
        assert!(e.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = client_config(Some(&empty)).unwrap_err();
        assert!(e.contains("no certificate in it"), "{e}");
    }
}
