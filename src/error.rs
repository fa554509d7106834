//! The crate's error type.

use std::fmt;

/// What went wrong, in words a person can act on. Never carries a credential.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting given to a constructor cannot be used (bad base URL, a credential that cannot
    /// be sent as an HTTP header, …). Nothing was sent.
    InvalidConfig {
        /// Which setting.
        setting: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend, system configuration).
    Client(reqwest::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidConfig { setting, reason } => write!(f, "invalid {setting}: {reason}"),
            Error::Client(e) => write!(f, "cannot build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Client(e) => Some(e),
            Error::InvalidConfig { .. } => None,
        }
    }
}
