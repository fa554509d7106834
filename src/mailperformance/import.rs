//! A whole NP6 import: binding → import → streamed file source → execution → follow.

use sha2::{Digest, Sha256};

use super::{types, Client};
use crate::{
    error::{call, call_keeping_retry_after},
    workflow::{drive, follow, id_number, inspect, Deadline, Ledger, Poll, Steps},
    CsvFile, Error, Fields, ImportOptions, ImportReport, Mode, Progress, Status, StatusOptions,
    Vendor,
};

const VENDOR: Vendor = Vendor::Mailperformance;

/// The `fieldId` that makes NP6 skip a column.
pub const IGNORED_COLUMN: i32 = -10;

/// The binding's `startAt` for a file with one header line. NP6 documents it only as "Value of
/// start"; every NP6 example pairs `startAt: 1` with a file whose first line is a header, so 1 is
/// read as "skip one line" (see `ImportFormat.startAt` in the spec): the value that cannot lose
/// the first contact.
pub const START_AT: i32 = 1;

/// What NP6 does with rows whose key appears more than once in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DuplicateRule {
    /// Import none of them.
    Ignore,
    /// Import the first.
    First,
    /// Import the last.
    Last,
}

/// NP6's part of an import's options.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Np6Import {
    /// The binding to create or reuse. Defaults to `esp-imports ` and 16 hex digits of the
    /// SHA-256 of the binding's separator, `startAt` and binds ([`binding_name`]), so the same
    /// layout reuses the same binding, whatever the Rust release.
    pub binding_name: Option<String>,
    /// `database.crushData`: empty cells overwrite existing values.
    pub crush_data: bool,
    /// The `duplicate` feature.
    pub duplicates: Option<DuplicateRule>,
    /// The `segmentation` feature: put the imported contacts in this segment.
    pub segment_id: Option<i32>,
    /// With `segment_id`: empty the segment first.
    pub empty_segment: bool,
    /// The `report` feature: contacts (GUIDs) that receive the final and error reports.
    pub report_contacts: Vec<String>,
    /// The `report` feature: groups that receive the final and error reports.
    pub report_groups: Vec<i32>,
}

/// The execution states of `GET /imports/{id}/executions`.
fn state_name(state: i32) -> String {
    match state {
        0 => "processing".into(),
        1 => "completed".into(),
        2 => "error".into(),
        other => format!("state {other}"),
    }
}

impl Client {
    /// Runs a whole import (see the README): refuses a file with a line break inside a quoted
    /// field (NP6 reads lines), creates or reuses the binding (unmapped columns
    /// bound to -10, the file's separator, `startAt` [`START_AT`]), creates the import with the
    /// features of the options, streams the file to `PUT /imports/{id}/source` with its
    /// `Content-Length`, starts an execution and follows it. NP6 reports row results only by
    /// e-mail, so the report has the file's row count and no per-row figures.
    ///
    /// The import and its execution are created once: when an answer is lost, the import is
    /// looked for by name and the execution's state is asked before either is sent again. The
    /// upload replaces the import's file, so it is sent again (read anew from disk) after a
    /// lost connection or a refusal, as the retry policy says. An error after the import was
    /// created is an [`Error::Interrupted`] with the import's id and state.
    pub async fn import(
        &self,
        options: &ImportOptions,
        np6: &Np6Import,
    ) -> Result<ImportReport, Error> {
        drive(&Np6 { client: self, np6 }, options).await
    }

    /// The report of the import `import_id` (the number an import's report gave, with
    /// `no_wait` or in an [`Error::Interrupted`]), read from its execution's state: once, or
    /// following it to its end with `options.wait`. Still running, it is
    /// [`Status::Submitted`]; ended, it is reported as [`Client::import`] reports it, without
    /// the file's row count. An id that is not a number from 1 is an
    /// [`Error::InvalidConfig`], before any request.
    pub async fn status(
        &self,
        import_id: &str,
        options: &StatusOptions,
    ) -> Result<ImportReport, Error> {
        let np6 = Np6Import::default();
        follow(
            &Np6 {
                client: self,
                np6: &np6,
            },
            import_id,
            options,
        )
        .await
    }
}

/// NP6's steps of an import.
struct Np6<'a> {
    client: &'a Client,
    np6: &'a Np6Import,
}

