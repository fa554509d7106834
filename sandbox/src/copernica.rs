//! The Copernica REST v3 emulator (`specs/copernica.yaml`, under `/v3`): `POST /imports`,
//! `GET /import/{id}` and the database, collection and field look-ups.
//!
//! As Copernica does: every call needs the `access_token` query parameter, or is answered
//! `400 {"error":{"message":"Invalid access token"}}` (the vendor documents 400 for every
//! failed request); failures are `400` with `{"error":{"message":…}}`; lists come in the
//! `{start, limit, count, total, data}` wrapper (`limit` at most 1000, default 100;
//! `total=false` leaves the total out); numbers are strings and "not set" is `false`. A created
//! import is answered `201` with an empty body and its id in `X-Created` (and its URL in
//! `X-location`).
//!
//! One database is served, [`DATABASE_ID`] 1 "Contacts" (the id of the vendor's examples), with
//! the profile fields `email` (type email), `firstname`, `lastname`, `city`, `name`,
//! `Contactpersoon`, `birthdate` (empty_date), `children` (integer) and `gender` (select, its
//! choices in its `value`, one per line) (field names match case-insensitively, as in the
//! vendor's `"Email"` examples), and the collection 201 `Order` with the fields `OrderID` and `Status` (written
//! `Order.OrderID` in an import). Profiles are kept by their key fields (`keyFields`; `email`
//! when none is a profile field): an `email` key must be a valid e-mail.
//!
//! An import (CSV with a delimiter, JSON text or an array of objects) runs when it is created
//! (unless `autostart` is false; v3 has no call to start it later): `update or add` inserts and
//! updates, `ignore or add` and `add` only insert (the sandbox keeps one profile per key, so
//! `add` leaves an existing one alone), `update` only updates, `delete` removes (`deleteTarget`
//! `subprofile`: the profile's collection fields only); `ignoreEmptyFields` keeps the values
//! that an empty cell would erase, `removeMissing` deletes the profiles the data does not name.
//! Columns that are not fields of the database are ignored. `GET /import/{id}` then answers
//! `ready for start` for `polls_per_state` polls, `running` for as many with `processedlines`
//! growing, then `finished` with `lastrun` set and, when rows were refused, `lasterror`
//! describing them. A `location` (external URL) is refused: the sandbox fetches nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::{
    body::Body,
    extract::{rejection::QueryRejection, Path, Query, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{apply_row, contact_key, each_record, ImportResult, Shared};

/// The id of the one database served.
pub(crate) const DATABASE_ID: i64 = 1;
const DATABASE_NAME: &str = "Contacts";
const COLLECTION_ID: i64 = 201;
const COLLECTION_NAME: &str = "Order";
const CREATED: &str = "2024-01-15 09:30:00";
/// The largest `POST /imports` body read (413 beyond). No import size limit is documented:
/// inline sources of a few hundred MB pass.
const MAX_BODY: usize = 1 << 30;

/// A field: id, name, type, length.
type FieldDef = (i64, &'static str, &'static str, u32);

/// The profile fields of database 1.
const PROFILE_FIELDS: &[FieldDef] = &[
    (101, "email", "email", 100),
    (102, "firstname", "text", 255),
    (103, "lastname", "text", 255),
    (104, "city", "text", 255),
    (105, "name", "text", 255),
    (106, "Contactpersoon", "text", 255),
    (107, "birthdate", "empty_date", 0),
    (108, "children", "integer", 0),
    (109, "gender", "select", 0),
];

/// The choices of the `select` fields (their `value`, one per line).
fn choices(name: &str) -> &'static str {
    match name {
        "gender" => "male\nfemale\nother",
        _ => "",
    }
}

/// The fields of collection 201 `Order`.
const ORDER_FIELDS: &[FieldDef] = &[(211, "OrderID", "text", 50), (212, "Status", "text", 50)];

#[derive(Clone)]
struct Copernica {
    shared: Shared,
    store: Arc<Mutex<Store>>,
}

struct Store {
    next_id: i64,
    imports: BTreeMap<i64, Import>,
}

impl Default for Store {
    fn default() -> Self {
        Self {
            next_id: 1,
            imports: BTreeMap::new(),
        }
    }
}

