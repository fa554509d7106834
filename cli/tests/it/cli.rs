//! The `esp-imports` binary end to end against the sandbox (started in this test process on
//! loopback): `--json` reports, every exit code provoked, zero requests for bad input, and no
//! credential in anything the CLI prints.

use std::{path::Path, process::Output};

use esp_imports::Vendor;
use esp_imports_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig};
use serde_json::Value;

use crate::common::{code, credentials_env, stderr};

/// Runs the binary with `args` and `env` (and nothing else of ours in its environment), at
/// debug log level, and checks that no credential appears in what it printed.
async fn run(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut command = crate::common::command(args);
    for (name, value) in env {
        command.env(name, value);
    }
    crate::common::output(command, &[]).await
}

/// The one JSON object on stdout.
pub(crate) fn json(output: &Output) -> Value {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines().filter(|l| !l.trim().is_empty());
    let object = lines
        .next()
        .unwrap_or_else(|| panic!("no JSON on stdout; stderr: {}", stderr(output)));
    assert!(lines.next().is_none(), "exactly one JSON object: {stdout}");
    serde_json::from_str(object).unwrap()
}

fn csv(dir: &Path, rows: &[&str]) -> String {
    let file = dir.join("contacts.csv");
    let mut text = String::from("email,first_name,city\n");
    for row in rows {
        text.push_str(row);
        text.push('\n');
    }
    std::fs::write(&file, text).unwrap();
    file.to_string_lossy().into_owned()
}

const ROWS: [&str; 4] = [
    "ada@example.com,Ada,Lille",
    "bob@example.com,Bob,Lens",
    "not-an-email,Eve,Paris",
    "dan@example.com,Dan,Gent",
];

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

fn eloqua_args<'a>(sandbox_url: &'a str, file: &'a str) -> Vec<&'a str> {
    vec![
        "import",
        "eloqua",
        "--file",
        file,
        "--base-url",
        sandbox_url,
        "--key",
        "email",
        "--map",
        "email=C_EmailAddress",
        "--map",
        "first_name=C_FirstName",
        "--json",
        "--poll-interval",
        "0.05",
    ]
}

#[tokio::test]
async fn eloqua_json_report_and_exit_0() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    let url = sandbox.base_url(Vendor::Eloqua);
    let output = run(&eloqua_args(&url, &file), &credentials_env()).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["vendor"], "eloqua");
    assert_eq!(report["status"], "completed_with_errors");
    assert_eq!(report["rows_total"], 4);
    assert_eq!(report["rows_imported"], 3);
    assert_eq!(report["rows_rejected"], 1);
    assert_eq!(report["rejects"][0]["row"], 4);
    assert!(report["rejects"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("Invalid email"));
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "import_id",
            "mapping",
            "messages",
            "rejects",
            "rows_imported",
            "rows_not_sent",
            "rows_rejected",
            "rows_total",
            "status",
            "vendor",
            "warnings",
            "warnings_total"
        ]
    );
    assert_eq!(sandbox.contacts(Vendor::Eloqua).len(), 3);
}

#[tokio::test]
async fn mindbaz_remote_file_readable_summary_and_a_failed_import_exits_1() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    std::fs::copy(&file, sandbox.mindbaz_sftp_dir().join("contacts.csv")).unwrap();
    let url = sandbox.base_url(Vendor::Mindbaz);
    let args = |remote: &'static str| {
        vec![
            "import".to_owned(),
            "mindbaz".into(),
            "--file".into(),
            file.clone(),
            "--base-url".into(),
            url.clone(),
            "--key".into(),
            "email".into(),
            "--map".into(),
            "email=fld1".into(),
            "--map".into(),
            "city=fld4".into(),
            "--site".into(),
            "7".into(),
            "--remote-file".into(),
            remote.into(),
            "--notify".into(),
            "ops@example.com".into(),
            "--poll-interval".into(),
            "0.05".into(),
        ]
    };
    let ok = args("contacts.csv");
    let output = run(
        &ok.iter().map(String::as_str).collect::<Vec<_>>(),
        &credentials_env(),
    )
    .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Mindbaz: import"), "{stdout}");
    assert!(
        stdout.contains("4 in the file, 3 imported, 1 rejected"),
        "{stdout}"
    );

    // A file in a sub-directory without its `errors/` twin: Mindbaz fails the import (state 5).
    std::fs::create_dir(sandbox.mindbaz_sftp_dir().join("sub")).unwrap();
    std::fs::copy(&file, sandbox.mindbaz_sftp_dir().join("sub/contacts.csv")).unwrap();
    let failing = args("sub/contacts.csv");
    let output = run(
        &failing.iter().map(String::as_str).collect::<Vec<_>>(),
        &credentials_env(),
    )
    .await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("failed"));
}

