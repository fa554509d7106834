//! The Mindbaz API V1 emulator (`specs/mindbaz.yaml`): `POST /api/{idsite}/imports/scheduleNow`
//! for a file in the sandbox's SFTP directory, and `GET /api/{idsite}/imports/{idImport}`,
//! whose `importState` moves 1 (Scheduled) → 2 (InProgress) → 3 (Completed) over polls, or to 5
//! (PackageErrorCreation) when the file, the codepage or the mapping does not fit. The file is
//! really read (delimiter, qualifier, row delimiter, header, start line, codepage) and its rows
//! applied to the sandbox's Mindbaz contacts, and `lastImportLog` counts what happened.
//!
//! Every answer is the Mindbaz envelope `{success, data, error, typeName}`, except the 401 and
//! 429, which have no body. Failures the spec gives no status for (an unknown import, a bad id)
//! are the 200 envelope with `success: false`, `data: null` and the message in `error`.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::{Component, Path, PathBuf},
    sync::{Arc, Mutex},
    time::{SystemTime, UNIX_EPOCH},
};

use axum::{
    body::Bytes,
    extract::{Path as UrlPath, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{apply_row, valid_email, Contacts, RowOutcome, Shared};

/// Requests per minute allowed to the API key (answers carry `X-RateLimit-*`).
const RATE_LIMIT: u32 = 1000;
/// The first import id handed out (ids are per sandbox, not per site).
const FIRST_IMPORT_ID: i32 = 250;
/// `badFormattedRowNumbers` holds at most this many characters.
const ROW_NUMBERS_MAX: usize = 1000;

/// Import states (vendor enum EImportState).
const SCHEDULED: i32 = 1;
const IN_PROGRESS: i32 = 2;
const COMPLETED: i32 = 3;
const PACKAGE_ERROR: i32 = 5;

pub(super) fn router(shared: Shared) -> Router {
    let emulator = Arc::new(Emulator {
        shared,
        state: Mutex::new(Imports {
            next_id: FIRST_IMPORT_ID,
            next_log_id: 1,
            ..Imports::default()
        }),
    });
    Router::new()
        .route("/api/{idsite}/imports/scheduleNow", post(schedule_now))
        .route("/api/{idsite}/imports/{id_import}", get(get_import))
        .route("/api/{idsite}/fields/list", get(list_fields))
        .route_layer(middleware::from_fn_with_state(
            emulator.clone(),
            authenticate,
        ))
        .with_state(emulator)
}

struct Emulator {
    shared: Shared,
    state: Mutex<Imports>,
}

#[derive(Default)]
struct Imports {
    next_id: i32,
    next_log_id: i32,
    imports: HashMap<i32, Import>,
    /// Start (Unix seconds) of the current rate-limit minute, and the requests in it.
    window: (u64, u32),
}

struct Import {
    site: i32,
    parameters: Parameters,
    creation_date: String,
    scheduled_date: String,
    polls: u32,
    state: i32,
    /// Read from the file when the package is created (leaving state 1).
    package: Option<Package>,
    started: Option<String>,
    log: Option<ImportLog>,
}

// ---------------------------------------------------------------------------------------------
// Wire shapes

/// `ImportParameters` as received: everything optional, so that a missing field is reported
/// in the envelope rather than by a decoding failure.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParametersIn {
    filename: Option<String>,
    start_line: Option<i32>,
    column_names_first_line: Option<bool>,
    text_qualifier: Option<String>,
    column_delimiter: Option<String>,
    row_delimiter: Option<String>,
    codepage: Option<i32>,
    sheet_name: Option<String>,
    key_db_field_name: Option<String>,
    keep_fld7: Option<bool>,
    insert_enabled: Option<bool>,
    safe_mode: Option<bool>,
    email_notification: Option<String>,
    delete_file: Option<bool>,
    column_mapping: Option<Vec<MappingIn>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MappingIn {
    db_field_name: Option<String>,
    id_mapping_mode: Option<i32>,
    file_column_name: Option<String>,
    fixed_value: Option<String>,
    format: Option<String>,
}

/// `ImportParameters` as the API echoes them: defaults filled in, mapping `null`s as `""`,
/// column names in lower case and the mapping ordered by field.
#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Parameters {
    filename: String,
    start_line: i32,
    column_names_first_line: bool,
    text_qualifier: Option<String>,
    column_delimiter: String,
    row_delimiter: String,
    codepage: i32,
    sheet_name: Option<String>,
    key_db_field_name: String,
    keep_fld7: bool,
    insert_enabled: bool,
    safe_mode: bool,
    email_notification: String,
    delete_file: bool,
    column_mapping: Vec<Mapping>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct Mapping {
    db_field_name: String,
    id_mapping_mode: i32,
    file_column_name: String,
    fixed_value: String,
    format: String,
}

#[derive(Serialize, Clone, Default)]
#[serde(rename_all = "camelCase")]
struct ImportLog {
    id: i32,
    filename: Option<String>,
    start_date: String,
    end_date: Option<String>,
    error_message: Option<String>,
    total_rows: i32,
    total_duplicate_keys: i32,
    nb_validations: i32,
    nb_error_rows: i32,
    nb_bad_formatted_rows: i32,
    bad_formatted_row_numbers: Option<String>,
    total_updates: i32,
    nb_updates: i32,
    total_inserts: i32,
    nb_inserts: i32,
    nb_forbidden_inserts: i32,
}

impl Import {
    fn to_json(&self, id: i32) -> Value {
        json!({
            "id": id,
            "parameters": self.parameters,
            "creationDate": self.creation_date,
            "importState": self.state,
            "isDeleted": false,
            "deletionDate": null,
            "schedulingInfos": {
                "isRecurring": false,
                "recurringInfos": null,
                "scheduledDate": self.scheduled_date,
            },
            "lastImportLog": self.log,
        })
    }
}

fn envelope(import: Value) -> Response {
    Json(json!({"success": true, "data": import, "error": null, "typeName": "Import"}))
        .into_response()
}

/// The failure envelope, with `status` (400 for `scheduleNow`, 200 where the spec declares no
/// error status).
fn failure(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"success": false, "data": null, "error": message.into(), "typeName": null});
    (status, Json(body)).into_response()
}

