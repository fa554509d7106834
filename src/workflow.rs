//! Pieces every vendor's workflow uses: the overall deadline, state tracking for progress
//! events, and the column-map checks.

use std::time::{Duration, Instant};

use crate::{CsvFile, Error, Expectations, ImportOptions, Progress, Vendor};

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
        },
    )
}