/// A failed import says why, on stderr and in the JSON's `messages`, even with `--json`.
#[tokio::test]
async fn a_failed_np6_execution_says_why_with_json() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    let url = sandbox.base_url(Vendor::Mailperformance);
    // No column bound to NP6's unicity field (1234, Email): the execution ends in state 2.
    let args = [
        "import",
        "mailperformance",
        "--file",
        &file,
        "--base-url",
        &url,
        "--key",
        "email",
        "--map",
        "email=1235",
        "--json",
        "--poll-interval",
        "0.05",
    ];
    let output = run(&args, &credentials_env()).await;
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let report = json(&output);
    assert_eq!(report["status"], "failed");
    let messages = report["messages"].as_array().unwrap();
    assert!(
        messages[0].as_str().unwrap().contains("state 2"),
        "{messages:?}"
    );
    let stderr = stderr(&output);
    let reason = format!(
        "error: NP6 MailPerformance import {} failed: NP6 ended the execution in error (state 2)",
        report["import_id"].as_str().unwrap()
    );
    assert!(stderr.contains(&reason), "{stderr}");
}

/// A vendor refusing the request (a 4xx other than 401/403/408/429) is the import failing at
/// the vendor (exit 1), with the vendor's message, or when it gives none, what was sent that it
/// could refuse.
#[tokio::test]
async fn vendor_refusals_exit_1_with_the_reason() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    let (np6, cop, mindbaz) = (
        sandbox.base_url(Vendor::Mailperformance),
        sandbox.base_url(Vendor::Copernica),
        sandbox.base_url(Vendor::Mindbaz),
    );
    let cases: [(Vec<&str>, &str); 3] = [
        (
            // A field id the account does not have, sent without the pre-flight that would
            // have refused it: NP6 answers 400 with an empty body.
            vec![
                "import",
                "mailperformance",
                "--base-url",
                &np6,
                "--map",
                "email=1",
                "--no-preflight",
            ],
            "refused without a reason; NP6 may refuse the binding",
        ),
        (
            vec![
                "import",
                "copernica",
                "--base-url",
                &cop,
                "--database",
                "999",
                "--map",
                "email=email",
            ],
            "No entity with supplied ID",
        ),
        (
            vec![
                "import",
                "mindbaz",
                "--base-url",
                &mindbaz,
                "--site",
                "7",
                "--notify",
                "ops@example.com",
                "--remote-file",
                "not-there.csv",
                "--map",
                "email=fld1",
            ],
            "file not found",
        ),
    ];
    for (mut args, reason) in cases {
        args.extend([
            "--file",
            &file,
            "--key",
            "email",
            "--json",
            "--poll-interval",
            "0.05",
        ]);
        let output = run(&args, &credentials_env()).await;
        assert_eq!(code(&output), 1, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(reason),
            "{args:?}: {}",
            stderr(&output)
        );
        let error = json(&output);
        assert_eq!(error["exit_code"], 1);
        assert!(
            error["error"].as_str().unwrap().contains(reason),
            "{args:?}: {error}"
        );
    }
    // A field id the account does not have: sent without the pre-flight, NP6 refuses it; with
    // the pre-flight (the default), the field list says it before anything is created.
    for (more, exit, says) in [
        (Some("--no-preflight"), 1, "field ids 1"),
        (
            None,
            2,
            "`email=1`: NP6 MailPerformance: no field has this name or id (the closest: Email (1234)",
        ),
    ] {
        let mut args = vec![
            "import",
            "mailperformance",
            "--base-url",
            &np6,
            "--map",
            "email=1",
            "--file",
            &file,
            "--key",
            "email",
        ];
        args.extend(more);
        let output = run(&args, &credentials_env()).await;
        assert_eq!(code(&output), exit, "{}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
}

/// Arguments, environment, and what stderr must say.
type Case<'a> = (Vec<&'a str>, Vec<(&'a str, String)>, &'a str);

#[tokio::test]
async fn bad_input_exits_2_and_sends_nothing() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    let ragged = dir.path().join("ragged.csv");
    std::fs::write(&ragged, "email,city\na@example.com,Lille\nb@example.com\n").unwrap();
    let ragged = ragged.to_string_lossy().into_owned();
    let url = sandbox.base_url(Vendor::Eloqua);
    let env = credentials_env();
    let cases: Vec<Case> = vec![
        (
            vec![
                "import",
                "eloqua",
                "--file",
                "/no/such/file.csv",
                "--base-url",
                &url,
                "--key",
                "email",
                "--map",
                "email=C_EmailAddress",
            ],
            env.clone(),
            "/no/such/file.csv",
        ),
        (
            vec![
                "import",
                "eloqua",
                "--file",
                &file,
                "--base-url",
                &url,
                "--key",
                "email",
                "--map",
                "email",
            ],
            env.clone(),
            "--map `email`: expected COLUMN=FIELD",
        ),
        (
            vec![
                "import",
                "eloqua",
                "--file",
                &file,
                "--base-url",
                &url,
                "--key",
                "email",
                "--map",
                "phone=C_MobilePhone",
                "--map",
                "email=C_EmailAddress",
            ],
            env.clone(),
            "column `phone`",
        ),
        (
            vec![
                "import",
                "eloqua",
                "--file",
                &ragged,
                "--base-url",
                &url,
                "--key",
                "email",
                "--map",
                "email=C_EmailAddress",
            ],
            env.clone(),
            "line 3: 1 fields, the header has 2",
        ),
        (
            vec![
                "import",
                "eloqua",
                "--file",
                &file,
                "--base-url",
                &url,
                "--key",
                "email",
                "--map",
                "email=C_EmailAddress",
            ],
            env.iter()
                .filter(|(n, _)| *n != "ELOQUA_PASSWORD")
                .cloned()
                .collect(),
            "ELOQUA_PASSWORD",
        ),
        (
            vec![
                "import",
                "eloqua",
                "--file",
                &file,
                "--base-url",
                "http://eloqua.example.com/api/bulk/2.0",
                "--key",
                "email",
                "--map",
                "email=C_EmailAddress",
            ],
            env.clone(),
            "plain http",
        ),
        (
            vec![
                "import",
                "copernica",
                "--file",
                &file,
                "--base-url",
                &url,
                "--key",
                "email",
                "--map",
                "email=email",
            ],
            env.clone(),
            "--database",
        ),
        (
            vec!["import", "eloqua", "--file", &file],
            env.clone(),
            "--key",
        ),
    ];
    for (args, env, expected) in cases {
        let output = run(&args, &env).await;
        assert_eq!(code(&output), 2, "{args:?}: {}", stderr(&output));
        assert!(
            stderr(&output).contains(expected),
            "{args:?}: expected `{expected}` in {}",
            stderr(&output)
        );
    }
    assert!(
        sandbox.hits().is_empty(),
        "requests reached the sandbox: {:?}",
        sandbox.hits()
    );
}

