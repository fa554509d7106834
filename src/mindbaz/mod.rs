//! Mindbaz API V1: `imports/scheduleNow` for a file already on the Mindbaz SFTP, and the
//! import's state and log. Every answer comes in the `{success, data, error, typeName}` envelope.
//! [`Client::import`] also puts the file on the SFTP ([`SftpConfig`]).

generated_client!("mindbaz");

mod fields;
mod import;
mod sftp;
pub use import::{MindbazImport, CODEPAGE_UTF8};
pub use sftp::{SftpAuth, SftpConfig};

use crate::{http, HttpConfig, Secret};

/// Production base URL (the paths start with `/api/{idsite}`).
pub const PRODUCTION_URL: &str = "https://api.mindbaz.com";

/// How a Mindbaz client authenticates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// `Authorization: Bearer <JWT>` from the password grant on `sso.mindbaz.com`.
    Bearer(Secret),
    /// `X-API-KEY: <key>`, created on my.mindbaz.com.
    ApiKey(Secret),
}

impl Client {
    /// A client for `base_url` that authenticates every request with `auth`.
    pub fn with_auth(
        base_url: &str,
        auth: &Auth,
        config: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let (name, value) = match auth {
            Auth::Bearer(token) => http::bearer(token, "Mindbaz token")?,
            Auth::ApiKey(key) => http::secret_header("x-api-key", key.expose(), "Mindbaz API key")?,
        };
        let (base, client, inner) = http::client_parts(base_url, config, Some((name, value)))?;
        Ok(Self::new_with_client(&base, client, inner))
    }
}
