//! A whole Eloqua contact import: definition → staged CSV chunks → one sync → follow → rejects.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    io::{Read, Seek, SeekFrom},
    sync::{Mutex, OnceLock},
};

use super::{types, Auth, Client, BULK_PATH};
use crate::{
    error::{call, call_raw},
    retry::{outcome_of, Decision},
    workflow::{drive, follow, id_number, inspect, Deadline, Ledger, Poll, Steps},
    CsvFile, Error, Fields, HttpConfig, ImportOptions, ImportReport, Mode, Progress, Reject,
    Status, StatusOptions, Vendor,
};

const VENDOR: Vendor = Vendor::Eloqua;

/// The most fields one import definition may map.
pub const MAX_FIELDS: usize = 100;

/// Eloqua refuses (with 404) a data request over 32 MB.
pub const MAX_CHUNK: u64 = 32_000_000;

/// Rejects fetched per request (the API's largest page).
const REJECTS_PAGE: i32 = 1000;

/// Eloqua's part of an import's options.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct EloquaImport {
    /// The largest body of one staging request (header line included), at most [`MAX_CHUNK`].
    pub chunk_cap: u64,
    /// Delete the staged data once the sync has ended.
    pub delete_staged_data: bool,
    /// Delete the import definition once the sync has ended.
    pub delete_definition: bool,
}

impl Default for EloquaImport {
    fn default() -> Self {
        Self {
            chunk_cap: MAX_CHUNK,
            delete_staged_data: true,
            delete_definition: false,
        }
    }
}

/// `C_EmailAddress` → `{{Contact.Field(C_EmailAddress)}}`; a full statement is kept as is.
pub fn field_statement(field: &str) -> String {
    if field.starts_with("{{") {
        field.to_owned()
    } else {
        format!("{{{{Contact.Field({field})}}}}")
    }
}

/// The number at the end of a URI such as `/contacts/imports/384` or `/syncs/1234`.
fn id_of(uri: &str, operation: &'static str) -> Result<i64, Error> {
    uri.rsplit('/')
        .next()
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| Error::Decode {
            vendor: VENDOR,
            operation,
            path: "uri".into(),
            reason: format!("`{uri}` does not end with an id"),
            excerpt: uri.to_owned(),
        })
}

/// Pod base URLs already discovered, by login URL and user.
fn discovered() -> &'static Mutex<HashMap<(String, String), String>> {
    static CACHE: OnceLock<Mutex<HashMap<(String, String), String>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl EloquaImport {
    /// Everything [`Client::import`] checks before its first request, with no request: the
    /// column map (at most [`MAX_FIELDS`]), the chunk size, the file
    /// ([`ImportOptions::check`]), and that every row fits in one staging request. Returns the
    /// file and its chunks, for [`Client::import_checked`]. Run it before [`Client::discover`]
    /// so that bad input sends nothing.
    pub fn check(&self, options: &ImportOptions) -> Result<Checked, Error> {
        if options.columns.len() > MAX_FIELDS {
            return Err(too_many_fields(options.columns.len()));
        }
        if self.chunk_cap == 0 || self.chunk_cap > MAX_CHUNK {
            return Err(Error::InvalidConfig {
                setting: "chunk size",
                reason: format!(
                    "{} bytes: give a positive size, at most Eloqua's {MAX_CHUNK}",
                    self.chunk_cap
                ),
            });
        }
        let csv = inspect(options)?;
        // Eloqua reads comma-separated CSV: other delimiters are re-encoded chunk by chunk,
        // which may add quotes, so those chunks are planned with room to spare.
        let plan_cap = if csv.delimiter == b',' {
            self.chunk_cap
        } else {
            self.chunk_cap - self.chunk_cap / 8
        };
        let chunks = csv.chunks(plan_cap)?;
        Ok(Checked { csv, chunks })
    }
}

/// More columns mapped than a definition takes.
fn too_many_fields(mapped: usize) -> Error {
    Error::InvalidConfig {
        setting: "column map",
        reason: format!(
            "{mapped} columns mapped; an Eloqua import definition takes at most {MAX_FIELDS}"
        ),
    }
}

/// A file checked by [`EloquaImport::check`], with its staging chunks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Checked {
    csv: CsvFile,
    chunks: Vec<std::ops::Range<u64>>,
}