impl Steps for Np6<'_> {
    const VENDOR: Vendor = VENDOR;
    /// The file, and whether existing contacts are updated.
    type Checked = (CsvFile, bool);
    /// The import's id.
    type Submitted = i32;
    type Ended = Status;

    fn check(&self, options: &ImportOptions) -> Result<(CsvFile, bool), Error> {
        let update_existing = match options.mode {
            Mode::Upsert => true,
            Mode::InsertOnly => false,
            Mode::UpdateOnly => {
                return Err(Error::InvalidConfig {
                    setting: "mode",
                    reason: "NP6 MailPerformance has no update-only import".into(),
                })
            }
        };
        let csv = inspect(options)?;
        if let Some((line, column)) = &csv.quoted_line_break {
            return Err(Error::InvalidInput(crate::InputError {
                file: csv.path.clone(),
                row: Some(*line),
                column: Some(column.clone()),
                reason: "a line break inside a quoted field: an NP6 binding has a separator \
                         and a first line, no quote character, so NP6 would read this row as \
                         two; remove the line breaks"
                    .into(),
            }));
        }
        Ok((csv, update_existing))
    }

    fn csv((csv, _): &(CsvFile, bool)) -> &CsvFile {
        csv
    }

    async fn fields(&self) -> Result<Fields, Error> {
        self.client.fields().await
    }

    fn plan(
        &self,
        options: &ImportOptions,
        (csv, update_existing): &(CsvFile, bool),
    ) -> Vec<String> {
        let binds: Vec<String> = csv
            .header
            .iter()
            .enumerate()
            .filter_map(|(i, column)| {
                let field = options.columns.get(column)?;
                Some(format!("column {i} `{column}` → field {field}"))
            })
            .collect();
        vec![
            format!(
                "an import format (binding), separator `{}`, first line {START_AT}: {}",
                char::from(csv.delimiter),
                binds.join(", ")
            ),
            format!(
                "an import `{}` (existing contacts {})",
                options.import_name(),
                if *update_existing {
                    "updated"
                } else {
                    "left as they are"
                }
            ),
            format!("its file uploaded: {} bytes, {} rows", csv.size, csv.rows),
            "an execution of the import".into(),
        ]
    }

    async fn submit(
        &self,
        options: &ImportOptions,
        (csv, update_existing): (CsvFile, bool),
        ledger: &Ledger,
        _: &Deadline,
    ) -> Result<(ImportReport, i32), Error> {
        let Self { client, np6 } = *self;
        // Numeric ids from 1: resolved, or checked by `Vendor::check_field`, by the pre-flight.
        let field_ids: std::collections::BTreeMap<&str, i32> = options
            .columns
            .iter()
            .filter_map(|(column, field)| Some((column.as_str(), field.trim().parse().ok()?)))
            .collect();

        options.emit(Progress::Step("create binding"));
        let (binding, binding_note) = client.binding(&csv, &field_ids, np6).await?;

        options.emit(Progress::Step("create import"));
        let features = features(np6, update_existing);
        let name = options.import_name();
        let import_id = ledger
            .creating(
                &format!("an NP6 import named `{name}`"),
                client.create_import_once(&name, binding, &features),
            )
            .await
            .map_err(|e| {
                e.or_refused(|| {
                    format!(
                        "NP6 may refuse the import `{name}` for its binding {binding} or its \
                         features (segment id, report contacts and groups)"
                    )
                })
            })?
            .id
            .ok_or_else(|| Error::missing(VENDOR, "createImport", "id"))?;
        ledger.record(
            import_id.to_string(),
            "created, its file not uploaded, no execution started: no row imported",
        );
        // Until its execution starts, a cancelled import is deleted: nothing is imported.
        let deleting = client.clone();
        ledger.on_cancel(Some(Box::pin(async move {
            call::<()>(
                VENDOR,
                "deleteImport",
                deleting.delete_import().id(import_id).send(),
            )
            .await?;
            Ok(
                "deleted (cancelled before its execution): nothing left at NP6, no row imported"
                    .into(),
            )
        })));

        options.emit(Progress::Step("upload"));
        client.upload(&csv, import_id, options).await?;
        ledger.record(
            import_id.to_string(),
            "created with its file, no execution started: no row imported",
        );

        options.emit(Progress::Step("start execution"));
        ledger
            .creating(
                &format!(
                    "an execution of NP6 import {import_id} (its rows imported): check \
                     GET /imports/{import_id}/executions"
                ),
                client.execute(import_id, binding, features),
            )
            .await?;
        ledger.on_cancel(None);
        ledger.record(
            import_id.to_string(),
            format!(
                "its execution started: its {} rows are being imported; follow it at NP6 \
                 (GET /imports/{import_id}/executions)",
                csv.rows
            ),
        );
        let mut report = ImportReport::submitted(VENDOR, import_id.to_string(), csv.rows);
        report.messages.extend(binding_note);
        Ok((report, import_id))
    }

    fn resume(&self, import_id: &str) -> Result<(String, i32), Error> {
        id_number(import_id, import_id, "an NP6 import id is a number from 1")
    }

    async fn poll(&self, &import_id: &i32) -> Result<Poll<Status>, Error> {
        let state = call(
            VENDOR,
            "getImportExecutionState",
            self.client
                .get_import_execution_state()
                .id(import_id)
                .send(),
        )
        .await?
        .state;
        let ended = match state {
            1 => Some(Status::Completed),
            2 => Some(Status::Failed),
            _ => None,
        };
        Ok(Poll::state(state_name(state), ended))
    }

    async fn finish(
        &self,
        import_id: i32,
        status: Status,
        mut report: ImportReport,
        _: &Ledger,
    ) -> Result<ImportReport, Error> {
        report.status = status;
        report.messages.push(if status == Status::Completed {
            "NP6 sends row results by e-mail (report feature)".into()
        } else {
            format!(
                "NP6 ended the execution in error (state 2) and gives no reason through \
                 its API: NP6 e-mails the error report to the contacts and groups of the \
                 report feature (report_contacts, report_groups); the execution: \
                 GET /imports/{import_id}/executions"
            )
        });
        Ok(report)
    }
}

