//! An emulator of the four vendors' import APIs on loopback, faithful to `specs/` and the
//! vendor docs: same paths, auth checks, media types, status codes, state machines that
//! progress over polls, real row processing (invalid e-mails rejected, duplicates by key), and
//! contacts kept per vendor so that a second import updates instead of inserting (in an
//! anonymous temporary file per vendor, with an index in memory: see `contacts.rs`). Faults (429,
//! 5xx bursts, slow answers, dropped connections, truncated JSON) can be switched on for tests.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use esp_imports_sandbox::{Sandbox, SandboxConfig};
//! let sandbox = Sandbox::start(SandboxConfig::default()).await?;
//! println!("NP6 at {}", sandbox.base_url(esp_imports::Vendor::Mailperformance));
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod contacts;
mod copernica;
mod eloqua;
mod mailperformance;
mod mindbaz;

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};

use esp_imports::Vendor;

/// The credentials the sandbox accepts; anything else gets the vendor's 401.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Credentials {
    /// NP6 `X-Key`.
    pub np6_key: String,
    /// Copernica `access_token`.
    pub copernica_token: String,
    /// Mindbaz Bearer token.
    pub mindbaz_token: String,
    /// Eloqua site (company) name.
    pub eloqua_company: String,
    /// Eloqua user name.
    pub eloqua_username: String,
    /// Eloqua password.
    pub eloqua_password: String,
}

impl Default for Credentials {
    /// Fixed, documented sandbox credentials (they open nothing but the sandbox).
    fn default() -> Self {
        Self {
            np6_key: "sandbox-np6-key".into(),
            copernica_token: "sandbox-copernica-token".into(),
            mindbaz_token: "sandbox-mindbaz-token".into(),
            eloqua_company: "SandboxCo".into(),
            eloqua_username: "sandbox.user".into(),
            eloqua_password: "sandbox-eloqua-password".into(),
        }
    }
}

/// How to start the sandbox.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SandboxConfig {
    /// The address of the first vendor; the others take the next ports (port 0: any free
    /// ports). Only loopback addresses are accepted.
    pub listen: SocketAddr,
    /// The credentials accepted.
    pub credentials: Credentials,
    /// How many status polls an import stays in each intermediate state.
    pub polls_per_state: u32,
    /// The Mindbaz "SFTP directory" that `scheduleNow` looks in (a temporary one if `None`).
    pub mindbaz_sftp_dir: Option<PathBuf>,
    /// Whether NP6's `GET /importFormats` is served (default). NP6's current reference does not
    /// list it; when `false` it answers 405, as a server without that operation would, so
    /// clients can be tested for both.
    pub np6_lists_bindings: bool,
}

impl SandboxConfig {
    /// With [`listen`](Self::listen) set.
    #[must_use]
    pub fn with_listen(mut self, listen: SocketAddr) -> Self {
        self.listen = listen;
        self
    }

    /// With [`credentials`](Self::credentials) set.
    #[must_use]
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self
    }

    /// With [`polls_per_state`](Self::polls_per_state) set.
    #[must_use]
    pub fn with_polls_per_state(mut self, polls: u32) -> Self {
        self.polls_per_state = polls;
        self
    }

    /// With [`mindbaz_sftp_dir`](Self::mindbaz_sftp_dir) set.
    #[must_use]
    pub fn with_mindbaz_sftp_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.mindbaz_sftp_dir = Some(dir.into());
        self
    }

    /// With [`np6_lists_bindings`](Self::np6_lists_bindings) set.
    #[must_use]
    pub fn with_np6_lists_bindings(mut self, listed: bool) -> Self {
        self.np6_lists_bindings = listed;
        self
    }
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            credentials: Credentials::default(),
            polls_per_state: 1,
            mindbaz_sftp_dir: None,
            np6_lists_bindings: true,
        }
    }
}

/// A fault to inject into the sandbox's answers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FaultKind {
    /// Answer with this status (and `Retry-After` seconds, if given) instead of the real one.
    Status {
        /// The status code.
        code: u16,
        /// `Retry-After` in seconds.
        retry_after: Option<u32>,
        /// The body (e.g. an HTML error page).
        body: String,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Close the connection without an answer (the request is not processed).
    DropConnection,
    /// Read this many bytes of the request body (all of it, if it is shorter), then close the
    /// connection without an answer and without processing the request: a connection reset
    /// in the middle of an upload.
    ResetMidBody(usize),
    /// Process the request, then close the connection instead of answering: the vendor did
    /// the work (created the import, started the sync) and the client cannot know it.
    LoseAnswer,
    /// Answer normally, but with the body cut in half.
    TruncateBody,
}