impl Client {
    /// Finds the Bulk API base URL of the account's pod with `GET {login_url}/id`
    /// ([`super::LOGIN_URL`] in production). The pod URL must pass
    /// [`HttpConfig::check_url`], like any base URL. The answer is cached for the process, per
    /// login URL and user (`/id` is throttled).
    pub async fn discover(
        login_url: &str,
        auth: &Auth,
        config: &HttpConfig,
    ) -> Result<String, Error> {
        let user = match auth {
            Auth::Basic {
                company, username, ..
            } => format!("{company}\\{username}"),
            Auth::Bearer(token) => {
                // Keyed by a digest, so the cache never holds the raw token.
                use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
                let digest =
                    BuildHasherDefault::<DefaultHasher>::default().hash_one(token.expose());
                format!("bearer:{digest:x}")
            }
        };
        let key = (login_url.to_owned(), user);
        // The pod URL passes the same check as a configured base URL (https, or http only to
        // loopback unless allowed): the credentials go there next.
        let checked = |base: &str| {
            config.check_url(base).map_err(|e| match e {
                Error::InvalidConfig { reason, .. } => Error::InvalidConfig {
                    setting: "Eloqua pod URL (from /id)",
                    reason,
                },
                other => other,
            })
        };
        let cached = discovered().lock().expect("cache lock").get(&key).cloned();
        if let Some(base) = cached {
            return checked(&base);
        }
        let login = Client::with_auth(login_url, auth, config)?;
        let answer =
            call::<types::LoginIdResult>(VENDOR, "getLoginId", login.get_login_id().send())
                .await?
                .into_inner();
        let base = match answer {
            types::LoginIdResult::Response(r) => {
                format!("{}{BULK_PATH}", r.urls.base.trim_end_matches('/'))
            }
            types::LoginIdResult::Failure(failure) => {
                return Err(Error::AuthRejected(crate::ApiError {
                    vendor: VENDOR,
                    operation: "getLoginId",
                    status: 200,
                    code: None,
                    message: Some(failure.0),
                    request_id: None,
                    body_excerpt: String::new(),
                }))
            }
        };
        let base = checked(&base)?;
        discovered()
            .lock()
            .expect("cache lock")
            .insert(key, base.clone());
        Ok(base)
    }

    /// Runs a whole contact import (see the README): creates the definition from the column
    /// map (each field `C_X` becomes `{{Contact.Field(C_X)}}`, the key column is the identifier),
    /// stages the file in row-aligned CSV chunks of at most `eloqua.chunk_cap` bytes with the
    /// header in each, runs one sync for them all, follows it, and on warning or error pages
    /// through the rejects.
    ///
    /// Nothing is created twice: the definition is created once ([`Error::MaybeCreated`] when
    /// its answer is lost); staging appends, so a staging request whose answer is lost is not
    /// sent again: the staged data is deleted and every chunk staged anew (as the retry policy
    /// allows); when the sync's answer is lost, the syncs are listed before it is sent again.
    /// An error after the definition exists is an [`Error::Interrupted`] that says what was
    /// staged or started. Deleting the staged data or the definition at the end is cleanup: a
    /// failure there is a message of the report, not an error.
    pub async fn import(
        &self,
        options: &ImportOptions,
        eloqua: &EloquaImport,
    ) -> Result<ImportReport, Error> {
        self.import_checked(options, eloqua, eloqua.check(options)?)
            .await
    }

    /// [`Client::import`] of a file already checked by [`EloquaImport::check`] with the same
    /// `options` and `eloqua` (the file is not read again before staging).
    pub async fn import_checked(
        &self,
        options: &ImportOptions,
        eloqua: &EloquaImport,
        checked: Checked,
    ) -> Result<ImportReport, Error> {
        let steps = Eloqua {
            client: self,
            eloqua,
            checked: Some(&checked),
        };
        drive(&steps, options).await
    }

