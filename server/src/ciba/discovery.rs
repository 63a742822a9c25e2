//! The OpenID Provider metadata (`/.well-known/openid-configuration`): what this server supports,
//! truthfully.

use serde_json::{Value, json};

use super::CIBA_GRANT_TYPE;
use crate::clients::{REFRESH_TOKEN_GRANT_TYPE, delivery_modes};
use crate::error::Result;
use crate::jwks::JwsAlg;
use crate::state::AppState;
use crate::store::{ClientAuthMethod, DeliveryMode};

/// The discovery document. `scopes_supported` is every scope a client may request: the OpenID
/// scopes the server answers for and the default client scope, and every scope a registered
/// client may request (the registry of API scopes is the clients' registrations).
pub async fn discovery_document(state: &AppState) -> Result<Value> {
    let issuer = &state.issuer;
    let mut scopes: std::collections::BTreeSet<String> = ["openid", "profile", "email", "phone"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    scopes.extend(state.settings.ciba.default_client_scope.iter().cloned());
    scopes.extend(state.store.registered_scopes().await?);
    let scopes: Vec<String> = scopes.into_iter().collect();
    // When every client is a FAPI client, only what the profile allows is offered; the mTLS
    // methods only when the server sees client certificates (and `tls_client_auth` only with
    // the CAs that issue them).
    let fapi = state.settings.clients.fapi;
    let tls = &state.settings.tls;
    let methods: Vec<&str> = ClientAuthMethod::ALL
        .iter()
        .filter(|m| match m {
            ClientAuthMethod::ClientSecretBasic | ClientAuthMethod::ClientSecretPost => !fapi,
            ClientAuthMethod::PrivateKeyJwt => true,
            ClientAuthMethod::TlsClientAuth => {
                tls.client_certificates() && !tls.client_ca_files.is_empty()
            }
            ClientAuthMethod::SelfSignedTlsClientAuth => tls.client_certificates(),
        })
        .map(|m| m.as_str())
        .collect();
    let modes = if fapi {
        vec![DeliveryMode::Poll.as_str(), DeliveryMode::Ping.as_str()]
    } else {
        delivery_modes()
    };
    let mut document = json!({
        "issuer": issuer,
        "backchannel_authentication_endpoint": format!("{issuer}/backchannel/authenticate"),
        "token_endpoint": format!("{issuer}/token"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "jwks_uri": format!("{issuer}/jwks"),
        "backchannel_token_delivery_modes_supported": modes,
        "backchannel_authentication_request_signing_alg_values_supported": JwsAlg::names(fapi),
        "backchannel_user_code_parameter_supported": state.settings.ciba.user_code,
        "grant_types_supported": [CIBA_GRANT_TYPE, REFRESH_TOKEN_GRANT_TYPE],
        "token_endpoint_auth_methods_supported": methods,
        "token_endpoint_auth_signing_alg_values_supported": JwsAlg::names(fapi),
        "introspection_endpoint": format!("{issuer}/introspect"),
        "introspection_endpoint_auth_methods_supported": methods,
        "introspection_endpoint_auth_signing_alg_values_supported": JwsAlg::names(fapi),
        "revocation_endpoint": format!("{issuer}/revoke"),
        "registration_endpoint": format!("{issuer}/register"),
        "revocation_endpoint_auth_methods_supported": methods,
        "revocation_endpoint_auth_signing_alg_values_supported": JwsAlg::names(fapi),
        "id_token_signing_alg_values_supported": JwsAlg::names(fapi),
        "subject_types_supported": ["public"],
        "response_types_supported": [],
        "scopes_supported": scopes,
        "claims_supported": ["iss", "sub", "aud", "iat", "exp", "auth_time", "amr", "acr", "at_hash",
                             "name", "preferred_username", "email", "phone_number",
                             "urn:openid:params:jwt:claim:auth_req_id", "urn:openid:params:jwt:claim:rt_hash"],
        "acr_values_supported": state.settings.attestation.acr_levels.iter().map(|l| l.value.as_str()).collect::<Vec<_>>(),
        "dpop_signing_alg_values_supported": ["ES256"],
        "authorization_details_types_supported": [],
    });
    if tls.client_certificates()
        && let Some(fields) = document.as_object_mut()
    {
        // One listener serves both: the aliases are the endpoints themselves (RFC 8705 §5).
        fields.insert(
            "tls_client_certificate_bound_access_tokens".into(),
            json!(true),
        );
        fields.insert(
            "mtls_endpoint_aliases".into(),
            json!({
                "token_endpoint": format!("{issuer}/token"),
                "backchannel_authentication_endpoint": format!("{issuer}/backchannel/authenticate"),
                "userinfo_endpoint": format!("{issuer}/userinfo"),
                "introspection_endpoint": format!("{issuer}/introspect"),
                "revocation_endpoint": format!("{issuer}/revoke"),
            }),
        );
    }
    Ok(document)
}
