//! The CIBA request: validation of backchannel authentication requests (`backchannel`,
//! `validate`), the request state machine (`state`), the token grant (`grant`), what push-mode
//! clients are sent (`delivery`) and the discovery document (`discovery`).

mod backchannel;
mod delivery;
mod discovery;
mod grant;
mod hint_token;
mod request_object;
mod state;
mod user_code;
mod validate;

pub use backchannel::{BackchannelRequest, BackchannelResponse, start_request};
pub use delivery::push_mode_body;
pub use discovery::discovery_document;
pub use grant::{CibaGrant, TokenRequest, redeem};
pub use state::{PollAnswer, PushModeDelivery, RequestState, WakeupDue};
pub use user_code::set_user_code;
pub use validate::{
    is_scope_token, parse_acr_values, validate_authorization_details, validate_binding_message,
    validate_requested_expiry,
};

pub use crate::clients::CIBA_GRANT_TYPE;

/// Locks a user (a fraud report, or an administrator): their pending and approved requests are
/// cancelled — a later poll gets `access_denied`, a later decision is refused — and the ping and
/// push clients of those requests are notified. `None` when there is no such user.
pub async fn lock_user(
    state: &crate::state::AppState,
    user_id: &str,
    now: i64,
) -> crate::error::Result<Option<u64>> {
    let deadline = now + state.settings.notifications.retry_window;
    let cancelled = state.store.lock_user(user_id, now, deadline).await?;
    if cancelled.is_some_and(|n| n > 0) {
        state.notify_wake.notify_one();
    }
    Ok(cancelled)
}

/// Signs the tokens of an approved request for its user: the one place that turns a request into
/// a [`crate::lifecycle::Grant`]. `auth_req_id` is set for push-mode delivery (the ID token
/// then carries it); `certificate_thumbprint` binds the access token to the client certificate
/// of the token request. The refresh token's record, when the client gets one, is for the
/// caller to store with the redemption.
pub async fn mint_tokens(
    state: &crate::state::AppState,
    client: &crate::store::Client,
    request: &crate::store::CibaRequest,
    user: &crate::store::User,
    auth_req_id: Option<&str>,
    certificate_thumbprint: Option<&str>,
    now: i64,
) -> crate::error::Result<(
    crate::tokens::IssuedTokens,
    Option<crate::store::RefreshToken>,
)> {
    // Only a level this server defines and the approval's verified amr meets (checked again
    // here: the configuration may have changed since the decision).
    let acr = request
        .acr_values
        .first()
        .and_then(|value| state.settings.attestation.acr_level(value))
        .filter(|level| crate::attestation::meets(level, &request.amr))
        .map(|level| level.value.as_str());
    crate::lifecycle::mint(
        state,
        &crate::lifecycle::Grant {
            client,
            user,
            scope: &request.scope,
            granted_scope: &request.scope,
            amr: &request.amr,
            acr,
            auth_time: request.decided_at.unwrap_or(now),
            family: None,
        },
        auth_req_id,
        certificate_thumbprint,
        now,
    )
    .await
}