impl Client {
    /// Creates the binding, or reuses the one with the same name: NP6 answers 409, with an
    /// empty body, to a name that exists, and the binding is then looked for in
    /// `GET /importFormats` and reused if it binds the same way. That listing is not in NP6's
    /// current reference: when it is not there (404, 405, 501), or does not list the name, the
    /// binding is created under a new unique name instead, and the returned note says so.
    async fn binding(
        &self,
        csv: &CsvFile,
        field_ids: &std::collections::BTreeMap<&str, i32>,
        np6: &Np6Import,
    ) -> Result<(i32, Option<String>), Error> {
        let binds: Vec<types::ImportBind> = csv
            .header
            .iter()
            .enumerate()
            .map(|(i, column)| types::ImportBind {
                column_index: i as i32,
                field_id: field_ids
                    .get(column.as_str())
                    .copied()
                    .unwrap_or(IGNORED_COLUMN),
            })
            .collect();
        let separator = i32::from(csv.delimiter);
        let name = np6
            .binding_name
            .clone()
            .unwrap_or_else(|| binding_name(separator, &binds));
        match self.create_binding(&name, separator, &binds).await {
            Ok(guid) => return Ok((guid, None)),
            Err(e) if e.status() == Some(409) => {}
            Err(e) => {
                return Err(e.or_refused(|| {
                    let ids: Vec<String> = binds
                        .iter()
                        .filter(|b| b.field_id != IGNORED_COLUMN)
                        .map(|b| b.field_id.to_string())
                        .collect();
                    format!(
                        "NP6 may refuse the binding `{name}` (separator {separator}, startAt \
                         {START_AT}) for one of its field ids {}: list the account's fields \
                         with GET /fields",
                        ids.join(", ")
                    )
                }))
            }
        }
        let why = match call(
            VENDOR,
            "listImportFormats",
            self.list_import_formats().send(),
        )
        .await
        {
            Ok(formats) => match formats.into_inner().0.into_iter().find(|f| f.name == name) {
                Some(existing) => return reuse(existing, &name, separator, &binds),
                None => "GET /importFormats does not list it".to_owned(),
            },
            Err(e) if matches!(e.status(), Some(404 | 405 | 501)) => format!(
                "GET /importFormats, which NP6's reference does not list, answered {}",
                e.status().unwrap_or_default()
            ),
            Err(e) => return Err(e),
        };
        let unique = format!(
            "{name} {}-{:04x}",
            chrono::Utc::now().format("%Y%m%dT%H%M%S"),
            fastrand::u16(..)
        );
        tracing::warn!(binding = %name, %why, new = %unique, "creating the binding under a new name");
        match self.create_binding(&unique, separator, &binds).await {
            Ok(guid) => Ok((
                guid,
                Some(format!(
                    "NP6 has a binding named `{name}` that could not be looked up ({why}): \
                     created the binding `{unique}` instead"
                )),
            )),
            Err(Error::Api(mut refused)) if refused.status == 409 => {
                refused.message = Some(format!(
                    "NP6 answered 409 for the binding `{name}`, which could not be looked up \
                     ({why}), and again for the new name `{unique}`"
                ));
                Err(Error::Api(refused))
            }
            Err(e) => Err(e),
        }
    }

