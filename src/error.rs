//! The crate's error type, and the conversion from progenitor's.

use std::{fmt, future::Future, path::PathBuf, time::Duration};

use progenitor_client::ResponseValue;
use serde::de::DeserializeOwned;

use crate::Vendor;

/// What went wrong, in words a person can act on. Never carries a credential: URLs are
/// dropped from transport errors (Copernica puts its token in the query) and request headers
/// are never kept.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A setting cannot be used (bad base URL, a credential that cannot be sent as an HTTP
    /// header, …). Nothing was sent.
    InvalidConfig {
        /// Which setting.
        setting: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// The input file cannot be imported as it is. Nothing was sent, unless it is the cause of
    /// an [`Error::Interrupted`]: the file changed after it was checked
    /// ([`CsvFile::unchanged`](crate::CsvFile::unchanged)), and nothing more of it was sent.
    InvalidInput(InputError),
    /// The vendor refused the credentials (401, 403).
    AuthRejected(ApiError),
    /// The vendor answered with an error status.
    Api(ApiError),
    /// No answer: connection refused or lost, TLS failure, after any retries.
    Transport {
        /// The vendor.
        vendor: Vendor,
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// reqwest's error, its URL removed.
        source: reqwest::Error,
    },
    /// A request, or the whole import, took longer than allowed.
    Timeout {
        /// The vendor.
        vendor: Vendor,
        /// What was waited for.
        what: String,
        /// The limit that was reached (`None`: the per-request timeout of the `HttpConfig`).
        after: Option<Duration>,
    },
    /// The vendor answered 2xx with a body that does not match the spec.
    Decode {
        /// The vendor.
        vendor: Vendor,
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// Where in the JSON the mismatch is (`data.importState`), `.` for the top.
        path: String,
        /// serde's reason.
        reason: String,
        /// The start of the body.
        excerpt: String,
    },
    /// Reading a local file failed.
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Moving the file to the vendor's SFTP server failed.
    Sftp {
        /// What was being done (connect, authenticate, upload …).
        step: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The HTTP client could not be built (TLS backend, system configuration).
    Client(reqwest::Error),
    /// The import was cancelled ([`crate::ImportOptions::cancel`]: Ctrl-C, SIGTERM) and
    /// stopped sending. Inside an [`Error::Interrupted`] when something exists at the vendor.
    Cancelled {
        /// The vendor.
        vendor: Vendor,
    },
    /// A request that creates something got no answer (timeout, connection lost, 408/502/504)
    /// and the vendor has no way to look for what it may have created (no list endpoint), so
    /// it was not sent again: check at the vendor before running the import again.
    MaybeCreated {
        /// The vendor.
        vendor: Vendor,
        /// The operation (the spec's operationId).
        operation: &'static str,
        /// What may now exist at the vendor, and where to look for it.
        what: String,
        /// Why no answer came.
        source: Box<Error>,
    },
    /// The import stopped half-way, after something was created at the vendor (an import, a
    /// definition, a sync): `state` says what exists there and whether rows may be imported,
    /// so that nothing is silently lost. [`Error::cause`] is what stopped it. An error of an
    /// import that is none of these, nor [`Error::MaybeCreated`], left nothing at the vendor.
    Interrupted {
        /// The vendor.
        vendor: Vendor,
        /// The vendor's id of what exists (import id, Eloqua definition or sync URI); empty
        /// when no import exists but something else does (a file on the Mindbaz SFTP).
        import_id: String,
        /// Where the import stands at the vendor, in words.
        state: String,
        /// What stopped it.
        source: Box<Error>,
    },
}

/// A reqwest error and its causes, as `error sending request: … : invalid peer certificate:
/// UnknownIssuer`: reqwest's own message says nothing of the cause. Messages already said by
/// the one before are left out; so is any URL (it may carry Copernica's token).
struct Chain<'a>(&'a reqwest::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut said: Vec<String> = Vec::new();
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(self.0);
        while let Some(e) = next {
            let text = match e.downcast_ref::<reqwest::Error>() {
                Some(r) => match r.url() {
                    Some(url) => r.to_string().replace(&format!(" for url ({url})"), ""),
                    None => r.to_string(),
                },
                None => e.to_string(),
            };
            if !said.iter().any(|s| s.contains(&text)) {
                if !said.is_empty() {
                    f.write_str(": ")?;
                }
                f.write_str(&text)?;
                said.push(text);
            }
            next = cause(e);
        }
        Ok(())
    }
}

