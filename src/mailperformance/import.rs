//! A whole NP6 import: binding → import → streamed file source → execution → follow.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use futures_util::StreamExt;

use super::{types, Client, ACCEPT};
use crate::{
    error::call,
    workflow::{inspect, Deadline, States},
    CsvFile, Error, ImportOptions, ImportReport, Mode, Progress, Status, Vendor,
};

const VENDOR: Vendor = Vendor::Mailperformance;

/// The `fieldId` that makes NP6 skip a column.
pub const IGNORED_COLUMN: i32 = -10;

/// What NP6 does with rows whose key appears more than once in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub struct Np6Import {
    /// The binding to create or reuse. Defaults to a name derived from the file's columns, the
    /// column map and the separator, so the same layout reuses the same binding.
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
    /// bound to -10, the file's separator, reading from line 2), creates the import with the
    /// features of the options, streams the file to `PUT /imports/{id}/source` with its
    /// `Content-Length`, starts an execution and follows it. NP6 reports row results only by
    /// e-mail, so the report has the file's row count and no per-row figures.
    pub async fn import(
        &self,
        options: &ImportOptions,
        np6: &Np6Import,
    ) -> Result<ImportReport, Error> {
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
        let mut field_ids = std::collections::BTreeMap::new();
        for (column, field) in &options.columns {
            let id = field
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|&id| id > 0)
                .ok_or_else(|| Error::InvalidConfig {
                    setting: "column map",
                    reason: format!(
                        "`{column}={field}`: NP6 fields are numeric field ids (ids under 1, \
                         such as {IGNORED_COLUMN} for an ignored column, are not fields)"
                    ),
                })?;
            field_ids.insert(column.as_str(), id);
        }
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
        let deadline = Deadline::new(VENDOR, options.timeout);

        options.emit(Progress::Step("create binding"));
        let binding = self.binding(&csv, &field_ids, np6).await?;

        options.emit(Progress::Step("create import"));
        let features = features(np6, update_existing);
        let name = options.import_name();
        let import = self.create_import_once(&name, binding, &features).await?;
        let import_id = import
            .id
            .ok_or_else(|| Error::missing(VENDOR, "createImport", "id"))?;

        options.emit(Progress::Step("upload"));
        self.upload(&csv, import_id, options).await?;

        options.emit(Progress::Step("start execution"));
        self.execute(import_id, binding, features).await?;
        let mut report = ImportReport::submitted(VENDOR, import_id.to_string(), csv.rows);
        if options.no_wait {
            return Ok(report);
        }
        let mut states = States::default();
        loop {
            let state = call(
                VENDOR,
                "getImportExecutionState",
                self.get_import_execution_state()
                    .id(import_id)
                    .accept(ACCEPT)
                    .send(),
            )
            .await?
            .state;
            states.observe(options, state_name(state), None, None);
            match state {
                1 => {
                    report.status = Status::Completed;
                    report
                        .messages
                        .push("NP6 sends row results by e-mail (report feature)".into());
                    return Ok(report);
                }
                2 => {
                    report.status = Status::Failed;
                    return Ok(report);
                }
                _ => deadline.pause(options.poll_interval).await?,
            }
        }
    }

    /// Creates the binding, or finds the one with the same name (NP6 answers 409, with an
    /// empty body, to a name that exists) and checks it binds the same way.
    async fn binding(
        &self,
        csv: &CsvFile,
        field_ids: &std::collections::BTreeMap<&str, i32>,
        np6: &Np6Import,
    ) -> Result<i32, Error> {
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
        let name = np6.binding_name.clone().unwrap_or_else(|| {
            let mut h = DefaultHasher::new();
            (separator, &csv.header, field_ids).hash(&mut h);
            format!("esp-imports {:016x}", h.finish())
        });
        let request = self.create_import_format().body(types::ImportFormat {
            binds: binds.clone(),
            identifier: None,
            name: name.clone(),
            saved_import_format: true,
            separator,
            start_at: 2,
        });
        let existing = match call(VENDOR, "createImportFormat", request.send()).await {
            Ok(created) => {
                return created
                    .into_inner()
                    .identifier
                    .map(|i| i.guid)
                    .ok_or_else(|| Error::missing(VENDOR, "createImportFormat", "identifier"))
            }
            Err(e) if e.status() == Some(409) => {
                let formats = call(
                    VENDOR,
                    "listImportFormats",
                    self.list_import_formats().send(),
                )
                .await?;
                formats.into_inner().0.into_iter().find(|f| f.name == name)
            }
            Err(e) => return Err(e),
        };
        match existing {
            Some(format) if format.binds == binds && format.separator == separator && format.start_at == 2 => {
                format.identifier.map(|i| i.guid).ok_or_else(|| Error::missing(VENDOR, "listImportFormats", "identifier"))
            }
            Some(_) => Err(Error::InvalidConfig {
                setting: "binding name",
                reason: format!("NP6 already has a binding named `{name}` that binds other columns or another separator"),
            }),
            None => Err(Error::InvalidConfig {
                setting: "binding name",
                reason: format!("NP6 answered 409 for `{name}` but lists no binding of that name"),
            }),
        }
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
                .accept(ACCEPT)
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
                let imports = call(
                    VENDOR,
                    "listImports",
                    self.list_imports().accept(ACCEPT).send(),
                )
                .await?;
                match imports.into_inner().0.into_iter().find(|i| i.name == name) {
                    Some(import) => Ok(import),
                    None => Ok(call(VENDOR, "createImport", create()).await?.into_inner()),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Streams the file from disk, with its length, reporting bytes as they go.
    async fn upload(
        &self,
        csv: &CsvFile,
        import_id: i32,
        options: &ImportOptions,
    ) -> Result<(), Error> {
        let file = tokio::fs::File::open(&csv.path)
            .await
            .map_err(|e| Error::io(&csv.path, e))?;
        let total = csv.size;
        let progress = options.progress.clone();
        let mut sent = 0u64;
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).map(move |chunk| {
            if let (Ok(bytes), Some(progress)) = (&chunk, &progress) {
                sent += bytes.len() as u64;
                progress(&Progress::Uploaded { bytes: sent, total });
            }
            chunk
        });
        let filename = csv
            .path
            .file_name()
            .map(|n| n.to_string_lossy().replace('"', ""))
            .unwrap_or_else(|| "contacts.csv".into());
        let request = self
            .upload_import_source()
            .id(import_id)
            .accept(ACCEPT)
            .content_disposition(format!("form-data; filename={filename}"))
            .content_length(total as i64)
            .body(reqwest::Body::wrap_stream(stream));
        call(VENDOR, "uploadImportSource", request.send()).await?;
        Ok(())
    }

    /// Starts the execution; when the answer is lost, asks for the execution state before
    /// starting another (an answer means one exists).
    async fn execute(
        &self,
        import_id: i32,
        binding: i32,
        features: Vec<types::ImportFeature>,
    ) -> Result<(), Error> {
        let body = serde_json::to_vec(&types::ExecutionRequest { binding, features })
            .expect("an execution request serialises");
        let start = || {
            self.create_import_execution()
                .id(import_id)
                .accept(ACCEPT)
                .content_type(types::CreateImportExecutionContentType::ApplicationJson)
                .body(body.clone())
                .send()
        };
        match call(VENDOR, "createImportExecution", start()).await {
            Ok(_) => Ok(()),
            Err(e) if e.maybe_processed() => {
                let state = self
                    .get_import_execution_state()
                    .id(import_id)
                    .accept(ACCEPT)
                    .send()
                    .await;
                if state.is_ok() {
                    return Ok(());
                }
                call(VENDOR, "createImportExecution", start())
                    .await
                    .map(|_| ())
            }
            Err(e) => Err(e),
        }
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
            group_ids: np6.report_groups.clone(),
            send_error_report: true,
            send_final_report: true,
            type_: types::ReportFeatureType::Report,
        }));
    }
    features
}