// ---------------------------------------------------------------------------------------------
// The subscriber table's fields

/// Field types (`fieldType`): 1 Text, 2 Integer, 3 Date, 4 List, 5 Boolean.
const TEXT: i32 = 1;
const INTEGER: i32 = 2;
const DATE: i32 = 3;
const LIST: i32 = 4;
const BOOLEAN: i32 = 5;

/// A field of the subscriber table: id (`fldN`), name, type, length, list values.
type FieldDef = (i32, &'static str, i32, Option<i32>, &'static [&'static str]);

/// The sandbox's subscriber table. The ids Mindbaz documents: `fld0` subscriber id, `fld1`
/// e-mail, `fld2` first registration date, `fld7` subscriber state, `fld14` last name and
/// `fld15` first name (its hashing example), `fld43` customer id, and `fld157`/`fld158` (its
/// import example). The others are the sandbox's own; two differ only by case.
const FIELDS: &[FieldDef] = &[
    (0, "Id abonné", INTEGER, None, &[]),
    (1, "Email", TEXT, Some(255), &[]),
    (2, "Date de première inscription", DATE, None, &[]),
    (3, "Source", TEXT, Some(50), &[]),
    (4, "Ville", TEXT, Some(50), &[]),
    (
        7,
        "Etat abonné",
        LIST,
        None,
        &["Actif", "Désinscrit", "NPAI"],
    ),
    (9, "Téléphone", TEXT, Some(20), &[]),
    (14, "Nom", TEXT, Some(50), &[]),
    (15, "Prénom", TEXT, Some(50), &[]),
    (16, "Civilité", LIST, None, &["M.", "Mme"]),
    (43, "Id client", TEXT, Some(50), &[]),
    (150, "Prénom saisi", TEXT, Some(100), &[]),
    (151, "Ville saisie", TEXT, Some(100), &[]),
    (157, "animal_nom", TEXT, Some(100), &[]),
    (158, "animal_date_naissance", DATE, None, &[]),
    (159, "Optin partenaires", BOOLEAN, None, &[]),
    (160, "Code postal", TEXT, Some(10), &[]),
    (161, "Code Postal", TEXT, Some(5), &[]),
];

/// `GET /api/{idsite}/fields/list[?type=N]`: the fields, in the envelope.
async fn list_fields(
    UrlPath(site): UrlPath<String>,
    axum::extract::Query(query): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    let kind = match query.get("type").map(|t| t.parse::<i32>()) {
        None => None,
        Some(Ok(kind)) => Some(kind),
        Some(Err(_)) => return failure(StatusCode::BAD_REQUEST, "Error, invalid type"),
    };
    if site.parse::<i32>().is_err() {
        return failure(StatusCode::BAD_REQUEST, "Error, invalid idsite");
    }
    let data: Vec<Value> = FIELDS
        .iter()
        .filter(|(_, _, t, _, _)| kind.is_none_or(|k| k == 0 || k == *t))
        .map(|&(id, name, field_type, length, list)| {
            let list: Vec<Value> = list
                .iter()
                .enumerate()
                .map(|(key, value)| json!({"key": key + 1, "value": value}))
                .collect();
            json!({
                "id": id,
                "name": name,
                "length": length,
                "list": if list.is_empty() { Value::Null } else { Value::Array(list) },
                "fieldType": field_type,
                "description": null,
            })
        })
        .collect();
    Json(json!({"success": true, "data": data, "error": null, "typeName": "Field"})).into_response()
}

// ---------------------------------------------------------------------------------------------
// Authentication and the API key's rate limit

async fn authenticate(
    State(emulator): State<Arc<Emulator>>,
    request: Request,
    next: Next,
) -> Response {
    let token = emulator.shared.credentials.mindbaz_token.as_str();
    let headers = request.headers();
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .is_some_and(|(scheme, value)| {
            scheme.eq_ignore_ascii_case("bearer") && value.trim() == token
        });
    let api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == token);
    if !bearer && !api_key {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
        )
            .into_response();
    }
    if bearer {
        return next.run(request).await;
    }
    // Only API-key requests are counted and answered with the rate-limit headers.
    let now = unix_seconds();
    let (reset, remaining) = {
        let mut state = emulator.state.lock().expect("lock");
        let minute = now - now % 60;
        if state.window.0 != minute {
            state.window = (minute, 0);
        }
        state.window.1 += 1;
        (minute + 60, RATE_LIMIT.checked_sub(state.window.1))
    };
    let mut response = match remaining {
        Some(_) => next.run(request).await,
        None => StatusCode::TOO_MANY_REQUESTS.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(RATE_LIMIT));
    headers.insert(
        "x-ratelimit-remaining",
        HeaderValue::from(remaining.unwrap_or(0)),
    );
    headers.insert("x-ratelimit-reset", HeaderValue::from(reset));
    response
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A .NET-style local date-time with its offset and 7 fractional digits, as Mindbaz writes
/// them: `2023-01-05T10:35:30.9983907+01:00`.
fn now() -> String {
    let now = chrono::Local::now();
    format!(
        "{}.{:07}{}",
        now.format("%Y-%m-%dT%H:%M:%S"),
        now.timestamp_subsec_nanos() / 100,
        now.format("%:z")
    )
}

// ---------------------------------------------------------------------------------------------
// scheduleNow

async fn schedule_now(
    State(emulator): State<Arc<Emulator>>,
    UrlPath(site): UrlPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(site) = site.parse::<i32>() else {
        return failure(
            StatusCode::BAD_REQUEST,
            format!("Error, invalid idsite `{site}`"),
        );
    };
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if !matches!(
        media_type.as_deref(),
        Some("application/json" | "text/json")
    ) {
        return failure(
            StatusCode::BAD_REQUEST,
            "Error, the body must be application/json or text/json",
        );
    }
    #[derive(Deserialize)]
    struct Body {
        parameters: Option<ParametersIn>,
    }
    let parameters = match serde_json::from_slice::<Body>(&body) {
        Ok(Body {
            parameters: Some(parameters),
        }) => parameters,
        Ok(Body { parameters: None }) => {
            return failure(StatusCode::BAD_REQUEST, "Error, parameters is mandatory")
        }
        Err(e) => {
            return failure(
                StatusCode::BAD_REQUEST,
                format!("Error, the body is not a valid request: {e}"),
            )
        }
    };
    let parameters = match validate(parameters) {
        Ok(parameters) => parameters,
        Err(message) => return failure(StatusCode::BAD_REQUEST, message),
    };
    match sftp_file(&emulator.shared.sftp_dir, &parameters.filename) {
        Ok(path) if path.is_file() => {}
        Ok(_) => return failure(StatusCode::BAD_REQUEST, "Error, file not found"),
        Err(message) => return failure(StatusCode::BAD_REQUEST, message),
    }
    let created = now();
    let import = Import {
        site,
        parameters,
        creation_date: created.clone(),
        scheduled_date: created,
        polls: 0,
        state: SCHEDULED,
        package: None,
        started: None,
        log: None,
    };
    let mut state = emulator.state.lock().expect("lock");
    let id = state.next_id;
    state.next_id += 1;
    let answer = import.to_json(id);
    state.imports.insert(id, import);
    envelope(answer)
}

/// Checks the parameters the way the API does when the import is created, and fills in the
/// documented defaults.
fn validate(p: ParametersIn) -> Result<Parameters, String> {
    let filename = p.filename.unwrap_or_default();
    if filename.trim().is_empty() {
        return Err("Error, filename is mandatory".into());
    }
    if filename.chars().count() > 500 {
        return Err("Error, filename is longer than 500 characters".into());
    }
    let column_delimiter = p
        .column_delimiter
        .ok_or("Error, columnDelimiter is mandatory")?;
    if column_delimiter.chars().count() != 1 {
        return Err(format!(
            "Error, columnDelimiter must be 1 character, not `{column_delimiter}`"
        ));
    }
    let row_delimiter = p.row_delimiter.ok_or("Error, rowDelimiter is mandatory")?;
    if row_delimiter.is_empty() || row_delimiter.chars().count() > 10 {
        return Err("Error, rowDelimiter must be 1 to 10 characters".into());
    }
    if let Some(qualifier) = &p.text_qualifier {
        if qualifier.chars().count() > 1 {
            return Err(format!(
                "Error, textQualifier must be 1 character at most, not `{qualifier}`"
            ));
        }
        if !qualifier.is_empty()
            && (*qualifier == column_delimiter || row_delimiter.contains(qualifier.as_str()))
        {
            return Err("Error, textQualifier must differ from the delimiters".into());
        }
    }
    if row_delimiter.contains(column_delimiter.as_str()) {
        return Err("Error, columnDelimiter must not be part of rowDelimiter".into());
    }
    let start_line = match p.start_line {
        None | Some(0) => 1,
        Some(n) if n > 0 => n,
        Some(n) => return Err(format!("Error, startLine must be 1 or more, not {n}")),
    };
    let key_db_field_name = p.key_db_field_name.unwrap_or_else(|| "fld1".into());
    if !(is_field_name(&key_db_field_name) || key_db_field_name == "md5_fld1") {
        return Err(format!(
            "Error, keyDbFieldName `{key_db_field_name}` is not a database field"
        ));
    }
    if p.sheet_name
        .as_ref()
        .is_some_and(|s| s.chars().count() > 255)
    {
        return Err("Error, sheetName is longer than 255 characters".into());
    }
    let email_notification = p.email_notification.unwrap_or_default();
    if email_notification.chars().count() > 500 {
        return Err("Error, emailNotification is longer than 500 characters".into());
    }
    if let Some(bad) = email_notification
        .split(';')
        .map(str::trim)
        .find(|a| !a.is_empty() && !valid_email(a))
    {
        return Err(format!(
            "Error, emailNotification has an invalid address `{bad}`"
        ));
    }
    let Some(mappings) = p.column_mapping else {
        return Err("Error, columnMapping is mandatory".into());
    };
    if mappings.is_empty() {
        return Err("Error, columnMapping is empty".into());
    }
    let mut column_mapping = Vec::with_capacity(mappings.len());
    let mut seen = HashSet::new();
    for (i, m) in mappings.into_iter().enumerate() {
        let field = m.db_field_name.ok_or(format!(
            "Error, columnMapping[{i}].dbFieldName is mandatory"
        ))?;
        if !is_field_name(&field) || field.len() > 15 {
            return Err(format!(
                "Error, columnMapping[{i}].dbFieldName `{field}` is not a database field (fldN)"
            ));
        }
        if !seen.insert(field.clone()) {
            return Err(format!("Error, the field {field} is mapped twice"));
        }
        let mode = m.id_mapping_mode.ok_or(format!(
            "Error, columnMapping[{i}].idMappingMode is mandatory"
        ))?;
        if !matches!(mode, 1 | 2) {
            return Err(format!(
                "Error, columnMapping[{i}].idMappingMode must be 1 or 2, not {mode}"
            ));
        }
        let column = m.file_column_name.filter(|c| !c.is_empty());
        let fixed = m.fixed_value.filter(|v| !v.is_empty());
        match (&column, &fixed) {
            (Some(_), Some(_)) => {
                return Err(format!(
                "Error, columnMapping[{i}]: fileColumnName and fixedValue cannot be used together"
            ))
            }
            (None, None) => {
                return Err(format!(
                    "Error, columnMapping[{i}]: fileColumnName or fixedValue is mandatory"
                ))
            }
            _ => {}
        }
        if column.as_ref().is_some_and(|c| c.chars().count() > 255)
            || fixed.as_ref().is_some_and(|v| v.chars().count() > 1000)
            || m.format.as_ref().is_some_and(|f| f.chars().count() > 30)
        {
            return Err(format!("Error, columnMapping[{i}]: a value is too long"));
        }
        column_mapping.push(Mapping {
            db_field_name: field,
            id_mapping_mode: mode,
            file_column_name: column.map(|c| c.to_lowercase()).unwrap_or_default(),
            fixed_value: fixed.unwrap_or_default(),
            format: m.format.unwrap_or_default(),
        });
    }
    column_mapping.sort_by_key(|m| field_number(&m.db_field_name));
    Ok(Parameters {
        filename,
        start_line,
        column_names_first_line: p.column_names_first_line.unwrap_or(false),
        text_qualifier: p.text_qualifier,
        column_delimiter,
        row_delimiter,
        codepage: p.codepage.unwrap_or(1252),
        sheet_name: p.sheet_name,
        key_db_field_name,
        keep_fld7: p.keep_fld7.unwrap_or(true),
        insert_enabled: p.insert_enabled.unwrap_or(true),
        safe_mode: p.safe_mode.unwrap_or(false),
        email_notification,
        delete_file: p.delete_file.unwrap_or(false),
        column_mapping,
    })
}

/// `fld` followed by digits.
fn is_field_name(name: &str) -> bool {
    name.strip_prefix("fld")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

fn field_number(name: &str) -> u64 {
    name.trim_start_matches("fld").parse().unwrap_or(u64::MAX)
}

/// The path of `filename` under the SFTP root; `..`, `.` and drive prefixes are refused, so
/// that nothing outside the root can be read (a leading `/` is the root itself).
fn sftp_file(root: &Path, filename: &str) -> Result<PathBuf, String> {
    let relative = Path::new(filename.trim_start_matches('/'));
    let mut path = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => path.push(part),
            _ => return Err(format!("Error, invalid file name `{filename}`")),
        }
    }
    if filename.contains('\\') || filename.contains('\0') || path == root {
        return Err(format!("Error, invalid file name `{filename}`"));
    }
    // A symbolic link must not lead out of the root either.
    if let (Ok(real), Ok(real_root)) = (path.canonicalize(), root.canonicalize()) {
        if !real.starts_with(real_root) {
            return Err(format!("Error, invalid file name `{filename}`"));
        }
    }
    Ok(path)
}

