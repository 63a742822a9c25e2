//! TLS for the device API.
//!
//! Trust is the platform's (the OS verifier through `rustls-platform-verifier`: Android's and
//! Apple's own certificate checks, the system store elsewhere), optionally widened by extra
//! trust anchors from [`AuthenticatorConfig`] (a bank's private CA, test CAs), and optionally
//! narrowed per account by certificate pins: the SHA-256 of the server certificate's
//! SubjectPublicKeyInfo, base64 (the HPKP `pin-sha256` form). A pinned connection is refused
//! unless the chain verifies *and* the leaf's key is one of the pins.
//!
//! Certificate validity is judged by the injected clock, like everything else in the SDK.
//! rustls runs on `ring`, the SDK's only crypto library, through [`provider`]: TLS 1.3 and 1.2
//! with AES-GCM suites only (what FAPI 2.0 allows; every TLS 1.3 server has AES-128-GCM), the
//! X25519, P-256 and P-384 key exchanges, every signature algorithm webpki verifies with ring,
//! and no client certificates. Leaving out ChaCha20-Poly1305 and the client-side signing keys
//! takes about 100 KB out of the mobile library.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::time_provider::TimeProvider;
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};

use super::{AuthenticatorConfig, AuthenticatorError};
use crate::clock::SharedClock;

/// The verifiers every TLS configuration of one [`Authenticator`](super::Authenticator) shares.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    provider: Arc<CryptoProvider>,
    /// The platform's verifier; `None` when disabled or when the platform has no roots.
    system: Option<Arc<dyn ServerCertVerifier>>,
    /// A verifier over the configured extra anchors only.
    extra: Option<Arc<WebPkiServerVerifier>>,
    clock: SharedClock,
}

impl Trust {
    /// Builds the trust of `config`; fails on an unreadable extra anchor.
    pub(crate) fn new(
        config: &AuthenticatorConfig,
        clock: SharedClock,
    ) -> Result<Self, AuthenticatorError> {
        let provider = Arc::new(provider());
        let system: Option<Arc<dyn ServerCertVerifier>> = if config.trust_system_roots {
            match rustls_platform_verifier::Verifier::new(Arc::clone(&provider)) {
                Ok(v) => Some(Arc::new(v)),
                Err(e) => {
                    // A container without a CA bundle: loopback http and extra anchors still work.
                    tracing::warn!(error = %e, "no system trust anchors; only configured ones are trusted");
                    None
                }
            }
        } else {
            None
        };
        let extra = if config.extra_trust_anchors.is_empty() {
            None
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for anchor in &config.extra_trust_anchors {
                for cert in parse_certificates(anchor)? {
                    roots.add(cert).map_err(|e| {
                        AuthenticatorError::InvalidInput(format!("extra trust anchor: {e}"))
                    })?;
                }
            }
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                    .build()
                    .map_err(|e| {
                        AuthenticatorError::InvalidInput(format!("extra trust anchors: {e}"))
                    })?;
            Some(verifier)
        };
        Ok(Self {
            provider,
            system,
            extra,
            clock,
        })
    }

