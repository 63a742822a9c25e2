//! Settings: defaults, then a TOML file, then environment variables, then command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

mod ip;
pub mod sources;

pub use ip::IpRange;

/// Everything the server can be told.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// The issuer URL (public base URL). Defaults to `http://<listen>`.
    pub issuer: Option<String>,
    /// `sqlite://path` (default `sqlite://./data/ciba.db`).
    pub database_url: String,
    /// Maximum database connections.
    pub database_max_connections: u32,
    /// Bearer token of the admin API. When unset, one is generated on first start and kept in
    /// `<data_dir>/admin-token`.
    pub admin_token: Option<String>,
    /// Directory for generated files (the development admin token).
    pub data_dir: PathBuf,
    /// `text` or `json` logs.
    pub log_format: LogFormat,
    /// CIBA request settings.
    pub ciba: CibaSettings,
    /// Token settings.
    pub tokens: TokenSettings,
    /// Enrollment settings.
    pub enrollment: EnrollmentSettings,
    /// Ping and push delivery to client notification endpoints.
    pub notifications: NotificationSettings,
    /// Wake-up pushes to devices through FCM and APNs.
    pub push: PushSettings,
    /// The HTTP listener's limits.
    pub http: HttpSettings,
    /// Device trust: key attestation at enrollment (README "Device trust").
    pub attestation: AttestationSettings,
    /// Client applications: the FAPI-CIBA profile, registered keys (README "FAPI-CIBA").
    pub clients: ClientSettings,
    /// TLS on the server's own listener, and client certificates (mTLS, RFC 8705) — from the
    /// handshake, or forwarded by a TLS-terminating proxy.
    pub tls: TlsSettings,
    /// The operators' web console (README "The console").
    pub console: ConsoleSettings,
}

/// The operators' web console at `/console`.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// Serve the console (its pages and sign-in); the admin API is there either way.
    pub enabled: bool,
    /// A console session ends this many seconds after sign-in, however active (default 8 h).
    pub session_ttl: i64,
    /// … or this many seconds after its last use (default 30 min).
    pub session_idle_ttl: i64,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            session_ttl: 8 * 3600,
            session_idle_ttl: 1800,
        }
    }
}

/// The listener's TLS and client certificates.
#[derive(Debug, Clone, Default, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// The server's certificate chain (PEM, leaf first). With `private_key_file`, the listener
    /// speaks TLS (1.2 with the FAPI cipher suites, and 1.3) and asks clients for a certificate,
    /// which they may send.
    pub certificate_file: Option<PathBuf>,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub private_key_file: Option<PathBuf>,
    /// CA certificates (PEM) that issue clients' certificates for `tls_client_auth`. Without
    /// them only `self_signed_tls_client_auth` is offered.
    pub client_ca_files: Vec<PathBuf>,
    /// Behind a TLS-terminating proxy: the request header that carries the client's
    /// certificate (URL-encoded PEM, as nginx's `$ssl_client_escaped_cert`, or base64 DER).
    pub client_certificate_header: Option<String>,
    /// The proxies (IP addresses or CIDR ranges) whose `client_certificate_header` is believed;
    /// from any other address the header is ignored.
    pub trusted_proxies: Vec<String>,
}

impl TlsSettings {
    /// Whether the server can see client certificates (its own TLS, or a trusted proxy).
    pub fn client_certificates(&self) -> bool {
        self.listener_tls() || self.client_certificate_header.is_some()
    }

    /// Whether the listener speaks TLS itself.
    pub fn listener_tls(&self) -> bool {
        self.certificate_file.is_some() && self.private_key_file.is_some()
    }
}

/// Client applications' settings.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    /// Every client follows the FAPI-CIBA profile: registrations that say `"fapi": false` are
    /// refused, and discovery lists only what the profile allows.
    pub fapi: bool,
    /// How long keys fetched from a client's `jwks_uri` are used before they are fetched again
    /// (seconds). A `kid` the cached set does not have triggers a refetch sooner (at most one
    /// per 10 s per URI).
    pub jwks_uri_cache_seconds: u64,
    /// The longest a client assertion (`private_key_jwt`) may be valid ahead: `exp` at most this
    /// many seconds after now (its `jti` is remembered until then).
    pub assertion_max_lifetime: i64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        Self {
            fapi: false,
            jwks_uri_cache_seconds: 300,
            assertion_max_lifetime: 600,
        }
    }
}

