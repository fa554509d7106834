//! A whole Mindbaz import: the file on the Mindbaz SFTP (uploaded, or already there) →
//! `imports/scheduleNow` → follow `GET imports/{idImport}` → the execution log.

use std::time::Duration;

use super::{sftp, types, Client, SftpConfig};
use crate::{
    error::call,
    workflow::{drive, follow, id_number, inspect, Deadline, Ledger, Poll, Steps},
    ApiError, CsvFile, Error, Fields, ImportOptions, ImportReport, Mode, Preflight, Progress,
    Reject, Status, StatusOptions, Vendor,
};

const VENDOR: Vendor = Vendor::Mindbaz;

/// `codepage` for UTF-8 (the input files are checked to be UTF-8).
pub const CODEPAGE_UTF8: i32 = 65001;

/// `idMappingMode` 1: the file's value overwrites the database's (unless it is empty).
const OVERWRITE: i32 = 1;

/// Mindbaz's part of an import's options. Give either `sftp` (the file is uploaded first) or
/// `remote_file` (it is already on the Mindbaz SFTP).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MindbazImport {
    /// The Mindbaz site (`idsite`).
    pub site: i32,
    /// Upload the file to this SFTP account (under its local file name, in `remote_dir`).
    pub sftp: Option<SftpConfig>,
    /// The file already on the Mindbaz SFTP, as Mindbaz names it: its path from the SFTP root
    /// (`contacts.csv`, `sub/contacts.csv`). It must be the same file as
    /// [`ImportOptions::file`], which is still read locally to check it and find its format.
    pub remote_file: Option<String>,
    /// `emailNotification`: the addresses (`;`-separated) that receive Mindbaz's report.
    pub email_notification: String,
    /// `deleteFile`: Mindbaz removes the file from the SFTP once imported.
    pub delete_file: bool,
    /// `keepFld7`: leave each subscriber's state (`fld7`) as it is (Mindbaz's default: true).
    pub keep_subscriber_state: bool,
    /// `safeMode`: a cell in error is imported as empty instead of rejecting its whole row.
    pub safe_mode: bool,
}

impl MindbazImport {
    /// Options for `site` with the report sent to `email_notification`, Mindbaz's defaults,
    /// and neither `sftp` nor `remote_file` set yet.
    pub fn new(site: i32, email_notification: impl Into<String>) -> Self {
        Self {
            site,
            sftp: None,
            remote_file: None,
            email_notification: email_notification.into(),
            delete_file: false,
            keep_subscriber_state: true,
            safe_mode: false,
        }
    }
}

/// The names of `importState` (vendor enum EImportState).
fn state_name(state: Option<i32>) -> String {
    match state {
        Some(1) => "scheduled".into(),
        Some(2) => "in progress".into(),
        Some(3) => "completed".into(),
        Some(4) => "paused".into(),
        Some(5) => "package creation error".into(),
        Some(other) => format!("state {other}"),
        None => "(no state)".into(),
    }
}

/// The row numbers of `badFormattedRowNumbers`, whose format is not documented: every run of
/// digits, in order, each once.
pub(crate) fn row_numbers(text: &str) -> Vec<u64> {
    let mut rows = Vec::new();
    for run in text.split(|c: char| !c.is_ascii_digit()) {
        if let Ok(row) = run.parse::<u64>() {
            if !rows.contains(&row) {
                rows.push(row);
            }
        }
    }
    rows
}

/// Unwraps the `{success, data, error}` envelope: `success: false` or an `error` with no data
/// is an error answer, whatever the HTTP status.
fn envelope(
    operation: &'static str,
    status: u16,
    response: types::ImportResponse,
) -> Result<types::Import, Error> {
    let failed = response.success == Some(false) || response.data.is_none();
    if failed {
        if response.success == Some(false) || response.error.is_some() {
            return Err(Error::Api(ApiError {
                vendor: VENDOR,
                operation,
                status,
                code: None,
                message: Some(
                    response
                        .error
                        .clone()
                        .unwrap_or_else(|| "success: false, no error message".into()),
                ),
                request_id: None,
                body_excerpt: serde_json::to_string(&response).unwrap_or_default(),
            }));
        }
        return Err(Error::missing(VENDOR, operation, "data"));
    }
    Ok(response.data.expect("checked above"))
}