#[tokio::test]
async fn wrong_credentials_exit_3() {
    let sandbox = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    let url = sandbox.base_url(Vendor::Eloqua);
    let mut env = credentials_env();
    env.retain(|(n, _)| *n != "ELOQUA_PASSWORD");
    env.push(("ELOQUA_PASSWORD", "wrong-password-123".into()));
    let output = run(&eloqua_args(&url, &file), &env).await;
    assert_eq!(code(&output), 3, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("credentials rejected"),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains("wrong-password-123"));
    assert!(json(&output)["error"].as_str().unwrap().contains("401"));
}

#[tokio::test]
async fn server_errors_after_retries_and_unreachable_hosts_exit_4() {
    let sandbox = sandbox().await;
    sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 500,
            retry_after: None,
            body: "<html>Internal error</html>".into(),
        })
        .vendor(Vendor::Eloqua)
        .method("POST")
        .path_contains("/contacts/imports")
        .times(10),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = csv(dir.path(), &ROWS);
    let url = sandbox.base_url(Vendor::Eloqua);
    let output = run(&eloqua_args(&url, &file), &credentials_env()).await;
    assert_eq!(code(&output), 4, "{}", stderr(&output));
    assert!(stderr(&output).contains("HTTP 500"), "{}", stderr(&output));
    let hits = sandbox.hits();
    assert_eq!(
        hits[&(
            Vendor::Eloqua,
            "POST /api/bulk/2.0/contacts/imports".to_owned()
        )],
        1,
        "a 500 is not retried"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/api/bulk/2.0");
    let output = run(&eloqua_args(&url, &file), &credentials_env()).await;
    assert_eq!(code(&output), 4, "{}", stderr(&output));
}

#[tokio::test]
async fn spec_prints_the_bundled_yaml() {
    let output = run(&["spec", "mindbaz"], &[]).await;
    assert_eq!(code(&output), 0);
    let yaml = String::from_utf8(output.stdout).unwrap();
    assert!(yaml.starts_with("openapi: 3.0.3"), "{yaml}");
    assert!(yaml.contains("scheduleNow"));
}

#[tokio::test]
async fn demo_imports_into_all_four_and_the_numbers_match_the_input() {
    let output = run(&["demo", "--rows", "1000"], &[]).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = |vendor: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(vendor))
            .unwrap_or_else(|| panic!("no {vendor} row in:\n{stdout}"))
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .skip(1)
            .collect::<Vec<_>>()
    };
    // 1000 rows, 2 of them with an invalid e-mail (lines 251 and 751).
    assert_eq!(
        row("NP6 MailPerformance")[1..],
        ["completed", "1000", "n/a", "n/a", "2"]
    );
    assert_eq!(
        row("Copernica")[1..],
        ["completed with errors", "1000", "n/a", "n/a", "2"]
    );
    assert_eq!(
        row("Mindbaz")[1..],
        ["completed with errors", "1000", "998", "2", "2"]
    );
    assert_eq!(
        row("Eloqua")[1..],
        ["completed with errors", "1000", "998", "2", "2"]
    );
    assert!(
        stdout.contains("Eloqua: 2 rejected rows, e.g. line 251: Invalid email address."),
        "{stdout}"
    );
    // The pre-flight saw them before sending, for every vendor (NP6 and Copernica count no
    // rejects).
    for vendor in ["NP6 MailPerformance", "Copernica", "Mindbaz", "Eloqua"] {
        let said = format!("{vendor}: the pre-flight warned of 2 values before sending, e.g. line 251, column `email`");
        assert!(stdout.contains(&said), "{said} in:\n{stdout}");
    }
}