/// How attestations at enrollment are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AttestationMode {
    /// Not checked: what a device sends is recorded as an unchecked claim.
    None,
    /// Checked when sent: a device whose attestation fails (or that sends none) still enrolls,
    /// as unverified, and its tokens say `amr: ["swk"]`.
    #[default]
    Optional,
    /// Every device must send an attestation that verifies under the policy below; others are
    /// refused with `attestation_failed`.
    Required,
}

/// Where an Android key lives, as its attestation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SecurityLevel {
    Tee,
    StrongBox,
}

impl SecurityLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tee => "tee",
            Self::StrongBox => "strongbox",
        }
    }
}

/// The App Attest environment an app is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AppleEnvironment {
    Production,
    Development,
}

impl AppleEnvironment {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Development => "development",
        }
    }
}

/// Key attestation at enrollment.
#[derive(Debug, Clone, serde::Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AttestationSettings {
    /// `none`, `optional` (default) or `required`.
    pub policy: AttestationMode,
    /// Android Key Attestation.
    pub android: AndroidAttestationSettings,
    /// Apple App Attest.
    pub apple: AppleAttestationSettings,
    /// The `acr` values this server defines, each by the `amr` it requires of the approving
    /// key (README "Device trust"). A backchannel request's `acr_values` must name one that a
    /// device of the user meets, or it is refused; the chosen one is enforced at the decision
    /// and stated in the tokens' `acr`.
    pub acr_levels: Vec<AcrLevel>,
}

impl AttestationSettings {
    /// The acr level this server defines under `value`.
    pub fn acr_level(&self, value: &str) -> Option<&AcrLevel> {
        self.acr_levels.iter().find(|l| l.value == value)
    }
}

/// One authentication context class the operator defines.
#[derive(Debug, Clone, serde::Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AcrLevel {
    /// The `acr` value (e.g. `urn:bank:acr:hwk-biometric`).
    pub value: String,
    /// The RFC 8176 methods the server must have verified for the approving key (what
    /// `DeviceTrust::amr` states: `hwk`, `user`, `mfa`, `swk`). Empty: any enrolled device.
    #[serde(default)]
    pub amr: Vec<String>,
}

/// Android Key Attestation policy.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AndroidAttestationSettings {
    /// PEM bundle of trusted root certificates (their keys are trusted). Default: Google's
    /// hardware attestation roots, shipped with the server.
    pub roots_file: Option<PathBuf>,
    /// Google's attestation status list (JSON, the format of
    /// `https://android.googleapis.com/attestation/status`), refreshed by the operator; a chain
    /// with a revoked or suspended certificate is refused. Read at start.
    pub revocation_list_file: Option<PathBuf>,
    /// Security levels accepted: `tee`, `strongbox`.
    pub security_levels: Vec<SecurityLevel>,
    /// Refuse devices with an unlocked bootloader or unverified boot.
    pub require_verified_boot: bool,
    /// The apps allowed to enroll (package name and signing-certificate SHA-256 digests); empty:
    /// any app (the identity is still recorded).
    pub apps: Vec<AndroidAppSettings>,
}

impl Default for AndroidAttestationSettings {
    fn default() -> Self {
        Self {
            roots_file: None,
            revocation_list_file: None,
            security_levels: vec![SecurityLevel::Tee, SecurityLevel::StrongBox],
            require_verified_boot: true,
            apps: Vec::new(),
        }
    }
}

/// An Android app allowed to enroll.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AndroidAppSettings {
    /// The package name (`applicationId`).
    pub package: String,
    /// SHA-256 digests of its signing certificates (hex, colons allowed); empty: any signer.
    #[serde(default)]
    pub signing_cert_sha256: Vec<String>,
}

/// Apple App Attest policy.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppleAttestationSettings {
    /// PEM bundle of trusted roots. Default: the Apple App Attestation Root CA, shipped.
    pub roots_file: Option<PathBuf>,
    /// `production` (default) or `development` (builds with the development entitlement).
    pub environment: AppleEnvironment,
    /// The apps allowed to enroll, as `TEAMID.bundle.id`. App Attest cannot be verified without
    /// one: an attestation from an unlisted app does not verify.
    pub apps: Vec<String>,
}

impl Default for AppleAttestationSettings {
    fn default() -> Self {
        Self {
            roots_file: None,
            environment: AppleEnvironment::Production,
            apps: Vec::new(),
        }
    }
}