struct Import {
    name: String,
    action: &'static str,
    started: bool,
    total: u64,
    polls: u32,
    lastrun: Option<String>,
    lasterror: Option<String>,
}

pub(super) fn router(shared: Shared) -> Router {
    let copernica = Copernica {
        shared,
        store: Default::default(),
    };
    Router::new()
        .route("/v3/imports", post(create_import))
        .route("/v3/import/{id}", get(get_import))
        .route("/v3/databases", get(list_databases))
        .route("/v3/database/{id}/fields", get(database_fields))
        .route("/v3/database/{id}/collections", get(database_collections))
        .route("/v3/collection/{id}/fields", get(collection_fields))
        .layer(middleware::from_fn_with_state(
            copernica.clone(),
            check_token,
        ))
        .with_state(copernica)
}

/// Every call needs the right `access_token`.
async fn check_token(State(copernica): State<Copernica>, request: Request, next: Next) -> Response {
    let token = Query::<Vec<(String, String)>>::try_from_uri(request.uri())
        .ok()
        .and_then(|Query(pairs)| pairs.into_iter().find(|(k, _)| k == "access_token"))
        .map(|(_, v)| v);
    if token.as_deref() == Some(copernica.shared.credentials.copernica_token.as_str()) {
        next.run(request).await
    } else {
        failure("Invalid access token")
    }
}

/// Copernica's failure: 400 with `{"error":{"message":…}}`.
fn failure(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json!({"error": {"message": message}}).to_string(),
    )
        .into_response()
}

fn reply(body: &Value) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body.to_string(),
    )
        .into_response()
}

const NO_ENTITY: &str = "No entity with supplied ID";

/// `start`, `limit` and `total` of a list call.
struct Paging {
    start: usize,
    limit: usize,
    total: bool,
}

impl Paging {
    fn from_query(
        query: &Result<Query<Vec<(String, String)>>, QueryRejection>,
    ) -> Result<Self, String> {
        let mut paging = Paging {
            start: 0,
            limit: 100,
            total: true,
        };
        let Ok(Query(pairs)) = query else {
            return Err("Invalid query string".into());
        };
        for (key, value) in pairs {
            match key.as_str() {
                "start" => {
                    paging.start = value
                        .parse::<i32>()
                        .ok()
                        .and_then(|v| usize::try_from(v).ok())
                        .ok_or_else(|| "Invalid value for parameter start".to_owned())?;
                }
                "limit" => {
                    paging.limit = value
                        .parse::<i32>()
                        .ok()
                        .and_then(|v| usize::try_from(v).ok())
                        .ok_or_else(|| "Invalid value for parameter limit".to_owned())?
                        .min(1000);
                }
                "total" => {
                    paging.total = match value.as_str() {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err("Invalid value for parameter total".into()),
                    }
                }
                _ => {}
            }
        }
        Ok(paging)
    }

    /// A page of `items` in the vendor's wrapper.
    fn page(&self, items: Vec<Value>) -> Value {
        let total = items.len();
        let data: Vec<Value> = items
            .into_iter()
            .skip(self.start)
            .take(self.limit)
            .collect();
        json!({
            "start": self.start,
            "limit": self.limit,
            "count": data.len(),
            "total": if self.total { json!(total) } else { json!(false) },
            "data": data,
        })
    }
}

/// The embedded lists of a database or a collection: everything, `limit` 1000.
fn embedded(items: Vec<Value>) -> Value {
    Paging {
        start: 0,
        limit: 1000,
        total: true,
    }
    .page(items)
}

fn field_json(&(id, name, kind, length): &FieldDef) -> Value {
    json!({
        "ID": id.to_string(),
        "name": name,
        "type": kind,
        "value": choices(name),
        "displayed": true,
        "ordered": false,
        "length": length.to_string(),
        "textlines": "1",
        "hidden": false,
        "index": kind == "email",
    })
}

fn collection_json() -> Value {
    json!({
        "ID": COLLECTION_ID.to_string(),
        "name": COLLECTION_NAME,
        "database": DATABASE_ID.to_string(),
        "fields": embedded(ORDER_FIELDS.iter().map(field_json).collect()),
    })
}

