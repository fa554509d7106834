//! The NP6 MailPerformance emulator (`specs/mailperformance.yaml`): bindings
//! (`/importFormats`), import definitions, the uploaded file, executions and the contact fields.
//!
//! As NP6 does: every call needs `X-Key` (401, empty body, otherwise); every `/imports…` call
//! needs `Accept: application/vnd.mperf.v8.import.v1+json` (406 otherwise) and is answered with
//! that media type, `importFormats` and `fields` with `application/json`; every answer carries
//! an `x-request-id`; error bodies are empty (a binding name that exists: 409). Uploads need
//! `Content-Length` (411) and `Content-Type: application/octet-stream` (415).
//!
//! An execution reads the uploaded file with its binding (separator as an ASCII code, `startAt`
//! the number of lines skipped at the top, as the spec infers it, so `2` loses the first data
//! row of a file with a header, `columnIndex` → `fieldId`, -10 skips a column) and applies the rows to
//! the contacts, keyed by the unicity field (Email, 1234): invalid e-mails are refused, the
//! `database` feature says whether existing contacts are updated (`updateExisting`, default
//! true) and whether empty cells overwrite (`crushData`, default false), the `duplicate`
//! feature what happens to a key seen twice in the file (`ignore`: none of them, `first`,
//! `last`; without it the rows apply in order). `GET /imports/{id}/executions` then answers
//! state 0 for `polls_per_state` polls, then 1 (2 when the file could not be read at all: not
//! UTF-8, no column bound to the unicity field). Ids of the contact fields ([`FIELDS`]):
//! 1234 Email (the key), 1235 Firstname, 1236 Lastname, 5678 City, 5679 Phone.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{apply_row, contact_key, each_record, ImportResult, Shared};

/// The media type of the `/imports…` calls.
const VND: &str = "application/vnd.mperf.v8.import.v1+json";
const JSON: &str = "application/json";
/// The `fieldId` that skips a column.
const IGNORED: i32 = -10;
/// The largest file kept (in memory).
const MAX_FILE: u64 = 2 << 30;
/// The largest JSON body read.
const MAX_JSON: usize = 1 << 20;
/// NP6's "not set" date.
const UNSET_DATE: &str = "0001-01-01T00:00:00Z";

/// A contact field of the emulated account.
pub(crate) struct FieldDef {
    id: i32,
    kind: &'static str,
    name: &'static str,
    unicity: bool,
    mandatory: bool,
    max_len: Option<usize>,
}

/// The contact fields the emulator serves (`GET /fields`); Email is the unicity key.
pub(crate) const FIELDS: &[FieldDef] = &[
    FieldDef {
        id: 1234,
        kind: "email",
        name: "Email",
        unicity: true,
        mandatory: true,
        max_len: None,
    },
    FieldDef {
        id: 1235,
        kind: "textField",
        name: "Firstname",
        unicity: false,
        mandatory: false,
        max_len: Some(150),
    },
    FieldDef {
        id: 1236,
        kind: "textField",
        name: "Lastname",
        unicity: false,
        mandatory: false,
        max_len: Some(150),
    },
    FieldDef {
        id: 5678,
        kind: "textField",
        name: "City",
        unicity: false,
        mandatory: false,
        max_len: Some(150),
    },
    FieldDef {
        id: 5679,
        kind: "phone",
        name: "Phone",
        unicity: false,
        mandatory: false,
        max_len: None,
    },
    FieldDef {
        id: 5680,
        kind: "date",
        name: "Date de naissance",
        unicity: false,
        mandatory: false,
        max_len: None,
    },
    // An older text copy of the date, as accounts collect them: the same name but for case.
    FieldDef {
        id: 5681,
        kind: "textField",
        name: "Date de Naissance",
        unicity: false,
        mandatory: false,
        max_len: Some(10),
    },
    FieldDef {
        id: 5682,
        kind: "singleSelectList",
        name: "Civilité",
        unicity: false,
        mandatory: false,
        max_len: None,
    },
    FieldDef {
        id: 5683,
        kind: "numeric",
        name: "Nombre d'enfants",
        unicity: false,
        mandatory: false,
        max_len: None,
    },
];

impl FieldDef {
    fn json(&self) -> Value {
        let mut field = json!({
            "type": self.kind,
            "id": self.id,
            "name": self.name,
            "isUnicity": self.unicity,
            "isMandatory": self.mandatory,
            "isCriterion": true,
        });
        if self.kind.ends_with("SelectList") {
            field["valueListId"] = json!(12);
        }
        if let Some(len) = self.max_len {
            // Operator 4: smaller than or equal.
            field["constraint"] = json!({"operator": 4, "value": len.to_string()});
        }
        field
    }