/// The HTTP listener's limits: what a client that connects and then stalls (slowloris), sends a
/// body slowly, or opens connections without end can hold.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSettings {
    /// Time to send a request's head, counted from when the connection waits for it (a new
    /// connection, or a kept-alive one between requests), milliseconds.
    pub header_read_timeout_ms: u64,
    /// Time to read a request's body and answer it, milliseconds; `408` after that.
    pub request_timeout_ms: u64,
    /// Open connections at most; more are closed at once.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may finish, milliseconds.
    pub shutdown_grace_ms: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            header_read_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections: 4096,
            shutdown_grace_ms: 10_000,
        }
    }
}

/// Wake-up pushes to devices (DEVICE-PROTOCOL.md §4). A provider without its table is not
/// configured: pushes to its devices are skipped (and audited), the devices still poll.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PushSettings {
    /// Firebase Cloud Messaging (Android), HTTP v1 API.
    pub fcm: Option<FcmSettings>,
    /// Apple Push Notification service (iOS), token-based authentication.
    pub apns: Option<ApnsSettings>,
    /// PEM files of extra CA certificates to trust for the providers (besides the system's).
    pub extra_root_certificates: Vec<PathBuf>,
    /// How often the push worker looks for due pushes (milliseconds).
    pub worker_interval_ms: u64,
    /// TCP + TLS connect timeout (milliseconds).
    pub connect_timeout_ms: u64,
    /// Timeout of one send, including an access-token fetch (milliseconds).
    pub timeout_ms: u64,
}

impl Default for PushSettings {
    fn default() -> Self {
        Self {
            fcm: None,
            apns: None,
            extra_root_certificates: Vec::new(),
            worker_interval_ms: 1_000,
            connect_timeout_ms: 5_000,
            timeout_ms: 10_000,
        }
    }
}

/// FCM HTTP v1 settings.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FcmSettings {
    /// The Firebase project id (`projects/{project_id}/messages:send`).
    pub project_id: String,
    /// The service account's JSON key file (from the Firebase console or `gcloud`); its
    /// `client_email`, `private_key` and `token_uri` are used.
    pub service_account_file: PathBuf,
    /// The FCM API base URL.
    #[serde(default = "default_fcm_base_url")]
    pub base_url: String,
}

/// APNs settings (token-based provider authentication with a `.p8` key).
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApnsSettings {
    /// The Apple Developer team id (`iss` of provider tokens).
    pub team_id: String,
    /// The id of the APNs authentication key (`kid` of provider tokens).
    pub key_id: String,
    /// The `.p8` file of that key (PKCS#8, P-256).
    pub key_file: PathBuf,
    /// The app's bundle id (`apns-topic`).
    pub topic: String,
    /// Base URL for devices enrolled with `push_environment = production`.
    #[serde(default = "default_apns_production_url")]
    pub production_base_url: String,
    /// Base URL for devices enrolled with `push_environment = sandbox` (development builds).
    #[serde(default = "default_apns_sandbox_url")]
    pub sandbox_base_url: String,
}

fn default_fcm_base_url() -> String {
    "https://fcm.googleapis.com".into()
}

fn default_apns_production_url() -> String {
    "https://api.push.apple.com".into()
}

fn default_apns_sandbox_url() -> String {
    "https://api.sandbox.push.apple.com".into()
}

/// Ping and push delivery settings.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// Development only: allow notification endpoints on loopback, private, link-local and
    /// unspecified addresses. Off by default (SSRF protection).
    pub allow_private_networks: bool,
    /// Development only: allow plain `http` notification endpoints. Off by default.
    pub allow_plain_http: bool,
    /// PEM files of extra CA certificates to trust for notification endpoints (besides the
    /// system's trust store).
    pub extra_root_certificates: Vec<PathBuf>,
    /// TCP + TLS connect timeout (milliseconds).
    pub connect_timeout_ms: u64,
    /// Timeout of one whole delivery attempt (milliseconds).
    pub timeout_ms: u64,
    /// How long after the decision a notification keeps being retried, at least (seconds); it is
    /// retried at least until the request expires.
    pub retry_window: i64,
    /// How often the delivery worker looks for due notifications (milliseconds).
    pub worker_interval_ms: u64,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        Self {
            allow_private_networks: false,
            allow_plain_http: false,
            extra_root_certificates: Vec::new(),
            connect_timeout_ms: 5_000,
            timeout_ms: 10_000,
            retry_window: 600,
            worker_interval_ms: 1_000,
        }
    }
}

