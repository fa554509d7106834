//! The Oracle Eloqua emulator (`specs/eloqua.yaml`), two faces on one router:
//!
//! - the login service `GET /id` (`login.eloqua.com`), which answers the discovery object with
//!   `urls.base` set to the sandbox's own address (from the request's `Host`), or the JSON string
//!   `"Not authenticated."` (with 200, as pyeloqua expects) for bad credentials;
//! - the Bulk API 2.0 under `/api/bulk/2.0` (and `/API/Bulk/2.0`): contact import definitions,
//!   their staging area (JSON or CSV, 404 over 32 MB like the real API), syncs that go
//!   `pending` → `active` → `success` / `warning` / `error` over polls, their logs (ELQ codes)
//!   and rejects, and the contact field catalogue. Bad credentials get a bodiless 401.
//!
//! A sync processes every record staged for its definition when it leaves `pending`: the
//! identifier field is the contact's key (checked as an e-mail address when it maps to
//! `C_EmailAddress`), the definition's `importRule` and `updateRule` are honoured, and each
//! rejected record is kept with its 1-based index among the staged records.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
};

use axum::{
    body::{Body, Bytes},
    extract::{Path, Query, Request, State},
    http::{header, HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::{apply_row, valid_email, RowOutcome, Shared};

/// The largest body of one staging request; larger ones are answered with 404.
const MAX_UPLOAD: usize = 32_000_000;
/// The most fields one definition may map.
const MAX_FIELDS: usize = 100;
/// The most sync actions one definition may have.
const MAX_SYNC_ACTIONS: usize = 10;
/// The first ids handed out (distinct ranges, so that an id of the wrong kind is not found).
const FIRST_DEFINITION_ID: i64 = 380;
const FIRST_SYNC_ID: i64 = 1200;
/// The site and user ids the login service reports.
const SITE_ID: i64 = 1234;
const USER_ID: i64 = 111;

type ListQuery = Query<Vec<(String, String)>>;

pub(super) fn router(shared: Shared) -> Router {
    let emulator = Arc::new(Emulator {
        shared,
        store: Mutex::new(Store {
            next_definition: FIRST_DEFINITION_ID,
            next_sync: FIRST_SYNC_ID,
            ..Store::default()
        }),
    });
    let bulk = Router::new()
        .route(
            "/contacts/imports",
            get(list_definitions).post(create_definition),
        )
        .route(
            "/contacts/imports/{id}",
            get(get_definition)
                .put(update_definition)
                .delete(delete_definition),
        )
        .route(
            "/contacts/imports/{id}/data",
            axum::routing::post(upload_data).delete(delete_data),
        )
        .route("/contacts/fields", get(list_fields))
        .route("/syncs", get(list_syncs).post(create_sync))
        .route("/syncs/{id}", get(get_sync))
        .route("/syncs/{id}/logs", get(list_logs))
        .route("/syncs/{id}/rejects", get(list_rejects))
        .route_layer(middleware::from_fn_with_state(
            emulator.clone(),
            authenticate,
        ));
    Router::new()
        .route("/id", get(login_id))
        .nest("/api/bulk/2.0", bulk.clone())
        .nest("/API/Bulk/2.0", bulk)
        .with_state(emulator)
}

struct Emulator {
    shared: Shared,
    store: Mutex<Store>,
}

#[derive(Default)]
struct Store {
    next_definition: i64,
    next_sync: i64,
    definitions: BTreeMap<i64, Definition>,
    syncs: BTreeMap<i64, Sync>,
}

struct Definition {
    /// The properties as sent, validated (read-only ones left out).
    body: Map<String, Value>,
    created_at: String,
    created_by: String,
    updated_at: String,
    updated_by: String,
    /// The staged records, one batch per upload, spooled as the contacts are kept (a million
    /// rows are staged in the demo).
    staged: Vec<Staged>,
    staged_bytes: u64,
}

/// The records of one upload, spooled as the contacts are kept.
struct Staged {
    names: super::contacts::Names,
    records: super::contacts::Spool,
}

struct Sync {
    definition_id: i64,
    synced_instance_uri: String,
    callback_url: Option<String>,
    created_at: String,
    created_by: String,
    polls: u32,
    status: &'static str,
    /// The status the sync ends with, known once it has run.
    outcome: Option<&'static str>,
    started_at: Option<String>,
    ended_at: Option<String>,
    logs: Vec<Value>,
    rejects: Vec<Value>,
}

// ---------------------------------------------------------------------------------------------
// Credentials

/// The user name of valid credentials (Basic `Company\User:password`, or a Bearer token equal
/// to the password), `None` otherwise.
fn user(shared: &Shared, headers: &HeaderMap) -> Option<String> {
    let c = &shared.credentials;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(credentials)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (login, password) = decoded.split_once(':')?;
        let (company, username) = login.split_once('\\')?;
        (company.eq_ignore_ascii_case(&c.eloqua_company)
            && username.eq_ignore_ascii_case(&c.eloqua_username)
            && password == c.eloqua_password)
            .then(|| c.eloqua_username.clone())
    } else if scheme.eq_ignore_ascii_case("bearer") {
        (credentials == c.eloqua_password).then(|| c.eloqua_username.clone())
    } else {
        None
    }
}

async fn authenticate(
    State(emulator): State<Arc<Emulator>>,
    request: Request,
    next: Next,
) -> Response {
    match user(&emulator.shared, request.headers()) {
        Some(_) => next.run(request).await,
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// `GET /id`: the discovery object, or the JSON string "Not authenticated.".
async fn login_id(State(emulator): State<Arc<Emulator>>, headers: HeaderMap) -> Response {
    let c = &emulator.shared.credentials;
    if user(&emulator.shared, &headers).is_none() {
        return Json(json!("Not authenticated.")).into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base = format!("http://{host}");
    Json(json!({
        "site": {"id": SITE_ID, "name": c.eloqua_company},
        "user": {
            "id": USER_ID,
            "username": c.eloqua_username,
            "displayName": "Sandbox User",
            "firstName": "Sandbox",
            "lastName": "User",
            "emailAddress": "sandbox.user@example.com",
        },
        "urls": {
            "base": base,
            "apis": {
                "soap": {
                    "standard": format!("{base}/API/{{version}}/Service.svc"),
                    "dataTransfer": format!("{base}/API/{{version}}/DataTransferService.svc"),
                    "email": format!("{base}/API/{{version}}/EmailService.svc"),
                    "externalAction": format!("{base}/API/{{version}}/ExternalActionService.svc"),
                },
                "rest": {
                    "standard": format!("{base}/API/REST/{{version}}/"),
                    "bulk": format!("{base}/API/Bulk/{{version}}/"),
                },
            },
        },
    }))
    .into_response()
}

// ---------------------------------------------------------------------------------------------
// Shared shapes

/// Eloqua's UTC time with 7 fractional digits: `2015-08-21T20:07:05.9198818Z`.
fn now() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}.{:07}Z",
        now.format("%Y-%m-%dT%H:%M:%S"),
        now.timestamp_subsec_nanos() / 100
    )
}

/// A 400 "There was a validation error." with its failures.
fn validation_error(
    field: &str,
    value: impl Into<String>,
    constraint: impl Into<String>,
) -> Response {
    Failure {
        field: field.to_owned(),
        value: value.into(),
        constraint: constraint.into(),
    }
    .into_response()
}

/// One validation failure, answered as a 400 `{failures: [...]}`.
struct Failure {
    field: String,
    value: String,
    constraint: String,
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = json!({"failures": [{
            "field": self.field, "value": self.value, "constraint": self.constraint
        }]});
        (StatusCode::BAD_REQUEST, Json(body)).into_response()
    }
}