/// Which requests a fault applies to, and how many times.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Fault {
    /// Only this vendor (`None`: all).
    pub vendor: Option<Vendor>,
    /// Only this method (`None`: all).
    pub method: Option<String>,
    /// Only paths containing this (`None`: all).
    pub path_contains: Option<String>,
    /// What happens.
    pub kind: FaultKind,
    /// How many requests it hits before it is spent.
    pub times: u32,
}

impl Fault {
    /// A fault of `kind` on the next request of any vendor, method and path: narrow it with
    /// [`vendor`](Self::vendor), [`method`](Self::method) and
    /// [`path_contains`](Self::path_contains), repeat it with [`times`](Self::times).
    pub fn new(kind: FaultKind) -> Self {
        Self {
            vendor: None,
            method: None,
            path_contains: None,
            kind,
            times: 1,
        }
    }

    /// Only this vendor's requests.
    #[must_use]
    pub fn vendor(mut self, vendor: Vendor) -> Self {
        self.vendor = Some(vendor);
        self
    }

    /// Only requests with this method.
    #[must_use]
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Only requests whose path contains this.
    #[must_use]
    pub fn path_contains(mut self, part: impl Into<String>) -> Self {
        self.path_contains = Some(part.into());
        self
    }

    /// The number of requests it hits before it is spent.
    #[must_use]
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }
}

/// Counters and faults shared by the emulators and the sandbox's owner.
#[derive(Debug, Default)]
pub(crate) struct Control {
    faults: Mutex<Vec<Fault>>,
    hits: Mutex<BTreeMap<(Vendor, String), u64>>,
}

pub(crate) use contacts::Contacts;

/// What an emulator did with the rows of one run of an import (an NP6 execution, a Copernica
/// import), in the order they ran: the figures the vendors keep to themselves or e-mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportResult {
    /// The vendor's id of the import.
    pub import_id: String,
    /// Data rows read from the file (header and skipped lines left out).
    pub rows: u64,
    /// Contacts created.
    pub inserted: u64,
    /// Contacts updated.
    pub updated: u64,
    /// Rows left alone on purpose (e.g. Copernica `ignore or add` on an existing profile).
    pub ignored: u64,
    /// Contacts deleted (Copernica `delete` and `removeMissing`).
    pub deleted: u64,
    /// Rows refused.
    pub rejected: u64,
    /// Each refused row: its line in the file and the reason.
    pub rejects: Vec<(u64, String)>,
    /// Why the whole file was refused (NP6 execution state 2), when it was.
    pub failure: Option<String>,
}

impl ImportResult {
    /// Counts what `apply_row` did with the row on `line`.
    pub(crate) fn record(&mut self, line: u64, outcome: RowOutcome) {
        match outcome {
            RowOutcome::Inserted => self.inserted += 1,
            RowOutcome::Updated => self.updated += 1,
            RowOutcome::Rejected(reason) => self.reject(line, reason),
        }
    }

    /// Counts a refused row.
    pub(crate) fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        self.rejects.push((line, reason));
    }
}

/// What every emulator gets.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) vendor: Vendor,
    pub(crate) credentials: Arc<Credentials>,
    pub(crate) polls_per_state: u32,
    pub(crate) control: Arc<Control>,
    pub(crate) contacts: Arc<Mutex<Contacts>>,
    pub(crate) results: Arc<Mutex<Vec<ImportResult>>>,
    // Read by the Mindbaz emulator.
    #[allow(dead_code)]
    pub(crate) sftp_dir: Arc<PathBuf>,
}

/// A running sandbox. Dropping it stops the servers.
pub struct Sandbox {
    addresses: Vec<(Vendor, SocketAddr)>,
    control: Arc<Control>,
    contacts: Vec<(Vendor, Arc<Mutex<Contacts>>)>,
    results: Vec<(Vendor, Arc<Mutex<Vec<ImportResult>>>)>,
    sftp_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A temporary directory that only its owner can open (`0700` on Unix), removed when dropped:
/// the sandbox's and the demo's files hold contact data.
pub fn private_temp_dir() -> std::io::Result<tempfile::TempDir> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700));
    builder.tempdir()
}

