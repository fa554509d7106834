//! `esp-imports status` against the sandbox (started in this test process on loopback): for
//! each vendor, an import started with `--no-wait` is read once (still running, one request),
//! then followed to its end with `--wait`, and reported with the figures of a waited import;
//! a malformed id or a missing flag exits 2 before any request. No credential is printed
//! (`common::output` checks it).

use std::process::Output;

use esp_imports::Vendor;
use esp_imports_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::{
    cli::json,
    common::{code, import_args, stderr},
};

async fn run(args: &[String]) -> Output {
    crate::common::run_as_user(args).await
}

/// `esp-imports status VENDOR ID` at the sandbox, with `more` flags.
fn status_args(sandbox: &Sandbox, vendor: Vendor, id: &str, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "status",
        vendor.slug(),
        id,
        "--base-url",
        &sandbox.base_url(vendor),
    ]
    .map(String::from)
    .to_vec();
    if vendor == Vendor::Mindbaz {
        args.extend(["--site".into(), "7".into()]);
    }
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

const CSV: &str = "email,first_name\nada@example.com,Ada\nnot-an-email,Eve\nbob@example.com,Bob\n";

/// An import into `vendor` with `--wait`'s figures, then one with `--no-wait` read by
/// `status` (once: still running; then `--wait`: ended, with the same figures).
async fn follow_later(vendor: Vendor) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, CSV).unwrap();
    std::fs::write(sandbox.mindbaz_sftp_dir().join("contacts.csv"), CSV).unwrap();
    let import = import_args(vendor, &file.to_string_lossy(), &sandbox.base_url(vendor));

    // The reference: an import followed to its end.
    let waited = run(&[import.clone(), vec!["--json".into()]].concat()).await;
    assert_eq!(code(&waited), 0, "{}", stderr(&waited));
    let waited = json(&waited);

    let submitted = run(&[import, vec!["--json".into(), "--no-wait".into()]].concat()).await;
    assert_eq!(code(&submitted), 0, "{}", stderr(&submitted));
    let submitted = json(&submitted);
    assert_eq!(submitted["status"], "submitted", "{submitted}");
    let id = submitted["import_id"].as_str().unwrap().to_owned();

    // Read once: one request, and the import still runs (the sandbox keeps each state for a
    // poll).
    let before = sandbox.total_hits(vendor);
    let once = run(&status_args(&sandbox, vendor, &id, &["--json"])).await;
    assert_eq!(code(&once), 0, "{}", stderr(&once));
    assert_eq!(
        sandbox.total_hits(vendor),
        before + 1,
        "{:?}",
        sandbox.hits()
    );
    let once = json(&once);
    assert_eq!(once["vendor"], vendor.slug());
    assert_eq!(once["import_id"], id.as_str());
    assert_eq!(once["status"], "submitted", "{once}");
    assert_eq!(once["rows_total"], Value::Null, "no file here: {once}");
    let message = once["messages"][0].as_str().unwrap();
    assert!(message.starts_with("still running at "), "{once}");

    // Followed to its end: the waited import's figures (but the file's row count, and for
    // Eloqua the imported rows, which are counted from the file).
    let ended = run(&status_args(
        &sandbox,
        vendor,
        &id,
        &["--wait", "--json", "--poll-interval", "0.05"],
    ))
    .await;
    assert_eq!(code(&ended), 0, "{}", stderr(&ended));
    let ended = json(&ended);
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&ended), keys(&waited), "the shape of `import --json`");
    assert_ne!(ended["status"], "submitted", "{ended}");
    for key in ["vendor", "status", "rows_rejected", "rejects"] {
        assert_eq!(ended[key], waited[key], "{key}: {ended} vs {waited}");
    }
    assert_eq!(ended["import_id"], id.as_str());
    assert_eq!(ended["rows_total"], Value::Null);
    match vendor {
        Vendor::Eloqua => assert_eq!(ended["rows_imported"], Value::Null, "{ended}"),
        _ => assert_eq!(ended["rows_imported"], waited["rows_imported"], "{ended}"),
    }

    // The readable report of the ended import, as `import` prints it.
    let readable = run(&status_args(&sandbox, vendor, &id, &[])).await;
    assert_eq!(code(&readable), 0, "{}", stderr(&readable));
    let stdout = String::from_utf8_lossy(&readable.stdout);
    let status = ended["status"].as_str().unwrap().replace('_', " ");
    assert!(
        stdout.starts_with(&format!("{vendor}: import {id} {status}\n")),
        "{stdout}"
    );
}

#[tokio::test]
async fn np6_import_followed_later() {
    follow_later(Vendor::Mailperformance).await;
}

#[tokio::test]
async fn copernica_import_followed_later() {
    follow_later(Vendor::Copernica).await;
}

#[tokio::test]
async fn mindbaz_import_followed_later() {
    follow_later(Vendor::Mindbaz).await;
}

#[tokio::test]
async fn eloqua_import_followed_later() {
    follow_later(Vendor::Eloqua).await;
}

/// A malformed id, or a missing or misplaced flag: exit 2 naming it, no request (Eloqua's pod
/// is not discovered either).
#[tokio::test]
async fn bad_input_exits_2_before_any_request() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let login = sandbox.eloqua_login_url();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            status_args(&sandbox, Vendor::Mailperformance, "12x", &[]),
            "invalid import id: `12x`: an NP6 import id is a number from 1",
        ),
        (
            status_args(&sandbox, Vendor::Copernica, "0", &[]),
            "invalid import id: `0`: a Copernica import id is a number from 1",
        ),
        (
            status_args(&sandbox, Vendor::Mindbaz, "1.5", &[]),
            "invalid import id: `1.5`: a Mindbaz import id is a number from 1",
        ),
        (
            status_args(&sandbox, Vendor::Eloqua, "1200", &[]),
            "invalid import id: `1200`: an Eloqua import id is the sync's URI",
        ),
        (
            ["status", "eloqua", "/syncs/x", "--login-url", &login]
                .map(String::from)
                .to_vec(),
            "invalid import id: `/syncs/x`: an Eloqua import id is the sync's URI",
        ),
        (
            [
                "status",
                "mindbaz",
                "3",
                "--base-url",
                &sandbox.base_url(Vendor::Mindbaz),
            ]
            .map(String::from)
            .to_vec(),
            "mindbaz needs --site ID",
        ),
        (
            status_args(&sandbox, Vendor::Copernica, "3", &["--site", "7"]),
            "--site is for mindbaz, not copernica",
        ),
        (
            status_args(&sandbox, Vendor::Mailperformance, "3", &["--timeout", "0"]),
            "--timeout 0: give a positive number of seconds",
        ),
    ];
    for (args, message) in cases {
        let output = run(&args).await;
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(message),
            "{args:?}: {}",
            stderr(&output)
        );
        // With --json, the error as `import --json` gives it.
        let output = run(&[args.clone(), vec!["--json".into()]].concat()).await;
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        let error = json(&output);
        assert_eq!(error["exit_code"], 2);
        assert!(
            error["error"].as_str().unwrap().contains(message),
            "{error}"
        );
    }
    for vendor in Vendor::ALL {
        assert_eq!(sandbox.total_hits(vendor), 0, "{:?}", sandbox.hits());
    }
}

/// An import the vendor does not have: its refusal, not a claim that nothing was created.
#[tokio::test]
async fn an_unknown_import_is_the_vendors_refusal() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let output = run(&status_args(
        &sandbox,
        Vendor::Mailperformance,
        "424242",
        &[],
    ))
    .await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(stderr.contains("404"), "{stderr}");
    assert!(!stderr.contains("no import created"), "{stderr}");
}
