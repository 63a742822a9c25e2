//! The OpenAPI 3.1 document of the admin, device and console-session APIs, made from the
//! handlers' `#[utoipa::path]` annotations and the types' `ToSchema` derives, and the router of
//! those APIs made from the same annotations (utoipa-axum): a route without its description
//! cannot exist. Served at [`DOCUMENT_PATH`]; `scripts/openapi-check.sh` runs schemathesis
//! against it.

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use ciba_core::protocol::ErrorBody;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ContentBuilder, PathItem, Ref, RefOr, ResponseBuilder, SecurityRequirement, Server,
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{admin, console, device};
use crate::state::AppState;

/// Where the document is served.
pub const DOCUMENT_PATH: &str = "/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "ciba-server admin and device APIs",
        description = "The admin API (users, clients, devices, requests, audit log, signing keys, \
            the console's overview), the console's sign-in session, and the device API the \
            authenticator SDK speaks (DEVICE-PROTOCOL.md). Every error answer is \
            `{\"error\", \"error_description\"}` with `Cache-Control: no-store`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    components(schemas(ErrorBody)),
    tags(
        (name = "users", description = "Users, their enrollment codes, user codes and locks"),
        (name = "clients", description = "Client registrations and initial access tokens"),
        (name = "devices", description = "Enrolled devices across users"),
        (name = "requests", description = "CIBA requests, their timeline and cancellation"),
        (name = "audit", description = "The audit log"),
        (name = "signing keys", description = "The token-signing keys and their rotation"),
        (name = "overview", description = "The console's live overview"),
        (name = "console", description = "The console's sign-in session (a cookie)"),
        (name = "device", description = "The device API (DPoP-bound, DEVICE-PROTOCOL.md)"),
    )
)]
struct ApiDoc;

/// The router of the documented APIs, and their document (with `issuer` as its server).
pub fn documented_routes(issuer: &str) -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(admin::create_user, admin::list_users))
        .routes(routes!(admin::get_user, admin::delete_user))
        .routes(routes!(admin::create_user_enrollment))
        .routes(routes!(admin::list_devices))
        .routes(routes!(admin::lock_user))
        .routes(routes!(admin::unlock_user))
        .routes(routes!(admin::set_user_code, admin::delete_user_code))
        .routes(routes!(admin::create_client, admin::list_clients))
        .routes(routes!(admin::get_client, admin::delete_client))
        .routes(routes!(admin::rotate_client_secret))
        .routes(routes!(admin::create_initial_access_token))
        .routes(routes!(admin::list_all_devices))
        .routes(routes!(admin::revoke_device))
        .routes(routes!(admin::list_requests))
        .routes(routes!(admin::get_request))
        .routes(routes!(admin::cancel_request))
        .routes(routes!(admin::audit_log))
        .routes(routes!(admin::signing_keys))
        .routes(routes!(admin::rotate_signing_keys))
        .routes(routes!(console::overview))
        .routes(routes!(console::overview_stream))
        .routes(routes!(
            console::sign_in,
            console::session,
            console::sign_out
        ))
        .routes(routes!(device::device_enroll))
        .routes(routes!(device::device_transactions))
        .routes(routes!(device::device_transaction))
        .routes(routes!(device::device_decision))
        .routes(routes!(device::device_status, device::device_unenroll))
        .routes(routes!(device::device_push_token))
        .routes(routes!(device::device_key_rotation))
        .split_for_parts();
    // After the routes (a modifier of the derive would run before they add their operations).
    add_conventions(&mut document);
    add_links(&mut document);
    document.servers = Some(vec![Server::new(issuer)]);
    (router, document)
}

/// The operations a created object's id leads to (OpenAPI links): what a client, and
/// schemathesis' stateful phase, can do next with the user, client or enrollment just made.
const LINKS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "/admin/v1/users",
        "post",
        "201",
        "$response.body#/id",
        &[
            "get_user",
            "delete_user",
            "lock_user",
            "unlock_user",
            "create_user_enrollment",
            "list_devices",
            "set_user_code",
            "delete_user_code",
        ],
    ),
    (
        "/admin/v1/clients",
        "post",
        "201",
        "$response.body#/client_id",
        &["get_client", "delete_client", "rotate_client_secret"],
    ),
    (
        "/admin/v1/users/{id}/lock",
        "post",
        "200",
        "$response.body#/id",
        &["unlock_user", "get_user"],
    ),
];

