//! What the device says about itself, and how it is woken up.

use ciba_core::protocol;

/// The platform of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Platform {
    /// Android.
    Android,
    /// iOS / iPadOS.
    Ios,
    /// Anything else (tests, desktop).
    Other,
}

/// What the device says about itself at enrollment; the bank shows it in its list of the
/// user's devices.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInfo {
    /// A name the user recognises ("Mark's Pixel 8").
    pub display_name: String,
    /// The platform.
    pub platform: Platform,
    /// The hardware model.
    #[uniffi(default = None)]
    pub model: Option<String>,
    /// The OS version.
    #[uniffi(default = None)]
    pub os_version: Option<String>,
    /// The embedding app's version.
    #[uniffi(default = None)]
    pub app_version: Option<String>,
    /// The SDK's version (`sdk_version`).
    #[uniffi(default = None)]
    pub sdk_version: Option<String>,
}

/// The push channel a device registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushProvider {
    /// Firebase Cloud Messaging (Android).
    Fcm,
    /// Apple Push Notification service (iOS).
    Apns,
    /// No push: the app only polls (`Authenticator.pending`).
    None,
}

/// The APNs environment of a push token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PushEnvironment {
    /// Production APNs / FCM.
    Production,
    /// The APNs sandbox (development builds).
    Sandbox,
}

/// A device's push registration.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PushRegistration {
    /// The provider, or `None` when the device only polls.
    pub provider: PushProvider,
    /// The provider's token for this app install (absent for `None`).
    #[uniffi(default = None)]
    pub token: Option<String>,
    /// The environment of the token (APNs); production for FCM.
    pub environment: PushEnvironment,
}

impl From<Platform> for protocol::Platform {
    fn from(p: Platform) -> Self {
        match p {
            Platform::Android => Self::Android,
            Platform::Ios => Self::Ios,
            Platform::Other => Self::Other,
        }
    }
}

impl From<DeviceInfo> for protocol::DeviceInfo {
    fn from(d: DeviceInfo) -> Self {
        Self {
            display_name: d.display_name,
            platform: d.platform.into(),
            model: d.model,
            os_version: d.os_version,
            app_version: d.app_version,
            sdk_version: d.sdk_version,
        }
    }
}

impl From<PushProvider> for protocol::PushProvider {
    fn from(p: PushProvider) -> Self {
        match p {
            PushProvider::Fcm => Self::Fcm,
            PushProvider::Apns => Self::Apns,
            PushProvider::None => Self::None,
        }
    }
}

impl From<protocol::PushProvider> for PushProvider {
    fn from(p: protocol::PushProvider) -> Self {
        match p {
            protocol::PushProvider::Fcm => Self::Fcm,
            protocol::PushProvider::Apns => Self::Apns,
            protocol::PushProvider::None => Self::None,
        }
    }
}

impl From<PushEnvironment> for protocol::PushEnvironment {
    fn from(e: PushEnvironment) -> Self {
        match e {
            PushEnvironment::Production => Self::Production,
            PushEnvironment::Sandbox => Self::Sandbox,
        }
    }
}

impl From<protocol::PushEnvironment> for PushEnvironment {
    fn from(e: protocol::PushEnvironment) -> Self {
        match e {
            protocol::PushEnvironment::Production => Self::Production,
            protocol::PushEnvironment::Sandbox => Self::Sandbox,
        }
    }
}

impl From<PushRegistration> for protocol::PushRegistration {
    fn from(p: PushRegistration) -> Self {
        Self {
            provider: p.provider.into(),
            token: p.token,
            environment: p.environment.into(),
        }
    }
}

impl From<protocol::PushRegistration> for PushRegistration {
    fn from(p: protocol::PushRegistration) -> Self {
        Self {
            provider: p.provider.into(),
            token: p.token,
            environment: p.environment.into(),
        }
    }
}
