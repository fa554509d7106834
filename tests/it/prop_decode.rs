//! Property tests: whatever a vendor answers, an import ends in an `Ok` report or an `Err`, in
//! time, never a panic or a hang, and no error shows the credential.
//!
//! Each vendor's whole workflow (`Client::import`) runs against a loopback mock server whose
//! answer to each route is the vendor's documented example (`tests/fixtures/`), fuzzed: one
//! node replaced by an arbitrary JSON value, the whole body replaced by arbitrary JSON or
//! bytes, the body truncated, the status replaced by an error status, Copernica's `X-Created`
//! header replaced by arbitrary text. That reaches the generated clients' decoding of every
//! response type the layer uses and the layer's own parsing (NP6 binding and import lookups,
//! Copernica `X-Created` and line counts, Mindbaz envelopes, execution logs and
//! `badFormattedRowNumbers`, Eloqua URIs, sync statuses, reject pages and `recordIndex`). A
//! second property decodes arbitrary JSON into each of those response types directly.
//!
//! 64 cases per vendor by default (a few seconds in all); a longer run:
//! `PROPTEST_CASES=2000 cargo test --all-features --test prop_decode`.
#![cfg(all(
    feature = "mailperformance",
    feature = "copernica",
    feature = "mindbaz",
    feature = "eloqua"
))]

use std::{
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use esp_imports::{
    copernica, eloqua, mailperformance, mindbaz, HttpConfig, ImportOptions, RetryPolicy, Secret,
};
use proptest::prelude::*;
use serde_json::Value;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SECRET: &str = "s3cr3t-token-value";
const ROWS: u64 = 3;

fn config(default: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(default);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn fixture(vendor: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(vendor)
        .join(format!("{name}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// An arbitrary JSON value, with the keys and numbers the vendors' answers use.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        3 => prop::sample::select(vec![
            -1i64,
            0,
            1,
            2,
            3,
            5,
            i64::from(i32::MAX) + 1,
            i64::MIN
        ])
        .prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        1 => "[a-z0-9/ ;,\\-]{0,12}".prop_map(Value::from),
        2 => prop::sample::select(vec![
            "success",
            "warning",
            "error",
            "active",
            "pending",
            "finished",
            "running",
            "/syncs/1",
            "/contacts/imports/1",
            "3;7;x",
            "-5",
        ])
        .prop_map(Value::from),
    ];
    let key = prop::sample::select(vec![
        "id",
        "uri",
        "status",
        "state",
        "items",
        "hasMore",
        "recordIndex",
        "data",
        "success",
        "error",
        "importState",
        "lastImportLog",
        "nbInserts",
        "nbErrorRows",
        "badFormattedRowNumbers",
        "identifier",
        "guid",
        "processedlines",
        "totallines",
        "lasterror",
        "name",
        "binding",
        "message",
    ]);
    leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key.clone(), inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.into(), v)).collect())),
        ]
    })
}

/// What is done to one route's documented answer.
#[derive(Debug, Clone)]
enum Mutation {
    Keep,
    /// Replace these nodes (the n-th depth first, modulo their number), one after the other.
    Nodes(Vec<(usize, Value)>),
    /// Every integer set to this one.
    Numbers(i64),
    Whole(Value),
    Bytes(Vec<u8>),
    /// Keep this fraction of the body.
    Truncate(f64),
    Status(u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => prop::collection::vec((any::<usize>(), json_value()), 1..4).prop_map(Mutation::Nodes),
        2 => prop::sample::select(vec![-1i64, 0, i64::from(i32::MAX) + 1, i64::MIN, i64::MAX])
            .prop_map(Mutation::Numbers),
        1 => json_value().prop_map(Mutation::Whole),
        1 => prop::collection::vec(any::<u8>(), 0..48).prop_map(Mutation::Bytes),
        1 => (0.0..1.0f64).prop_map(Mutation::Truncate),
        1 => prop::sample::select(vec![200u16, 201, 204, 400, 401, 404, 409, 429, 500, 502, 503])
            .prop_map(Mutation::Status),
    ]
}

/// How many nodes `value` has, itself included.
fn count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

fn set_numbers(value: &mut Value, n: i64) {
    match value {
        Value::Number(number) if number.is_i64() || number.is_u64() => *value = n.into(),
        Value::Array(items) => items.iter_mut().for_each(|v| set_numbers(v, n)),
        Value::Object(map) => map.values_mut().for_each(|v| set_numbers(v, n)),
        _ => {}
    }
}