// ---------------------------------------------------------------------------------------------
// Following an import

async fn get_import(
    State(emulator): State<Arc<Emulator>>,
    UrlPath((site, id)): UrlPath<(String, String)>,
) -> Response {
    let (Ok(site), Ok(id)) = (site.parse::<i32>(), id.parse::<i32>()) else {
        // Not an int32 (the spec's format): ASP.NET Web API cannot bind it, a 400.
        return failure(StatusCode::BAD_REQUEST, "Error, invalid idsite or idImport");
    };
    let emulator = &*emulator;
    let mut state = emulator.state.lock().expect("lock");
    let log_id = state.next_log_id;
    let Some(import) = state.imports.get_mut(&id).filter(|i| i.site == site) else {
        return failure(StatusCode::OK, format!("Error, import {id} not found"));
    };
    let used_log_id = advance(import, &emulator.shared, log_id);
    let answer = import.to_json(id);
    if used_log_id {
        state.next_log_id += 1;
    }
    envelope(answer)
}

/// One poll: the state after `polls_per_state` polls in 1, then in 2, then 3 (or 5 when the
/// package cannot be created). Returns whether `log_id` was given to a new log.
fn advance(import: &mut Import, shared: &Shared, log_id: i32) -> bool {
    if matches!(import.state, COMPLETED | PACKAGE_ERROR) {
        return false;
    }
    import.polls += 1;
    let n = shared.polls_per_state;
    if import.polls <= n {
        return false;
    }
    if import.state == SCHEDULED {
        let started = now();
        import.started = Some(started.clone());
        match create_package(&import.parameters, &shared.sftp_dir) {
            Ok(package) => {
                import.package = Some(package);
                import.state = IN_PROGRESS;
            }
            Err(message) => {
                import.state = PACKAGE_ERROR;
                import.log = Some(ImportLog {
                    id: log_id,
                    filename: Some(import.parameters.filename.clone()),
                    start_date: started,
                    end_date: Some(now()),
                    error_message: Some(message),
                    ..ImportLog::default()
                });
                return true;
            }
        }
    }
    if import.polls <= 2 * n {
        return false;
    }
    let package = import.package.take().expect("a package in state 2");
    let mut log = {
        let mut contacts = shared.contacts.lock().expect("lock");
        run(&package, &import.parameters, &mut contacts)
    };
    log.id = log_id;
    log.filename = Some(import.parameters.filename.clone());
    log.start_date = import.started.clone().unwrap_or_else(now);
    log.end_date = Some(now());
    if import.parameters.delete_file {
        if let Ok(path) = sftp_file(&shared.sftp_dir, &import.parameters.filename) {
            let _ = std::fs::remove_file(path);
        }
    }
    import.state = COMPLETED;
    import.log = Some(log);
    true
}