fn database_json() -> Value {
    json!({
        "ID": DATABASE_ID.to_string(),
        "name": DATABASE_NAME,
        "description": "The sandbox's profiles.",
        "archived": false,
        "created": CREATED,
        "fields": embedded(PROFILE_FIELDS.iter().map(field_json).collect()),
        "interests": embedded(vec![json!({"ID": "301", "name": "newsletter", "group": "mailings"})]),
        "collections": embedded(vec![collection_json()]),
    })
}

/// The database named by a path: its id or its name.
fn is_database(id: &str) -> bool {
    id == DATABASE_ID.to_string() || id.eq_ignore_ascii_case(DATABASE_NAME)
}

async fn list_databases(query: Result<Query<Vec<(String, String)>>, QueryRejection>) -> Response {
    match Paging::from_query(&query) {
        Ok(paging) => reply(&paging.page(vec![database_json()])),
        Err(message) => failure(&message),
    }
}

async fn database_fields(
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    if !is_database(&id) {
        return failure(NO_ENTITY);
    }
    match Paging::from_query(&query) {
        Ok(paging) => reply(&paging.page(PROFILE_FIELDS.iter().map(field_json).collect())),
        Err(message) => failure(&message),
    }
}

async fn database_collections(
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    if !is_database(&id) {
        return failure(NO_ENTITY);
    }
    match Paging::from_query(&query) {
        Ok(paging) => reply(&paging.page(vec![collection_json()])),
        Err(message) => failure(&message),
    }
}

async fn collection_fields(
    Path(id): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    if id.parse::<i64>().ok() != Some(COLLECTION_ID) {
        return failure(NO_ENTITY);
    }
    match Paging::from_query(&query) {
        Ok(paging) => reply(&paging.page(ORDER_FIELDS.iter().map(field_json).collect())),
        Err(message) => failure(&message),
    }
}

/// A field name of an import (`"email"`, `"Order.OrderID"`, any case) → the field's own name
/// and type.
fn resolve(name: &str) -> Option<(String, &'static str)> {
    let name = name.trim();
    match name.split_once('.') {
        None => PROFILE_FIELDS
            .iter()
            .find(|f| f.1.eq_ignore_ascii_case(name))
            .map(|f| (f.1.to_owned(), f.2)),
        Some((collection, field)) if collection.eq_ignore_ascii_case(COLLECTION_NAME) => {
            ORDER_FIELDS
                .iter()
                .find(|f| f.1.eq_ignore_ascii_case(field))
                .map(|f| (format!("{COLLECTION_NAME}.{}", f.1), f.2))
        }
        Some(_) => None,
    }
}

/// The body of `POST /imports` (`ImportRequest`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImportIn {
    database: i64,
    #[serde(default, deserialize_with = "super::present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    #[allow(dead_code)]
    followups: Option<bool>,
    #[serde(default, deserialize_with = "super::present")]
    autostart: Option<bool>,
    #[serde(default, deserialize_with = "super::present")]
    #[allow(dead_code)]
    rebuild: Option<Rebuild>,
    #[serde(default, deserialize_with = "super::present")]
    action: Option<Action>,
    #[serde(default, deserialize_with = "super::present")]
    key_fields: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::present")]
    ignore_empty_fields: Option<bool>,
    #[serde(default, deserialize_with = "super::present")]
    remove_missing: Option<bool>,
    #[serde(default, deserialize_with = "super::present")]
    delete_target: Option<DeleteTarget>,
    #[serde(default, deserialize_with = "super::present")]
    location: Option<String>,
    #[serde(default, deserialize_with = "super::present")]
    source: Option<SourceIn>,
    #[serde(default, deserialize_with = "super::present")]
    format: Option<Format>,
    #[serde(default, deserialize_with = "super::present")]
    delimiter: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Rebuild {
    #[allow(dead_code)]
    Bool(bool),
    #[allow(dead_code)]
    Text(String),
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
enum Action {
    #[serde(rename = "add")]
    Add,
    #[serde(rename = "update")]
    Update,
    #[serde(rename = "update or add")]
    UpdateOrAdd,
    #[serde(rename = "ignore or add")]
    IgnoreOrAdd,
    #[serde(rename = "delete")]
    Delete,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Add => "add",
            Action::Update => "update",
            Action::UpdateOrAdd => "update or add",
            Action::IgnoreOrAdd => "ignore or add",
            Action::Delete => "delete",
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum DeleteTarget {
    Profile,
    Subprofile,
}

#[derive(Deserialize, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Format {
    Csv,
    Json,
}

enum SourceIn {
    Text(String),
    /// One object per (sub)profile: anything else in the array is refused.
    Records(Vec<serde_json::Map<String, Value>>),
}

/// Read through a `Value`, whose string is moved into `Text`: an untagged enum would buffer
/// the source and copy it twice (a source may be hundreds of megabytes).
impl<'de> Deserialize<'de> for SourceIn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wrong = || serde::de::Error::custom("source is neither a text nor an array of objects");
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(SourceIn::Text(text)),
            Value::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(object) => Ok(object),
                    _ => Err(wrong()),
                })
                .collect::<Result<_, _>>()
                .map(SourceIn::Records),
            _ => Err(wrong()),
        }
    }
}

