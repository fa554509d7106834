//! The whole Mindbaz import (`Client::import`): the file uploaded to a REAL OpenSSH SFTP server
//! started on a free loopback port for each test (`sshd/mod.rs`), then
//! `scheduleNow` and the polls against a loopback wiremock server. Needs `/usr/sbin/sshd` and
//! `ssh-keygen` (Debian: `apt-get install -y openssh-server openssh-client`).
#![cfg(feature = "mindbaz")]

use std::{
    io::Write,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use esp_imports::mindbaz::{Auth, Client, MindbazImport, SftpAuth, SftpConfig};
use esp_imports::{
    Error, HttpConfig, ImportOptions, Mode, Preflight, Progress, Reject, Secret, Status,
};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SITE: i32 = 7;
const API_KEY: &str = "mbz-l4yer-api-key";
const PASSWORD: &str = "Pa55-w0rd-s3cret";

/// `;`-separated, CRLF, a quoted field with the delimiter, an unmapped column.
const FILE: &str = "email;firstname;internal\r\n\
                    ann@example.com;Ann;a\r\n\
                    bob@example.com;\"Bob; Jr.\";b\r\n\
                    cy@example.com;Cy;c\r\n\
                    dee@example.com;Dee;d\r\n\
                    eve@example.com;Eve;e\r\n";

use crate::sshd::{Agent, Sshd};

/// The account on `sshd`, with the user's key, the file put in `upload/`, the host key
/// pinned by its fingerprint and an empty known-hosts file of the test's own.
fn account(sshd: &Sshd) -> SftpConfig {
    let mut config = SftpConfig::new(
        "127.0.0.1",
        sshd.user.clone(),
        SftpAuth::KeyFile(sshd.path("userkey")),
    );
    config.port = sshd.port;
    config.remote_dir = "upload".into();
    config.known_hosts = Some(sshd.path("known_hosts"));
    config.host_key_sha256 = Some(sshd.host_key.clone());
    config
}

fn client(server: &MockServer) -> Client {
    Client::with_auth(
        &server.uri(),
        &Auth::ApiKey(Secret::new(API_KEY)),
        &HttpConfig::default(),
    )
    .unwrap()
}

/// `name` with `content` in a fresh directory.
fn csv_file(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::File::create(&file)
        .unwrap()
        .write_all(content.as_bytes())
        .unwrap();
    (dir, file)
}

type Events = Arc<Mutex<Vec<Progress>>>;

fn options(file: &Path) -> (ImportOptions, Events) {
    let mut options =
        ImportOptions::new(file, [("email", "fld1"), ("firstname", "fld14")], "email");
    options.poll_interval = Duration::from_millis(10);
    options.timeout = Duration::from_secs(30);
    // The vendor's protocol alone: the pre-flight's field list is tested in preflight.rs.
    options.preflight = Preflight::Off;
    let events: Events = Default::default();
    let sink = events.clone();
    options.progress = Some(Arc::new(move |p: &Progress| {
        sink.lock().unwrap().push(p.clone())
    }));
    (options, events)
}

fn mindbaz(email: &str) -> MindbazImport {
    MindbazImport::new(SITE, email)
}

/// The envelope Mindbaz wraps an Import in.
fn envelope(id: i32, state: i32, log: Value) -> Value {
    json!({
        "success": true,
        "data": {
            "id": id,
            "creationDate": "2024-03-01T10:35:30.9983907+01:00",
            "importState": state,
            "isDeleted": false,
            "deletionDate": null,
            "schedulingInfos": {"isRecurring": false, "recurringInfos": null,
                                "scheduledDate": "2024-03-01T10:37:30.8108812+01:00"},
            "lastImportLog": log
        },
        "error": null,
        "typeName": "Import"
    })
}

/// Answers each poll with the next import state, the last one again once they run out.
struct Polls {
    answers: Vec<Value>,
    next: AtomicUsize,
}

impl Respond for Polls {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let i = self.next.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(&self.answers[i.min(self.answers.len() - 1)])
    }
}

