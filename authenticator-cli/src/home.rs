//! The authenticator's home directory: `accounts.json` and `keys/`.

use std::path::Path;
use std::sync::Arc;

use ciba_core::authenticator::{
    Authenticator, AuthenticatorConfig, FileAccountStore, SoftwareKeyStore,
};
use ciba_core::clock::{SharedClock, SystemClock};

use crate::error::{CliError, CliResult};

/// Opens the SDK over the stores in `home` (created on first use) with the system clock.
pub fn open(home: &Path) -> CliResult<(Authenticator, SharedClock)> {
    let accounts = FileAccountStore::open(home.join("accounts.json"))
        .map_err(|e| CliError(format!("cannot read accounts: {e}")))?;
    let keys = SoftwareKeyStore::open(home.join("keys"))
        .map_err(|e| CliError(format!("cannot open the key directory: {e}")))?;
    let clock: SharedClock = Arc::new(SystemClock);
    let config = AuthenticatorConfig {
        user_agent: format!("ciba-authenticator/{}", env!("CARGO_PKG_VERSION")),
        ..AuthenticatorConfig::default()
    };
    let authenticator =
        Authenticator::new(Arc::new(accounts), Arc::new(keys), clock.clone(), config)?;
    Ok((authenticator, clock))
}
