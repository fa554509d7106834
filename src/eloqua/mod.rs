//! Oracle Eloqua Bulk API 2.0: contact import definitions, staged data, syncs with their logs
//! and rejects, contact fields, and the `login.eloqua.com/id` pod discovery.

generated_client!("eloqua");

mod fields;
mod import;
pub(crate) use import::sync_id;
pub use import::{field_statement, Checked, EloquaImport, MAX_CHUNK, MAX_FIELDS};

use base64::Engine as _;

use crate::{http, HttpConfig, Secret};

/// Where the pod discovery call `GET /id` lives: a [`Client`] built on this URL can call
/// `get_login_id()`, whose `urls.base` plus [`BULK_PATH`] is the base URL for everything else.
pub const LOGIN_URL: &str = "https://login.eloqua.com";

/// The path of the Bulk API 2.0 below a pod's base URL.
pub const BULK_PATH: &str = "/api/bulk/2.0";

/// How an Eloqua client authenticates.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Auth {
    /// HTTP Basic with the user `Company\User`.
    Basic {
        /// The Eloqua site (company) name.
        company: String,
        /// The user name within the site.
        username: String,
        /// The user's password.
        password: Secret,
    },
    /// An OAuth2 access token.
    Bearer(Secret),
}

impl Client {
    /// A client for `base_url` (a pod's `…/api/bulk/2.0`, or [`LOGIN_URL`] for discovery) that
    /// authenticates every request with `auth`.
    pub fn with_auth(
        base_url: &str,
        auth: &Auth,
        config: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        let (name, value) = match auth {
            Auth::Basic {
                company,
                username,
                password,
            } => {
                let user = format!("{company}\\{username}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(user);
                http::secret_header(
                    "authorization",
                    &format!("Basic {encoded}"),
                    "Eloqua credentials",
                )?
            }
            Auth::Bearer(token) => http::bearer(token, "Eloqua token")?,
        };
        let (base, client, inner) = http::client_parts(base_url, config, Some((name, value)))?;
        Ok(Self::new_with_client(&base, client, inner))
    }
}