impl Sandbox {
    /// Binds one loopback port per vendor and serves them on the current tokio runtime.
    pub async fn start(config: SandboxConfig) -> std::io::Result<Self> {
        if !config.listen.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "the sandbox listens on loopback only, not {}",
                    config.listen.ip()
                ),
            ));
        }
        // Each vendor takes the next port: the last one must exist.
        let last = u16::try_from(Vendor::ALL.len() - 1).expect("four vendors");
        if config.listen.port() != 0 && config.listen.port().checked_add(last).is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "port {} leaves no room for the {} emulators, which take it and the next {last} \
                     ports: use a port up to {}, or 0 for free ports",
                    config.listen.port(),
                    Vendor::ALL.len(),
                    u16::MAX - last
                ),
            ));
        }
        let (temp, sftp_dir) = match &config.mindbaz_sftp_dir {
            Some(dir) => (None, dir.clone()),
            None => {
                let temp = private_temp_dir()?;
                let dir = temp.path().to_owned();
                (Some(temp), dir)
            }
        };
        let control = Arc::new(Control::default());
        let credentials = Arc::new(config.credentials.clone());
        let mut sandbox = Sandbox {
            addresses: Vec::new(),
            control: control.clone(),
            contacts: Vec::new(),
            results: Vec::new(),
            sftp_dir: sftp_dir.clone(),
            _temp: temp,
            tasks: Vec::new(),
        };
        for (i, vendor) in Vendor::ALL.into_iter().enumerate() {
            let shared = Shared {
                vendor,
                credentials: credentials.clone(),
                polls_per_state: config.polls_per_state,
                control: control.clone(),
                contacts: Default::default(),
                results: Default::default(),
                sftp_dir: Arc::new(sftp_dir.clone()),
            };
            let router = match vendor {
                Vendor::Mailperformance => {
                    mailperformance::router(shared.clone(), config.np6_lists_bindings)
                }
                Vendor::Copernica => copernica::router(shared.clone()),
                Vendor::Mindbaz => mindbaz::router(shared.clone()),
                Vendor::Eloqua => eloqua::router(shared.clone()),
                // A vendor of a newer library than this emulator: not served.
                _ => continue,
            };
            sandbox.contacts.push((vendor, shared.contacts.clone()));
            sandbox.results.push((vendor, shared.results.clone()));
            let router = router.layer(middleware::from_fn_with_state(shared, inject_faults));
            let port = match config.listen.port() {
                0 => 0,
                port => port + i as u16,
            };
            let listener =
                tokio::net::TcpListener::bind(SocketAddr::new(config.listen.ip(), port)).await?;
            sandbox.addresses.push((vendor, listener.local_addr()?));
            sandbox.tasks.push(tokio::spawn(async move {
                let _ = axum::serve(listener, router).await;
            }));
        }
        Ok(sandbox)
    }

    /// The address a vendor's emulator listens on.
    pub fn address(&self, vendor: Vendor) -> SocketAddr {
        self.addresses
            .iter()
            .find(|(v, _)| *v == vendor)
            .map(|(_, a)| *a)
            .expect("every vendor is served")
    }

    /// The base URL to give a client, API prefix included: NP6 and Mindbaz at the root,
    /// Copernica `…/v3`, Eloqua `…/api/bulk/2.0`.
    pub fn base_url(&self, vendor: Vendor) -> String {
        let root = format!("http://{}", self.address(vendor));
        match vendor {
            Vendor::Copernica => format!("{root}/v3"),
            Vendor::Eloqua => format!("{root}/api/bulk/2.0"),
            _ => root,
        }
    }

    /// Where the Eloqua login service (`GET /id`) is emulated.
    pub fn eloqua_login_url(&self) -> String {
        format!("http://{}", self.address(Vendor::Eloqua))
    }

    /// The Mindbaz "SFTP directory": `scheduleNow` finds its files here.
    pub fn mindbaz_sftp_dir(&self) -> &std::path::Path {
        &self.sftp_dir
    }

    /// Adds a fault.
    pub fn inject(&self, fault: Fault) {
        self.control.faults.lock().expect("lock").push(fault);
    }

    /// Requests received, per vendor and `METHOD /path` (faulted ones included).
    pub fn hits(&self) -> BTreeMap<(Vendor, String), u64> {
        self.control.hits.lock().expect("lock").clone()
    }

    /// Requests received by one vendor's emulator.
    pub fn total_hits(&self, vendor: Vendor) -> u64 {
        self.hits()
            .iter()
            .filter(|((v, _), _)| *v == vendor)
            .map(|(_, n)| n)
            .sum()
    }

    /// The contacts a vendor's emulator keeps, by key: key → field name → value.
    pub fn contacts(&self, vendor: Vendor) -> BTreeMap<String, BTreeMap<String, String>> {
        self.contacts
            .iter()
            .find(|(v, _)| *v == vendor)
            .map(|(_, c)| c.lock().expect("lock").to_map())
            .unwrap_or_default()
    }

    /// What a vendor's emulator did with the rows of each import run, oldest first.
    pub fn results(&self, vendor: Vendor) -> Vec<ImportResult> {
        self.results
            .iter()
            .find(|(v, _)| *v == vendor)
            .map(|(_, r)| r.lock().expect("lock").clone())
            .unwrap_or_default()
    }
}