/// Log output format.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, Default, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// CIBA request settings.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CibaSettings {
    /// `expires_in` when the client does not ask (seconds).
    pub default_expiry: i64,
    /// The cap on `requested_expiry` (seconds).
    pub max_expiry: i64,
    /// Minimum seconds between token polls.
    pub poll_interval: i64,
    /// How much `slow_down` raises the interval (CIBA: at least 5).
    pub slow_down_step: i64,
    /// Longest accepted `binding_message`, in characters.
    pub binding_message_max_chars: usize,
    /// How long expired requests are kept (so late polls get `expired_token`), seconds.
    pub tombstone_retention: i64,
    /// How long audit events are kept, seconds; `0` (the default): for ever. When set, the
    /// sweeper deletes older events in batches (README "Scale of state"); export them first if
    /// a regulator wants them longer.
    pub audit_retention: i64,
    /// Scope values a client gets when it registers none.
    pub default_client_scope: Vec<String>,
    /// Lock the user (refuse further CIBA requests until an admin unlocks) when they deny a
    /// request as not recognised — a fraud report.
    pub lock_user_on_fraud_report: bool,
    /// Pending, unexpired requests a user may have at once (push bombing, MFA fatigue); `0`: no
    /// limit. Over it: `429 too_many_pending_requests`.
    pub max_pending_requests_per_user: u32,
    /// Backchannel requests a client may send per second, per instance; `0`: no limit. Over
    /// it: `429 slow_down` with `Retry-After`.
    pub client_requests_per_second: u32,
    /// The issuers whose `login_hint_token`s this server accepts (README "Hints"); empty: the
    /// parameter is refused.
    pub login_hint_token_issuers: Vec<HintTokenIssuer>,
    /// Whether clients may register `backchannel_user_code_parameter` (the user's own code,
    /// CIBA Core §7.1, which `PUT /admin/v1/users/{id}/user-code` sets).
    pub user_code: bool,
    /// Wrong user codes in a row after which the user is locked (`0`: never).
    pub user_code_max_failures: u32,
}

/// An issuer of `login_hint_token`s (a JWT naming the user by an RFC 9493 subject identifier)
/// and its keys: a JWK Set inline (`jwks`, JSON text) or at `jwks_uri` (fetched and cached as
/// clients' keys are).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HintTokenIssuer {
    /// The `iss` of its tokens.
    pub issuer: String,
    /// Its JWK Set, as JSON text.
    #[serde(default)]
    pub jwks: Option<String>,
    /// Where its JWK Set is published (https).
    #[serde(default)]
    pub jwks_uri: Option<String>,
}

/// Token settings.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenSettings {
    /// Access token lifetime (seconds).
    pub access_token_ttl: i64,
    /// ID token lifetime (seconds).
    pub id_token_ttl: i64,
    /// `aud` of access tokens; the issuer when unset.
    pub access_token_audience: Option<String>,
    /// Lifetime of a refresh token (seconds): each use replaces it with one that lives this long
    /// again, never past `refresh_token_absolute_ttl`.
    pub refresh_token_ttl: i64,
    /// Absolute lifetime of the refresh tokens of one approval (seconds, from the first
    /// redemption): after it the user approves again.
    pub refresh_token_absolute_ttl: i64,
    /// The algorithm of JWT access tokens: `ES256` (default), `PS256` or `RS256` (what the
    /// resource servers verify).
    pub access_token_signing_alg: String,
    /// How long a key added by a rotation is published before it starts signing (seconds):
    /// longer than relying parties cache the JWKS (`/jwks` says `max-age=300`) and than the
    /// instances take to reload their keys (60 s).
    pub key_publish_ahead: i64,
}

/// Enrollment settings.
#[derive(Debug, Clone, serde::Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrollmentSettings {
    /// Lifetime of enrollment codes (seconds).
    pub code_ttl: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            issuer: None,
            database_url: "sqlite://./data/ciba.db".into(),
            database_max_connections: 8,
            admin_token: None,
            data_dir: PathBuf::from("./data"),
            log_format: LogFormat::Text,
            ciba: CibaSettings::default(),
            tokens: TokenSettings::default(),
            enrollment: EnrollmentSettings::default(),
            notifications: NotificationSettings::default(),
            push: PushSettings::default(),
            http: HttpSettings::default(),
            attestation: AttestationSettings::default(),
            clients: ClientSettings::default(),
            tls: TlsSettings::default(),
            console: ConsoleSettings::default(),
        }
    }
}