/// The [`ResponseTooLarge`](crate::http::ResponseTooLarge) among the causes of `e`, if any: the
/// answer came, and was not read past the limit.
fn too_large(e: &reqwest::Error) -> Option<&crate::http::ResponseTooLarge> {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = next {
        if let Some(limit) = e.downcast_ref() {
            return Some(limit);
        }
        next = cause(e);
    }
    None
}

/// The next cause of `e`: `source()`, or for an `io::Error` that wraps another error the
/// wrapped error itself (its `source()` skips it).
fn cause<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        if let Some(inner) = io.get_ref() {
            return Some(inner);
        }
    }
    e.source()
}

/// Whether the client itself stopped a request, and would again: the TLS handshake failed
/// (certificate not trusted, protocol mismatch: rustls said no), or a redirect left the
/// configured origin. Such errors are not retried.
pub(crate) fn refused(e: &reqwest::Error) -> bool {
    if e.is_redirect() {
        return true;
    }
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(e) = next {
        if e.is::<rustls::Error>() {
            return true;
        }
        next = cause(e);
    }
    false
}

/// An error answer from a vendor.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The vendor.
    pub vendor: Vendor,
    /// The operation (the spec's operationId).
    pub operation: &'static str,
    /// HTTP status code.
    pub status: u16,
    /// The vendor's error code, when its body has one.
    pub code: Option<String>,
    /// The vendor's message, when its body has one.
    pub message: Option<String>,
    /// The request id to quote to the vendor's support (NP6 `x-request-id`).
    pub request_id: Option<String>,
    /// The start of the body, as text (an HTML error page stays an excerpt).
    pub body_excerpt: String,
}

/// A problem in the input file, found before anything is sent.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InputError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line of the file (the header is line 1), when one row is at fault.
    pub row: Option<u64>,
    /// The column, when one column is at fault.
    pub column: Option<String>,
    /// What is wrong.
    pub reason: String,
}

/// Whether a vendor's error answer says nothing: no message, no code, no body.
fn unexplained(e: &ApiError) -> bool {
    e.message.is_none() && e.code.is_none() && e.body_excerpt.trim().is_empty()
}

/// How much of a body an error keeps.
const EXCERPT_CHARS: usize = 300;

fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

impl fmt::Display for Error {
    /// What went wrong at this level; the cause, when there is one, is
    /// [`source`](std::error::Error::source), and [`Error::report`] writes both on one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Cancelled { vendor } => {
                write!(f, "interrupted: the {vendor} import stopped sending")
            }
            Error::InvalidConfig { setting, reason } => write!(f, "invalid {setting}: {reason}"),
            Error::InvalidInput(e) => e.fmt(f),
            Error::AuthRejected(e) => write!(f, "credentials rejected: {e}"),
            Error::Api(e) => e.fmt(f),
            Error::Transport {
                vendor,
                operation,
                source,
            } => {
                let what = match Failure::of(source) {
                    Failure::Redirect => "redirect refused",
                    Failure::TooLarge(_) => "answer too large",
                    Failure::NoAnswer => "no answer",
                };
                write!(f, "{vendor} {operation}: {what}")
            }
            Error::Timeout {
                vendor,
                what,
                after,
            } => match after {
                Some(after) => write!(f, "{vendor}: {what} took longer than {after:?}"),
                None => write!(
                    f,
                    "{vendor}: {what} got no answer within the request timeout"
                ),
            },
            Error::Decode {
                vendor,
                operation,
                path,
                reason,
                excerpt,
            } => write!(
                f,
                "{vendor} {operation}: unexpected answer at `{path}`: {reason} (body: {excerpt})"
            ),
            Error::Io { path, .. } => write!(f, "cannot read {}", path.display()),
            Error::Sftp { step, reason } => write!(f, "SFTP {step} failed: {reason}"),
            Error::Client(_) => f.write_str("cannot build the HTTP client"),
            Error::MaybeCreated {
                vendor,
                operation,
                what,
                ..
            } => write!(
                f,
                "{vendor} {operation}: the answer was lost; {what} may have been created, so \
                 the request was not sent again: check before importing again"
            ),
            Error::Interrupted {
                vendor,
                import_id,
                state,
                ..
            } if import_id.is_empty() => write!(f, "{vendor}: {state}"),
            Error::Interrupted {
                vendor,
                import_id,
                state,
                ..
            } => write!(f, "{vendor} import {import_id}: {state}"),
        }
    }
}

