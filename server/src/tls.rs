//! TLS on the server's one crypto provider (aws-lc-rs): the client configuration of every
//! outgoing call (client notifications, FCM, APNs: TLS 1.2+, 1.3 preferred, the system's trust
//! store plus operator-given roots), the listener's own TLS with optional client certificates
//! (`[tls]`), and the check of client certificates for `tls_client_auth` (RFC 8705).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A client configuration trusting the system's roots and the CA certificates in
/// `extra_root_certificates` (PEM files), offering `alpn` protocols.
pub fn client_config(
    extra_root_certificates: &[PathBuf],
    alpn: &[&[u8]],
) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A malformed system certificate is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    for path in extra_root_certificates {
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// The listener's TLS configuration when `[tls]` names a certificate and key: TLS 1.3 and
/// TLS 1.2 with only the AEAD ECDHE suites FAPI allows (no CBC, no static RSA, no CHACHA20 in
/// 1.2), HTTP/1.1, and a client certificate asked for but not required at the handshake: each
/// client's registration decides (RFC 8705), checked per request.
pub fn server_config(
    settings: &crate::config::TlsSettings,
) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    use rustls::crypto::aws_lc_rs::cipher_suite as suites;
    use rustls::pki_types::PrivateKeyDer;
    let (Some(cert_file), Some(key_file)) =
        (&settings.certificate_file, &settings.private_key_file)
    else {
        return Ok(None);
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("tls.certificate_file {}: {e}", cert_file.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "tls.certificate_file {} holds no certificate",
            cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("tls.private_key_file {}: {e}", key_file.display()))?;
    let base = rustls::crypto::aws_lc_rs::default_provider();
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: vec![
            suites::TLS13_AES_256_GCM_SHA384,
            suites::TLS13_AES_128_GCM_SHA256,
            suites::TLS13_CHACHA20_POLY1305_SHA256,
            suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            suites::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            suites::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ],
        ..base
    });
    let verifier = Arc::new(AnyClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| format!("tls: the certificate and key do not go together: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Arc::new(config)))
}

/// Asks for a client certificate, accepts any (the client proves it holds the key, which is all
/// the handshake checks), and leaves the decision to the client's registration: a CA-issued
/// certificate for `tls_client_auth`, a registered one for `self_signed_tls_client_auth`.
#[derive(Debug)]
struct AnyClientCertificate {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl rustls::server::danger::ClientCertVerifier for AnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        Ok(rustls::server::danger::ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Verifies client certificate chains against the CAs of `tls.client_ca_files`
/// (`tls_client_auth`): signatures, validity at the server's clock, the client-auth usage.
pub struct ClientCaVerifier {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
}

impl std::fmt::Debug for ClientCaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCaVerifier")
    }
}

impl ClientCaVerifier {
    /// From the configured CA files; `None` when there are none.
    pub fn from_settings(settings: &crate::config::TlsSettings) -> Result<Option<Self>, String> {
        if settings.client_ca_files.is_empty() {
            return Ok(None);
        }
        let mut roots = rustls::RootCertStore::empty();
        for path in &settings.client_ca_files {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("tls.client_ca_files {}: {e}", path.display()))?;
            for cert in certs {
                let cert =
                    cert.map_err(|e| format!("tls.client_ca_files {}: {e}", path.display()))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("tls.client_ca_files {}: {e}", path.display()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let inner =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("tls.client_ca_files: {e}"))?;
        Ok(Some(Self { inner }))
    }

    /// Whether `chain` (leaf first, DER) was issued by a configured CA and is valid at `now`
    /// (seconds); the reason when not.
    pub fn verify(&self, chain: &[Vec<u8>], now: i64) -> Result<(), String> {
        let Some((leaf, intermediates)) = chain.split_first() else {
            return Err("no certificate".into());
        };
        let leaf = CertificateDer::from(leaf.as_slice());
        let intermediates: Vec<CertificateDer<'_>> = intermediates
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        let now = rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(
            u64::try_from(now).unwrap_or(0),
        ));
        self.inner
            .verify_client_cert(&leaf, &intermediates, now)
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
