//! Wake-up pushes to devices (DEVICE-PROTOCOL.md §4): FCM HTTP v1 for Android, APNs for iOS.
//!
//! A push is only a wake-up, `{"v":"1","iss","txn"}`: no binding message, scope or name ever
//! reaches Google or Apple. Accepting a CIBA request enqueues one wake-up per active device of
//! the user in the same transaction ([`plan`]); the wake-up worker (`delivery::device_wakeups`)
//! on every instance claims due wake-ups with expiring leases and sends them through these
//! clients, one (one connection pool) per provider. (Not to be confused with the CIBA *push
//! mode*, where tokens are delivered to a client: that is `notify` and
//! `delivery::client_notifications`.)
//! Throttling, 5xx and network errors are retried with backoff (honouring `Retry-After`) until
//! the request expires; dead tokens are marked invalid (the device polls until it registers a
//! new one); refused credentials are logged once, shown in `/metrics` and `/readyz`'s text (the
//! instance stays ready: polls and other providers still work) and retried slowly.

mod apns;
mod error;
mod fcm;
mod http;
mod oauth;

pub use apns::{ALERT_LOC_KEY, ALERT_TITLE_LOC_KEY, ApnsClient};
pub use error::{FailureReason, PushError, PushSetupError};
pub use fcm::FcmClient;
pub use oauth::{FCM_SCOPE, ServiceAccount};

use std::collections::BTreeMap;
use std::sync::Mutex;

use ciba_core::clock::SharedClock;

use crate::config::PushSettings;
use crate::store::{Device, NewWakeup, PushProvider};

/// How long a provider whose credentials were refused is left alone (seconds): pushes to it
/// fail at once meanwhile, without calling the provider or the token endpoint.
pub const AUTH_COOLDOWN_SECS: i64 = 60;

/// The configured providers and their health.
pub struct PushService {
    /// FCM, when `[push.fcm]` is configured.
    pub fcm: Option<FcmClient>,
    /// APNs, when `[push.apns]` is configured.
    pub apns: Option<ApnsClient>,
    /// Wakes the worker when a request enqueued pushes.
    pub wake: tokio::sync::Notify,
    auth_failures: Mutex<BTreeMap<&'static str, String>>,
}

