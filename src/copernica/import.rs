//! A whole Copernica import: the file re-encoded with Copernica's field names → `POST /imports`
//! (started at once) → follow `GET /import/{id}`.

use std::collections::BTreeMap;

use super::{types, Client};
use crate::{
    error::{call, call_keeping_retry_after},
    workflow::{drive, follow, id_number, inspect, Deadline, Ledger, Poll, Steps},
    CsvFile, Error, Fields, ImportOptions, ImportReport, LineEnding, Mode, Progress, Status,
    StatusOptions, Vendor,
};

const VENDOR: Vendor = Vendor::Copernica;

/// The delimiters Copernica accepts for CSV data.
const DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Copernica's part of an import's options.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CopernicaImport {
    /// The database: its numeric id, or its name (looked up with `GET /databases`).
    pub database: String,
    /// `ignoreEmptyFields`: empty cells keep the values the profiles already have.
    pub ignore_empty_fields: bool,
    /// `followups`: run the database's follow-up actions on the imported profiles.
    pub followups: bool,
    /// `rebuild`: rebuild the database's selections after the import.
    pub rebuild: bool,
}

impl CopernicaImport {
    /// Options for an import into `database` (id or name), with the vendor's defaults.
    pub fn new(database: impl Into<String>) -> Self {
        Self {
            database: database.into(),
            ..Self::default()
        }
    }
}

/// How the last poll left the import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Running,
    Completed,
    CompletedWithErrors,
    Failed,
}

/// A number Copernica sends as a string (`"12"`).
fn number(value: Option<&str>) -> Option<u64> {
    value?.trim().parse().ok()
}

/// Processed and total lines of a poll. The field table spells `processedlines`, the JSON
/// example `processedLines`: either is read.
fn lines(status: &types::ImportStatus) -> (Option<u64>, Option<u64>) {
    let processed = number(status.processedlines.as_deref())
        .or_else(|| number(status.processed_lines.as_deref()));
    (processed, number(status.totallines.as_deref()))
}

/// The last error, when Copernica sets one (it sends `false` otherwise).
fn last_error(status: &types::ImportStatus) -> Option<String> {
    match &status.lasterror {
        Some(types::StringOrFalse::String(e)) if !e.trim().is_empty() => Some(e.trim().to_owned()),
        _ => None,
    }
}

/// Reads a poll. Only "ready for start" is documented, so the status is read loosely: the import
/// is finished once its processed lines reach its (non-zero) total, or its status speaks of
/// finishing, completing or being done; it failed when its status speaks of an error or a
/// failure. A `lasterror` makes a finished import one with errors, and an unfinished one failed
/// (Copernica has nothing else to say it stopped).
fn outcome(status: &types::ImportStatus) -> Outcome {
    let words = status.status.as_deref().unwrap_or_default().to_lowercase();
    if ["error", "fail"].iter().any(|w| words.contains(w)) {
        return Outcome::Failed;
    }
    let finished = match lines(status) {
        (Some(processed), Some(total)) if total > 0 && processed >= total => true,
        _ => ["finish", "complet", "done"]
            .iter()
            .any(|w| words.contains(w)),
    };
    match (finished, last_error(status).is_some()) {
        (true, false) => Outcome::Completed,
        (true, true) => Outcome::CompletedWithErrors,
        (false, true) => Outcome::Failed,
        (false, false) => Outcome::Running,
    }
}

/// The delimiter of the source: the file's when Copernica accepts it (`,` `;` tab), `,`
/// otherwise.
fn source_delimiter(csv: &CsvFile) -> u8 {
    if DELIMITERS.contains(&csv.delimiter) {
        csv.delimiter
    } else {
        b','
    }
}

