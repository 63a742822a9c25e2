//! `enroll <uri> [--name]`.

use ciba_core::authenticator::{Authenticator, SDK_VERSION};
use ciba_core::protocol::{DeviceInfo, Platform, PushRegistration};

use crate::display::{attestation_line, clean};
use crate::error::CliResult;

/// Enrolls as a polling-only device (no push provider in a terminal).
pub async fn run(auth: &Authenticator, uri: &str, name: Option<String>) -> CliResult {
    let device = DeviceInfo {
        display_name: name.unwrap_or_else(|| "Terminal authenticator".to_owned()),
        platform: Platform::Other,
        model: None,
        os_version: Some(std::env::consts::OS.to_owned()),
        app_version: Some(env!("CARGO_PKG_VERSION").to_owned()),
        sdk_version: Some(SDK_VERSION.to_owned()),
    };
    let account = auth.enroll(uri, device, PushRegistration::none()).await?;
    println!("Enrolled.");
    println!("Account    {}", clean(&account.account_label));
    println!("Subject    {}", clean(&account.subject));
    if let Some(name) = &account.user_display_name {
        println!("User       {}", clean(name));
    }
    println!("Device id  {}", clean(&account.device_id));
    println!("Issuer     {}", clean(&account.issuer));
    println!(
        "Trust      {}",
        attestation_line(account.attestation.as_ref())
    );
    Ok(())
}