/// Answers `scheduleNow` as Mindbaz does: 400 "Error, file not found" unless the file is on
/// the SFTP server (here: in the sshd's directory, with the content of the local file).
struct FileOnSftp {
    remote: PathBuf,
    content: String,
}

impl Respond for FileOnSftp {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        match std::fs::read(&self.remote) {
            Ok(bytes) if bytes == self.content.as_bytes() => {
                ResponseTemplate::new(200).set_body_json(envelope(252, 1, Value::Null))
            }
            _ => ResponseTemplate::new(400).set_body_json(json!({
                "success": false, "data": null, "error": "Error, file not found"
            })),
        }
    }
}

/// `METHOD /path` of each request the server got, each checked to carry the API key.
async fn requests(server: &MockServer) -> Vec<String> {
    let received = server.received_requests().await.unwrap();
    received
        .iter()
        .map(|r| {
            assert_eq!(
                r.headers.get("x-api-key").map(|v| v.to_str().unwrap()),
                Some(API_KEY),
                "{} {}",
                r.method,
                r.url.path()
            );
            format!("{} {}", r.method, r.url.path())
        })
        .collect()
}

fn mapping() -> Value {
    json!([
        {"dbFieldName": "fld1", "idMappingMode": 1, "fileColumnName": "email", "fixedValue": null},
        {"dbFieldName": "fld14", "idMappingMode": 1, "fileColumnName": "firstname", "fixedValue": null}
    ])
}

#[tokio::test]
async fn the_file_is_uploaded_to_sftp_then_scheduled_and_followed_to_its_log() {
    let sshd = Sshd::start();
    let server = MockServer::start().await;
    let expected = json!({"parameters": {
        "filename": "upload/contacts-2024.csv",
        "startLine": 1,
        "columnNamesFirstLine": true,
        "textQualifier": "\"",
        "columnDelimiter": ";",
        "rowDelimiter": "\r\n",
        "codepage": 65001,
        "sheetName": null,
        "keyDbFieldName": "fld1",
        "keepFld7": true,
        "insertEnabled": true,
        "safeMode": false,
        "emailNotification": "ops@example.com;crm@example.com",
        "deleteFile": true,
        "columnMapping": mapping(),
    }});
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .and(header("x-api-key", API_KEY))
        .and(body_json(&expected))
        .respond_with(FileOnSftp {
            remote: sshd.path("sftproot/upload/contacts-2024.csv"),
            content: FILE.into(),
        })
        .expect(1)
        .mount(&server)
        .await;
    let log = json!({
        "id": 31, "filename": "upload/contacts-2024.csv",
        "startDate": "2024-03-01T10:37:31+01:00", "endDate": "2024-03-01T10:37:40+01:00",
        "errorMessage": "2 rows in error", "totalRows": 5, "totalDuplicateKeys": 0,
        "nbValidations": 3, "nbErrorRows": 1, "nbBadFormattedRows": 1,
        "badFormattedRowNumbers": "4", "totalUpdates": 2, "nbUpdates": 1,
        "totalInserts": 3, "nbInserts": 2, "nbForbiddenInserts": 0
    });
    Mock::given(method("GET"))
        .and(path("/api/7/imports/252"))
        .and(header("x-api-key", API_KEY))
        .respond_with(Polls {
            answers: vec![
                envelope(252, 1, Value::Null),
                envelope(252, 2, Value::Null),
                envelope(252, 3, log),
            ],
            next: AtomicUsize::new(0),
        })
        .expect(3)
        .mount(&server)
        .await;

    let (_local, file) = csv_file("contacts-2024.csv", FILE);
    let (options, events) = options(&file);
    let mut mindbaz = mindbaz("ops@example.com;crm@example.com");
    mindbaz.sftp = Some(account(&sshd));
    mindbaz.delete_file = true;
    let report = client(&server).import(&options, &mindbaz).await.unwrap();

    let landed = std::fs::read(sshd.path("sftproot/upload/contacts-2024.csv")).unwrap();
    assert_eq!(landed, FILE.as_bytes(), "the file landed byte for byte");
    assert_eq!(
        requests(&server).await,
        [
            "POST /api/7/imports/scheduleNow",
            "GET /api/7/imports/252",
            "GET /api/7/imports/252",
            "GET /api/7/imports/252"
        ]
    );
    assert_eq!(report.import_id, "252");
    assert_eq!(report.status, Status::CompletedWithErrors);
    assert_eq!(report.rows_total, Some(5));
    assert_eq!(report.rows_imported, Some(3), "nbInserts + nbUpdates");
    assert_eq!(
        report.rows_rejected,
        Some(2),
        "nbErrorRows + nbBadFormattedRows"
    );
    assert_eq!(report.rejects, [Reject::new(Some(4), "bad format")]);
    assert_eq!(report.messages, ["2 rows in error"]);

    let events = events.lock().unwrap().clone();
    let uploaded: Vec<(u64, u64)> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Uploaded { bytes, total } => Some((*bytes, *total)),
            _ => None,
        })
        .collect();
    let size = FILE.len() as u64;
    assert_eq!(uploaded.last(), Some(&(size, size)), "{uploaded:?}");
    let steps: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Progress::Step(s) => Some(*s),
            _ => None,
        })
        .collect();
    assert_eq!(steps, ["upload", "schedule import"]);
    let states: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Progress::StateChanged { to, .. } => Some(to.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(states, ["scheduled", "in progress", "completed"]);
}