fn add_links(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    for (path, method, status, id, targets) in LINKS {
        let Some(item) = document.paths.paths.get_mut(*path) else {
            continue;
        };
        let operation = match *method {
            "post" => item.post.as_mut(),
            _ => item.get.as_mut(),
        };
        let Some(RefOr::T(response)) =
            operation.and_then(|op| op.responses.responses.get_mut(*status))
        else {
            continue;
        };
        for target in *targets {
            response.links.insert(
                (*target).to_owned(),
                RefOr::T(
                    LinkBuilder::new()
                        .operation_id(*target)
                        .parameter("id", *id)
                        .build(),
                ),
            );
        }
    }
}

/// The document as served: JSON, with the links' fields under their OpenAPI names (utoipa 5.5
/// writes a Link's `operationId` as `operation_id`, and `requestBody`, `operationRef` alike).
pub fn document_json(document: &utoipa::openapi::OpenApi) -> serde_json::Result<Bytes> {
    let mut value = serde_json::to_value(document)?;
    let responses = value
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
        .filter_map(|operation| {
            operation
                .get_mut("responses")
                .and_then(Value::as_object_mut)
        })
        .flat_map(|responses| responses.values_mut());
    for response in responses {
        let links = response
            .get_mut("links")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|links| links.values_mut())
            .filter_map(Value::as_object_mut);
        for link in links {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_owned(), v);
                }
            }
        }
    }
    Ok(Bytes::from(serde_json::to_vec(&value)?))
}