    /// The name the field has in the kept contacts.
    fn key(&self) -> String {
        self.name.to_lowercase()
    }
}

fn field(id: i32) -> Option<&'static FieldDef> {
    FIELDS.iter().find(|f| f.id == id)
}

#[derive(Clone)]
struct Np6 {
    shared: Shared,
    store: Arc<Mutex<Store>>,
}

struct Store {
    next_import: i32,
    next_binding: i32,
    next_scheduler: i32,
    bindings: BTreeMap<i32, Binding>,
    imports: BTreeMap<i32, Import>,
}

impl Default for Store {
    fn default() -> Self {
        // The ids of the vendor's examples come first.
        Self {
            next_import: 12345,
            next_binding: 1234,
            next_scheduler: 79,
            bindings: BTreeMap::new(),
            imports: BTreeMap::new(),
        }
    }
}

/// An import format, as posted (`identifier` is read-only and ignored).
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Binding {
    name: String,
    separator: i32,
    start_at: i32,
    binds: Vec<Bind>,
    saved_import_format: bool,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Bind {
    column_index: i32,
    field_id: i32,
}

impl Binding {
    fn json(&self, guid: i32) -> Value {
        json!({
            "identifier": {"guid": guid},
            "name": self.name,
            "separator": self.separator,
            "startAt": self.start_at,
            "binds": self.binds,
            "savedImportFormat": self.saved_import_format,
        })
    }

    /// Why NP6 would refuse it (400).
    fn check(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("empty name".into());
        }
        match u8::try_from(self.separator) {
            Ok(b) if b.is_ascii() && !matches!(b, 0 | b'\n' | b'\r' | b'"') => {}
            _ => return Err(format!("separator {} is no ASCII code", self.separator)),
        }
        if self.start_at < 0 {
            return Err("startAt counts the lines to skip".into());
        }
        let mut columns = std::collections::BTreeSet::new();
        for bind in &self.binds {
            if bind.column_index < 0 || !columns.insert(bind.column_index) {
                return Err(format!("column index {}", bind.column_index));
            }
            if bind.field_id != IGNORED && field(bind.field_id).is_none() {
                return Err(format!("no field {}", bind.field_id));
            }
        }
        Ok(())
    }
}

/// An import feature (`ImportFeature`), tagged by `type`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
enum Feature {
    Segmentation {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        segment_id: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        empty_exisiting_segment: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        empty_existing_segment: Option<bool>,
    },
    Duplicate {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rules: Option<DuplicateRules>,
    },
    Report {
        send_final_report: bool,
        send_error_report: bool,
        contact_guids: Vec<String>,
        group_ids: Vec<i32>,
    },
    Database {
        update_existing: bool,
        crush_data: bool,
    },
    RedList {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        destination: Option<RedListDestination>,
    },
    Normalization {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fields: Option<BTreeMap<String, Vec<String>>>,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DuplicateRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ignore: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    first: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct RedListDestination {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sms: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mail: Option<bool>,
}

/// The body of `POST /imports` and `PUT /imports/{id}` (read-only fields ignored).
#[derive(Deserialize)]
struct ImportIn {
    name: String,
    #[serde(default)]
    binding: Option<i32>,
    #[serde(default)]
    features: Option<Vec<Feature>>,
    #[serde(default)]
    source: Option<SourceIn>,
    #[serde(default)]
    scheduler: Option<serde_json::Map<String, Value>>,
}

#[derive(Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "lowercase")]
enum SourceIn {
    File {
        #[serde(flatten)]
        _common: SourceFieldsIn,
        #[serde(default, rename = "filename")]
        _filename: Option<String>,
        #[serde(default, deserialize_with = "super::present", rename = "data")]
        _data: Option<Vec<Value>>,
    },
    Ftp {
        #[serde(flatten)]
        _common: SourceFieldsIn,
        #[serde(default, deserialize_with = "super::present", rename = "folder")]
        _folder: Option<String>,
        #[serde(
            default,
            deserialize_with = "super::present",
            rename = "templateFilename"
        )]
        _template_filename: Option<String>,
    },
}

