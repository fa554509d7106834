//! Ctrl-C (SIGINT) and SIGTERM during an import, through the binary against the sandbox: the
//! import stops sending, cleans up what is safe to clean, says what exists at the vendor (in the
//! `--json` error object too) and exits 130; the vendor's state is checked afterwards.
#![cfg(unix)]

use std::time::{Duration, Instant};

use esp_imports::Vendor;
use esp_imports_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig};
use serde_json::Value;

use crate::common::{credentials_env, import_args, secrets, BIN};

const ROWS: &str = "email,first_name\nada@example.com,Ada\nbob@example.com,Bob\n";

struct Interrupted {
    code: i32,
    stderr: String,
    json: Value,
}

/// Imports a two-row file into `vendor` with `--json`, holds its first request to `method`
/// `route` for 30 s, sends `signal` once that request reached the sandbox, and returns how the
/// command ended.
async fn interrupt(
    sandbox: &Sandbox,
    vendor: Vendor,
    (method, route): (&str, &str),
    signal: &str,
) -> Interrupted {
    sandbox.inject(
        Fault::new(FaultKind::Delay(Duration::from_secs(30)))
            .vendor(vendor)
            .method(method)
            .path_contains(route),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, ROWS).unwrap();
    let mut args = import_args(vendor, &file.to_string_lossy(), &sandbox.base_url(vendor));
    args.push("--json".into());
    let mut command = crate::common::command(&args);
    command
        .envs(credentials_env())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = child.id().unwrap().to_string();
    let started = Instant::now();
    let reached = |sandbox: &Sandbox| {
        sandbox
            .hits()
            .keys()
            .any(|(v, r)| *v == vendor && r.starts_with(method) && r.contains(route))
    };
    while !reached(sandbox) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{route} was never reached"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let killed = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .expect("the import ends soon after the signal")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for secret in secrets() {
        assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    }
    Interrupted {
        code: output.status.code().unwrap_or(-1),
        json: serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: one JSON object expected, got {stdout:?}; {stderr}")),
        stderr,
    }
}

fn hits(sandbox: &Sandbox, vendor: Vendor, method: &str, route: &str) -> u64 {
    sandbox
        .hits()
        .iter()
        .filter(|((v, r), _)| *v == vendor && r.starts_with(method) && r.contains(route))
        .map(|(_, n)| n)
        .sum()
}

#[tokio::test]
async fn np6_interrupted_mid_upload_deletes_its_import() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let run = interrupt(
        &sandbox,
        Vendor::Mailperformance,
        ("PUT", "/source"),
        "-INT",
    )
    .await;
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(run.stderr.contains("interrupted"), "{}", run.stderr);
    let state = run.json["import_state"].as_str().unwrap_or_default();
    assert!(state.contains("deleted"), "{}", run.json);
    assert_eq!(run.json["exit_code"], 130);
    assert_eq!(
        hits(&sandbox, Vendor::Mailperformance, "DELETE", "/imports/"),
        1
    );
    assert_eq!(
        hits(&sandbox, Vendor::Mailperformance, "POST", "/executions"),
        0
    );
}

#[tokio::test]
async fn eloqua_interrupted_mid_staging_deletes_the_staged_data() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let run = interrupt(&sandbox, Vendor::Eloqua, ("POST", "/data"), "-INT").await;
    assert_eq!(run.code, 130, "{}", run.stderr);
    let state = run.json["import_state"].as_str().unwrap_or_default();
    assert!(
        state.contains("deleted with its staged data"),
        "{}",
        run.json
    );
    assert!(
        run.json["import_id"]
            .as_str()
            .unwrap()
            .starts_with("/contacts/imports/"),
        "{}",
        run.json
    );
    assert_eq!(hits(&sandbox, Vendor::Eloqua, "DELETE", "/data"), 1);
    assert_eq!(hits(&sandbox, Vendor::Eloqua, "POST", "/syncs"), 0);
}

/// Copernica takes the data in the request that creates the import: interrupted while it is in
/// flight, the import may exist, and the error says so.
#[tokio::test]
async fn copernica_interrupted_while_creating_says_it_may_exist() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let run = interrupt(&sandbox, Vendor::Copernica, ("POST", "/imports"), "-TERM").await;
    assert_eq!(run.code, 130, "{}", run.stderr);
    let error = run.json["error"].as_str().unwrap();
    assert!(
        error.contains("interrupted") && error.contains("may have been created"),
        "{}",
        run.json
    );
}

/// SIGTERM as Ctrl-C: a Mindbaz scheduleNow in flight may have created the import.
#[tokio::test]
async fn mindbaz_terminated_while_scheduling_says_it_may_exist() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let run = interrupt(&sandbox, Vendor::Mindbaz, ("POST", "scheduleNow"), "-TERM").await;
    assert_eq!(run.code, 130, "{}", run.stderr);
    assert!(
        run.json["error"]
            .as_str()
            .unwrap()
            .contains("may have been created"),
        "{}",
        run.json
    );
}

/// `esp-imports sandbox`: its SFTP directory (contact files) is private, and removed on SIGTERM
/// as on Ctrl-C; a port that leaves no room for the four emulators is refused.
#[tokio::test]
async fn the_sandbox_keeps_its_files_private_and_removes_them_on_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    use tokio::io::AsyncBufReadExt;

    let refused = tokio::process::Command::new(BIN)
        .args(["sandbox", "--listen", "127.0.0.1:65534"])
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("leaves no room"), "{stderr}");

    let mut child = tokio::process::Command::new(BIN)
        .args(["sandbox", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut sftp_dir = None;
    while let Some(line) = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        if let Some((_, dir)) = line.split_once("SFTP directory: ") {
            sftp_dir = Some(std::path::PathBuf::from(dir.trim()));
        }
        if line.trim_start().starts_with("eloqua") {
            break;
        }
    }
    let sftp_dir = sftp_dir.expect("the banner names the SFTP directory");
    let mode = std::fs::metadata(&sftp_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "{}", sftp_dir.display());
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(!sftp_dir.exists(), "{} was not removed", sftp_dir.display());
}
