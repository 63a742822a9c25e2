//! The admin API's operations (DEVICE-PROTOCOL.md §8): the bank's backend manages users,
//! clients, enrollments and devices, and reads the audit log. Every operation takes an [`Admin`],
//! which only [`authorize`] makes (the admin bearer token, compared in constant time), so no
//! operation runs for a caller nobody authenticated.

mod listing;
mod overview;
mod session;

pub use listing::{
    DeviceListQuery, Page, PageQuery, RequestDetail, RequestListQuery, RequestSummary,
    RotatedSecret, UserListQuery, cancel_request, clients, devices, request, requests,
    rotate_client_secret, users,
};
pub use overview::{MinuteOutcomes, Overview, overview};
pub use session::{SignedIn, authorize_session, csrf_token, session_open, sign_in, sign_out};

use ciba_core::protocol::EnrollmentUri;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clients::{ClientRegistration, RegisteredClient, register_client};
use crate::crypto::{hash_secret, random_b64u, random_id};
use crate::error::{AdminCode, Error, Result};
use crate::state::AppState;
use crate::store::{AuditEvent, Device, Enrollment, NewAuditEvent, StoreError, User, UserStatus};

/// Proof that the caller presented the admin token.
#[derive(Debug)]
pub struct Admin(());

/// Checks the admin bearer token (`None` when the request carried none).
pub fn authorize(state: &AppState, bearer: Option<&str>) -> Result<Admin> {
    match bearer {
        Some(token) if state.is_admin_token(token) => Ok(Admin(())),
        _ => Err(Error::admin(
            AdminCode::InvalidToken,
            "a valid admin bearer token is required",
        )),
    }
}

fn not_found(what: &str) -> Error {
    Error::admin(AdminCode::NotFound, format!("no such {what}"))
}

fn invalid(description: &str) -> Error {
    Error::admin(AdminCode::InvalidRequest, description)
}

/// Body of `POST /admin/v1/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    /// Unique login name.
    #[schema(min_length = 1, max_length = 128)]
    pub username: String,
    /// Optional unique email.
    #[serde(default)]
    #[schema(max_length = 254)]
    pub email: Option<String>,
    /// Optional unique phone number.
    #[serde(default)]
    #[schema(max_length = 32)]
    pub phone: Option<String>,
    /// Name shown on the phone.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 128)]
    pub display_name: Option<String>,
}

/// A field shown to people (the display name on the phone, usernames in the console): no
/// control or bidirectional formatting characters, so it reads as it renders.
fn field_ok(value: &str, max: usize) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value.trim() == value
        && ciba_core::protocol::is_display_safe(value)
}

fn audit_event(at: i64, kind: &'static str, user_id: Option<&str>) -> NewAuditEvent {
    NewAuditEvent {
        at,
        kind,
        user_id: user_id.map(str::to_owned),
        client_id: None,
        device_id: None,
        request_id: None,
        detail: json!({}),
    }
}