/// Writes the file as Copernica should read it into `out`: the header line rewritten to the
/// mapped field names, the unmapped columns dropped, re-encoded with the csv crate (a field with
/// a delimiter, a quote or a line break is quoted, quotes doubled) with the file's line ending
/// and [`source_delimiter`]. Reads the file as a stream; `out` gets it in pieces.
pub(crate) fn write_source(
    csv: &CsvFile,
    columns: &BTreeMap<String, String>,
    out: impl std::io::Write,
) -> Result<(), Error> {
    let selected: Vec<(usize, &str)> = csv
        .header
        .iter()
        .enumerate()
        .filter_map(|(i, name)| columns.get(name).map(|field| (i, field.as_str())))
        .collect();
    let invalid = |row: Option<u64>, reason: String| {
        Error::InvalidInput(crate::InputError {
            file: csv.path.clone(),
            row,
            column: None,
            reason,
        })
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(csv.delimiter)
        .quote(csv.quote)
        .has_headers(false)
        .from_path(&csv.path)
        .map_err(|e| invalid(None, format!("cannot be read: {e}")))?;
    let mut writer = csv::WriterBuilder::new()
        .delimiter(source_delimiter(csv))
        .quote(b'"')
        .terminator(match csv.line_ending {
            LineEnding::CrLf => csv::Terminator::CRLF,
            LineEnding::Lf => csv::Terminator::Any(b'\n'),
        })
        .from_writer(out);
    let write_error = |e: csv::Error| invalid(None, format!("cannot be re-encoded: {e}"));
    writer
        .write_record(selected.iter().map(|(_, field)| field.as_bytes()))
        .map_err(write_error)?;
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| invalid(e.position().map(|p| p.line()), e.to_string()))?
    {
        if std::mem::take(&mut first) {
            continue; // the header, rewritten above
        }
        writer
            .write_record(selected.iter().map(|&(i, _)| &record[i]))
            .map_err(write_error)?;
    }
    writer
        .flush()
        .map_err(|e| invalid(None, format!("cannot be re-encoded: {e}")))
}

/// Writes what it is given as the inside of a JSON string (as serde_json escapes strings:
/// `"`, `\\` and control characters) to `out`. The bytes are UTF-8 (the file was checked).
struct JsonString<W>(W);

impl<W: std::io::Write> std::io::Write for JsonString<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut plain = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escaped: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f => {
                    self.0.write_all(&bytes[plain..i])?;
                    write!(self.0, "\\u{b:04x}")?;
                    plain = i + 1;
                    continue;
                }
                _ => continue,
            };
            self.0.write_all(&bytes[plain..i])?;
            self.0.write_all(escaped)?;
            plain = i + 1;
        }
        self.0.write_all(&bytes[plain..])?;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Counts what is written.
#[derive(Default)]
struct Count(u64);

impl std::io::Write for Count {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0 += bytes.len() as u64;
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The pieces of a streamed body, as they are written, sent on a channel.
struct Pieces {
    piece: Vec<u8>,
    tx: crate::http::Pieces,
}

/// The size of the pieces of a streamed body.
const PIECE: usize = 1 << 16;

impl std::io::Write for Pieces {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.piece.extend_from_slice(bytes);
        if self.piece.len() >= PIECE {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.piece.is_empty() {
            return Ok(());
        }
        let piece = std::mem::replace(&mut self.piece, Vec::with_capacity(PIECE));
        self.tx
            .blocking_send(Ok(piece.into()))
            .map_err(|_| std::io::Error::other("the request has ended"))
    }
}

/// An import's JSON body with its `source` streamed from the file: the fields of `request` (its
/// `source` left out), then `"source":` and the re-encoded file as a JSON string. The body is
/// built twice, the first time only counted, so that it is sent with its `Content-Length`, and
/// never held whole: its memory does not grow with the file.
struct StreamedBody {
    head: String,
    length: u64,
}

impl StreamedBody {
    const TAIL: &'static str = "\"}";

