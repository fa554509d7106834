//! A 200 MB file imported into NP6 (a file upload, checked byte for byte), then into Copernica
//! (the data inline in the JSON body of `POST /imports`), is streamed from disk: the process's
//! peak memory grows by far less than the file while each whole workflow (the pre-flight's
//! check of every value included) runs against a loopback server that reads the body
//! incrementally and keeps none of it. (Its own test binary, so no other test moves the peak.)
#![cfg(all(
    feature = "mailperformance",
    feature = "copernica",
    target_os = "linux"
))]

use std::{
    io::Write as _,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use esp_imports::mailperformance::{self, Np6Import};
use esp_imports::{copernica, HttpConfig, ImportOptions, Secret, Status};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SIZE: u64 = 200 * 1024 * 1024;

/// Peak resident memory of this process so far, in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// What the server saw of the upload.
#[derive(Default)]
struct Upload {
    /// The body bytes read of the last upload: exactly its `Content-Length` (the read fails
    /// if the body ends before; hyper refuses to send more).
    bytes: AtomicU64,
    /// The [`digest`] of the last upload's body.
    digest: AtomicU64,
}

/// FNV-1a of `bytes`, continued from `hash`: the same however the bytes are cut.
fn digest(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const DIGEST_START: u64 = 0xcbf2_9ce4_8422_2325;

/// A minimal HTTP/1.1 server for the NP6 and the Copernica calls of one import; the body of
/// the upload (NP6's file, Copernica's JSON) is read and counted in 64 KiB pieces, never kept.
async fn serve(listener: tokio::net::TcpListener, upload: Arc<Upload>) {
    loop {
        let (socket, _) = listener.accept().await.unwrap();
        let upload = upload.clone();
        tokio::spawn(async move {
            let mut socket = BufReader::new(socket);
            loop {
                let mut request_line = String::new();
                if socket.read_line(&mut request_line).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut length = 0u64;
                let mut chunked = false;
                loop {
                    let mut line = String::new();
                    socket.read_line(&mut line).await.unwrap();
                    let line = line.trim_end().to_ascii_lowercase();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    chunked |= line.starts_with("transfer-encoding:");
                }
                assert!(!chunked, "the upload must not be chunked");
                let mut buffer = vec![0u8; 64 * 1024];
                // Read to the end: a body shorter than its Content-Length fails here.
                let (mut left, mut hash) = (length, DIGEST_START);
                while left > 0 {
                    let n = socket
                        .read(&mut buffer[..left.min(64 * 1024) as usize])
                        .await
                        .unwrap();
                    assert!(n > 0, "the body ended early");
                    hash = digest(hash, &buffer[..n]);
                    left -= n as u64;
                }
                let route = request_line
                    .split_whitespace()
                    .take(2)
                    .collect::<Vec<_>>()
                    .join(" ");
                // Copernica's token is in the query.
                let route = route.split('?').next().unwrap_or_default().to_owned();
                let (mut status, mut extra) = ("200 OK", "");
                let body = match route.as_str() {
                    "POST /importFormats" => {
                        r#"{"identifier":{"guid":77},"name":"b","separator":44,"startAt":1,"binds":[],"savedImportFormat":true}"#
                    }
                    "POST /imports" => r#"{"id":42,"name":"big","features":[]}"#,
                    "PUT /imports/42/source" => {
                        upload.bytes.store(length, Ordering::SeqCst);
                        upload.digest.store(hash, Ordering::SeqCst);
                        r#"{"type":"file","filename":"big.csv"}"#
                    }
                    "POST /imports/42/executions" => {
                        r#"{"startDate":"2026-11-24T10:00:00Z","state":0}"#
                    }
                    "GET /imports/42/executions" => r#"{"state":1}"#,
                    // The pre-flight's field list: every value of the file is checked too.
                    "GET /fields" => {
                        r#"[{"type":"email","id":1,"name":"Email","isUnicity":true,"isMandatory":true},{"type":"textField","id":7,"name":"City","isUnicity":false,"isMandatory":false,"constraint":{"operator":4,"value":"50"}}]"#
                    }
                    "GET /v3/database/1/fields" => {
                        r#"{"start":0,"limit":1000,"count":2,"total":2,"data":[{"ID":"1","name":"email","type":"email","length":"100"},{"ID":"2","name":"city","type":"text","length":"50"}]}"#
                    }
                    "GET /v3/database/1/collections" => {
                        r#"{"start":0,"limit":1000,"count":0,"total":0,"data":[]}"#
                    }
                    "POST /v3/imports" => {
                        upload.bytes.store(length, Ordering::SeqCst);
                        (status, extra) = ("201 Created", "x-created: 8\r\n");
                        ""
                    }
                    "GET /v3/import/8" => {
                        r#"{"ID":"8","status":"finished","totallines":"1","processedlines":"1","lastrun":"2026-11-24 10:00:00","lasterror":false}"#
                    }
                    other => panic!("unexpected request {other}"),
                };
                let answer = format!(
                    "HTTP/1.1 {status}\r\n{extra}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                socket.get_mut().write_all(answer.as_bytes()).await.unwrap();
            }
        });
    }
}

/// On a multi-thread runtime, as the CLI runs, NP6's upload reads its pieces on the thread that
/// sends them (the current-thread runtime's reading ahead: layer_mailperformance.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_file_is_streamed_in_bounded_memory() {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        writeln!(out, "email,first_name,last_name,city").unwrap();
        let mut written = 0u64;
        let mut i = 0u64;
        while written < SIZE {
            let row = format!("contact{i:09}@example.com,Firstname{i},Lastname{i},Roubaix\n");
            out.write_all(row.as_bytes()).unwrap();
            written += row.len() as u64;
            i += 1;
        }
        out.flush().unwrap();
    }
    let size = std::fs::metadata(file.path()).unwrap().len();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let upload = Arc::new(Upload::default());
    tokio::spawn(serve(listener, upload.clone()));

    let client = mailperformance::Client::with_auth(
        &base,
        &mailperformance::Auth::XKey(Secret::new("np6-key")),
        &HttpConfig::default(),
    )
    .unwrap();
    let mut options = ImportOptions::new(file.path(), [("email", "1"), ("city", "7")], "email");
    options.poll_interval = Duration::from_millis(10);

    let before = peak_rss();
    let report = client
        .import(&options, &Np6Import::default())
        .await
        .unwrap();
    let grown = peak_rss().saturating_sub(before);

    // A completed import, with no finding, in memory that does not follow the file.
    let bounded = |vendor: &str, report: &esp_imports::ImportReport, grown: u64| {
        assert_eq!(report.status, Status::Completed, "{vendor}: {report:?}");
        assert_eq!(report.warnings_total, 0, "{vendor}: {:?}", report.warnings);
        assert!(
            grown < 64 * 1024 * 1024,
            "{vendor}: peak memory grew by {} MiB for a {} MiB file",
            grown >> 20,
            size >> 20
        );
    };
    bounded("NP6", &report, grown);
    assert_eq!(upload.bytes.load(Ordering::SeqCst), size);
    // The file's bytes as they are: its pieces' buffers are read into again once sent.
    // (Read a piece at a time: the peak memory is measured again below.)
    let mut read = std::fs::File::open(file.path()).unwrap();
    let (mut piece, mut file_digest) = (vec![0; 64 * 1024], DIGEST_START);
    loop {
        match std::io::Read::read(&mut read, &mut piece).unwrap() {
            0 => break,
            n => file_digest = digest(file_digest, &piece[..n]),
        }
    }
    assert_eq!(upload.digest.load(Ordering::SeqCst), file_digest);

    // Copernica: the file re-encoded into the JSON body as it is sent, with its length.
    let client = copernica::Client::with_auth(
        &format!("{base}/v3"),
        &copernica::Auth::AccessToken(Secret::new("copernica-token")),
        &HttpConfig::default(),
    )
    .unwrap();
    let mut options =
        ImportOptions::new(file.path(), [("email", "email"), ("city", "city")], "email");
    options.poll_interval = Duration::from_millis(10);
    let report = client
        .import(&options, &copernica::CopernicaImport::new("1"))
        .await
        .unwrap();
    bounded("Copernica", &report, peak_rss().saturating_sub(before));
    let sent = upload.bytes.load(Ordering::SeqCst);
    // The two mapped columns of every row, in a JSON string, and the request's other fields.
    assert!(
        sent > size / 2 && sent < size,
        "{sent} bytes for a {size}-byte file"
    );
}
