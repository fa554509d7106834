//! The NP6 workflow (`mailperformance::Client::import`) against a loopback wiremock server:
//! the exact request sequence and bodies, binding reuse after a 409, and options refused
//! before any request.
#![cfg(feature = "mailperformance")]

use std::{io::Write as _, time::Duration};

use esp_imports::mailperformance::{self, Client, DuplicateRule, Np6Import};
use esp_imports::{Error, HttpConfig, ImportOptions, Mode, Preflight, RetryPolicy, Secret, Status};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const KEY: &str = "np6-x-key-0123";
const VND: &str = "application/vnd.mperf.v8.import.v1+json";

fn client(server: &MockServer) -> Client {
    let retry = RetryPolicy::default();
    let max_backoff = retry.max_backoff;
    let config = HttpConfig::default()
        .with_retry(retry.with_backoff(Duration::from_millis(10), max_backoff));
    Client::with_auth(
        &server.uri(),
        &mailperformance::Auth::XKey(Secret::new(KEY)),
        &config,
    )
    .unwrap()
}

fn csv() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("contacts")
        .suffix(".csv")
        .tempfile()
        .unwrap();
    write!(
        file,
        "id;email;phone;city\r\n1;a@example.com;0600000001;Lille\r\n2;b@example.com;0600000002;Lens\r\n"
    )
    .unwrap();
    file
}

fn options(file: &tempfile::NamedTempFile) -> ImportOptions {
    let mut options =
        ImportOptions::new(file.path(), [("email", "1234"), ("city", "5678")], "email");
    options.name = Some("weekly contacts".into());
    options.poll_interval = Duration::from_millis(10);
    // The vendor's protocol alone: the pre-flight's field list is tested in preflight.rs.
    options.preflight = Preflight::Off;
    options
}

fn vnd(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), VND)
}

/// The binding NP6 should receive for `csv()`: `;` is 59, the header is skipped, `id` and
/// `phone` are unmapped (-10).
fn binding(name: &str) -> Value {
    json!({
        "name": name, "separator": 59, "startAt": 1, "savedImportFormat": true,
        "binds": [
            {"columnIndex": 0, "fieldId": -10}, {"columnIndex": 1, "fieldId": 1234},
            {"columnIndex": 2, "fieldId": -10}, {"columnIndex": 3, "fieldId": 5678}
        ]
    })
}

fn features() -> Value {
    json!([
        {"type": "database", "updateExisting": true, "crushData": false},
        {"type": "duplicate", "rules": {"last": true}}
    ])
}

async fn mount_import_flow(server: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/imports"))
        .and(header("accept", VND))
        .and(header("x-key", KEY))
        .and(body_json(
            json!({"name": "weekly contacts", "binding": 77, "features": features()}),
        ))
        .respond_with(vnd(
            json!({"id": 42, "name": "weekly contacts", "features": features()}),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/imports/42/source"))
        .and(header("accept", VND))
        .and(header("content-type", "application/octet-stream"))
        .respond_with(vnd(
            json!({"type": "file", "filename": "3ec15c5168_contacts.csv"}),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("POST"))
        .and(path("/imports/42/executions"))
        .and(header("content-type", "application/json"))
        .and(body_json(json!({"binding": 77, "features": features()})))
        .respond_with(vnd(
            json!({"startDate": "2026-11-24T10:00:00Z", "state": 0}),
        ))
        .expect(1)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/imports/42/executions"))
        .respond_with(vnd(json!({"state": 0})))
        .up_to_n_times(2)
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path("/imports/42/executions"))
        .respond_with(vnd(json!({"state": 1})))
        .mount(server)
        .await;
}

async fn sequence(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

fn np6() -> Np6Import {
    let mut np6 = Np6Import::default();
    np6.duplicates = Some(DuplicateRule::Last);
    np6
}

#[tokio::test]
async fn happy_path() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .and(|r: &Request| {
            let body: Value = serde_json::from_slice(&r.body).unwrap();
            let name = body["name"].as_str().unwrap_or_default().to_owned();
            // The default name is stable across Rust releases: SHA-256 of the binding.
            name == "esp-imports edd094ac7d48fd61" && body == binding(&name)
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identifier": {"guid": 77}, "name": "esp-imports x", "separator": 59, "startAt": 1,
            "binds": [], "savedImportFormat": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    mount_import_flow(&server).await;

    let file = csv();
    let report = client(&server)
        .import(&options(&file), &np6())
        .await
        .unwrap();

    assert_eq!(report.status, Status::Completed);
    assert_eq!(report.import_id, "42");
    assert_eq!(report.rows_total, Some(2));
    assert_eq!(
        (report.rows_imported, report.rows_rejected),
        (None, None),
        "NP6 reports rows by e-mail only"
    );
    assert_eq!(
        sequence(&server).await,
        [
            "POST /importFormats",
            "POST /imports",
            "PUT /imports/42/source",
            "POST /imports/42/executions",
            "GET /imports/42/executions",
            "GET /imports/42/executions",
            "GET /imports/42/executions",
        ]
    );
    let requests = server.received_requests().await.unwrap();
    let upload = requests
        .iter()
        .find(|r| r.method.as_str() == "PUT")
        .unwrap();
    let content = std::fs::read(file.path()).unwrap();
    assert_eq!(upload.body, content);
    assert_eq!(
        upload.headers["content-length"],
        content.len().to_string().as_str()
    );
    let disposition = upload.headers["content-disposition"].to_str().unwrap();
    let name = file.path().file_name().unwrap().to_str().unwrap();
    assert_eq!(disposition, format!("form-data; filename={name}"));
}

/// A file of several pieces is uploaded as it is on either runtime: on a multi-thread one each
/// piece is read by the thread that sends it, on a current-thread one a thread reads ahead;
/// each piece's buffer is read into again once sent.
#[test]
fn a_file_of_many_pieces_is_uploaded_as_it_is_on_either_runtime() {
    let file = csv();
    {
        let mut out = std::io::BufWriter::new(file.as_file());
        for i in 3..40_000 {
            write!(out, "{i};user{i}@example.com;06{i:08};Lille\r\n").unwrap();
        }
    }
    let content = std::fs::read(file.path()).unwrap();
    assert!(content.len() > 1 << 20, "{} bytes", content.len());
    for multi_thread in [false, true] {
        let runtime = match multi_thread {
            true => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
            false => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build(),
        };
        runtime.unwrap().block_on(async {
            let server = MockServer::start().await;
            Mock::given(method("POST"))
                .and(path("/importFormats"))
                .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                    "identifier": {"guid": 77}, "name": "esp-imports x", "separator": 59,
                    "startAt": 1, "binds": [], "savedImportFormat": true
                })))
                .mount(&server)
                .await;
            mount_import_flow(&server).await;
            let report = client(&server)
                .import(&options(&file), &np6())
                .await
                .unwrap();
            assert_eq!(
                report.rows_total,
                Some(39_999),
                "multi-thread: {multi_thread}"
            );
            let requests = server.received_requests().await.unwrap();
            let upload = requests.iter().find(|r| r.method.as_str() == "PUT");
            // Not assert_eq!: a difference would print megabytes.
            let same = upload.unwrap().body == content;
            assert!(
                same,
                "multi-thread: {multi_thread}: the body is not the file"
            );
        });
    }
}

