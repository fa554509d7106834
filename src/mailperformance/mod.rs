//! NP6 MailPerformance: bindings (`/importFormats`), imports, the file source and executions.
//!
//! Authentication is the `X-Key` header, added to every request by the client built in
//! [`Client::with_key`]. The import calls also take the vendor's
//! `Accept: application/vnd.mperf.v8.import.v1+json` as a typed argument (see [`ACCEPT`]).

generated_client!("mailperformance");

mod import;
pub use import::{binding_name, DuplicateRule, Np6Import, IGNORED_COLUMN, START_AT};

use crate::{http, HttpConfig, Secret};

/// Production base URL (the paths `/imports`, `/importFormats`, `/fields` hang off it).
pub const PRODUCTION_URL: &str = "https://api-cm.np6.com";

/// The media type NP6 requires in `Accept` on the import calls, and answers with.
pub const ACCEPT: types::ImportMediaType =
    types::ImportMediaType::ApplicationVndMperfV8ImportV1Json;

impl Client {
    /// A client for `base_url` that sends `X-Key: key` on every request.
    pub fn with_key(
        base_url: &str,
        key: &Secret,
        config: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let (name, value) = http::secret_header("x-key", key.expose(), "X-Key")?;
        let (base, client, inner) = http::client_parts(base_url, config, Some((name, value)))?;
        Ok(Self::new_with_client(&base, client, inner))
    }
}
