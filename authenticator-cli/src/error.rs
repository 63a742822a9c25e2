//! What the user reads when a command fails: one line, saying what to do where possible.

use ciba_core::authenticator::AuthenticatorError;

/// A failed command.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<AuthenticatorError> for CliError {
    fn from(e: AuthenticatorError) -> Self {
        let text = match e {
            AuthenticatorError::DeviceRevoked => {
                "the server has revoked this device (or no longer knows it); enroll it again"
                    .to_owned()
            }
            AuthenticatorError::KeyMissing => {
                "the account's key is missing from the keys/ directory; enroll again".to_owned()
            }
            AuthenticatorError::UntrustedServer(why) => {
                format!("the server's certificate was refused, not connecting: {why}")
            }
            AuthenticatorError::Expired => "the request has expired".to_owned(),
            AuthenticatorError::AlreadyDecided => {
                "the request was already decided (perhaps on another device)".to_owned()
            }
            other => other.to_string(),
        };
        Self(text)
    }
}

/// The result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