/// The fields both kinds of source share, checked against their types in the spec (a wrong
/// type is a 400, as NP6's JSON binding answers) and otherwise ignored: NP6 sets them itself.
#[derive(Deserialize, PartialEq)]
struct SourceFieldsIn {
    #[serde(default, rename = "id")]
    _id: Option<i32>,
    #[serde(default, deserialize_with = "super::present", rename = "creationDate")]
    _creation_date: Option<String>,
    #[serde(default, rename = "updateDate")]
    _update_date: Option<String>,
}

/// The body of `POST /imports/{id}/executions` in its JSON form.
#[derive(Deserialize)]
struct ExecutionIn {
    binding: i32,
    #[serde(default)]
    features: Option<Vec<Feature>>,
}

struct Import {
    id: i32,
    name: String,
    creation_date: String,
    update_date: Option<String>,
    binding: Option<i32>,
    features: Vec<Feature>,
    source: Source,
    scheduler: Option<i32>,
    file: Option<Bytes>,
    execution: Option<Execution>,
}

enum Source {
    File {
        update_date: Option<String>,
        filename: Option<String>,
    },
    Ftp {
        creation_date: String,
    },
}

struct Execution {
    polls: u32,
    /// 1 completed, 2 error: what the polls end with.
    outcome: i32,
}

impl Import {
    fn source_json(&self) -> Value {
        match &self.source {
            Source::File {
                update_date,
                filename,
            } => {
                let mut source = json!({
                    "type": "file",
                    "creationDate": UNSET_DATE,
                    "filename": filename,
                });
                if let Some(date) = update_date {
                    source["updateDate"] = json!(date);
                }
                source
            }
            Source::Ftp { creation_date } => json!({
                "type": "ftp",
                "creationDate": creation_date,
                "folder": format!("{} - {}", self.id, self.name),
                "templateFilename": format!("{}.csv", self.name),
            }),
        }
    }

    fn json(&self) -> Value {
        let mut import = json!({
            "id": self.id,
            "name": self.name,
            "creationDate": self.creation_date,
            "updateDate": self.update_date,
            "binding": self.binding,
            "features": self.features,
            "source": self.source_json(),
        });
        if let Some(id) = self.scheduler {
            import["scheduler"] = json!({ "id": id });
        }
        import
    }

    fn new_source(source: Option<&SourceIn>, now: &str) -> Source {
        match source {
            Some(SourceIn::Ftp { .. }) => Source::Ftp {
                creation_date: now.to_owned(),
            },
            Some(SourceIn::File { .. }) | None => Source::File {
                update_date: None,
                filename: None,
            },
        }
    }
}

pub(super) fn router(shared: Shared, lists_bindings: bool) -> Router {
    let np6 = Np6 {
        shared,
        store: Default::default(),
    };
    Router::new()
        .route("/imports", get(list_imports).post(create_import))
        .route(
            "/imports/{id}",
            get(get_import).put(update_import).delete(delete_import),
        )
        .route("/imports/{id}/source", axum::routing::put(upload_source))
        .route(
            "/imports/{id}/executions",
            get(execution_state).post(create_execution),
        )
        .route(
            "/importFormats",
            if lists_bindings {
                get(list_bindings).post(create_binding)
            } else {
                axum::routing::post(create_binding)
            },
        )
        .route("/importFormats/{id}", get(get_binding))
        .route("/fields", get(list_fields))
        .route("/fields/{id}", get(get_field))
        .fallback(|| async { empty(StatusCode::NOT_FOUND) })
        .layer(middleware::from_fn_with_state(np6.clone(), gate))
        .with_state(np6)
}

/// `X-Key`, the import `Accept`, and an `x-request-id` on every answer.
async fn gate(State(np6): State<Np6>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let import_call = path == "/imports" || path.starts_with("/imports/");
    let key = request.headers().get("x-key").map(HeaderValue::as_bytes);
    let mut response = if key != Some(np6.shared.credentials.np6_key.as_bytes()) {
        empty(StatusCode::UNAUTHORIZED)
    } else if import_call && !accepts_vnd(request.headers()) {
        empty(StatusCode::NOT_ACCEPTABLE)
    } else {
        next.run(request).await
    };
    let id = format!("{:032x}", fastrand::u128(..));
    response.headers_mut().insert(
        "x-request-id",
        HeaderValue::from_str(&id).expect("hex is a header value"),
    );
    response
}

fn accepts_vnd(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case(VND)
        })
}

fn empty(status: StatusCode) -> Response {
    status.into_response()
}

fn reply(content_type: &'static str, body: &Value) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body.to_string(),
    )
        .into_response()
}

fn now() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn parse_id(id: &str) -> Option<i32> {
    id.parse().ok()
}

fn has_media_type(headers: &HeaderMap, expected: &str) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(expected))
}