#[tokio::test]
async fn a_file_already_on_the_sftp_is_scheduled_without_an_upload() {
    let server = MockServer::start().await;
    let expected = json!({"parameters": {
        "filename": "incoming/contacts.csv",
        "startLine": 1,
        "columnNamesFirstLine": true,
        "textQualifier": "\"",
        "columnDelimiter": ",",
        "rowDelimiter": "\n",
        "codepage": 65001,
        "sheetName": null,
        "keyDbFieldName": "fld1",
        "keepFld7": true,
        "insertEnabled": false,
        "safeMode": false,
        "emailNotification": "ops@example.com",
        "deleteFile": false,
        "columnMapping": mapping(),
    }});
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .and(body_json(&expected))
        // The doc gives no status code for scheduleNow: any 2xx with the envelope is success.
        .respond_with(ResponseTemplate::new(201).set_body_json(envelope(9, 1, Value::Null)))
        .expect(1)
        .mount(&server)
        .await;
    let log = json!({"totalRows": 2, "nbErrorRows": 0, "nbBadFormattedRows": 0,
                     "badFormattedRowNumbers": "", "nbUpdates": 2, "nbInserts": 0,
                     "errorMessage": null, "nbForbiddenInserts": 0});
    Mock::given(method("GET"))
        .and(path("/api/7/imports/9"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(9, 3, log)))
        .expect(1)
        .mount(&server)
        .await;

    let (_local, file) = csv_file(
        "contacts.csv",
        "email,firstname\nann@example.com,Ann\nbob@example.com,Bob\n",
    );
    let (mut options, events) = options(&file);
    options.mode = Mode::UpdateOnly;
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.remote_file = Some("/incoming/contacts.csv".into());
    let report = client(&server).import(&options, &mindbaz).await.unwrap();

    assert_eq!(
        requests(&server).await,
        ["POST /api/7/imports/scheduleNow", "GET /api/7/imports/9"]
    );
    assert_eq!(report.status, Status::Completed);
    assert_eq!(
        (
            report.rows_total,
            report.rows_imported,
            report.rows_rejected
        ),
        (Some(2), Some(2), Some(0))
    );
    assert!(report.rejects.is_empty());
    assert!(report.messages.is_empty(), "{:?}", report.messages);
    assert!(!events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, Progress::Uploaded { .. } | Progress::Step("upload"))));
}