/// What a [`Error::Transport`] came to.
enum Failure<'a> {
    /// A redirect the client refused (it leaves the origin).
    Redirect,
    /// An answer past [`HttpConfig::max_response_bytes`](crate::HttpConfig::max_response_bytes).
    TooLarge(&'a crate::http::ResponseTooLarge),
    /// No answer at all.
    NoAnswer,
}

impl<'a> Failure<'a> {
    fn of(e: &'a reqwest::Error) -> Self {
        if e.is_redirect() {
            return Failure::Redirect;
        }
        too_large(e).map_or(Failure::NoAnswer, Failure::TooLarge)
    }
}

/// An [`Error`] with its causes, on one line: see [`Error::report`].
#[derive(Debug)]
pub struct Report<'a>(&'a Error);

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Error::Transport {
                vendor,
                operation,
                source,
            } => match Failure::of(source) {
                Failure::Redirect => write!(f, "{vendor} {operation}: {}", Chain(source)),
                Failure::TooLarge(limit) => write!(f, "{vendor} {operation}: {limit}"),
                Failure::NoAnswer => {
                    write!(f, "{vendor} {operation}: no answer: {}", Chain(source))
                }
            },
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::Client(e) => write!(f, "cannot build the HTTP client: {}", Chain(e)),
            Error::MaybeCreated {
                vendor,
                operation,
                what,
                source,
            } => write!(
                f,
                "{vendor} {operation}: the answer was lost ({}); {what} may have been created, \
                 so the request was not sent again: check before importing again",
                source.report()
            ),
            Error::Interrupted { source, .. } => write!(f, "{}; {}", source.report(), self.0),
            other => other.fmt(f),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = reqwest::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        write!(
            f,
            "{} {}: HTTP {} {reason}",
            self.vendor, self.operation, self.status
        )?;
        match (&self.message, &self.code) {
            (Some(message), Some(code)) => write!(f, ": {message} ({code})")?,
            (Some(message), None) => write!(f, ": {message}")?,
            (None, Some(code)) => write!(f, ": {code}")?,
            (None, None) if !self.body_excerpt.is_empty() => write!(f, ": {}", self.body_excerpt)?,
            (None, None) => {}
        }
        if let Some(id) = &self.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(row) = self.row {
            write!(f, ", line {row}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column `{column}`")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Transport { source, .. } | Error::Client(source) => Some(source),
            Error::Io { source, .. } => Some(source),
            Error::MaybeCreated { source, .. } | Error::Interrupted { source, .. } => {
                Some(source.as_ref())
            }
            Error::InvalidConfig { .. }
            | Error::InvalidInput(_)
            | Error::AuthRejected(_)
            | Error::Api(_)
            | Error::Timeout { .. }
            | Error::Decode { .. }
            | Error::Sftp { .. }
            | Error::Cancelled { .. } => None,
        }
    }
}

impl Error {
    /// The whole error on one line, its causes included (`Display` writes only this level,
    /// [`source`](std::error::Error::source) gives the cause): what the command line prints.
    /// Repeated messages and URLs are left out (a URL may carry Copernica's token).
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    /// True when a request that creates something may have been processed although no
    /// readable answer came back (timeout, connection lost, 408/502/504, a 2xx whose body
    /// does not decode): check the vendor's state before sending it again.
    pub fn maybe_processed(&self) -> bool {
        match self {
            Error::Timeout { .. } | Error::MaybeCreated { .. } | Error::Decode { .. } => true,
            Error::Transport { source, .. } => !source.is_connect() && !refused(source),
            Error::Api(api) => matches!(api.status, 408 | 502 | 503 | 504),
            Error::Interrupted { source, .. } => source.maybe_processed(),
            _ => false,
        }
    }