// ---------------------------------------------------------------------------------------------
// Reading the file

/// What the import will apply: the file as it was when the package was made, how to read it,
/// and where each mapped field comes from. Its rows are split as they are applied (a file may
/// have millions: none is kept).
struct Package {
    bytes: Vec<u8>,
    /// Where the data starts in `bytes` (past a UTF-8 BOM).
    start: usize,
    column: Vec<u8>,
    row: Vec<u8>,
    qualifier: Option<Vec<u8>>,
    /// Records on lines before it are skipped.
    start_line: usize,
    /// Whether the first record read is the header.
    header: bool,
    /// The number of columns every row must have.
    width: usize,
    codepage: Codepage,
    fields: Vec<(Mapping, Source)>,
}

enum Source {
    Column(usize),
    Fixed(String),
}

/// A data row of the file, split and decoded.
enum Row {
    /// The values, in column order.
    Fields(Vec<String>),
    /// Wrong number of columns, or a qualifier out of place.
    BadFormat,
    /// Bytes that are not text in the file's codepage.
    BadText,
}

enum Codepage {
    Utf8,
    Windows1252,
    Latin1,
}

fn create_package(p: &Parameters, root: &Path) -> Result<Package, String> {
    let path = sftp_file(root, &p.filename)?;
    let bytes = std::fs::read(&path).map_err(|_| "Error, file not found".to_owned())?;
    let codepage = match p.codepage {
        65001 => Codepage::Utf8,
        0 | 1252 => Codepage::Windows1252,
        28591 => Codepage::Latin1,
        other => return Err(format!("Error, codepage {other} is not supported")),
    };
    if let Some(parent) = Path::new(p.filename.trim_start_matches('/')).parent() {
        if !parent.as_os_str().is_empty() && !root.join("errors").join(parent).is_dir() {
            return Err(format!(
                "Error, the directory errors/{} does not exist on the SFTP",
                parent.display()
            ));
        }
    }
    let start = match codepage {
        Codepage::Utf8 if bytes.starts_with(b"\xEF\xBB\xBF") => 3,
        _ => 0,
    };
    let encode = |text: &str, what: &str| {
        encode(text, &codepage).ok_or_else(|| {
            format!(
                "Error, the {what} cannot be written in codepage {}",
                p.codepage
            )
        })
    };
    let column = encode(&p.column_delimiter, "columnDelimiter")?;
    let row = encode(&p.row_delimiter, "rowDelimiter")?;
    let qualifier = match p.text_qualifier.as_deref() {
        Some(q) if !q.is_empty() => Some(encode(q, "textQualifier")?),
        _ => None,
    };
    let start_line = p.start_line as usize;
    let (header, width) = {
        let data = &bytes[start..];
        let mut records = Split::new(data, &column, &row, qualifier.as_deref(), start_line);
        let header = if p.column_names_first_line {
            let header = records.next().ok_or("Error, the file has no header line")?;
            if header.malformed {
                return Err(format!(
                    "Error, the header line {} is badly formatted",
                    header.line
                ));
            }
            let names = header
                .fields
                .iter()
                .map(|f| decode(f, &codepage).map(|n| n.trim().to_lowercase()))
                .collect::<Option<Vec<_>>>()
                .ok_or("Error, the header line is not text in the file's codepage")?;
            Some(names)
        } else {
            None
        };
        let width = match &header {
            Some(names) => names.len(),
            None => records.next().map_or(0, |r| r.fields.len()),
        };
        (header, width)
    };

    let mut fields = Vec::with_capacity(p.column_mapping.len());
    for m in &p.column_mapping {
        let source = if m.file_column_name.is_empty() {
            Source::Fixed(m.fixed_value.clone())
        } else {
            let index = match &header {
                Some(names) => names.iter().position(|n| *n == m.file_column_name),
                None => m
                    .file_column_name
                    .strip_prefix("col")
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| *n < width),
            };
            Source::Column(index.ok_or_else(|| {
                format!(
                    "Error, mapping of {}: the column `{}` is not in the file",
                    m.db_field_name, m.file_column_name
                )
            })?)
        };
        fields.push((m.clone(), source));
    }
    if p.key_db_field_name == "md5_fld1" {
        return Err("Error, the key md5_fld1 is not activated for this database".into());
    }
    if !fields
        .iter()
        .any(|(m, s)| m.db_field_name == p.key_db_field_name && matches!(s, Source::Column(_)))
    {
        return Err(format!(
            "Error, the key field {} is not mapped on a column of the file",
            p.key_db_field_name
        ));
    }
    Ok(Package {
        bytes,
        start,
        column,
        row,
        qualifier,
        start_line,
        header: header.is_some(),
        width,
        codepage,
        fields,
    })
}