#[tokio::test]
async fn a_package_creation_error_is_a_failed_import() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(11, 1, Value::Null)))
        .expect(1)
        .mount(&server)
        .await;
    let log = json!({"totalRows": 0, "errorMessage": "Unknown field fld14",
                     "nbErrorRows": 0, "nbBadFormattedRows": 0});
    Mock::given(method("GET"))
        .and(path("/api/7/imports/11"))
        .respond_with(Polls {
            answers: vec![envelope(11, 2, Value::Null), envelope(11, 5, log)],
            next: AtomicUsize::new(0),
        })
        .expect(2)
        .mount(&server)
        .await;

    let (_local, file) = csv_file("c.csv", "email,firstname\nann@example.com,Ann\n");
    let (options, _) = options(&file);
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.remote_file = Some("c.csv".into());
    let report = client(&server).import(&options, &mindbaz).await.unwrap();
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.messages, ["Unknown field fld14"]);
    assert_eq!(report.rows_total, Some(1));
}

#[tokio::test]
async fn a_success_false_envelope_is_an_api_error_and_insert_only_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": false, "data": null, "error": "Error, file not found", "typeName": null
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_local, file) = csv_file("c.csv", "email,firstname\nann@example.com,Ann\n");
    let (mut options, _) = options(&file);
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.remote_file = Some("c.csv".into());

    options.mode = Mode::InsertOnly;
    let e = client(&server)
        .import(&options, &mindbaz)
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { setting: "mode", reason } if reason.contains("insert-only")),
        "{e:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());

    // A field named by its name, not its `fldN`: it is looked up in the field list, which
    // this server does not serve (404), so the import stops there, before creating anything.
    let mut named = options.clone();
    named.mode = Mode::Upsert;
    named
        .columns
        .insert("firstname".into(), "First name".into());
    let e = client(&server).import(&named, &mindbaz).await.unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { setting: "column map", reason }
            if reason.contains("`firstname=First name` (a field name, not an id) cannot be checked: Mindbaz's field list")),
        "{e:?}"
    );
    let requests = server.received_requests().await.unwrap();
    let routes: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    assert_eq!(routes, ["GET /api/7/fields/list"]);

    options.mode = Mode::Upsert;
    let e = client(&server)
        .import(&options, &mindbaz)
        .await
        .unwrap_err();
    match &e {
        Error::Api(api) => {
            assert_eq!(api.operation, "scheduleImportNow");
            assert_eq!(api.status, 200);
            assert_eq!(api.message.as_deref(), Some("Error, file not found"));
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert!(!format!("{e} {e:?}").contains(API_KEY));
}

#[tokio::test]
async fn refused_sftp_credentials_fail_before_scheduling_and_never_show_the_secret() {
    let sshd = Sshd::start();
    let server = MockServer::start().await;
    let (_local, file) = csv_file("refused.csv", FILE);
    let (options, _) = options(&file);

    let mut wrong_password = account(&sshd);
    wrong_password.auth = SftpAuth::Password(Secret::new(PASSWORD));
    let mut wrong_key = account(&sshd);
    wrong_key.auth = SftpAuth::KeyFile(sshd.path("otherkey"));
    let mut wrong_host = account(&sshd);
    wrong_host.host_key_sha256 = Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into());

    for (account, expected_step) in [
        (wrong_password, "authenticate"),
        (wrong_key, "authenticate"),
        (wrong_host, "verify host key"),
    ] {
        let mut mindbaz = mindbaz("ops@example.com");
        mindbaz.sftp = Some(account);
        let e = client(&server)
            .import(&options, &mindbaz)
            .await
            .unwrap_err();
        match &e {
            Error::Sftp { step, .. } => assert_eq!(*step, expected_step, "{e}"),
            other => panic!("expected an SFTP error, got {other:?}"),
        }
        let text = format!("{e} / {e:?} / {mindbaz:?}");
        assert!(!text.contains(PASSWORD), "{text}");
        assert!(!text.contains(API_KEY), "{text}");
        if expected_step == "verify host key" {
            assert!(e.report().to_string().contains(&sshd.host_key), "{e}");
        }
    }
    assert!(!sshd.path("sftproot/upload/refused.csv").exists());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_large_file_is_streamed_in_order_and_no_wait_stops_once_scheduled() {
    let sshd = Sshd::start();
    let server = MockServer::start().await;
    let mut content = String::from("email,firstname\n");
    for i in 0..40_000 {
        content.push_str(&format!("user{i:05}@example.com,Name {i}\n"));
    }
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .respond_with(FileOnSftp {
            remote: sshd.path("sftproot/upload/large.csv"),
            content: content.clone(),
        })
        .expect(1)
        .mount(&server)
        .await;

    let (_local, file) = csv_file("large.csv", &content);
    let (mut options, events) = options(&file);
    options.no_wait = true;
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.sftp = Some(account(&sshd));
    let report = client(&server).import(&options, &mindbaz).await.unwrap();

    assert_eq!(report.status, Status::Submitted);
    assert_eq!(report.import_id, "252");
    assert_eq!(report.rows_total, Some(40_000));
    let landed = std::fs::read(sshd.path("sftproot/upload/large.csv")).unwrap();
    assert!(
        landed == content.as_bytes(),
        "the file landed byte for byte"
    );
    assert_eq!(requests(&server).await, ["POST /api/7/imports/scheduleNow"]);
    let uploaded: Vec<u64> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            Progress::Uploaded { bytes, .. } => Some(*bytes),
            _ => None,
        })
        .collect();
    assert!(uploaded.len() > 1, "{} upload events", uploaded.len());
    assert!(uploaded.windows(2).all(|w| w[0] < w[1]), "{uploaded:?}");
    assert_eq!(uploaded.last(), Some(&(content.len() as u64)));
}