/// Counts each request and applies the first matching fault.
async fn inject_faults(State(shared): State<Shared>, request: Request, next: Next) -> Response {
    let route = format!("{} {}", request.method(), request.uri().path());
    *shared
        .control
        .hits
        .lock()
        .expect("lock")
        .entry((shared.vendor, route))
        .or_default() += 1;
    let fault = {
        let mut faults = shared.control.faults.lock().expect("lock");
        let found = faults.iter().position(|f| {
            f.times > 0
                && f.vendor.is_none_or(|v| v == shared.vendor)
                && f.method
                    .as_deref()
                    .is_none_or(|m| m == request.method().as_str())
                && f.path_contains
                    .as_deref()
                    .is_none_or(|p| request.uri().path().contains(p))
        });
        found.map(|i| {
            faults[i].times -= 1;
            faults[i].kind.clone()
        })
    };
    match fault {
        None => next.run(request).await,
        Some(FaultKind::Status {
            code,
            retry_after,
            body,
        }) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, body).into_response();
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            response
        }
        Some(FaultKind::Delay(wait)) => {
            tokio::time::sleep(wait).await;
            next.run(request).await
        }
        Some(FaultKind::DropConnection) => dropped_connection(),
        Some(FaultKind::ResetMidBody(bytes)) => {
            use futures_util::StreamExt;
            let mut body = request.into_body().into_data_stream();
            let mut read = 0;
            while read < bytes {
                match body.next().await {
                    Some(Ok(chunk)) => read += chunk.len(),
                    _ => break,
                }
            }
            dropped_connection()
        }
        Some(FaultKind::LoseAnswer) => {
            let response = next.run(request).await;
            // Read the whole answer, as the vendor would have produced it, then lose it.
            let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await;
            dropped_connection()
        }
        Some(FaultKind::TruncateBody) => {
            let response = next.run(request).await;
            let (mut parts, body) = response.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts.headers.remove("content-length");
            Response::from_parts(parts, Body::from(cut))
        }
    }
}

/// A response that makes hyper abort the connection before any answer: its body fails at once.
fn dropped_connection() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<axum::body::Bytes, _>(std::io::Error::other("connection dropped"))
    });
    Response::new(Body::from_stream(failing))
}

/// For `#[serde(default, deserialize_with = "…")]` on an optional request field that the spec
/// does not declare `nullable`: absent is `None`, but an explicit `null` is refused (a 400),
/// as a vendor's strict JSON binding would.
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

/// A very small e-mail check, the same for every emulator: one `@`, something before it, a
/// dot in the domain, no spaces.
pub(crate) fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && !email.contains(char::is_whitespace)
}

/// The key a contact is kept under (trimmed, an e-mail lower-cased), or why the row is refused.
pub(crate) fn contact_key(key: &str, email_key: bool) -> Result<String, String> {
    let key = key.trim();
    if key.is_empty() {
        return Err("empty key".into());
    }
    if email_key && !valid_email(key) {
        return Err(format!("invalid e-mail address `{key}`"));
    }
    Ok(if email_key {
        key.to_lowercase()
    } else {
        key.to_owned()
    })
}

/// The line (1-based) each CSV record of a file starts on. The `csv` crate's own positions put
/// a record that follows a CRLF on the line before (the `\n` is read as the record's start),
/// so lines are counted here from the record's byte offset, past the line ending.
pub(crate) struct Lines<'a> {
    data: &'a [u8],
    offset: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            offset: 0,
            line: 1,
        }
    }

    /// The line of the record at `byte` (offsets must not go backwards).
    pub(crate) fn of(&mut self, record: &csv::StringRecord) -> u64 {
        let mut byte = record
            .position()
            .map_or(self.offset, |p| p.byte() as usize)
            .min(self.data.len());
        while byte < self.data.len() && matches!(self.data[byte], b'\r' | b'\n') {
            byte += 1;
        }
        for i in self.offset..byte {
            // `\n`, `\r\n` and a lone `\r` each end a line.
            let ends = match self.data[i] {
                b'\n' => true,
                b'\r' => self.data.get(i + 1) != Some(&b'\n'),
                _ => false,
            };
            self.line += u64::from(ends);
        }
        self.offset = self.offset.max(byte);
        self.line
    }
}

/// Why a request body was not read.
pub(crate) enum BodyError {
    /// Over the size given (the rest was still read, so that the client gets the answer
    /// rather than a reset connection).
    TooLarge,
    /// The connection failed before its end.
    Broken,
}

