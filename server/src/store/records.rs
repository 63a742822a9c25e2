//! The records the server stores. Plain data; the rules live in the domain modules. Values that
//! are one of a few names in the database are enums here, parsed by the row mappers (a stored
//! name the server does not know is a corrupt record, not a default).

pub use ciba_core::protocol::{Platform, PushEnvironment, PushProvider};
use serde::{Deserialize, Serialize};

/// Declares a stored enum with its database names, `as_str` and `parse`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The stored (and wire) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// From the stored (or wire) name.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum! {
    /// Whether a user may be asked.
    UserStatus {
        /// CIBA requests for the user go ahead.
        Active => "active",
        /// Refused until an administrator unlocks the user (after a fraud report, or by hand).
        Locked => "locked",
    }
}

stored_enum! {
    /// Whether a device may act.
    DeviceStatus {
        /// Enrolled and usable.
        Active => "active",
        /// Revoked (kept for the audit trail).
        Revoked => "revoked",
    }
}

stored_enum! {
    /// How a client receives the outcome of its requests (CIBA Core §5).
    DeliveryMode {
        /// The client polls the token endpoint.
        Poll => "poll",
        /// The server calls the client's notification endpoint; the client then polls.
        Ping => "ping",
        /// The server delivers the tokens to the client's notification endpoint.
        Push => "push",
    }
}

stored_enum! {
    /// How a client authenticates at the OAuth endpoints (`token_endpoint_auth_method`).
    ClientAuthMethod {
        /// `Authorization: Basic` with the client id and secret (RFC 6749 §2.3.1).
        ClientSecretBasic => "client_secret_basic",
        /// `client_id` and `client_secret` in the form body.
        ClientSecretPost => "client_secret_post",
        /// A JWT signed with one of the client's registered keys (RFC 7523 §2.2).
        PrivateKeyJwt => "private_key_jwt",
        /// A client certificate a configured CA issued, with the registered name (RFC 8705 §2.1).
        TlsClientAuth => "tls_client_auth",
        /// A client certificate whose key the client registered (RFC 8705 §2.2).
        SelfSignedTlsClientAuth => "self_signed_tls_client_auth",
    }
}

impl ClientAuthMethod {
    /// Whether the method is a client certificate (mTLS).
    pub fn is_mtls(self) -> bool {
        matches!(self, Self::TlsClientAuth | Self::SelfSignedTlsClientAuth)
    }
}

/// The name a `tls_client_auth` client's certificate must carry (RFC 8705 §2.1.2): exactly one
/// of the subject DN or a subject alternative name. Stored as JSON: `{"subject_dn": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsClientName {
    /// `tls_client_auth_subject_dn` (RFC 4514 string).
    SubjectDn(String),
    /// `tls_client_auth_san_dns`.
    SanDns(String),
    /// `tls_client_auth_san_uri`.
    SanUri(String),
    /// `tls_client_auth_san_ip`.
    SanIp(String),
    /// `tls_client_auth_san_email`.
    SanEmail(String),
}

stored_enum! {
    /// What a client notification carries: a ping (the client then polls) or, in push mode, the
    /// tokens or the error themselves.
    NotificationKind {
        /// Ping mode: `{"auth_req_id"}`.
        Ping => "ping",
        /// Push mode: the token response or the error, with `auth_req_id`.
        Push => "push",
    }
}

/// A push provider from its stored name.
pub fn parse_push_provider(s: &str) -> Option<PushProvider> {
    [PushProvider::Fcm, PushProvider::Apns, PushProvider::None]
        .into_iter()
        .find(|p| p.as_str() == s)
}

/// A platform from its stored name.
pub fn parse_platform(s: &str) -> Option<Platform> {
    [Platform::Android, Platform::Ios, Platform::Other]
        .into_iter()
        .find(|p| p.as_str() == s)
}

/// A push environment from its stored name.
pub fn parse_push_environment(s: &str) -> Option<PushEnvironment> {
    [PushEnvironment::Production, PushEnvironment::Sandbox]
        .into_iter()
        .find(|p| p.as_str() == s)
}