    /// This error, as [`Error::MaybeCreated`] (`what` by `operation`) when it
    /// [may have been processed](Error::maybe_processed): for a create sent once.
    pub(crate) fn or_maybe_created(
        self,
        vendor: crate::Vendor,
        operation: &'static str,
        what: impl FnOnce() -> String,
    ) -> Error {
        if !self.maybe_processed() || matches!(self, Error::MaybeCreated { .. }) {
            return self;
        }
        Error::MaybeCreated {
            vendor,
            operation,
            what: what(),
            source: Box::new(self),
        }
    }

    /// Whether this is the vendor refusing the request itself: a 4xx other than 401/403
    /// (credentials), 408 and 429 (timing).
    pub fn is_refusal(&self) -> bool {
        matches!(self.cause(), Error::Api(e) if (400..500).contains(&e.status) && !matches!(e.status, 408 | 429))
    }

    /// A refusal the vendor gave no reason for (an empty 4xx body) says what was sent that it
    /// could refuse, and how to list the valid values: `sent()` tells.
    pub(crate) fn or_refused(self, sent: impl FnOnce() -> String) -> Error {
        if !self.is_refusal() {
            return self;
        }
        match self {
            Error::Api(mut e) if unexplained(&e) => {
                e.message = Some(format!("refused without a reason; {}", sent()));
                Error::Api(e)
            }
            other => other,
        }
    }