    /// `POST /importFormats`: the binding's guid.
    async fn create_binding(
        &self,
        name: &str,
        separator: i32,
        binds: &[types::ImportBind],
    ) -> Result<i32, Error> {
        let request = self.create_import_format().body(types::ImportFormat {
            binds: binds.to_vec(),
            identifier: None,
            name: name.to_owned(),
            saved_import_format: true,
            separator,
            start_at: START_AT,
        });
        call(VENDOR, "createImportFormat", request.send())
            .await?
            .into_inner()
            .identifier
            .map(|i| i.guid)
            .ok_or_else(|| Error::missing(VENDOR, "createImportFormat", "identifier"))
    }

    /// Creates the import; when the answer is lost, looks for it by name before trying again.
    async fn create_import_once(
        &self,
        name: &str,
        binding: i32,
        features: &[types::ImportFeature],
    ) -> Result<types::Import, Error> {
        let create = || {
            self.create_import()
                .body(types::Import {
                    binding: Some(binding),
                    creation_date: None,
                    features: features.to_vec(),
                    id: None,
                    name: name.to_owned(),
                    scheduler: None,
                    source: None,
                    update_date: None,
                })
                .send()
        };
        match call(VENDOR, "createImport", create()).await {
            Ok(import) => Ok(import.into_inner()),
            Err(e) if e.maybe_processed() => {
                tracing::warn!(error = %e.report(), "createImport answer lost; looking for the import by name");
                let imports = call(VENDOR, "listImports", self.list_imports().send())
                    .await
                    .map_err(|list| Error::MaybeCreated {
                        vendor: VENDOR,
                        operation: "createImport",
                        what: format!(
                            "an NP6 import named `{name}` (listing the imports failed: {list})"
                        ),
                        source: Box::new(e),
                    })?;
                // Ours has this name and binding and no file yet; an older import of the same
                // name (a name given again, the same file in the same second) has its file.
                let ours = imports
                    .into_inner()
                    .0
                    .into_iter()
                    .filter(|i| i.name == name && i.binding == Some(binding) && !has_file(i))
                    .max_by_key(|i| i.id);
                match ours {
                    Some(import) => Ok(import),
                    None => call(VENDOR, "createImport", create())
                        .await
                        .map(|import| import.into_inner())
                        .map_err(|e| {
                            e.or_maybe_created(VENDOR, "createImport", || {
                                format!("an NP6 import named `{name}`")
                            })
                        }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Uploads the file. `PUT …/source` replaces the import's file, so an upload that got no
    /// answer, or was refused (429, 503 …), is sent again from the start of the file as the
    /// client's retry policy says (the generated client cannot replay a streamed body itself).
    async fn upload(
        &self,
        csv: &CsvFile,
        import_id: i32,
        options: &ImportOptions,
    ) -> Result<(), Error> {
        crate::retry::again(&self.inner.retry, "uploadImportSource", true, || {
            self.upload_once(csv, import_id, options)
        })
        .await
    }

    /// Streams the file from disk, with its length, reporting bytes as they go.
    async fn upload_once(
        &self,
        csv: &CsvFile,
        import_id: i32,
        options: &ImportOptions,
    ) -> Result<(), (Error, Option<std::time::Duration>)> {
        // What is sent must be what was checked: before, and once it is all sent.
        csv.unchanged().map_err(|e| (e, None))?;
        let file = std::fs::File::open(&csv.path).map_err(|e| (Error::io(&csv.path, e), None))?;
        let total = csv.size;
        let body = file_body(file, total, options.progress.clone());
        let filename = csv
            .path
            .file_name()
            .map(|n| n.to_string_lossy().replace('"', ""))
            .unwrap_or_else(|| "contacts.csv".into());
        let request = self
            .upload_import_source()
            .id(import_id)
            .content_disposition(format!("form-data; filename={filename}"))
            .content_length(total as i64)
            .body(body);
        call_keeping_retry_after(VENDOR, "uploadImportSource", request.send()).await?;
        csv.unchanged().map_err(|e| (e, None))
    }

    /// Starts the execution, once: when the answer is lost, the execution state is asked (an
    /// answer means one exists, as the import had none before); when that fails too, for any
    /// reason, the error says an execution may have been started, and none is started again.
    async fn execute(
        &self,
        import_id: i32,
        binding: i32,
        features: Vec<types::ImportFeature>,
    ) -> Result<(), Error> {
        let body = serde_json::to_vec(&types::ExecutionRequest { binding, features })
            .expect("an execution request serialises");
        let start = self
            .create_import_execution()
            .id(import_id)
            .content_type(types::CreateImportExecutionContentType::ApplicationJson)
            .body(body)
            .send();
        match call(VENDOR, "createImportExecution", start).await {
            Ok(_) => Ok(()),
            Err(e) if e.maybe_processed() => {
                tracing::warn!(error = %e.report(), "createImportExecution answer lost; asking the execution state");
                match self.get_import_execution_state().id(import_id).send().await {
                    Ok(_) => Ok(()),
                    Err(lookup) => Err(Error::MaybeCreated {
                        vendor: VENDOR,
                        operation: "createImportExecution",
                        what: format!(
                            "an execution of NP6 import {import_id} (its rows imported; asking \
                             its state failed: {lookup}): check GET /imports/{import_id}/executions \
                             before starting one"
                        ),
                        source: Box::new(e),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }
}

/// The bytes of a piece of the file sent: it stays in the core's cache (2 MiB of L2 here) from
/// its reading to its copy to the socket.
const PIECE: usize = 256 << 10;

/// The file as a request body, in pieces of [`PIECE`] bytes, with a
/// [`crate::Progress::Uploaded`] event each.
///
/// On a multi-thread runtime, each piece is read when the body asks for it, by the thread that
/// then sends it (`block_in_place`, so that the runtime's other tasks move to another thread
/// meanwhile): a piece is copied to the socket from the core that read it. Against a thread
/// reading ahead in 1 MiB pieces, a 100 MiB upload to the loopback sink took 55.7 ms instead
/// of 64.4 as the sink timed it (`curl -T`: 49.1 ms), the whole import 129.7 ms instead of
/// 137.4 (medians of 21, alternating); 1 GiB: 602 ms against 634. 1 MiB pieces read the same
/// way gained nothing.
///
/// A current-thread runtime has no other thread to run its tasks while a read blocks: there a
/// thread reads ahead ([`read_ahead`]).
fn file_body(
    file: std::fs::File,
    total: u64,
    progress: Option<crate::ProgressFn>,
) -> reqwest::Body {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let multi_thread = Handle::try_current()
        .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
    if !multi_thread {
        return crate::http::streamed_body(total, progress, |tx| read_ahead(file, tx));
    }
    let pieces = futures_util::stream::unfold(
        Some((file, std::sync::mpsc::channel())),
        |state| async move {
            let (mut file, buffers) = state?;
            match tokio::task::block_in_place(|| next_piece(&mut file, &buffers)) {
                Ok(Some(piece)) => Some((Ok(piece), Some((file, buffers)))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        },
    );
    crate::http::body_of(pieces, total, progress)
}

/// The file in pieces, for [`crate::http::streamed_body`]: disk reads overlap the network
/// writes, and at most six pieces are held (the body's four waiting, the one being sent, the
/// one being read).
fn read_ahead(mut file: std::fs::File, tx: crate::http::Pieces) {
    let buffers = std::sync::mpsc::channel();
    while let Some(piece) = next_piece(&mut file, &buffers).transpose() {
        let failed = piece.is_err();
        if tx.blocking_send(piece).is_err() || failed {
            return; // the request has ended, or the reading
        }
    }
}

/// The buffers of the pieces sent, given back to be read into again.
type Buffers = (
    std::sync::mpsc::Sender<Vec<u8>>,
    std::sync::mpsc::Receiver<Vec<u8>>,
);

/// The next piece of `file`, read into a buffer given back by an earlier piece, or into a new
/// one; `None` at the end of the file. A buffer keeps its length (the bytes read into it are
/// a piece's), so that it is zeroed only once; the allocator would map and unmap a new one
/// each time (past its threshold for that): about 80,000 page faults for a 1 GiB upload in
/// 1 MiB pieces, 0.1 s of system time, against 3,800.
fn next_piece(
    file: &mut std::fs::File,
    buffers: &Buffers,
) -> std::io::Result<Option<bytes::Bytes>> {
    let mut bytes = buffers.1.try_recv().unwrap_or_else(|_| vec![0; PIECE]);
    let (len, _) = crate::scan::fill(file, &mut bytes, 0)?;
    let back = buffers.0.clone();
    Ok((len > 0).then(|| bytes::Bytes::from_owner(Piece { bytes, len, back })))
}

/// A piece of the file, whose buffer goes back to be read into again when the body is done
/// with it.
struct Piece {
    bytes: Vec<u8>,
    len: usize,
    back: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Piece {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Drop for Piece {
    fn drop(&mut self) {
        // The reading has ended when no one takes it: the buffer is then freed.
        let _ = self.back.send(std::mem::take(&mut self.bytes));
    }
}

/// The default binding name: `esp-imports ` and the first 16 hex digits of the SHA-256 of the
/// binding as NP6 reads it (separator, `startAt`, then each column's field id, as decimal
/// numbers separated by `;`). SHA-256 is fixed by FIPS 180-4, so the name does not change
/// with the Rust release, and a binding made with another `startAt` is never reused.
pub fn binding_name(separator: i32, binds: &[types::ImportBind]) -> String {
    let mut canonical = format!("np6-binding;separator={separator};startAt={START_AT};binds=");
    for bind in binds {
        canonical.push_str(&format!("{}:{};", bind.column_index, bind.field_id));
    }
    let digest = Sha256::digest(canonical.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("esp-imports {hex}")
}

/// The guid of a binding found by name, if it reads the file as this import needs: the same
/// separator and binds, and `startAt` [`START_AT`] (one header line skipped, the first contact
/// read).
fn reuse(
    existing: types::ImportFormat,
    name: &str,
    separator: i32,
    binds: &[types::ImportBind],
) -> Result<(i32, Option<String>), Error> {
    if existing.binds == binds && existing.separator == separator && existing.start_at == START_AT {
        let guid = existing
            .identifier
            .map(|i| i.guid)
            .ok_or_else(|| Error::missing(VENDOR, "listImportFormats", "identifier"))?;
        return Ok((guid, None));
    }
    let differs = if existing.start_at != START_AT {
        format!(
            "startAt {} (this file needs {START_AT}: one header line skipped, so that no \
             contact is skipped)",
            existing.start_at
        )
    } else {
        "other columns or another separator".to_owned()
    };
    Err(Error::InvalidConfig {
        setting: "binding name",
        reason: format!("NP6 already has a binding named `{name}` with {differs}"),
    })
}

/// Whether a file was uploaded to the import (or it reads from FTP, or from a source this crate
/// does not know: not an import it just created either).
fn has_file(import: &types::Import) -> bool {
    match &import.source {
        None => false,
        Some(types::Source::FileSource(file)) => {
            file.filename.is_some() || file.update_date.is_some()
        }
        Some(types::Source::FtpSource(_) | types::Source::OtherSource(_)) => true,
    }
}

fn features(np6: &Np6Import, update_existing: bool) -> Vec<types::ImportFeature> {
    let mut features = vec![types::ImportFeature::DatabaseFeature(
        types::DatabaseFeature {
            crush_data: np6.crush_data,
            type_: types::DatabaseFeatureType::Database,
            update_existing,
        },
    )];
    if let Some(rule) = np6.duplicates {
        features.push(types::ImportFeature::DuplicateFeature(
            types::DuplicateFeature {
                rules: Some(types::DuplicateRules {
                    first: (rule == DuplicateRule::First).then_some(true),
                    ignore: (rule == DuplicateRule::Ignore).then_some(true),
                    last: (rule == DuplicateRule::Last).then_some(true),
                }),
                type_: types::DuplicateFeatureType::Duplicate,
            },
        ));
    }
    if let Some(segment_id) = np6.segment_id {
        features.push(types::ImportFeature::SegmentationFeature(
            types::SegmentationFeature {
                empty_exisiting_segment: Some(np6.empty_segment),
                empty_existing_segment: None,
                segment_id: Some(segment_id),
                type_: types::SegmentationFeatureType::Segmentation,
            },
        ));
    }
    if !np6.report_contacts.is_empty() || !np6.report_groups.is_empty() {
        features.push(types::ImportFeature::ReportFeature(types::ReportFeature {
            contact_guids: np6.report_contacts.clone(),
            group_ids: Some(np6.report_groups.clone()),
            send_error_report: true,
            send_final_report: true,
            type_: types::ReportFeatureType::Report,
        }));
    }
    features
}