/// The rows of a source, read one at a time as they are applied (a source may have a million
/// rows: none is kept apart from the source).
enum Rows {
    Json(Vec<Value>),
    Csv {
        text: String,
        delimiter: u8,
        header: Vec<String>,
    },
}

/// A row's columns and values in order, or why it is refused.
type Row = Result<Vec<(String, String)>, String>;

impl Rows {
    /// Calls `each` with every row and its line (CSV) or position (JSON).
    fn each(&self, mut each: impl FnMut(u64, Row)) {
        let (text, delimiter, header) = match self {
            Rows::Json(items) => {
                for (i, item) in items.iter().enumerate() {
                    each(i as u64 + 1, json_row(item));
                }
                return;
            }
            Rows::Csv {
                text,
                delimiter,
                header,
            } => (text, *delimiter, header),
        };
        let (reader, text) = csv_reader(text, delimiter);
        each_record(reader, text.as_bytes(), |line, record| {
            let row = match record {
                Err(e) => Err(format!("Source cannot be read as CSV: {e}")),
                Ok(record) if record.len() != header.len() => Err(format!(
                    "{} fields where the header has {}",
                    record.len(),
                    header.len()
                )),
                Ok(record) => Ok(header
                    .iter()
                    .cloned()
                    .zip(record.iter().map(str::to_owned))
                    .collect()),
            };
            each(line, row);
        });
    }

    /// How many rows there are.
    fn len(&self) -> u64 {
        let mut rows = 0;
        self.each(|_, _| rows += 1);
        rows
    }
}

/// The rows of the source and what a position in it is called (`line` of a CSV, `record` of
/// JSON), or why the import is refused.
fn records(
    source: SourceIn,
    format: Option<Format>,
    delimiter: Option<&str>,
) -> Result<(Rows, &'static str), String> {
    let text = match source {
        SourceIn::Records(items) => {
            return Ok((
                Rows::Json(items.into_iter().map(Value::Object).collect()),
                "record",
            ))
        }
        SourceIn::Text(text) => text,
    };
    let format = format.unwrap_or_else(|| {
        if text.trim_start().starts_with('[') && delimiter.is_none() {
            Format::Json
        } else {
            Format::Csv
        }
    });
    if format == Format::Json {
        let items: Vec<Value> = serde_json::from_str(&text)
            .map_err(|e| format!("Source is not a JSON array of objects: {e}"))?;
        return Ok((Rows::Json(items), "record"));
    }
    let delimiter = match delimiter {
        None => return Err("Delimiter is required for CSV input".into()),
        Some("\t" | "\\t") => b'\t',
        Some(",") => b',',
        Some(";") => b';',
        Some(_) => return Err("Invalid delimiter: use \"\\t\", \",\" or \";\"".into()),
    };
    let header: Vec<String> = csv_reader(&text, delimiter)
        .0
        .headers()
        .map_err(|e| format!("Source cannot be read as CSV: {e}"))?
        .iter()
        .map(str::to_owned)
        .collect();
    Ok((
        Rows::Csv {
            text,
            delimiter,
            header,
        },
        "line",
    ))
}

/// A reader of a CSV source, and the text it reads (past a BOM).
fn csv_reader(text: &str, delimiter: u8) -> (csv::Reader<&[u8]>, &str) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text.as_bytes());
    (reader, text)
}