    fn new(
        request: &types::ImportRequest,
        csv: &CsvFile,
        columns: &BTreeMap<String, String>,
    ) -> Result<Self, Error> {
        let mut fields = serde_json::to_value(request).expect("an import request serialises");
        fields
            .as_object_mut()
            .expect("an import request is an object")
            .remove("source");
        let fields = serde_json::to_string(&fields).expect("a JSON object serialises");
        let open = fields.strip_suffix('}').expect("a JSON object ends with }");
        let comma = if open.len() > 1 { "," } else { "" };
        let head = format!("{open}{comma}\"source\":\"");
        let mut count = JsonString(Count::default());
        write_source(csv, columns, &mut count)?;
        let length = (head.len() + Self::TAIL.len()) as u64 + count.0 .0;
        Ok(Self { head, length })
    }

    /// The body, read from the file as it is sent, with progress events.
    fn stream(
        &self,
        csv: &CsvFile,
        columns: &BTreeMap<String, String>,
        progress: Option<crate::ProgressFn>,
    ) -> reqwest::Body {
        let (csv, columns, head) = (csv.clone(), columns.clone(), self.head.clone());
        crate::http::streamed_body(self.length, progress, move |tx| {
            let mut pieces = Pieces {
                piece: head.into_bytes(),
                tx: tx.clone(),
            };
            let written = write_source(&csv, &columns, JsonString(&mut pieces))
                .map_err(|e| std::io::Error::other(e.report().to_string()))
                .and_then(|()| {
                    std::io::Write::write_all(&mut pieces, Self::TAIL.as_bytes())?;
                    std::io::Write::flush(&mut pieces)
                });
            if let Err(e) = written {
                let _ = tx.blocking_send(Err(e));
            }
        })
    }
}

impl Client {
    /// `POST /imports` as the generated `create_import` sends it (the client's hooks: the
    /// token, the retry layer, the answer's limits), its body streamed ([`StreamedBody`]),
    /// sent again when the retry policy allows it for a request that creates something.
    async fn create_import_streamed(
        &self,
        request: &types::ImportRequest,
        csv: &CsvFile,
        options: &ImportOptions,
    ) -> Result<progenitor_client::ResponseValue<()>, Error> {
        use progenitor_client::{ClientHooks as _, ClientInfo as _, OperationInfo};
        let columns = &options.columns;
        csv.unchanged()?;
        // Counting the body reads the whole file: off the async threads, so that a timeout or
        // a cancel is not held up by it.
        let body = {
            let (request, csv, columns) = (request.clone(), csv.clone(), columns.clone());
            tokio::task::spawn_blocking(move || StreamedBody::new(&request, &csv, &columns))
                .await
                .expect("counting the body does not panic")?
        };
        let info = OperationInfo {
            operation_id: "create_import",
        };
        crate::retry::again(&self.inner().retry, "createImport", false, || async {
            // What is sent must be what was checked (and counted).
            csv.unchanged().map_err(|e| (e, None))?;
            let send = async {
                let mut http = self
                    .client()
                    .post(format!("{}/imports", self.baseurl()))
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .header(reqwest::header::CONTENT_LENGTH, body.length)
                    .body(body.stream(csv, columns, options.progress.clone()))
                    .build()?;
                self.pre::<()>(&mut http, &info).await?;
                let response = self.exec(http, &info).await?;
                match response.status().as_u16() {
                    201 => Ok(progenitor_client::ResponseValue::empty(response)),
                    _ => Err(progenitor_client::Error::UnexpectedResponse(response)),
                }
            };
            let created = call_keeping_retry_after(VENDOR, "createImport", send).await;
            // A file changed while it was read says so, not as the request's failure.
            csv.unchanged().map_err(|e| (e, None))?;
            created
        })
        .await
    }
}

impl Client {
    /// Runs a whole import: checks the file, re-encodes it with the mapped Copernica field
    /// names as its header and only the mapped columns, and sends it inline to `POST /imports`
    /// (`format` csv, `keyFields` the key column's field, `action` "update or add", "ignore or
    /// add" or "update" from the mode, `autostart`); the new import's id comes back in
    /// `X-Created`. A database given by name is looked up first. Then polls `GET /import/{id}`
    /// until it is finished. Only the status "ready for start" is documented, so a poll is read
    /// loosely: finished once `processedlines` reaches a non-zero `totallines` or the status
    /// speaks of finishing, completing or being done; failed when it speaks of an error or a
    /// failure, or when `lasterror` is set on an unfinished import; finished with errors when
    /// `lasterror` is set on a finished one. Copernica tells processed lines and its last
    /// error, not rejected rows.
    ///
    /// The data travels inside the JSON body, written as it is sent (its memory does not grow
    /// with the file); the file is read twice for it: once to count the body's
    /// `Content-Length`, once to send it.
    ///
    /// The request that creates the import is sent once: Copernica has no endpoint to list
    /// imports, so when its answer is lost the import may exist and [`Error::MaybeCreated`] is
    /// returned instead of a second import. An error while following it is an
    /// [`Error::Interrupted`] with the import's id.
    pub async fn import(
        &self,
        options: &ImportOptions,
        copernica: &CopernicaImport,
    ) -> Result<ImportReport, Error> {
        drive(
            &Copernica {
                client: self,
                copernica,
            },
            options,
        )
        .await
    }