/// A wiremock server that schedules any import (import 252) and nothing else.
async fn scheduling_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(252, 1, Value::Null)))
        .mount(&server)
        .await;
    server
}

/// Imports `file` through `account` with `--no-wait`.
async fn upload_with(
    server: &MockServer,
    file: &Path,
    account: SftpConfig,
) -> Result<esp_imports::ImportReport, Error> {
    let (mut options, _) = options(file);
    options.no_wait = true;
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.sftp = Some(account);
    client(server).import(&options, &mindbaz).await
}

fn refused_host_key(e: &Error) -> &str {
    match e {
        Error::Sftp {
            step: "verify host key",
            reason,
        } => reason,
        other => panic!("expected a refused host key, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unknown_or_changed_host_key_is_refused_before_any_credential_is_sent() {
    let sshd = Sshd::start();
    let server = scheduling_server().await;
    let (_local, file) = csv_file("hosts.csv", FILE);
    let known_hosts = sshd.path("known_hosts");

    // Unknown: no entry, no fingerprint, no accept-new. Safe default of SftpConfig::new.
    let mut unknown = account(&sshd);
    unknown.host_key_sha256 = None;
    unknown.auth = SftpAuth::Password(Secret::new(PASSWORD));
    let e = upload_with(&server, &file, unknown).await.unwrap_err();
    let reason = refused_host_key(&e);
    for part in [
        sshd.host_key.as_str(),
        "unknown host key",
        &format!("--sftp-host-key {}", sshd.host_key),
        "--sftp-accept-new-host-key",
        "nothing was sent",
    ] {
        assert!(reason.contains(part), "`{part}` missing from: {reason}");
    }
    assert!(!format!("{e} {e:?}").contains(PASSWORD));

    // Changed: the known-hosts file records another key for [127.0.0.1]:port. Refused even
    // with the right fingerprint and accept-new.
    std::fs::write(&known_hosts, sshd.known_hosts_line("otherkey.pub")).unwrap();
    let mut changed = account(&sshd);
    changed.accept_new_host_key = true;
    let e = upload_with(&server, &file, changed).await.unwrap_err();
    let reason = refused_host_key(&e);
    assert!(reason.contains("records another key"), "{reason}");
    assert!(reason.contains(&sshd.host_key), "{reason}");
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap(),
        sshd.known_hosts_line("otherkey.pub"),
        "a changed key is never recorded"
    );

    // A wrong fingerprint, with no known-hosts entry.
    std::fs::remove_file(&known_hosts).unwrap();
    let mut wrong = account(&sshd);
    wrong.host_key_sha256 = Some(fingerprint_of(&sshd, "otherkey.pub"));
    let e = upload_with(&server, &file, wrong).await.unwrap_err();
    assert!(refused_host_key(&e).contains("not the expected"), "{e}");

    let log = sshd.log_after_sessions(3);
    assert_eq!(
        Sshd::sessions(&log),
        3,
        "three connections reached the server:\n{log}"
    );
    assert!(
        !Sshd::auth_attempted(&log),
        "no authentication may be attempted with a refused host key:\n{log}"
    );
    assert!(!sshd.path("sftproot/upload/hosts.csv").exists());
    assert!(server.received_requests().await.unwrap().is_empty());

    // The same server, its key known: authentication happens (so the log check above can fail).
    upload_with(&server, &file, account(&sshd)).await.unwrap();
    assert!(Sshd::auth_attempted(&sshd.log_after_sessions(4)));
}

fn fingerprint_of(sshd: &Sshd, public: &str) -> String {
    crate::sshd::fingerprint(&sshd.path(public))
}

#[tokio::test]
async fn accept_new_records_the_key_which_is_then_known_plain_or_hashed() {
    let sshd = Sshd::start();
    let server = scheduling_server().await;
    let (_local, file) = csv_file("new.csv", FILE);
    let known_hosts = sshd.path("ssh/known_hosts");
    assert!(!sshd.path("ssh").exists());
    let mut first = account(&sshd);
    first.known_hosts = Some(known_hosts.clone());
    first.host_key_sha256 = None;
    first.accept_new_host_key = true;
    upload_with(&server, &file, first.clone()).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap().trim_start(),
        sshd.known_hosts_line("hostkey.pub"),
        "recorded as OpenSSH does for a port other than 22"
    );
    let mode = std::fs::metadata(sshd.path("ssh")).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700,
        "its directory created private, as ~/.ssh"
    );
    assert_eq!(
        std::fs::read(sshd.path("sftproot/upload/new.csv")).unwrap(),
        FILE.as_bytes()
    );

    // Known now: no flag needed. Then the same entry hashed (`ssh-keygen -H`).
    let mut known = first;
    known.accept_new_host_key = false;
    upload_with(&server, &file, known.clone()).await.unwrap();
    crate::sshd::run(
        std::process::Command::new("ssh-keygen")
            .arg("-H")
            .arg("-f")
            .arg(&known_hosts),
    );
    let hashed = std::fs::read_to_string(&known_hosts).unwrap();
    assert!(hashed.trim_start().starts_with("|1|"), "{hashed}");
    upload_with(&server, &file, known).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&known_hosts).unwrap(),
        hashed,
        "nothing recorded twice"
    );
}