/// A JSON record's keys and values: one object per (sub)profile, with single values.
fn json_row(item: &Value) -> Row {
    let Value::Object(object) = item else {
        return Err("not an object".to_owned());
    };
    object
        .iter()
        .map(|(key, value)| match value {
            Value::String(s) => Ok((key.clone(), s.clone())),
            Value::Null => Ok((key.clone(), String::new())),
            Value::Bool(_) | Value::Number(_) => Ok((key.clone(), value.to_string())),
            _ => Err(format!("`{key}` is not a single value")),
        })
        .collect()
}

/// What an import does, checked and ready to run.
struct Plan {
    action: Action,
    keys: Vec<String>,
    email_key: bool,
    ignore_empty: bool,
    remove_missing: bool,
    subprofiles_only: bool,
}

fn plan(input: &ImportIn) -> Result<Plan, String> {
    let action = input.action.unwrap_or(Action::Add);
    let mut keys = Vec::new();
    let mut kinds = Vec::new();
    for key in input.key_fields.iter().flatten() {
        let (name, kind) = resolve(key).ok_or_else(|| format!("Invalid key field: {key}"))?;
        if !name.contains('.') {
            keys.push(name);
            kinds.push(kind);
        }
    }
    if keys.is_empty() {
        keys.push("email".to_owned());
        kinds.push("email");
    }
    Ok(Plan {
        action,
        email_key: kinds == ["email"],
        keys,
        ignore_empty: input.ignore_empty_fields.unwrap_or(false),
        remove_missing: input.remove_missing.unwrap_or(false),
        subprofiles_only: input.delete_target == Some(DeleteTarget::Subprofile),
    })
}

/// Applies the rows to the contacts.
fn run(plan: &Plan, rows: &Rows, contacts: &mut super::Contacts) -> ImportResult {
    let mut result = ImportResult::default();
    let mut named = super::contacts::Keys::default();
    rows.each(|line, row| {
        result.rows += 1;
        let columns = match row {
            Ok(columns) => columns,
            Err(reason) => return result.reject(line, reason),
        };
        let mut fields = BTreeMap::new();
        for (column, value) in columns {
            if let Some((name, _)) = resolve(&column) {
                fields.insert(name, value);
            }
        }
        let key_values: Vec<&str> = plan
            .keys
            .iter()
            .map(|k| fields.get(k).map_or("", String::as_str))
            .collect();
        if key_values.iter().any(|v| v.trim().is_empty()) {
            return result.reject(
                line,
                format!("no value for the key field {}", plan.keys.join(", ")),
            );
        }
        let raw_key = key_values.join("|");
        let key = match contact_key(&raw_key, plan.email_key) {
            Ok(key) => key,
            Err(reason) => return result.reject(line, reason),
        };
        if plan.remove_missing {
            named.insert(&key);
        }
        if plan.ignore_empty {
            fields.retain(|_, value| !value.is_empty());
        }
        let exists = contacts.contains_key(&key);
        match plan.action {
            Action::Delete => {
                if !exists {
                    result.ignored += 1;
                } else if plan.subprofiles_only {
                    let prefix = format!("{COLLECTION_NAME}.");
                    contacts.retain_fields(&key, |name| !name.starts_with(&prefix));
                    result.deleted += 1;
                } else {
                    contacts.remove(&key);
                    result.deleted += 1;
                }
            }
            Action::Add | Action::IgnoreOrAdd if exists => result.ignored += 1,
            Action::Update if !exists => result.ignored += 1,
            action => {
                let insert = action != Action::Update;
                let update = matches!(action, Action::Update | Action::UpdateOrAdd);
                let outcome = apply_row(contacts, &raw_key, fields, plan.email_key, insert, update);
                result.record(line, outcome);
            }
        }
    });
    if plan.remove_missing && plan.action != Action::Delete {
        let before = contacts.len();
        contacts.retain(|key| named.contains(key));
        result.deleted += (before - contacts.len()) as u64;
    }
    result
}