/// The import parameters: the file's own format, and one mapping per mapped column.
fn parameters(
    csv: &CsvFile,
    options: &ImportOptions,
    mindbaz: &MindbazImport,
    filename: String,
    insert_enabled: bool,
) -> types::ImportParameters {
    let column_mapping = csv
        .header
        .iter()
        .filter_map(|column| {
            options
                .columns
                .get(column)
                .map(|field| types::ImportMapping {
                    db_field_name: field.clone(),
                    file_column_name: Some(column.clone()),
                    fixed_value: None,
                    format: None,
                    id_mapping_mode: OVERWRITE,
                })
        })
        .collect();
    types::ImportParameters {
        codepage: Some(CODEPAGE_UTF8),
        column_delimiter: char::from(csv.delimiter).to_string(),
        column_mapping,
        column_names_first_line: Some(true),
        delete_file: Some(mindbaz.delete_file),
        email_notification: mindbaz.email_notification.clone(),
        filename,
        insert_enabled: Some(insert_enabled),
        keep_fld7: Some(mindbaz.keep_subscriber_state),
        key_db_field_name: options.columns[&options.key_column].clone(),
        row_delimiter: csv.line_ending.as_str().to_owned(),
        safe_mode: Some(mindbaz.safe_mode),
        sheet_name: None,
        start_line: 1,
        text_qualifier: Some(char::from(csv.quote).to_string()),
    }
}

/// Fills the report from the execution log.
fn read_log(report: &mut ImportReport, log: &types::ImportLog) {
    let count = |n: Option<i32>| n.map(|n| n.max(0) as u64);
    let sum = |a: Option<i32>, b: Option<i32>| match (count(a), count(b)) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    // nbInserts/nbUpdates are the rows inserted and updated; totalInserts/totalUpdates the
    // rows that were to be.
    report.rows_imported = sum(log.nb_inserts, log.nb_updates);
    report.rows_rejected = sum(log.nb_error_rows, log.nb_bad_formatted_rows);
    report.rejects = log
        .bad_formatted_row_numbers
        .as_deref()
        .map(row_numbers)
        .unwrap_or_default()
        .into_iter()
        .map(|row| Reject::new(Some(row), "bad format"))
        .collect();
    if let Some(message) = log.error_message.as_deref().map(str::trim) {
        if !message.is_empty() {
            report.messages.push(message.to_owned());
        }
    }
    if let Some(forbidden) = count(log.nb_forbidden_inserts).filter(|&n| n > 0) {
        report.messages.push(format!(
            "{forbidden} rows not inserted (inserts disabled, or duplicate keys in the file)"
        ));
    }
}

impl Client {
    /// Runs a whole import: checks the file; uploads it to the Mindbaz SFTP (streamed from
    /// disk) unless it is already there; schedules it with `imports/scheduleNow` in the file's
    /// own format (delimiter, line ending, `"` qualifier, header on line 1, UTF-8), the key
    /// column's field as the deduplication key and one overwriting mapping per mapped column;
    /// follows `importState` until 3 (Completed) or 5 (PackageErrorCreation); and reports the
    /// counts of the execution log, with a reject per listed badly formatted row.
    ///
    /// `scheduleNow` is sent once: Mindbaz's REST API cannot list imports, so when its answer
    /// is lost the import may exist and [`Error::MaybeCreated`] is returned instead of a
    /// second import. An error while following it is an [`Error::Interrupted`] with the
    /// import's id.
    pub async fn import(
        &self,
        options: &ImportOptions,
        mindbaz: &MindbazImport,
    ) -> Result<ImportReport, Error> {
        drive(
            &Mindbaz {
                client: self,
                mindbaz,
            },
            options,
        )
        .await
    }