/// An end user who approves requests on their phones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Internal id (`usr_…`), used by the admin API.
    pub id: String,
    /// The stable subject identifier (`sub` of tokens).
    pub subject: String,
    /// Unique login name.
    pub username: String,
    /// Optional unique email.
    pub email: Option<String>,
    /// Optional unique phone number.
    pub phone: Option<String>,
    /// Name shown on the phone.
    pub display_name: Option<String>,
    /// Active or locked.
    pub status: UserStatus,
    /// Creation time.
    pub created_at: i64,
}

impl User {
    /// Whether CIBA requests for this user may go ahead.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

/// A registered client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// `client_id`.
    pub id: String,
    /// Display name shown on the phone.
    pub name: String,
    /// Logo shown on the phone.
    pub logo_uri: Option<String>,
    /// Poll, ping or push.
    pub delivery_mode: DeliveryMode,
    /// `backchannel_client_notification_endpoint` (ping/push).
    pub notification_endpoint: Option<String>,
    /// `token_endpoint_auth_method`.
    pub auth_method: ClientAuthMethod,
    /// SHA-256 (b64u) of the client secret.
    pub secret_hash: Option<String>,
    /// Scope values the client may request.
    pub scope: Vec<String>,
    /// `backchannel_user_code_parameter`.
    pub user_code_parameter: bool,
    /// `backchannel_authentication_request_signing_alg`.
    pub request_signing_alg: Option<String>,
    /// Registered JWK Set (JSON text).
    pub jwks: Option<String>,
    /// Registered JWK Set URL.
    pub jwks_uri: Option<String>,
    /// Whether the FAPI-CIBA profile's rules apply to this client.
    pub fapi: bool,
    /// The certificate name of a `tls_client_auth` client.
    pub tls_client_auth: Option<TlsClientName>,
    /// Whether the client registered the `refresh_token` grant (it is then issued refresh
    /// tokens with its access tokens).
    pub refresh_token_grant: bool,
    /// `id_token_signed_response_alg` (`None`: ES256).
    pub id_token_signed_response_alg: Option<String>,
    /// SHA-256 (b64u) of the registration access token (RFC 7592) of a client registered
    /// through `/register`; `None` for clients the admin registered.
    pub registration_token_hash: Option<String>,
    /// Registration time.
    pub created_at: i64,
}

/// A pending enrollment (pairing) of a device for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    /// `enr_…`.
    pub id: String,
    /// The user being enrolled.
    pub user_id: String,
    /// SHA-256 (b64u) of the code.
    pub code_hash: String,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
}

/// An enrolled authenticator device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// `dev_…`.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// RFC 7638 thumbprint of its key.
    pub jkt: String,
    /// Its public key (JWK JSON text).
    pub public_jwk: String,
    /// Active or revoked.
    pub status: DeviceStatus,
    /// FCM, APNs or none.
    pub push_provider: PushProvider,
    /// Provider token.
    pub push_token: Option<String>,
    /// Production or sandbox (APNs).
    pub push_environment: PushEnvironment,
    /// When the provider reported the push token dead (it is not used until the device
    /// registers a token again).
    pub push_token_invalid_at: Option<i64>,
    /// Name the user gave.
    pub display_name: String,
    /// Android, iOS or other.
    pub platform: Platform,
    /// Model.
    pub model: Option<String>,
    /// OS version.
    pub os_version: Option<String>,
    /// App version.
    pub app_version: Option<String>,
    /// SDK version.
    pub sdk_version: Option<String>,
    /// Enrollment time.
    pub enrolled_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// When it last called the device API (to the minute; enrollment at first).
    pub last_seen_at: Option<i64>,
    /// What the server verified at enrollment (JSON of `attestation::DeviceTrust`;
    /// `None`: nothing, as for devices enrolled before attestation was checked).
    pub attestation: Option<String>,
    /// The approval key's public JWK (JSON text), when the device registered one: approvals
    /// must be signed by it (DEVICE-PROTOCOL.md §3.2).
    pub approval_jwk: Option<String>,
    /// What the approval key's attestation proved (JSON of `attestation::DeviceTrust`).
    pub approval_attestation: Option<String>,
}

impl Device {
    /// Whether the device may act.
    pub fn is_active(&self) -> bool {
        self.status == DeviceStatus::Active
    }
}

/// What [`super::Store::enroll_device`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnrollOutcome {
    /// The device was stored for this user.
    Enrolled {
        /// The enrolled user's id.
        user_id: String,
    },
    /// The code is unknown, used or expired.
    InvalidCode,
    /// The key is already enrolled.
    KeyAlreadyEnrolled,
}

