//! The Eloqua workflow (`eloqua::Client::import`) against a loopback wiremock server playing
//! the Bulk API: the exact request sequence, row-aligned chunks, the report, and the faults the
//! retry policy and the workflow must handle. No error shows a credential.
#![cfg(feature = "eloqua")]

use std::{io::Write as _, time::Duration};

use esp_imports::eloqua::{self, Auth, Client, EloquaImport};
use esp_imports::{Error, HttpConfig, ImportOptions, Mode, Preflight, RetryPolicy, Secret, Status};
use serde_json::{json, Value};
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASSWORD: &str = "s3cret-pw";
/// `base64("Acme\jane.doe:s3cret-pw")`.
const BASIC: &str = "QWNtZVxqYW5lLmRvZTpzM2NyZXQtcHc=";
const API: &str = "/api/bulk/2.0";

fn auth() -> Auth {
    Auth::Basic {
        company: "Acme".into(),
        username: "jane.doe".into(),
        password: Secret::new(PASSWORD),
    }
}

fn config() -> HttpConfig {
    HttpConfig::default()
        .with_request_timeout(Duration::from_secs(5))
        .with_retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(10), Duration::from_secs(2))
                .with_max_elapsed(Duration::from_secs(10)),
        )
}

fn client(server: &MockServer) -> Client {
    Client::with_auth(&format!("{}{API}", server.uri()), &auth(), &config()).unwrap()
}

/// A CSV file with a header and `rows` contacts; row `i` (0-based) has email `user{i}@example.com`.
fn csv(rows: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    writeln!(file, "email,first name,city").unwrap();
    for i in 0..rows {
        writeln!(file, "user{i}@example.com,\"Name, {i}\",Lille").unwrap();
    }
    file
}

fn options(file: &tempfile::NamedTempFile) -> ImportOptions {
    let mut options = ImportOptions::new(
        file.path(),
        [("email", "C_EmailAddress"), ("first name", "C_FirstName")],
        "email",
    );
    options.poll_interval = Duration::from_millis(10);
    options.timeout = Duration::from_secs(20);
    // The vendor's protocol alone: the pre-flight's field list is tested in preflight.rs.
    options.preflight = Preflight::Off;
    options
}

fn at(route: &str) -> String {
    format!("{API}{route}")
}

async fn mount_definition(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(at("/contacts/imports")))
        .and(header("authorization", format!("Basic {BASIC}").as_str()))
        .and(body_partial_json(json!({
            "fields": {
                "email": "{{Contact.Field(C_EmailAddress)}}",
                "first name": "{{Contact.Field(C_FirstName)}}"
            },
            "identifierFieldName": "email",
            "importRule": "createAndUpdate",
            "isSyncTriggeredOnImport": false
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name": "contacts", "uri": "/contacts/imports/384",
            "fields": {"email": "{{Contact.Field(C_EmailAddress)}}"}
        })))
        .expect(1)
        .mount(server)
        .await;
}

async fn mount_staging(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path(at("/contacts/imports/384/data")))
        .and(header("content-type", "text/csv"))
        .respond_with(ResponseTemplate::new(204))
        .mount(server)
        .await;
}

fn sync(status: &str) -> Value {
    json!({"syncedInstanceUri": "/contacts/imports/384", "status": status, "uri": "/syncs/99",
           "createdAt": "2026-11-24T10:00:00.0000000Z", "createdBy": "Acme\\jane.doe"})
}

async fn mount_create_sync(server: &MockServer, expected: u64) {
    Mock::given(method("POST"))
        .and(path(at("/syncs")))
        .and(body_partial_json(
            json!({"syncedInstanceUri": "/contacts/imports/384"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(sync("pending")))
        .expect(expected)
        .mount(server)
        .await;
}

/// `GET /syncs/99` answers each status once, in order, then the last one forever.
async fn mount_polls(server: &MockServer, statuses: &[&str]) {
    for status in &statuses[..statuses.len() - 1] {
        Mock::given(method("GET"))
            .and(path(at("/syncs/99")))
            .respond_with(ResponseTemplate::new(200).set_body_json(sync(status)))
            .up_to_n_times(1)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(ResponseTemplate::new(200).set_body_json(sync(statuses.last().unwrap())))
        .mount(server)
        .await;
}

async fn mount_cleanup(server: &MockServer) {
    Mock::given(method("DELETE"))
        .and(path(at("/contacts/imports/384/data")))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(server)
        .await;
}

/// Method and path of every request the server received, in order.
async fn sequence(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path().trim_start_matches(API)))
        .collect()
}

/// Bodies of the staging requests, in order.
async fn staged(server: &MockServer) -> Vec<Vec<u8>> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path().ends_with("/data") && r.method.as_str() == "POST")
        .map(|r| r.body)
        .collect()
}