#[tokio::test]
async fn a_passphrase_protected_key_and_an_agent_authenticate() {
    const PASSPHRASE: &str = "c0rrect h0rse b4ttery";
    let sshd = Sshd::start();
    let server = scheduling_server().await;
    let (_local, file) = csv_file("keys.csv", FILE);
    crate::sshd::keygen(&sshd.path("lockedkey"), PASSPHRASE);
    let mut authorized = std::fs::read_to_string(sshd.path("authorized_keys")).unwrap();
    authorized += &std::fs::read_to_string(sshd.path("lockedkey.pub")).unwrap();
    std::fs::write(sshd.path("authorized_keys"), authorized).unwrap();

    let mut locked = account(&sshd);
    locked.auth = SftpAuth::EncryptedKeyFile {
        path: sshd.path("lockedkey"),
        passphrase: Secret::new(PASSPHRASE),
    };
    upload_with(&server, &file, locked.clone()).await.unwrap();
    assert_eq!(
        std::fs::read(sshd.path("sftproot/upload/keys.csv")).unwrap(),
        FILE.as_bytes()
    );

    // No passphrase, or a wrong one: refused before connecting, the passphrase never shown.
    let mut without = locked.clone();
    without.auth = SftpAuth::KeyFile(sshd.path("lockedkey"));
    let mut wrong = locked;
    wrong.auth = SftpAuth::EncryptedKeyFile {
        path: sshd.path("lockedkey"),
        passphrase: Secret::new("not the passphrase"),
    };
    for (account, expected) in [
        (without, "is protected by a passphrase, and none was given"),
        (wrong, "cannot read the key with the passphrase given"),
    ] {
        let shown = format!("{account:?}");
        let e = upload_with(&server, &file, account).await.unwrap_err();
        match &e {
            Error::InvalidConfig {
                setting: "SFTP key passphrase",
                reason,
            } => assert!(reason.contains(expected), "{reason}"),
            other => panic!("expected the passphrase refused, got {other:?}"),
        }
        let text = format!("{e} {e:?} {shown}");
        assert!(
            !text.contains(PASSPHRASE) && !text.contains("not the passphrase"),
            "{text}"
        );
    }
    assert_eq!(
        Sshd::sessions(&sshd.log()),
        1,
        "a key that cannot be read connects nowhere"
    );

    // An ssh-agent holding the user's key (a real one, started here: scripts/setup-tests
    // installs it).
    let agent = Agent::start(&sshd.path("agent.sock"));
    agent.add(&sshd.path("otherkey"));
    agent.add(&sshd.path("userkey"));
    let mut with_agent = account(&sshd);
    with_agent.auth = SftpAuth::Agent(Some(sshd.path("agent.sock")));
    std::fs::remove_file(sshd.path("sftproot/upload/keys.csv")).unwrap();
    upload_with(&server, &file, with_agent.clone())
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(sshd.path("sftproot/upload/keys.csv")).unwrap(),
        FILE.as_bytes(),
        "the agent's second key is accepted"
    );

    // An agent whose keys the server does not take.
    agent.remove_all();
    agent.add(&sshd.path("otherkey"));
    let e = upload_with(&server, &file, with_agent).await.unwrap_err();
    assert!(
        matches!(&e, Error::Sftp { step: "authenticate", reason } if reason.contains("1 key(s) of the ssh-agent")),
        "{e:?}"
    );
}

