//! The whole Copernica import (`Client::import`) against a loopback wiremock server: the exact
//! requests it sends (the rewritten CSV inside the JSON body, the token on each), how it reads
//! the loosely documented polls, and how it fails: before any request on bad input, with the
//! vendor's message on an error answer, without a second import when an answer is lost.
#![cfg(feature = "copernica")]

use std::{
    io::Write,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use esp_imports::copernica::{self, Client, CopernicaImport};
use esp_imports::{Error, HttpConfig, ImportOptions, Mode, Preflight, Progress, Secret, Status};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "cop3rn1ca-l4yer-t0ken";

/// Two mapped columns, one unmapped, a quoted name with a comma, a quote and a line break.
const FILE: &str = "email,name,internal note\n\
                    ann@example.com,\"Doe, \"\"Ann\"\"\nSr.\",x\n\
                    bob@example.com,Bob,y\n\
                    cy@example.com,,z\n";

/// What Copernica must receive as `source`: field names, mapped columns only, same quoting.
const SOURCE: &str = "Email,Name\n\
                      ann@example.com,\"Doe, \"\"Ann\"\"\nSr.\"\n\
                      bob@example.com,Bob\n\
                      cy@example.com,\n";

fn client(server: &MockServer) -> Client {
    Client::with_auth(
        &server.uri(),
        &copernica::Auth::AccessToken(Secret::new(TOKEN)),
        &HttpConfig::default(),
    )
    .unwrap()
}

fn csv_file(content: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    file.write_all(content.as_bytes()).unwrap();
    file
}

type Events = Arc<Mutex<Vec<Progress>>>;

fn options(file: &tempfile::NamedTempFile) -> (ImportOptions, Events) {
    let mut options =
        ImportOptions::new(file.path(), [("email", "Email"), ("name", "Name")], "email");
    options.name = Some("weekly contacts".into());
    options.poll_interval = Duration::from_millis(10);
    options.timeout = Duration::from_secs(20);
    // The vendor's protocol alone: the pre-flight's field list is tested in preflight.rs.
    options.preflight = Preflight::Off;
    let events: Events = Default::default();
    let sink = events.clone();
    options.progress = Some(Arc::new(move |p: &Progress| {
        sink.lock().unwrap().push(p.clone())
    }));
    (options, events)
}

/// Answers each request with the next template, the last one again once they run out.
struct Sequence {
    answers: Vec<ResponseTemplate>,
    next: AtomicUsize,
}

impl Respond for Sequence {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        self.answers[i.min(self.answers.len() - 1)].clone()
    }
}

fn sequence(bodies: Vec<Value>) -> Sequence {
    Sequence {
        answers: bodies
            .into_iter()
            .map(|b| ResponseTemplate::new(200).set_body_json(b))
            .collect(),
        next: AtomicUsize::new(0),
    }
}

/// `METHOD /path` (with the query other than the token) of each request the server got,
/// checking that each carried the token exactly once.
async fn requests(server: &MockServer) -> Vec<String> {
    let received = server.received_requests().await.unwrap();
    received
        .iter()
        .map(|request| {
            let (tokens, others): (Vec<_>, Vec<_>) = request
                .url
                .query_pairs()
                .into_owned()
                .partition(|(k, _)| k == "access_token");
            assert_eq!(
                tokens,
                [("access_token".to_owned(), TOKEN.to_owned())],
                "{} {}",
                request.method,
                request.url.path()
            );
            let query: Vec<String> = others.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let query = if query.is_empty() {
                String::new()
            } else {
                format!("?{}", query.join("&"))
            };
            format!("{} {}{query}", request.method, request.url.path())
        })
        .collect()
}

fn expected_body(database: i64, source: &str) -> Value {
    json!({
        "action": "update or add",
        "autostart": true,
        "database": database,
        "delimiter": ",",
        "followups": false,
        "format": "csv",
        "ignoreEmptyFields": true,
        "keyFields": ["Email"],
        "name": "weekly contacts",
        "rebuild": false,
        "source": source,
    })
}

#[tokio::test]
async fn an_import_is_created_with_the_rewritten_file_and_followed_to_the_end() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .and(body_json(expected_body(42, SOURCE)))
        .respond_with(ResponseTemplate::new(201).insert_header("X-Created", "77"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/import/77"))
        .respond_with(sequence(vec![
            json!({"ID": "77", "status": "ready for start", "totallines": "0",
                   "processedLines": "0", "lastrun": false, "nextrun": false, "lasterror": false}),
            json!({"ID": "77", "status": "running", "totallines": "3",
                   "processedLines": "1", "lasterror": false}),
            json!({"ID": "77", "status": "finished", "totallines": "3",
                   "processedLines": "3", "lasterror": false}),
        ]))
        .expect(3)
        .mount(&server)
        .await;

    let file = csv_file(FILE);
    let (options, events) = options(&file);
    let mut copernica = CopernicaImport::new("42");
    copernica.ignore_empty_fields = true;
    let report = client(&server).import(&options, &copernica).await.unwrap();

    assert_eq!(
        requests(&server).await,
        [
            "POST /imports",
            "GET /import/77",
            "GET /import/77",
            "GET /import/77"
        ]
    );
    assert_eq!(report.import_id, "77");
    assert_eq!(report.status, Status::Completed);
    assert_eq!(report.rows_total, Some(3));
    assert_eq!(report.rows_imported, Some(3));
    assert_eq!(
        report.rows_rejected, None,
        "Copernica does not count rejects"
    );
    assert!(report.rejects.is_empty());
    assert!(report.messages.is_empty(), "{:?}", report.messages);

    let events = events.lock().unwrap().clone();
    let polled: Vec<(String, Option<u64>, Option<u64>)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Polled {
                state,
                processed,
                total,
            } => Some((state.clone(), *processed, *total)),
            _ => None,
        })
        .collect();
    assert_eq!(
        polled,
        [
            ("ready for start".to_owned(), Some(0), Some(0)),
            ("running".to_owned(), Some(1), Some(3)),
            ("finished".to_owned(), Some(3), Some(3)),
        ]
    );
    let changes: Vec<(Option<String>, String)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::StateChanged { from, to } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            (None, "ready for start".to_owned()),
            (Some("ready for start".to_owned()), "running".to_owned()),
            (Some("running".to_owned()), "finished".to_owned()),
        ]
    );
}