fn assert_no_secret(shown: &str) {
    assert!(!shown.contains(PASSWORD), "password in: {shown}");
    assert!(!shown.contains(BASIC), "Basic credentials in: {shown}");
}

fn assert_error_has_no_secret(error: &Error) {
    assert_no_secret(&error.to_string());
    assert_no_secret(&format!("{error:?}"));
}

#[tokio::test]
async fn happy_path_with_a_rejected_row() {
    let server = MockServer::start().await;
    mount_definition(&server).await;
    mount_staging(&server).await;
    mount_create_sync(&server, 1).await;
    mount_polls(&server, &["pending", "active", "warning"]).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99/logs")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"syncUri": "/syncs/99", "count": 5, "severity": "information",
             "statusCode": "ELQ-00001", "message": "Total records processed."},
            {"syncUri": "/syncs/99", "count": 1, "severity": "warning",
             "statusCode": "ELQ-00002", "message": "Invalid email address."}
        ], "hasMore": false})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99/rejects")))
        .and(query_param("limit", "1000"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"fieldValues": {"email": "user2@example.com"}, "message": "Invalid email address.",
             "statusCode": "ELQ-00002", "recordIndex": 3, "invalidFields": ["email"]}
        ], "hasMore": false, "totalResults": 1})))
        .expect(1)
        .mount(&server)
        .await;
    mount_cleanup(&server).await;

    let file = csv(5);
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut options = options(&file);
    let sink = events.clone();
    options.progress = Some(std::sync::Arc::new(move |e: &esp_imports::Progress| {
        sink.lock().unwrap().push(e.clone())
    }));
    let report = client(&server)
        .import(&options, &EloquaImport::default())
        .await
        .unwrap();

    assert_eq!(report.status, Status::CompletedWithErrors);
    assert_eq!(report.import_id, "/syncs/99");
    assert_eq!(report.rows_total, Some(5));
    assert_eq!(report.rows_imported, Some(4));
    assert_eq!(report.rows_rejected, Some(1));
    assert_eq!(report.rejects.len(), 1);
    assert_eq!(report.rejects[0].row, Some(4));
    assert!(report.rejects[0].reason.contains("Invalid email address."));
    assert!(report.rejects[0].reason.contains("ELQ-00002"));
    assert_eq!(report.messages.len(), 2);

    let polls = 3;
    let mut expected = vec![
        "POST /contacts/imports",
        "POST /contacts/imports/384/data",
        "POST /syncs",
    ];
    expected.extend(std::iter::repeat_n("GET /syncs/99", polls));
    expected.extend([
        "GET /syncs/99/logs",
        "GET /syncs/99/rejects",
        "DELETE /contacts/imports/384/data",
    ]);
    assert_eq!(sequence(&server).await, expected);

    let content = std::fs::read(file.path()).unwrap();
    assert_eq!(staged(&server).await, [content]);

    let events = events.lock().unwrap();
    let states: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            esp_imports::Progress::StateChanged { to, .. } => Some(to.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(states, ["pending", "active", "warning"]);
    assert!(events.contains(&esp_imports::Progress::Uploaded {
        bytes: std::fs::metadata(file.path()).unwrap().len(),
        total: std::fs::metadata(file.path()).unwrap().len(),
    }));
}

