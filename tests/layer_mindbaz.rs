//! The whole Mindbaz import (`Client::import`): the file uploaded to a REAL OpenSSH SFTP server
//! started on a free loopback port for each test (`../shared/notes/sshd-on-loopback.md`), then
//! `scheduleNow` and the polls against a loopback wiremock server. Needs `/usr/sbin/sshd` and
//! `ssh-keygen` (Debian: `apt-get install -y openssh-server openssh-client`).
#![cfg(feature = "mindbaz")]

use std::{
    io::Write,
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use esp_imports::mindbaz::{Auth, Client, MindbazImport, SftpAuth, SftpConfig};
use esp_imports::{Error, HttpConfig, ImportOptions, Mode, Progress, Reject, Secret, Status};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const SITE: i32 = 7;
const API_KEY: &str = "mbz-l4yer-api-key";
const PASSWORD: &str = "Pa55-w0rd-s3cret";
const SSHD: &str = "/usr/sbin/sshd";

/// `;`-separated, CRLF, a quoted field with the delimiter, an unmapped column.
const FILE: &str = "email;firstname;internal\r\n\
                    ann@example.com;Ann;a\r\n\
                    bob@example.com;\"Bob; Jr.\";b\r\n\
                    cy@example.com;Cy;c\r\n\
                    dee@example.com;Dee;d\r\n\
                    eve@example.com;Eve;e\r\n";

/// An OpenSSH server serving SFTP on 127.0.0.1, owned by the test (`-D`), killed on drop.
struct Sshd {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    user: String,
    host_key: String,
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn keygen(file: &Path) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(file));
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    fn start() -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install OpenSSH (apt-get install -y openssh-server \
             openssh-client); these tests need a real SFTP server"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("hostkey"));
        keygen(&d.join("userkey"));
        keygen(&d.join("otherkey"));
        std::fs::copy(d.join("userkey.pub"), d.join("authorized_keys")).unwrap();
        std::fs::set_permissions(
            d.join("authorized_keys"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::create_dir_all(d.join("sftproot/upload")).unwrap();
        let port = free_port();
        let d = d.display();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {d}/hostkey\n\
             PidFile {d}/sshd.pid\n\
             AuthorizedKeysFile {d}/authorized_keys\n\
             StrictModes no\n\
             PasswordAuthentication no\n\
             UsePAM no\n\
             Subsystem sftp internal-sftp\n\
             ForceCommand internal-sftp -d {d}/sftproot\n"
        );
        let d = dir.path();
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
                panic!("sshd exited ({status}) before listening:\n{log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd is not listening on {port} after 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let user = run(Command::new("id").arg("-un")).trim().to_owned();
        let fingerprint = run(Command::new("ssh-keygen")
            .args(["-E", "sha256", "-lf"])
            .arg(d.join("hostkey.pub")));
        let host_key = fingerprint.split_whitespace().nth(1).unwrap().to_owned();
        assert!(host_key.starts_with("SHA256:"), "{fingerprint}");
        Sshd {
            child,
            port,
            dir,
            user,
            host_key,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The account, with the user's key, the file put in `upload/`, the host key checked.
    fn account(&self) -> SftpConfig {
        SftpConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            username: self.user.clone(),
            auth: SftpAuth::KeyFile(self.path("userkey")),
            remote_dir: "upload".into(),
            host_key_sha256: Some(self.host_key.clone()),
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    mindbaz.sftp = Some(sshd.account());
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
    assert_eq!(
        report.rejects,
        [Reject {
            row: Some(4),
            reason: "bad format".into()
        }]
    );
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

    let mut wrong_password = sshd.account();
    wrong_password.auth = SftpAuth::Password(Secret::new(PASSWORD));
    let mut wrong_key = sshd.account();
    wrong_key.auth = SftpAuth::KeyFile(sshd.path("otherkey"));
    let mut wrong_host = sshd.account();
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
            assert!(e.to_string().contains(&sshd.host_key), "{e}");
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
    mindbaz.sftp = Some(sshd.account());
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