#[tokio::test]
async fn a_database_name_is_looked_up_and_a_last_error_is_reported() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/databases"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "start": 0, "limit": 1000, "count": 2, "total": false,
            "data": [{"ID": "3", "name": "Archive"}, {"ID": "5", "name": "Newsletter"}]
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut body = expected_body(5, SOURCE);
    body["action"] = json!("update");
    body["ignoreEmptyFields"] = json!(false);
    Mock::given(method("POST"))
        .and(path("/imports"))
        .and(body_json(body))
        .respond_with(ResponseTemplate::new(201).insert_header("X-Created", "8"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/import/8"))
        .respond_with(sequence(vec![json!({
            "ID": "8", "status": "done", "totallines": "3", "processedlines": "3",
            "lasterror": "line 3: e-mail address is invalid"
        })]))
        .expect(1)
        .mount(&server)
        .await;

    let file = csv_file(FILE);
    let (mut options, _) = options(&file);
    options.mode = Mode::UpdateOnly;
    let report = client(&server)
        .import(&options, &CopernicaImport::new("Newsletter"))
        .await
        .unwrap();

    assert_eq!(
        requests(&server).await,
        [
            "GET /databases?limit=1000&start=0&total=false",
            "POST /imports",
            "GET /import/8"
        ]
    );
    assert_eq!(report.status, Status::CompletedWithErrors);
    assert_eq!(
        report.rows_imported, None,
        "processed lines include the rejected ones"
    );
    assert_eq!(
        report.messages,
        [
            "3 lines processed; Copernica does not count rejected rows",
            "line 3: e-mail address is invalid"
        ]
    );
}

#[tokio::test]
async fn bad_input_fails_before_any_request() {
    let server = MockServer::start().await;
    let file = csv_file(FILE);
    let (mut options, _) = options(&file);
    options.key_column = "internal note".into();
    let e = client(&server)
        .import(&options, &CopernicaImport::new("42"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                setting: "key column",
                ..
            }
        ),
        "{e:?}"
    );

    let ragged = csv_file("email,name\nann@example.com,Ann\nbob@example.com\n");
    let (options, _) = self::options(&ragged);
    match client(&server)
        .import(&options, &CopernicaImport::new("42"))
        .await
    {
        Err(Error::InvalidInput(e)) => assert_eq!(e.row, Some(3)),
        other => panic!("expected an input error, got {other:?}"),
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_error_answer_carries_the_vendor_message_and_never_the_token() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": {"message": "No entity with supplied ID"}})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let file = csv_file(FILE);
    let (options, _) = options(&file);
    let e = client(&server)
        .import(&options, &CopernicaImport::new("999"))
        .await
        .unwrap_err();
    match &e {
        Error::Api(api) => {
            assert_eq!(api.status, 400);
            assert_eq!(api.operation, "createImport");
            assert_eq!(api.message.as_deref(), Some("No entity with supplied ID"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    let (display, debug) = (e.report().to_string(), format!("{e:?}"));
    assert!(display.contains("No entity with supplied ID"), "{display}");
    assert!(!display.contains(TOKEN), "{display}");
    assert!(!debug.contains(TOKEN), "{debug}");
    assert_eq!(requests(&server).await, ["POST /imports"]);
}

#[tokio::test]
async fn a_lost_answer_is_not_sent_again() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .respond_with(ResponseTemplate::new(504).set_body_string("<html>Gateway Timeout</html>"))
        .mount(&server)
        .await;
    let file = csv_file(FILE);
    let (options, _) = options(&file);
    let e = client(&server)
        .import(&options, &CopernicaImport::new("42"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::MaybeCreated { operation: "createImport", source, .. }
            if source.status() == Some(504)),
        "{e:?}"
    );
    assert!(
        e.report().to_string().contains("may have been created"),
        "{e}"
    );
    assert!(e.maybe_processed());
    assert_eq!(requests(&server).await, ["POST /imports"]);
}

#[tokio::test]
async fn a_created_answer_without_x_created_may_have_created_the_import() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/imports"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&server)
        .await;
    let file = csv_file(FILE);
    let (options, _) = options(&file);
    let e = client(&server)
        .import(&options, &CopernicaImport::new("42"))
        .await
        .unwrap_err();
    // The 201 says the import exists: its id is unknown, and it is not created again.
    match &e {
        Error::MaybeCreated { source, .. } => match source.as_ref() {
            Error::Decode {
                operation, path, ..
            } => {
                assert_eq!(*operation, "createImport");
                assert_eq!(path, "X-Created header");
            }
            other => panic!("expected a decode error, got {other:?}"),
        },
        other => panic!("expected MaybeCreated, got {other:?}"),
    }
    assert!(e.report().to_string().contains("X-Created"), "{e}");
    assert!(
        e.report().to_string().contains("may have been created"),
        "{e}"
    );
}