    /// The report of the sync `import_id` (the URI `/syncs/N` an import's report gave, with
    /// `no_wait` or in an [`Error::Interrupted`]), read from `GET /syncs/{id}` as
    /// [`Client::import`] reads its polls: once, or following it to its end with
    /// `options.wait`. Still running, it is [`Status::Submitted`]; ended, it is reported as an
    /// import is (logs and rejects), without the file's row count, so with no imported count;
    /// then the cleanup of `eloqua` (what the import was started with) is done as an import
    /// does it: the staged data of the sync's definition, and the definition itself, deleted
    /// (what is already deleted is left as it is, so reading an ended sync twice is
    /// harmless). An id that is not `/syncs/` and a number from 1 is an
    /// [`Error::InvalidConfig`], before any request.
    pub async fn status(
        &self,
        import_id: &str,
        options: &StatusOptions,
        eloqua: &EloquaImport,
    ) -> Result<ImportReport, Error> {
        let steps = Eloqua {
            client: self,
            eloqua,
            checked: None,
        };
        follow(&steps, import_id, options).await
    }
}

/// The sync id of the URI `/syncs/N` an import's report gave, and the URI as Eloqua writes it;
/// an [`Error::InvalidConfig`] otherwise.
pub(crate) fn sync_id(import_id: &str) -> Result<(String, i64), Error> {
    let expected = "an Eloqua import id is the sync's URI, `/syncs/` and a number from 1";
    let number = import_id
        .trim()
        .strip_prefix("/syncs/")
        .ok_or_else(|| Error::InvalidConfig {
            setting: "import id",
            reason: format!("`{import_id}`: {expected} (the `import_id` of the import's report)"),
        })?;
    let (number, id) = id_number(import_id, number, expected)?;
    Ok((format!("/syncs/{number}"), id))
}

/// Eloqua's steps of an import, for a file already checked (none when a sync is read from its
/// id).
struct Eloqua<'a> {
    client: &'a Client,
    eloqua: &'a EloquaImport,
    checked: Option<&'a Checked>,
}

/// The sync started: its id and URI, the rows staged (unknown for a sync read from its id),
/// and its definition's URI and id (read from the sync when not known).
struct Sync {
    id: i64,
    uri: String,
    rows: Option<u64>,
    definition: Option<(String, i64)>,
}

/// What of a contact import definition is deleted.
#[derive(Clone, Copy)]
enum Part {
    /// Its staged data (`DELETE /contacts/imports/{id}/data`).
    StagedData,
    /// The definition itself.
    Definition,
}

/// How a sync ended: its final status, and the definition it synced.
struct SyncEnd {
    status: String,
    synced_instance_uri: Option<String>,
}

impl<'a> Steps for Eloqua<'a> {
    const VENDOR: Vendor = VENDOR;
    /// The file, checked before (by [`EloquaImport::check`]), or checked here when it is
    /// another (the pre-flight's copy without the rows left out).
    type Checked = Cow<'a, Checked>;
    type Submitted = Sync;
    type Ended = SyncEnd;

