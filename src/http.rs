//! The reqwest client every vendor module hands to its generated `Client`.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{Error, Secret};

/// Connection settings shared by all vendors. Nothing here is hard-coded in the clients:
/// progenitor's own `Client::new` (a fixed 15 s timeout) is never used.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Time allowed to open a connection.
    pub connect_timeout: Duration,
    /// Time allowed for one whole request, upload and answer included. Large uploads need a
    /// generous value.
    pub request_timeout: Duration,
    /// The `User-Agent` sent to vendors.
    pub user_agent: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            user_agent: concat!("esp-imports/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

/// Checks a base URL (absolute http(s), no query) and drops any trailing slash, since the
/// generated clients append paths that start with `/`.
pub(crate) fn base_url(url: &str) -> Result<String, Error> {
    let invalid = |reason: String| Error::InvalidConfig {
        setting: "base URL",
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(format!("`{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(format!("`{url}` is not an http(s) URL")));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(invalid(format!(
            "`{}` must not carry a query or fragment",
            parsed.origin().ascii_serialization()
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// A header whose value is a credential: marked sensitive, so reqwest and hyper keep it out of
/// their `Debug` output.
pub(crate) fn secret_header(
    name: &'static str,
    value: &str,
    setting: &'static str,
) -> Result<(HeaderName, HeaderValue), Error> {
    let mut value = HeaderValue::from_str(value).map_err(|_| Error::InvalidConfig {
        setting,
        reason: "contains characters that cannot be sent in an HTTP header".into(),
    })?;
    value.set_sensitive(true);
    Ok((HeaderName::from_static(name), value))
}

/// `Authorization: Bearer …`, marked sensitive.
pub(crate) fn bearer(
    token: &Secret,
    setting: &'static str,
) -> Result<(HeaderName, HeaderValue), Error> {
    secret_header(
        "authorization",
        &format!("Bearer {}", token.expose()),
        setting,
    )
}

/// Builds the reqwest client with the timeouts of `config` and the given default headers.
pub(crate) fn client(config: &HttpConfig, headers: HeaderMap) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(config.user_agent.clone())
        .default_headers(headers)
        .build()
        .map_err(Error::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_checked_and_trimmed() {
        assert_eq!(
            base_url("https://api.example.com/v3/").unwrap(),
            "https://api.example.com/v3"
        );
        assert!(base_url("ftp://example.com").is_err());
        assert!(base_url("not a url").is_err());
        let err = base_url("https://api.example.com/v3?access_token=s3cr3t").unwrap_err();
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn secret_headers_are_sensitive() {
        let (_, value) = bearer(&Secret::new("tok"), "token").unwrap();
        assert!(value.is_sensitive());
        assert!(secret_header("x-key", "bad\nvalue", "key").is_err());
    }
}