/// Replaces the `n`-th node of `value` (depth first, itself first); false if it has fewer.
fn replace(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|v| replace(v, n, with)),
        Value::Object(map) => map.values_mut().any(|v| replace(v, n, with)),
        _ => false,
    }
}

/// One route's answer.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

fn answer(status: u16, template: Option<Value>, mutation: &Mutation) -> Answer {
    let mut status = status;
    let body = match (template, mutation) {
        (None, Mutation::Whole(v)) => serde_json::to_vec(v).unwrap(),
        (None, Mutation::Bytes(b)) => b.clone(),
        (None, _) => Vec::new(),
        (Some(mut json), mutation) => {
            match mutation {
                Mutation::Nodes(changes) => {
                    for (n, v) in changes {
                        let mut n = n % count(&json);
                        replace(&mut json, &mut n, v);
                    }
                }
                Mutation::Numbers(n) => set_numbers(&mut json, *n),
                Mutation::Whole(v) => json = v.clone(),
                _ => {}
            }
            let mut body = serde_json::to_vec(&json).unwrap();
            match mutation {
                Mutation::Bytes(b) => body = b.clone(),
                Mutation::Truncate(f) => body.truncate((body.len() as f64 * f) as usize),
                _ => {}
            }
            body
        }
    };
    if let Mutation::Status(code) = mutation {
        status = *code;
    }
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

/// Answers each request with the answer of its route (`route` gives its index), 404 otherwise.
struct Script {
    route: fn(&str, &str) -> Option<usize>,
    answers: Arc<Mutex<Vec<Answer>>>,
}

impl Respond for Script {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let Some(i) = (self.route)(request.method.as_str(), request.url.path()) else {
            return ResponseTemplate::new(404);
        };
        let answer = self.answers.lock().unwrap()[i].clone();
        let mut template =
            ResponseTemplate::new(answer.status).set_body_raw(answer.body, "application/json");
        for (name, value) in answer.headers {
            template = template.insert_header(name, value.as_str());
        }
        template
    }
}

/// A mock server answering through `route` and the answers set per case.
struct Server {
    server: MockServer,
    answers: Arc<Mutex<Vec<Answer>>>,
}

impl Server {
    async fn start(route: fn(&str, &str) -> Option<usize>) -> Self {
        let server = MockServer::start().await;
        let answers = Arc::new(Mutex::new(Vec::new()));
        Mock::given(wiremock::matchers::any())
            .respond_with(Script {
                route,
                answers: answers.clone(),
            })
            .mount(&server)
            .await;
        Self { server, answers }
    }
}

fn http_config() -> HttpConfig {
    HttpConfig::default()
        .with_connect_timeout(Duration::from_secs(2))
        .with_request_timeout(Duration::from_secs(2))
        .with_retry(RetryPolicy::never())
}

fn options(file: &Path, columns: [(&str, &str); 2]) -> ImportOptions {
    let mut options = ImportOptions::new(file, columns, "email");
    options.poll_interval = Duration::from_millis(1);
    options.timeout = Duration::from_millis(400);
    options
}

fn csv_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    std::io::Write::write_all(
        &mut file,
        b"email,first_name,city\na@example.com,Ann,Lille\nb@example.com,Bob,Lens\nc@example.com,Cy,Arras\n",
    )
    .unwrap();
    file
}