/// `POST /admin/v1/users`.
pub async fn create_user(state: &AppState, _: &Admin, req: NewUserRequest) -> Result<User> {
    if !field_ok(&req.username, 128) {
        return Err(invalid(
            "username must be 1 to 128 characters without surrounding spaces",
        ));
    }
    if req
        .email
        .as_deref()
        .is_some_and(|e| !field_ok(e, 254) || !e.contains('@'))
    {
        return Err(invalid("email is malformed"));
    }
    if req.phone.as_deref().is_some_and(|p| !field_ok(p, 32)) {
        return Err(invalid("phone is malformed"));
    }
    if req
        .display_name
        .as_deref()
        .is_some_and(|d| !field_ok(d, 128))
    {
        return Err(invalid("display_name must be 1 to 128 characters"));
    }
    let now = state.now();
    let user = User {
        id: random_id("usr_")?,
        subject: random_b64u(16)?,
        username: req.username,
        email: req.email,
        phone: req.phone,
        display_name: req.display_name,
        status: UserStatus::Active,
        created_at: now,
    };
    // A login hint must name one user whatever kind of identifier it is, so each value is
    // refused if it is any user's username, email, phone or subject. The store's constraint
    // holds this by construction; the look-ups only say which field clashed.
    for (field, value) in [
        ("username", Some(&user.username)),
        ("email", user.email.as_ref()),
        ("phone", user.phone.as_ref()),
    ] {
        if let Some(value) = value
            && state.store.user_by_login_hint(value).await?.is_some()
        {
            return Err(Error::admin(
                AdminCode::Conflict,
                format!("the {field} is already another user's username, email, phone or subject"),
            ));
        }
    }
    match state.store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => {
            return Err(Error::admin(
                AdminCode::Conflict,
                "the username, email or phone is already another user's identifier",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    state
        .audit(audit_event(now, "user_created", Some(&user.id)))
        .await;
    Ok(user)
}

/// `GET /admin/v1/users/{id}`.
pub async fn user(state: &AppState, _: &Admin, id: &str) -> Result<User> {
    state.store.user(id).await?.ok_or_else(|| not_found("user"))
}

/// `DELETE /admin/v1/users/{id}`: the user, their devices and enrollments go; their pending
/// requests are cancelled.
pub async fn delete_user(state: &AppState, _: &Admin, id: &str) -> Result<()> {
    if !state.store.delete_user(id).await? {
        return Err(not_found("user"));
    }
    state
        .audit(audit_event(state.now(), "user_deleted", Some(id)))
        .await;
    Ok(())
}

/// `POST /admin/v1/users/{id}/lock` and `…/unlock`: refuse CIBA requests for the user until
/// unlocked — locking also cancels the user's pending and approved requests, whose ping and push
/// clients are told — or accept them again (after a fraud report was investigated; cancelled
/// requests stay cancelled).
pub async fn set_user_status(
    state: &AppState,
    admin: &Admin,
    id: &str,
    status: UserStatus,
) -> Result<User> {
    let now = state.now();
    let detail = match status {
        UserStatus::Locked => {
            let cancelled = crate::ciba::lock_user(state, id, now)
                .await?
                .ok_or_else(|| not_found("user"))?;
            json!({"by": "admin", "cancelled_requests": cancelled})
        }
        UserStatus::Active => {
            if !state.store.set_user_status(id, status).await? {
                return Err(not_found("user"));
            }
            json!({"by": "admin"})
        }
    };
    let kind = match status {
        UserStatus::Locked => "user_locked",
        UserStatus::Active => "user_unlocked",
    };
    let mut event = audit_event(now, kind, Some(id));
    event.detail = detail;
    state.audit(event).await;
    user(state, admin, id).await
}

/// `POST /admin/v1/clients`.
pub async fn create_client(
    state: &AppState,
    _: &Admin,
    reg: ClientRegistration,
) -> Result<RegisteredClient> {
    let now = state.now();
    let (client, secret) = register_client(reg, &state.settings, now).map_err(Error::for_admin)?;
    state.store.insert_client(&client).await?;
    // An earlier look-up of this id may have been cached as unknown.
    state.clients.forget(&client.id);
    let mut event = audit_event(now, "client_created", None);
    event.client_id = Some(client.id.clone());
    state.audit(event).await;
    Ok(RegisteredClient::from_client(&client, secret))
}

/// `GET /admin/v1/clients/{id}`.
pub async fn client(state: &AppState, _: &Admin, id: &str) -> Result<RegisteredClient> {
    let client = state
        .store
        .client(id)
        .await?
        .ok_or_else(|| not_found("client"))?;
    Ok(RegisteredClient::from_client(&client, None))
}

/// `DELETE /admin/v1/clients/{id}`.
pub async fn delete_client(state: &AppState, _: &Admin, id: &str) -> Result<()> {
    let deleted = state.store.delete_client(id).await?;
    // After the delete, so a concurrent request cannot cache it again in between.
    state.clients.forget(id);
    if !deleted {
        return Err(not_found("client"));
    }
    let mut event = audit_event(state.now(), "client_deleted", None);
    event.client_id = Some(id.to_owned());
    state.audit(event).await;
    Ok(())
}

/// Answer of `POST /admin/v1/users/{id}/enrollments`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnrollmentCreated {
    /// `enr_…`.
    pub enrollment_id: String,
    /// The single-use code (≥ 128 bits); stored only hashed.
    pub code: String,
    /// What the QR code or app link carries.
    pub uri: String,
    /// Expiry.
    pub expires_at: i64,
    /// The key-attestation challenge the device uses (b64u; DEVICE-PROTOCOL.md §3.1), derived
    /// from the code: given for apps that receive the code another way than the URI.
    pub attestation_challenge: String,
    /// The URI as a QR code (an SVG document), when asked for with `?qr=svg`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qr_svg: Option<String>,
}

/// Query of `POST /admin/v1/users/{id}/enrollments`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EnrollmentQuery {
    /// `svg`: the answer also carries the URI as a QR code.
    #[param(pattern = "^svg$")]
    pub qr: Option<String>,
}

/// The QR code of `text`, as an SVG document (error correction M, quiet zone included).
fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| {
            tracing::error!(error = %e, "an enrollment URI does not fit a QR code");
            Error::Internal
        })?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// `POST /admin/v1/users/{id}/enrollments`: a single-use enrollment code for a user (the bank's