/// Request states as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Waiting for the user.
    Pending,
    /// Approved, tokens not yet issued.
    Approved,
    /// Denied.
    Denied,
    /// Tokens issued (once).
    Redeemed,
    /// Withdrawn by the server (user or client removed).
    Cancelled,
}

impl RequestStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Redeemed => "redeemed",
            Self::Cancelled => "cancelled",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "denied" => Self::Denied,
            "redeemed" => Self::Redeemed,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// One CIBA request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CibaRequest {
    /// Transaction id (`txn_…`), what devices see.
    pub id: String,
    /// SHA-256 (b64u) of the `auth_req_id`, what clients hold.
    pub auth_req_id_hash: String,
    /// The requesting client.
    pub client_id: String,
    /// The user asked.
    pub user_id: String,
    /// Requested scope values (deduplicated, in request order).
    pub scope: Vec<String>,
    /// Requested ACR values.
    pub acr_values: Vec<String>,
    /// Binding message.
    pub binding_message: Option<String>,
    /// RFC 9396 authorization details, JSON text of the array.
    pub authorization_details: Option<String>,
    /// Per-transaction challenge.
    pub challenge: String,
    /// State.
    pub status: RequestStatus,
    /// Creation time.
    pub created_at: i64,
    /// Expiry.
    pub expires_at: i64,
    /// Minimum seconds between polls.
    pub interval: i64,
    /// Last poll time.
    pub last_polled_at: Option<i64>,
    /// Decision time.
    pub decided_at: Option<i64>,
    /// Deciding device.
    pub decided_by: Option<String>,
    /// Authentication methods the device reported.
    pub amr: Vec<String>,
    /// Deny reason.
    pub deny_reason: Option<String>,
    /// Token issuance time.
    pub redeemed_at: Option<i64>,
    /// Ping/push: the client's bearer token for its notification endpoint.
    pub notification_token: Option<String>,
    /// Ping/push: the `auth_req_id`, which notifications carry; cleared when the notification has
    /// ended, or when the request expired with nothing to send.
    pub notify_auth_req_id: Option<String>,
}

/// A decision to record.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Approved or denied.
    pub approved: bool,
    /// Deciding device.
    pub device_id: String,
    /// Methods the device checked.
    pub amr: Vec<String>,
    /// Deny reason.
    pub deny_reason: Option<String>,
    /// For ping and push clients: the notification to enqueue with the decision, atomically.
    pub notification: Option<NewClientNotification>,
    /// Audit events committed with the decision, only when it wins.
    pub audit: Vec<NewAuditEvent>,
}

/// A client notification to put in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClientNotification {
    /// The client to notify.
    pub client_id: String,
    /// Ping or push.
    pub kind: NotificationKind,
    /// Last moment to try.
    pub deadline: i64,
}

/// A client notification claimed from the outbox by a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientNotificationEntry {
    /// Sequence number.
    pub id: i64,
    /// The request it is about.
    pub request_id: String,
    /// The client to notify.
    pub client_id: String,
    /// Ping or push.
    pub kind: NotificationKind,
    /// The push body, once minted.
    pub payload: Option<String>,
    /// Attempts so far, including this one.
    pub attempts: i64,
    /// When it was enqueued.
    pub created_at: i64,
    /// Last moment to try.
    pub deadline: i64,
}

/// How a client notification ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotificationFinal {
    /// The endpoint answered 2xx.
    Delivered,
    /// The endpoint refused for good (401/403, other 4xx, redirect) or is not allowed.
    Failed,
    /// The deadline passed before a delivery.
    Abandoned,
}

impl NotificationFinal {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }
}

/// A device wake-up to put in the wake-up outbox with a new request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWakeup {
    /// The device to wake.
    pub device_id: String,
    /// FCM or APNs.
    pub provider: PushProvider,
    /// Last moment to try (the request's expiry).
    pub deadline: i64,
}

