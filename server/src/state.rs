//! The application state shared by every handler and worker: settings, storage, the clock,
//! the signing keys, and the clients the server calls out with. It holds no domain rules, and
//! none of the modules it holds depend on it (so the module graph has no circle).

use std::ops::Deref;
use std::sync::Arc;

use ciba_core::clock::SharedClock;

use crate::config::Settings;
use crate::crypto::hash_secret;
use crate::store::{NewAuditEvent, Store};
use crate::tokens::{KeyError, SigningKeys};

/// Cheap to clone; everything lives behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The state itself.
pub struct Inner {
    /// The settings the server started with.
    pub settings: Settings,
    /// The issuer, without a trailing slash.
    pub issuer: String,
    /// Where everything is persisted (SQLite or PostgreSQL).
    pub store: Arc<dyn Store>,
    /// The one source of "now": injected, so tests move time instead of sleeping.
    pub clock: SharedClock,
    /// Token signing keys, loaded from the database on first need (the database may be
    /// unreachable when the server starts).
    keys: std::sync::RwLock<Option<LoadedKeys>>,
    /// Held while the keys are read from the store (one reload at a time).
    keys_reload: tokio::sync::Mutex<()>,
    /// SHA-256 of the admin token.
    admin_token_hash: String,
    /// The HTTP client of client notifications (ping and push modes).
    pub notifier: crate::notify::NotificationClient,
    /// Wakes the client-notification worker when a decision enqueued something.
    pub notify_wake: tokio::sync::Notify,
    /// The time of the client-notification worker's last successful scan for push-mode
    /// requests that expired (`i64::MIN` before the first): the next scan starts from there.
    pub expiry_scan_mark: std::sync::atomic::AtomicI64,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Recently read client registrations.
    pub clients: crate::cache::ClientCache,
    /// Keys fetched from clients' `jwks_uri`s.
    pub client_keys: crate::jwks::JwksCache,
    /// Client certificates that recently passed their client's checks.
    pub certificate_checks: crate::cache::CertificateChecks,
    /// Backchannel requests per client in the current second.
    pub client_rates: crate::cache::ClientRates,
    /// The FCM and APNs clients that wake devices, and their health.
    pub push: crate::push::PushService,
    /// The attestation policy of enrollments (roots and status list read at start).
    pub attestation: crate::attestation::Policy,
    /// The listener's TLS (`[tls]` certificate and key), when it speaks TLS itself.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The CAs of `tls_client_auth` client certificates (`tls.client_ca_files`).
    pub client_cas: Option<crate::tls::ClientCaVerifier>,
    /// `tls.trusted_proxies`, parsed (the settings were validated).
    pub trusted_proxies: Vec<crate::config::IpRange>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// How long the signing keys read from the store are used before they are read again.
pub const KEY_RELOAD_SECONDS: i64 = 60;
/// Added to the longest token lifetime for how long a superseded key stays published (clock
/// skew of the relying parties).
const KEY_RETENTION_MARGIN: i64 = 60;

/// The signing keys as last read, and when.
#[derive(Debug, Clone)]
struct LoadedKeys {
    at: i64,
    keys: Arc<SigningKeys>,
}

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Settings are invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The database could not be brought up to date.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// No admin token was given.
    #[error("an admin token is required")]
    NoAdminToken,
    /// The notification client could not be built (unreadable root certificates).
    #[error("notifications: {0}")]
    Notifications(String),
    /// A push provider's credentials or client could not be set up.
    #[error("push: {0}")]
    Push(#[from] crate::push::PushSetupError),
    /// The attestation roots or status list could not be read.
    #[error("attestation: {0}")]
    Attestation(String),
    /// The TLS certificate, key or client CAs could not be read.
    #[error("{0}")]
    Tls(String),
}

/// What the settings build besides the state itself: each reads files the settings name (CA
/// bundles, push credentials, attestation roots and status list).
struct Services {
    notifier: crate::notify::NotificationClient,
    push: crate::push::PushService,
    attestation: crate::attestation::Policy,
    tls: Option<Arc<rustls::ServerConfig>>,
    client_cas: Option<crate::tls::ClientCaVerifier>,
}

impl Services {
    fn build(settings: &Settings, clock: SharedClock) -> Result<Self, StateError> {
        settings.validate()?;
        Ok(Self {
            notifier: crate::notify::NotificationClient::new(&settings.notifications)
                .map_err(StateError::Notifications)?,
            push: crate::push::PushService::new(&settings.push, clock)?,
            attestation: crate::attestation::Policy::from_settings(&settings.attestation)
                .map_err(StateError::Attestation)?,
            tls: crate::tls::server_config(&settings.tls).map_err(StateError::Tls)?,
            client_cas: crate::tls::ClientCaVerifier::from_settings(&settings.tls)
                .map_err(StateError::Tls)?,
        })
    }
}

/// Everything [`AppState::new`] checks in the settings, without a database: the values, the
/// notification client's CA files, the push providers' credentials, the attestation roots and
/// status list (`ciba-server check-config`). The same construction as the server's.
pub fn check_settings(settings: &Settings, clock: SharedClock) -> Result<(), StateError> {
    Services::build(settings, clock).map(drop)
}

impl AppState {
    /// Builds the state and validates the settings; touches no database (see [`Self::initialize`]).
    /// `settings.admin_token` must be set (the binary generates one for development).
    pub fn new(
        settings: Settings,
        store: Arc<dyn Store>,
        clock: SharedClock,
    ) -> Result<Self, StateError> {
        let Services {
            notifier,
            push,
            attestation,
            tls,
            client_cas,
        } = Services::build(&settings, clock.clone())?;
        let admin_token = settings
            .admin_token
            .as_deref()
            .ok_or(StateError::NoAdminToken)?;
        let admin_token_hash = hash_secret(admin_token);
        let issuer = settings.issuer();
        let trusted_proxies = crate::config::IpRange::parse_all(&settings.tls.trusted_proxies);
        Ok(Self(Arc::new(Inner {
            settings,
            issuer,
            store,
            clock,
            keys: std::sync::RwLock::new(None),
            keys_reload: tokio::sync::Mutex::new(()),
            admin_token_hash,
            notifier,
            notify_wake: tokio::sync::Notify::new(),
            expiry_scan_mark: std::sync::atomic::AtomicI64::new(i64::MIN),
            metrics: crate::metrics::Metrics::default(),
            clients: crate::cache::ClientCache::default(),
            client_keys: crate::jwks::JwksCache::default(),
            certificate_checks: crate::cache::CertificateChecks::default(),
            client_rates: crate::cache::ClientRates::default(),
            push,
            attestation,
            tls,
            client_cas,
            trusted_proxies,
        })))
    }

