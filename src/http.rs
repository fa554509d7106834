//! The reqwest client every vendor module hands to its generated `Client`, and the hooks all
//! four generated clients run through (retries, Copernica's query token, URL redaction).

use std::time::Duration;

use progenitor_client::OperationInfo;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{retry, Error, RetryPolicy, Secret};

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
    /// When to send a failed request again.
    pub retry: RetryPolicy,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            user_agent: concat!("esp-imports/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
        }
    }
}

/// What every generated client carries besides its reqwest client (progenitor's `inner`).
#[derive(Debug, Clone)]
pub struct Inner {
    pub(crate) retry: RetryPolicy,
    /// A credential sent as a query parameter (Copernica's `access_token`).
    pub(crate) query_secret: Option<(&'static str, Secret)>,
}

impl Inner {
    pub(crate) fn new(config: &HttpConfig) -> Self {
        Self {
            retry: config.retry.clone(),
            query_secret: None,
        }
    }

    /// Adds the query credential, if any, to an outgoing request.
    pub(crate) fn authenticate(&self, request: &mut reqwest::Request) {
        if let Some((name, secret)) = &self.query_secret {
            request
                .url_mut()
                .query_pairs_mut()
                .append_pair(name, secret.expose());
        }
    }

    /// `url` with the query credential's value replaced by `[redacted]`.
    fn redact(&self, url: &reqwest::Url) -> Option<reqwest::Url> {
        let (name, _) = self.query_secret.as_ref()?;
        let mut redacted = url.clone();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == *name {
                    "[redacted]".into()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        redacted.query_pairs_mut().clear().extend_pairs(pairs);
        Some(redacted)
    }

    /// Sends the request with retries; whatever comes back (an error, or a response whose
    /// `url()` is printed by progenitor's error `Display`) carries no query credential.
    pub(crate) async fn execute(
        &self,
        client: &reqwest::Client,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let result = retry::execute(client, &self.retry, request, info).await;
        if self.query_secret.is_none() {
            return result;
        }
        match result {
            Err(e) => {
                let url = e.url().and_then(|u| self.redact(u));
                Err(match url {
                    Some(url) => e.with_url(url),
                    None => e.without_url(),
                })
            }
            Ok(response) => {
                let Some(url) = self.redact(response.url()) else {
                    return Ok(response);
                };
                let response = http::Response::from(response);
                let (parts, body) = response.into_parts();
                let mut rebuilt = http::Response::from_parts(parts, body);
                // Rebuild with the redacted URL (reqwest keeps it as a response extension).
                let builder = {
                    use reqwest::ResponseBuilderExt;
                    http::Response::builder().url(url)
                };
                let carrier = builder.body(()).expect("an empty response builds");
                rebuilt
                    .extensions_mut()
                    .extend(carrier.into_parts().0.extensions);
                Ok(reqwest::Response::from(rebuilt))
            }
        }
    }
}

/// Implements progenitor's hooks for a generated `Client` whose inner type is [`Inner`]:
/// the query credential goes on in `pre`, retries and redaction happen in `exec`.
macro_rules! client_hooks {
    () => {
        impl progenitor_client::ClientHooks<crate::http::Inner> for Client {
            async fn pre<E>(
                &self,
                request: &mut reqwest::Request,
                _info: &progenitor_client::OperationInfo,
            ) -> ::std::result::Result<(), progenitor_client::Error<E>> {
                self.inner().authenticate(request);
                Ok(())
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                info: &progenitor_client::OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                self.inner().execute(self.client(), request, info).await
            }
        }
    };
}
pub(crate) use client_hooks;

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

#[cfg(any(feature = "mailperformance", feature = "mindbaz", feature = "eloqua"))]
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
#[cfg(any(feature = "mindbaz", feature = "eloqua"))]
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

/// What a generated client's `new_with_client` takes: the checked base URL, the reqwest client
/// (sending `auth` on every request, if given) and the hooks' state.
pub(crate) fn client_parts(
    base: &str,
    config: &HttpConfig,
    auth: Option<(HeaderName, HeaderValue)>,
) -> Result<(String, reqwest::Client, Inner), Error> {
    let mut headers = HeaderMap::new();
    if let Some((name, value)) = auth {
        headers.insert(name, value);
    }
    Ok((
        base_url(base)?,
        client(config, headers)?,
        Inner::new(config),
    ))
}

/// Builds the reqwest client with the timeouts of `config` and the given default headers.
fn client(config: &HttpConfig, headers: HeaderMap) -> Result<reqwest::Client, Error> {
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
    #[cfg(any(feature = "mindbaz", feature = "eloqua"))]
    fn secret_headers_are_sensitive() {
        let (_, value) = bearer(&Secret::new("tok"), "token").unwrap();
        assert!(value.is_sensitive());
        assert!(secret_header("x-key", "bad\nvalue", "key").is_err());
    }

    #[test]
    fn query_credentials_are_redacted() {
        let inner = Inner {
            retry: RetryPolicy::never(),
            query_secret: Some(("access_token", Secret::new("s3cr3t"))),
        };
        let url =
            reqwest::Url::parse("https://x.test/v3/import/5?start=0&access_token=s3cr3t").unwrap();
        let redacted = inner.redact(&url).unwrap().to_string();
        assert!(!redacted.contains("s3cr3t"), "{redacted}");
        assert!(redacted.contains("start=0"), "{redacted}");
    }
}
