//! The fault matrix: the `esp-imports` binary against the sandbox (started in this process on
//! loopback), one import per case with faults injected into the vendor's answers (429 with and
//! without `Retry-After`, 5xx bursts within and beyond the retry budget, a reset mid-upload, an
//! answer lost after the vendor did the work, a slow answer past the request timeout, a whole
//! import past `--timeout`, truncated JSON, an HTML error page, 401/404 half-way (404: a refusal,
//! exit 1), NP6's empty 409). Each case checks:
//!
//! - the exact requests each route received (`Sandbox::hits`, ids written `{id}`): what was
//!   retried and what was not;
//! - the exit code and the `--json` report or error;
//! - that no row is unaccounted for: on success the vendor processed every row of the file
//!   once and the report's counts add up; on failure the error says where the import stands
//!   (its id and state, or that it may have been created);
//! - that nothing was created twice (imports, executions, syncs counted at the vendor);
//! - that nothing printed, at `RUST_LOG=debug`, holds a credential.
//!
//! All cases run (a few at a time) and every failure is reported at the end.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Output,
    time::{Duration, Instant},
};

use esp_imports::Vendor;
use esp_imports_sandbox::{Credentials, Fault, FaultKind, Sandbox, SandboxConfig};
use futures::StreamExt as _;
use serde_json::Value;

use crate::common::{credentials_env, secrets, BIN};

/// Data rows in the file; the one on [`BAD_LINE`] has an invalid e-mail.
const ROWS: u64 = 1000;
const BAD_LINE: u64 = 501;
/// Where `ResetMidBody` cuts an upload: well inside the file (about 35 kB).
const CUT: usize = 16 * 1024;
const SITE: &str = "7";
/// The state of an import that failed before anything was created.
const NOTHING_CREATED: &str = "no import created: no row imported";