    /// Brings the schema up to date and loads (or creates) the signing keys. Idempotent; the
    /// binary retries it until the database answers.
    pub async fn initialize(&self) -> Result<(), StateError> {
        self.store.migrate().await?;
        self.load_keys().await?;
        Ok(())
    }

    fn loaded_keys(&self) -> Option<LoadedKeys> {
        self.keys.read().ok().and_then(|keys| keys.clone())
    }

    /// The keys, read from the store again when older than [`KEY_RELOAD_SECONDS`] (so that a
    /// rotation made on one instance reaches every instance before its new key signs). While
    /// the store fails, the keys read before go on serving.
    async fn load_keys(&self) -> Result<Arc<SigningKeys>, KeyError> {
        let fresh = |loaded: &Option<LoadedKeys>, now: i64| {
            loaded
                .as_ref()
                .filter(|l| now - l.at < KEY_RELOAD_SECONDS && now >= l.at)
                .map(|l| l.keys.clone())
        };
        let now = self.clock.now();
        if let Some(keys) = fresh(&self.loaded_keys(), now) {
            return Ok(keys);
        }
        let _one_at_a_time = self.keys_reload.lock().await;
        let before = self.loaded_keys();
        if let Some(keys) = fresh(&before, now) {
            return Ok(keys);
        }
        let t = &self.settings.tokens;
        let retention = t.access_token_ttl.max(t.id_token_ttl) + KEY_RETENTION_MARGIN;
        let keys = match SigningKeys::load_or_create(self.store.as_ref(), now, retention).await {
            Ok(keys) => Arc::new(keys),
            Err(e) => match before {
                Some(before) => {
                    tracing::warn!(error = %e, "could not reload the signing keys; the ones loaded before go on");
                    before.keys
                }
                None => return Err(e),
            },
        };
        if let Ok(mut slot) = self.keys.write() {
            *slot = Some(LoadedKeys {
                at: now,
                keys: keys.clone(),
            });
        }
        Ok(keys)
    }

    /// The signing keys; `503 temporarily_unavailable` while the database cannot provide them.
    pub async fn keys(&self) -> Result<Arc<SigningKeys>, crate::error::Error> {
        self.load_keys().await.map_err(|e| {
            tracing::warn!(error = %e, "signing keys unavailable");
            crate::error::Error::Unavailable(
                "the server is starting or its database is unavailable; try again".into(),
            )
        })
    }

    /// Reads the signing keys from the store now (after a rotation on this instance).
    pub async fn reload_keys(&self) -> Result<Arc<SigningKeys>, crate::error::Error> {
        if let Ok(mut slot) = self.keys.write()
            && let Some(loaded) = slot.as_mut()
        {
            loaded.at = i64::MIN / 2;
        }
        self.keys().await
    }

    /// Ready — the server is initialised and its database answers — or why not. Trouble with a
    /// push provider's credentials is not a reason: it is a degraded state that
    /// [`Self::degradations`] reports.
    pub async fn readiness(&self) -> Result<(), String> {
        if self.loaded_keys().is_none() || self.store.ping().await.is_err() {
            return Err("the database is unavailable or the server is starting".into());
        }
        Ok(())
    }

    /// What works less well than it should while the server is ready (push providers refusing
    /// our credentials).
    pub fn degradations(&self) -> Vec<String> {
        self.push
            .credential_problems()
            .into_iter()
            .map(|(provider, why)| format!("push provider {provider}: {why}"))
            .collect()
    }

    /// Whether `token` is the admin token (constant-time).
    pub fn is_admin_token(&self, token: &str) -> bool {
        crate::crypto::secret_matches(token, &self.admin_token_hash)
    }

    /// The current time.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Records a security event. The audit log must not fail a request that already changed
    /// state, so a storage failure here is logged loudly instead of returned.
    pub async fn audit(&self, event: NewAuditEvent) {
        if let Err(e) = self.store.append_audit(&event).await {
            tracing::error!(error = %e, kind = event.kind, "could not record an audit event");
        }
    }
}