/// `form-data; filename=<name>` (quoted or not) → the name.
fn filename(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_DISPOSITION)?.to_str().ok()?;
    value.split(';').find_map(|part| {
        let (k, v) = part.split_once('=')?;
        let name = v.trim().trim_matches('"');
        let name = name.rsplit(['/', '\\']).next().unwrap_or(name);
        (k.trim().eq_ignore_ascii_case("filename") && !name.is_empty()).then(|| name.to_owned())
    })
}

/// The stored name: ten random hex digits, `_`, the uploaded name.
fn stored_name(headers: &HeaderMap) -> String {
    let name = filename(headers).unwrap_or_else(|| "import.csv".into());
    format!("{:010x}_{name}", fastrand::u64(..1 << 40))
}

/// Reads a streamed file body: 411 without `Content-Length`, 413 over the cap.
async fn read_file(headers: &HeaderMap, body: Body) -> Result<Bytes, StatusCode> {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or(StatusCode::LENGTH_REQUIRED)?;
    if length > MAX_FILE {
        return Err(StatusCode::PAYLOAD_TOO_LARGE);
    }
    super::read_body(headers, body, MAX_FILE as usize)
        .await
        .map(Bytes::from)
        .map_err(|_| StatusCode::BAD_REQUEST)
}

fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, StatusCode> {
    serde_json::from_slice(body).map_err(|_| StatusCode::BAD_REQUEST)
}

async fn list_imports(State(np6): State<Np6>) -> Response {
    let store = np6.store.lock().expect("lock");
    let imports: Vec<Value> = store.imports.values().map(Import::json).collect();
    reply(VND, &Value::Array(imports))
}

async fn create_import(State(np6): State<Np6>, body: Bytes) -> Response {
    let input: ImportIn = match parse_json(&body) {
        Ok(input) => input,
        Err(status) => return empty(status),
    };
    if input.name.trim().is_empty() {
        return empty(StatusCode::BAD_REQUEST);
    }
    let now = now();
    let mut store = np6.store.lock().expect("lock");
    let id = store.next_import;
    store.next_import += 1;
    let scheduler = input.scheduler.is_some().then(|| {
        store.next_scheduler += 1;
        store.next_scheduler - 1
    });
    let import = Import {
        id,
        name: input.name,
        creation_date: now.clone(),
        update_date: None,
        binding: input.binding,
        features: input.features.unwrap_or_default(),
        source: Import::new_source(input.source.as_ref(), &now),
        scheduler,
        file: None,
        execution: None,
    };
    let answer = import.json();
    store.imports.insert(id, import);
    reply(VND, &answer)
}

async fn get_import(State(np6): State<Np6>, Path(id): Path<String>) -> Response {
    let store = np6.store.lock().expect("lock");
    match parse_id(&id).and_then(|id| store.imports.get(&id)) {
        Some(import) => reply(VND, &import.json()),
        None => empty(StatusCode::NOT_FOUND),
    }
}

async fn update_import(State(np6): State<Np6>, Path(id): Path<String>, body: Bytes) -> Response {
    let mut store = np6.store.lock().expect("lock");
    let Some(id) = parse_id(&id).filter(|id| store.imports.contains_key(id)) else {
        return empty(StatusCode::NOT_FOUND);
    };
    let input: ImportIn = match parse_json(&body) {
        Ok(input) => input,
        Err(status) => return empty(status),
    };
    if input.name.trim().is_empty() {
        return empty(StatusCode::BAD_REQUEST);
    }
    let scheduler = match (input.scheduler.is_some(), store.imports[&id].scheduler) {
        (true, None) => {
            store.next_scheduler += 1;
            Some(store.next_scheduler - 1)
        }
        (true, kept) => kept,
        (false, _) => None,
    };
    let now = now();
    let import = store.imports.get_mut(&id).expect("checked");
    let source_changed = matches!(
        (&input.source, &import.source),
        (Some(SourceIn::Ftp { .. }), Source::File { .. })
            | (Some(SourceIn::File { .. }), Source::Ftp { .. })
    );
    if source_changed {
        import.source = Import::new_source(input.source.as_ref(), &now);
        import.file = None;
    }
    import.name = input.name;
    import.binding = input.binding;
    import.features = input.features.unwrap_or_default();
    import.scheduler = scheduler;
    import.update_date = Some(now);
    reply(VND, &import.json())
}