#[tokio::test]
async fn a_file_bigger_than_a_chunk_is_staged_in_row_aligned_chunks_then_one_sync() {
    let server = MockServer::start().await;
    mount_definition(&server).await;
    mount_staging(&server).await;
    mount_create_sync(&server, 1).await;
    mount_polls(&server, &["active", "success"]).await;
    mount_cleanup(&server).await;

    let file = csv(60);
    let cap = 300;
    let mut eloqua = EloquaImport::default();
    eloqua.chunk_cap = cap;
    let report = client(&server)
        .import(&options(&file), &eloqua)
        .await
        .unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(
        (
            report.rows_total,
            report.rows_imported,
            report.rows_rejected
        ),
        (Some(60), Some(60), Some(0))
    );

    let content = std::fs::read_to_string(file.path()).unwrap();
    let (header, rows) = content.split_at(content.find('\n').unwrap() + 1);
    let bodies = staged(&server).await;
    assert!(bodies.len() > 5, "{} chunks", bodies.len());
    let mut rejoined = String::new();
    for body in &bodies {
        assert!(
            body.len() <= cap as usize,
            "a chunk of {} bytes",
            body.len()
        );
        let body = String::from_utf8(body.clone()).unwrap();
        let data = body
            .strip_prefix(header)
            .expect("each chunk starts with the header");
        assert!(data.starts_with("user") && data.ends_with('\n'), "{data:?}");
        rejoined.push_str(data);
    }
    assert_eq!(rejoined, rows, "no row lost or sent twice");
    let syncs = sequence(&server)
        .await
        .iter()
        .filter(|r| *r == "POST /syncs")
        .count();
    assert_eq!(syncs, 1);
}

#[tokio::test]
async fn bad_input_sends_nothing() {
    let server = MockServer::start().await;
    let file = csv(3);
    let mut unmapped_key = options(&file);
    unmapped_key.key_column = "city".into();
    let mut missing_column = options(&file);
    missing_column
        .columns
        .insert("phone".into(), "C_MobilePhone".into());
    let mut too_many = options(&file);
    for i in 0..100 {
        too_many.columns.insert(format!("c{i}"), format!("C_F{i}"));
    }
    for (options, expected) in [
        (unmapped_key, "`city` is not a mapped column"),
        (
            missing_column,
            "column `phone`: no such column in the header",
        ),
        (too_many, "at most 100"),
    ] {
        let e = client(&server)
            .import(&options, &EloquaImport::default())
            .await
            .unwrap_err();
        assert!(e.report().to_string().contains(expected), "{e}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

/// Collects this thread's logs (the tests run on a current-thread runtime) at debug level.
fn capture_logs() -> (
    tracing::subscriber::DefaultGuard,
    std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) {
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || Writer(sink.clone()))
        .finish();
    (tracing::subscriber::set_default(subscriber), buffer)
}

struct Writer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Writer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The definition and staging succeed; the test has mounted what the sync calls answer. Any
/// error, and every log line, is checked for credentials.
async fn run_with_sync_faults(server: &MockServer) -> Result<esp_imports::ImportReport, Error> {
    run_logged(server).await.0
}

/// [`run_with_sync_faults`], also returning the logs.
async fn run_logged(server: &MockServer) -> (Result<esp_imports::ImportReport, Error>, String) {
    mount_definition(server).await;
    mount_staging(server).await;
    let file = csv(4);
    let (_guard, logs) = capture_logs();
    let result = client(server)
        .import(&options(&file), &EloquaImport::default())
        .await;
    if let Err(e) = &result {
        assert_error_has_no_secret(e);
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert_no_secret(&logs);
    (result, logs)
}

async fn hits(server: &MockServer, route: &str) -> usize {
    sequence(server)
        .await
        .iter()
        .filter(|r| *r == route)
        .count()
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured() {
    let server = MockServer::start().await;
    mount_create_sync(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_polls(&server, &["success"]).await;
    mount_cleanup(&server).await;
    let started = std::time::Instant::now();
    let (report, logs) = run_logged(&server).await;
    let report = report.unwrap();
    assert!(
        logs.contains("retrying") && logs.contains("get_sync"),
        "the retry is logged: {logs}"
    );
    assert_eq!(report.status, Status::Completed);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not waited for"
    );
    assert_eq!(hits(&server, "GET /syncs/99").await, 2);
}

#[tokio::test]
async fn a_429_without_retry_after_and_a_503_on_create_are_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("/syncs")))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // A 503 (a gateway's, perhaps) does not prove that no sync was made: the syncs are listed,
    // page by page, before the sync is created again.
    Mock::given(method("GET"))
        .and(path(at("/syncs")))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"syncedInstanceUri": "/contacts/imports/7", "status": "success", "uri": "/syncs/5"}],
            "hasMore": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs")))
        .and(query_param("offset", "100"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "hasMore": false})),
        )
        .expect(1)
        .mount(&server)
        .await;
    mount_create_sync(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(ResponseTemplate::new(429))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    mount_polls(&server, &["success"]).await;
    mount_cleanup(&server).await;
    let report = run_with_sync_faults(&server).await.unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(
        hits(&server, "POST /syncs").await,
        2,
        "503: sent again once the listing shows no sync"
    );
    assert_eq!(hits(&server, "GET /syncs/99").await, 2);
}

