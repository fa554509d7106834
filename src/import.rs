//! What every vendor's import takes and gives back: [`ImportOptions`], [`ImportReport`],
//! [`Progress`].

use std::{collections::BTreeMap, fmt, path::PathBuf, sync::Arc, time::Duration};

use serde::Serialize;

/// The four vendors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Vendor {
    /// NP6 MailPerformance.
    Mailperformance,
    /// Copernica REST v3.
    Copernica,
    /// Mindbaz API V1.
    Mindbaz,
    /// Oracle Eloqua Bulk API 2.0.
    Eloqua,
}

impl Vendor {
    /// Every vendor, in the README's order.
    pub const ALL: [Vendor; 4] = [
        Vendor::Mailperformance,
        Vendor::Copernica,
        Vendor::Mindbaz,
        Vendor::Eloqua,
    ];

    /// Whether `field` is written as this vendor names the fields an import maps columns to
    /// (NP6: a numeric field id from 1; Copernica: a name without spaces; Mindbaz: `fldN`;
    /// Eloqua: an internal name or a `{{…}}` statement); the reason when it is not. An import
    /// takes a field that is not written so as a name, found in the vendor's field list by the
    /// pre-flight ([`crate::Preflight`]).
    pub fn check_field(self, field: &str) -> Result<(), &'static str> {
        let ok = match self {
            Vendor::Mailperformance => field.parse::<i32>().is_ok_and(|id| id > 0),
            Vendor::Mindbaz => field
                .strip_prefix("fld")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
            Vendor::Eloqua => {
                field.starts_with("{{") && field.ends_with("}}")
                    || !field.is_empty()
                        && !field.contains(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            }
            Vendor::Copernica => !field.is_empty() && !field.contains(char::is_whitespace),
        };
        if ok {
            return Ok(());
        }
        Err(match self {
            Vendor::Mailperformance => "NP6 fields are numeric field ids, 1 or more (GET /fields)",
            Vendor::Mindbaz => "Mindbaz fields are written fldN (fld1 is the e-mail)",
            Vendor::Eloqua => "Eloqua fields are internal names such as C_EmailAddress",
            Vendor::Copernica => "Copernica field names have no spaces",
        })
    }

    /// The name used for the Cargo feature, the module, the spec file and the CLI.
    pub fn slug(self) -> &'static str {
        match self {
            Vendor::Mailperformance => "mailperformance",
            Vendor::Copernica => "copernica",
            Vendor::Mindbaz => "mindbaz",
            Vendor::Eloqua => "eloqua",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Vendor::Mailperformance => "NP6 MailPerformance",
            Vendor::Copernica => "Copernica",
            Vendor::Mindbaz => "Mindbaz",
            Vendor::Eloqua => "Eloqua",
        })
    }
}

/// What happens to a contact whose key is (or is not) already in the vendor's database. Each
/// vendor's switches for it are listed in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Mode {
    /// Insert new contacts and update existing ones.
    #[default]
    Upsert,
    /// Insert new contacts; leave existing ones as they are.
    InsertOnly,
    /// Update existing contacts; insert none.
    UpdateOnly,
}

/// Called with each [`Progress`] event of an import.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The options common to every vendor's import.
#[derive(Clone)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The CSV file.
    pub file: PathBuf,
    /// File column → vendor field (NP6 field id, Copernica field name, Mindbaz `fldN`, Eloqua
    /// `C_…` field). Columns not in the map are not imported (NP6 binds them to -10).
    pub columns: BTreeMap<String, String>,
    /// The file column that identifies a contact (it must be mapped).
    pub key_column: String,
    /// Insert, update or both.
    pub mode: Mode,
    /// The field delimiter, when it should not be guessed from the header line.
    pub delimiter: Option<u8>,
    /// The longest row of the file, in bytes, line breaks inside quotes included (default
    /// [`DEFAULT_MAX_ROW_BYTES`](crate::DEFAULT_MAX_ROW_BYTES), 1 MiB): a longer row, most
    /// often a quote left open, is refused naming its line, in bounded memory.
    pub max_row_bytes: u64,
    /// The import's name at the vendor (defaults to the file name and the time).
    pub name: Option<String>,
    /// Time between two status polls.
    pub poll_interval: Duration,
    /// The longest the whole import may take, upload and following included.
    pub timeout: Duration,
    /// Stop after the vendor has the data and the import is started ([`Status::Submitted`]).
    pub no_wait: bool,
    /// Receives progress events.
    pub progress: Option<ProgressFn>,
    /// Stops the import when cancelled (Ctrl-C, SIGTERM): nothing more is sent, what is safe to
    /// clean at the vendor is cleaned (Eloqua data staged for a definition without a sync, an
    /// NP6 import not yet started, a partial Mindbaz SFTP file), and the import returns
    /// [`crate::Error::Cancelled`], inside an [`crate::Error::Interrupted`] saying what exists at the vendor
    /// when anything does.
    pub cancel: Option<Cancel>,
    /// What the pre-flight does with rows that do not fit the vendor's fields (read with one
    /// GET before anything is created): report them (the default), leave them out, refuse the
    /// file, or skip the pre-flight.
    pub preflight: Preflight,
    /// Map every header that names one vendor field (by id or name, without case or
    /// accents) to it, besides the columns of [`ImportOptions::columns`]. A header that names
    /// several fields is refused, not guessed.
    pub auto_map: bool,
    /// Run every check, the field list included, and report the plan
    /// ([`Status::DryRun`]): nothing is created at the vendor (only reads).
    pub dry_run: bool,
}