impl Default for CibaSettings {
    fn default() -> Self {
        Self {
            default_expiry: 300,
            max_expiry: 1800,
            poll_interval: 5,
            slow_down_step: 5,
            binding_message_max_chars: 64,
            tombstone_retention: 86_400,
            audit_retention: 0,
            default_client_scope: ["openid", "profile", "email", "phone"]
                .map(String::from)
                .to_vec(),
            lock_user_on_fraud_report: true,
            max_pending_requests_per_user: 5,
            client_requests_per_second: 50,
            login_hint_token_issuers: Vec::new(),
            user_code: false,
            user_code_max_failures: 5,
        }
    }
}

impl Default for TokenSettings {
    fn default() -> Self {
        Self {
            access_token_ttl: 600,
            id_token_ttl: 600,
            access_token_audience: None,
            refresh_token_ttl: 7 * 24 * 3600,
            refresh_token_absolute_ttl: 30 * 24 * 3600,
            access_token_signing_alg: "ES256".into(),
            key_publish_ahead: 3600,
        }
    }
}

impl Default for EnrollmentSettings {
    fn default() -> Self {
        Self { code_ttl: 600 }
    }
}

/// Configuration errors.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("invalid configuration in {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("invalid setting: {0}")]
    Invalid(String),
}

impl Settings {
    /// The issuer, without a trailing slash.
    pub fn issuer(&self) -> String {
        match &self.issuer {
            Some(i) => i.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Checks ranges and the issuer: https, or http only on a loopback host (development).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        let issuer = self.issuer();
        if issuer.len() > ciba_core::protocol::MAX_ISSUER_BYTES {
            // Its enrollment URIs would be longer than the SDK reads (and than a QR code holds).
            return bad(format!(
                "the issuer is {} bytes long; at most {} are allowed",
                issuer.len(),
                ciba_core::protocol::MAX_ISSUER_BYTES
            ));
        }
        let url = match url::Url::parse(&issuer) {
            Ok(u) => u,
            Err(e) => return bad(format!("issuer {issuer:?} is not a URL: {e}")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return bad("the issuer must not have a query or fragment".into());
        }
        match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(url.host_str().unwrap_or_default()) => {}
            _ => {
                return bad(format!(
                    "the issuer {issuer} must be https (plain http only on a loopback host); \
                     listening on {} needs the public URL: --issuer / CIBA_ISSUER, e.g. \
                     https://ciba.bank.example",
                    self.listen
                ));
            }
        }
        let console = &self.console;
        if console.session_idle_ttl < 60 || console.session_ttl < console.session_idle_ttl {
            return bad(
                "console.session_idle_ttl must be ≥ 60 and at most console.session_ttl".into(),
            );
        }
        let c = &self.ciba;
        if c.default_expiry <= 0 || c.max_expiry < c.default_expiry {
            return bad("ciba.default_expiry must be positive and at most ciba.max_expiry".into());
        }
        if c.poll_interval < 1 || c.slow_down_step < 5 {
            return bad("ciba.poll_interval must be ≥ 1 and ciba.slow_down_step ≥ 5".into());
        }
        if c.binding_message_max_chars == 0 || c.binding_message_max_chars > 256 {
            return bad("ciba.binding_message_max_chars must be within 1..=256".into());
        }
        if !c.default_client_scope.iter().any(|s| s == "openid") {
            return bad("ciba.default_client_scope must contain openid".into());
        }
        if c.tombstone_retention < 0 {
            return bad("ciba.tombstone_retention must not be negative".into());
        }
        // An audit trail shorter than the requests it is about would leave requests without it.
        if c.audit_retention != 0 && c.audit_retention < c.max_expiry + c.tombstone_retention {
            return bad(
                "ciba.audit_retention must be 0 (keep for ever) or at least ciba.max_expiry + ciba.tombstone_retention"
                    .into(),
            );
        }
        let h = &self.http;
        if h.header_read_timeout_ms == 0 || h.request_timeout_ms == 0 || h.max_connections == 0 {
            return bad(
                "http.header_read_timeout_ms, http.request_timeout_ms and http.max_connections must be positive"
                    .into(),
            );
        }
        if self.tokens.access_token_ttl <= 0
            || self.tokens.id_token_ttl <= 0
            || self.enrollment.code_ttl <= 0
        {
            return bad("token and enrollment lifetimes must be positive".into());
        }
        if self.tokens.refresh_token_ttl <= 0
            || self.tokens.refresh_token_absolute_ttl < self.tokens.refresh_token_ttl
        {
            return bad(
                "tokens.refresh_token_ttl must be positive and at most tokens.refresh_token_absolute_ttl"
                    .into(),
            );
        }
        if !["ES256", "PS256", "RS256"].contains(&self.tokens.access_token_signing_alg.as_str()) {
            return bad(format!(
                "tokens.access_token_signing_alg {:?}: ES256, PS256 or RS256",
                self.tokens.access_token_signing_alg
            ));
        }
        for hint in &self.ciba.login_hint_token_issuers {
            if hint.issuer.is_empty() || hint.jwks.is_some() == hint.jwks_uri.is_some() {
                return bad(format!(
                    "ciba.login_hint_token_issuers: {:?} needs an issuer and exactly one of jwks and jwks_uri",
                    hint.issuer
                ));
            }
            if let Some(jwks) = &hint.jwks
                && serde_json::from_str::<serde_json::Value>(jwks).is_err()
            {
                return bad(format!(
                    "ciba.login_hint_token_issuers: the jwks of {:?} is not JSON",
                    hint.issuer
                ));
            }
        }
        if self.tokens.key_publish_ahead < 0 {
            return bad("tokens.key_publish_ahead must not be negative".into());
        }
        let t = &self.tls;
        if t.certificate_file.is_some() != t.private_key_file.is_some() {
            return bad("tls.certificate_file and tls.private_key_file go together".into());
        }
        if let Some(header) = &t.client_certificate_header {
            if header.is_empty()
                || !header
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return bad(format!(
                    "tls.client_certificate_header {header:?} is not a header name"
                ));
            }
            if t.trusted_proxies.is_empty() {
                return bad("tls.client_certificate_header needs tls.trusted_proxies (the proxies allowed to set it)".into());
            }
        }
        for proxy in &t.trusted_proxies {
            if IpRange::parse(proxy).is_none() {
                return bad(format!(
                    "tls.trusted_proxies: {proxy:?} is not an IP address or CIDR range"
                ));
            }
        }
        let cl = &self.clients;
        if cl.jwks_uri_cache_seconds == 0 || !(30..=3600).contains(&cl.assertion_max_lifetime) {
            return bad(
                "clients.jwks_uri_cache_seconds must be positive and clients.assertion_max_lifetime within 30..=3600"
                    .into(),
            );
        }
        if let Some(token) = &self.admin_token
            && token.len() < 16
        {
            return bad("admin_token must be at least 16 characters".into());
        }
        let mut seen = std::collections::HashSet::new();
        for level in &self.attestation.acr_levels {
            let printable = |v: &str| {
                !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_graphic())
            };
            if !printable(&level.value) || !level.amr.iter().all(|m| printable(m)) {
                return bad(format!(
                    "attestation.acr_levels: {:?} must be a printable value with printable amr values",
                    level.value
                ));
            }
            if !seen.insert(level.value.as_str()) {
                return bad(format!(
                    "attestation.acr_levels: {:?} is defined twice",
                    level.value
                ));
            }
        }
        self.validate_push()
    }

    fn validate_push(&self) -> Result<(), ConfigError> {
        let base_url = |name: &str, value: &str| -> Result<(), ConfigError> {
            let url = url::Url::parse(value)
                .map_err(|e| ConfigError::Invalid(format!("{name} {value:?} is not a URL: {e}")))?;
            match url.scheme() {
                "https" => Ok(()),
                "http" if is_loopback_host(url.host_str().unwrap_or_default()) => Ok(()),
                _ => Err(ConfigError::Invalid(format!(
                    "{name} must be https (plain http only on a loopback host)"
                ))),
            }
        };
        if let Some(fcm) = &self.push.fcm {
            if fcm.project_id.is_empty()
                || !fcm
                    .project_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            {
                return Err(ConfigError::Invalid(
                    "push.fcm.project_id must be a Firebase project id (letters, digits, -)".into(),
                ));
            }
            base_url("push.fcm.base_url", &fcm.base_url)?;
        }
        if let Some(apns) = &self.push.apns {
            if apns.team_id.is_empty() || apns.key_id.is_empty() || apns.topic.is_empty() {
                return Err(ConfigError::Invalid(
                    "push.apns needs team_id, key_id and topic".into(),
                ));
            }
            base_url("push.apns.production_base_url", &apns.production_base_url)?;
            base_url("push.apns.sandbox_base_url", &apns.sandbox_base_url)?;
        }
        if self.push.timeout_ms == 0 || self.push.connect_timeout_ms == 0 {
            return Err(ConfigError::Invalid(
                "push timeouts must be positive".into(),
            ));
        }
        Ok(())
    }
}

