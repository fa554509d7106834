//! Pieces every vendor's workflow uses: the overall deadline, what exists at the vendor so far
//! (for errors half-way), state tracking for progress events, and the column-map checks.

use std::{
    future::Future,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{CsvFile, Error, Expectations, ImportOptions, ImportReport, Progress, Status, Vendor};

/// What an import has left at the vendor so far, so that an error half-way says it: the
/// import's id and state, and the request that may be creating something right now.
pub(crate) struct Ledger {
    vendor: Vendor,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    /// The vendor's id of what exists, and where it stands.
    state: Option<(String, String)>,
    /// What a request in flight may be creating.
    in_flight: Option<String>,
}

impl Ledger {
    pub(crate) fn new(vendor: Vendor) -> Self {
        Self {
            vendor,
            inner: Mutex::default(),
        }
    }

    /// Records what exists at the vendor now, replacing the previous record.
    pub(crate) fn record(&self, import_id: impl Into<String>, state: impl Into<String>) {
        let mut inner = self.inner.lock().expect("ledger lock");
        inner.state = Some((import_id.into(), state.into()));
    }

    /// Runs a request that creates `what`, marked as in flight while it runs: if the whole
    /// import's timeout cuts it off, the error says `what` may exist.
    pub(crate) async fn creating<T>(
        &self,
        what: &str,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        self.inner.lock().expect("ledger lock").in_flight = Some(what.to_owned());
        let result = request.await;
        self.inner.lock().expect("ledger lock").in_flight = None;
        result
    }

    /// [`Ledger::creating`] for a create that is sent once (the vendor cannot tell whether it
    /// was processed): an error after which it may have been is [`Error::MaybeCreated`].
    #[cfg(any(feature = "copernica", feature = "mindbaz", feature = "eloqua"))]
    pub(crate) async fn create_once<T>(
        &self,
        operation: &'static str,
        what: String,
        request: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        self.creating(&what, request)
            .await
            .map_err(|e| e.or_maybe_created(self.vendor, operation, || what))
    }

    /// `error`, with what exists at the vendor when anything does.
    fn explain(&self, error: Error, timed_out: bool) -> Error {
        let inner = self.inner.lock().expect("ledger lock");
        if let (true, Some(what)) = (timed_out, &inner.in_flight) {
            return Error::MaybeCreated {
                vendor: self.vendor,
                operation: "import",
                what: what.clone(),
                source: Box::new(error),
            };
        }
        match (&inner.state, &error) {
            (_, Error::Interrupted { .. } | Error::MaybeCreated { .. }) | (None, _) => error,
            (Some((import_id, state)), _) => Error::Interrupted {
                vendor: self.vendor,
                import_id: import_id.clone(),
                state: state.clone(),
                source: Box::new(error),
            },
        }
    }
}

/// Runs a vendor's whole import, `work`, with a new [`Ledger`] within `options.timeout`
/// (requests in flight included), and gives any error what the ledger knows of the import's
/// state at the vendor.
pub(crate) async fn bounded(
    vendor: Vendor,
    options: &ImportOptions,
    work: impl AsyncFnOnce(&Ledger) -> Result<ImportReport, Error>,
) -> Result<ImportReport, Error> {
    let ledger = Ledger::new(vendor);
    match tokio::time::timeout(options.timeout, work(&ledger)).await {
        Ok(result) => result
            .map(|mut report| {
                // Every failure says why, even when the vendor does not.
                if report.status == Status::Failed && report.messages.is_empty() {
                    report.messages.push(format!(
                        "{vendor} reported import {} as failed and gave no reason",
                        report.import_id
                    ));
                }
                report
            })
            .map_err(|e| ledger.explain(e, false)),
        Err(_) => Err(ledger.explain(
            Error::Timeout {
                vendor,
                what: "the import".into(),
                after: Some(options.timeout),
            },
            true,
        )),
    }
}

/// The overall timeout of one import.
pub(crate) struct Deadline {
    vendor: Vendor,
    started: Instant,
    timeout: Duration,
}

impl Deadline {
    pub(crate) fn new(vendor: Vendor, timeout: Duration) -> Self {
        Self {
            vendor,
            started: Instant::now(),
            timeout,
        }
    }

    /// Fails once the timeout has passed.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.started.elapsed() >= self.timeout {
            return Err(Error::Timeout {
                vendor: self.vendor,
                what: "the import".into(),
                after: Some(self.timeout),
            });
        }
        Ok(())
    }

    /// Waits `interval` (or what is left of the timeout), then checks the deadline.
    pub(crate) async fn pause(&self, interval: Duration) -> Result<(), Error> {
        let left = self.timeout.saturating_sub(self.started.elapsed());
        tokio::time::sleep(interval.min(left)).await;
        self.check()
    }
}

/// Turns each poll into [`Progress`] events.
#[derive(Default)]
pub(crate) struct States {
    last: Option<String>,
}

impl States {
    pub(crate) fn observe(
        &mut self,
        options: &ImportOptions,
        state: String,
        processed: Option<u64>,
        total: Option<u64>,
    ) {
        if self.last.as_ref() != Some(&state) {
            options.emit(Progress::StateChanged {
                from: self.last.take(),
                to: state.clone(),
            });
            self.last = Some(state.clone());
        }
        options.emit(Progress::Polled {
            state,
            processed,
            total,
        });
    }
}

/// A vendor field as the vendor tells fields apart: without case (`C_EmailAddress`,
/// `c_emailaddress`), a number as a number (NP6 `1`, `01`), an Eloqua field statement as its
/// field.
fn normal_field(field: &str) -> String {
    let field = field.trim().to_lowercase();
    if let Ok(number) = field.parse::<i64>() {
        return number.to_string();
    }
    match field
        .strip_prefix("{{contact.field(")
        .and_then(|f| f.strip_suffix(")}}"))
    {
        Some(inner) => inner.trim().to_owned(),
        None => field,
    }
}

/// Checks the options against the file (before any request) and returns the file's format:
/// a map with columns, the key among them, no field mapped twice, then the file.
pub(crate) fn inspect(options: &ImportOptions) -> Result<CsvFile, Error> {
    if options.columns.is_empty() {
        return Err(Error::InvalidConfig {
            setting: "column map",
            reason: "map at least one column to a vendor field".into(),
        });
    }
    if !options.columns.contains_key(&options.key_column) {
        return Err(Error::InvalidConfig {
            setting: "key column",
            reason: format!(
                "`{}` is not a mapped column: map it to the vendor's key field",
                options.key_column
            ),
        });
    }
    let mut targets: std::collections::HashMap<String, &str> = Default::default();
    for (column, field) in &options.columns {
        if let Some(first) = targets.insert(normal_field(field), column) {
            return Err(Error::InvalidConfig {
                setting: "column map",
                reason: format!(
                    "`{first}` and `{column}` both go to `{field}`: map each field once"
                ),
            });
        }
    }
    CsvFile::inspect(
        &options.file,
        &Expectations {
            columns: options.columns.keys().map(String::as_str).collect(),
            key: Some(&options.key_column),
            delimiter: options.delimiter,
            max_row_bytes: Some(options.max_row_bytes),
        },
    )
}
