//! What a push can come to, one typed variant per thing a provider (or the network) can do.

use std::path::PathBuf;

/// Why a push was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// The provider no longer knows the device token (FCM `UNREGISTERED`/`NOT_FOUND`, APNs 410
    /// `Unregistered`, 400 `BadDeviceToken`): the token is marked invalid, never retried.
    #[error("the device token is no longer valid ({reason})")]
    DeadToken {
        /// The provider's reason.
        reason: String,
    },
    /// 429: the provider throttles us; retried, not before `retry_after` seconds.
    #[error("throttled by the provider ({reason})")]
    Throttled {
        /// The provider's reason.
        reason: String,
        /// `Retry-After`, in seconds from now.
        retry_after: Option<i64>,
    },
    /// 5xx: the provider is unavailable; retried, not before `retry_after` seconds.
    #[error("the provider is unavailable ({status})")]
    Unavailable {
        /// HTTP status.
        status: u16,
        /// `Retry-After`, in seconds from now.
        retry_after: Option<i64>,
    },
    /// Connect failure, timeout, broken connection, or an unreadable answer; retried.
    #[error("network: {0}")]
    Network(String),
    /// Our credentials were refused (service account, OAuth token endpoint, `.p8` key): logged
    /// once, shown on `/readyz`, retried with backoff.
    #[error("credentials refused: {0}")]
    Auth(String),
    /// Any other refusal (malformed message, wrong topic, payload too large): final.
    #[error("refused by the provider ({status} {reason})")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The provider's reason.
        reason: String,
    },
}

impl PushError {
    /// The metric label of this failure.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::DeadToken { .. } => FailureReason::DeadToken,
            Self::Throttled { .. } => FailureReason::Throttled,
            Self::Unavailable { .. } => FailureReason::Unavailable,
            Self::Network(_) => FailureReason::Network,
            Self::Auth(_) => FailureReason::Auth,
            Self::Rejected { .. } => FailureReason::Rejected,
        }
    }

    /// Whether trying again later may work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Throttled { .. } | Self::Unavailable { .. } | Self::Network(_) | Self::Auth(_)
        )
    }

    /// The provider's `Retry-After`, when it gave one.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::Throttled { retry_after, .. } | Self::Unavailable { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }
}

/// Failure labels of the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// [`PushError::DeadToken`].
    DeadToken,
    /// [`PushError::Throttled`].
    Throttled,
    /// [`PushError::Unavailable`].
    Unavailable,
    /// [`PushError::Network`].
    Network,
    /// [`PushError::Auth`].
    Auth,
    /// [`PushError::Rejected`].
    Rejected,
    /// The request expired before the provider accepted the push.
    Abandoned,
}

impl FailureReason {
    /// Every reason, in metric order.
    pub const ALL: [Self; 7] = [
        Self::DeadToken,
        Self::Throttled,
        Self::Unavailable,
        Self::Network,
        Self::Auth,
        Self::Rejected,
        Self::Abandoned,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DeadToken => "dead_token",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::Network => "network",
            Self::Auth => "auth",
            Self::Rejected => "rejected",
            Self::Abandoned => "abandoned",
        }
    }
}

/// Why a push client could not be set up from the configuration (the server does not start).
#[derive(Debug, thiserror::Error)]
pub enum PushSetupError {
    /// A credentials file could not be read.
    #[error("cannot read {path}: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The FCM service-account file is not a service-account key.
    #[error("{path} is not a usable service-account key: {message}")]
    ServiceAccount {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The APNs `.p8` file is not a P-256 PKCS#8 key.
    #[error("{path} is not a usable APNs key (.p8, P-256): {message}")]
    ApnsKey {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The TLS or HTTP client could not be built (unreadable extra root certificates).
    #[error("push client: {0}")]
    Client(String),
}