/// An error the spec declares without a body.
fn bare(status: StatusCode) -> Response {
    status.into_response()
}

fn parse_id(id: &str) -> Option<i64> {
    id.parse().ok()
}

/// `limit`, `offset`, `orderBy`, `q` and `totalResults` of a list request.
struct Listing {
    limit: usize,
    offset: usize,
    total_results: bool,
    order_by: Option<(String, bool)>,
    criteria: Vec<Criterion>,
}

impl Listing {
    fn parse(query: &[(String, String)]) -> Option<Self> {
        let mut listing = Listing {
            limit: 1000,
            offset: 0,
            total_results: true,
            order_by: None,
            criteria: Vec::new(),
        };
        for (name, value) in query {
            match name.as_str() {
                "limit" => {
                    listing.limit = value.parse().ok().filter(|l| (1..=1000).contains(l))?;
                }
                "offset" => {
                    listing.offset = value
                        .parse::<i32>()
                        .ok()
                        .and_then(|o| usize::try_from(o).ok())?
                }
                "totalResults" => listing.total_results = value.parse().ok()?,
                "orderBy" => {
                    let mut words = value.split_whitespace();
                    let term = words.next()?.to_owned();
                    let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
                        None | Some("ASC") => false,
                        Some("DESC") => true,
                        Some(_) => return None,
                    };
                    if words.next().is_some() {
                        return None;
                    }
                    listing.order_by = Some((term, descending));
                }
                "q" => listing.criteria = parse_criteria(value)?,
                _ => {}
            }
        }
        Some(listing)
    }

    /// Filters, orders and pages `items` into a search response.
    fn answer(&self, items: Vec<Value>) -> Value {
        let mut items: Vec<Value> = items
            .into_iter()
            .filter(|item| self.criteria.iter().all(|c| c.matches(item)))
            .collect();
        if let Some((term, descending)) = &self.order_by {
            items.sort_by(|a, b| compare(a.get(term), b.get(term)));
            if *descending {
                items.reverse();
            }
        }
        let total = items.len();
        let page: Vec<Value> = items
            .into_iter()
            .skip(self.offset)
            .take(self.limit)
            .collect();
        let mut answer = json!({
            "items": page,
            "count": page.len(),
            "hasMore": self.offset + page.len() < total,
            "limit": self.limit,
            "offset": self.offset,
        });
        if self.total_results {
            answer["totalResults"] = json!(total);
        }
        answer
    }
}

fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Some(x), Some(y)) => text(x).to_lowercase().cmp(&text(y).to_lowercase()),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One `term operator value` of a `q` parameter; `*` is a wildcard for `=` and `!=`.
#[derive(Debug, PartialEq)]
struct Criterion {
    term: String,
    operator: &'static str,
    value: String,
}

