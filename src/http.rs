//! The reqwest client every vendor module hands to its generated `Client`, and the hooks all
//! four generated clients run through (retries, Copernica's query token, URL redaction).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::{Error, RetryPolicy, Secret};

/// Connection settings shared by all vendors. Nothing here is hard-coded in the clients:
/// progenitor's own `Client::new` (a fixed 15 s timeout) is never used.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// Accept plain `http://` base URLs (and a discovered Eloqua pod URL) to hosts other than
    /// loopback, which send the credentials in clear. Off by default.
    pub allow_insecure_http: bool,
    /// Certificate authorities trusted besides the system's (a corporate TLS proxy):
    /// see [`HttpConfig::add_ca_file`].
    pub extra_root_certificates: Vec<reqwest::Certificate>,
    /// The largest answer body read, in bytes (default [`MAX_RESPONSE_BYTES`], 64 MiB): a
    /// larger or endless answer fails the request as soon as the limit is passed, so memory
    /// stays bounded whatever a server sends. Error answers keep only their first
    /// 64 KiB for the message.
    pub max_response_bytes: u64,
}

/// The default [`HttpConfig::max_response_bytes`]: 64 MiB, far above the vendors' largest
/// answers (an Eloqua page of 1,000 rejects is well under 1 MiB).
pub const MAX_RESPONSE_BYTES: u64 = 64 << 20;

/// The error of an answer body longer than [`HttpConfig::max_response_bytes`].
#[derive(Debug)]
pub(crate) struct ResponseTooLarge(pub(crate) u64);

impl std::fmt::Display for ResponseTooLarge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the answer is larger than {} bytes, the most that is read of one \
             (HttpConfig::max_response_bytes)",
            self.0
        )
    }
}

impl std::error::Error for ResponseTooLarge {}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(600),
            user_agent: concat!("esp-imports/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
            allow_insecure_http: false,
            extra_root_certificates: Vec::new(),
            max_response_bytes: MAX_RESPONSE_BYTES,
        }
    }
}

impl HttpConfig {
    /// With [`connect_timeout`](Self::connect_timeout) set.
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// With [`request_timeout`](Self::request_timeout) set.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// With [`user_agent`](Self::user_agent) set.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// With [`retry`](Self::retry) set.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// With [`allow_insecure_http`](Self::allow_insecure_http) set.
    #[must_use]
    pub fn with_allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// With [`max_response_bytes`](Self::max_response_bytes) set.
    #[must_use]
    pub fn with_max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Checks a base URL as every constructor does, and drops any trailing slash (the generated
    /// clients append paths that start with `/`): absolute `https`, or `http` to a loopback host
    /// (or anywhere with [`allow_insecure_http`](Self::allow_insecure_http)), without a user, a
    /// password, a query or a fragment (credentials are given apart, never in a URL). The
    /// error's reason starts with the URL as it may be printed: without its user information,
    /// query and fragment.
    pub fn check_url(&self, url: &str) -> Result<String, Error> {
        let shown = shown(url);
        let invalid = |why: String| Error::InvalidConfig {
            setting: "base URL",
            reason: format!("`{shown}`: {why}"),
        };
        let parsed = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "no user or password in the URL, please (credentials come from the environment)"
                    .into(),
            ));
        }
        let loopback = parsed.host_str().is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        match parsed.scheme() {
            "https" => {}
            "http" if loopback || self.allow_insecure_http => {}
            "http" => {
                return Err(invalid(
                    "plain http to a host other than loopback would send the credentials in \
                     clear; use https (or --allow-insecure-http)"
                        .into(),
                ))
            }
            other => return Err(invalid(format!("`{other}` is not http(s)"))),
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "no query string or fragment, please (credentials come from the environment)"
                    .into(),
            ));
        }
        Ok(url.trim_end_matches('/').to_owned())
    }

    /// Trusts the certificate authorities of a PEM file (one or more `BEGIN CERTIFICATE`
    /// blocks; anything else in the file is skipped) besides the system's, for a TLS proxy that
    /// re-signs traffic with its own CA. Returns how many were added. A file that cannot be
    /// read, holds no certificate or a certificate that cannot be a trust anchor is refused.
    pub fn add_ca_file(&mut self, path: &std::path::Path) -> Result<usize, Error> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let pem = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let invalid = |why: String| Error::InvalidConfig {
            setting: "CA certificate file",
            reason: format!("{}: {why}", path.display()),
        };
        let mut roots = rustls::RootCertStore::empty();
        let mut added = Vec::new();
        for (n, der) in CertificateDer::pem_slice_iter(&pem).enumerate() {
            let der = der.map_err(|e| invalid(format!("certificate {}: {e}", n + 1)))?;
            roots
                .add(der.clone())
                .map_err(|e| invalid(format!("certificate {}: {e}", n + 1)))?;
            added.push(reqwest::Certificate::from_der(&der).map_err(Error::Client)?);
        }
        if added.is_empty() {
            return Err(invalid(
                "no PEM certificate in it (-----BEGIN CERTIFICATE-----)".into(),
            ));
        }
        let count = added.len();
        self.extra_root_certificates.extend(added);
        Ok(count)
    }
}

