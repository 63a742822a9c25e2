//! How the SDK talks to servers.

use std::time::Duration;

use ciba_core::authenticator as sdk;

/// How the SDK talks to servers: HTTP user agent and timeout, and which certificates it trusts.
/// Start from [`default_authenticator_config`] and change what the bank needs. Per-account TLS
/// pins are given at enrollment (`EnrollOptions.tls_pins`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AuthenticatorConfig {
    /// The HTTP `User-Agent` of every request.
    pub user_agent: String,
    /// The limit for one whole HTTP exchange (connect, send, receive).
    pub timeout: Duration,
    /// Trust the platform's certificate verification (Android's and Apple's own checks and root
    /// stores). Turn off to trust only `extra_trust_anchors`.
    pub trust_system_roots: bool,
    /// Additional root certificates, each PEM (one or more `CERTIFICATE` blocks) or DER: a
    /// bank's private CA, or a test CA.
    pub extra_trust_anchors: Vec<Vec<u8>>,
}

impl From<AuthenticatorConfig> for sdk::AuthenticatorConfig {
    fn from(c: AuthenticatorConfig) -> Self {
        Self {
            user_agent: c.user_agent,
            timeout: c.timeout,
            trust_system_roots: c.trust_system_roots,
            extra_trust_anchors: c.extra_trust_anchors,
        }
    }
}

impl From<sdk::AuthenticatorConfig> for AuthenticatorConfig {
    fn from(c: sdk::AuthenticatorConfig) -> Self {
        Self {
            user_agent: c.user_agent,
            timeout: c.timeout,
            trust_system_roots: c.trust_system_roots,
            extra_trust_anchors: c.extra_trust_anchors,
        }
    }
}

/// The SDK's defaults: user agent `ciba-authenticator-sdk/<version>`, 30 seconds, the
/// platform's trust, no extra trust anchors.
#[uniffi::export]
pub fn default_authenticator_config() -> AuthenticatorConfig {
    sdk::AuthenticatorConfig::default().into()
}

/// The version of the SDK, as the app may send it in `DeviceInfo.sdk_version`.
#[uniffi::export]
pub fn sdk_version() -> String {
    sdk::SDK_VERSION.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_sdks() {
        let config = default_authenticator_config();
        assert_eq!(
            sdk::AuthenticatorConfig::from(config),
            sdk::AuthenticatorConfig::default()
        );
        assert!(
            default_authenticator_config()
                .user_agent
                .ends_with(&sdk_version())
        );
    }
}