#[tokio::test]
async fn an_existing_binding_is_reused_after_a_409() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(409).insert_header("x-request-id", "req-1"))
        .expect(1)
        .mount(&server)
        .await;
    let mut existing = binding("contacts binding");
    existing["identifier"] = json!({"guid": 77});
    Mock::given(method("GET"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"identifier": {"guid": 5}, "name": "other", "separator": 44, "startAt": 1, "binds": [], "savedImportFormat": true},
            existing
        ])))
        .expect(1)
        .mount(&server)
        .await;
    mount_import_flow(&server).await;

    let file = csv();
    let mut np6 = np6();
    np6.binding_name = Some("contacts binding".into());
    let report = client(&server).import(&options(&file), &np6).await.unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(
        &sequence(&server).await[..3],
        ["POST /importFormats", "GET /importFormats", "POST /imports"]
    );
}

/// NP6 answers 409 for the binding's name and lists `existing` under it: the import must stop,
/// with the error it returns, before creating anything.
async fn binding_not_reused(existing: Value) -> Error {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(409))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([existing])))
        .mount(&server)
        .await;
    let file = csv();
    let mut np6 = np6();
    np6.binding_name = Some("contacts binding".into());
    let e = client(&server)
        .import(&options(&file), &np6)
        .await
        .unwrap_err();
    assert_eq!(sequence(&server).await.len(), 2, "no import created");
    e
}

#[tokio::test]
async fn a_binding_of_that_name_with_other_binds_is_not_reused() {
    let mut other = binding("contacts binding");
    other["separator"] = json!(44);
    other["identifier"] = json!({"guid": 77});
    let e = binding_not_reused(other).await;
    assert!(
        e.to_string()
            .contains("already has a binding named `contacts binding`"),
        "{e}"
    );
}

#[tokio::test]
async fn a_binding_of_that_name_that_skips_two_lines_is_not_reused() {
    let mut skips_a_contact = binding("contacts binding");
    skips_a_contact["startAt"] = json!(2);
    skips_a_contact["identifier"] = json!({"guid": 77});
    let e = binding_not_reused(skips_a_contact).await;
    assert!(e.to_string().contains("with startAt 2"), "{e}");
}