/// `GET /openapi.json`.
pub fn serve(document: &Result<Bytes, String>) -> Response {
    match document {
        Ok(bytes) => {
            let mut response = bytes.clone().into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(_) => crate::http::error::ApiError::from(crate::error::Error::internal(
            "the OpenAPI document could not be written",
        ))
        .into_response(),
    }
}

/// What every operation shares, added to each: the security schemes of its API and the error
/// answers any of its calls can get (a malformed query or body, a missing or wrong credential,
/// a body over the limit or too slow to arrive, storage unavailable).
fn add_conventions(document: &mut utoipa::openapi::OpenApi) {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "admin_token",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The admin token (`admin_token`, CIBA_ADMIN_TOKEN or <data_dir>/admin-token)",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        "console_session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            "ciba_console",
            "A console session (POST /console/session); every change also sends the \
             session's CSRF token as X-CSRF-Token. `__Host-ciba_console` over https.",
        ))),
    );
    components.add_security_scheme(
        "dpop",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            "DPoP",
            "A DPoP proof (RFC 9449) signed with the device's key (DEVICE-PROTOCOL.md §2)",
        ))),
    );
    for (path, item) in document.paths.paths.iter_mut() {
        let api = if path.starts_with("/admin/") {
            Api::Admin
        } else if path.starts_with("/device/") {
            Api::Device
        } else {
            Api::Console
        };
        for (changes, operation) in operations(item) {
            if operation.security.is_none() {
                operation.security = Some(api.security());
            }
            let responses = &mut operation.responses.responses;
            let mut common = vec![
                ("400", "A malformed query, path or body (`invalid_request`)"),
                (
                    "408",
                    "The request did not arrive and get its answer in time",
                ),
                ("413", "The body is over the limit"),
                ("503", "Storage is unavailable; try again"),
            ];
            match api {
                Api::Admin => {
                    common.push(("401", "No admin token or console session, or a wrong one"));
                    if changes {
                        common.push((
                            "403",
                            "A console session without its CSRF token (`X-CSRF-Token`)",
                        ));
                    }
                }
                Api::Device => common.push((
                    "401",
                    "The DPoP proof is missing or invalid, or the device is unknown or revoked",
                )),
                Api::Console => {}
            }
            for (status, description) in common {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error_response(description));
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Api {
    Admin,
    Device,
    Console,
}

impl Api {
    fn security(self) -> Vec<SecurityRequirement> {
        let scheme = |name: &str| SecurityRequirement::new::<_, [&str; 0], &str>(name, []);
        match self {
            Self::Admin => vec![scheme("admin_token"), scheme("console_session")],
            Self::Device => vec![scheme("dpop")],
            Self::Console => vec![SecurityRequirement::default()],
        }
    }
}

/// The operations of a path, each with whether it changes anything (not a GET).
fn operations(item: &mut PathItem) -> Vec<(bool, &mut utoipa::openapi::path::Operation)> {
    [
        (false, item.get.as_mut()),
        (true, item.post.as_mut()),
        (true, item.put.as_mut()),
        (true, item.patch.as_mut()),
        (true, item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(changes, op)| op.map(|op| (changes, op)))
    .collect()
}

fn error_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ciba_core::protocol::paths;

    fn document() -> Value {
        let (_, document) = documented_routes("https://ciba.bank.example");
        let bytes = document_json(&document).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut all = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                all.push((path.clone(), method.clone(), operation));
            }
        }
        all
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_issuer_as_its_server() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "https://ciba.bank.example");
        assert!(doc["components"]["schemas"]["ErrorBody"].is_object());
    }

    #[test]
    fn every_device_path_the_sdk_calls_is_described() {
        let doc = document();
        let described = doc["paths"].as_object().unwrap();
        for (path, methods) in [
            (paths::ENROLLMENTS.to_owned(), &["post"][..]),
            (paths::TRANSACTIONS.to_owned(), &["get"]),
            (paths::transaction("{txn_id}"), &["get"]),
            (paths::decision("{txn_id}"), &["post"]),
            (paths::DEVICE.to_owned(), &["get", "delete"]),
            (paths::PUSH_TOKEN.to_owned(), &["put"]),
            (paths::KEY_ROTATION.to_owned(), &["post"]),
        ] {
            for method in methods {
                assert!(
                    described
                        .get(&path)
                        .and_then(|item| item.get(*method))
                        .is_some(),
                    "{method} {path} is not in the document"
                );
            }
        }
    }

    #[test]
    fn every_operation_has_its_security_and_the_shared_error_answers() {
        let doc = document();
        let all = operations(&doc);
        assert!(all.len() >= 37, "{}", all.len());
        for (path, method, operation) in all {
            let responses = operation["responses"].as_object().unwrap();
            for status in ["400", "408", "413", "503"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path}: no {status}"
                );
                assert_eq!(
                    responses[status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            let security = operation["security"].as_array().unwrap();
            if path.starts_with("/admin/") {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert_eq!(security.len(), 2, "{method} {path}");
                assert_eq!(
                    responses.contains_key("403"),
                    method != "get",
                    "{method} {path}"
                );
            } else if path.starts_with("/device/") {
                assert!(responses.contains_key("401"), "{method} {path}");
                assert!(security[0].get("dpop").is_some(), "{method} {path}");
            }
        }
    }

    #[test]
    fn links_name_operations_of_the_document_by_their_openapi_field_names() {
        let doc = document();
        let ids: Vec<String> = operations(&doc)
            .iter()
            .map(|(_, _, op)| op["operationId"].as_str().unwrap().to_owned())
            .collect();
        let mut links = 0;
        for (source, _, _, _, targets) in LINKS {
            assert!(doc["paths"].get(*source).is_some(), "{source}");
            links += targets.len();
        }
        let mut seen = 0;
        for (path, method, operation) in operations(&doc) {
            for response in operation["responses"].as_object().unwrap().values() {
                let Some(found) = response.get("links").and_then(Value::as_object) else {
                    continue;
                };
                for (name, link) in found {
                    seen += 1;
                    assert!(link.get("operation_id").is_none(), "{method} {path} {name}");
                    let target = link["operationId"].as_str().unwrap();
                    assert!(
                        ids.iter().any(|id| id == target),
                        "{method} {path} → {target}"
                    );
                }
            }
        }
        assert_eq!(seen, links);
    }
}