    /// The report of the import `import_id` of `site` (the number an import's report gave,
    /// with `no_wait` or in an [`Error::Interrupted`]), read from `GET imports/{idImport}` as
    /// [`Client::import`] reads its polls: once, or following it to its end with
    /// `options.wait`. Still running, it is [`Status::Submitted`]; ended, it is reported from
    /// its execution log as an import is, without the file's row count. A site or an id that
    /// is not a number from 1 is an [`Error::InvalidConfig`], before any request.
    pub async fn status(
        &self,
        site: i32,
        import_id: &str,
        options: &StatusOptions,
    ) -> Result<ImportReport, Error> {
        if site < 1 {
            return Err(Error::InvalidConfig {
                setting: "site",
                reason: format!("{site}: a Mindbaz site id is a number from 1"),
            });
        }
        let mindbaz = MindbazImport::new(site, "");
        let steps = Mindbaz {
            client: self,
            mindbaz: &mindbaz,
        };
        follow(&steps, import_id, options).await
    }
}

/// Mindbaz's steps of an import.
struct Mindbaz<'a> {
    client: &'a Client,
    mindbaz: &'a MindbazImport,
}

/// What the checks found: the file, where Mindbaz reads it from, whether inserts are enabled.
type Checked<'a> = (CsvFile, Target<'a>, bool);

impl<'a> Steps for Mindbaz<'a> {
    const VENDOR: Vendor = VENDOR;
    type Checked = Checked<'a>;
    /// The import's id.
    type Submitted = i32;
    /// The last poll.
    type Ended = types::Import;