/// A URL as it may be printed: without its query, fragment and user information, where
/// credentials would be (Copernica's `access_token`, `user:password@`).
pub(crate) fn shown(url: &str) -> String {
    let url = url.split(['?', '#']).next().unwrap_or_default();
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://…@{host}{path}"),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

/// A redirect that [`redirect_policy`] does not follow.
#[derive(Debug)]
struct RedirectRefused {
    /// The `Location`, as [`shown`].
    location: String,
    why: String,
}

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to `{}` refused: {}", self.location, self.why)
    }
}

impl std::error::Error for RedirectRefused {}

/// At most this many redirects in a row (reqwest's default).
const MAX_REDIRECTS: usize = 10;

/// Follows a redirect only within the origin (scheme, host and port) of the first request, so
/// that the credentials sent with every request (headers, Copernica's query token, the body)
/// never go anywhere else, and never from https to plain http.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.follow();
        };
        let next = attempt.url();
        let why = if first.scheme() == "https" && next.scheme() != "https" {
            Some(format!("it leaves https for {}", next.scheme()))
        } else if next.origin() != first.origin() {
            Some(format!(
                "it leaves {} (credentials are sent only to the configured host and port)",
                first.origin().ascii_serialization()
            ))
        } else if attempt.previous().len() > MAX_REDIRECTS {
            Some(format!("more than {MAX_REDIRECTS} redirects"))
        } else {
            None
        };
        match why {
            Some(why) => {
                let location = shown(next.as_str());
                attempt.error(RedirectRefused { location, why })
            }
            None => attempt.follow(),
        }
    })
}