    fn check(&self, options: &ImportOptions) -> Result<Cow<'a, Checked>, Error> {
        match self.checked {
            Some(checked) if checked.csv.path == options.file => Ok(Cow::Borrowed(checked)),
            _ => Ok(Cow::Owned(self.eloqua.check(options)?)),
        }
    }

    fn csv<'c>(checked: &'c Cow<'a, Checked>) -> &'c CsvFile {
        &checked.csv
    }

    async fn fields(&self) -> Result<Fields, Error> {
        self.client.fields().await
    }

    fn plan(&self, options: &ImportOptions, checked: &Cow<'a, Checked>) -> Vec<String> {
        let fields: Vec<String> = options
            .columns
            .iter()
            .map(|(column, field)| format!("`{column}` → {}", field_statement(field)))
            .collect();
        vec![
            format!(
                "a contact import definition `{}`, identified by {}: {}",
                options.import_name(),
                options.columns[&options.key_column],
                fields.join(", ")
            ),
            format!(
                "its data staged: {} rows in {} request(s) of at most {} bytes",
                checked.csv.rows,
                checked.chunks.len(),
                self.eloqua.chunk_cap
            ),
            "a sync of the definition".into(),
        ]
    }

    async fn submit(
        &self,
        options: &ImportOptions,
        checked: Cow<'a, Checked>,
        ledger: &Ledger,
        deadline: &Deadline,
    ) -> Result<(ImportReport, Sync), Error> {
        let Self { client, eloqua, .. } = *self;
        let Checked { csv, chunks } = &*checked;
        if options.columns.len() > MAX_FIELDS {
            return Err(too_many_fields(options.columns.len()));
        }
        let name = options.import_name();
        let (definition_uri, definition_id, notes) = client
            .define_and_stage(
                options,
                &name,
                csv,
                chunks,
                deadline,
                eloqua.chunk_cap,
                ledger,
            )
            .await?;
        ledger.record(
            definition_uri.clone(),
            format!(
                "import definition with all {} rows staged, no sync: no row imported; \
                 its staged data stays until it is deleted (DELETE {definition_uri}/data)",
                csv.rows
            ),
        );

        options.emit(Progress::Step("create sync"));
        let sync_uri = ledger
            .creating(
                &format!(
                    "a sync of {definition_uri} (its {} rows imported): check GET /syncs",
                    csv.rows
                ),
                client.create_sync_once(&definition_uri),
            )
            .await?
            .uri
            .ok_or_else(|| Error::missing(VENDOR, "createSync", "uri"))?;
        ledger.on_cancel(None);
        let sync_id = id_of(&sync_uri, "createSync")?;
        ledger.record(
            sync_uri.clone(),
            format!(
                "sync of {definition_uri} started: its {} rows are being imported; follow it \
                 at Eloqua (GET {sync_uri})",
                csv.rows
            ),
        );
        let mut report = ImportReport::submitted(VENDOR, sync_uri.clone(), csv.rows);
        report.messages.extend(notes);
        let sync = Sync {
            id: sync_id,
            uri: sync_uri,
            rows: Some(csv.rows),
            definition: Some((definition_uri, definition_id)),
        };
        Ok((report, sync))
    }

    fn resume(&self, import_id: &str) -> Result<(String, Sync), Error> {
        let (uri, id) = sync_id(import_id)?;
        let sync = Sync {
            id,
            uri: uri.clone(),
            rows: None,
            definition: None,
        };
        Ok((uri, sync))
    }

    async fn poll(&self, sync: &Sync) -> Result<Poll<SyncEnd>, Error> {
        let answer = call(VENDOR, "getSync", self.client.get_sync().id(sync.id).send())
            .await?
            .into_inner();
        let status = answer.status.unwrap_or_default();
        let ended = matches!(status.as_str(), "success" | "warning" | "error" | "errored");
        let end = ended.then(|| SyncEnd {
            status: status.clone(),
            synced_instance_uri: answer.synced_instance_uri,
        });
        Ok(Poll::state(status, end))
    }

    async fn finish(
        &self,
        sync: Sync,
        SyncEnd {
            status,
            synced_instance_uri,
        }: SyncEnd,
        mut report: ImportReport,
        ledger: &Ledger,
    ) -> Result<ImportReport, Error> {
        let Self { client, eloqua, .. } = *self;
        let Sync {
            id: sync_id,
            uri: sync_uri,
            rows,
            definition,
        } = sync;
        ledger.record(
            sync_uri.clone(),
            format!(
                "sync ended with status `{status}`; its logs and rejects could not all be read \
                 (GET {sync_uri}/rejects)"
            ),
        );
        report.status = match status.as_str() {
            "success" => Status::Completed,
            "warning" => Status::CompletedWithErrors,
            _ => Status::Failed,
        };
        if report.status != Status::Completed {
            report.messages.extend(client.sync_messages(sync_id).await?);
            report.rejects = client.rejects(sync_id, rows).await?;
        }
        if report.status != Status::Failed {
            let rejected = report.rejects.len() as u64;
            report.rows_rejected = Some(rejected);
            report.rows_imported = rows.map(|rows| rows.saturating_sub(rejected));
        }

        // Cleanup: the import is done and reported whatever happens here. Something already
        // deleted (404: by an earlier reading of this ended sync) is left as it is.
        let definition = definition.or_else(|| {
            let uri = synced_instance_uri.filter(|uri| uri.starts_with("/contacts/imports/"))?;
            let id = id_of(&uri, "getSync").ok()?;
            Some((uri, id))
        });
        let cleanup = eloqua.delete_staged_data || eloqua.delete_definition;
        let Some((definition_uri, definition_id)) = definition.filter(|_| cleanup) else {
            if cleanup {
                report.messages.push(format!(
                    "the sync does not name a contact import definition (GET {sync_uri}): its \
                     staged data and definition were not deleted"
                ));
            }
            return Ok(report);
        };
        let parts = [
            (
                eloqua.delete_staged_data,
                Part::StagedData,
                "the staged data",
                "/data",
            ),
            (
                eloqua.delete_definition,
                Part::Definition,
                "the import definition",
                "",
            ),
        ];
        for (wanted, part, what, path) in parts {
            if !wanted {
                continue;
            }
            if let Err(e) = client.delete_if_there(part, definition_id).await {
                tracing::warn!(error = %e.report(), "{what} was not deleted");
                report.messages.push(format!(
                    "{what} was not deleted (DELETE {definition_uri}{path}): {}",
                    e.report()
                ));
            }
        }
        Ok(report)
    }
}