    fn check(&self, options: &ImportOptions) -> Result<Checked<'a>, Error> {
        let mindbaz = self.mindbaz;
        let insert_enabled = match options.mode {
            Mode::Upsert => true,
            Mode::UpdateOnly => false,
            Mode::InsertOnly => {
                return Err(Error::InvalidConfig {
                    setting: "mode",
                    reason: "Mindbaz has no insert-only import: `insertEnabled` only switches \
                             inserts off (update-only), existing subscribers are always updated"
                        .into(),
                })
            }
        };
        if mindbaz.email_notification.trim().is_empty() {
            return Err(Error::InvalidConfig {
                setting: "e-mail notification",
                reason: "Mindbaz requires at least one address to send the import report to".into(),
            });
        }
        let target = match (&mindbaz.sftp, &mindbaz.remote_file) {
            (Some(sftp), None) => {
                sftp.check()?;
                Target::Upload(sftp)
            }
            (None, Some(remote)) if !remote.trim().trim_start_matches('/').is_empty() => {
                Target::Remote(remote.trim().trim_start_matches('/').to_owned())
            }
            (None, _) => {
                return Err(Error::InvalidConfig {
                    setting: "SFTP",
                    reason: "give the SFTP account to upload the file to, or the name of the \
                             file already on the Mindbaz SFTP"
                        .into(),
                })
            }
            (Some(_), Some(_)) => {
                return Err(Error::InvalidConfig {
                    setting: "SFTP",
                    reason: "give either the SFTP account to upload the file to or the name of \
                             a file already on the Mindbaz SFTP, not both"
                        .into(),
                })
            }
        };
        if options.preflight == Preflight::SkipInvalid && matches!(target, Target::Remote(_)) {
            return Err(Error::InvalidConfig {
                setting: "pre-flight",
                reason: "rows can be left out only of a file that is uploaded (the SFTP account), \
                         not of a file already on the Mindbaz SFTP"
                    .into(),
            });
        }
        let csv = inspect(options)?;
        Ok((csv, target, insert_enabled))
    }

    fn csv<'c>((csv, ..): &'c Checked<'a>) -> &'c CsvFile {
        csv
    }

    async fn fields(&self) -> Result<Fields, Error> {
        self.client.fields(self.mindbaz.site).await
    }

    fn plan(
        &self,
        options: &ImportOptions,
        (csv, target, insert_enabled): &Checked<'a>,
    ) -> Vec<String> {
        let file = match target {
            Target::Remote(name) => format!("`{name}`, already on the Mindbaz SFTP"),
            Target::Upload(config) => format!(
                "`{}` uploaded to {}@{}:{} ({} bytes)",
                csv.path.file_name().unwrap_or_default().to_string_lossy(),
                config.username,
                config.host,
                config.remote_dir,
                csv.size
            ),
        };
        let mapping: Vec<String> = options
            .columns
            .iter()
            .map(|(column, field)| format!("`{column}` → {field}"))
            .collect();
        vec![
            format!("the file {file}"),
            format!(
                "an import of site {} scheduled now, keyed by {} (inserts {}), {} rows: {}",
                self.mindbaz.site,
                options.columns[&options.key_column],
                if *insert_enabled {
                    "enabled"
                } else {
                    "disabled"
                },
                csv.rows,
                mapping.join(", ")
            ),
        ]
    }

    async fn submit(
        &self,
        options: &ImportOptions,
        (csv, target, insert_enabled): Checked<'a>,
        ledger: &Ledger,
        deadline: &Deadline,
    ) -> Result<(ImportReport, i32), Error> {
        let Self { client, mindbaz } = *self;
        let filename = match target {
            Target::Remote(name) => name,
            Target::Upload(config) => {
                let name = csv
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| Error::InvalidConfig {
                        setting: "file",
                        reason: format!("`{}` has no file name", csv.path.display()),
                    })?;
                let remote = config.remote_path(&name)?;
                options.emit(Progress::Step("upload"));
                csv.unchanged()?;
                // The upload stops a little before the whole import's timeout, to remove its
                // partial file itself.
                let reserve = (options.timeout / 10).min(Duration::from_secs(10));
                let stop = deadline.before_end(reserve);
                let upload = sftp::Upload {
                    local: &csv.path,
                    remote: &remote,
                    progress: options.progress.clone(),
                    stop,
                    interrupt: options.cancel.as_ref(),
                };
                // Cancelled, the upload removes its partial file before it stops.
                ledger.stops_itself(true);
                let uploaded = sftp::upload(config, upload).await;
                ledger.stops_itself(false);
                uploaded.map_err(|e| match e {
                    Error::Timeout { vendor, what, .. } => Error::Timeout {
                        vendor,
                        what,
                        after: Some(options.timeout),
                    },
                    e => e,
                })?;
                ledger.record(
                    "",
                    format!(
                        "no import created: no row imported; the file `{remote}` is on the \
                         Mindbaz SFTP (import it from there with --remote-file {remote} / \
                         MindbazImport::remote_file, or remove it)"
                    ),
                );
                // What was uploaded must be what was checked.
                csv.unchanged()?;
                // Cancelled as the upload ended: nothing more is sent.
                if options
                    .cancel
                    .as_ref()
                    .is_some_and(crate::Cancel::is_cancelled)
                {
                    return Err(Error::Cancelled { vendor: VENDOR });
                }
                deadline.check()?;
                remote
            }
        };

        options.emit(Progress::Step("schedule import"));
        let body = types::ScheduleNowRequest {
            parameters: parameters(&csv, options, mindbaz, filename.clone(), insert_enabled),
        };
        let request = client
            .schedule_import_now()
            .idsite(mindbaz.site)
            .body(body)
            .send();
        let what = format!(
            "an import of `{}` (`{}` on the Mindbaz SFTP) on site {} (scheduled at once, its \
             {} rows imported)",
            options.file.display(),
            filename,
            mindbaz.site,
            csv.rows
        );
        let scheduled = ledger
            .create_once(
                "scheduleImportNow",
                what,
                call(VENDOR, "scheduleImportNow", request),
            )
            .await
            .map_err(|e| {
                e.or_refused(|| {
                    let fields: Vec<&str> = options.columns.values().map(String::as_str).collect();
                    format!(
                        "Mindbaz may refuse site {}, the file (it must be on the site's SFTP) or \
                         a field of the mapping ({})",
                        mindbaz.site,
                        fields.join(", ")
                    )
                })
            })?;
        let status = scheduled.status().as_u16();
        let import = envelope("scheduleImportNow", status, scheduled.into_inner())?;
        let import_id = import
            .id
            .ok_or_else(|| Error::missing(VENDOR, "scheduleImportNow", "data.id"))?;
        ledger.record(
            import_id.to_string(),
            format!(
                "scheduled: its {} rows are being imported; follow it at Mindbaz \
                 (GET /api/{}/imports/{import_id})",
                csv.rows, mindbaz.site
            ),
        );

        let report = ImportReport::submitted(VENDOR, import_id.to_string(), csv.rows);
        Ok((report, import_id))
    }

    fn resume(&self, import_id: &str) -> Result<(String, i32), Error> {
        id_number(
            import_id,
            import_id,
            "a Mindbaz import id is a number from 1",
        )
    }

    async fn poll(&self, &import_id: &i32) -> Result<Poll<types::Import>, Error> {
        let answer = call(
            VENDOR,
            "getImport",
            self.client
                .get_import()
                .idsite(self.mindbaz.site)
                .id_import(import_id)
                .send(),
        )
        .await?;
        let status = answer.status().as_u16();
        let import = envelope("getImport", status, answer.into_inner())?;
        let state = state_name(import.import_state);
        // 3 Completed, 5 PackageErrorCreation; 1 Scheduled, 2 InProgress, 4 Paused, and states
        // not known yet, are followed.
        let ended = matches!(import.import_state, Some(3) | Some(5)).then_some(import);
        Ok(Poll::state(state, ended))
    }

    async fn finish(
        &self,
        import_id: i32,
        import: types::Import,
        mut report: ImportReport,
        _: &Ledger,
    ) -> Result<ImportReport, Error> {
        if let Some(log) = &import.last_import_log {
            read_log(&mut report, log);
        }
        report.status = if import.import_state == Some(5) {
            // Why, when the log does not say.
            if report.messages.is_empty() {
                report.messages.push(format!(
                    "Mindbaz could not create the import's package (state 5, \
                     PackageErrorCreation): GET /api/{}/imports/{import_id}",
                    self.mindbaz.site
                ));
            }
            Status::Failed
        } else if report.rows_rejected.unwrap_or(0) > 0 || !report.rejects.is_empty() {
            Status::CompletedWithErrors
        } else {
            Status::Completed
        };
        Ok(report)
    }
}

/// Where the file Mindbaz reads comes from.
enum Target<'a> {
    Upload(&'a SftpConfig),
    Remote(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_row_numbers_are_read_leniently() {
        assert_eq!(row_numbers("3;7;12"), [3, 7, 12]);
        assert_eq!(row_numbers(" 3, 7 ,12,"), [3, 7, 12]);
        assert_eq!(row_numbers("[4] [9]\n4"), [4, 9]);
        assert!(row_numbers("").is_empty());
    }

    #[test]
    fn envelopes_with_success_false_are_errors() {
        let response: types::ImportResponse = serde_json::from_value(serde_json::json!({
            "success": false, "data": null, "error": "Error, mapping invalid", "typeName": "Import"
        }))
        .unwrap();
        match envelope("getImport", 200, response) {
            Err(Error::Api(e)) => {
                assert_eq!(e.message.as_deref(), Some("Error, mapping invalid"));
                assert_eq!(e.status, 200);
            }
            other => panic!("expected an API error, got {other:?}"),
        }
        let empty = types::ImportResponse::default();
        assert!(matches!(
            envelope("getImport", 200, empty),
            Err(Error::Decode { .. })
        ));
    }
}
