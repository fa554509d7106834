//! Answers are read up to a limit (`HttpConfig::max_response_bytes`; error answers: their first
//! 64 KiB): a loopback server that answers an endless body, with a success or an error status,
//! gets a clear error back, quickly, and stops being read.

use std::{
    io::Write,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use esp_imports::copernica::{self, Client, CopernicaImport};
use esp_imports::{Error, HttpConfig, ImportOptions, RetryPolicy, Secret};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{credentials_env, BIN};

/// A server on loopback that answers every request with `status` and a body of JSON
/// whitespace: endless and chunked, or of `length` bytes given by a `Content-Length`; counts
/// the body bytes it could send.
async fn serve(status: u16, length: Option<u64>) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                // The request's head (the bodies sent here are small enough to be left).
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let framing = match length {
                    Some(length) => format!("content-length: {length}"),
                    None => "transfer-encoding: chunked".to_owned(),
                };
                let answer = format!(
                    "HTTP/1.1 {status} Whatever\r\ncontent-type: application/json\r\n\
                     {framing}\r\n\r\n"
                );
                if socket.write_all(answer.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = [b' '; 1 << 16];
                if let Some(length) = length {
                    let mut left = length;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64);
                        if socket.write_all(&chunk[..n as usize]).await.is_err() {
                            return;
                        }
                        counter.fetch_add(n, Ordering::Relaxed);
                        left -= n;
                    }
                    return;
                }
                let size = format!("{:x}\r\n", chunk.len());
                loop {
                    let written = async {
                        socket.write_all(size.as_bytes()).await?;
                        socket.write_all(&chunk).await?;
                        socket.write_all(b"\r\n").await
                    };
                    if written.await.is_err() {
                        return; // the client stopped reading and closed
                    }
                    counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                }
            });
        }
    });
    (url, sent)
}

fn csv_file() -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".csv").tempfile().unwrap();
    file.write_all(b"email,name\nann@example.com,Ann\n")
        .unwrap();
    file
}

/// A Copernica import into a database given by name: its first request looks the name up.
async fn import(url: &str, max_response_bytes: u64) -> (Result<(), Error>, Duration) {
    let config = HttpConfig::default()
        .with_max_response_bytes(max_response_bytes)
        .with_retry(RetryPolicy::never())
        .with_request_timeout(Duration::from_secs(30));
    let client = Client::with_auth(
        url,
        &copernica::Auth::AccessToken(Secret::new("t0ken")),
        &config,
    )
    .unwrap();
    let file = csv_file();
    let options = ImportOptions::new(file.path(), [("email", "Email")], "email");
    let started = Instant::now();
    let result = client
        .import(&options, &CopernicaImport::new("contacts"))
        .await
        .map(drop);
    (result, started.elapsed())
}

#[tokio::test]
async fn an_endless_answer_fails_at_the_limit() {
    let (url, sent) = serve(200, None).await;
    let (result, took) = import(&url, 1 << 20).await;
    let e = result.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    let text = e.report().to_string();
    assert!(
        text.contains("the answer is larger than 1048576 bytes"),
        "{text}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    // The client stopped reading: the server could not send much past the limit (what the
    // sockets' buffers hold).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent < 32 << 20, "{sent} bytes sent");
}

/// An answer whose `Content-Length` is over the limit is refused the same way (one within it is
/// read unwrapped: every other test).
#[tokio::test]
async fn a_declared_answer_over_the_limit_fails_at_the_limit() {
    let (url, _) = serve(200, Some(4 << 20)).await;
    let (result, took) = import(&url, 1 << 20).await;
    let e = result.unwrap_err();
    assert!(matches!(e, Error::Transport { .. }), "{e:?}");
    let text = e.report().to_string();
    assert!(
        text.contains("the answer is larger than 1048576 bytes"),
        "{text}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[tokio::test]
async fn an_endless_error_answer_is_read_only_for_its_excerpt() {
    let (url, sent) = serve(400, None).await;
    let (result, took) = import(&url, 1 << 30).await;
    let e = result.unwrap_err();
    let Error::Api(api) = &e else { panic!("{e:?}") };
    assert_eq!(api.status, 400);
    assert!(took < Duration::from_secs(10), "took {took:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent = sent.load(Ordering::Relaxed);
    assert!(sent < 32 << 20, "{sent} bytes sent");
}

/// Through the CLI, with the default limit (64 MiB): exit 4 and the reason on stderr.
#[tokio::test]
async fn the_cli_says_the_answer_was_too_large() {
    let (url, _) = serve(200, None).await;
    let file = csv_file();
    let output = tokio::process::Command::new(BIN)
        .args(["import", "copernica", "--file"])
        .arg(file.path())
        .args(["--base-url", &url, "--key", "email", "--map", "email=Email"])
        .args(["--database", "contacts"])
        .envs(credentials_env())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the CLI gives up on its own")
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(!stderr.contains("no answer"), "{stderr}");
    assert!(
        stderr.contains("the answer is larger than 67108864 bytes"),
        "{stderr}"
    );
}