/// What every generated client carries besides its reqwest client (progenitor's `inner`).
#[derive(Debug, Clone)]
pub struct Inner {
    pub(crate) retry: RetryPolicy,
    /// A credential sent as a query parameter (Copernica's `access_token`).
    pub(crate) query_secret: Option<(&'static str, Secret)>,
    /// [`HttpConfig::max_response_bytes`].
    pub(crate) max_response_bytes: u64,
}

impl Inner {
    pub(crate) fn new(config: &HttpConfig) -> Self {
        Self {
            retry: config.retry.clone(),
            query_secret: None,
            max_response_bytes: config.max_response_bytes,
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

    /// What [`retry::execute`] (with `self.retry`) gave back, as a generated call may return
    /// it: carrying no query credential (an error, or a response whose `url()` is printed by
    /// progenitor's error `Display`), and a response's body reading at most
    /// `max_response_bytes`. The two are called one after the other by the hooks, not through
    /// an `async fn` of this type: one layer of future less, and the request and the answer
    /// moved once less each (about 150 instructions a call, BENCHMARKS.md section 3).
    pub(crate) fn answer(
        &self,
        result: reqwest::Result<reqwest::Response>,
    ) -> reqwest::Result<reqwest::Response> {
        let result = result.map(|response| limited(response, self.max_response_bytes));
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

/// Writes a path parameter at the end of `url`, percent-encoded exactly as progenitor's
/// `encode_path(&value.to_string())`, without its two intermediate strings: the generated code
/// calls it (rewrite G of `codegen/`). An `i64`, the vendors' ids, is written by `itoa`
/// (digits and a sign: nothing to encode) instead of `Display` (about 190 instructions less).
pub(crate) fn push_path<T: std::fmt::Display + 'static>(url: &mut String, value: &T) {
    use std::fmt::Write as _;
    if let Some(id) = (value as &dyn std::any::Any).downcast_ref::<i64>() {
        url.push_str(itoa::Buffer::new().format(*id));
        return;
    }
    let start = url.len();
    write!(url, "{value}").expect("a String takes any text");
    // `encode_path`'s set: the controls, non-ASCII bytes and ` "#<>?`{}/%`.
    let encoded = |b: &u8| b.is_ascii_control() || !b.is_ascii() || b" \"#<>?`{}/%".contains(b);
    if url.as_bytes()[start..].iter().any(encoded) {
        let value = url.split_off(start);
        url.push_str(&progenitor_client::encode_path(&value));
    }
}

/// The typed answer of a generated call, as progenitor's `ResponseValue::from_response` makes
/// it, but with the answer's headers moved into it instead of copied (about 600 instructions a
/// call, BENCHMARKS.md section 3): the generated code calls it (rewrite H of `codegen/`).
pub(crate) async fn decode<T: serde::de::DeserializeOwned, E>(
    mut response: reqwest::Response,
) -> Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<E>> {
    let status = response.status();
    // The body is read without them.
    let headers = std::mem::take(response.headers_mut());
    let full = response
        .bytes()
        .await
        .map_err(progenitor_client::Error::ResponseBodyError)?;
    let inner = serde_json::from_slice(&full)
        .map_err(|e| progenitor_client::Error::InvalidResponsePayload(full, e))?;
    Ok(progenitor_client::ResponseValue::new(
        inner, status, headers,
    ))
}

/// `response` with a body that fails with [`ResponseTooLarge`] past `max` bytes (the status,
/// headers and extensions, the URL among them, unchanged). Every generated call reads its
/// answer through it, error answers included.
///
/// An answer whose `Content-Length` is within `max` is returned as it is: hyper reads such a
/// body to that length and no further (a shorter body is an error), so it is bounded already,
/// and wrapping it would cost every call about 4,000 instructions (BENCHMARKS.md, section 3).
fn limited(response: reqwest::Response, max: u64) -> reqwest::Response {
    if response
        .content_length()
        .is_some_and(|length| length <= max)
    {
        return response;
    }
    use http_body_util::{BodyExt, LengthLimitError, Limited};
    use reqwest::ResponseBuilderExt;
    let url = response.url().clone();
    let (mut parts, body) = http::Response::from(response).into_parts();
    // The conversion drops the URL: put it back as reqwest keeps it, an extension.
    let carrier = http::Response::builder()
        .url(url)
        .body(())
        .expect("an empty response builds");
    parts.extensions.extend(carrier.into_parts().0.extensions);
    let cap = usize::try_from(max).unwrap_or(usize::MAX);
    let body = Limited::new(body, cap).map_err(move |e| {
        if e.is::<LengthLimitError>() {
            Box::new(ResponseTooLarge(max)) as Box<dyn std::error::Error + Send + Sync>
        } else {
            e
        }
    });
    reqwest::Response::from(http::Response::from_parts(parts, reqwest::Body::wrap(body)))
}

/// Sends the request that `build` makes, retrying it as the client's policy says, for the
/// generated calls whose request can be built again (rewrite I of `codegen/`: no body, or a
/// JSON one): each attempt gets a request of its own from `build`, with the query credential
/// added, so that none is copied in case the first fails (about 1,100 instructions a call,
/// BENCHMARKS.md section 3). The answer goes through [`Inner::answer`], as in the `exec` hook.
pub(crate) async fn execute<C: progenitor_client::ClientInfo<Inner>>(
    client: &C,
    info: &progenitor_client::OperationInfo,
    build: impl Fn() -> reqwest::Result<reqwest::Request>,
) -> reqwest::Result<reqwest::Response> {
    let inner = client.inner();
    let attempt = |_last| {
        let mut request = build();
        if let Ok(request) = &mut request {
            inner.authenticate(request);
        }
        Some(request)
    };
    inner.answer(crate::retry::attempts(client.client(), &inner.retry, info, attempt).await)
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
                progenitor_client::ClientInfo::inner(self).authenticate(request);
                Ok(())
            }

            async fn exec(
                &self,
                request: reqwest::Request,
                info: &progenitor_client::OperationInfo,
            ) -> reqwest::Result<reqwest::Response> {
                let inner = progenitor_client::ClientInfo::inner(self);
                let client = progenitor_client::ClientInfo::client(self);
                inner.answer(crate::retry::execute(client, &inner.retry, request, info).await)
            }
        }
    };
}
pub(crate) use client_hooks;

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
        config.check_url(base)?,
        client(config, headers)?,
        Inner::new(config),
    ))
}

/// Builds the reqwest client with the timeouts and CAs of `config`, the given default headers,
/// the same-origin [`redirect_policy`] and no `Referer` (Copernica's token is in the URL).
fn client(config: &HttpConfig, headers: HeaderMap) -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(config.user_agent.clone())
        .default_headers(headers)
        .redirect(redirect_policy())
        .referer(false)
        .tls_certs_merge(config.extra_root_certificates.iter().cloned())
        .build()
        .map_err(Error::Client)
}

/// Where the thread of a [`streamed_body`] sends the body's pieces.
#[cfg(any(feature = "mailperformance", feature = "copernica"))]
pub(crate) type Pieces = tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>;