/// What an import's pre-flight does: the vendor's field list read (one GET) before anything
/// is created, the column map checked against it (every field exists, the key column goes to
/// the vendor's unique field where it has one) and every value against its field (e-mails,
/// the vendor's date formats, numbers, booleans, list values, lengths).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Preflight {
    /// Every row is sent; what does not fit is in [`ImportReport::warnings`] (the vendor
    /// stays the authority on its own rules).
    #[default]
    Warn,
    /// The rows that do not fit are left out, and reported as rejected before sending
    /// ([`Reject::before_sending`]).
    SkipInvalid,
    /// Any finding refuses the whole file ([`crate::Error::InvalidInput`]): nothing is created.
    Strict,
    /// No field list is read unless names must be resolved ([`ImportOptions::auto_map`], a
    /// field named by its name), and no value is checked.
    Off,
}

/// Something the pre-flight found: a value that does not fit its field (with its line and
/// column), or a remark on the file as a whole (no line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// The 1-based line of the input file (the header is line 1); `None` for the whole file.
    pub row: Option<u64>,
    /// The file column.
    pub column: Option<String>,
    /// What does not fit, and why.
    pub reason: String,
}

impl Finding {
    /// A finding at `row` (1-based, the header is line 1) and `column`, or on the whole file.
    pub fn new(row: Option<u64>, column: Option<String>, reason: impl Into<String>) -> Self {
        Self {
            row,
            column,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.row, &self.column) {
            (Some(row), Some(column)) => write!(f, "line {row}, column `{column}`: "),
            (Some(row), None) => write!(f, "line {row}: "),
            (None, Some(column)) => write!(f, "column `{column}`: "),
            (None, None) => Ok(()),
        }?;
        f.write_str(&self.reason)
    }
}

/// How to read an import's state later, from its id (each vendor's `Client::status`,
/// [`crate::Importer::status`]): once, or following it to its end as an import does.
#[derive(Clone)]
#[non_exhaustive]
pub struct StatusOptions {
    /// Follow the import until it ends (with [`Progress`] events), then report it as an
    /// import does; otherwise read its state once.
    pub wait: bool,
    /// Time between two status polls.
    pub poll_interval: Duration,
    /// The longest the whole call may take, polls and the reading of the results included.
    pub timeout: Duration,
    /// Receives progress events.
    pub progress: Option<ProgressFn>,
    /// Stops following when cancelled: the call returns [`crate::Error::Cancelled`] inside an
    /// [`crate::Error::Interrupted`] with the import's last state (the import runs on at the
    /// vendor).
    pub cancel: Option<Cancel>,
}

impl Default for StatusOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl StatusOptions {
    /// One read of the state (no wait), a 2 s poll and a 1 h timeout, as [`ImportOptions::new`].
    pub fn new() -> Self {
        Self {
            wait: false,
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(3600),
            progress: None,
            cancel: None,
        }
    }

    /// These options, following the import until it ends when `wait`.
    #[must_use]
    pub fn with_wait(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    pub(crate) fn emit(&self, event: Progress) {
        if let Some(progress) = &self.progress {
            progress(&event);
        }
    }
}

impl fmt::Debug for StatusOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusOptions")
            .field("wait", &self.wait)
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .finish()
    }
}

