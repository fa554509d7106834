//! What is sent is what was checked: a file that changes after the check (a row appended by a
//! loopback wiremock server when a given request arrives) stops the import with an error
//! naming the file, and nothing more of it is sent: NP6 before and after its upload, Eloqua
//! between two staged chunks, and through the binary.

use std::{
    io::Write as _,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::Duration,
};

use esp_imports::eloqua::{Auth, EloquaImport};
use esp_imports::mailperformance::{self, Np6Import};
use esp_imports::{eloqua, Error, HttpConfig, ImportOptions, Preflight, RetryPolicy, Secret};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::common::BIN;

const VND: &str = "application/vnd.mperf.v8.import.v1+json";

/// Answers `answer`, after appending a row to `file` on the first request.
struct AppendThen {
    file: PathBuf,
    answer: ResponseTemplate,
    done: AtomicBool,
}

impl AppendThen {
    fn new(file: &tempfile::NamedTempFile, answer: ResponseTemplate) -> Self {
        Self {
            file: file.path().to_owned(),
            answer,
            done: AtomicBool::new(false),
        }
    }
}

impl Respond for AppendThen {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if !self.done.swap(true, Ordering::SeqCst) {
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.file)
                .unwrap();
            writeln!(file, "late@example.com,Late,Arras").unwrap();
        }
        self.answer.clone()
    }
}

fn csv(rows: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new()
        .prefix("contacts")
        .suffix(".csv")
        .tempfile()
        .unwrap();
    writeln!(file, "email,name,city").unwrap();
    for i in 0..rows {
        writeln!(file, "user{i}@example.com,Name {i},Lille").unwrap();
    }
    file
}

fn config() -> HttpConfig {
    HttpConfig::default().with_retry(RetryPolicy::never())
}

fn vnd(body: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), VND)
}

async fn requests(server: &MockServer) -> Vec<String> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

/// NP6's flow up to the execution; the row is appended when `changing` (`POST /imports` or
/// `PUT /imports/42/source`) arrives.
async fn np6_server(file: &tempfile::NamedTempFile, changing: &str) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/importFormats"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "identifier": {"guid": 77}, "name": "esp-imports x", "separator": 44, "startAt": 1,
            "binds": [], "savedImportFormat": true
        })))
        .mount(&server)
        .await;
    let created = vnd(json!({"id": 42, "name": "contacts"}));
    let uploaded = vnd(json!({"type": "file", "filename": "x_contacts.csv"}));
    for (verb, route, answer) in [
        ("POST", "/imports", created),
        ("PUT", "/imports/42/source", uploaded),
    ] {
        let mock = Mock::given(method(verb)).and(path(route));
        let mock = if route == changing {
            mock.respond_with(AppendThen::new(file, answer))
        } else {
            mock.respond_with(answer)
        };
        mock.mount(&server).await;
    }
    Mock::given(method("POST"))
        .and(path("/imports/42/executions"))
        .respond_with(vnd(json!({"state": 0})))
        .mount(&server)
        .await;
    server
}

async fn np6_import(server: &MockServer, file: &tempfile::NamedTempFile) -> Error {
    let client = mailperformance::Client::with_auth(
        &server.uri(),
        &mailperformance::Auth::XKey(Secret::new("np6-key")),
        &config(),
    )
    .unwrap();
    let mut options = ImportOptions::new(file.path(), [("email", "1234")], "email");
    // The requests of the import itself: no field list.
    options.preflight = Preflight::Off;
    options.poll_interval = Duration::from_millis(10);
    options.timeout = Duration::from_secs(20);
    client
        .import(&options, &Np6Import::default())
        .await
        .unwrap_err()
}

fn assert_changed(e: &Error, file: &tempfile::NamedTempFile) {
    let Error::InvalidInput(input) = e.cause() else {
        panic!("{e:?}")
    };
    assert_eq!(input.file, file.path());
    assert!(
        input
            .reason
            .starts_with("the file changed after it was checked"),
        "{e}"
    );
}

#[tokio::test]
async fn np6_a_file_changed_before_the_upload_is_not_sent() {
    let file = csv(3);
    let server = np6_server(&file, "/imports").await;
    let e = np6_import(&server, &file).await;
    assert_changed(&e, &file);
    assert!(
        e.report()
            .to_string()
            .contains("it was 109 bytes, it is now 137"),
        "{e}"
    );
    assert_eq!(e.import_state().map(|(id, _)| id), Some("42"), "{e}");
    assert_eq!(
        requests(&server).await,
        ["POST /importFormats", "POST /imports"]
    );
}

#[tokio::test]
async fn np6_a_file_changed_during_the_upload_is_not_imported() {
    let file = csv(3);
    let server = np6_server(&file, "/imports/42/source").await;
    let e = np6_import(&server, &file).await;
    assert_changed(&e, &file);
    assert_eq!(
        requests(&server).await,
        [
            "POST /importFormats",
            "POST /imports",
            "PUT /imports/42/source"
        ],
        "no execution started"
    );
}

#[tokio::test]
async fn eloqua_stops_staging_when_the_file_changes_between_chunks() {
    const API: &str = "/api/bulk/2.0";
    let file = csv(40);
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/contacts/imports")))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({
            "name": "contacts", "uri": "/contacts/imports/384",
            "fields": {"email": "{{Contact.Field(C_EmailAddress)}}"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/contacts/imports/384/data")))
        .respond_with(AppendThen::new(&file, ResponseTemplate::new(204)))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let auth = Auth::Basic {
        company: "Acme".into(),
        username: "jane".into(),
        password: Secret::new("pw"),
    };
    let client =
        eloqua::Client::with_auth(&format!("{}{API}", server.uri()), &auth, &config()).unwrap();
    let mut options = ImportOptions::new(file.path(), [("email", "C_EmailAddress")], "email");
    options.preflight = Preflight::Off;
    options.timeout = Duration::from_secs(20);
    let mut eloqua = EloquaImport::default();
    eloqua.chunk_cap = 300; // about ten rows a chunk: four chunks
    let e = client.import(&options, &eloqua).await.unwrap_err();
    assert_changed(&e, &file);
    let sent = requests(&server).await;
    let staged = sent
        .iter()
        .filter(|r| r.starts_with("POST") && r.ends_with("/384/data"))
        .count();
    assert_eq!(
        staged, 1,
        "one chunk staged, then the change seen: {sent:?}"
    );
    assert!(!sent.iter().any(|r| r.contains("/syncs")), "{sent:?}");
}

/// Through the binary: exit 2, the file and the change named, with what exists at NP6.
#[tokio::test]
async fn the_cli_names_the_changed_file() {
    let file = csv(3);
    let server = np6_server(&file, "/imports").await;
    let output = tokio::process::Command::new(BIN)
        .args(["import", "mailperformance", "--file"])
        .arg(file.path())
        .args(["--base-url", &server.uri(), "--key", "email"])
        .args(["--map", "email=1234", "--poll-interval", "0.05"])
        .env("MAILPERFORMANCE_XKEY", "np6-key")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the CLI ends")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let name = file.path().file_name().unwrap().to_str().unwrap();
    assert!(stderr.contains(name), "{stderr}");
    assert!(
        stderr.contains("the file changed after it was checked (it was 109 bytes, it is now 137)"),
        "{stderr}"
    );
    assert!(stderr.contains("42"), "{stderr}");
    assert!(!requests(&server).await.iter().any(|r| r.starts_with("PUT")));
}