impl Package {
    /// The file's records from `startLine` on, header included.
    fn records(&self) -> Split<'_> {
        let data = &self.bytes[self.start..];
        let qualifier = self.qualifier.as_deref();
        Split::new(data, &self.column, &self.row, qualifier, self.start_line)
    }

    /// The data rows, each with the line it starts on.
    fn rows(&self) -> impl Iterator<Item = (usize, Row)> + '_ {
        self.records().skip(usize::from(self.header)).map(|r| {
            let row = if r.malformed || r.fields.len() != self.width {
                Row::BadFormat
            } else {
                r.fields
                    .iter()
                    .map(|f| decode(f, &self.codepage))
                    .collect::<Option<Vec<_>>>()
                    .map_or(Row::BadText, Row::Fields)
            };
            (r.line, row)
        })
    }
}

/// One record of the file, split but not decoded.
struct Record {
    line: usize,
    fields: Vec<Vec<u8>>,
    malformed: bool,
}

/// The records of `data`, split into fields one at a time. A field starting with the
/// qualifier runs to the closing qualifier (a doubled qualifier is one qualifier; delimiters
/// inside are text); text after the closing qualifier, a qualifier inside an unqualified field,
/// or a qualifier never closed make the record malformed. Empty lines, and records starting
/// before line `from_line`, are skipped.
struct Split<'a> {
    data: &'a [u8],
    column: &'a [u8],
    row: &'a [u8],
    qualifier: Option<&'a [u8]>,
    from_line: usize,
    pos: usize,
    /// The line `counted` is on.
    line: usize,
    counted: usize,
}