    /// The report of the import `import_id` (the number an import's report gave, with
    /// `no_wait` or in an [`Error::Interrupted`]), read from `GET /import/{id}` as
    /// [`Client::import`] reads its polls: once, or following it to its end with
    /// `options.wait`. Still running, it is [`Status::Submitted`] with its processed lines in
    /// the messages; ended, it is reported as an import is, without the file's row count. An
    /// id that is not a number from 1 is an [`Error::InvalidConfig`], before any request.
    pub async fn status(
        &self,
        import_id: &str,
        options: &StatusOptions,
    ) -> Result<ImportReport, Error> {
        let copernica = CopernicaImport::default();
        let steps = Copernica {
            client: self,
            copernica: &copernica,
        };
        follow(&steps, import_id, options).await
    }
}

/// Copernica's steps of an import.
struct Copernica<'a> {
    client: &'a Client,
    copernica: &'a CopernicaImport,
}

impl Steps for Copernica<'_> {
    const VENDOR: Vendor = VENDOR;
    type Checked = CsvFile;
    /// The import's id.
    type Submitted = i64;
    /// The last poll, with its status.
    type Ended = (types::ImportStatus, Status);

    fn check(&self, options: &ImportOptions) -> Result<CsvFile, Error> {
        let database = self.copernica.database.trim();
        if database.is_empty() {
            return Err(Error::InvalidConfig {
                setting: "database",
                reason: "give the Copernica database's id or name".into(),
            });
        }
        inspect(options)
    }

    fn csv(csv: &CsvFile) -> &CsvFile {
        csv
    }

    async fn fields(&self) -> Result<Fields, Error> {
        self.client.fields(&self.copernica.database).await
    }

    fn plan(&self, options: &ImportOptions, csv: &CsvFile) -> Vec<String> {
        let fields: Vec<String> = options
            .columns
            .iter()
            .map(|(column, field)| format!("`{column}` → {field}"))
            .collect();
        vec![format!(
            "an import `{}` into database `{}`, started at once ({}), keyed by {}: the {} \
             rows inline, re-encoded with the field names as header ({})",
            options.import_name(),
            self.copernica.database.trim(),
            action(options.mode).1,
            options.columns[&options.key_column],
            csv.rows,
            fields.join(", ")
        )]
    }

    async fn submit(
        &self,
        options: &ImportOptions,
        csv: CsvFile,
        ledger: &Ledger,
        _: &Deadline,
    ) -> Result<(ImportReport, i64), Error> {
        let Self { client, copernica } = *self;
        let database = copernica.database.trim();
        let key_field = options.columns[&options.key_column].clone();
        if database.parse::<i64>().is_err() {
            options.emit(Progress::Step("find database"));
        }
        let database_id = client.database_id(database).await?;

        options.emit(Progress::Step("create import"));
        let (action, _) = action(options.mode);
        let request = types::ImportRequest {
            action: Some(action),
            autostart: Some(true),
            database: database_id,
            delete_target: None,
            delimiter: Some(char::from(source_delimiter(&csv)).to_string()),
            followups: Some(copernica.followups),
            format: Some(types::ImportFormat::Csv),
            ignore_empty_fields: Some(copernica.ignore_empty_fields),
            key_fields: vec![key_field],
            location: None,
            name: Some(options.import_name()),
            rebuild: Some(types::ImportRequestRebuild::Boolean(copernica.rebuild)),
            remove_missing: None,
            // Streamed from the file by `create_import_streamed`.
            source: None,
        };
        let what = format!(
            "an import of `{}` into database {database_id} (started at once, its {} rows \
             imported)",
            options.file.display(),
            csv.rows
        );
        let created = ledger
            .create_once(
                "createImport",
                what.clone(),
                client.create_import_streamed(&request, &csv, options),
            )
            .await
            .map_err(|e| {
                e.or_refused(|| {
                    let fields: Vec<&str> = options.columns.values().map(String::as_str).collect();
                    format!(
                        "Copernica may refuse database {database_id} or a field name ({}): list \
                         them with GET /databases and GET /database/{database_id}/fields",
                        fields.join(", ")
                    )
                })
            })?;
        // A 201 whose id cannot be read: the import exists, unknown.
        let import_id = created_id(created.headers()).map_err(|e| Error::MaybeCreated {
            vendor: VENDOR,
            operation: "createImport",
            what,
            source: Box::new(e),
        })?;
        ledger.record(
            import_id.to_string(),
            format!(
                "created and started: its {} rows are being imported; follow it at Copernica \
                 (GET /import/{import_id})",
                csv.rows
            ),
        );

        let report = ImportReport::submitted(VENDOR, import_id.to_string(), csv.rows);
        Ok((report, import_id))
    }

    fn resume(&self, import_id: &str) -> Result<(String, i64), Error> {
        id_number(
            import_id,
            import_id,
            "a Copernica import id is a number from 1",
        )
    }

    async fn poll(&self, &import_id: &i64) -> Result<Poll<Self::Ended>, Error> {
        let status = call(
            VENDOR,
            "getImport",
            self.client.get_import().id(import_id).send(),
        )
        .await?
        .into_inner();
        let (processed, total) = lines(&status);
        let ended = match outcome(&status) {
            Outcome::Running => None,
            Outcome::Completed => Some(Status::Completed),
            Outcome::CompletedWithErrors => Some(Status::CompletedWithErrors),
            Outcome::Failed => Some(Status::Failed),
        };
        let state = status
            .status
            .clone()
            .unwrap_or_else(|| "(no status)".into());
        Ok(Poll {
            processed,
            total,
            ..Poll::state(state, ended.map(|ended| (status, ended)))
        })
    }

    async fn finish(
        &self,
        _: i64,
        (status, status_now): Self::Ended,
        mut report: ImportReport,
        _: &Ledger,
    ) -> Result<ImportReport, Error> {
        let (processed, _) = lines(&status);
        report.status = status_now;
        // Copernica counts lines processed, rejected ones included, and gives no number of
        // imported or rejected rows: the report says so instead of guessing.
        if status_now == Status::Completed {
            report.rows_imported = processed;
        } else if let Some(processed) = processed {
            report.messages.push(format!(
                "{processed} lines processed; Copernica does not count rejected rows"
            ));
        }
        report.messages.extend(last_error(&status));
        Ok(report)
    }
}