/// backend, already knowing who the user is, asks).
pub async fn create_enrollment(
    state: &AppState,
    _: &Admin,
    user_id: &str,
    query: EnrollmentQuery,
) -> Result<EnrollmentCreated> {
    let with_qr = match query.qr.as_deref() {
        None => false,
        Some("svg") => true,
        Some(_) => return Err(invalid("qr must be svg")),
    };
    let user = state
        .store
        .user(user_id)
        .await?
        .ok_or_else(|| not_found("user"))?;
    let now = state.now();
    let code = random_b64u(20)?;
    let enrollment = Enrollment {
        id: random_id("enr_")?,
        user_id: user.id.clone(),
        code_hash: hash_secret(&code),
        created_at: now,
        expires_at: now + state.settings.enrollment.code_ttl,
    };
    state.store.insert_enrollment(&enrollment).await?;
    state
        .audit(NewAuditEvent {
            at: now,
            kind: "enrollment_created",
            user_id: Some(user.id),
            client_id: None,
            device_id: None,
            request_id: None,
            detail: json!({"enrollment_id": enrollment.id, "expires_at": enrollment.expires_at}),
        })
        .await;
    let uri = EnrollmentUri {
        issuer: state.issuer.clone(),
        code: code.clone(),
    }
    .to_uri_string();
    Ok(EnrollmentCreated {
        attestation_challenge: {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(crate::attestation::challenge(&code))
        },
        enrollment_id: enrollment.id,
        code,
        qr_svg: if with_qr { Some(qr_svg(&uri)?) } else { None },
        uri,
        expires_at: enrollment.expires_at,
    })
}

/// A device as the admin API shows it (never the push token).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceSummary {
    device_id: String,
    user_id: String,
    status: &'static str,
    display_name: String,
    platform: &'static str,
    model: Option<String>,
    os_version: Option<String>,
    app_version: Option<String>,
    sdk_version: Option<String>,
    push: serde_json::Value,
    jkt: String,
    enrolled_at: i64,
    revoked_at: Option<i64>,
    /// When it last called the device API (to the minute).
    last_seen_at: Option<i64>,
    /// What the server verified at enrollment (README "Device trust").
    attestation: crate::attestation::DeviceTrust,
    /// The `amr` its approvals carry.
    amr: Vec<String>,
    /// Its approval key, when it registered one: what its attestation proved and the `amr` of
    /// the approvals it signs (DEVICE-PROTOCOL.md §3.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    approval_key: Option<serde_json::Value>,
}

impl From<Device> for DeviceSummary {
    fn from(d: Device) -> Self {
        let attestation = crate::attestation::DeviceTrust::from_stored(d.attestation.as_deref());
        let approval = d.approval_jwk.as_ref().map(|_| {
            crate::attestation::DeviceTrust::from_stored(d.approval_attestation.as_deref())
        });
        Self {
            amr: crate::attestation::approval_amr(&d),
            approval_key: approval.map(|trust| json!({"amr": trust.amr(), "attestation": trust})),
            attestation,
            push: json!({"provider": d.push_provider.as_str(), "environment": d.push_environment.as_str(),
                         "has_token": d.push_token.is_some(),
                         "token_valid": d.push_token.is_some() && d.push_token_invalid_at.is_none(),
                         "token_invalid_since": d.push_token_invalid_at}),
            device_id: d.id,
            user_id: d.user_id,
            status: d.status.as_str(),
            display_name: d.display_name,
            platform: d.platform.as_str(),
            model: d.model,
            os_version: d.os_version,
            app_version: d.app_version,
            sdk_version: d.sdk_version,
            jkt: d.jkt,
            enrolled_at: d.enrolled_at,
            revoked_at: d.revoked_at,
            last_seen_at: d.last_seen_at,
        }
    }
}