#[tokio::test]
async fn a_502_on_create_sync_looks_for_the_sync_instead_of_creating_a_second() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("/syncs")))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs")))
        .and(query_param("orderBy", "createdAt DESC"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [sync("pending")], "hasMore": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_polls(&server, &["success"]).await;
    mount_cleanup(&server).await;
    let report = run_with_sync_faults(&server).await.unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(report.import_id, "/syncs/99");
}

#[tokio::test]
async fn a_500_is_not_retried() {
    let server = MockServer::start().await;
    mount_create_sync(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "boom"})))
        .expect(1)
        .mount(&server)
        .await;
    let e = run_with_sync_faults(&server).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(
        e.report()
            .to_string()
            .contains("getSync: HTTP 500 Internal Server Error: boom"),
        "{e}"
    );
}

#[tokio::test]
async fn an_html_error_page_keeps_its_status_after_the_retries() {
    let server = MockServer::start().await;
    mount_create_sync(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(
            ResponseTemplate::new(502)
                .set_body_raw("<html><body>Loadbalancer Error</body></html>", "text/html"),
        )
        .expect(3)
        .mount(&server)
        .await;
    let e = run_with_sync_faults(&server).await.unwrap_err();
    assert_eq!(e.status(), Some(502));
    assert!(e.report().to_string().contains("Loadbalancer Error"), "{e}");
}

#[tokio::test]
async fn truncated_json_is_a_decode_error_with_an_excerpt() {
    let server = MockServer::start().await;
    mount_create_sync(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(r#"{"status":"succ"#, "application/json"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let e = run_with_sync_faults(&server).await.unwrap_err();
    let Error::Decode {
        operation, excerpt, ..
    } = e.cause()
    else {
        panic!("{e:?}")
    };
    assert_eq!(*operation, "getSync");
    assert!(excerpt.contains(r#"{"status":"succ"#), "{e}");
    // The sync exists: the error says so.
    let (id, state) = e.import_state().expect("the sync's state");
    assert_eq!(id, "/syncs/99");
    assert!(state.contains("rows are being imported"), "{state}");
}

#[tokio::test]
async fn a_slow_answer_times_out_after_the_retries() {
    let server = MockServer::start().await;
    mount_create_sync(&server, 1).await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(sync("active"))
                .set_delay(Duration::from_secs(3)),
        )
        .expect(3)
        .mount(&server)
        .await;
    mount_definition(&server).await;
    mount_staging(&server).await;
    let file = csv(2);
    let config = config().with_request_timeout(Duration::from_millis(300));
    let client = Client::with_auth(&format!("{}{API}", server.uri()), &auth(), &config).unwrap();
    let e = client
        .import(&options(&file), &EloquaImport::default())
        .await
        .unwrap_err();
    assert!(matches!(e.cause(), Error::Timeout { .. }), "{e:?}");
    assert_eq!(e.import_state().map(|(id, _)| id), Some("/syncs/99"));
    assert_error_has_no_secret(&e);
}

#[tokio::test]
async fn a_401_is_an_auth_error() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("/contacts/imports")))
        .respond_with(ResponseTemplate::new(401).set_body_string("Login required"))
        .expect(1)
        .mount(&server)
        .await;
    let file = csv(2);
    let e = client(&server)
        .import(&options(&file), &EloquaImport::default())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AuthRejected(_)), "{e:?}");
    assert!(
        e.report()
            .to_string()
            .starts_with("credentials rejected: Eloqua createContactImport: HTTP 401"),
        "{e}"
    );
    assert_error_has_no_secret(&e);
}