impl Client {
    async fn create_definition(
        &self,
        options: &ImportOptions,
        name: &str,
    ) -> Result<types::ContactImportIndividual, Error> {
        let fields: BTreeMap<String, String> = options
            .columns
            .iter()
            .map(|(column, field)| (column.clone(), field_statement(field)))
            .collect();
        let rule = match options.mode {
            Mode::Upsert => types::ImportRuleKnown::CreateAndUpdate,
            Mode::InsertOnly => types::ImportRuleKnown::CreateOnly,
            Mode::UpdateOnly => types::ImportRuleKnown::UpdateOnly,
        };
        let request = self.create_contact_import().body_map(|b| {
            b.name(name.to_owned())
                .fields(fields)
                .identifier_field_name(Some(options.key_column.clone()))
                .import_rule(Some(rule.into()))
                .is_sync_triggered_on_import(Some(false))
        });
        Ok(call(VENDOR, "createContactImport", request.send())
            .await?
            .into_inner())
    }

    /// Creates the definition and stages every chunk into it. Staging appends, so a chunk whose
    /// answer was lost (it may be staged, or still arrive late) is not sent again alone, nor
    /// into the same definition: a new definition is created and every chunk staged into it,
    /// as often as the retry policy allows, and the abandoned one is deleted with its data.
    /// Only the last definition is ever synced, so a late append to an abandoned one can never
    /// import a row twice. Returns the definition's URI, its id, and notes on abandoned
    /// definitions that could not be deleted.
    #[allow(clippy::too_many_arguments)]
    async fn define_and_stage(
        &self,
        options: &ImportOptions,
        name: &str,
        csv: &CsvFile,
        chunks: &[std::ops::Range<u64>],
        deadline: &Deadline,
        cap: u64,
        ledger: &Ledger,
    ) -> Result<(String, i64, Vec<String>), Error> {
        let policy = &self.inner.retry;
        let started = std::time::Instant::now();
        let mut attempt = 1;
        let mut notes = Vec::new();
        loop {
            options.emit(Progress::Step("create import definition"));
            let what = format!("an import definition named `{name}` (no data staged, no sync)");
            let definition = ledger
                .create_once(
                    "createContactImport",
                    what,
                    self.create_definition(options, name),
                )
                .await
                .map_err(|e| {
                    e.or_refused(|| {
                        let fields: Vec<&str> =
                            options.columns.values().map(String::as_str).collect();
                        format!(
                            "Eloqua may refuse a field of the definition ({}) or its identifier \
                             field: list the contact fields with GET /contacts/fields",
                            fields.join(", ")
                        )
                    })
                })?;
            let uri = definition
                .uri
                .clone()
                .ok_or_else(|| Error::missing(VENDOR, "createContactImport", "uri"))?;
            let id = id_of(&uri, "createContactImport")?;
            // Until its sync is created, a cancelled definition is deleted with its staged
            // data: nothing is imported.
            let client = self.clone();
            ledger.on_cancel(Some(Box::pin(async move {
                client.discard(id).await?;
                Ok(
                    "deleted with its staged data (cancelled before its sync): nothing left at \
                    Eloqua, no row imported"
                        .into(),
                )
            })));
            ledger.record(
                uri.clone(),
                format!(
                    "import definition with its data being staged ({} chunks), no sync: no row \
                     imported; staged data stays until it is deleted (DELETE {uri}/data)",
                    chunks.len()
                ),
            );
            options.emit(Progress::Step("stage data"));
            let mut staged = 0;
            let error = match self
                .stage(csv, chunks, id, options, deadline, cap, &mut staged)
                .await
            {
                Ok(()) => return Ok((uri, id, notes)),
                Err(e) => e,
            };
            let sent = match staged {
                0 => String::from("no chunk staged"),
                n => format!("{n} of {} chunks staged", chunks.len()),
            };
            ledger.record(
                uri.clone(),
                format!(
                    "import definition with {sent} (the chunk being sent may be staged too), no \
                     sync: no row imported; its staged data stays until it is deleted \
                     (DELETE {uri}/data)"
                ),
            );
            let outcome = outcome_of(&error, None).filter(|_| error.maybe_processed());
            let decision = outcome.map(|outcome| {
                policy.decide(attempt, started.elapsed(), &outcome, true, fastrand::f64())
            });
            let Some(Decision::RetryAfter(wait)) = decision else {
                return Err(error);
            };
            tracing::warn!(
                operation = "uploadContactImportData",
                attempt,
                error = %error.report(),
                wait_ms = wait.as_millis() as u64,
                "a staging answer was lost: staging every chunk into a new definition, this one \
                 is deleted and never synced"
            );
            if let Err(e) = self.discard(id).await {
                tracing::warn!(error = %e.report(), definition = %uri, "the abandoned definition was not deleted");
                notes.push(format!(
                    "the import definition {uri}, abandoned after a lost staging answer, was not \
                     deleted ({}); it has no sync, so none of its rows is imported: \
                     DELETE {uri}",
                    e.report()
                ));
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Deletes a definition that will never be synced, its staged data first.
    async fn discard(&self, definition_id: i64) -> Result<(), Error> {
        self.delete(Part::StagedData, definition_id).await?;
        self.delete(Part::Definition, definition_id).await
    }

    /// Deletes a part of a definition.
    async fn delete(&self, part: Part, definition_id: i64) -> Result<(), Error> {
        let deleted = match part {
            Part::StagedData => {
                let request = self.delete_contact_import_data().id(definition_id);
                call::<()>(VENDOR, "deleteContactImportData", request.send()).await
            }
            Part::Definition => {
                let request = self.delete_contact_import().id(definition_id);
                call::<()>(VENDOR, "deleteContactImport", request.send()).await
            }
        };
        deleted.map(drop)
    }

    /// [`Client::delete`], where what is already gone (404: an earlier reading of this ended
    /// sync deleted it) counts as deleted.
    async fn delete_if_there(&self, part: Part, definition_id: i64) -> Result<(), Error> {
        match self.delete(part, definition_id).await {
            Err(e) if e.status() == Some(404) => Ok(()),
            other => other,
        }
    }

    /// Posts each chunk (header line + rows) as `text/csv`, counting those staged. A chunk is
    /// at most 32 MB and held in memory while it is sent, so that a refused request (429, 503)
    /// can be replayed.
    #[allow(clippy::too_many_arguments)]
    async fn stage(
        &self,
        csv: &CsvFile,
        chunks: &[std::ops::Range<u64>],
        definition_id: i64,
        options: &ImportOptions,
        deadline: &Deadline,
        cap: u64,
        staged: &mut usize,
    ) -> Result<(), Error> {
        let total: u64 = chunks
            .iter()
            .map(|c| c.end - c.start + csv.header_line.len() as u64)
            .sum();
        let mut sent = 0;
        let mut file = std::fs::File::open(&csv.path).map_err(|e| Error::io(&csv.path, e))?;
        for chunk in chunks {
            deadline.check()?;
            let mut body =
                Vec::with_capacity((chunk.end - chunk.start) as usize + csv.header_line.len());
            body.extend_from_slice(&csv.header_line);
            file.seek(SeekFrom::Start(chunk.start))
                .and_then(|_| {
                    (&mut file)
                        .take(chunk.end - chunk.start)
                        .read_to_end(&mut body)
                })
                .map_err(|e| Error::io(&csv.path, e))?;
            // Each chunk is sent only if the file it was read from is still the one checked.
            csv.unchanged()?;
            if csv.delimiter != b',' {
                body = comma_separated(&body, csv)?;
                if body.len() as u64 > cap {
                    return Err(Error::InvalidConfig {
                        setting: "chunk size",
                        reason: format!(
                            "a chunk re-encoded with commas is {} bytes, over {cap}: use a \
                             comma-separated file or a larger chunk size",
                            body.len()
                        ),
                    });
                }
            }
            let length = body.len() as u64;
            let request = self
                .upload_contact_import_data()
                .id(definition_id)
                .content_type(types::UploadContactImportDataContentType::TextCsv)
                .body(body);
            call_raw(VENDOR, "uploadContactImportData", request.send()).await?;
            *staged += 1;
            sent += length;
            options.emit(Progress::Uploaded { bytes: sent, total });
        }
        Ok(())
    }

    /// Creates the sync. When the answer is lost (the request may have been processed), the
    /// syncs of the definition are listed first, so that a retry never starts a second one.
    async fn create_sync_once(&self, definition_uri: &str) -> Result<types::SyncIndividual, Error> {
        let create = || {
            self.create_sync()
                .body_map(|b| b.synced_instance_uri(definition_uri.to_owned()))
                .send()
        };
        match call(VENDOR, "createSync", create()).await {
            Ok(sync) => Ok(sync.into_inner()),
            Err(e) if e.maybe_processed() => {
                tracing::warn!(error = %e.report(), "createSync answer lost; looking for the sync before retrying");
                let existing = self.existing_sync(definition_uri).await.map_err(|list| {
                    Error::MaybeCreated {
                        vendor: VENDOR,
                        operation: "createSync",
                        what: format!(
                            "a sync of {definition_uri} (listing the syncs failed: {list})"
                        ),
                        source: Box::new(e),
                    }
                })?;
                if let Some(sync) = existing {
                    return Ok(sync);
                }
                call(VENDOR, "createSync", create())
                    .await
                    .map(|sync| sync.into_inner())
                    .map_err(|e| {
                        e.or_maybe_created(VENDOR, "createSync", || {
                            format!("a sync of {definition_uri}")
                        })
                    })
            }
            Err(e) => Err(e),
        }
    }

    /// The sync of `definition_uri`, paging through the account's syncs, newest first, up to
    /// [`SYNC_PAGES`] pages: other clients may have created many since ours. An answer that is
    /// still `hasMore` after the last page proves nothing, and is an error.
    async fn existing_sync(
        &self,
        definition_uri: &str,
    ) -> Result<Option<types::SyncIndividual>, Error> {
        for page in 0..SYNC_PAGES {
            let request = self
                .list_syncs()
                .order_by("createdAt DESC")
                .limit(SYNC_PAGE)
                .offset(page * SYNC_PAGE);
            let syncs = call(VENDOR, "listSyncs", request.send())
                .await?
                .into_inner();
            let more = syncs.has_more == Some(true) && !syncs.items.is_empty();
            if let Some(sync) = syncs
                .items
                .into_iter()
                .find(|s| s.synced_instance_uri.as_deref() == Some(definition_uri))
            {
                return Ok(Some(sync));
            }
            if !more {
                return Ok(None);
            }
        }
        Err(Error::Decode {
            vendor: VENDOR,
            operation: "listSyncs",
            path: "items".into(),
            reason: format!(
                "the sync is not among the newest {} syncs, and more are listed: its absence is \
                 not proven",
                SYNC_PAGE * SYNC_PAGES
            ),
            excerpt: String::new(),
        })
    }

    async fn sync_messages(&self, sync_id: i64) -> Result<Vec<String>, Error> {
        let logs = call(
            VENDOR,
            "listSyncLogs",
            self.list_sync_logs().id(sync_id).send(),
        )
        .await?
        .into_inner();
        Ok(logs
            .items
            .into_iter()
            .map(|log| {
                format!(
                    "{} {}: {}{}",
                    log.severity.unwrap_or_default(),
                    log.status_code.unwrap_or_default(),
                    log.message.unwrap_or_default(),
                    log.count.map(|c| format!(" ({c})")).unwrap_or_default()
                )
            })
            .collect())
    }

    /// Every reject of the sync, page by page. `recordIndex` counts the staged records from 1,
    /// so the file line is one more (the header is line 1). No more than the `rows` staged
    /// (when known) or the `totalResults` Eloqua tells are read.
    async fn rejects(&self, sync_id: i64, rows: Option<u64>) -> Result<Vec<Reject>, Error> {
        let mut rejects = Vec::new();
        let mut offset = 0;
        loop {
            let request = self
                .list_sync_rejects()
                .id(sync_id)
                .limit(REJECTS_PAGE)
                .offset(offset);
            let page = call(VENDOR, "listSyncRejects", request.send())
                .await?
                .into_inner();
            let count = page.items.len() as i32;
            let most = rows.or(page.total_results.and_then(|t| u64::try_from(t).ok()));
            for item in page.items {
                let mut reason = item.message.unwrap_or_else(|| "rejected".into());
                if let Some(code) = item.status_code {
                    reason = format!("{reason} ({code})");
                }
                if !item.invalid_fields.is_empty() {
                    reason = format!("{reason}; invalid: {}", item.invalid_fields.join(", "));
                }
                // A negative or out-of-range index names no line.
                let row = item
                    .record_index
                    .and_then(|i| u64::try_from(i).ok())
                    .and_then(|i| i.checked_add(1));
                rejects.push(Reject::new(row, reason));
            }
            // There cannot be more rejects than staged rows (or than Eloqua counts): a server
            // that says `hasMore` forever is not followed past them (nor past the timeout).
            let all = most.is_some_and(|most| rejects.len() as u64 >= most);
            if count == 0 || page.has_more != Some(true) || all {
                return Ok(rejects);
            }
            offset += count;
        }
    }
}

/// Syncs listed per page when looking for a sync whose creation answer was lost, and the pages
/// looked at (the newest 2,000 syncs of the account).
const SYNC_PAGE: i64 = 100;
const SYNC_PAGES: i64 = 20;

/// Re-encodes CSV bytes (a header line and rows) with commas as the delimiter.
fn comma_separated(body: &[u8], csv: &CsvFile) -> Result<Vec<u8>, Error> {
    let mut reader = ::csv::ReaderBuilder::new()
        .delimiter(csv.delimiter)
        .quote(csv.quote)
        .has_headers(false)
        .from_reader(body);
    let mut writer = ::csv::WriterBuilder::new()
        .terminator(match csv.line_ending {
            crate::LineEnding::CrLf => ::csv::Terminator::CRLF,
            crate::LineEnding::Lf => ::csv::Terminator::Any(b'\n'),
        })
        .from_writer(Vec::with_capacity(body.len() + body.len() / 16));
    let mut record = ::csv::ByteRecord::new();
    let failed = |e: ::csv::Error| Error::io(&csv.path, std::io::Error::other(e));
    while reader.read_byte_record(&mut record).map_err(failed)? {
        writer.write_byte_record(&record).map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| Error::io(&csv.path, std::io::Error::other(e.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_statements() {
        assert_eq!(
            field_statement("C_EmailAddress"),
            "{{Contact.Field(C_EmailAddress)}}"
        );
        assert_eq!(field_statement("{{Contact.Id}}"), "{{Contact.Id}}");
    }

    #[test]
    fn other_delimiters_are_re_encoded_with_commas() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, b"email;name\r\na@x.io;\"Doe, Jane\"\r\n").unwrap();
        let csv = CsvFile::inspect(file.path(), &Default::default()).unwrap();
        let body = std::fs::read(file.path()).unwrap();
        assert_eq!(
            comma_separated(&body, &csv).unwrap(),
            b"email,name\r\na@x.io,\"Doe, Jane\"\r\n"
        );
    }

    #[test]
    fn ids_come_from_uris() {
        assert_eq!(id_of("/contacts/imports/384", "x").unwrap(), 384);
        assert_eq!(id_of("/syncs/1234", "x").unwrap(), 1234);
        assert!(id_of("/syncs/", "x").is_err());
    }

    #[test]
    fn a_sync_is_read_from_its_uri() {
        assert_eq!(
            sync_id("/syncs/1200").unwrap(),
            ("/syncs/1200".into(), 1200)
        );
        assert_eq!(sync_id(" /syncs/007 ").unwrap(), ("/syncs/7".into(), 7));
        for bad in [
            "1200",
            "/syncs/0",
            "/syncs/-3",
            "/syncs/",
            "/contacts/imports/3",
            "",
        ] {
            match sync_id(bad) {
                Err(Error::InvalidConfig { setting, reason }) => {
                    assert_eq!(setting, "import id");
                    assert!(reason.starts_with(&format!("`{bad}`: ")), "{reason}");
                }
                other => panic!("{bad:?}: {other:?}"),
            }
        }
    }
}