/// NP6's reference does not list `GET /importFormats`: when it is missing, or does not list the
/// name NP6 refused, the binding is created under a new name and the import goes on.
#[tokio::test]
async fn a_409_without_the_listing_creates_the_binding_under_a_new_name() {
    for (listing, why) in [
        (ResponseTemplate::new(404), "answered 404"),
        (ResponseTemplate::new(405), "answered 405"),
        (ResponseTemplate::new(501), "answered 501"),
        (
            ResponseTemplate::new(200).set_body_json(json!([])),
            "does not list it",
        ),
    ] {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/importFormats"))
            .and(|r: &Request| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["name"]
                    == "esp-imports edd094ac7d48fd61"
            })
            .respond_with(ResponseTemplate::new(409))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/importFormats"))
            .and(|r: &Request| {
                let body: Value = serde_json::from_slice(&r.body).unwrap();
                let name = body["name"].as_str().unwrap().to_owned();
                name.starts_with("esp-imports edd094ac7d48fd61 ") && body == binding(&name)
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "identifier": {"guid": 77}, "name": "esp-imports edd094ac7d48fd61 2", "separator": 59,
                "startAt": 1, "binds": [], "savedImportFormat": true
            })))
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(method("GET"))
            .and(path("/importFormats"))
            .respond_with(listing)
            .expect(1)
            .mount(&server)
            .await;
        mount_import_flow(&server).await;

        let file = csv();
        let report = client(&server)
            .import(&options(&file), &np6())
            .await
            .unwrap_or_else(|e| panic!("{why}: {e}"));
        assert_eq!(report.status, Status::Completed, "{why}");
        assert!(
            report.messages[0].contains("could not be looked up")
                && report.messages[0].contains(why),
            "{why}: {:?}",
            report.messages
        );
        assert_eq!(
            &sequence(&server).await[..4],
            [
                "POST /importFormats",
                "GET /importFormats",
                "POST /importFormats",
                "POST /imports"
            ]
        );
    }
}

#[tokio::test]
async fn options_np6_cannot_honour_are_refused_before_any_request() {
    let server = MockServer::start().await;
    let file = csv();
    let mut update_only = options(&file);
    update_only.mode = Mode::UpdateOnly;
    for (options, expected) in [(update_only, "no update-only import")] {
        let e = client(&server).import(&options, &np6()).await.unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
        assert!(e.to_string().contains(expected), "{e}");
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_403_is_an_auth_error_that_quotes_the_request_id() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identifier": {"guid": 77}, "name": "b", "separator": 59, "startAt": 1, "binds": [], "savedImportFormat": true
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .respond_with(ResponseTemplate::new(403).insert_header("x-request-id", "f00d-42"))
        .expect(1)
        .mount(&server)
        .await;
    let file = csv();
    let e = client(&server)
        .import(&options(&file), &np6())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AuthRejected(_)), "{e:?}");
    assert_eq!(
        e.to_string(),
        "credentials rejected: NP6 MailPerformance createImport: HTTP 403 Forbidden [request id f00d-42]"
    );
    assert!(!format!("{e:?}").contains(KEY));
}

/// A lost answer to the execution start, then a failed state lookup: no second execution is
/// started; the error says one may have been.
#[tokio::test]
async fn a_lost_execution_start_is_not_sent_again_when_its_state_is_unknown() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identifier": {"guid": 77}, "name": "b", "separator": 59, "startAt": 1,
            "binds": [], "savedImportFormat": true
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .respond_with(vnd(json!({"id": 42, "name": "weekly contacts"})))
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/imports/42/source"))
        .respond_with(vnd(json!({"type": "file"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/imports/42/executions"))
        .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/imports/42/executions"))
        .respond_with(ResponseTemplate::new(500))
        .expect(1)
        .mount(&server)
        .await;
    let file = csv();
    let e = client(&server)
        .import(&options(&file), &np6())
        .await
        .unwrap_err();
    let message = e.to_string();
    assert!(
        message.contains("an execution of NP6 import 42") && message.contains("may have been"),
        "{message}"
    );
}

/// Answers with a feature and a source type this crate does not know, and a report feature
/// without `groupIds` (as NP6 8.1.0 answers), still make a whole import.
#[tokio::test]
async fn answers_with_features_and_sources_np6_adds_still_import() {
    let server = MockServer::start().await;
    let features = json!([
        {"type": "database", "updateExisting": true, "crushData": false},
        {"type": "scoring", "threshold": 3},
        {"type": "report", "sendFinalReport": true, "sendErrorReport": true, "contactGuids": []}
    ]);
    let source = json!({"type": "sftp", "host": "sftp.example.com"});
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identifier": {"guid": 77}, "name": "esp-imports x", "separator": 59, "startAt": 1,
            "binds": [], "savedImportFormat": true
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .respond_with(vnd(json!({
            "id": 42, "name": "weekly contacts", "features": features, "source": source
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("PUT"))
        .and(path("/imports/42/source"))
        .respond_with(vnd(source.clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/imports/42/executions"))
        .respond_with(vnd(json!({
            "startDate": "2026-11-24T10:00:00Z", "state": 0, "source": source,
            "content": {"features": features}
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/imports/42/executions"))
        .respond_with(vnd(json!({"state": 1})))
        .mount(&server)
        .await;
    let file = csv();
    let report = client(&server)
        .import(&options(&file), &np6())
        .await
        .unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(report.import_id, "42");
}