/// A device wake-up claimed from the outbox, with what the worker needs to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeupEntry {
    /// Sequence number.
    pub id: i64,
    /// The request (transaction) to announce.
    pub request_id: String,
    /// The device to wake.
    pub device_id: String,
    /// The provider when it was enqueued.
    pub provider: PushProvider,
    /// Attempts so far, including this one.
    pub attempts: i64,
    /// When it was enqueued.
    pub created_at: i64,
    /// Last moment to try.
    pub deadline: i64,
    /// The device as it is now (`None` when it was deleted).
    pub target: Option<WakeupTarget>,
    /// The request's state and expiry now (`None` when it was deleted).
    pub request: Option<(RequestStatus, i64)>,
    /// The request's user (for the audit log).
    pub user_id: Option<String>,
}

/// A device's push registration as the wake-up worker reads it at send time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WakeupTarget {
    /// Active or revoked.
    pub status: DeviceStatus,
    /// FCM, APNs or none.
    pub provider: PushProvider,
    /// The provider token.
    pub token: Option<String>,
    /// Production or sandbox (APNs).
    pub environment: PushEnvironment,
    /// Whether the provider reported the token dead.
    pub token_invalid: bool,
}

/// How a device wake-up ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeupFinal {
    /// The provider accepted it.
    Sent,
    /// The provider refused it for good (dead token, malformed, wrong topic).
    Failed,
    /// The request expired before the provider accepted it.
    Abandoned,
    /// Nothing to send any more (request decided, device revoked or without a token, provider
    /// not configured).
    Skipped,
}

impl WakeupFinal {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
            Self::Skipped => "skipped",
        }
    }
}

/// A device wake-up of a request as stored (operators and tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WakeupDelivery {
    /// The device.
    pub device_id: String,
    /// `fcm` or `apns`.
    pub provider: String,
    /// `pending`, `sent`, `failed`, `abandoned` or `skipped`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When the next attempt is due (pending pushes).
    pub next_attempt_at: i64,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was enqueued (with the request).
    pub created_at: i64,
    /// When the provider accepted it.
    pub sent_at: Option<i64>,
}

/// A notification to a ping or push client about a request, as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClientNotificationDelivery {
    /// `ping` or `push`.
    pub kind: String,
    /// `pending`, `delivered`, `failed` or `abandoned`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it was enqueued.
    pub created_at: i64,
    /// When the client answered 2xx.
    pub delivered_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Where a listing continues: after the row with this sort time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct After {
    /// The sort time of the last row seen (creation or enrollment time).
    pub at: i64,
    /// Its id.
    pub id: String,
}

/// Filters of [`super::Store::list_devices`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceFilter {
    /// Only this user's.
    pub user_id: Option<String>,
    /// `active` or `revoked`.
    pub status: Option<String>,
    /// `android`, `ios` or `other`.
    pub platform: Option<String>,
    /// Whether the device has a push token the provider has not refused.
    pub push_token_valid: Option<bool>,
}

/// Requests created in one minute with one status (the console's overview).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestCount {
    /// Start of the minute (Unix seconds, a multiple of 60).
    pub minute: i64,
    /// The stored status (`pending`, `approved`, `denied`, `redeemed`, `cancelled`).
    pub status: String,
    /// Past its expiry at the time asked about.
    pub expired: bool,
    /// How many.
    pub count: i64,
}

/// A push to a device or a notification to a client whose last attempt failed (shown as is by
/// the console's overview).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DeliveryError {
    /// `device_push` or `client_notification`.
    pub source: String,
    /// The request it was about.
    pub request_id: String,
    /// The push provider (`fcm`, `apns`) or the client id.
    pub target: String,
    /// The outbox status (`pending` while retried, `failed`, `abandoned`, …).
    pub status: String,
    /// Attempts so far.
    pub attempts: i64,
    /// What the last attempt met.
    pub last_error: String,
    /// When it was enqueued.
    pub created_at: i64,
}

/// Filters of [`super::Store::list_requests`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestFilter {
    /// Only this client's.
    pub client_id: Option<String>,
    /// Only this user's.
    pub user_id: Option<String>,
    /// The stored status (`pending`, `approved`, `denied`, `redeemed`, `cancelled`).
    pub status: Option<String>,
    /// Past (`true`) or before (`false`) their expiry at `now`.
    pub expired: Option<bool>,
}

/// What [`super::Store::insert_request`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// The request, its wake-ups and its audit events were stored.
    Inserted,
    /// The user already had as many pending, unexpired requests as allowed: nothing was
    /// stored.
    UserAtLimit,
}