/// `GET /admin/v1/users/{id}/devices`.
pub async fn devices_of_user(
    state: &AppState,
    _: &Admin,
    user_id: &str,
) -> Result<Vec<DeviceSummary>> {
    if state.store.user(user_id).await?.is_none() {
        return Err(not_found("user"));
    }
    Ok(state
        .store
        .devices_of_user(user_id)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// `DELETE /admin/v1/devices/{device_id}`: revoke.
pub async fn revoke_device(state: &AppState, _: &Admin, id: &str) -> Result<()> {
    let device = state
        .store
        .device(id)
        .await?
        .ok_or_else(|| not_found("device"))?;
    let now = state.now();
    if state.store.revoke_device(id, now).await? {
        let mut event = audit_event(now, "device_revoked", Some(&device.user_id));
        event.device_id = Some(id.to_owned());
        event.detail = json!({"by": "admin"});
        state.audit(event).await;
    }
    Ok(())
}

/// Query of `GET /admin/v1/audit`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this user's events.
    pub user_id: Option<String>,
    /// Only this client's events.
    pub client_id: Option<String>,
    /// Only events of this kind (e.g. `user_locked`).
    pub kind: Option<String>,
    /// Only events at or after this time.
    pub since: Option<i64>,
    /// Only events before this time.
    pub until: Option<i64>,
    /// `asc` (oldest first, the default) or `desc` (newest first).
    #[param(pattern = "^(asc|desc)$")]
    pub order: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// At most this many (1 to 10 000; 1 000 by default).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
}

/// A page of the audit log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// The events, in the order asked for.
    pub events: Vec<AuditEvent>,
    /// Pass as `cursor` (with the same filters and order) for the next page; absent when this
    /// page is the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `GET /admin/v1/audit?user_id=&client_id=&kind=&since=&until=&order=&cursor=&limit=`:
/// security events, oldest first unless `order=desc`.
pub async fn audit_log(state: &AppState, _: &Admin, q: AuditQuery) -> Result<AuditPage> {
    let limit = match q.limit.unwrap_or(1000) {
        n if (1..=10_000).contains(&n) => n,
        _ => return Err(invalid("limit must be 1 to 10000")),
    };
    let newest_first = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid("order must be asc or desc")),
    };
    let after_id = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(
            c.parse::<i64>()
                .ok()
                .filter(|id| *id >= 0)
                .ok_or_else(|| invalid("cursor is not one this API gave"))?,
        ),
    };
    let filter = crate::store::AuditFilter {
        user_id: q.user_id,
        client_id: q.client_id,
        kind: q.kind,
        since: q.since,
        until: q.until,
        after_id,
        newest_first,
    };
    let mut events = state.store.audit_events(&filter, limit + 1).await?;
    let more = events.len() as i64 > limit;
    events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more
        .then(|| events.last().map(|e| e.id.to_string()))
        .flatten();
    Ok(AuditPage {
        events,
        next_cursor,
    })
}

/// One of the server's signing keys, as the admin API lists it (no private material).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SigningKeyView {
    /// Key id (the JWK thumbprint).
    pub kid: String,
    /// `ES256`, `PS256` or `RS256`.
    pub alg: &'static str,
    /// When it starts (started) signing.
    pub activates_at: i64,
    /// `next` (published, not yet signing), `active`, `retired` (published, no longer
    /// signing) or `expired` (gone from the JWKS).
    pub state: &'static str,
    /// For a retired key: when it leaves the JWKS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published_until: Option<i64>,
}

/// `GET /admin/v1/signing-keys`: every key and where it is in its life.
pub async fn signing_keys(state: &AppState, _: &Admin) -> Result<Vec<SigningKeyView>> {
    let keys = state.keys().await?;
    Ok(key_views(&keys, state.now()))
}

fn key_views(keys: &crate::tokens::SigningKeys, now: i64) -> Vec<SigningKeyView> {
    use crate::tokens::KeyState;
    keys.states(now)
        .into_iter()
        .map(|(key, key_state)| SigningKeyView {
            kid: key.kid().to_owned(),
            alg: key.jws_alg().as_str(),
            activates_at: key.activates_at(),
            state: match key_state {
                KeyState::Next => "next",
                KeyState::Active => "active",
                KeyState::Retired(_) => "retired",
                KeyState::Expired => "expired",
            },
            published_until: match key_state {
                KeyState::Retired(until) => Some(until),
                _ => None,
            },
        })
        .collect()
}

