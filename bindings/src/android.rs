//! Android only: hands the app's `Context` to `rustls-platform-verifier`, which checks server
//! certificates through Android's own trust manager and cannot do so without it (it panics).
//!
//! The AAR ships `CibaAndroid` (bindings/android/), whose `init(context)` lands here; the app
//! calls it once, in `Application.onCreate`, before building an `Authenticator`.

use std::sync::atomic::{AtomicBool, Ordering};

use jni::EnvUnowned;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject};

use crate::config::AuthenticatorConfig;
use crate::error::AuthenticatorError;

/// Whether `CibaAndroid.init` succeeded in this process.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// `org.openciba.authenticator.CibaAndroid.nativeInit(Context)` (bindings/android/), called by
/// `CibaAndroid.init`; throws a `RuntimeException` on failure.
#[jni::jni_mangle("org.openciba.authenticator.CibaAndroid")]
pub fn native_init<'caller>(
    mut unowned_env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) {
    unowned_env
        .with_env(|env| -> jni::errors::Result<()> {
            rustls_platform_verifier::android::init_with_env(env, context)?;
            INITIALISED.store(true, Ordering::SeqCst);
            Ok(())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// Refuses to build an authenticator whose first TLS connection would panic.
pub(crate) fn check_initialised(config: &AuthenticatorConfig) -> Result<(), AuthenticatorError> {
    if config.trust_system_roots && !INITIALISED.load(Ordering::SeqCst) {
        return Err(AuthenticatorError::InvalidInput {
            details: "call CibaAndroid.init(context) once before building an Authenticator".into(),
        });
    }
    Ok(())
}