async fn delete_import(State(np6): State<Np6>, Path(id): Path<String>) -> Response {
    let mut store = np6.store.lock().expect("lock");
    match parse_id(&id).and_then(|id| store.imports.remove(&id)) {
        Some(_) => empty(StatusCode::NO_CONTENT),
        None => empty(StatusCode::NOT_FOUND),
    }
}

async fn upload_source(
    State(np6): State<Np6>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(id) =
        parse_id(&id).filter(|id| np6.store.lock().expect("lock").imports.contains_key(id))
    else {
        return empty(StatusCode::NOT_FOUND);
    };
    if !headers.contains_key(header::CONTENT_LENGTH) {
        return empty(StatusCode::LENGTH_REQUIRED);
    }
    if !has_media_type(&headers, "application/octet-stream") {
        return empty(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let file = match read_file(&headers, body).await {
        Ok(file) => file,
        Err(status) => return empty(status),
    };
    let mut store = np6.store.lock().expect("lock");
    let Some(import) = store.imports.get_mut(&id) else {
        return empty(StatusCode::NOT_FOUND);
    };
    attach(import, file, &headers);
    reply(VND, &import.source_json())
}

/// Keeps an uploaded file as the import's source.
fn attach(import: &mut Import, file: Bytes, headers: &HeaderMap) {
    import.source = Source::File {
        update_date: Some(now()),
        filename: Some(stored_name(headers)),
    };
    import.file = Some(file);
}

async fn create_execution(
    State(np6): State<Np6>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(id) =
        parse_id(&id).filter(|id| np6.store.lock().expect("lock").imports.contains_key(id))
    else {
        return empty(StatusCode::NOT_FOUND);
    };
    // The JSON form names the binding and may override the features; the file form uploads
    // the file and runs with what the import carries.
    let (binding_id, features, upload) = if has_media_type(&headers, JSON) {
        let body = match axum::body::to_bytes(body, MAX_JSON).await {
            Ok(body) => body,
            Err(_) => return empty(StatusCode::BAD_REQUEST),
        };
        let input: ExecutionIn = match parse_json(&body) {
            Ok(input) => input,
            Err(status) => return empty(status),
        };
        (Some(input.binding), input.features, None)
    } else if has_media_type(&headers, "application/octet-stream") {
        match read_file(&headers, body).await {
            Ok(file) => (None, None, Some(file)),
            Err(status) => return empty(status),
        }
    } else {
        return empty(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    };

    let (binding_id, binding, features, file, source) = {
        let mut store = np6.store.lock().expect("lock");
        let Some(import) = store.imports.get_mut(&id) else {
            return empty(StatusCode::NOT_FOUND);
        };
        if let Some(file) = upload {
            attach(import, file, &headers);
        }
        let Some(binding_id) = binding_id.or(import.binding) else {
            return empty(StatusCode::BAD_REQUEST);
        };
        let Some(file) = import.file.clone() else {
            return empty(StatusCode::BAD_REQUEST);
        };
        let features = features.unwrap_or_else(|| import.features.clone());
        let source = import.source_json();
        let Some(binding) = store.bindings.get(&binding_id).cloned() else {
            return empty(StatusCode::BAD_REQUEST);
        };
        (binding_id, binding, features, file, source)
    };

    let start_date = now();
    let answer = json!({
        "startDate": start_date,
        "state": 0,
        "content": {
            "features": features,
            "identifier": {"guid": binding_id},
            "name": binding.name,
            "separator": binding.separator,
            "startAt": binding.start_at,
            "binds": binding.binds,
            "savedImportFormat": binding.saved_import_format,
        },
        "source": source,
    });
    let shared = np6.shared.clone();
    let result = tokio::task::spawn_blocking(move || {
        let mut contacts = shared.contacts.lock().expect("lock");
        let mut result = run(&file, &binding, &features, &mut contacts);
        result.import_id = id.to_string();
        result
    })
    .await
    .expect("the import does not panic");
    let outcome = if result.failure.is_some() { 2 } else { 1 };
    np6.shared.results.lock().expect("lock").push(result);
    if let Some(import) = np6.store.lock().expect("lock").imports.get_mut(&id) {
        import.execution = Some(Execution { polls: 0, outcome });
    }
    reply(VND, &answer)
}

async fn execution_state(State(np6): State<Np6>, Path(id): Path<String>) -> Response {
    let mut store = np6.store.lock().expect("lock");
    let Some(import) = parse_id(&id).and_then(|id| store.imports.get_mut(&id)) else {
        return empty(StatusCode::NOT_FOUND);
    };
    let Some(execution) = import.execution.as_mut() else {
        return empty(StatusCode::NOT_FOUND);
    };
    execution.polls = execution.polls.saturating_add(1);
    let state = if execution.polls <= np6.shared.polls_per_state {
        0
    } else {
        execution.outcome
    };
    reply(VND, &json!({ "state": state }))
}

async fn list_bindings(State(np6): State<Np6>) -> Response {
    let store = np6.store.lock().expect("lock");
    let bindings: Vec<Value> = store
        .bindings
        .iter()
        .map(|(guid, binding)| binding.json(*guid))
        .collect();
    reply(JSON, &Value::Array(bindings))
}

async fn create_binding(State(np6): State<Np6>, body: Bytes) -> Response {
    let binding: Binding = match parse_json(&body) {
        Ok(binding) => binding,
        Err(status) => return empty(status),
    };
    if binding.check().is_err() {
        return empty(StatusCode::BAD_REQUEST);
    }
    let mut store = np6.store.lock().expect("lock");
    if store.bindings.values().any(|b| b.name == binding.name) {
        return empty(StatusCode::CONFLICT);
    }
    let guid = store.next_binding;
    store.next_binding += 1;
    let answer = binding.json(guid);
    store.bindings.insert(guid, binding);
    reply(JSON, &answer)
}

async fn get_binding(State(np6): State<Np6>, Path(id): Path<String>) -> Response {
    let store = np6.store.lock().expect("lock");
    match parse_id(&id).and_then(|guid| store.bindings.get(&guid).map(|b| b.json(guid))) {
        Some(binding) => reply(JSON, &binding),
        None => empty(StatusCode::NOT_FOUND),
    }
}

async fn list_fields() -> Response {
    reply(
        JSON,
        &Value::Array(FIELDS.iter().map(FieldDef::json).collect()),
    )
}

async fn get_field(Path(id): Path<String>) -> Response {
    match parse_id(&id).and_then(field) {
        Some(field) => reply(JSON, &field.json()),
        None => empty(StatusCode::NOT_FOUND),
    }
}

/// What the `duplicate` feature asks for.
#[derive(Clone, Copy, PartialEq)]
enum Duplicates {
    InOrder,
    Ignore,
    First,
    Last,
}

/// Reads the file with the binding and applies its rows to the contacts, one at a time (a
/// file may have millions of rows: none is kept).
fn run(
    file: &[u8],
    binding: &Binding,
    features: &[Feature],
    contacts: &mut super::Contacts,
) -> ImportResult {
    let mut result = ImportResult::default();
    let (file, binds) = match readable(file, binding) {
        Ok(readable) => readable,
        Err(failure) => {
            result.failure = Some(failure);
            return result;
        }
    };

    let (mut update, mut crush, mut duplicates) = (true, false, Duplicates::InOrder);
    for feature in features {
        match feature {
            Feature::Database {
                update_existing,
                crush_data,
            } => (update, crush) = (*update_existing, *crush_data),
            Feature::Duplicate { rules: Some(rules) } => {
                duplicates = if rules.ignore == Some(true) {
                    Duplicates::Ignore
                } else if rules.first == Some(true) {
                    Duplicates::First
                } else if rules.last == Some(true) {
                    Duplicates::Last
                } else {
                    Duplicates::InOrder
                }
            }
            _ => {}
        }
    }

    // Where each key appears in the file, when a duplicate rule asks: a first reading.
    let mut lines_of: HashMap<String, Vec<u64>> = HashMap::new();
    if duplicates != Duplicates::InOrder {
        each_row(file, binding, |line, record| {
            let key = record.and_then(|r| bind_row(r, &binds));
            if let Some(key) = key.ok().and_then(|row| contact_key(&row.key, true).ok()) {
                lines_of.entry(key).or_default().push(line);
            }
        });
    }
    each_row(file, binding, |line, record| {
        result.rows += 1;
        let row = match record.and_then(|r| bind_row(r, &binds)) {
            Ok(row) => row,
            Err(reason) => return result.reject(line, reason),
        };
        let key = (duplicates != Duplicates::InOrder)
            .then(|| contact_key(&row.key, true).ok())
            .flatten();
        if let Some(key) = key {
            let lines = lines_of.get(&key).map_or(&[][..], Vec::as_slice);
            let duplicate = match (duplicates, lines) {
                (Duplicates::Ignore, [_, _, ..]) => Some(format!(
                    "`{key}` appears {} times in the file (duplicate rule: ignore)",
                    lines.len()
                )),
                (Duplicates::First, [first, ..]) if *first != line => {
                    Some(format!("duplicate of line {first} (duplicate rule: first)"))
                }
                (Duplicates::Last, [.., last]) if *last != line => {
                    Some(format!("duplicate of line {last} (duplicate rule: last)"))
                }
                _ => None,
            };
            if let Some(reason) = duplicate {
                return result.reject(line, reason);
            }
        }
        let mut fields = row.fields;
        if !crush {
            fields.retain(|_, value| !value.is_empty());
        }
        let outcome = apply_row(contacts, &row.key, fields, true, true, update);
        result.record(line, outcome);
    });
    result
}

struct Row {
    key: String,
    /// The bound fields.
    fields: BTreeMap<String, String>,
}

/// The file without its BOM and the binding's columns, or why the file cannot be read at all
/// with this binding.
#[allow(clippy::type_complexity)]
fn readable<'a>(
    file: &'a [u8],
    binding: &Binding,
) -> Result<(&'a [u8], Vec<(usize, &'static FieldDef)>), String> {
    let file = file.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(file);
    std::str::from_utf8(file).map_err(|e| format!("the file is not UTF-8 ({e})"))?;
    let key_field = FIELDS.iter().find(|f| f.unicity).expect("a unicity field");
    let binds: Vec<(usize, &FieldDef)> = binding
        .binds
        .iter()
        .filter(|b| b.field_id != IGNORED)
        .map(|b| {
            field(b.field_id)
                .map(|f| (b.column_index as usize, f))
                .ok_or_else(|| format!("the binding names no field {}", b.field_id))
        })
        .collect::<Result<_, _>>()?;
    if !binds.iter().any(|(_, f)| f.unicity) {
        return Err(format!(
            "no column is bound to the unicity field {} ({})",
            key_field.name, key_field.id
        ));
    }
    Ok((file, binds))
}

/// Calls `each` with every data row of the file and its line, one at a time, with the
/// binding's separator and past its `startAt` lines.
fn each_row(
    file: &[u8],
    binding: &Binding,
    mut each: impl FnMut(u64, Result<&csv::StringRecord, String>),
) {
    let reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(binding.separator as u8)
        .from_reader(file);
    each_record(reader, file, |line, record| match record {
        // `startAt` lines skipped: 1 skips the header (spec: inferred reading).
        Ok(_) if line <= binding.start_at as u64 => {}
        Ok(record) => each(line, Ok(record)),
        Err(e) => each(line, Err(format!("the row cannot be read: {e}"))),
    });
}

fn bind_row(record: &csv::StringRecord, binds: &[(usize, &FieldDef)]) -> Result<Row, String> {
    let mut key = None;
    let mut fields = BTreeMap::new();
    for (column, field) in binds {
        let value = record.get(*column).ok_or_else(|| {
            format!(
                "{} columns, column {column} is bound to {}",
                record.len(),
                field.name
            )
        })?;
        if let Some(max) = field.max_len {
            if value.chars().count() > max {
                return Err(format!("{} is longer than {max} characters", field.name));
            }
        }
        if field.unicity {
            key = Some(value.to_owned());
        }
        fields.insert(field.key(), value.to_owned());
    }
    Ok(Row {
        key: key.unwrap_or_default(),
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(separator: u8, start_at: i32, binds: &[(i32, i32)]) -> Binding {
        Binding {
            name: "b".into(),
            separator: separator.into(),
            start_at,
            binds: binds
                .iter()
                .map(|&(column_index, field_id)| Bind {
                    column_index,
                    field_id,
                })
                .collect(),
            saved_import_format: true,
        }
    }

    fn duplicate(rules: DuplicateRules) -> Vec<Feature> {
        vec![Feature::Duplicate { rules: Some(rules) }]
    }

    #[test]
    fn rows_bind_by_column_from_start_at() {
        let file = "id;email;city\r\n1;a@x.io;Lille\r\n2;bad;Lens\r\n3;B@x.io\r\n";
        let binding = binding(b';', 1, &[(0, -10), (1, 1234), (2, 5678)]);
        let mut contacts = Default::default();
        let result = run(file.as_bytes(), &binding, &[], &mut contacts);
        assert_eq!((result.rows, result.inserted, result.rejected), (3, 1, 2));
        assert_eq!(result.rejects[0].0, 3);
        assert!(
            result.rejects[1].1.contains("2 columns"),
            "{:?}",
            result.rejects
        );
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "Lille");
        assert!(!contacts.get("a@x.io").unwrap().contains_key("id"));
    }

    #[test]
    fn start_at_counts_the_lines_skipped() {
        let file = "email;city\na@x.io;Lille\nb@x.io;Lens\n";
        let read = |start_at| {
            let mut contacts: crate::Contacts = Default::default();
            run(
                file.as_bytes(),
                &binding(b';', start_at, &[(0, 1234), (1, 5678)]),
                &[],
                &mut contacts,
            );
            contacts.to_map().into_keys().collect::<Vec<_>>()
        };
        // 1 skips the header; 2 loses the first contact, as it would at NP6 under this reading.
        assert_eq!(read(1), ["a@x.io", "b@x.io"]);
        assert_eq!(read(2), ["b@x.io"]);
    }

    #[test]
    fn duplicate_rules() {
        let file = "a@x.io,1\nb@x.io,2\nA@x.io,3\n";
        let binding = binding(b',', 0, &[(0, 1234), (1, 5678)]);
        let run_with = |features: &[Feature]| {
            let mut contacts = Default::default();
            let result = run(file.as_bytes(), &binding, features, &mut contacts);
            (result, contacts)
        };
        let rules = |ignore, first, last| DuplicateRules {
            ignore: Some(ignore),
            first: Some(first),
            last: Some(last),
        };
        let (result, contacts) = run_with(&duplicate(rules(true, false, false)));
        assert_eq!((result.inserted, result.rejected), (1, 2));
        assert!(!contacts.contains_key("a@x.io"));
        let (result, contacts) = run_with(&duplicate(rules(false, true, false)));
        assert_eq!((result.inserted, result.rejected), (2, 1));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "1");
        let (_, contacts) = run_with(&duplicate(rules(false, false, true)));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "3");
        let (result, contacts) = run_with(&[]);
        assert_eq!((result.inserted, result.updated), (2, 1));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "3");
    }

    #[test]
    fn database_feature() {
        let binding = binding(b';', 0, &[(0, 1234), (1, 5678)]);
        let mut contacts = Default::default();
        run(b"a@x.io;Lille\n", &binding, &[], &mut contacts);
        let keep = [Feature::Database {
            update_existing: true,
            crush_data: false,
        }];
        let result = run(b"a@x.io;\n", &binding, &keep, &mut contacts);
        assert_eq!(result.updated, 1);
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "Lille");
        let crush = [Feature::Database {
            update_existing: true,
            crush_data: true,
        }];
        run(b"a@x.io;\n", &binding, &crush, &mut contacts);
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "");
        let no_update = [Feature::Database {
            update_existing: false,
            crush_data: false,
        }];
        let result = run(
            b"a@x.io;Lens\nc@x.io;Arras\n",
            &binding,
            &no_update,
            &mut contacts,
        );
        assert_eq!(
            (result.inserted, result.updated, result.rejected),
            (1, 0, 1)
        );
    }

    #[test]
    fn unreadable_files_fail() {
        let mut contacts = Default::default();
        let no_key = binding(b';', 0, &[(0, 5678)]);
        assert!(run(b"a@x.io\n", &no_key, &[], &mut contacts)
            .failure
            .is_some());
        let ok = binding(b';', 0, &[(0, 1234)]);
        assert!(run(b"\xff\xfe;\n", &ok, &[], &mut contacts)
            .failure
            .is_some());
        let bom = run(b"\xEF\xBB\xBFa@x.io\n", &ok, &[], &mut contacts);
        assert_eq!((bom.failure, bom.inserted), (None, 1));
    }

    #[test]
    fn bindings_are_checked() {
        assert!(binding(b';', 1, &[(0, 1234), (1, -10)]).check().is_ok());
        assert!(binding(b';', 0, &[(0, 1234)]).check().is_ok());
        assert!(binding(b';', -1, &[(0, 1234)]).check().is_err());
        assert!(binding(b';', 1, &[(0, 1234), (0, 5678)]).check().is_err());
        assert!(binding(b';', 1, &[(0, 42)]).check().is_err());
        assert!(binding(b'\n', 1, &[(0, 1234)]).check().is_err());
        let mut wide = binding(b';', 1, &[]);
        wide.separator = 300;
        assert!(wide.check().is_err());
    }

    #[test]
    fn filenames() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("form-data; filename=\"contacts.csv\""),
        );
        assert_eq!(filename(&headers).as_deref(), Some("contacts.csv"));
        let stored = stored_name(&headers);
        let (prefix, name) = stored.split_once('_').unwrap();
        assert_eq!((prefix.len(), name), (10, "contacts.csv"));
        assert!(prefix.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