impl<'a> Split<'a> {
    fn new(
        data: &'a [u8],
        column: &'a [u8],
        row: &'a [u8],
        qualifier: Option<&'a [u8]>,
        from_line: usize,
    ) -> Self {
        Split {
            data,
            column,
            row,
            qualifier,
            from_line,
            pos: 0,
            line: 1,
            counted: 0,
        }
    }
}

impl Iterator for Split<'_> {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        loop {
            let record = self.read()?;
            if record.line >= self.from_line {
                return Some(record);
            }
        }
    }
}

impl Split<'_> {
    /// The next record, wherever it starts.
    fn read(&mut self) -> Option<Record> {
        let Split {
            data,
            column,
            row,
            qualifier,
            ..
        } = *self;
        let at = |pos: usize, what: &[u8]| data[pos..].starts_with(what);
        let mut pos = self.pos;
        loop {
            if pos >= data.len() {
                self.pos = pos;
                return None;
            }
            self.line += data[self.counted..pos]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.counted = pos;
            if !at(pos, row) {
                break;
            }
            pos += row.len();
        }
        let start_line = self.line;
        let mut fields = Vec::new();
        let mut malformed = false;
        loop {
            let mut field = Vec::new();
            match qualifier {
                Some(q) if at(pos, q) => {
                    pos += q.len();
                    let mut closed = false;
                    while pos < data.len() {
                        if at(pos, q) {
                            pos += q.len();
                            if pos < data.len() && at(pos, q) {
                                field.extend_from_slice(q);
                                pos += q.len();
                            } else {
                                closed = true;
                                break;
                            }
                        } else {
                            field.push(data[pos]);
                            pos += 1;
                        }
                    }
                    malformed |= !closed;
                    while pos < data.len() && !at(pos, column) && !at(pos, row) {
                        malformed = true;
                        field.push(data[pos]);
                        pos += 1;
                    }
                }
                _ => {
                    while pos < data.len() && !at(pos, column) && !at(pos, row) {
                        malformed |= qualifier.is_some_and(|q| at(pos, q));
                        field.push(data[pos]);
                        pos += 1;
                    }
                }
            }
            fields.push(field);
            if pos < data.len() && at(pos, column) {
                pos += column.len();
                continue;
            }
            if pos < data.len() {
                pos += row.len();
            }
            break;
        }
        self.pos = pos;
        Some(Record {
            line: start_line,
            fields,
            malformed,
        })
    }
}