#[tokio::test]
async fn a_connection_reset_is_retried_for_reads_then_reported() {
    // A server that accepts connections and closes them at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(socket);
        }
    });
    let e = Client::discover(&format!("http://{address}"), &auth(), &config())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "GET retried up to max_attempts"
    );
    assert_error_has_no_secret(&e);
}

#[tokio::test]
async fn discovery_finds_the_pod_and_is_cached() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/id"))
        .and(header("authorization", format!("Basic {BASIC}").as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "site": {"id": 42, "name": "Acme"},
            "urls": {"base": "https://secure.p03.eloqua.com"}
        })))
        .expect(1)
        .mount(&server)
        .await;
    for _ in 0..2 {
        let base = Client::discover(&server.uri(), &auth(), &config())
            .await
            .unwrap();
        assert_eq!(
            base,
            format!("https://secure.p03.eloqua.com{}", eloqua::BULK_PATH)
        );
    }
}

#[tokio::test]
async fn modes_map_to_import_rules() {
    for (mode, rule) in [
        (Mode::InsertOnly, "createOnly"),
        (Mode::UpdateOnly, "updateOnly"),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path(at("/contacts/imports")))
            .and(body_partial_json(json!({"importRule": rule})))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({
                "name": "contacts", "uri": "/contacts/imports/384", "fields": {}
            })))
            .expect(1)
            .mount(&server)
            .await;
        mount_staging(&server).await;
        mount_create_sync(&server, 1).await;
        let file = csv(1);
        let mut options = options(&file);
        options.mode = mode;
        options.no_wait = true;
        let report = client(&server)
            .import(&options, &EloquaImport::default())
            .await
            .unwrap();
        assert_eq!(report.status, Status::Submitted);
    }
}

/// Answers with values this crate does not know (a rule, an action, a `null` field value) and
/// without `syncedInstanceUri` still make a whole import; a listed sync without
/// `syncedInstanceUri` is not taken for this definition's.
#[tokio::test]
async fn answers_with_values_eloqua_adds_still_import() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(at("/contacts/imports")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name": "contacts", "uri": "/contacts/imports/384",
            "fields": {"email": "{{Contact.Field(C_EmailAddress)}}"},
            "importRule": "createOrIgnore", "updateRule": "ifNewIsNewer",
            "updateRuleByField": {"email": "ifNewIsLonger"},
            "syncActions": [{"action": "moveTo", "destination": "{{ContactList[1]}}", "status": "snoozed"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_staging(&server).await;
    Mock::given(method("POST"))
        .and(path(at("/syncs")))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"status": "pending", "uri": "/syncs/98"}], "hasMore": false
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(at("/syncs")))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"status": "pending", "uri": "/syncs/99"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"status": "warning", "uri": "/syncs/99"})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99/logs")))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [], "hasMore": false})),
        )
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(at("/syncs/99/rejects")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": [
            {"fieldValues": {"email": "user1@example.com", "first name": null, "score": 3},
             "message": "Invalid email address.", "statusCode": "ELQ-00002", "recordIndex": 2}
        ], "hasMore": false, "totalResults": 1})))
        .mount(&server)
        .await;
    mount_cleanup(&server).await;
    let file = csv(3);
    let report = client(&server)
        .import(&options(&file), &EloquaImport::default())
        .await
        .unwrap();
    assert_eq!(report.status, Status::CompletedWithErrors);
    assert_eq!(report.import_id, "/syncs/99");
    assert_eq!(report.rows_rejected, Some(1));
    assert_eq!(report.rejects[0].row, Some(3));
    assert_eq!(hits(&server, "POST /syncs").await, 2);
}