/// A real `ssh-agent` on `socket`, killed on drop.
#[tokio::test]
async fn the_file_is_sent_under_a_temporary_name_and_replaces_an_older_one() {
    let sshd = Sshd::start();
    let server = scheduling_server().await;
    let (_local, file) = csv_file("again.csv", FILE);
    std::fs::write(sshd.path("sftproot/upload/again.csv"), "an older file").unwrap();
    let events: Arc<Mutex<Vec<(bool, bool)>>> = Default::default();
    let (mut options, _) = options(&file);
    options.no_wait = true;
    let (part, done) = (
        sshd.path("sftproot/upload/.again.csv.part"),
        sshd.path("sftproot/upload/again.csv"),
    );
    let seen = events.clone();
    options.progress = Some(Arc::new(move |p: &Progress| {
        if let Progress::Uploaded { .. } = p {
            seen.lock().unwrap().push((
                part.exists(),
                std::fs::read(&done).unwrap_or_default() == FILE.as_bytes(),
            ));
        }
    }));
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.sftp = Some(account(&sshd));
    client(&server).import(&options, &mindbaz).await.unwrap();

    let events = events.lock().unwrap().clone();
    assert!(!events.is_empty());
    assert!(
        events.iter().all(|&(part, complete)| part && !complete),
        "while it is sent, the file is only under its temporary name: {events:?}"
    );
    assert_eq!(
        std::fs::read(sshd.path("sftproot/upload/again.csv")).unwrap(),
        FILE.as_bytes(),
        "renamed over the older file"
    );
    assert!(!sshd.path("sftproot/upload/.again.csv.part").exists());
}