/// Reads a request body whole into one buffer, sized from its `Content-Length` when it has
/// one: collecting the pieces and then copying them together would hold the body twice, and
/// an upload may be hundreds of megabytes.
pub(crate) async fn read_body(
    headers: &axum::http::HeaderMap,
    body: Body,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    use futures_util::StreamExt;
    let expected = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut data = Vec::with_capacity(expected.min(max));
    let mut over = false;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        if over {
            continue;
        }
        if data.len() + chunk.len() > max {
            over = true;
            data = Vec::new();
        } else {
            data.extend_from_slice(&chunk);
        }
    }
    match over {
        true => Err(BodyError::TooLarge),
        false => Ok(data),
    }
}

/// Calls `each` with every record `reader` reads from `data`, and the line it starts on, one
/// record at a time. A record that cannot be read comes as the error (the reader goes on
/// past it): not expected of text read from memory, but such a row is refused with the
/// reason rather than lost.
pub(crate) fn each_record(
    mut reader: csv::Reader<&[u8]>,
    data: &[u8],
    mut each: impl FnMut(u64, Result<&csv::StringRecord, csv::Error>),
) {
    let mut lines = Lines::new(data);
    let mut record = csv::StringRecord::new();
    loop {
        let read = reader.read_record(&mut record);
        if let Ok(false) = read {
            return;
        }
        each(lines.of(&record), read.map(|_| &record));
    }
}

/// A row that an emulator keeps or rejects.
pub(crate) enum RowOutcome {
    Inserted,
    Updated,
    Rejected(String),
}

/// Applies one row to a vendor's contacts: the key must be a valid e-mail when `email_key`;
/// `insert`/`update` say what the import may do.
pub(crate) fn apply_row(
    contacts: &mut Contacts,
    key: &str,
    fields: BTreeMap<String, String>,
    email_key: bool,
    insert: bool,
    update: bool,
) -> RowOutcome {
    let key = match contact_key(key, email_key) {
        Ok(key) => key,
        Err(reason) => return RowOutcome::Rejected(reason),
    };
    let exists = contacts.contains_key(&key);
    match exists {
        true if update => {
            contacts.update(&key, fields);
            RowOutcome::Updated
        }
        true => RowOutcome::Rejected("the contact exists and the import may not update".into()),
        false if insert => {
            contacts.insert(key, fields);
            RowOutcome::Inserted
        }
        false => RowOutcome::Rejected("no such contact and the import may not insert".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        for good in ["a@b.co", "first.last+tag@example.com"] {
            assert!(valid_email(good), "{good}");
        }
        for bad in [
            "", "a", "a@", "@b.co", "a@b", "a b@c.de", "a@@b.co", "a@b.co.",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn bodies_are_read_whole_or_refused_over_the_size() {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("content-length", HeaderValue::from(6));
        let read = read_body(&headers, Body::from("abcdef"), 6).await;
        assert_eq!(read.ok().as_deref(), Some(&b"abcdef"[..]));
        let over = read_body(&headers, Body::from("abcdefg"), 6).await;
        assert!(matches!(over, Err(BodyError::TooLarge)));
        // A `Content-Length` that lies makes no difference to what is read.
        let read = read_body(&headers, Body::from("abc"), 6).await;
        assert_eq!(read.ok().as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn lines_of_records() {
        for data in ["h\na\n\nb\n", "h\r\na\r\n\r\nb\r\n", "h\ra\r\rb"] {
            let mut lines = Lines::new(data.as_bytes());
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(data.as_bytes());
            let found: Vec<u64> = reader.records().map(|r| lines.of(&r.unwrap())).collect();
            assert_eq!(found, [1, 2, 4], "{data:?}");
        }
    }

    #[test]
    fn rows_insert_then_update() {
        let mut contacts = Contacts::default();
        let row = |v: &str| BTreeMap::from([("city".to_owned(), v.to_owned())]);
        assert!(matches!(
            apply_row(&mut contacts, "A@x.io", row("Lille"), true, true, true),
            RowOutcome::Inserted
        ));
        assert!(matches!(
            apply_row(&mut contacts, "a@x.io", row("Lens"), true, true, true),
            RowOutcome::Updated
        ));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "Lens");
        assert!(matches!(
            apply_row(&mut contacts, "bad", row("x"), true, true, true),
            RowOutcome::Rejected(_)
        ));
        assert!(matches!(
            apply_row(&mut contacts, "b@x.io", row("x"), true, false, true),
            RowOutcome::Rejected(_)
        ));
    }
}