/// `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or(false)
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_example_configuration_is_valid() {
        let settings: Settings =
            toml::from_str(include_str!("../../../ciba.example.toml")).unwrap();
        let mut settings = Settings {
            admin_token: Some("example-admin-token-0123".into()),
            ..settings
        };
        settings.push = PushSettings::default();
        settings.validate().unwrap();
        assert_eq!(settings.ciba.max_pending_requests_per_user, 5);
        assert_eq!(settings.http.max_connections, 4096);
    }
    use super::*;

    #[test]
    fn defaults_are_valid_and_local() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(s.issuer(), "http://127.0.0.1:8080");
    }

    #[test]
    fn audit_retention_is_for_ever_or_outlives_the_requests() {
        let mut s = Settings::default();
        assert_eq!(s.ciba.audit_retention, 0, "kept for ever by default");
        s.validate().unwrap();
        s.ciba.audit_retention = 3_600;
        let refused = s.validate().unwrap_err().to_string();
        assert!(refused.contains("ciba.audit_retention"), "{refused}");
        s.ciba.audit_retention = s.ciba.max_expiry + s.ciba.tombstone_retention;
        s.validate().unwrap();
        s.ciba.tombstone_retention = -1;
        assert!(s.validate().is_err());
    }

    #[test]
    fn plain_http_issuer_only_on_loopback() {
        let mut s = Settings {
            issuer: Some("http://bank.example".into()),
            ..Settings::default()
        };
        assert!(s.validate().is_err());
        s.issuer = Some("https://bank.example/ciba/".into());
        s.validate().unwrap();
        assert_eq!(s.issuer(), "https://bank.example/ciba");
        s.issuer = Some("http://[::1]:9000".into());
        s.validate().unwrap();
        // An issuer too long for an enrollment URI the SDK reads is refused.
        s.issuer = Some(format!("https://bank.example/{}", "a".repeat(500)));
        let refused = s.validate().unwrap_err().to_string();
        assert!(refused.contains("at most 512"), "{refused}");
    }

    #[test]
    fn toml_file_with_unknown_key_is_refused() {
        let ok: Settings =
            toml::from_str("listen = \"0.0.0.0:9000\"\n[ciba]\npoll_interval = 2\n").unwrap();
        assert_eq!(ok.ciba.poll_interval, 2);
        assert_eq!(ok.ciba.max_expiry, 1800);
        assert!(toml::from_str::<Settings>("lisen = \"x\"").is_err());
    }

    #[test]
    fn push_providers_are_configured_by_their_tables() {
        let s: Settings = toml::from_str(
            "[push.fcm]\nproject_id = \"bank-app\"\nservice_account_file = \"sa.json\"\n\
             [push.apns]\nteam_id = \"T\"\nkey_id = \"K\"\nkey_file = \"k.p8\"\ntopic = \"com.bank.app\"\n",
        )
        .unwrap();
        s.validate().unwrap();
        let fcm = s.push.fcm.as_ref().unwrap();
        assert_eq!(fcm.base_url, "https://fcm.googleapis.com");
        let apns = s.push.apns.as_ref().unwrap();
        assert_eq!(apns.production_base_url, "https://api.push.apple.com");
        assert_eq!(apns.sandbox_base_url, "https://api.sandbox.push.apple.com");
        assert!(Settings::default().push.fcm.is_none());

        let mut bad = s.clone();
        bad.push.fcm.as_mut().unwrap().base_url = "http://fcm.example".into();
        assert!(bad.validate().is_err(), "plain http only on loopback");
        let mut bad = s;
        bad.push.apns.as_mut().unwrap().topic = String::new();
        assert!(bad.validate().is_err());
    }
}
