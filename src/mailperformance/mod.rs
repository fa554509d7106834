//! NP6 MailPerformance: bindings (`/importFormats`), imports, the file source and executions.
//!
//! Authentication is the `X-Key` header, added to every request by the client built in
//! [`Client::with_auth`]. The import calls send the vendor's
//! `Accept: application/vnd.mperf.v8.import.v1+json` ([`IMPORT_MEDIA_TYPE`]) by themselves: the
//! spec declares their answers in that media type, and the build step makes the generated
//! client accept it.

generated_client!("mailperformance");

mod fields;
mod import;
pub use import::{binding_name, DuplicateRule, Np6Import, IGNORED_COLUMN, START_AT};

use crate::{http, HttpConfig, Secret};

/// Production base URL (the paths `/imports`, `/importFormats`, `/fields` hang off it).
pub const PRODUCTION_URL: &str = "https://api-cm.np6.com";

/// The media type NP6 requires in `Accept` on the import calls, and answers with. The
/// generated import calls send it.
pub const IMPORT_MEDIA_TYPE: &str = "application/vnd.mperf.v8.import.v1+json";

/// How an NP6 client authenticates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// The account's API key, sent as `X-Key`.
    XKey(Secret),
}

impl Client {
    /// A client for `base_url` that authenticates every request with `auth`.
    pub fn with_auth(
        base_url: &str,
        auth: &Auth,
        config: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let Auth::XKey(key) = auth;
        let (name, value) = http::secret_header("x-key", key.expose(), "X-Key")?;
        let (base, client, inner) = http::client_parts(base_url, config, Some((name, value)))?;
        Ok(Self::new_with_client(&base, client, inner))
    }
}
