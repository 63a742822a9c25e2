//! The device API (DEVICE-PROTOCOL.md §2–§7): DPoP authentication, enrollment, transactions and
//! signed decisions.

mod decision;
mod dpop;
mod enrollment;
mod lifecycle;
mod transactions;

pub use decision::record_decision;
pub use dpop::{DeviceProof, authenticate_device, verify_dpop};
pub use enrollment::{EnrollmentCreated, create_enrollment, enroll, validate_push};
pub use lifecycle::{rotate_key, unenroll, update_push_token};
pub use transactions::{transaction_view, transactions_of_user};

use axum::http::StatusCode;
use ciba_core::protocol::error_codes;

use crate::http::error::ApiError;

fn unauthorized(code: &'static str, description: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, description.to_owned())
}

fn invalid_dpop(description: &str) -> ApiError {
    unauthorized(error_codes::INVALID_DPOP_PROOF, description)
}