    /// A client configuration that trusts what this trust does and, when `pins` is not empty,
    /// only servers whose leaf key is pinned.
    pub(crate) fn client_config(
        &self,
        pins: &[String],
    ) -> Result<rustls::ClientConfig, AuthenticatorError> {
        let verifier = PinningVerifier {
            trust: self.clone(),
            pins: decode_pins(pins)?,
        };
        let time: Arc<dyn TimeProvider> = Arc::new(ClockTime(Arc::clone(&self.clock)));
        let mut config =
            rustls::ClientConfig::builder_with_details(Arc::clone(&self.provider), time)
                .with_safe_default_protocol_versions()
                .map_err(|e| AuthenticatorError::Network(format!("TLS configuration: {e}")))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth();
        // HTTP/1.1 only: the SDK's HTTP client speaks no HTTP/2, so offering `h2` would let a
        // server that prefers it pick a protocol the client then cannot speak.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// The SDK's rustls provider (see the module documentation). Built from rustls' ring parts
/// rather than `ring::default_provider()`, which would link every suite and the signing keys.
pub(crate) fn provider() -> CryptoProvider {
    use rustls::crypto::ring::{cipher_suite, kx_group};
    CryptoProvider {
        cipher_suites: vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
        kx_groups: vec![kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1],
        signature_verification_algorithms: SIGNATURE_ALGORITHMS,
        secure_random: &RingRandom,
        key_provider: &NoClientKeys,
    }
}

/// What webpki verifies with ring (rustls' own ring table, which is private).
static SIGNATURE_ALGORITHMS: WebPkiSupportedAlgorithms = {
    use webpki::ring as alg;
    WebPkiSupportedAlgorithms {
        all: &[
            alg::ECDSA_P256_SHA256,
            alg::ECDSA_P256_SHA384,
            alg::ECDSA_P384_SHA256,
            alg::ECDSA_P384_SHA384,
            alg::ED25519,
            alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
            alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
            alg::RSA_PKCS1_2048_8192_SHA256,
            alg::RSA_PKCS1_2048_8192_SHA384,
            alg::RSA_PKCS1_2048_8192_SHA512,
            alg::RSA_PKCS1_2048_8192_SHA256_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA384_ABSENT_PARAMS,
            alg::RSA_PKCS1_2048_8192_SHA512_ABSENT_PARAMS,
        ],
        mapping: &[
            // In TLS 1.2 the curve is not fixed by the scheme; in TLS 1.3 it is.
            (
                SignatureScheme::ECDSA_NISTP384_SHA384,
                &[alg::ECDSA_P384_SHA384, alg::ECDSA_P256_SHA384],
            ),
            (
                SignatureScheme::ECDSA_NISTP256_SHA256,
                &[alg::ECDSA_P256_SHA256, alg::ECDSA_P384_SHA256],
            ),
            (SignatureScheme::ED25519, &[alg::ED25519]),
            (
                SignatureScheme::RSA_PSS_SHA512,
                &[alg::RSA_PSS_2048_8192_SHA512_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PSS_SHA384,
                &[alg::RSA_PSS_2048_8192_SHA384_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PSS_SHA256,
                &[alg::RSA_PSS_2048_8192_SHA256_LEGACY_KEY],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA512,
                &[alg::RSA_PKCS1_2048_8192_SHA512],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA384,
                &[alg::RSA_PKCS1_2048_8192_SHA384],
            ),
            (
                SignatureScheme::RSA_PKCS1_SHA256,
                &[alg::RSA_PKCS1_2048_8192_SHA256],
            ),
        ],
    }
};

/// TLS randomness from ring's system generator.
#[derive(Debug)]
struct RingRandom;

impl rustls::crypto::SecureRandom for RingRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        use ring::rand::SecureRandom;
        ring::rand::SystemRandom::new()
            .fill(buf)
            .map_err(|_| rustls::crypto::GetRandomFailed)
    }
}

/// The SDK authenticates to the server with DPoP, never with a TLS client certificate, so its
/// provider loads no private keys.
#[derive(Debug)]
struct NoClientKeys;

impl rustls::crypto::KeyProvider for NoClientKeys {
    fn load_private_key(
        &self,
        _key: rustls::pki_types::PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn rustls::sign::SigningKey>, rustls::Error> {
        Err(rustls::Error::General(
            "the authenticator SDK uses no TLS client certificate".into(),
        ))
    }
}

/// Certificates from PEM text (one or more `CERTIFICATE` blocks) or a single DER certificate.
fn parse_certificates(bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, AuthenticatorError> {
    if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        let certs = CertificateDer::pem_slice_iter(bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                AuthenticatorError::InvalidInput(format!("extra trust anchor PEM: {e}"))
            })?;
        if certs.is_empty() {
            return Err(AuthenticatorError::InvalidInput(
                "extra trust anchor PEM holds no certificate".into(),
            ));
        }
        Ok(certs)
    } else {
        Ok(vec![CertificateDer::from(bytes.to_vec())])
    }
}

/// Checks pins (`base64(SHA-256(SubjectPublicKeyInfo))`) and returns their digests.
pub(crate) fn decode_pins(pins: &[String]) -> Result<Vec<[u8; 32]>, AuthenticatorError> {
    pins.iter()
        .map(|pin| {
            STANDARD
                .decode(pin.trim())
                .ok()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .ok_or_else(|| {
                    AuthenticatorError::InvalidInput(format!(
                        "{pin:?} is not a pin (base64 of a SHA-256 digest)"
                    ))
                })
        })
        .collect()
}

/// The pin of a certificate: `base64(SHA-256(SubjectPublicKeyInfo))`.
pub fn spki_sha256_pin(certificate_der: &[u8]) -> Result<String, AuthenticatorError> {
    spki_digest(&CertificateDer::from(certificate_der))
        .map(|digest| STANDARD.encode(digest))
        .ok_or_else(|| AuthenticatorError::InvalidInput("not an X.509 certificate".into()))
}

fn spki_digest(cert: &CertificateDer<'_>) -> Option<[u8; 32]> {
    let parsed = webpki::EndEntityCert::try_from(cert).ok()?;
    Some(Sha256::digest(parsed.subject_public_key_info().as_ref()).into())
}

/// The normal chain verification, then the pin check on the leaf.
#[derive(Debug)]
struct PinningVerifier {
    trust: Trust,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |v: &dyn ServerCertVerifier| {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        };
        let verified = match (&self.trust.system, &self.trust.extra) {
            (Some(system), Some(extra)) => {
                verify(system.as_ref()).or_else(|_| verify(extra.as_ref()))
            }
            (Some(system), None) => verify(system.as_ref()),
            (None, Some(extra)) => verify(extra.as_ref()),
            (None, None) => Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            )),
        }?;
        if self.pins.is_empty() {
            return Ok(verified);
        }
        match spki_digest(end_entity) {
            Some(digest) if self.pins.contains(&digest) => Ok(verified),
            _ => Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.trust.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.trust.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.trust
            .provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The injected clock as rustls' notion of now (certificate validity).
#[derive(Debug)]
struct ClockTime(SharedClock);

impl TimeProvider for ClockTime {
    fn current_time(&self) -> Option<UnixTime> {
        u64::try_from(self.0.now())
            .ok()
            .map(|secs| UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_must_be_base64_sha256_digests() {
        let good = STANDARD.encode([7u8; 32]);
        assert_eq!(decode_pins(&[good]).unwrap(), vec![[7u8; 32]]);
        for bad in ["", "not base64!", &STANDARD.encode([1u8; 31])] {
            assert!(
                matches!(
                    decode_pins(&[bad.to_owned()]),
                    Err(AuthenticatorError::InvalidInput(_))
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            spki_sha256_pin(b"not a certificate"),
            Err(AuthenticatorError::InvalidInput(_))
        ));
    }

    #[test]
    fn extra_anchors_must_be_certificates() {
        let clock: SharedClock = Arc::new(crate::clock::ManualClock::new(1));
        for bad in [
            b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n".to_vec(),
            b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_vec(),
            b"\x30\x03\x02\x01\x01".to_vec(),
        ] {
            let config = AuthenticatorConfig {
                extra_trust_anchors: vec![bad.clone()],
                ..AuthenticatorConfig::default()
            };
            assert!(
                matches!(
                    Trust::new(&config, Arc::clone(&clock)),
                    Err(AuthenticatorError::InvalidInput(_))
                ),
                "{}",
                String::from_utf8_lossy(&bad)
            );
        }
    }
}
