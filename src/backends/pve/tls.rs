//! TLS trust for the PVE API: a certificate pinned by its SHA-256 fingerprint (trust on first
//! use), or ordinary CA verification.
//!
//! PVE ships a self-signed node certificate. Instead of turning verification off, homelab shows
//! the operator the SHA-256 of the leaf certificate the endpoint presents ([`probe_fingerprint`]),
//! stores it in the cluster definition once they agree, and from then on accepts exactly that
//! certificate ([`CertVerifier`]). Handshake signatures are still verified with the provider's
//! algorithms, so a peer without the private key is refused.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// The process-wide rustls provider (aws-lc-rs), installed once.
pub fn provider() -> Arc<CryptoProvider> {
    if let Some(p) = CryptoProvider::get_default() {
        return p.clone();
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
}

/// `AB:CD:...` (uppercase, colon-separated) SHA-256 of a DER certificate, as PVE prints it.
pub fn fingerprint_of(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parse a fingerprint written as `AB:CD:..`, `ab cd ..` or plain hex; 32 bytes.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let hex_only: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    let bytes = hex::decode(&hex_only).map_err(|e| format!("fingerprint `{s}` is not hex: {e}"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("fingerprint `{s}` has {} bytes, a SHA-256 has 32", b.len()))
}

/// What a [`CertVerifier`] accepts.
#[derive(Debug)]
enum Mode {
    /// Exactly the leaf certificate with this SHA-256.
    Pin([u8; 32]),
    /// Any certificate, recording the leaf: only for [`probe_fingerprint`], never for API calls.
    Record(Mutex<Option<Vec<u8>>>),
}

/// Our certificate verifier: a pinned leaf, or recording for the first-use probe. Handshake
/// signatures are verified either way.
#[derive(Debug)]
pub struct CertVerifier {
    mode: Mode,
    algs: WebPkiSupportedAlgorithms,
}

impl CertVerifier {
    /// Accept exactly the certificate whose SHA-256 is `pin`.
    pub fn pinned(pin: [u8; 32]) -> Self {
        CertVerifier {
            mode: Mode::Pin(pin),
            algs: provider().signature_verification_algorithms,
        }
    }
    fn recording() -> Self {
        CertVerifier {
            mode: Mode::Record(Mutex::new(None)),
            algs: provider().signature_verification_algorithms,
        }
    }
    fn recorded(&self) -> Option<Vec<u8>> {
        match &self.mode {
            Mode::Record(seen) => seen.lock().unwrap_or_else(|p| p.into_inner()).take(),
            Mode::Pin(_) => None,
        }
    }
}

fn mismatch(expected: &[u8; 32], got: &[u8]) -> rustls::Error {
    rustls::Error::General(format!(
        "certificate fingerprint changed: expected {}, the server presented {}. If the node certificate was renewed on purpose, \
         compare the new fingerprint with `pvenode cert info` on the host and update proxmox.tls.fingerprint in the cluster file",
        expected
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":"),
        fingerprint_of(got)
    ))
}

impl ServerCertVerifier for CertVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.mode {
            Mode::Pin(pin) if Sha256::digest(end_entity.as_ref()).as_slice() == pin => {
                Ok(ServerCertVerified::assertion())
            }
            Mode::Pin(pin) => Err(mismatch(pin, end_entity.as_ref())),
            Mode::Record(seen) => {
                *seen.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some(end_entity.as_ref().to_vec());
                Ok(ServerCertVerified::assertion())
            }
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// A rustls client config that trusts exactly `pin`.
pub fn pinned_config(pin: [u8; 32]) -> Result<rustls::ClientConfig, String> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(CertVerifier::pinned(pin)))
        .with_no_client_auth())
}

/// Connect to `host:port`, complete a TLS handshake and return the leaf certificate's fingerprint
/// (`AB:CD:...`). The first step of trust on first use; nothing is sent over the connection.
pub async fn probe_fingerprint(
    host: &str,
    port: u16,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let recorder = Arc::new(CertVerifier::recording());
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("`{host}` is not a valid host name: {e}"))?;
    let work = async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        Ok::<(), String>(())
    };
    tokio::time::timeout(timeout, work).await.map_err(|_| {
        format!(
            "{host}:{port} did not complete a TLS handshake within {}s",
            timeout.as_secs()
        )
    })??;
    let der = recorder.recorded();
    der.map(|d| fingerprint_of(&d))
        .ok_or_else(|| format!("{host}:{port} presented no certificate"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_round_trips_through_parse() {
        let fp = fingerprint_of(b"not really a certificate");
        assert_eq!(fp.len(), 32 * 3 - 1);
        assert_eq!(
            parse_fingerprint(&fp).unwrap().to_vec(),
            Sha256::digest(b"not really a certificate").to_vec()
        );
        assert_eq!(
            parse_fingerprint(&fp.to_lowercase().replace(':', "")).unwrap(),
            parse_fingerprint(&fp).unwrap()
        );
        assert!(parse_fingerprint("AB:CD").unwrap_err().contains("2 bytes"));
        assert!(parse_fingerprint("zz").unwrap_err().contains("not hex"));
    }
}