/// A request body written by `produce` on a blocking thread, a few pieces ahead of the
/// sending (at most four pieces wait), with a [`crate::Progress::Uploaded`] event of the
/// `total` bytes per piece sent. An error `produce` sends ends the body with it; when the
/// request ends first, `produce`'s sends fail and it should stop.
#[cfg(any(feature = "mailperformance", feature = "copernica"))]
pub(crate) fn streamed_body(
    total: u64,
    progress: Option<crate::ProgressFn>,
    produce: impl FnOnce(Pieces) + Send + 'static,
) -> reqwest::Body {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || produce(tx));
    let pieces = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    body_of(pieces, total, progress)
}

/// A request body of `pieces`, with a [`crate::Progress::Uploaded`] event of the `total` bytes
/// per piece sent.
#[cfg(any(feature = "mailperformance", feature = "copernica"))]
pub(crate) fn body_of(
    pieces: impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
    total: u64,
    progress: Option<crate::ProgressFn>,
) -> reqwest::Body {
    use futures_util::StreamExt as _;
    let mut sent = 0u64;
    let pieces = pieces.map(move |piece| {
        if let (Ok(bytes), Some(progress)) = (&piece, &progress) {
            sent += bytes.len() as u64;
            progress(&crate::Progress::Uploaded { bytes: sent, total });
        }
        piece
    });
    reqwest::Body::wrap_stream(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every byte value and character class, alone and in mixes, as `encode_path` writes them.
    #[test]
    fn path_parameters_are_encoded_as_progenitor_does() {
        let mut values: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        values.extend(
            [
                "",
                "12345",
                "-7",
                "a b/c%d",
                "é",
                "日本",
                "x\u{7f}y",
                "ok_name.csv",
                "{id}",
            ]
            .map(String::from),
        );
        for value in values {
            let mut url = String::from("http://h/x/");
            push_path(&mut url, &value);
            let expected = format!("http://h/x/{}", progenitor_client::encode_path(&value));
            assert_eq!(url, expected, "{value:?}");
        }
        let mut url = String::from("b/");
        push_path(&mut url, &-42i64);
        assert_eq!(url, "b/-42");
    }

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        let config = HttpConfig::default();
        let check = |url| config.check_url(url);
        assert_eq!(
            check("https://api.example.com/v3/").unwrap(),
            "https://api.example.com/v3"
        );
        assert!(check("ftp://example.com").is_err());
        assert!(check("not a url").is_err());
        for secret in [
            "https://api.example.com/v3?access_token=s3cr3t",
            "https://u:s3cr3t@api.example.com/v3",
            "https://api.example.com/v3#s3cr3t",
        ] {
            let err = check(secret).unwrap_err().to_string();
            assert!(!err.contains("s3cr3t"), "{err}");
            assert!(err.contains("api.example.com/v3`"), "{err}");
        }
        assert!(check("http://login.example.com").is_err());
        assert!(check("http://[::1]:8080").is_ok());
        assert!(check("http://127.0.0.2:8080").is_ok());
        assert!(check("http://localhost:8080/x").is_ok());
        let insecure = HttpConfig {
            allow_insecure_http: true,
            ..HttpConfig::default()
        };
        assert!(insecure.check_url("http://login.example.com").is_ok());
        assert!(insecure.check_url("http://u:p@login.example.com").is_err());
    }

    #[test]
    fn every_client_gets_the_same_url_check() {
        let config = HttpConfig::default();
        let e = client_parts("http://api.example.com", &config, None).unwrap_err();
        assert!(e.to_string().contains("plain http"), "{e}");
        assert!(client_parts("http://127.0.0.1:9/v3/", &config, None).is_ok());
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            shown("https://api.copernica.com/v3?access_token=abc"),
            "https://api.copernica.com/v3"
        );
        assert_eq!(
            shown("http://Co\\user:pw@127.0.0.1:9/api?x#y"),
            "http://…@127.0.0.1:9/api"
        );
        assert_eq!(shown("not a url"), "not a url");
    }

    #[test]
    fn ca_files_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = HttpConfig::default();
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            config.add_ca_file(&missing),
            Err(Error::Io { .. })
        ));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = config.add_ca_file(&empty).unwrap_err().to_string();
        assert!(e.contains("no PEM certificate"), "{e}");
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(
            &garbage,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = config.add_ca_file(&garbage).unwrap_err().to_string();
        assert!(e.contains("certificate 1"), "{e}");
        assert!(config.extra_root_certificates.is_empty());
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
            max_response_bytes: MAX_RESPONSE_BYTES,
        };
        let url =
            reqwest::Url::parse("https://x.test/v3/import/5?start=0&access_token=s3cr3t").unwrap();
        let redacted = inner.redact(&url).unwrap().to_string();
        assert!(!redacted.contains("s3cr3t"), "{redacted}");
        assert!(redacted.contains("start=0"), "{redacted}");
    }
}