impl Criterion {
    fn matches(&self, item: &Value) -> bool {
        let Some(actual) = item.get(&self.term) else {
            return self.operator == "!=";
        };
        let actual = text(actual);
        let ordering = || match (actual.parse::<f64>(), self.value.parse::<f64>()) {
            (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
            _ => actual.to_lowercase().cmp(&self.value.to_lowercase()),
        };
        match self.operator {
            "=" => glob(&self.value, &actual),
            "!=" => !glob(&self.value, &actual),
            ">" => ordering().is_gt(),
            ">=" => ordering().is_ge(),
            "<" => ordering().is_lt(),
            _ => ordering().is_le(),
        }
    }
}

/// `q` such as `name=*Test*`, `"name='My import'"` or `syncedInstanceUri='/contacts/imports/1'
/// status=success` (criteria separated by spaces or `AND`).
fn parse_criteria(q: &str) -> Option<Vec<Criterion>> {
    let q = q.trim();
    let q = q
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(q);
    // Split on spaces outside quotes.
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quote = None;
    for c in q.chars() {
        match (quote, c) {
            (None, '\'' | '"') => {
                quote = Some(c);
                current.push(c);
            }
            (Some(open), _) if c == open => {
                quote = None;
                current.push(c);
            }
            (None, c) if c.is_whitespace() => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    let mut criteria = Vec::new();
    for token in tokens {
        if token.eq_ignore_ascii_case("and") {
            continue;
        }
        // The first operator in the token (a two-character one before its first character).
        let (at, operator) = ["!=", ">=", "<=", "=", ">", "<"]
            .into_iter()
            .filter_map(|op| Some((token.find(op)?, op)))
            .min_by_key(|(at, op)| (*at, std::cmp::Reverse(op.len())))?;
        let (term, value) = (&token[..at], &token[at + operator.len()..]);
        let value = value.trim();
        let value = ['\'', '"']
            .into_iter()
            .find_map(|q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
            .unwrap_or(value);
        if term.is_empty() {
            return None;
        }
        criteria.push(Criterion {
            term: term.trim().to_owned(),
            operator,
            value: value.to_owned(),
        });
    }
    Some(criteria)
}

/// Case-insensitive match with `*` for any text.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_lowercase();
    let text = text.to_lowercase();
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Contact fields

struct Field {
    internal: &'static str,
    name: &'static str,
    data_type: &'static str,
    read_only: bool,
}

/// The sandbox instance's contact fields.
const FIELDS: &[Field] = &[
    field("C_EmailAddress", "Email Address", "emailAddress"),
    field("C_FirstName", "First Name", "string"),
    field("C_LastName", "Last Name", "string"),
    field("C_Company", "Company", "string"),
    field("C_Title", "Title", "string"),
    field("C_Salutation", "Salutation", "string"),
    field("C_Address1", "Address 1", "string"),
    field("C_Address2", "Address 2", "string"),
    field("C_City", "City", "string"),
    field("C_State_Prov", "State or Province", "string"),
    field("C_Zip_Postal", "Zip or Postal Code", "string"),
    field("C_Country", "Country", "string"),
    field("C_BusPhone", "Business Phone", "string"),
    field("C_MobilePhone", "Mobile Phone", "string"),
    field("C_Language", "Language", "string"),
    field("C_Lead_Score", "Lead Score", "number"),
    field("C_Birthdate", "Birthdate", "date"),
    field("C_Is_Customer", "Is Customer", "boolean"),
    // A custom copy of a system field's name, but for case, as instances collect them.
    field("C_Date_Created1", "Date created", "date"),
    Field {
        read_only: true,
        ..field("C_DateCreated", "Date Created", "date")
    },
    Field {
        read_only: true,
        ..field("C_DateModified", "Date Modified", "date")
    },
];

const fn field(internal: &'static str, name: &'static str, data_type: &'static str) -> Field {
    Field {
        internal,
        name,
        data_type,
        read_only: false,
    }
}

fn field_json(index: usize, f: &Field) -> Value {
    json!({
        "name": f.name,
        "internalName": f.internal,
        "dataType": f.data_type,
        "defaultValue": "",
        "hasReadOnlyConstraint": f.read_only,
        "hasNotNullConstraint": false,
        "hasUniquenessConstraint": f.internal == "C_EmailAddress",
        "statement": format!("{{{{Contact.Field({})}}}}", f.internal),
        "uri": format!("/contacts/fields/{}", 100_001 + index),
        "createdAt": "2019-01-01T00:00:00.0000000Z",
        "createdBy": "Administrator",
        "updatedAt": "2019-01-01T00:00:00.0000000Z",
        "updatedBy": "Administrator",
    })
}

/// The field a statement `{{Contact.Field(C_X)}}` names.
fn statement_field(statement: &str) -> Option<&'static Field> {
    let internal = statement
        .trim()
        .strip_prefix("{{Contact.Field(")?
        .strip_suffix(")}}")?;
    FIELDS
        .iter()
        .find(|f| f.internal.eq_ignore_ascii_case(internal))
}

async fn list_fields(Query(query): ListQuery) -> Response {
    let Some(listing) = Listing::parse(&query) else {
        return bare(StatusCode::BAD_REQUEST);
    };
    let items = FIELDS
        .iter()
        .enumerate()
        .map(|(i, f)| field_json(i, f))
        .collect();
    Json(listing.answer(items)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Import definitions

const READ_ONLY: &[&str] = &[
    "uri",
    "kbUsed",
    "createdAt",
    "createdBy",
    "updatedAt",
    "updatedBy",
];
const IMPORT_RULES: &[&str] = &["createAndUpdate", "updateOnly", "createOnly"];
const RULE_TYPES: &[&str] = &[
    "always",
    "ifNewIsNotNull",
    "ifExistingIsNull",
    "useFieldRule",
];
const SYNC_ACTIONS: &[&str] = &["add", "remove", "setStatus"];
const MEMBER_STATUSES: &[&str] = &[
    "bounced",
    "subscribed",
    "unsubscribed",
    "active",
    "complete",
    "pending",
    "errored",
    "yes",
    "no",
    "invalid",
    "permission",
];

/// Validates a definition as sent (create or update); the answer's error is the 400.
fn validate_definition(body: &Bytes) -> Result<Map<String, Value>, Failure> {
    let fail = |field: &str, value: &str, constraint: &str| {
        Err(Failure {
            field: field.to_owned(),
            value: value.to_owned(),
            constraint: constraint.to_owned(),
        })
    };
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(body) else {
        return fail(
            "body",
            "",
            "Must be a JSON object (a contact import definition)",
        );
    };
    for name in READ_ONLY {
        // Ignored, as Eloqua sets them, but a wrong type is still refused (kbUsed is a number,
        // the others strings).
        if let Some(value) = body.remove(*name) {
            let typed = if *name == "kbUsed" {
                value.is_i64()
            } else {
                value.is_string()
            };
            if !typed {
                return fail(name, &value.to_string(), "Must be of the documented type");
            }
        }
    }
    for (name, value) in &body {
        if value.is_null() {
            return fail(name, "null", "Must not be null");
        }
    }
    let string = |name: &str| body.get(name).map(|v| v.as_str().ok_or(name.to_owned()));
    let is_bool = |name: &str| body.get(name).is_none_or(Value::is_boolean);
    for name in [
        "isSyncTriggeredOnImport",
        "isUpdatingMultipleMatchedRecords",
        "nullIdentifierFieldName",
    ] {
        if !is_bool(name) {
            return fail(name, &text(&body[name]), "Must be a boolean");
        }
    }
    if body.get("externalSystemId").is_some_and(|v| !v.is_i64()) {
        return fail(
            "externalSystemId",
            &text(&body["externalSystemId"]),
            "Must be an integer",
        );
    }
    for name in [
        "name",
        "identifierFieldName",
        "importRule",
        "updateRule",
        "dataRetentionDuration",
        "autoDeleteDuration",
        "importPriorityUri",
    ] {
        if let Some(Err(name)) = string(name) {
            return fail(&name, &text(&body[&name]), "Must be a string");
        }
    }
    match body.get("name").and_then(Value::as_str) {
        None => return fail("name", "", "Is required"),
        Some(name) if name.trim().is_empty() || name.chars().count() > 100 => {
            return fail("name", name, "Must be 1 to 100 characters long")
        }
        Some(_) => {}
    }
    let Some(fields) = body.get("fields") else {
        return fail("fields", "", "Is required");
    };
    let Some(fields) = fields.as_object() else {
        return fail(
            "fields",
            &text(fields),
            "Must be an object of field statements",
        );
    };
    if fields.is_empty() || fields.len() > MAX_FIELDS {
        return fail(
            "fields",
            &fields.len().to_string(),
            "Must have between 1 and 100 fields",
        );
    }
    let mut targets = HashSet::new();
    for (name, statement) in fields {
        let Some(statement) = statement.as_str() else {
            return fail("fields", &text(statement), "Must be a string statement");
        };
        if name.is_empty() {
            return fail("fields", statement, "Field names must not be empty");
        }
        let Some(field) = statement_field(statement) else {
            return fail(
                "fields",
                statement,
                "Must be the statement of a contact field, {{Contact.Field(C_...)}}",
            );
        };
        if field.read_only {
            return fail("fields", statement, "The field is read-only");
        }
        if !targets.insert(field.internal) {
            return fail(
                "fields",
                statement,
                "A contact field may be mapped only once",
            );
        }
    }
    if let Some(identifier) = body.get("identifierFieldName").and_then(Value::as_str) {
        if identifier.is_empty() || identifier.chars().count() > 100 {
            return fail(
                "identifierFieldName",
                identifier,
                "Must be 1 to 100 characters long",
            );
        }
        let Some(statement) = fields.get(identifier).and_then(Value::as_str) else {
            return fail(
                "identifierFieldName",
                identifier,
                "Must be one of the names in fields",
            );
        };
        if statement_field(statement).is_some_and(|f| matches!(f.data_type, "date" | "boolean")) {
            return fail(
                "identifierFieldName",
                identifier,
                "Date and Boolean fields cannot be identifiers",
            );
        }
    }
    for (name, allowed) in [("importRule", IMPORT_RULES), ("updateRule", RULE_TYPES)] {
        if let Some(value) = body.get(name).and_then(Value::as_str) {
            if !allowed.contains(&value) {
                return fail(
                    name,
                    value,
                    &format!("Must be one of {}", allowed.join(", ")),
                );
            }
        }
    }
    if let Some(rules) = body.get("updateRuleByField") {
        let Some(rules) = rules.as_object() else {
            return fail("updateRuleByField", &text(rules), "Must be an object");
        };
        for (name, rule) in rules {
            if !fields.contains_key(name) {
                return fail(
                    "updateRuleByField",
                    name,
                    "Must name fields of the definition",
                );
            }
            if !rule.as_str().is_some_and(|r| RULE_TYPES.contains(&r)) {
                return fail(
                    "updateRuleByField",
                    &text(rule),
                    &format!("Must be one of {}", RULE_TYPES.join(", ")),
                );
            }
        }
    }
    if let Some(actions) = body.get("syncActions") {
        let Some(actions) = actions.as_array() else {
            return fail("syncActions", &text(actions), "Must be an array");
        };
        if actions.len() > MAX_SYNC_ACTIONS {
            return fail(
                "syncActions",
                &actions.len().to_string(),
                "At most 10 sync actions",
            );
        }
        for action in actions {
            let valid = action.as_object().is_some_and(|a| {
                a.get("action")
                    .is_none_or(|v| v.as_str().is_some_and(|v| SYNC_ACTIONS.contains(&v)))
                    && a.get("status")
                        .is_none_or(|v| v.as_str().is_some_and(|v| MEMBER_STATUSES.contains(&v)))
                    && a.get("destination").is_none_or(Value::is_string)
                    && a.get("updateAll").is_none_or(Value::is_boolean)
            });
            if !valid {
                return fail("syncActions", &text(action), "Must be a valid sync action");
            }
        }
    }
    if let Some(duration) = body.get("dataRetentionDuration").and_then(Value::as_str) {
        let in_range = iso_duration(duration).is_some_and(|s| (3600..=14 * 86_400).contains(&s));
        if !in_range {
            return fail(
                "dataRetentionDuration",
                duration,
                "Must be an ISO-8601 duration from PT1H to P14D",
            );
        }
    }
    if let Some(duration) = body.get("autoDeleteDuration").and_then(Value::as_str) {
        if iso_duration(duration).is_none() {
            return fail(
                "autoDeleteDuration",
                duration,
                "Must be an ISO-8601 duration",
            );
        }
    }
    if let Some(uri) = body.get("importPriorityUri").and_then(Value::as_str) {
        let valid = uri
            .strip_prefix("/imports/priorities/")
            .is_some_and(|id| id.parse::<u32>().is_ok());
        if !valid {
            return fail(
                "importPriorityUri",
                uri,
                "Must reference an existing /imports/priorities/{id}",
            );
        }
    }
    body.entry("isSyncTriggeredOnImport")
        .or_insert(json!(false));
    body.entry("dataRetentionDuration").or_insert(json!("P7D"));
    body.entry("isUpdatingMultipleMatchedRecords")
        .or_insert(json!(false));
    Ok(body)
}

/// Seconds in an ISO-8601 duration such as `P7D`, `PT12H`, `P1DT30M` or `P2W` (a month is
/// 30 days, a year 365).
fn iso_duration(text: &str) -> Option<u64> {
    let rest = text.strip_prefix('P')?;
    let mut seconds = 0u64;
    let mut time = false;
    let mut number = String::new();
    let mut any = false;
    let mut time_units = false;
    for c in rest.chars() {
        match c {
            'T' if !time && number.is_empty() => time = true,
            '0'..='9' => number.push(c),
            _ => {
                let n: u64 = number.parse().ok()?;
                number.clear();
                let unit = match (time, c) {
                    (false, 'Y') => 365 * 86_400,
                    (false, 'M') => 30 * 86_400,
                    (false, 'W') => 7 * 86_400,
                    (false, 'D') => 86_400,
                    (true, 'H') => 3600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    _ => return None,
                };
                seconds = seconds.checked_add(n.checked_mul(unit)?)?;
                any = true;
                time_units |= time;
            }
        }
    }
    (any && number.is_empty() && time_units == time).then_some(seconds)
}

impl Definition {
    fn to_json(&self, id: i64, with_size: bool) -> Value {
        let mut body = self.body.clone();
        body.insert("uri".into(), json!(format!("/contacts/imports/{id}")));
        if with_size {
            body.insert("kbUsed".into(), json!(self.staged_bytes.div_ceil(1024)));
        }
        body.insert("createdBy".into(), json!(self.created_by));
        body.insert("createdAt".into(), json!(self.created_at));
        body.insert("updatedBy".into(), json!(self.updated_by));
        body.insert("updatedAt".into(), json!(self.updated_at));
        Value::Object(body)
    }

    /// Definition field name → contact field.
    fn fields(&self) -> Vec<(String, &'static Field)> {
        self.body
            .get("fields")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, s)| Some((name.clone(), statement_field(s.as_str()?)?)))
            .collect()
    }

    /// The identifier: `identifierFieldName`, or else the field mapped to `C_EmailAddress`.
    fn identifier(&self) -> Option<(String, &'static Field)> {
        let fields = self.fields();
        match self.body.get("identifierFieldName").and_then(Value::as_str) {
            Some(name) => fields.into_iter().find(|(n, _)| n == name),
            None => fields
                .into_iter()
                .find(|(_, f)| f.internal == "C_EmailAddress"),
        }
    }

    fn rule(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }
}

async fn list_definitions(
    State(emulator): State<Arc<Emulator>>,
    Query(query): ListQuery,
) -> Response {
    let Some(listing) = Listing::parse(&query) else {
        return bare(StatusCode::BAD_REQUEST);
    };
    let store = emulator.store.lock().expect("lock");
    let items = store
        .definitions
        .iter()
        .map(|(id, d)| d.to_json(*id, true))
        .collect();
    Json(listing.answer(items)).into_response()
}

async fn create_definition(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body = match validate_definition(&body) {
        Ok(body) => body,
        Err(failure) => return failure.into_response(),
    };
    let user = user(&emulator.shared, &headers).unwrap_or_default();
    let at = now();
    let definition = Definition {
        body,
        created_at: at.clone(),
        created_by: user.clone(),
        updated_at: at,
        updated_by: user,
        staged: Vec::new(),
        staged_bytes: 0,
    };
    let mut store = emulator.store.lock().expect("lock");
    let id = store.next_definition;
    store.next_definition += 1;
    let answer = definition.to_json(id, false);
    store.definitions.insert(id, definition);
    (StatusCode::CREATED, Json(answer)).into_response()
}

async fn get_definition(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    let store = emulator.store.lock().expect("lock");
    match parse_id(&id).and_then(|id| Some((id, store.definitions.get(&id)?))) {
        Some((id, definition)) => Json(definition.to_json(id, true)).into_response(),
        None => bare(StatusCode::NOT_FOUND),
    }
}

async fn update_definition(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(id) = parse_id(&id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    if !emulator
        .store
        .lock()
        .expect("lock")
        .definitions
        .contains_key(&id)
    {
        return bare(StatusCode::NOT_FOUND);
    }
    let body = match validate_definition(&body) {
        Ok(body) => body,
        Err(failure) => return failure.into_response(),
    };
    let mut store = emulator.store.lock().expect("lock");
    let Some(definition) = store.definitions.get_mut(&id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    definition.body = body;
    definition.updated_at = now();
    definition.updated_by = user(&emulator.shared, &headers).unwrap_or_default();
    Json(definition.to_json(id, true)).into_response()
}

async fn delete_definition(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
) -> Response {
    let mut store = emulator.store.lock().expect("lock");
    match parse_id(&id).and_then(|id| store.definitions.remove(&id)) {
        Some(_) => bare(StatusCode::NO_CONTENT),
        None => bare(StatusCode::NOT_FOUND),
    }
}

// ---------------------------------------------------------------------------------------------
// Staging

/// Staged records from a JSON array of objects with string values, or CSV with a header row.
fn parse_records(media_type: &str, data: &[u8]) -> Option<Staged> {
    let mut names = super::contacts::Names::default();
    let mut records = super::contacts::Spool::default();
    match media_type {
        "application/json" => {
            let Value::Array(items) = serde_json::from_slice(data).ok()? else {
                return None;
            };
            for item in &items {
                let fields = item
                    .as_object()?
                    .iter()
                    .map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                    .collect::<Option<Vec<_>>>()?;
                records.push(&names.encode(fields));
            }
        }
        "text/csv" => {
            let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
            if data.is_empty() {
                return None;
            }
            let mut reader = csv::ReaderBuilder::new().from_reader(data);
            let header = reader.headers().ok()?.clone();
            if header.iter().any(str::is_empty) {
                return None;
            }
            for record in reader.records() {
                let record = record.ok()?;
                records.push(&names.encode(header.iter().zip(record.iter())));
            }
        }
        _ => return None,
    }
    Some(Staged { names, records })
}

async fn upload_data(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(data) = super::read_body(&headers, body, MAX_UPLOAD).await else {
        // Eloqua answers an upload over 32 MB with 404 Not Found.
        return bare(StatusCode::NOT_FOUND);
    };
    let Some(id) = parse_id(&id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let records = parse_records(&media_type, &data);
    let user = user(&emulator.shared, &headers).unwrap_or_default();
    let mut store = emulator.store.lock().expect("lock");
    let Some(definition) = store.definitions.get_mut(&id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let Some(records) = records else {
        return bare(StatusCode::BAD_REQUEST);
    };
    definition.staged.push(records);
    definition.staged_bytes += data.len() as u64;
    if definition.body.get("isSyncTriggeredOnImport") != Some(&json!(true)) {
        return bare(StatusCode::NO_CONTENT);
    }
    let sync = new_sync(&mut store, id, None, user);
    (StatusCode::CREATED, Json(sync)).into_response()
}

async fn delete_data(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    let mut store = emulator.store.lock().expect("lock");
    let Some(id) = parse_id(&id).filter(|id| store.definitions.contains_key(id)) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let running = store
        .syncs
        .values()
        .any(|s| s.definition_id == id && matches!(s.status, "pending" | "active"));
    if running {
        return bare(StatusCode::CONFLICT);
    }
    let definition = store.definitions.get_mut(&id).expect("checked");
    definition.staged.clear();
    definition.staged_bytes = 0;
    bare(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Syncs

impl Sync {
    fn to_json(&self, id: i64) -> Value {
        let mut sync = json!({
            "syncedInstanceUri": self.synced_instance_uri,
            "status": self.status,
            "createdAt": self.created_at,
            "createdBy": self.created_by,
            "uri": format!("/syncs/{id}"),
        });
        if let Some(url) = &self.callback_url {
            sync["callbackUrl"] = json!(url);
        }
        if let Some(at) = &self.started_at {
            sync["syncStartedAt"] = json!(at);
        }
        if let Some(at) = &self.ended_at {
            sync["syncEndedAt"] = json!(at);
        }
        sync
    }
}

/// Creates a pending sync of definition `id`; returns its JSON.
fn new_sync(store: &mut Store, id: i64, callback_url: Option<String>, user: String) -> Value {
    let sync_id = store.next_sync;
    store.next_sync += 1;
    let sync = Sync {
        definition_id: id,
        synced_instance_uri: format!("/contacts/imports/{id}"),
        callback_url,
        created_at: now(),
        created_by: user,
        polls: 0,
        status: "pending",
        outcome: None,
        started_at: None,
        ended_at: None,
        logs: Vec::new(),
        rejects: Vec::new(),
    };
    let answer = sync.to_json(sync_id);
    store.syncs.insert(sync_id, sync);
    answer
}

async fn create_sync(
    State(emulator): State<Arc<Emulator>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return validation_error("body", "", "Must be a JSON object (a sync)");
    };
    let uri = match body.get("syncedInstanceUri") {
        Some(Value::String(uri)) => uri.clone(),
        Some(other) => {
            return validation_error("syncedInstanceUri", text(other), "Must be a string")
        }
        None => return validation_error("syncedInstanceUri", "", "Is required"),
    };
    // The read-only fields (set by Eloqua, ignored when sent) must still be strings.
    if let Some((name, value)) = [
        "uri",
        "status",
        "createdAt",
        "createdBy",
        "syncStartedAt",
        "syncEndedAt",
        "callbackUrl",
    ]
    .iter()
    .find_map(|n| body.get(*n).filter(|v| !v.is_string()).map(|v| (*n, v)))
    {
        return validation_error(name, text(value), "Must be a string");
    }
    let callback_url = match body.get("callbackUrl") {
        None => None,
        Some(Value::String(url)) if url.starts_with("http://") || url.starts_with("https://") => {
            Some(url.clone())
        }
        Some(other) => return validation_error("callbackUrl", text(other), "Must be a URL"),
    };
    let user = user(&emulator.shared, &headers).unwrap_or_default();
    let mut store = emulator.store.lock().expect("lock");
    let id = uri
        .strip_prefix("/contacts/imports/")
        .and_then(parse_id)
        .filter(|id| store.definitions.contains_key(id));
    let Some(id) = id else {
        return validation_error(
            "syncedInstanceUri",
            uri,
            "Must reference an existing contact import definition",
        );
    };
    if store.definitions[&id].identifier().is_none() {
        return validation_error(
            "identifierFieldName",
            "",
            "Must be set when Contact.Field(C_EmailAddress) is not mapped",
        );
    }
    let sync = new_sync(&mut store, id, callback_url, user);
    (StatusCode::CREATED, Json(sync)).into_response()
}

async fn list_syncs(State(emulator): State<Arc<Emulator>>, Query(query): ListQuery) -> Response {
    let Some(listing) = Listing::parse(&query) else {
        return bare(StatusCode::BAD_REQUEST);
    };
    let store = emulator.store.lock().expect("lock");
    let items = store.syncs.iter().map(|(id, s)| s.to_json(*id)).collect();
    Json(listing.answer(items)).into_response()
}

async fn get_sync(State(emulator): State<Arc<Emulator>>, Path(id): Path<String>) -> Response {
    let Some(id) = parse_id(&id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let mut store = emulator.store.lock().expect("lock");
    if !store.syncs.contains_key(&id) {
        return bare(StatusCode::NOT_FOUND);
    }
    advance(&mut store, id, &emulator.shared);
    Json(store.syncs[&id].to_json(id)).into_response()
}

/// One poll: `pending` for `polls_per_state` polls, then the sync runs and is `active` for
/// `polls_per_state` polls, then it has its outcome.
fn advance(store: &mut Store, id: i64, shared: &Shared) {
    let n = shared.polls_per_state;
    let sync = store.syncs.get_mut(&id).expect("checked");
    if sync.ended_at.is_some() {
        return;
    }
    sync.polls += 1;
    let polls = sync.polls;
    if polls <= n {
        return;
    }
    if sync.status == "pending" {
        let definition_id = sync.definition_id;
        let (outcome, logs, rejects) = match store.definitions.get_mut(&definition_id) {
            Some(definition) => {
                let mut contacts = shared.contacts.lock().expect("lock");
                run(definition, &mut contacts, id)
            }
            None => (
                "error",
                vec![log(
                    id,
                    "ELQ-00143",
                    "error",
                    "The import definition was deleted before the sync ran.",
                    0,
                )],
                Vec::new(),
            ),
        };
        let sync = store.syncs.get_mut(&id).expect("checked");
        sync.status = "active";
        sync.started_at = Some(now());
        sync.outcome = Some(outcome);
        sync.logs = logs;
        sync.rejects = rejects;
    }
    let sync = store.syncs.get_mut(&id).expect("checked");
    if polls > 2 * n {
        sync.status = sync.outcome.unwrap_or("success");
        sync.ended_at = Some(now());
    }
}

fn log(sync_id: i64, code: &str, severity: &str, message: &str, count: u64) -> Value {
    json!({
        "syncUri": format!("/syncs/{sync_id}"),
        "count": count,
        "severity": severity,
        "statusCode": code,
        "message": message,
        "createdAt": now(),
    })
}

/// Why a record was rejected: ELQ code, the message of a reject, the message of its log entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rejection {
    InvalidEmail,
    DuplicateEmail,
    DuplicateIdentifier,
    ContactExists,
    MissingFields,
    NoSuchContact,
}

impl Rejection {
    fn code(self) -> &'static str {
        match self {
            Rejection::InvalidEmail => "ELQ-00002",
            Rejection::DuplicateEmail => "ELQ-00011",
            Rejection::DuplicateIdentifier => "ELQ-00026",
            Rejection::ContactExists => "ELQ-00048",
            Rejection::MissingFields => "ELQ-00061",
            Rejection::NoSuchContact => "ELQ-00085",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Rejection::InvalidEmail => "Invalid email address.",
            Rejection::DuplicateEmail => "Duplicate email address.",
            Rejection::DuplicateIdentifier => "Duplicate identifier.",
            Rejection::ContactExists => "Contact already exists.",
            Rejection::MissingFields => "Rejected record (missing fields).",
            Rejection::NoSuchContact => "Contact does not exist.",
        }
    }

    fn log_message(self) -> &'static str {
        match self {
            Rejection::InvalidEmail => "Invalid email addresses.",
            Rejection::DuplicateEmail => "Duplicate email addresses.",
            Rejection::DuplicateIdentifier => "Duplicate identifier.",
            Rejection::ContactExists => "Contact already exists.",
            Rejection::MissingFields => "Rejected records (missing fields).",
            Rejection::NoSuchContact => "Contact does not exist.",
        }
    }
}

/// Runs a sync over every record staged for `definition` (which are then no longer staged):
/// returns the outcome, the log entries and the rejects.
fn run(
    definition: &mut Definition,
    contacts: &mut super::Contacts,
    sync_id: i64,
) -> (&'static str, Vec<Value>, Vec<Value>) {
    // Checked when the sync was created, but the definition may have been replaced since.
    let Some((identifier, identifier_field)) = definition.identifier() else {
        let message = "The import definition is invalid: it has no identifier field.";
        return (
            "error",
            vec![log(sync_id, "ELQ-00122", "error", message, 0)],
            Vec::new(),
        );
    };
    let staged = std::mem::take(&mut definition.staged);
    definition.staged_bytes = 0;
    let count: usize = staged.iter().map(|batch| batch.records.len()).sum();
    let records = staged.iter().flat_map(|batch| {
        batch
            .records
            .iter()
            .map(|record| batch.names.decode(&record))
    });
    let fields = definition.fields();
    let email_key = identifier_field.internal == "C_EmailAddress";
    let (insert, update) = match definition.rule("importRule") {
        Some("createOnly") => (true, false),
        Some("updateOnly") => (false, true),
        _ => (true, true),
    };
    let update_rule = definition.rule("updateRule").unwrap_or("always").to_owned();
    let by_field = definition
        .body
        .get("updateRuleByField")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();

    let mut seen = super::contacts::Keys::default();
    let mut created = 0u64;
    let mut updated = 0u64;
    let mut counts: BTreeMap<Rejection, u64> = BTreeMap::new();
    let mut rejects = Vec::new();
    for (i, record) in records.enumerate() {
        let values: Vec<(&str, &Field, &str)> = fields
            .iter()
            .filter_map(|(name, f)| Some((name.as_str(), *f, record.get(name)?.as_str())))
            .collect();
        let key = record.get(&identifier).map(|k| k.trim()).unwrap_or("");
        let normalized = if email_key {
            key.to_lowercase()
        } else {
            key.to_owned()
        };
        let invalid_email: Vec<&str> = values
            .iter()
            .filter(|(_, f, v)| {
                f.internal == "C_EmailAddress" && !v.trim().is_empty() && !valid_email(v.trim())
            })
            .map(|(name, _, _)| *name)
            .collect();
        let existing = contacts.get(&normalized);
        let rejection = if key.is_empty() {
            Some((Rejection::MissingFields, vec![identifier.as_str()]))
        } else if !invalid_email.is_empty() {
            Some((Rejection::InvalidEmail, invalid_email))
        } else if seen.contains(&normalized) {
            let reason = if email_key {
                Rejection::DuplicateEmail
            } else {
                Rejection::DuplicateIdentifier
            };
            Some((reason, vec![identifier.as_str()]))
        } else if existing.is_some() && !update {
            Some((Rejection::ContactExists, vec![identifier.as_str()]))
        } else if existing.is_none() && !insert {
            Some((Rejection::NoSuchContact, vec![identifier.as_str()]))
        } else {
            None
        };
        let rejection = rejection.or_else(|| {
            seen.insert(&normalized);
            let written: BTreeMap<String, String> = values
                .iter()
                .filter(|(name, f, v)| {
                    let Some(existing) = &existing else {
                        return true;
                    };
                    let rule = match update_rule.as_str() {
                        "useFieldRule" => by_field
                            .get(*name)
                            .and_then(Value::as_str)
                            .unwrap_or("always"),
                        rule => rule,
                    };
                    match rule {
                        "ifNewIsNotNull" => !v.is_empty(),
                        "ifExistingIsNull" => {
                            existing.get(f.internal).is_none_or(|old| old.is_empty())
                        }
                        _ => true,
                    }
                })
                .map(|(_, f, v)| (f.internal.to_owned(), (*v).to_owned()))
                .collect();
            match apply_row(contacts, key, written, email_key, insert, update) {
                RowOutcome::Inserted => {
                    created += 1;
                    None
                }
                RowOutcome::Updated => {
                    updated += 1;
                    None
                }
                RowOutcome::Rejected(reason) if reason.contains("e-mail") => {
                    Some((Rejection::InvalidEmail, vec![identifier.as_str()]))
                }
                RowOutcome::Rejected(_) => {
                    Some((Rejection::MissingFields, vec![identifier.as_str()]))
                }
            }
        });
        if let Some((reason, invalid)) = rejection {
            *counts.entry(reason).or_default() += 1;
            let field_values: Map<String, Value> = values
                .iter()
                .map(|(name, _, v)| ((*name).to_owned(), json!(v)))
                .collect();
            rejects.push(json!({
                "fieldValues": field_values,
                "message": reason.message(),
                "statusCode": reason.code(),
                "recordIndex": i + 1,
                "invalidFields": invalid,
            }));
        }
    }

    let rejected = rejects.len() as u64;
    let outcome = if rejected > 0 { "warning" } else { "success" };
    let mut logs = vec![
        log(
            sync_id,
            "ELQ-00004",
            "information",
            "Contacts created.",
            created,
        ),
        log(
            sync_id,
            "ELQ-00022",
            "information",
            "Contacts updated.",
            updated,
        ),
    ];
    for (reason, count) in counts {
        logs.push(log(
            sync_id,
            reason.code(),
            "warning",
            reason.log_message(),
            count,
        ));
    }
    if rejected > 0 {
        logs.push(log(
            sync_id,
            "ELQ-00060",
            "warning",
            "Total rejected records.",
            rejected,
        ));
    }
    logs.push(log(
        sync_id,
        "ELQ-00001",
        "information",
        "Total records processed.",
        count as u64,
    ));
    logs.push(log(
        sync_id,
        "ELQ-00101",
        "information",
        &format!("Sync processed for sync {sync_id}, resulting in {outcome} status."),
        0,
    ));
    (outcome, logs, rejects)
}

/// The logs or rejects of a sync, paged.
fn sync_items(
    emulator: &Emulator,
    id: &str,
    query: &[(String, String)],
    pick: fn(&Sync) -> &Vec<Value>,
) -> Response {
    let Some(id) = parse_id(id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    let Some(listing) = Listing::parse(query) else {
        return bare(StatusCode::BAD_REQUEST);
    };
    let store = emulator.store.lock().expect("lock");
    let Some(sync) = store.syncs.get(&id) else {
        return bare(StatusCode::NOT_FOUND);
    };
    // Results are visible once the sync has ended.
    let items = match sync.ended_at {
        Some(_) => pick(sync).clone(),
        None => Vec::new(),
    };
    Json(listing.answer(items)).into_response()
}

async fn list_logs(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    Query(query): ListQuery,
) -> Response {
    sync_items(&emulator, &id, &query, |s| &s.logs)
}

async fn list_rejects(
    State(emulator): State<Arc<Emulator>>,
    Path(id): Path<String>,
    Query(query): ListQuery,
) -> Response {
    sync_items(&emulator, &id, &query, |s| &s.rejects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(iso_duration("P7D"), Some(7 * 86_400));
        assert_eq!(iso_duration("PT1H"), Some(3600));
        assert_eq!(iso_duration("P1DT30M"), Some(86_400 + 1800));
        assert_eq!(iso_duration("P2W"), Some(14 * 86_400));
        for bad in ["", "P", "7D", "PT", "P1H", "P1DT", "P1.5D"] {
            assert_eq!(iso_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn queries() {
        let criteria = parse_criteria("\"name=*Test*\"").unwrap();
        assert_eq!(
            criteria,
            vec![Criterion {
                term: "name".into(),
                operator: "=",
                value: "*Test*".into()
            }]
        );
        let criteria =
            parse_criteria("syncedInstanceUri='/contacts/imports/1' AND status!=error").unwrap();
        assert_eq!(criteria.len(), 2);
        let item = json!({"syncedInstanceUri": "/contacts/imports/1", "status": "success"});
        assert!(criteria.iter().all(|c| c.matches(&item)));
        let other = json!({"syncedInstanceUri": "/contacts/imports/12", "status": "success"});
        assert!(!criteria.iter().all(|c| c.matches(&other)));
        let criteria = parse_criteria("name='a>=b'").unwrap();
        assert_eq!(
            (criteria[0].operator, criteria[0].value.as_str()),
            ("=", "a>=b")
        );
        let criteria = parse_criteria("createdAt>='2024-01-01'").unwrap();
        assert_eq!(
            (criteria[0].operator, criteria[0].value.as_str()),
            (">=", "2024-01-01")
        );
        assert!(parse_criteria("name='unclosed").is_none());
        assert!(parse_criteria("=x").is_none());
        assert!(parse_criteria("noOperator").is_none());
    }

    #[test]
    fn globs() {
        assert!(glob("*test*", "My Test import"));
        assert!(glob("my*", "My import"));
        assert!(glob("*import", "My import"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXcYb"));
        assert!(!glob("test", "a test"));
    }

    #[test]
    fn statements() {
        assert_eq!(
            statement_field("{{Contact.Field(C_EmailAddress)}}").map(|f| f.name),
            Some("Email Address")
        );
        assert!(statement_field("{{Contact.Field(C_Nope)}}").is_none());
        assert!(statement_field("C_EmailAddress").is_none());
    }

    #[test]
    fn csv_and_json_records() {
        let csv = parse_records(
            "text/csv",
            b"\xEF\xBB\xBFemail,name\r\na@x.io,\"Doe, J\"\r\n",
        )
        .unwrap();
        let first = csv.names.decode(&csv.records.iter().next().unwrap());
        assert_eq!(csv.records.len(), 1);
        assert_eq!(first["email"], "a@x.io");
        assert_eq!(first["name"], "Doe, J");
        assert!(parse_records("text/csv", b"email,name\na@x.io\n").is_none());
        let json = parse_records("application/json", br#"[{"email":"a@x.io"}]"#).unwrap();
        assert_eq!(
            json.names.decode(&json.records.iter().next().unwrap())["email"],
            "a@x.io"
        );
        assert!(parse_records("application/json", br#"[{"email":1}]"#).is_none());
        assert!(parse_records("text/plain", b"email\n").is_none());
    }
}