/// `POST /admin/v1/signing-keys/rotate`: a new key per algorithm, published now, signing after
/// `tokens.key_publish_ahead`; the keys it replaces stay published until what they signed has
/// expired. Answers the keys after the rotation.
pub async fn rotate_signing_keys(state: &AppState, _: &Admin) -> Result<Vec<SigningKeyView>> {
    let now = state.now();
    let activates_at = now + state.settings.tokens.key_publish_ahead;
    let added = crate::tokens::SigningKeys::rotate(state.store.as_ref(), now, activates_at)
        .await
        .map_err(Error::internal)?;
    state
        .audit(NewAuditEvent {
            at: now,
            kind: "signing_keys_rotated",
            user_id: None,
            client_id: None,
            device_id: None,
            request_id: None,
            detail: serde_json::json!({
                "kids": added.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
                "activates_at": activates_at,
            }),
        })
        .await;
    let keys = state.reload_keys().await?;
    Ok(key_views(&keys, now))
}

/// Body of `PUT /admin/v1/users/{id}/user-code`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCodeRequest {
    /// The user's code (4 to 64 printable characters), stored only as an Argon2id hash.
    #[schema(min_length = 4, max_length = 64)]
    pub user_code: String,
}

/// `PUT /admin/v1/users/{id}/user-code`: sets the user's code (the failure count starts again).
pub async fn set_user_code(
    state: &AppState,
    _: &Admin,
    id: &str,
    request: Option<&UserCodeRequest>,
) -> Result<()> {
    let code = request.map(|r| r.user_code.as_str());
    if !crate::ciba::set_user_code(state, id, code).await? {
        return Err(not_found("user"));
    }
    let kind = if code.is_some() {
        "user_code_set"
    } else {
        "user_code_removed"
    };
    state.audit(audit_event(state.now(), kind, Some(id))).await;
    Ok(())
}

/// Body of `POST /admin/v1/initial-access-tokens`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitialAccessTokenRequest {
    /// Lifetime in seconds (default 86 400; at most 30 days).
    #[schema(minimum = 1, maximum = 2592000)]
    pub expires_in: Option<i64>,
    /// Registrations it allows (default 1); `0`: any number until it expires.
    #[schema(minimum = 0, maximum = 100000)]
    pub max_uses: Option<i64>,
}

/// Answer of `POST /admin/v1/initial-access-tokens`: the token, shown once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InitialAccessToken {
    /// The bearer token `POST /register` takes (≥ 256 bits); stored only hashed.
    pub initial_access_token: String,
    /// Expiry.
    pub expires_at: i64,
    /// Registrations it allows; absent: any number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_uses: Option<i64>,
}

/// `POST /admin/v1/initial-access-tokens`: a token with which a client registers itself
/// (RFC 7591 §3, `POST /register`).
pub async fn create_initial_access_token(
    state: &AppState,
    _: &Admin,
    req: InitialAccessTokenRequest,
) -> Result<InitialAccessToken> {
    let expires_in = req.expires_in.unwrap_or(86_400);
    if !(1..=30 * 86_400).contains(&expires_in) {
        return Err(Error::admin(
            AdminCode::InvalidRequest,
            "expires_in must be 1 to 2592000 seconds",
        ));
    }
    let max_uses = match req.max_uses.unwrap_or(1) {
        0 => None,
        n if (1..=100_000).contains(&n) => Some(n),
        _ => {
            return Err(Error::admin(
                AdminCode::InvalidRequest,
                "max_uses must be 0 (any number) to 100000",
            ));
        }
    };
    let now = state.now();
    let token = random_b64u(32)?;
    state
        .store
        .insert_initial_access_token(&hash_secret(&token), now, now + expires_in, max_uses)
        .await?;
    let mut event = audit_event(now, "initial_access_token_created", None);
    event.detail = json!({"expires_at": now + expires_in, "max_uses": max_uses});
    state.audit(event).await;
    Ok(InitialAccessToken {
        initial_access_token: token,
        expires_at: now + expires_in,
        max_uses,
    })
}
