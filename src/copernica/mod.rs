//! Copernica REST v3: `POST /imports` (the new id comes back in `X-Created`), `GET /import/{id}`,
//! and the database, collection and field look-ups.
//!
//! The v3 API authenticates with an `access_token` query parameter. The client carries the
//! token and a hook appends it to every request, so call sites never see it; URLs in the
//! errors and responses the client hands back have it replaced by `[redacted]`.

generated_client!("copernica");

mod import;
mod lookups;
pub use import::CopernicaImport;

use crate::{http, HttpConfig, Secret};

/// Production base URL, API version included.
pub const PRODUCTION_URL: &str = "https://api.copernica.com/v3";

/// Whether an error answer rejects the credentials although its status is not 401/403:
/// Copernica answers a bad token with 400 "Invalid access token".
pub(crate) fn rejects_credentials(error: &crate::ApiError) -> bool {
    error.status == 400
        && error
            .message
            .as_deref()
            .is_some_and(|m| m.contains("access token"))
}

/// How a Copernica client authenticates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// The `access_token` query parameter of every request.
    AccessToken(Secret),
}

impl Client {
    /// A client for `base_url` that authenticates every request with `auth` (the token is
    /// added to the query by the client, and redacted from the URLs it hands back).
    pub fn with_auth(
        base_url: &str,
        auth: &Auth,
        config: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let Auth::AccessToken(token) = auth;
        let (base, client, mut inner) = http::client_parts(base_url, config, None)?;
        inner.query_secret = Some(("access_token", token.clone()));
        Ok(Self::new_with_client(&base, client, inner))
    }
}