    /// The HTTP status of a vendor's error answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) | Error::AuthRejected(e) => Some(e.status),
            Error::Interrupted { source, .. } => source.status(),
            _ => None,
        }
    }

    /// What stopped the import, past the context an [`Error::Interrupted`] adds.
    pub fn cause(&self) -> &Error {
        match self {
            Error::Interrupted { source, .. } => source.cause(),
            other => other,
        }
    }

    /// The vendor's id of an import that stopped half-way, and where it stands there
    /// ([`Error::Interrupted`]).
    pub fn import_state(&self) -> Option<(&str, &str)> {
        match self {
            Error::Interrupted {
                import_id, state, ..
            } => Some((import_id, state)),
            _ => None,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Turns a failed reqwest call into ours, without its URL.
    pub(crate) fn transport(vendor: Vendor, operation: &'static str, e: reqwest::Error) -> Self {
        if e.is_timeout() {
            return Error::Timeout {
                vendor,
                what: format!("the {operation} request"),
                after: None,
            };
        }
        Error::Transport {
            vendor,
            operation,
            source: e.without_url(),
        }
    }

    /// Turns an error answer (status, headers, body) into ours.
    pub(crate) async fn from_response(
        vendor: Vendor,
        operation: &'static str,
        response: reqwest::Response,
    ) -> Self {
        let status = response.status().as_u16();
        let request_id = ["x-request-id", "x-correlation-id"]
            .iter()
            .find_map(|h| response.headers().get(*h))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = error_body(response).await;
        let (code, message) = vendor_message(&body);
        let error = ApiError {
            vendor,
            operation,
            status,
            code,
            message,
            request_id,
            body_excerpt: excerpt(&body),
        };
        // Each vendor's own ways of saying so live in its module.
        let rejected = match vendor {
            #[cfg(feature = "copernica")]
            Vendor::Copernica => crate::copernica::rejects_credentials(&error),
            _ => false,
        };
        if matches!(status, 401 | 403) || rejected {
            Error::AuthRejected(error)
        } else {
            Error::Api(error)
        }
    }

    /// Turns progenitor's error into ours (reading the body of an error answer). `decode`
    /// explains a 2xx body that did not decode.
    pub(crate) async fn from_progenitor(
        vendor: Vendor,
        operation: &'static str,
        e: progenitor_client::Error<()>,
        decode: fn(Vendor, &'static str, &[u8]) -> Error,
    ) -> Self {
        use progenitor_client::Error as P;
        match e {
            P::UnexpectedResponse(response) => {
                Self::from_response(vendor, operation, response).await
            }
            P::ErrorResponse(response) => Error::Api(ApiError {
                vendor,
                operation,
                status: response.status().as_u16(),
                code: None,
                message: None,
                request_id: None,
                body_excerpt: String::new(),
            }),
            P::CommunicationError(e) | P::ResponseBodyError(e) | P::InvalidUpgrade(e) => {
                Self::transport(vendor, operation, e)
            }
            P::InvalidResponsePayload(body, _) => decode(vendor, operation, &body),
            P::InvalidRequest(reason) | P::Custom(reason) => Error::InvalidConfig {
                setting: "request",
                reason: format!("{vendor} {operation}: {reason}"),
            },
        }
    }

    /// A 2xx answer that lacks a field the workflow needs.
    #[cfg(any(feature = "mailperformance", feature = "mindbaz", feature = "eloqua"))]
    pub(crate) fn missing(vendor: Vendor, operation: &'static str, field: &str) -> Self {
        Error::Decode {
            vendor,
            operation,
            path: field.into(),
            reason: format!("the answer has no `{field}`"),
            excerpt: String::new(),
        }
    }

    /// Decodes `body` as `T`, or explains where it does not fit.
    pub(crate) fn decode<T: DeserializeOwned>(
        vendor: Vendor,
        operation: &'static str,
        body: &[u8],
    ) -> Self {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        let (path, reason) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
            Ok(_) => (
                ".".to_owned(),
                "trailing data after the JSON value".to_owned(),
            ),
            Err(e) => (e.path().to_string(), e.into_inner().to_string()),
        };
        Error::Decode {
            vendor,
            operation,
            path,
            reason,
            excerpt: excerpt(body),
        }
    }
}

/// The most of an error answer's body read: enough for any vendor's error JSON and an excerpt.
const ERROR_BODY_BYTES: usize = 64 << 10;

/// The start of an error answer's body, at most [`ERROR_BODY_BYTES`]: the rest is not read (a
/// proxy's page or an endless answer costs no more). A body cut short or broken off keeps what
/// came.
async fn error_body(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = ERROR_BODY_BYTES - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body
}

/// Finds a code and message in the error bodies the four vendors send: Copernica
/// `{"error":{"message"}}`, Mindbaz `{"success":false,"error":"…"}`, Eloqua
/// `{"failures":[{…}]}` or a bare JSON string, and the usual `{"message","code"}`.
fn vendor_message(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (None, None);
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    if let Some(s) = json.as_str() {
        return (None, Some(s.to_owned()));
    }
    let error = &json["error"];
    let message = error
        .get("message")
        .and_then(text)
        .or_else(|| error.as_str().map(str::to_owned))
        .or_else(|| json.get("message").and_then(text))
        .or_else(|| json["failures"].get(0).and_then(text));
    let code = error
        .get("code")
        .or_else(|| json.get("code"))
        .or_else(|| json.get("statusCode"))
        .and_then(text);
    (code, message)
}

/// Awaits a call of a generated client (a vendor's `api` module) and turns progenitor's error
/// into this crate's [`Error`], as the import workflows do: the vendor's error answer read and
/// named ([`ApiError`]), credentials rejected, transport errors and timeouts, and an answer that
/// does not match the spec with its JSON path. `operation` is the spec's `operationId`, shown in
/// the error.
///
/// ```no_run
/// # async fn run(client: &esp_imports::eloqua::Client) -> Result<(), esp_imports::Error> {
/// use esp_imports::{call, Vendor};
/// let sync = call(Vendor::Eloqua, "getSync", client.get_sync().id(42).send()).await?;
/// println!("{:?}", sync.status);
/// # Ok(())
/// # }
/// ```
pub async fn call<T: DeserializeOwned>(
    vendor: Vendor,
    operation: &'static str,
    request: impl Future<Output = Result<ResponseValue<T>, progenitor_client::Error<()>>>,
) -> Result<ResponseValue<T>, Error> {
    match request.await {
        Ok(value) => Ok(value),
        Err(e) => Err(Error::from_progenitor(vendor, operation, e, Error::decode::<T>).await),
    }
}

/// [`call`] that also gives the `Retry-After` of an error answer, for a workflow that sends
/// the request again itself.
#[cfg(any(feature = "mailperformance", feature = "copernica"))]
pub(crate) async fn call_keeping_retry_after<T: DeserializeOwned>(
    vendor: Vendor,
    operation: &'static str,
    request: impl Future<Output = Result<ResponseValue<T>, progenitor_client::Error<()>>>,
) -> Result<ResponseValue<T>, (Error, Option<Duration>)> {
    match request.await {
        Ok(value) => Ok(value),
        Err(e) => {
            let retry_after = match &e {
                progenitor_client::Error::UnexpectedResponse(response) => {
                    crate::retry::retry_after(response.headers())
                }
                _ => None,
            };
            let error = Error::from_progenitor(vendor, operation, e, Error::decode::<T>).await;
            Err((error, retry_after))
        }
    }
}

/// [`call`] for an operation whose answer is raw bytes.
#[cfg(feature = "eloqua")]
pub(crate) async fn call_raw(
    vendor: Vendor,
    operation: &'static str,
    request: impl Future<
        Output = Result<ResponseValue<progenitor_client::ByteStream>, progenitor_client::Error<()>>,
    >,
) -> Result<ResponseValue<progenitor_client::ByteStream>, Error> {
    match request.await {
        Ok(value) => Ok(value),
        Err(e) => {
            Err(
                Error::from_progenitor(vendor, operation, e, Error::decode::<serde_json::Value>)
                    .await,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Display` says this level only, `source()` the cause, and `report()` both, once.
    #[test]
    fn display_does_not_repeat_the_source() {
        let timeout = Error::Timeout {
            vendor: Vendor::Eloqua,
            what: "the createSync request".into(),
            after: None,
        };
        let io = Error::io("contacts.csv", std::io::Error::other("disk on fire"));
        let lost = Error::MaybeCreated {
            vendor: Vendor::Eloqua,
            operation: "createSync",
            what: "a sync".into(),
            source: Box::new(timeout),
        };
        let interrupted = Error::Interrupted {
            vendor: Vendor::Eloqua,
            import_id: "/syncs/9".into(),
            state: "syncing".into(),
            source: Box::new(io),
        };
        for (e, cause) in [
            (&lost, "got no answer within the request timeout"),
            (&interrupted, "disk on fire"),
        ] {
            let shown = e.to_string();
            let source = std::error::Error::source(e).expect("a cause").to_string();
            assert!(!shown.contains(cause), "{shown}");
            assert!(
                !source.is_empty() && !shown.contains(&source),
                "{shown} / {source}"
            );
            let report = e.report().to_string();
            assert_eq!(report.matches(cause).count(), 1, "{report}");
        }
        assert_eq!(
            interrupted.report().to_string(),
            "contacts.csv: disk on fire; Eloqua import /syncs/9: syncing"
        );
    }

    #[test]
    fn vendor_messages_are_found() {
        let m = |s: &str| vendor_message(s.as_bytes());
        assert_eq!(
            m(r#"{"error":{"message":"Invalid access token"}}"#),
            (None, Some("Invalid access token".into()))
        );
        assert_eq!(
            m(
                r#"{"success":false,"data":null,"error":"Error, file not found","typeName":"Import"}"#
            ),
            (None, Some("Error, file not found".into()))
        );
        assert_eq!(
            m(r#""Not authenticated.""#),
            (None, Some("Not authenticated.".into()))
        );
        assert_eq!(m("<html>502 Bad Gateway</html>"), (None, None));
    }

    #[test]
    fn excerpts_are_short() {
        let long = "x".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(
            excerpt(b"  <html>bad gateway</html>\n"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn api_errors_read_well() {
        let e = ApiError {
            vendor: Vendor::Mailperformance,
            operation: "createImportFormat",
            status: 409,
            code: None,
            message: None,
            request_id: Some("abc-123".into()),
            body_excerpt: String::new(),
        };
        assert_eq!(
            Error::Api(e).to_string(),
            "NP6 MailPerformance createImportFormat: HTTP 409 Conflict [request id abc-123]"
        );
    }

    #[test]
    fn decode_errors_name_the_path() {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Envelope {
            data: Data,
        }
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct Data {
            #[serde(rename = "importState")]
            import_state: i32,
        }
        let e = Error::decode::<Envelope>(
            Vendor::Mindbaz,
            "getImport",
            br#"{"data":{"importState":"x"}}"#,
        );
        let text = e.to_string();
        assert!(text.contains("`data.importState`"), "{text}");
        assert!(text.starts_with("Mindbaz getImport"), "{text}");
    }
}