/// A handle that asks imports to stop; its clones share one flag.
#[derive(Debug, Clone)]
pub struct Cancel(std::sync::Arc<tokio::sync::watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Self::new()
    }
}

impl Cancel {
    /// A handle not yet cancelled.
    pub fn new() -> Self {
        Self(std::sync::Arc::new(tokio::sync::watch::channel(false).0))
    }

    /// Asks every import holding a clone of this handle to stop.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    /// Whether [`Cancel::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes once [`Cancel::cancel`] is called.
    pub async fn cancelled(&self) {
        let mut changes = self.0.subscribe();
        let _ = changes.wait_for(|cancelled| *cancelled).await;
    }
}

impl ImportOptions {
    /// Options for `file` with `columns` and `key_column`, an upsert, a 2 s poll and a 1 h
    /// timeout.
    pub fn new(
        file: impl Into<PathBuf>,
        columns: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>,
        key_column: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            columns: columns
                .into_iter()
                .map(|(c, f)| (c.into(), f.into()))
                .collect(),
            key_column: key_column.into(),
            mode: Mode::Upsert,
            delimiter: None,
            max_row_bytes: crate::DEFAULT_MAX_ROW_BYTES,
            name: None,
            poll_interval: Duration::from_secs(2),
            timeout: Duration::from_secs(3600),
            no_wait: false,
            progress: None,
            cancel: None,
            preflight: Preflight::Warn,
            auto_map: false,
            dry_run: false,
        }
    }

    /// Checks the options and the file as every import does before its first request, and
    /// returns the file's format. The pre-flight's checks, which need the vendor's field list,
    /// come after it ([`ImportOptions::preflight`], [`ImportOptions::dry_run`]).
    pub fn check(&self) -> Result<crate::CsvFile, crate::Error> {
        crate::workflow::inspect(self)
    }

    pub(crate) fn emit(&self, event: Progress) {
        if let Some(progress) = &self.progress {
            progress(&event);
        }
    }

    /// The import name to give the vendor.
    #[cfg(any(feature = "mailperformance", feature = "copernica", feature = "eloqua"))]
    pub(crate) fn import_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| {
            let file = self
                .file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "contacts".into());
            format!("{file} {}", chrono::Utc::now().format("%Y-%m-%d %H:%M:%S"))
        })
    }
}

impl fmt::Debug for ImportOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ImportOptions")
            .field("file", &self.file)
            .field("columns", &self.columns)
            .field("key_column", &self.key_column)
            .field("mode", &self.mode)
            .field("delimiter", &self.delimiter.map(char::from))
            .field("max_row_bytes", &self.max_row_bytes)
            .field("name", &self.name)
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .field("no_wait", &self.no_wait)
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .field("preflight", &self.preflight)
            .field("auto_map", &self.auto_map)
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

/// Something that happened during an import, for progress bars and logs.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// A workflow step started ("create binding", "upload", "create sync" …).
    Step(&'static str),
    /// Bytes of the file sent so far, out of `total`.
    Uploaded {
        /// Sent so far.
        bytes: u64,
        /// The whole upload.
        total: u64,
    },
    /// The vendor was asked for the import's state.
    Polled {
        /// The vendor's state, in its words.
        state: String,
        /// Rows (lines) processed so far, where the vendor tells.
        processed: Option<u64>,
        /// Rows to process, where the vendor tells.
        total: Option<u64>,
    },
    /// The vendor's state changed.
    StateChanged {
        /// The state before (`None` on the first poll).
        from: Option<String>,
        /// The new state.
        to: String,
    },
}

/// How an import ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Every row was imported.
    Completed,
    /// The import ran, and some rows were rejected.
    CompletedWithErrors,
    /// The vendor reports the import as failed.
    Failed,
    /// The vendor has the data and the import started; it was not followed to its end
    /// (`no_wait`, or its state read while it still runs).
    Submitted,
    /// A dry run ([`ImportOptions::dry_run`]): everything was checked and nothing created;
    /// the plan is in the messages.
    DryRun,
}

impl fmt::Display for Status {
    /// In words: `completed`, `completed with errors`, `failed`, `submitted`, `dry run`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Completed => "completed",
            Status::CompletedWithErrors => "completed with errors",
            Status::Failed => "failed",
            Status::Submitted => "submitted",
            Status::DryRun => "dry run",
        })
    }
}

