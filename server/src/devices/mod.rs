//! The device API (DEVICE-PROTOCOL.md §2–§7): DPoP authentication, enrollment, transactions,
//! signed decisions and the device's own lifecycle. Every signed proof a device sends goes
//! through one verifier (`proof`).

mod decision;
mod dpop;
mod enrollment;
mod lifecycle;
mod proof;
mod transactions;

pub use decision::record_decision;
pub use dpop::{AuthenticatedDevice, DeviceProof, authenticate_device, verify_dpop};
pub use enrollment::{enroll, validate_push};
pub use lifecycle::{rotate_key, unenroll, update_push_token};
pub use transactions::{transaction, transactions};

use ciba_core::protocol::{DeviceStatusResponse, PushRegistration};

use crate::error::{DeviceCode, Error, Result};
use crate::state::AppState;

fn invalid_dpop(description: &str) -> Error {
    Error::device(DeviceCode::InvalidDpopProof, description)
}

/// `GET /device/v1/device`: the device's own record. A revoked device must be able to learn that
/// it was revoked, so this takes a DPoP proof, not an active device.
pub async fn status(state: &AppState, proof: &DeviceProof) -> Result<DeviceStatusResponse> {
    let device = dpop::enrolled_device(state, proof).await?;
    proof.use_once(state).await?;
    Ok(DeviceStatusResponse {
        status: if device.is_active() {
            ciba_core::protocol::DeviceStatus::Active
        } else {
            ciba_core::protocol::DeviceStatus::Revoked
        },
        push: PushRegistration {
            provider: device.push_provider,
            token: device.push_token,
            environment: device.push_environment,
        },
        enrolled_at: device.enrolled_at,
        device_id: device.id,
    })
}