/// What a poll did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// Polled no faster than the interval.
    Allowed,
    /// Too fast; the interval was raised.
    TooFast,
}

/// A stored signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (JWK thumbprint).
    pub kid: String,
    /// `ES256`, `PS256` or `RS256`.
    pub alg: String,
    /// PKCS#8 DER.
    pub private_der: Vec<u8>,
    /// Creation time.
    pub created_at: i64,
    /// When it starts signing (it is published before).
    pub activates_at: i64,
}

/// A refresh token, stored by the hash of its value. One approval's refresh tokens form a family:
/// each use rotates the token (the used one is marked, the next one inserted), and presenting a
/// used one again revokes the whole family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// SHA-256 (b64u) of the token.
    pub token_hash: String,
    /// The family (one per approval).
    pub family_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user (internal id).
    pub user_id: String,
    /// Granted scope.
    pub scope: Vec<String>,
    /// The approval's verified authentication methods.
    pub amr: Vec<String>,
    /// The approval's authentication context class, if one was met.
    pub acr: Option<String>,
    /// When the user decided.
    pub auth_time: i64,
    /// The client certificate the token is bound to (`x5t#S256`), if any.
    pub certificate_thumbprint: Option<String>,
    /// Issue time.
    pub created_at: i64,
    /// Expiry of this token (never after `family_expires_at`).
    pub expires_at: i64,
    /// The family's absolute expiry.
    pub family_expires_at: i64,
    /// When it was used (rotated), if it was.
    pub used_at: Option<i64>,
    /// When its family was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// The `jti` of the access token issued with it.
    pub access_jti: String,
    /// That access token's expiry.
    pub access_expires_at: i64,
}

/// What presenting a refresh token for rotation came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateOutcome {
    /// Used and replaced by the new token.
    Rotated,
    /// It had been used before: the whole family is now revoked.
    ReuseDetected,
    /// Unknown, revoked or expired (nothing changed).
    Refused,
}

/// A security event to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAuditEvent {
    /// When.
    pub at: i64,
    /// What (`ciba_request`, `decision`, `fraud_reported`, `enrollment`, …).
    pub kind: &'static str,
    /// User concerned.
    pub user_id: Option<String>,
    /// Client concerned.
    pub client_id: Option<String>,
    /// Device concerned.
    pub device_id: Option<String>,
    /// Request concerned.
    pub request_id: Option<String>,
    /// Details (no secrets).
    pub detail: serde_json::Value,
}

/// A recorded security event.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Sequence number.
    pub id: i64,
    /// When.
    pub at: i64,
    /// What.
    pub kind: String,
    /// User concerned.
    pub user_id: Option<String>,
    /// Client concerned.
    pub client_id: Option<String>,
    /// Device concerned.
    pub device_id: Option<String>,
    /// Request concerned.
    pub request_id: Option<String>,
    /// Details.
    pub detail: serde_json::Value,
}

/// Which audit events to read (`GET /admin/v1/audit`): every given filter must hold.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// About this user.
    pub user_id: Option<String>,
    /// About this client.
    pub client_id: Option<String>,
    /// Of this kind (e.g. `user_locked`).
    pub kind: Option<String>,
    /// At or after this time.
    pub since: Option<i64>,
    /// Before this time.
    pub until: Option<i64>,
    /// Past this event id, in the listing's order (the previous page's last id).
    pub after_id: Option<i64>,
    /// Newest first (by id) instead of oldest first.
    pub newest_first: bool,
}

/// A sign-in session of the operators' console, by the hash of its cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleSession {
    /// SHA-256 of the session cookie.
    pub id_hash: String,
    /// When the operator signed in.
    pub created_at: i64,
    /// When it ends however active it is.
    pub expires_at: i64,
    /// When it ends unless used before.
    pub idle_until: i64,
}

/// What a sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Requests past their tombstone horizon.
    pub requests: u64,
    /// Expired replay-cache entries.
    pub jtis: u64,
    /// Expired enrollments.
    pub enrollments: u64,
    /// Expired refresh tokens, and those of families revoked before the horizon.
    pub refresh_tokens: u64,
    /// Console sessions past their absolute or idle expiry.
    pub console_sessions: u64,
}
