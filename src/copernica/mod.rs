//! Copernica REST v3: `POST /imports` (the new id comes back in `X-Created`), `GET /import/{id}`,
//! and the database, collection and field look-ups.
//!
//! The v3 API authenticates with an `access_token` query parameter. The client carries the
//! token ([`AccessToken`]) and a hook appends it to every request, so call sites never see it.

generated_client!("copernica");

use progenitor_client::{ClientHooks, OperationInfo};

use crate::{http, HttpConfig, Secret};

/// Production base URL, API version included.
pub const PRODUCTION_URL: &str = "https://api.copernica.com/v3";

/// The v3 access token, held by the generated client and added to each request's query.
#[derive(Debug, Clone)]
pub struct AccessToken(pub Secret);

impl Client {
    /// A client for `base_url` that adds `access_token=token` to every request.
    pub fn with_token(
        base_url: &str,
        token: &Secret,
        config: &HttpConfig,
    ) -> Result<Self, crate::Error> {
        Ok(Self::new_with_client(
            &http::base_url(base_url)?,
            http::client(config, Default::default())?,
            AccessToken(token.clone()),
        ))
    }
}

impl ClientHooks<AccessToken> for Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        request
            .url_mut()
            .query_pairs_mut()
            .append_pair("access_token", self.inner().0.expose());
        Ok(())
    }
}