/// Runs an import to its end: in time, without a panic, without the credential in an error.
async fn ends_well(
    import: impl std::future::Future<Output = Result<esp_imports::ImportReport, esp_imports::Error>>,
) -> Result<(), TestCaseError> {
    let result = tokio::time::timeout(Duration::from_secs(10), import)
        .await
        .map_err(|_| TestCaseError::fail("the import did not end within 10 s"))?;
    match result {
        Ok(report) => prop_assert_eq!(report.rows_total, Some(ROWS)),
        Err(e) => {
            let (display, debug) = (e.to_string(), format!("{e:?}"));
            prop_assert!(!display.contains(SECRET), "{}", display);
            prop_assert!(!debug.contains(SECRET), "{}", debug);
        }
    }
    Ok(())
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn np6_route(method: &str, path: &str) -> Option<usize> {
    Some(match (method, path) {
        ("POST", "/importFormats") => 0,
        ("GET", "/importFormats") => 1,
        ("POST", "/imports") => 2,
        ("GET", "/imports") => 3,
        ("PUT", p) if p.ends_with("/source") => 4,
        ("POST", p) if p.ends_with("/executions") => 5,
        ("GET", p) if p.ends_with("/executions") => 6,
        _ => return None,
    })
}

fn np6_templates() -> Vec<(u16, Option<Value>)> {
    let binding = fixture("mailperformance", "ImportFormat.create-response");
    let import = fixture("mailperformance", "Import.create-response");
    vec![
        (200, Some(binding.clone())),
        (200, Some(Value::Array(vec![binding]))),
        (200, Some(import.clone())),
        (200, Some(Value::Array(vec![import]))),
        (
            200,
            Some(fixture("mailperformance", "Source.upload-response")),
        ),
        (
            200,
            Some(fixture("mailperformance", "Execution.execute-response")),
        ),
        (200, Some(serde_json::json!({"state": 1}))),
    ]
}

fn copernica_route(method: &str, path: &str) -> Option<usize> {
    match (method, path) {
        ("POST", "/imports") => Some(0),
        ("GET", p) if p.starts_with("/import/") => Some(1),
        _ => None,
    }
}

fn mindbaz_route(method: &str, path: &str) -> Option<usize> {
    match (method, path) {
        ("POST", p) if p.ends_with("/scheduleNow") => Some(0),
        ("GET", p) if p.contains("/imports/") => Some(1),
        _ => None,
    }
}

fn mindbaz_templates() -> Vec<(u16, Option<Value>)> {
    let scheduled = fixture("mindbaz", "ImportResponse.schedule-now-response");
    let mut done = scheduled.clone();
    done["data"]["importState"] = 3.into();
    done["data"]["lastImportLog"] = serde_json::json!({
        "id": 9, "nbInserts": 2, "nbUpdates": 0, "nbErrorRows": 0, "nbBadFormattedRows": 1,
        "badFormattedRowNumbers": "3", "errorMessage": "", "nbForbiddenInserts": 0
    });
    vec![(200, Some(scheduled)), (200, Some(done))]
}

fn eloqua_route(method: &str, path: &str) -> Option<usize> {
    let path = path.strip_prefix("/api/bulk/2.0")?;
    Some(match (method, path) {
        ("POST", "/contacts/imports") => 0,
        ("POST", p) if p.ends_with("/data") => 1,
        ("POST", "/syncs") => 2,
        ("GET", "/syncs") => 3,
        ("GET", p) if p.ends_with("/logs") => 5,
        ("GET", p) if p.ends_with("/rejects") => 6,
        ("GET", p) if p.starts_with("/syncs/") => 4,
        ("DELETE", _) => 7,
        _ => return None,
    })
}

fn eloqua_templates() -> Vec<(u16, Option<Value>)> {
    let created = fixture("eloqua", "SyncIndividual.create-response");
    let mut ended = fixture("eloqua", "SyncIndividual.get-response");
    ended["status"] = "warning".into();
    vec![
        (
            201,
            Some(fixture("eloqua", "ContactImportIndividual.create-response")),
        ),
        (204, None),
        (201, Some(created.clone())),
        (
            200,
            Some(serde_json::json!({"items": [created], "hasMore": false})),
        ),
        (200, Some(ended)),
        (200, Some(fixture("eloqua", "SyncLogSearchResponse.logs"))),
        (
            200,
            Some(fixture("eloqua", "SyncRejectSearchResponse.rejects")),
        ),
        (204, None),
    ]
}

fn set(server: &Server, templates: &[(u16, Option<Value>)], mutations: &[Mutation]) {
    *server.answers.lock().unwrap() = templates
        .iter()
        .zip(mutations)
        .map(|((status, template), m)| answer(*status, template.clone(), m))
        .collect();
}

/// One route's answer fuzzed (sometimes a second one's too), the others as documented, so
/// that most cases get deep into the workflow.
fn mutations(routes: usize) -> impl Strategy<Value = Vec<Mutation>> {
    (
        0..routes,
        mutation(),
        prop::option::weighted(0.25, (0..routes, mutation())),
    )
        .prop_map(move |(route, mutation, second)| {
            let mut all = vec![Mutation::Keep; routes];
            if let Some((other, m)) = second {
                all[other] = m;
            }
            all[route] = mutation;
            all
        })
}

#[test]
fn np6_imports_end_whatever_the_answers() {
    let rt = runtime();
    let server = rt.block_on(Server::start(np6_route));
    let file = csv_file();
    let templates = np6_templates();
    let client = mailperformance::Client::with_auth(
        &server.server.uri(),
        &mailperformance::Auth::XKey(Secret::new(SECRET)),
        &http_config(),
    )
    .unwrap();
    let options = options(file.path(), [("email", "1234"), ("city", "5678")]);
    proptest!(config(64), |(m in mutations(templates.len()))| {
        set(&server, &templates, &m);
        rt.block_on(ends_well(client.import(&options, &Default::default())))?;
    });
}

#[test]
fn copernica_imports_end_whatever_the_answers() {
    let rt = runtime();
    let server = rt.block_on(Server::start(copernica_route));
    let file = csv_file();
    let status = fixture("copernica", "ImportStatus.en-get-import");
    let templates = vec![(201, None), (200, Some(status))];
    let client = copernica::Client::with_auth(
        &format!("{}/", server.server.uri()),
        &copernica::Auth::AccessToken(Secret::new(SECRET)),
        &http_config(),
    )
    .unwrap();
    let options = options(file.path(), [("email", "email"), ("city", "city")]);
    let created = prop_oneof![
        "[0-9]{1,20}",
        "[ -~]{0,12}",
        Just("-1".to_owned()),
        Just(" 42 ".to_owned())
    ];
    proptest!(config(64), |(m in mutations(2), created in created)| {
        set(&server, &templates, &m);
        server.answers.lock().unwrap()[0].headers = vec![("x-created", created)];
        rt.block_on(ends_well(client.import(&options, &copernica::CopernicaImport::new("1"))))?;
    });
}

#[test]
fn mindbaz_imports_end_whatever_the_answers() {
    let rt = runtime();
    let server = rt.block_on(Server::start(mindbaz_route));
    let file = csv_file();
    let templates = mindbaz_templates();
    let client = mindbaz::Client::with_auth(
        &server.server.uri(),
        &mindbaz::Auth::Bearer(Secret::new(SECRET)),
        &http_config(),
    )
    .unwrap();
    let options = options(file.path(), [("email", "fld1"), ("city", "fld4")]);
    let mut mindbaz = mindbaz::MindbazImport::new(7, "ops@example.com");
    mindbaz.remote_file = Some("contacts.csv".into());
    proptest!(config(64), |(m in mutations(templates.len()))| {
        set(&server, &templates, &m);
        rt.block_on(ends_well(client.import(&options, &mindbaz)))?;
    });
}

#[test]
fn eloqua_imports_end_whatever_the_answers() {
    let rt = runtime();
    let server = rt.block_on(Server::start(eloqua_route));
    let file = csv_file();
    let templates = eloqua_templates();
    let client = eloqua::Client::with_auth(
        &format!("{}/api/bulk/2.0", server.server.uri()),
        &eloqua::Auth::Bearer(Secret::new(SECRET)),
        &http_config(),
    )
    .unwrap();
    let options = options(
        file.path(),
        [("email", "C_EmailAddress"), ("city", "C_City")],
    );
    proptest!(config(64), |(m in mutations(templates.len()))| {
        set(&server, &templates, &m);
        rt.block_on(ends_well(client.import(&options, &eloqua::EloquaImport::default())))?;
    });
}

/// Decodes `json` as `T`, for each type; a panic fails the case.
macro_rules! decode_all {
    ($json:expr, $($ty:ty),* $(,)?) => {
        $(let _ = serde_json::from_value::<$ty>($json.clone());)*
    };
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn response_types_decode_arbitrary_json_without_panicking(json in json_value()) {
        use copernica::types as c;
        use eloqua::types as e;
        use mailperformance::types as n;
        use mindbaz::types as m;
        decode_all!(json, n::ImportFormat, n::ImportFormatList, n::Import, n::ImportList,
            n::Source, n::Execution, n::ExecutionState, c::ImportStatus, c::DatabaseList,
            m::ImportResponse, e::LoginIdResult, e::ContactImportIndividual, e::SyncIndividual,
            e::SyncSearchResponse, e::SyncLogSearchResponse, e::SyncRejectSearchResponse);
    }
}