fn write_file(dir: &Path) -> PathBuf {
    let mut text = String::from("email,first_name,city\n");
    for i in 1..=ROWS {
        if i + 1 == BAD_LINE {
            text.push_str("not-an-email,Eve,Paris\n");
        } else {
            text.push_str(&format!("user{i:04}@example.com,First{i},City{}\n", i % 17));
        }
    }
    let path = dir.join("contacts.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// One case of the matrix.
struct Case {
    name: &'static str,
    vendor: Vendor,
    /// Run the same import once, fault-free, before the faults are injected (hits and counts
    /// are then those of the second run).
    warm_up: bool,
    faults: Vec<FaultKind>,
    /// Method and path fragment the faults apply to.
    target: (&'static str, &'static str),
    /// `times` of each fault.
    times: u32,
    /// More CLI arguments.
    args: Vec<&'static str>,
    /// The exit code.
    code: i32,
    /// Every route's hits (ids as `{id}`): the vendor's fault-free run, changed by these.
    hits: Vec<(&'static str, i64)>,
    /// Imports (NP6 imports, Copernica imports run, Mindbaz imports, Eloqua syncs) that exist
    /// at the vendor after the run, `None` when it cannot be known (a request still running at
    /// the vendor after the client gave up).
    created: Option<u64>,
    /// Text that stdout + stderr must hold.
    says: Vec<&'static str>,
    /// The `import_state` of the `--json` error must hold this (failures half-way).
    state: Option<&'static str>,
}

impl Case {
    fn new(name: &'static str, vendor: Vendor) -> Self {
        Self {
            name,
            vendor,
            warm_up: false,
            faults: Vec::new(),
            target: ("", ""),
            times: 1,
            args: Vec::new(),
            code: 0,
            hits: Vec::new(),
            created: Some(1),
            says: Vec::new(),
            state: None,
        }
    }

    fn fault(mut self, method: &'static str, path: &'static str, kind: FaultKind) -> Self {
        self.target = (method, path);
        self.faults.push(kind);
        self
    }

    fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    fn args(mut self, args: &[&'static str]) -> Self {
        self.args.extend(args);
        self
    }

    fn warm_up(mut self) -> Self {
        self.warm_up = true;
        self
    }

    /// Fails with `code`.
    fn fails(mut self, code: i32) -> Self {
        self.code = code;
        self
    }

    fn hits(mut self, changes: &[(&'static str, i64)]) -> Self {
        self.hits.extend(changes);
        self
    }

    fn created(mut self, created: Option<u64>) -> Self {
        self.created = created;
        self
    }

    fn says(mut self, text: &[&'static str]) -> Self {
        self.says.extend(text);
        self
    }

    fn state(mut self, state: &'static str) -> Self {
        self.state = Some(state);
        self
    }
}

fn status(code: u16, retry_after: Option<u32>, body: &str) -> FaultKind {
    FaultKind::Status {
        code,
        retry_after,
        body: body.into(),
    }
}

const HTML_502: &str =
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>";

/// Each vendor's routes on a fault-free run of the file (`polls_per_state` 1).
fn happy_hits(vendor: Vendor) -> BTreeMap<String, i64> {
    let routes: &[(&str, i64)] = match vendor {
        // Each import reads the vendor's field list first (the pre-flight).
        Vendor::Mailperformance => &[
            ("GET /fields", 1),
            ("POST /importFormats", 1),
            ("POST /imports", 1),
            ("PUT /imports/{id}/source", 1),
            ("POST /imports/{id}/executions", 1),
            ("GET /imports/{id}/executions", 2),
        ],
        Vendor::Copernica => &[
            ("GET /v3/database/{id}/fields", 1),
            ("GET /v3/database/{id}/collections", 1),
            ("GET /v3/collection/{id}/fields", 1),
            ("POST /v3/imports", 1),
            ("GET /v3/import/{id}", 3),
        ],
        Vendor::Mindbaz => &[
            ("GET /api/{id}/fields/list", 1),
            ("POST /api/{id}/imports/scheduleNow", 1),
            ("GET /api/{id}/imports/{id}", 3),
        ],
        Vendor::Eloqua => &[
            ("GET /api/bulk/2.0/contacts/fields", 1),
            ("POST /api/bulk/2.0/contacts/imports", 1),
            ("POST /api/bulk/2.0/contacts/imports/{id}/data", 1),
            ("POST /api/bulk/2.0/syncs", 1),
            ("GET /api/bulk/2.0/syncs/{id}", 3),
            ("GET /api/bulk/2.0/syncs/{id}/logs", 1),
            ("GET /api/bulk/2.0/syncs/{id}/rejects", 1),
            ("DELETE /api/bulk/2.0/contacts/imports/{id}/data", 1),
        ],
        _ => unreachable!("a vendor this matrix does not know: {vendor}"),
    };
    routes.iter().map(|(r, n)| (r.to_string(), *n)).collect()
}

/// The hits of one vendor, numeric path segments written `{id}`.
fn hits(sandbox: &Sandbox, vendor: Vendor) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for ((v, route), n) in sandbox.hits() {
        if v != vendor {
            continue;
        }
        let route = route
            .split('/')
            .map(|s| {
                if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                    "{id}"
                } else {
                    s
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        *out.entry(route).or_default() += n as i64;
    }
    out
}

fn args(vendor: Vendor, sandbox: &Sandbox, file: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "import".into(),
        vendor.slug().into(),
        "--file".into(),
        file.into(),
        "--base-url".into(),
        sandbox.base_url(vendor),
        "--key".into(),
        "email".into(),
        "--json".into(),
        "--poll-interval".into(),
        "0.05".into(),
    ];
    let more: &[&str] = match vendor {
        Vendor::Mailperformance => &["--map", "email=1234", "--map", "city=5678"],
        Vendor::Copernica => &[
            "--database",
            "1",
            "--map",
            "email=email",
            "--map",
            "first_name=firstname",
        ],
        Vendor::Mindbaz => &[
            "--map",
            "email=fld1",
            "--map",
            "city=fld4",
            "--site",
            SITE,
            "--remote-file",
            "contacts.csv",
            "--notify",
            "ops@example.com",
        ],
        Vendor::Eloqua => &[
            "--map",
            "email=C_EmailAddress",
            "--map",
            "first_name=C_FirstName",
        ],
        _ => unreachable!("a vendor this matrix does not know: {vendor}"),
    };
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// Runs the binary at debug log level; fails if anything printed holds a credential.
async fn run(args: &[String]) -> Result<Output, String> {
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(args)
        .env("RUST_LOG", "debug")
        .envs(credentials_env())
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(90), command.output())
        .await
        .map_err(|_| "the CLI ran for more than 90 s".to_owned())?
        .map_err(|e| format!("cannot run the CLI: {e}"))?;
    let printed = printed(&output);
    for secret in secrets() {
        if printed.contains(&secret) {
            return Err(format!("a credential was printed:\n{printed}"));
        }
    }
    Ok(output)
}

fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn json(output: &Output) -> Result<Value, String> {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = stdout.lines().filter(|l| !l.trim().is_empty()).collect();
    match lines.as_slice() {
        [one] => serde_json::from_str(one).map_err(|e| format!("stdout is not JSON ({e}): {one}")),
        _ => Err(format!("expected one JSON line on stdout, got: {stdout}")),
    }
}

/// What exists at the vendor: NP6 imports, Copernica imports run, Mindbaz imports, Eloqua
/// syncs (asked through the vendor's API or the emulator, after the hits are counted).
async fn created(sandbox: &Sandbox, vendor: Vendor) -> u64 {
    let c = Credentials::default();
    let http = reqwest::Client::new();
    match vendor {
        Vendor::Mailperformance => {
            let imports: Vec<Value> = http
                .get(format!("{}/imports", sandbox.base_url(vendor)))
                .header("x-key", c.np6_key)
                .header("accept", "application/vnd.mperf.v8.import.v1+json")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            imports.len() as u64
        }
        Vendor::Copernica => sandbox.results(vendor).len() as u64,
        Vendor::Mindbaz => {
            // No list endpoint: ids are given in order from 250.
            let mut found = 0;
            for id in 250..260 {
                let answer: Value = http
                    .get(format!(
                        "{}/api/{SITE}/imports/{id}",
                        sandbox.base_url(vendor)
                    ))
                    .bearer_auth(&c.mindbaz_token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if answer["success"] == true {
                    found += 1;
                }
            }
            found
        }
        Vendor::Eloqua => {
            let syncs: Value = http
                .get(format!("{}/syncs", sandbox.base_url(vendor)))
                .basic_auth(
                    format!("{}\\{}", c.eloqua_company, c.eloqua_username),
                    Some(c.eloqua_password),
                )
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            syncs["items"].as_array().unwrap().len() as u64
        }
        _ => unreachable!("a vendor this matrix does not know: {vendor}"),
    }
}

/// Runs one case; every problem found, in words.
async fn check(case: Case) -> Vec<String> {
    let mut problems = Vec::new();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path());
    if case.vendor == Vendor::Mindbaz {
        std::fs::copy(&file, sandbox.mindbaz_sftp_dir().join("contacts.csv")).unwrap();
    }
    let mut args = args(case.vendor, &sandbox, &file.to_string_lossy());
    args.extend(case.args.iter().map(|s| s.to_string()));
    if !case.args.contains(&"--timeout") {
        args.extend(["--timeout".into(), "30".into()]);
    }

    let mut before = BTreeMap::new();
    let mut created_before = 0;
    let mut warm_up_id = None;
    if case.warm_up {
        match run(&args).await {
            Ok(output) if output.status.code() == Some(0) => {
                warm_up_id = json(&output).ok().map(|r| r["import_id"].clone());
            }
            Ok(output) => problems.push(format!("the warm-up run failed: {}", printed(&output))),
            Err(e) => problems.push(e),
        }
        created_before = created(&sandbox, case.vendor).await;
        before = hits(&sandbox, case.vendor);
    }
    for kind in &case.faults {
        sandbox.inject(
            Fault::new(kind.clone())
                .vendor(case.vendor)
                .method(case.target.0)
                .path_contains(case.target.1)
                .times(case.times),
        );
    }
    let started = Instant::now();
    let output = match run(&args).await {
        Ok(output) => output,
        Err(e) => {
            problems.push(e);
            return problems;
        }
    };
    let elapsed = started.elapsed();
    let text = printed(&output);
    let code = output.status.code();
    if std::env::var_os("FAULT_MATRIX_SHOW").is_some() {
        let error = text
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or("");
        eprintln!(
            "== {} ({elapsed:.1?}) exit {code:?} hits {:?}\n{}{error}\n",
            case.name,
            hits(&sandbox, case.vendor),
            String::from_utf8_lossy(&output.stdout)
        );
    }
    if code != Some(case.code) {
        problems.push(format!("exit code {code:?}, expected {}", case.code));
    }

    // Exact hits on every route.
    let mut expected = happy_hits(case.vendor);
    for (route, change) in &case.hits {
        *expected.entry(route.to_string()).or_default() += change;
    }
    expected.retain(|_, n| *n != 0);
    let mut got = hits(&sandbox, case.vendor);
    for (route, n) in before {
        *got.entry(route).or_default() -= n;
    }
    got.retain(|_, n| *n != 0);
    if got != expected {
        problems.push(format!("hits {got:?}, expected {expected:?}"));
    }

    // Nothing created twice.
    if let Some(count) = case.created {
        let now = created(&sandbox, case.vendor).await - created_before;
        if now != count {
            problems.push(format!(
                "{now} imports created at the vendor, expected {count}"
            ));
        }
    }

    for text_expected in &case.says {
        if !text.contains(text_expected) {
            problems.push(format!("the output does not say `{text_expected}`"));
        }
    }
    match json(&output) {
        Err(e) => problems.push(e),
        Ok(report) if case.code == 0 => {
            rows_accounted(&sandbox, case.vendor, &report, &mut problems);
            if warm_up_id.is_some_and(|id| id == report["import_id"]) {
                problems.push("the report is the warm-up run's import".into());
            }
        }
        Ok(error) => {
            if error["exit_code"] != case.code {
                problems.push(format!("JSON exit_code {}", error["exit_code"]));
            }
            if !error["error"].is_string() {
                problems.push("the JSON error has no message".into());
            }
            match (case.state, error["import_state"].as_str()) {
                (Some(expected), Some(state)) if state.contains(expected) => {
                    let created = !state.starts_with(NOTHING_CREATED);
                    if created != error["import_id"].as_str().is_some_and(|id| !id.is_empty()) {
                        problems.push(format!("import_id {} for `{state}`", error["import_id"]));
                    }
                }
                (Some(expected), state) => problems.push(format!(
                    "the JSON error's import_state {state:?} does not say `{expected}`"
                )),
                (None, Some(state)) => problems.push(format!("unexpected import_state `{state}`")),
                (None, None) => {}
            }
        }
    }
    if elapsed > Duration::from_secs(20) {
        problems.push(format!("the run took {elapsed:?}"));
    }
    if !problems.is_empty() {
        problems.push(format!("output:\n{text}"));
    }
    problems
}

/// On success: the vendor processed each row of the file once, and the report adds up.
fn rows_accounted(sandbox: &Sandbox, vendor: Vendor, report: &Value, problems: &mut Vec<String>) {
    if report["rows_total"] != ROWS {
        problems.push(format!("rows_total {}", report["rows_total"]));
    }
    let contacts = sandbox.contacts(vendor).len() as u64;
    if contacts != ROWS - 1 {
        problems.push(format!(
            "{contacts} contacts at the vendor, expected {}",
            ROWS - 1
        ));
    }
    match vendor {
        // The vendor keeps its figures to itself: the emulator's show each row was read once.
        Vendor::Mailperformance | Vendor::Copernica => {
            let runs = sandbox.results(vendor);
            let last = runs.last().map(|r| (r.rows, r.rejected));
            if last != Some((ROWS, 1)) {
                problems.push(format!(
                    "the vendor's last run read {last:?} rows, rejected"
                ));
            }
            if report["import_id"] != runs.last().map(|r| r.import_id.clone()).unwrap_or_default() {
                problems.push("the report's import is not the one that ran".into());
            }
        }
        Vendor::Mindbaz | Vendor::Eloqua => {
            let imported = report["rows_imported"].as_u64();
            let rejected = report["rows_rejected"].as_u64();
            if (imported, rejected) != (Some(ROWS - 1), Some(1)) {
                problems.push(format!("imported {imported:?}, rejected {rejected:?}"));
            }
            // Eloqua rejects row by row; Mindbaz lists only badly formatted rows.
            if vendor == Vendor::Eloqua && report["rejects"][0]["row"] != BAD_LINE {
                problems.push(format!("rejects {}", report["rejects"]));
            }
        }
        _ => unreachable!("a vendor this matrix does not know: {vendor}"),
    }
}

fn cases() -> Vec<Case> {
    use Vendor::{Copernica, Eloqua, Mailperformance as Np6, Mindbaz};
    let executions = "GET /imports/{id}/executions";
    let cop_poll = "GET /v3/import/{id}";
    let mb_poll = "GET /api/{id}/imports/{id}";
    let elq_syncs = "POST /api/bulk/2.0/syncs";
    let elq_list = "GET /api/bulk/2.0/syncs";
    let elq_poll = "GET /api/bulk/2.0/syncs/{id}";
    let elq_data = "POST /api/bulk/2.0/contacts/imports/{id}/data";
    let elq_delete = "DELETE /api/bulk/2.0/contacts/imports/{id}/data";
    vec![
        // NP6 MailPerformance
        Case::new("NP6: 429 with Retry-After on create import, retried", Np6)
            .fault("POST", "/imports", status(429, Some(1), ""))
            .hits(&[("POST /imports", 1)]),
        Case::new("NP6: 503 x2 on the status poll, retried, recovers", Np6)
            .fault("GET", "/executions", status(503, None, ""))
            .times(2)
            .hits(&[(executions, 2)]),
        Case::new("NP6: connection reset mid-upload, the file sent again", Np6)
            .fault("PUT", "/source", FaultKind::ResetMidBody(CUT))
            .hits(&[("PUT /imports/{id}/source", 1)]),
        Case::new(
            "NP6: 429 with Retry-After on the streamed upload, sent again",
            Np6,
        )
        .fault("PUT", "/source", status(429, Some(1), ""))
        .hits(&[("PUT /imports/{id}/source", 1)]),
        Case::new(
            "NP6: create import answer lost, found by name, not created again",
            Np6,
        )
        .fault("POST", "/imports", FaultKind::LoseAnswer)
        .hits(&[("GET /imports", 1)]),
        Case::new(
            "NP6: same name again, answer lost: the new import, not the old",
            Np6,
        )
        .args(&["--name", "weekly contacts"])
        .warm_up()
        .fault("POST", "/imports", FaultKind::LoseAnswer)
        .hits(&[("GET /importFormats", 1), ("GET /imports", 1)]),
        Case::new(
            "NP6: execution answer lost, its state asked, not started again",
            Np6,
        )
        .fault("POST", "/executions", FaultKind::LoseAnswer)
        .hits(&[(executions, 0)]),
        Case::new("NP6: binding exists, its empty 409 answered by reuse", Np6)
            .warm_up()
            .hits(&[("GET /importFormats", 1)]),
        // The binding cannot be found to be reused: one is made under a new name.
        Case::new("NP6: empty 409 for a binding it does not list", Np6)
            .fault("POST", "/importFormats", status(409, None, ""))
            .hits(&[("GET /importFormats", 1), ("POST /importFormats", 1)])
            .says(&[
                "could not be looked up (GET /importFormats does not list it)",
                "created the binding",
            ]),
        Case::new(
            "NP6: 401 on the status poll after the execution started",
            Np6,
        )
        .fault("GET", "/executions", status(401, None, ""))
        .fails(3)
        .hits(&[(executions, -1)])
        .says(&["credentials rejected"])
        .state("execution started"),
        Case::new("NP6: slow status poll past --request-timeout, retried", Np6)
            .args(&["--request-timeout", "1"])
            .fault(
                "GET",
                "/executions",
                FaultKind::Delay(Duration::from_secs(3)),
            )
            .hits(&[(executions, 1)]),
        // Copernica
        Case::new(
            "Copernica: 429 without Retry-After on create, retried",
            Copernica,
        )
        .fault("POST", "/imports", status(429, None, ""))
        .hits(&[("POST /v3/imports", 1)]),
        Case::new(
            "Copernica: 502 HTML page on create: maybe created, not sent again",
            Copernica,
        )
        .fault("POST", "/imports", status(502, None, HTML_502))
        .fails(4)
        .hits(&[(cop_poll, -3)])
        .created(Some(0))
        .says(&["HTTP 502", "may have been created", "was not sent again"]),
        Case::new(
            "Copernica: 404 on the poll after the import started",
            Copernica,
        )
        .fault("GET", "/import/", status(404, None, ""))
        .fails(1)
        .hits(&[(cop_poll, -2)])
        .says(&["HTTP 404"])
        .state("created and started"),
        Case::new("Copernica: truncated JSON on the poll", Copernica)
            .fault("GET", "/import/", FaultKind::TruncateBody)
            .fails(4)
            .hits(&[(cop_poll, -2)])
            .says(&["unexpected answer"])
            .state("created and started"),
        Case::new(
            "Copernica: create slower than --request-timeout: maybe created",
            Copernica,
        )
        .args(&["--request-timeout", "1"])
        .fault("POST", "/imports", FaultKind::Delay(Duration::from_secs(3)))
        .fails(4)
        .hits(&[(cop_poll, -3)])
        .created(None)
        .says(&["may have been created"]),
        // Mindbaz
        Case::new(
            "Mindbaz: 503 on scheduleNow: a gateway's 503 proves nothing, not sent again",
            Mindbaz,
        )
        .fault(
            "POST",
            "/scheduleNow",
            status(503, Some(0), "Service Unavailable"),
        )
        .times(10)
        .fails(4)
        .hits(&[(mb_poll, -3)])
        .created(Some(0))
        .says(&["HTTP 503", "may have been created"]),
        Case::new(
            "Mindbaz: scheduleNow answer lost: maybe created, not sent again",
            Mindbaz,
        )
        .fault("POST", "/scheduleNow", FaultKind::LoseAnswer)
        .fails(4)
        .hits(&[(mb_poll, -3)])
        .says(&["may have been created"]),
        Case::new(
            "Mindbaz: truncated JSON from scheduleNow: maybe created",
            Mindbaz,
        )
        .fault("POST", "/scheduleNow", FaultKind::TruncateBody)
        .fails(4)
        .hits(&[(mb_poll, -3)])
        .says(&["may have been created"]),
        Case::new("Mindbaz: 504 x2 on the poll, retried, recovers", Mindbaz)
            .fault("GET", "/imports/", status(504, None, ""))
            .times(2)
            .hits(&[(mb_poll, 2)]),
        Case::new(
            "Mindbaz: 401 on the poll after the import was scheduled",
            Mindbaz,
        )
        .fault("GET", "/imports/", status(401, None, ""))
        .fails(3)
        .hits(&[(mb_poll, -2)])
        .says(&["credentials rejected"])
        .state("scheduled"),
        // Eloqua
        Case::new(
            "Eloqua: 429 with Retry-After on create sync, retried",
            Eloqua,
        )
        .fault("POST", "/syncs", status(429, Some(1), ""))
        .hits(&[(elq_syncs, 1)]),
        Case::new(
            "Eloqua: 502 HTML page on create sync: listed, then sent again",
            Eloqua,
        )
        .fault("POST", "/syncs", status(502, None, HTML_502))
        .hits(&[(elq_syncs, 1), (elq_list, 1)]),
        Case::new(
            "Eloqua: create sync answer lost: found, not sent again",
            Eloqua,
        )
        .fault("POST", "/syncs", FaultKind::LoseAnswer)
        .hits(&[(elq_list, 1)]),
        Case::new(
            "Eloqua: truncated JSON from create sync: found, not sent again",
            Eloqua,
        )
        .fault("POST", "/syncs", FaultKind::TruncateBody)
        .hits(&[(elq_list, 1)]),
        Case::new(
            "Eloqua: connection reset mid-staging: staged again into a new definition, the \
             abandoned one deleted",
            Eloqua,
        )
        .fault("POST", "/data", FaultKind::ResetMidBody(CUT))
        .hits(&[
            ("POST /api/bulk/2.0/contacts/imports", 1),
            (elq_data, 1),
            (elq_delete, 1),
            ("DELETE /api/bulk/2.0/contacts/imports/{id}", 1),
        ]),
        Case::new("Eloqua: 500 on the sync poll, not retried", Eloqua)
            .fault(
                "GET",
                "/syncs/",
                status(500, None, "{\"failures\":[\"boom\"]}"),
            )
            .fails(4)
            .hits(&[
                (elq_poll, -2),
                ("GET /api/bulk/2.0/syncs/{id}/logs", -1),
                ("GET /api/bulk/2.0/syncs/{id}/rejects", -1),
                (elq_delete, -1),
            ])
            .says(&["HTTP 500"])
            .state("sync of /contacts/imports/"),
        Case::new(
            "Eloqua: a poll hangs past --timeout: the import stops in time",
            Eloqua,
        )
        .args(&["--timeout", "2"])
        .fault("GET", "/syncs/", FaultKind::Delay(Duration::from_secs(30)))
        .fails(4)
        .hits(&[
            (elq_poll, -2),
            ("GET /api/bulk/2.0/syncs/{id}/logs", -1),
            ("GET /api/bulk/2.0/syncs/{id}/rejects", -1),
            (elq_delete, -1),
        ])
        .says(&["took longer than 2s"])
        .state("rows are being imported"),
        Case::new("Eloqua: 401 on the rejects after the sync ended", Eloqua)
            .fault(
                "GET",
                "/rejects",
                status(401, None, "\"Not authenticated.\""),
            )
            .fails(3)
            .hits(&[(elq_delete, -1)])
            .says(&["credentials rejected"])
            .state("sync ended with status `warning`"),
        Case::new(
            "Eloqua: 500 deleting the staged data: still a report",
            Eloqua,
        )
        .fault("DELETE", "/data", status(500, None, ""))
        .says(&["the staged data was not deleted"]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let cases = cases();
    let vendors: std::collections::BTreeSet<Vendor> = cases.iter().map(|c| c.vendor).collect();
    assert_eq!(vendors.len(), 4, "every vendor has cases");
    assert!(cases.len() >= 14);
    let total = cases.len();
    let results: Vec<(&'static str, Vec<String>)> = futures::stream::iter(cases)
        .map(|case| async move { (case.name, check(case).await) })
        .buffer_unordered(4)
        .collect()
        .await;
    let failed: Vec<String> = results
        .into_iter()
        .filter(|(_, problems)| !problems.is_empty())
        .map(|(name, problems)| format!("== {name}\n{}", problems.join("\n")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {total} fault cases failed:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}