/// The import's `action` for `mode`, and its wording.
fn action(mode: Mode) -> (types::ImportAction, &'static str) {
    match mode {
        Mode::Upsert => (types::ImportAction::UpdateOrAdd, "update or add"),
        Mode::InsertOnly => (types::ImportAction::IgnoreOrAdd, "ignore or add"),
        Mode::UpdateOnly => (types::ImportAction::Update, "update"),
    }
}

/// The new import's id, from the `X-Created` header of the 201 answer.
fn created_id(headers: &reqwest::header::HeaderMap) -> Result<i64, Error> {
    let value = headers.get("x-created");
    let text = value.map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    match text.as_deref().map(str::parse::<i64>) {
        Some(Ok(id)) if id > 0 => Ok(id),
        _ => Err(Error::Decode {
            vendor: VENDOR,
            operation: "createImport",
            path: "X-Created header".into(),
            reason: match &text {
                None => "the 201 answer has no X-Created header with the new import's id".into(),
                Some(t) => format!("the X-Created header `{t}` is not an import id"),
            },
            excerpt: String::new(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: serde_json::Value) -> types::ImportStatus {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn polls_are_read_loosely() {
        use serde_json::json;
        let o = |j| outcome(&status(j));
        assert_eq!(
            o(
                json!({"status": "ready for start", "totallines": "0", "processedLines": "0",
                     "lasterror": false})
            ),
            Outcome::Running
        );
        assert_eq!(
            o(json!({"status": "running", "totallines": "3", "processedlines": "3"})),
            Outcome::Completed
        );
        assert_eq!(
            o(json!({"status": "Finished", "totallines": "3", "processedLines": "1"})),
            Outcome::Completed
        );
        assert_eq!(o(json!({"status": "completed"})), Outcome::Completed);
        assert_eq!(
            o(json!({"status": "done", "lasterror": "line 2: bad e-mail"})),
            Outcome::CompletedWithErrors
        );
        assert_eq!(o(json!({"status": "import failed"})), Outcome::Failed);
        assert_eq!(
            o(json!({"status": "ready for start", "lasterror": "no such field"})),
            Outcome::Failed
        );
        assert_eq!(
            o(json!({"status": "running", "lasterror": false, "totallines": "0"})),
            Outcome::Running
        );
        let s = status(json!({"processedLines": "7", "totallines": "9"}));
        assert_eq!(lines(&s), (Some(7), Some(9)));
    }

    #[test]
    fn x_created_is_required_and_numeric() {
        let mut headers = reqwest::header::HeaderMap::new();
        let e = created_id(&headers).unwrap_err();
        assert!(e.to_string().contains("X-Created"), "{e}");
        headers.insert("x-created", " 42 ".parse().unwrap());
        assert_eq!(created_id(&headers).unwrap(), 42);
        headers.insert("x-created", "forty".parse().unwrap());
        let e = created_id(&headers).unwrap_err();
        assert!(e.to_string().contains("`forty`"), "{e}");
    }

    #[test]
    fn the_source_keeps_mapped_columns_under_field_names() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(
            &mut f,
            b"\xEF\xBB\xBFemail|name|skip\r\na@x.io|\"Doe, \"\"J\"\"\nline\"|x\r\nb@x.io||y\r\n",
        )
        .unwrap();
        let columns: BTreeMap<String, String> = [("email", "Email"), ("name", "Name")]
            .into_iter()
            .map(|(c, f)| (c.to_owned(), f.to_owned()))
            .collect();
        let csv = CsvFile::inspect(
            f.path(),
            &crate::Expectations {
                columns: vec!["email", "name"],
                key: Some("email"),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            source_delimiter(&csv),
            b',',
            "`|` is not a Copernica delimiter"
        );
        let mut source = Vec::new();
        write_source(&csv, &columns, &mut source).unwrap();
        let source = String::from_utf8(source).unwrap();
        assert_eq!(
            source,
            "Email,Name\r\na@x.io,\"Doe, \"\"J\"\"\nline\"\r\nb@x.io,\r\n"
        );
        // As the inside of a JSON string, it is what serde_json writes.
        let mut escaped = Vec::new();
        std::io::Write::write_all(&mut JsonString(&mut escaped), source.as_bytes()).unwrap();
        let with_controls = "tab\there \u{1} \\ \"q\" é\u{8}\u{c}";
        std::io::Write::write_all(&mut JsonString(&mut escaped), with_controls.as_bytes()).unwrap();
        let expected = serde_json::to_string(&format!("{source}{with_controls}")).unwrap();
        assert_eq!(
            format!("\"{}\"", String::from_utf8(escaped).unwrap()),
            expected
        );
    }
}