/// Windows-1252 0x80..=0x9F (the undefined ones map to the C1 control of the same value).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

fn decode(bytes: &[u8], codepage: &Codepage) -> Option<String> {
    match codepage {
        Codepage::Utf8 => String::from_utf8(bytes.to_vec()).ok(),
        Codepage::Latin1 => Some(bytes.iter().map(|b| char::from(*b)).collect()),
        Codepage::Windows1252 => Some(
            bytes
                .iter()
                .map(|b| match b {
                    0x80..=0x9F => CP1252_HIGH[usize::from(b - 0x80)],
                    _ => char::from(*b),
                })
                .collect(),
        ),
    }
}

fn encode(text: &str, codepage: &Codepage) -> Option<Vec<u8>> {
    match codepage {
        Codepage::Utf8 => Some(text.as_bytes().to_vec()),
        Codepage::Latin1 => text.chars().map(|c| u8::try_from(c).ok()).collect(),
        Codepage::Windows1252 => text
            .chars()
            .map(|c| match CP1252_HIGH.iter().position(|h| *h == c) {
                Some(i) => u8::try_from(i + 0x80).ok(),
                None => u8::try_from(c).ok().filter(|b| !(0x80..=0x9F).contains(b)),
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Applying the rows

/// Applies the package's rows to the contacts and counts what happened. A row is bad-formatted
/// (wrong number of columns, misplaced qualifier), in error (text not in the codepage, an empty
/// key, an invalid e-mail in `fld1`: with `safeMode` an invalid non-key field is emptied and
/// the row kept), a duplicate of an earlier row's key (skipped, counted as a duplicate and a
/// forbidden insert), an update, an insert, or a forbidden insert (`insertEnabled: false`).
fn run(package: &Package, p: &Parameters, contacts: &mut Contacts) -> ImportLog {
    let mut log = ImportLog::default();
    let mut bad_lines = Vec::new();
    let mut seen = super::contacts::Keys::default();
    let email_key = p.key_db_field_name == "fld1";
    for (line, row) in package.rows() {
        log.total_rows += 1;
        let values = match row {
            Row::BadFormat => {
                log.nb_bad_formatted_rows += 1;
                bad_lines.push(line);
                continue;
            }
            Row::BadText => {
                log.nb_error_rows += 1;
                continue;
            }
            Row::Fields(values) => values,
        };
        let mut fields: Vec<(&Mapping, String)> = package
            .fields
            .iter()
            .map(|(m, source)| {
                let value = match source {
                    Source::Column(i) => values[*i].trim().to_owned(),
                    Source::Fixed(v) => v.clone(),
                };
                (m, value)
            })
            .collect();
        let key = fields
            .iter()
            .find(|(m, _)| m.db_field_name == p.key_db_field_name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let key_ok = !key.is_empty() && (!email_key || valid_email(&key));
        let mut in_error = !key_ok;
        for (m, value) in &mut fields {
            if m.db_field_name == "fld1" && !value.is_empty() && !valid_email(value) {
                if p.safe_mode && m.db_field_name != p.key_db_field_name {
                    value.clear();
                } else {
                    in_error = true;
                }
            }
        }
        if in_error {
            log.nb_error_rows += 1;
            continue;
        }
        log.nb_validations += 1;
        let normalized = if email_key {
            key.to_lowercase()
        } else {
            key.clone()
        };
        if !seen.insert(&normalized) {
            log.total_duplicate_keys += 1;
            log.nb_forbidden_inserts += 1;
            continue;
        }
        let existing = contacts.get(&normalized);
        let record: BTreeMap<String, String> = fields
            .iter()
            .filter(|(m, value)| {
                // 1 overwrites unless the file's value is empty; 2 writes only where the
                // database has no value.
                !value.is_empty()
                    && (m.id_mapping_mode == 1
                        || existing
                            .as_ref()
                            .and_then(|c| c.get(&m.db_field_name))
                            .is_none_or(|v| v.is_empty()))
            })
            .map(|(m, value)| (m.db_field_name.clone(), value.clone()))
            .collect();
        if existing.is_some() {
            log.total_updates += 1;
        } else {
            log.total_inserts += 1;
            if !p.insert_enabled {
                log.nb_forbidden_inserts += 1;
                continue;
            }
        }
        match apply_row(contacts, &key, record, email_key, p.insert_enabled, true) {
            RowOutcome::Inserted => log.nb_inserts += 1,
            RowOutcome::Updated => log.nb_updates += 1,
            RowOutcome::Rejected(_) => log.nb_error_rows += 1,
        }
    }
    log.nb_bad_formatted_rows = bad_lines.len() as i32;
    if !bad_lines.is_empty() {
        let mut numbers = String::new();
        for line in bad_lines {
            let next = if numbers.is_empty() {
                line.to_string()
            } else {
                format!(";{line}")
            };
            if numbers.len() + next.len() > ROW_NUMBERS_MAX {
                break;
            }
            numbers.push_str(&next);
        }
        log.bad_formatted_row_numbers = Some(numbers);
    }
    log
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(records: &[Record]) -> Vec<(usize, Vec<String>, bool)> {
        records
            .iter()
            .map(|r| {
                let fields = r
                    .fields
                    .iter()
                    .map(|f| String::from_utf8(f.clone()).unwrap())
                    .collect();
                (r.line, fields, r.malformed)
            })
            .collect()
    }

    #[test]
    fn records_with_qualifiers_and_row_delimiters() {
        let data = b"a;b\r\n\"x;1\";\"say \"\"hi\"\"\"\r\n\r\n\"multi\r\nline\";z\r\nlast;";
        let records: Vec<_> = Split::new(data, b";", b"\r\n", Some(b"\""), 0).collect();
        assert_eq!(
            texts(&records),
            vec![
                (1, vec!["a".into(), "b".into()], false),
                (2, vec!["x;1".into(), "say \"hi\"".into()], false),
                (4, vec!["multi\r\nline".into(), "z".into()], false),
                (6, vec!["last".into(), String::new()], false),
            ]
        );
    }

    #[test]
    fn misplaced_qualifiers_make_a_record_malformed() {
        for data in [
            &b"\"value; \"value\";x\n"[..],
            b"ab\"c;d\n",
            b"\"never closed;d\n",
        ] {
            let records: Vec<_> = Split::new(data, b";", b"\n", Some(b"\""), 0).collect();
            assert!(records[0].malformed, "{}", String::from_utf8_lossy(data));
        }
        let records: Vec<_> = Split::new(b"ab\"c;d\n", b";", b"\n", None, 0).collect();
        assert!(!records[0].malformed);
    }

    #[test]
    fn codepages() {
        assert_eq!(
            decode(b"caf\xE9 \x80", &Codepage::Windows1252).unwrap(),
            "café €"
        );
        assert_eq!(decode(b"caf\xC3\xA9", &Codepage::Utf8).unwrap(), "café");
        assert!(decode(b"caf\xE9", &Codepage::Utf8).is_none());
        assert_eq!(encode("€", &Codepage::Windows1252).unwrap(), b"\x80");
        assert!(encode("\u{2603}", &Codepage::Windows1252).is_none());
    }

    #[test]
    fn file_names_stay_under_the_root() {
        let root = Path::new("/sftp");
        assert_eq!(sftp_file(root, "a.csv").unwrap(), Path::new("/sftp/a.csv"));
        assert_eq!(
            sftp_file(root, "/in/a.csv").unwrap(),
            Path::new("/sftp/in/a.csv")
        );
        for bad in ["../a.csv", "in/../../a.csv", "./a.csv", "a\\..\\b", "/"] {
            assert!(sftp_file(root, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_names() {
        assert!(is_field_name("fld1") && is_field_name("fld158"));
        assert!(!is_field_name("fld") && !is_field_name("email") && !is_field_name("fld1a"));
    }
}