/// One row the vendor did not import.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Reject {
    /// The 1-based line of the input file (the header is line 1), where the vendor tells.
    pub row: Option<u64>,
    /// The vendor's reason (or the pre-flight's).
    pub reason: String,
    /// The row was left out before sending ([`Preflight::SkipInvalid`]), not rejected by the
    /// vendor.
    pub before_sending: bool,
}

impl Reject {
    /// A rejected row: its 1-based file line, where the vendor tells, and the vendor's reason.
    pub fn new(row: Option<u64>, reason: impl Into<String>) -> Self {
        Self {
            row,
            reason: reason.into(),
            before_sending: false,
        }
    }
}

impl ImportReport {
    /// The report of an import the vendor has accepted and not finished yet: the file's row
    /// count, nothing else known.
    pub fn submitted(vendor: Vendor, import_id: impl Into<String>, rows_total: u64) -> Self {
        Self {
            vendor,
            import_id: import_id.into(),
            status: Status::Submitted,
            rows_total: Some(rows_total),
            rows_imported: None,
            rows_rejected: None,
            rejects: Vec::new(),
            messages: Vec::new(),
            rows_not_sent: 0,
            mapping: Vec::new(),
            warnings: Vec::new(),
            warnings_total: 0,
        }
    }
}

impl ImportReport {
    /// The report of an import read from its id (no file here: no row count yet), not ended.
    pub(crate) fn read(vendor: Vendor, import_id: impl Into<String>) -> Self {
        Self {
            rows_total: None,
            ..Self::submitted(vendor, import_id, 0)
        }
    }
}

/// What happened, in one shape for every vendor. Counts are `None` where the vendor does not
/// tell them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// The vendor.
    pub vendor: Vendor,
    /// The vendor's id of the import (NP6 import id, Copernica import id, Mindbaz import id,
    /// Eloqua sync URI).
    pub import_id: String,
    /// How it ended.
    pub status: Status,
    /// Data rows in the file (the header not counted).
    pub rows_total: Option<u64>,
    /// Rows the vendor imported (inserted or updated).
    pub rows_imported: Option<u64>,
    /// Rows the vendor rejected.
    pub rows_rejected: Option<u64>,
    /// Rejected rows with their reasons, where the vendor tells them row by row.
    pub rejects: Vec<Reject>,
    /// What the vendor said about the import as a whole (Eloqua sync logs, Mindbaz and
    /// Copernica error messages, notes on what was done), for people. A failed import always
    /// has at least one: why it failed, or that the vendor gave no reason.
    pub messages: Vec<String>,
    /// Rows left out before sending ([`Preflight::SkipInvalid`]), each also in `rejects` (the
    /// first [`MAX_DETAILS`](crate::MAX_DETAILS) of them): `rows_total` is the rows imported,
    /// rejected by the vendor, and these.
    pub rows_not_sent: u64,
    /// The column map as sent: each file column with its vendor field's id and name (empty
    /// when the field list was not read).
    pub mapping: Vec<Mapped>,
    /// What the pre-flight found that the vendor may refuse (the first
    /// [`MAX_DETAILS`](crate::MAX_DETAILS)).
    pub warnings: Vec<Finding>,
    /// How many findings there were in all.
    pub warnings_total: u64,
}

/// A file column and the vendor field it goes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Mapped {
    /// The file column.
    pub column: String,
    /// The field's id, as sent to the vendor.
    pub field: String,
    /// The field's name.
    pub name: String,
}

#[cfg(test)]
mod tests {
    use super::Vendor;

    #[test]
    fn fields_are_checked_as_each_vendor_writes_them() {
        for (vendor, good, bad) in [
            (
                Vendor::Mailperformance,
                &["1", "1234"][..],
                &["0", "-10", "Email", ""][..],
            ),
            (
                Vendor::Copernica,
                &["email", "first_name"],
                &["first name", ""],
            ),
            (
                Vendor::Mindbaz,
                &["fld1", "fld150"],
                &["fld", "fldx", "Email", ""],
            ),
            (
                Vendor::Eloqua,
                &["C_EmailAddress", "{{Contact.Field(C_City)}}"],
                &["Email Address", "C-City", ""],
            ),
        ] {
            for field in good {
                assert_eq!(vendor.check_field(field), Ok(()), "{vendor} {field}");
            }
            for field in bad {
                assert!(vendor.check_field(field).is_err(), "{vendor} {field:?}");
            }
        }
    }
}