#[tokio::test]
async fn an_upload_cut_by_the_timeout_removes_its_partial_file() {
    let sshd = Sshd::start();
    let server = scheduling_server().await;
    let (_local, file) = csv_file("slow.csv", FILE);
    let (mut options, _) = options(&file);
    options.timeout = Duration::from_secs(5);
    let part = sshd.path("sftproot/upload/.slow.csv.part");
    let started = std::time::Instant::now();
    let saw_part = Arc::new(Mutex::new(None));
    let seen = saw_part.clone();
    // The first bytes read: the partial file exists; then the upload stalls until past the
    // upload's own stop (9/10 of the timeout) and before the whole import's timeout.
    options.progress = Some(Arc::new(move |p: &Progress| {
        let mut seen = seen.lock().unwrap();
        if matches!(p, Progress::Uploaded { .. }) && seen.is_none() {
            *seen = Some(part.exists());
            std::thread::sleep(Duration::from_millis(4600).saturating_sub(started.elapsed()));
        }
    }));
    let mut mindbaz = mindbaz("ops@example.com");
    mindbaz.sftp = Some(account(&sshd));
    let e = client(&server)
        .import(&options, &mindbaz)
        .await
        .unwrap_err();

    assert_eq!(
        *saw_part.lock().unwrap(),
        Some(true),
        "the partial file was there"
    );
    assert!(
        matches!(&e, Error::Timeout { what, .. } if what == "the SFTP upload"),
        "{e:?}"
    );
    assert!(
        !sshd.path("sftproot/upload/.slow.csv.part").exists(),
        "removed"
    );
    assert!(!sshd.path("sftproot/upload/slow.csv").exists());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_error_after_the_upload_says_the_file_is_on_the_sftp() {
    let sshd = Sshd::start();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/7/imports/scheduleNow"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "success": false, "data": null, "error": "Error, mapping invalid"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let (_local, file) = csv_file("left.csv", FILE);
    let e = upload_with(&server, &file, account(&sshd))
        .await
        .unwrap_err();
    let (import_id, state) = e.import_state().expect("what exists at the vendor");
    assert_eq!(import_id, "", "no import");
    assert!(
        state.contains("no import created")
            && state.contains("`upload/left.csv` is on the Mindbaz SFTP"),
        "{state}"
    );
    assert!(
        e.report().to_string().contains("Error, mapping invalid"),
        "{e}"
    );
    assert!(sshd.path("sftproot/upload/left.csv").exists());
}

#[tokio::test]
async fn directories_are_taken_as_given_or_refused() {
    let sshd = Sshd::start();
    let server = scheduling_server().await;
    let (_local, file) = csv_file("dirs.csv", FILE);
    std::fs::create_dir_all(sshd.path("sftproot/.incoming")).unwrap();
    let mut hidden = account(&sshd);
    hidden.remote_dir = ".incoming".into();
    upload_with(&server, &file, hidden).await.unwrap();
    assert!(sshd.path("sftproot/.incoming/dirs.csv").exists());
    let received = server.received_requests().await.unwrap();
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body["parameters"]["filename"], ".incoming/dirs.csv");

    for dir in ["../up", "/upload"] {
        let mut bad = account(&sshd);
        bad.remote_dir = dir.into();
        let e = upload_with(&server, &file, bad).await.unwrap_err();
        assert!(
            matches!(&e, Error::InvalidConfig { setting: "SFTP directory", reason } if reason.contains(dir)),
            "{e:?}"
        );
    }
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
    assert_eq!(Sshd::sessions(&sshd.log()), 1);
}