impl PushService {
    /// Builds the configured clients (reading their credentials).
    pub fn new(settings: &PushSettings, clock: SharedClock) -> Result<Self, PushSetupError> {
        let fcm = settings
            .fcm
            .as_ref()
            .map(|fcm| FcmClient::new(fcm, settings, clock.clone()))
            .transpose()?;
        let apns = settings
            .apns
            .as_ref()
            .map(|apns| ApnsClient::new(apns, settings, clock.clone()))
            .transpose()?;
        Ok(Self {
            fcm,
            apns,
            wake: tokio::sync::Notify::new(),
            auth_failures: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether pushes to `provider` devices can be sent.
    pub fn is_configured(&self, provider: PushProvider) -> bool {
        match provider {
            PushProvider::Fcm => self.fcm.is_some(),
            PushProvider::Apns => self.apns.is_some(),
            PushProvider::None => false,
        }
    }

    /// The providers whose credentials are refused now, with why. Not a readiness matter: an
    /// instance whose FCM key was revoked still serves every poll flow and every APNs device, so
    /// taking it out of the load balancer would only make things worse. It shows in `/readyz`'s
    /// text, in `/metrics` and in the logs.
    pub fn credential_problems(&self) -> Vec<(&'static str, String)> {
        let failures = match self.auth_failures.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        failures
            .iter()
            .map(|(provider, why)| (*provider, why.clone()))
            .collect()
    }

    /// The `ciba_push_credentials_refused{provider}` gauge (1 while a configured provider refuses
    /// our credentials), in the Prometheus text format.
    pub fn render_health(&self, out: &mut String) {
        use std::fmt::Write;
        let problems = self.credential_problems();
        let name = "ciba_push_credentials_refused";
        let _ = writeln!(
            out,
            "# HELP {name} Whether the push provider refuses the server's credentials (1) or not (0).\n# TYPE {name} gauge"
        );
        for (provider, configured) in [("fcm", self.fcm.is_some()), ("apns", self.apns.is_some())] {
            if configured {
                let refused = u8::from(problems.iter().any(|(p, _)| *p == provider));
                let _ = writeln!(out, "{name}{{provider=\"{provider}\"}} {refused}");
            }
        }
    }

    /// Keeps the health of `provider` from the outcome of a send: a refusal of credentials is
    /// logged loudly once (not at every push), a later success clears it.
    pub fn observe(&self, provider: &'static str, outcome: &Result<(), PushError>) {
        let mut failures = match self.auth_failures.lock() {
            Ok(f) => f,
            Err(poisoned) => poisoned.into_inner(),
        };
        match outcome {
            Err(PushError::Auth(why)) => {
                if !failures.contains_key(provider) {
                    tracing::error!(
                        provider,
                        "PUSH CREDENTIALS REFUSED: {why}; pushes to {provider} devices are retried slowly and /metrics shows ciba_push_credentials_refused until a push succeeds"
                    );
                    failures.insert(provider, why.clone());
                }
            }
            Ok(()) => {
                if failures.remove(provider).is_some() {
                    tracing::info!(provider, "push credentials accepted again");
                }
            }
            Err(_) => {}
        }
    }
}

/// Refuses sends for a while after the provider refused our credentials, so that a broken
/// key costs one call a minute, not one per push.
#[derive(Default)]
struct AuthGate {
    blocked: Mutex<Option<(i64, String)>>,
}

impl AuthGate {
    fn check(&self, now: i64) -> Result<(), PushError> {
        let blocked = match self.blocked.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        match blocked.as_ref() {
            Some((until, why)) if now < *until => Err(PushError::Auth(why.clone())),
            _ => Ok(()),
        }
    }

    fn observe(&self, now: i64, error: PushError) -> PushError {
        if let PushError::Auth(why) = &error
            && let Ok(mut blocked) = self.blocked.lock()
        {
            *blocked = Some((now + AUTH_COOLDOWN_SECS, why.clone()));
        }
        error
    }
}

/// Why a device of the user gets no push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoPushReason {
    /// Registered without push (`provider: none`) or without a token.
    NoPushToken,
    /// The provider reported the token dead; the device has not registered a new one.
    PushTokenInvalid,
    /// The device's provider is not configured on this server.
    ProviderNotConfigured,
}

impl NoPushReason {
    /// The audit log's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoPushToken => "no_push_token",
            Self::PushTokenInvalid => "push_token_invalid",
            Self::ProviderNotConfigured => "provider_not_configured",
        }
    }
}

/// Which devices of a user a new request wakes.
#[derive(Debug, Default)]
pub struct PushPlan {
    /// The pushes to enqueue with the request.
    pub pushes: Vec<NewWakeup>,
    /// The active devices that get none, and why.
    pub skipped: Vec<(String, NoPushReason)>,
}

/// One push per active device with a valid token of a configured provider, until `deadline`.
pub fn plan(service: &PushService, devices: &[Device], deadline: i64) -> PushPlan {
    let mut plan = PushPlan::default();
    for device in devices.iter().filter(|d| d.is_active()) {
        let reason = if device.push_token.is_none() || device.push_provider == PushProvider::None {
            Some(NoPushReason::NoPushToken)
        } else if device.push_token_invalid_at.is_some() {
            Some(NoPushReason::PushTokenInvalid)
        } else if !service.is_configured(device.push_provider) {
            Some(NoPushReason::ProviderNotConfigured)
        } else {
            None
        };
        match reason {
            Some(reason) => plan.skipped.push((device.id.clone(), reason)),
            None => plan.pushes.push(NewWakeup {
                device_id: device.id.clone(),
                provider: device.push_provider,
                deadline,
            }),
        }
    }
    plan
}