/// `lasterror`: what was refused, when something was.
fn last_error(result: &ImportResult, unit: &str) -> Option<String> {
    if result.rejected == 0 {
        return None;
    }
    let shown: Vec<String> = result
        .rejects
        .iter()
        .take(5)
        .map(|(line, reason)| format!("{unit} {line}: {reason}"))
        .collect();
    let more = if result.rejects.len() > shown.len() {
        format!("; and {} more", result.rejects.len() - shown.len())
    } else {
        String::new()
    };
    Some(format!(
        "{} of {} lines were not imported: {}{more}",
        result.rejected,
        result.rows,
        shown.join("; ")
    ))
}

async fn create_import(
    State(copernica): State<Copernica>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let body = match super::read_body(&headers, body, MAX_BODY).await {
        Ok(body) => body,
        Err(super::BodyError::TooLarge) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
        Err(super::BodyError::Broken) => return StatusCode::BAD_REQUEST.into_response(),
    };
    // Reading and applying a large source takes a while: off the async workers.
    let created = tokio::task::spawn_blocking(move || create(&copernica, body))
        .await
        .expect("an import does not panic");
    let id = match created {
        Ok(id) => id,
        Err(message) => return failure(&message),
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut response = StatusCode::CREATED.into_response();
    response
        .headers_mut()
        .insert("x-created", HeaderValue::from(id));
    if let Ok(location) = HeaderValue::from_str(&format!("http://{host}/v3/import/{id}")) {
        response.headers_mut().insert("x-location", location);
    }
    response
}

/// Checks the import, keeps it and, with `autostart`, runs it: its id, or the failure message.
fn create(copernica: &Copernica, body: Vec<u8>) -> Result<i64, String> {
    let input: ImportIn =
        serde_json::from_slice(&body).map_err(|e| format!("Invalid import: {e}"))?;
    // The source is in `input` now: the body (as large) is not kept while it is applied.
    drop(body);
    if input.database != DATABASE_ID {
        return Err(NO_ENTITY.into());
    }
    let plan = plan(&input)?;
    let autostart = input.autostart.unwrap_or(true);
    let (rows, unit) = match (input.source, input.location) {
        (Some(source), _) => records(source, input.format, input.delimiter.as_deref())?,
        (None, Some(_)) => {
            return Err("The sandbox does not fetch imports from an external location".into())
        }
        (None, None) => return Err("Missing source or location".into()),
    };
    let id = {
        let mut store = copernica.store.lock().expect("lock");
        store.next_id += 1;
        store.next_id - 1
    };
    let (lasterror, total) = if autostart {
        let mut result = {
            let mut contacts = copernica.shared.contacts.lock().expect("lock");
            run(&plan, &rows, &mut contacts)
        };
        result.import_id = id.to_string();
        let answer = (last_error(&result, unit), result.rows);
        copernica.shared.results.lock().expect("lock").push(result);
        answer
    } else {
        (None, rows.len())
    };
    copernica.store.lock().expect("lock").imports.insert(
        id,
        Import {
            name: input.name.unwrap_or_else(|| format!("import {id}")),
            action: plan.action.name(),
            started: autostart,
            total,
            polls: 0,
            lastrun: None,
            lasterror,
        },
    );
    Ok(id)
}

async fn get_import(State(copernica): State<Copernica>, Path(id): Path<String>) -> Response {
    let mut store = copernica.store.lock().expect("lock");
    let Some((id, import)) = id
        .parse::<i64>()
        .ok()
        .and_then(|id| store.imports.get_mut(&id).map(|i| (id, i)))
    else {
        return failure(NO_ENTITY);
    };
    let per_state = copernica.shared.polls_per_state;
    let (status, processed) = if !import.started {
        ("ready for start", 0)
    } else {
        import.polls = import.polls.saturating_add(1);
        if import.polls <= per_state {
            ("ready for start", 0)
        } else if import.polls <= 2 * per_state {
            let step = u64::from(import.polls - per_state);
            ("running", import.total * step / (u64::from(per_state) + 1))
        } else {
            if import.lastrun.is_none() {
                import.lastrun = Some(chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string());
            }
            ("finished", import.total)
        }
    };
    let unset = |value: &Option<String>| value.as_ref().map_or(json!(false), |v| json!(v));
    reply(&json!({
        "ID": id.to_string(),
        "name": import.name,
        "type": import.action,
        "status": status,
        "totallines": import.total.to_string(),
        "processedlines": processed.to_string(),
        "processedLines": processed.to_string(),
        "lastrun": unset(&import.lastrun),
        "nextrun": false,
        // Refused rows are told once the import has run.
        "lasterror": if status == "finished" { unset(&import.lasterror) } else { json!(false) },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_for(action: Action) -> Plan {
        Plan {
            action,
            keys: vec!["email".into()],
            email_key: true,
            ignore_empty: false,
            remove_missing: false,
            subprofiles_only: false,
        }
    }

    fn all(rows: &Rows) -> Vec<(u64, Row)> {
        let mut all = Vec::new();
        rows.each(|line, row| all.push((line, row)));
        all
    }

    fn csv(text: &str) -> Rows {
        let (rows, unit) =
            records(SourceIn::Text(text.into()), Some(Format::Csv), Some(";")).unwrap();
        assert_eq!(unit, "line");
        rows
    }

    #[test]
    fn actions() {
        let mut contacts = Default::default();
        let first = run(
            &plan_for(Action::UpdateOrAdd),
            &csv("Email;City;Unknown\r\na@x.io;Lille;1\r\nbad;Lens;2\r\n"),
            &mut contacts,
        );
        assert_eq!((first.rows, first.inserted, first.rejected), (2, 1, 1));
        assert_eq!(first.rejects[0].0, 3);
        assert!(last_error(&first, "line").unwrap().contains("line 3"));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "Lille");
        assert!(!contacts.get("a@x.io").unwrap().contains_key("Unknown"));

        let rows = || csv("email;city\na@x.io;Arras\nb@x.io;Douai\n");
        let ignore = run(&plan_for(Action::IgnoreOrAdd), &rows(), &mut contacts);
        assert_eq!((ignore.inserted, ignore.ignored), (1, 1));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "Lille");
        let update = run(
            &plan_for(Action::Update),
            &csv("email\nc@x.io\na@x.io\n"),
            &mut contacts,
        );
        assert_eq!((update.updated, update.ignored), (1, 1));
        assert!(!contacts.contains_key("c@x.io"));
        let delete = run(
            &plan_for(Action::Delete),
            &csv("email\nb@x.io\n"),
            &mut contacts,
        );
        assert_eq!(delete.deleted, 1);
        assert!(!contacts.contains_key("b@x.io"));
    }

    #[test]
    fn remove_missing_and_empty_fields() {
        let mut contacts = Default::default();
        run(
            &plan_for(Action::UpdateOrAdd),
            &csv("email;city\na@x.io;Lille\nb@x.io;Lens\n"),
            &mut contacts,
        );
        let mut plan = plan_for(Action::UpdateOrAdd);
        plan.ignore_empty = true;
        plan.remove_missing = true;
        let result = run(&plan, &csv("email;city\na@x.io;\n"), &mut contacts);
        assert_eq!((result.updated, result.deleted), (1, 1));
        assert_eq!(contacts.get("a@x.io").unwrap()["city"], "Lille");
        assert_eq!(contacts.len(), 1);
    }

    #[test]
    fn sources() {
        let (json, unit) = records(
            SourceIn::Text(r#"[{"Email": "a@x.io", "Order.OrderID": 7}, 3]"#.into()),
            Some(Format::Json),
            None,
        )
        .unwrap();
        assert_eq!((json.len(), unit), (2, "record"));
        assert!(all(&json)[1].1.is_err());
        let mut contacts = Default::default();
        run(&plan_for(Action::Add), &json, &mut contacts);
        assert_eq!(contacts.get("a@x.io").unwrap()["Order.OrderID"], "7");
        assert!(records(SourceIn::Text("email\na@x.io".into()), None, None).is_err());
        assert!(records(SourceIn::Text("email\na@x.io".into()), None, Some("|")).is_err());
        let tab = records(
            SourceIn::Text("email\tcity\na@x.io\tLille".into()),
            None,
            Some("\t"),
        );
        assert_eq!(tab.unwrap().0.len(), 1);
        let ragged = csv("email;city\na@x.io\n");
        assert!(all(&ragged)[0].1.is_err());
    }

    #[test]
    fn field_names() {
        assert_eq!(resolve("EMAIL").unwrap().0, "email");
        assert_eq!(resolve("order.orderid").unwrap().0, "Order.OrderID");
        assert!(resolve("Orders.OrderID").is_none());
    }
}
