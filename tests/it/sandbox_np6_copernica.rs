//! The NP6 and Copernica emulators of the sandbox, driven by the crate's own generated clients
//! (and by reqwest for what a generated client never sends): credentials, media types, the
//! empty-bodied answers, state progressions, real row processing and fault injection.
#![cfg(all(feature = "mailperformance", feature = "copernica"))]

use std::{io::Write as _, time::Duration};

use esp_imports::{
    copernica, mailperformance, HttpConfig, ImportOptions, Mode, RetryPolicy, Secret, Status,
    Vendor,
};
use esp_imports_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig};
use serde_json::{json, Value};

const VND: &str = "application/vnd.mperf.v8.import.v1+json";
const NP6_KEY: &str = "sandbox-np6-key";
const COPERNICA_TOKEN: &str = "sandbox-copernica-token";

async fn sandbox(polls_per_state: u32) -> Sandbox {
    Sandbox::start(SandboxConfig::default().with_polls_per_state(polls_per_state))
        .await
        .unwrap()
}

fn config() -> HttpConfig {
    HttpConfig::default().with_retry(
        RetryPolicy::default().with_backoff(Duration::from_millis(10), Duration::from_millis(50)),
    )
}

fn np6(sandbox: &Sandbox, key: &str) -> mailperformance::Client {
    mailperformance::Client::with_auth(
        &sandbox.base_url(Vendor::Mailperformance),
        &mailperformance::Auth::XKey(Secret::new(key)),
        &config(),
    )
    .unwrap()
}

fn cop(sandbox: &Sandbox, token: &str) -> copernica::Client {
    copernica::Client::with_auth(
        &sandbox.base_url(Vendor::Copernica),
        &copernica::Auth::AccessToken(Secret::new(token)),
        &config(),
    )
    .unwrap()
}

/// The status and body of a call the client did not expect to succeed.
async fn refused<T: std::fmt::Debug>(
    result: Result<T, progenitor_client::Error<()>>,
) -> (u16, reqwest::header::HeaderMap, String) {
    match result {
        Err(progenitor_client::Error::UnexpectedResponse(response)) => {
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            (status, headers, response.text().await.unwrap())
        }
        other => panic!("expected an error answer, got {other:?}"),
    }
}

fn binding(name: &str) -> mailperformance::types::ImportFormat {
    serde_json::from_value(json!({
        "name": name, "separator": 59, "startAt": 1, "savedImportFormat": true,
        "binds": [
            {"columnIndex": 0, "fieldId": -10}, {"columnIndex": 1, "fieldId": 1234},
            {"columnIndex": 2, "fieldId": 5678}
        ]
    }))
    .unwrap()
}

fn np6_import(features: Value) -> mailperformance::types::Import {
    serde_json::from_value(json!({"name": "weekly", "features": features})).unwrap()
}

const NP6_FILE: &str =
    "id;email;city\n1;a@example.com;Lille\n2;not-an-email;Lens\n3;B@example.com;Arras\n";

/// Creates an import, uploads `file`, starts an execution with `binding`; returns the id.
async fn np6_run(
    client: &mailperformance::Client,
    binding: i32,
    features: Value,
    file: &str,
) -> i32 {
    let import = client
        .create_import()
        .body(np6_import(features.clone()))
        .send()
        .await
        .unwrap();
    let id = import.into_inner().id.unwrap();
    client
        .upload_import_source()
        .id(id)
        .content_disposition("form-data; filename=contacts.csv")
        .content_length(file.len() as i64)
        .body(file.as_bytes().to_vec())
        .send()
        .await
        .unwrap();
    let body = serde_json::to_vec(&json!({"binding": binding, "features": features})).unwrap();
    let execution = client
        .create_import_execution()
        .id(id)
        .content_type(mailperformance::types::CreateImportExecutionContentType::ApplicationJson)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(execution.into_inner().state, Some(0));
    id
}

async fn np6_states(client: &mailperformance::Client, id: i32, polls: usize) -> Vec<i32> {
    let mut states = Vec::new();
    for _ in 0..polls {
        let state = client
            .get_import_execution_state()
            .id(id)
            .send()
            .await
            .unwrap();
        states.push(state.into_inner().state);
    }
    states
}

#[tokio::test]
async fn np6_refuses_a_wrong_key_with_an_empty_401() {
    let sandbox = sandbox(1).await;
    let (status, headers, body) = refused(np6(&sandbox, "wrong").list_fields().send().await).await;
    assert_eq!((status, body.as_str()), (401, ""));
    assert!(headers.contains_key("x-request-id"));
    let (status, _, _) = refused(np6(&sandbox, "wrong").list_imports().send().await).await;
    assert_eq!(status, 401);
    let fields = np6(&sandbox, NP6_KEY).list_fields().send().await.unwrap();
    let email = fields.iter().find(|f| f.is_unicity).unwrap();
    assert_eq!((email.id, email.type_.as_str()), (1234, "email"));
}

#[tokio::test]
async fn np6_wants_its_media_type_in_accept() {
    let sandbox = sandbox(1).await;
    let http = reqwest::Client::new();
    let url = format!("{}/imports", sandbox.base_url(Vendor::Mailperformance));
    let bare = http
        .get(&url)
        .header("x-key", NP6_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status().as_u16(), 406);
    assert!(bare.headers().contains_key("x-request-id"));
    assert_eq!(bare.text().await.unwrap(), "");
    let json_only = http
        .get(&url)
        .header("x-key", NP6_KEY)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(json_only.status().as_u16(), 406);
    let good = http
        .get(&url)
        .header("x-key", NP6_KEY)
        .header("accept", VND)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status().as_u16(), 200);
    assert_eq!(good.headers()["content-type"], VND);
    assert_eq!(good.json::<Value>().await.unwrap(), json!([]));
    // importFormats and fields need no import Accept, and answer plain JSON.
    let fields = http
        .get(format!(
            "{}/fields",
            sandbox.base_url(Vendor::Mailperformance)
        ))
        .header("x-key", NP6_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(fields.status().as_u16(), 200);
    assert_eq!(fields.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn np6_upload_needs_a_length_and_octet_stream() {
    let sandbox = sandbox(1).await;
    let client = np6(&sandbox, NP6_KEY);
    let id = client
        .create_import()
        .body(np6_import(json!([])))
        .send()
        .await
        .unwrap()
        .into_inner()
        .id
        .unwrap();
    let url = format!(
        "{}/imports/{id}/source",
        sandbox.base_url(Vendor::Mailperformance)
    );
    let http = reqwest::Client::new();
    let put = || {
        http.put(&url)
            .header("x-key", NP6_KEY)
            .header("accept", VND)
            .header("content-disposition", "form-data; filename=contacts.csv")
    };
    // A streamed body without Content-Length goes chunked.
    let chunks = futures::stream::iter([Ok::<_, std::io::Error>(NP6_FILE.as_bytes().to_vec())]);
    let chunked = put()
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status().as_u16(), 411);
    assert!(chunked.headers().contains_key("x-request-id"));
    assert_eq!(chunked.text().await.unwrap(), "");
    let csv = put()
        .header("content-type", "text/csv")
        .body(NP6_FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status().as_u16(), 415);
    let good = put()
        .header("content-type", "application/octet-stream")
        .body(NP6_FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status().as_u16(), 200);
    assert_eq!(good.headers()["content-type"], VND);
    let source: Value = good.json().await.unwrap();
    assert_eq!(source["type"], "file");
    assert!(source["creationDate"].is_string() && source["updateDate"].is_string());
    let stored = source["filename"].as_str().unwrap();
    let (prefix, name) = stored.split_once('_').unwrap();
    assert_eq!(name, "contacts.csv");
    assert!(prefix.len() == 10 && prefix.chars().all(|c| c.is_ascii_hexdigit()));
    // The import now shows its file.
    let import = client.get_import().id(id).send().await.unwrap();
    assert_eq!(import.headers()["content-type"], VND);
    let source = serde_json::to_value(&import.into_inner().source).unwrap();
    assert_eq!(source["filename"], stored);
}

#[tokio::test]
async fn np6_answers_a_duplicate_binding_name_with_an_empty_409() {
    let sandbox = sandbox(1).await;
    let client = np6(&sandbox, NP6_KEY);
    let created = client
        .create_import_format()
        .body(binding("contacts"))
        .send()
        .await
        .unwrap()
        .into_inner();
    let guid = created.identifier.unwrap().guid;
    let (status, headers, body) = refused(
        client
            .create_import_format()
            .body(binding("contacts"))
            .send()
            .await,
    )
    .await;
    assert_eq!((status, body.as_str()), (409, ""));
    assert!(headers.contains_key("x-request-id"));
    let listed = client
        .list_import_formats()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].identifier.as_ref().unwrap().guid, guid);
    let fetched = client.get_import_format().id(guid).send().await.unwrap();
    assert_eq!(fetched.into_inner().binds, binding("contacts").binds);
    let (status, _, _) = refused(client.get_import_format().id(guid + 100).send().await).await;
    assert_eq!(status, 404);
    // A bind to a field the account does not have is a bad request.
    let mut bad = binding("bad");
    bad.binds[1].field_id = 99;
    let (status, _, body) = refused(client.create_import_format().body(bad).send().await).await;
    assert_eq!((status, body.as_str()), (400, ""));
}

#[tokio::test]
async fn np6_executions_process_rows_and_a_second_run_updates() {
    let sandbox = sandbox(2).await;
    let client = np6(&sandbox, NP6_KEY);
    let guid = client
        .create_import_format()
        .body(binding("contacts"))
        .send()
        .await
        .unwrap()
        .into_inner()
        .identifier
        .unwrap()
        .guid;
    let upsert = json!([{"type": "database", "updateExisting": true, "crushData": false}]);
    let first = np6_run(&client, guid, upsert.clone(), NP6_FILE).await;
    assert_eq!(np6_states(&client, first, 3).await, [0, 0, 1]);
    let contacts = sandbox.contacts(Vendor::Mailperformance);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts["a@example.com"]["city"], "Lille");
    assert_eq!(contacts["b@example.com"]["email"], "B@example.com");
    let results = sandbox.results(Vendor::Mailperformance);
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result.import_id, first.to_string());
    assert_eq!(
        (
            result.rows,
            result.inserted,
            result.updated,
            result.rejected
        ),
        (3, 2, 0, 1)
    );
    assert_eq!(result.rejects[0].0, 3);
    assert!(result.rejects[0].1.contains("not-an-email"));

    let changed = NP6_FILE.replace("Lille", "Roubaix");
    let second = np6_run(&client, guid, upsert, &changed).await;
    assert_eq!(np6_states(&client, second, 3).await, [0, 0, 1]);
    let result = &sandbox.results(Vendor::Mailperformance)[1];
    assert_eq!(
        (result.inserted, result.updated, result.rejected),
        (0, 2, 1)
    );
    assert_eq!(
        sandbox.contacts(Vendor::Mailperformance)["a@example.com"]["city"],
        "Roubaix"
    );

    // Without updateExisting, known contacts are refused.
    let insert_only = json!([{"type": "database", "updateExisting": false, "crushData": false}]);
    let third = np6_run(&client, guid, insert_only, NP6_FILE).await;
    assert_eq!(np6_states(&client, third, 3).await, [0, 0, 1]);
    let result = &sandbox.results(Vendor::Mailperformance)[2];
    assert_eq!(
        (result.inserted, result.updated, result.rejected),
        (0, 0, 3)
    );
    assert_eq!(
        sandbox.contacts(Vendor::Mailperformance)["a@example.com"]["city"],
        "Roubaix"
    );
}

#[tokio::test]
async fn np6_duplicates_and_unreadable_files() {
    let sandbox = sandbox(1).await;
    let client = np6(&sandbox, NP6_KEY);
    let create = |b| client.create_import_format().body(b).send();
    let guid = create(binding("contacts"))
        .await
        .unwrap()
        .into_inner()
        .identifier
        .unwrap()
        .guid;
    let twice = "id;email;city\n1;a@example.com;Lille\n2;A@EXAMPLE.COM;Lens\n";
    let ignore = json!([{"type": "duplicate", "rules": {"ignore": true}}]);
    let id = np6_run(&client, guid, ignore, twice).await;
    assert_eq!(np6_states(&client, id, 2).await, [0, 1]);
    let result = sandbox.results(Vendor::Mailperformance).pop().unwrap();
    assert_eq!((result.inserted, result.rejected), (0, 2));
    let last = json!([{"type": "duplicate", "rules": {"last": true}}]);
    np6_run(&client, guid, last, twice).await;
    assert_eq!(
        sandbox.contacts(Vendor::Mailperformance)["a@example.com"]["city"],
        "Lens"
    );

    // No column bound to the unicity field: the execution ends in state 2.
    let mut keyless = binding("keyless");
    keyless.binds[1].field_id = -10;
    let keyless = create(keyless)
        .await
        .unwrap()
        .into_inner()
        .identifier
        .unwrap()
        .guid;
    let id = np6_run(&client, keyless, json!([]), twice).await;
    assert_eq!(np6_states(&client, id, 2).await, [0, 2]);
    let result = sandbox.results(Vendor::Mailperformance).pop().unwrap();
    assert!(result.failure.unwrap().contains("unicity"));
}

#[tokio::test]
async fn np6_import_definitions_update_delete_and_404() {
    let sandbox = sandbox(1).await;
    let client = np6(&sandbox, NP6_KEY);
    let id = client
        .create_import()
        .body(np6_import(
            json!([{"type": "duplicate", "rules": {"ignore": true}}]),
        ))
        .send()
        .await
        .unwrap()
        .into_inner()
        .id
        .unwrap();
    let mut renamed = np6_import(json!([]));
    renamed.name = "renamed".into();
    let updated = client
        .update_import()
        .id(id)
        .body(renamed)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "renamed");
    assert!(updated.update_date.is_some());
    let listed = client.list_imports().send().await.unwrap();
    assert_eq!(listed.into_inner().0.len(), 1);
    // No execution yet: no state.
    let (status, _, _) = refused(client.get_import_execution_state().id(id).send().await).await;
    assert_eq!(status, 404);
    let deleted = client.delete_import().id(id).send().await.unwrap();
    assert_eq!(deleted.status().as_u16(), 204);
    let (status, _, body) = refused(client.get_import().id(id).send().await).await;
    assert_eq!((status, body.as_str()), (404, ""));
}

#[tokio::test]
async fn np6_octet_stream_execution_uploads_and_runs() {
    let sandbox = sandbox(1).await;
    let client = np6(&sandbox, NP6_KEY);
    let guid = client
        .create_import_format()
        .body(binding("contacts"))
        .send()
        .await
        .unwrap();
    let guid = guid.into_inner().identifier.unwrap().guid;
    let mut import = np6_import(json!([]));
    import.binding = Some(guid);
    let id = client
        .create_import()
        .body(import)
        .send()
        .await
        .unwrap()
        .into_inner()
        .id
        .unwrap();
    let http = reqwest::Client::new();
    let execution = http
        .post(format!(
            "{}/imports/{id}/executions",
            sandbox.base_url(Vendor::Mailperformance)
        ))
        .header("x-key", NP6_KEY)
        .header("accept", VND)
        .header("content-type", "application/octet-stream")
        .header("content-disposition", "form-data; filename=two-steps.csv")
        .body(NP6_FILE)
        .send()
        .await
        .unwrap();
    assert_eq!(execution.status().as_u16(), 200);
    let execution: Value = execution.json().await.unwrap();
    assert_eq!(execution["state"], 0);
    assert_eq!(execution["content"]["identifier"]["guid"], guid);
    assert!(execution["source"]["filename"]
        .as_str()
        .unwrap()
        .ends_with("_two-steps.csv"));
    assert_eq!(np6_states(&client, id, 2).await, [0, 1]);
    assert_eq!(sandbox.contacts(Vendor::Mailperformance).len(), 2);
}

/// The whole workflow, with NP6's undocumented `GET /importFormats` served and not served: a
/// repeated import of the same layout succeeds either way, and the first data row of a file
/// with a header is imported (`startAt` 1 skips just the header).
#[tokio::test]
async fn np6_whole_import_runs_against_the_sandbox() {
    for lists_bindings in [true, false] {
        np6_whole_import(lists_bindings).await;
    }
}

async fn np6_whole_import(lists_bindings: bool) {
    let sandbox = Sandbox::start(SandboxConfig::default().with_np6_lists_bindings(lists_bindings))
        .await
        .unwrap();
    let client = np6(&sandbox, NP6_KEY);
    let mut file = tempfile::Builder::new()
        .prefix("contacts")
        .suffix(".csv")
        .tempfile()
        .unwrap();
    write!(
        file,
        "id;email;phone;city\r\n1;a@example.com;0600000001;Lille\r\n2;broken-address;0600000002;Lens\r\n3;c@example.com;0600000003;Arras\r\n"
    )
    .unwrap();
    let mut options =
        ImportOptions::new(file.path(), [("email", "1234"), ("city", "5678")], "email");
    options.poll_interval = Duration::from_millis(5);
    let report = client.import(&options, &Default::default()).await.unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(report.rows_total, Some(3));
    let contacts = sandbox.contacts(Vendor::Mailperformance);
    assert_eq!(contacts.len(), 2);
    assert_eq!(
        contacts["a@example.com"]["city"], "Lille",
        "the first data row is imported"
    );
    assert_eq!(contacts["c@example.com"]["city"], "Arras");
    assert!(
        !contacts["c@example.com"].contains_key("phone"),
        "phone is not mapped"
    );
    let result = sandbox.results(Vendor::Mailperformance).pop().unwrap();
    assert_eq!((result.rows, result.inserted, result.rejected), (3, 2, 1));
    assert_eq!(result.rejects[0].0, 3, "the line of broken-address");
    assert_eq!(result.import_id, report.import_id);

    // The same file again: NP6 answers 409 for the binding's name; it is found in the listing,
    // or, without the listing, created under a new name; either way the rows update.
    let report = client.import(&options, &Default::default()).await.unwrap();
    assert_eq!(report.status, Status::Completed);
    assert_eq!(
        report
            .messages
            .iter()
            .any(|m| m.contains("could not be looked up (GET /importFormats")),
        !lists_bindings,
        "{:?}",
        report.messages
    );
    let result = sandbox.results(Vendor::Mailperformance).pop().unwrap();
    assert_eq!(
        (result.inserted, result.updated, result.rejected),
        (0, 2, 1)
    );
    let hits = sandbox.hits();
    let hits = |route: &str| hits[&(Vendor::Mailperformance, route.to_owned())];
    assert_eq!(
        hits("POST /importFormats"),
        if lists_bindings { 2 } else { 3 }
    );
    assert_eq!(hits("GET /importFormats"), 1);

    // Insert only: the known contacts are refused.
    options.mode = Mode::InsertOnly;
    client.import(&options, &Default::default()).await.unwrap();
    let result = sandbox.results(Vendor::Mailperformance).pop().unwrap();
    assert_eq!(
        (result.inserted, result.updated, result.rejected),
        (0, 0, 3)
    );
}

#[tokio::test]
async fn np6_retries_through_an_injected_429() {
    let sandbox = sandbox(1).await;
    sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 429,
            retry_after: Some(0),
            body: String::new(),
        })
        .vendor(Vendor::Mailperformance)
        .method("POST")
        .path_contains("/importFormats"),
    );
    let client = np6(&sandbox, NP6_KEY);
    let created = client
        .create_import_format()
        .body(binding("contacts"))
        .send()
        .await
        .unwrap();
    assert!(created.into_inner().identifier.is_some());
    let hits = sandbox.hits();
    assert_eq!(
        hits[&(Vendor::Mailperformance, "POST /importFormats".to_owned())],
        2
    );
    let listed = client
        .list_import_formats()
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.len(), 1, "one binding, not two");

    // Without retries the 429 comes back as it is.
    sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 429,
            retry_after: None,
            body: String::new(),
        })
        .vendor(Vendor::Mailperformance)
        .path_contains("/fields"),
    );
    let once = mailperformance::Client::with_auth(
        &sandbox.base_url(Vendor::Mailperformance),
        &mailperformance::Auth::XKey(Secret::new(NP6_KEY)),
        &HttpConfig::default().with_retry(RetryPolicy::never()),
    )
    .unwrap();
    let (status, _, _) = refused(once.list_fields().send().await).await;
    assert_eq!(status, 429);
    assert!(once.list_fields().send().await.is_ok());
}

fn cop_import(body: Value) -> copernica::types::ImportRequest {
    serde_json::from_value(body).unwrap()
}

const COP_CSV: &str = "email;firstname;city\na@example.com;Ann;Lille\nnot-an-email;Bob;Lens\nc@example.com;Cy;Arras\n";

fn cop_csv_import(source: &str) -> copernica::types::ImportRequest {
    cop_import(json!({
        "database": 1, "name": "weekly", "action": "update or add", "keyFields": ["email"],
        "source": source, "format": "csv", "delimiter": ";", "autostart": true
    }))
}

async fn cop_polls(
    client: &copernica::Client,
    id: i64,
    polls: usize,
) -> Vec<copernica::types::ImportStatus> {
    let mut statuses = Vec::new();
    for _ in 0..polls {
        statuses.push(
            client
                .get_import()
                .id(id)
                .send()
                .await
                .unwrap()
                .into_inner(),
        );
    }
    statuses
}

fn created_id(headers: &reqwest::header::HeaderMap) -> i64 {
    headers["x-created"].to_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn copernica_refuses_a_wrong_token_as_documented() {
    let sandbox = sandbox(1).await;
    let (status, headers, body) =
        refused(cop(&sandbox, "wrong").list_databases().send().await).await;
    assert_eq!(status, 400);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap(),
        json!({"error": {"message": "Invalid access token"}})
    );
    let missing = reqwest::get(format!("{}/databases", sandbox.base_url(Vendor::Copernica)))
        .await
        .unwrap();
    assert_eq!(missing.status().as_u16(), 400);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"]["message"],
        "Invalid access token"
    );
    let (status, _, _) = refused(
        cop(&sandbox, "wrong")
            .create_import()
            .body(cop_csv_import(COP_CSV))
            .send()
            .await,
    )
    .await;
    assert_eq!(status, 400);
    assert!(sandbox.contacts(Vendor::Copernica).is_empty());
}

#[tokio::test]
async fn copernica_creates_with_201_empty_and_x_created_then_progresses() {
    let sandbox = sandbox(2).await;
    let client = cop(&sandbox, COPERNICA_TOKEN);
    let created = client
        .create_import()
        .body(cop_csv_import(COP_CSV))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status().as_u16(), 201);
    let id = created_id(created.headers());
    assert!(created.headers()["x-location"]
        .to_str()
        .unwrap()
        .ends_with(&format!("/v3/import/{id}")));
    // The generated client does not read the body: ask reqwest for it.
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/imports?access_token={COPERNICA_TOKEN}",
            sandbox.base_url(Vendor::Copernica)
        ))
        .json(&cop_csv_import(COP_CSV))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 201);
    assert_eq!(created_id(raw.headers()), id + 1);
    assert_eq!(raw.text().await.unwrap(), "");

    let polls = cop_polls(&client, id, 6).await;
    let statuses: Vec<&str> = polls.iter().map(|p| p.status.as_deref().unwrap()).collect();
    assert_eq!(
        statuses,
        [
            "ready for start",
            "ready for start",
            "running",
            "running",
            "finished",
            "finished"
        ]
    );
    let processed: Vec<&str> = polls
        .iter()
        .map(|p| p.processedlines.as_deref().unwrap())
        .collect();
    assert_eq!(processed, ["0", "0", "1", "2", "3", "3"]);
    assert!(polls.iter().all(|p| p.totallines.as_deref() == Some("3")));
    assert_eq!(polls[0].id.as_deref(), Some(id.to_string().as_str()));
    assert_eq!(polls[0].type_.as_deref(), Some("update or add"));
    let first = serde_json::to_value(&polls[0]).unwrap();
    assert_eq!(
        (&first["lastrun"], &first["nextrun"]),
        (&json!(false), &json!(false))
    );
    let last = serde_json::to_value(&polls[5]).unwrap();
    assert!(last["lastrun"].is_string());
    assert_eq!(last["nextrun"], json!(false));
    let lasterror = last["lasterror"].as_str().unwrap();
    assert!(lasterror.contains("not-an-email"), "{lasterror}");

    let contacts = sandbox.contacts(Vendor::Copernica);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts["a@example.com"]["firstname"], "Ann");
    let results = sandbox.results(Vendor::Copernica);
    assert_eq!((results[0].inserted, results[0].rejected), (2, 1));
    assert_eq!(
        (results[1].inserted, results[1].updated),
        (0, 2),
        "the same data again updates"
    );

    // A clean import has no last error.
    let clean = client
        .create_import()
        .body(cop_csv_import("email;city\na@example.com;Roubaix\n"))
        .send()
        .await
        .unwrap();
    let clean = cop_polls(&client, created_id(clean.headers()), 5)
        .await
        .pop()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&clean).unwrap()["lasterror"],
        json!(false)
    );
    assert_eq!(
        sandbox.contacts(Vendor::Copernica)["a@example.com"]["city"],
        "Roubaix"
    );
    let (status, _, body) = refused(client.get_import().id(999).send().await).await;
    assert_eq!(status, 400);
    assert!(body.contains("No entity with supplied ID"));
}

#[tokio::test]
async fn copernica_actions_json_sources_and_autostart() {
    let sandbox = sandbox(1).await;
    let client = cop(&sandbox, COPERNICA_TOKEN);
    let send = |body: Value| client.create_import().body(cop_import(body)).send();
    send(json!({"database": 1, "action": "update or add", "keyFields": ["Email"], "format": "json",
        "source": r#"[{"Email": "support@copernica.com", "Contactpersoon": "Jeroen"}, {"Email": "info@copernica.com", "Contactpersoon": "Danny"}]"#}))
    .await
    .unwrap();
    assert_eq!(
        sandbox.contacts(Vendor::Copernica)["support@copernica.com"]["Contactpersoon"],
        "Jeroen"
    );
    send(json!({"database": 1, "action": "ignore or add", "keyFields": ["email"],
        "source": [{"email": "support@copernica.com", "Contactpersoon": "X"}, {"email": "new@copernica.com"}]}))
    .await
    .unwrap();
    let result = sandbox.results(Vendor::Copernica).pop().unwrap();
    assert_eq!((result.inserted, result.ignored), (1, 1));
    assert_eq!(
        sandbox.contacts(Vendor::Copernica)["support@copernica.com"]["Contactpersoon"],
        "Jeroen"
    );
    send(json!({"database": 1, "action": "delete", "keyFields": ["email"], "source": [{"email": "info@copernica.com"}]}))
        .await
        .unwrap();
    assert!(!sandbox
        .contacts(Vendor::Copernica)
        .contains_key("info@copernica.com"));
    let paused = send(
        json!({"database": 1, "action": "update or add", "keyFields": ["email"], "autostart": false,
        "source": [{"email": "later@copernica.com"}]}),
    )
    .await
    .unwrap();
    let polls = cop_polls(&client, created_id(paused.headers()), 4).await;
    assert!(polls
        .iter()
        .all(|p| p.status.as_deref() == Some("ready for start")));
    assert!(!sandbox
        .contacts(Vendor::Copernica)
        .contains_key("later@copernica.com"));
}

#[tokio::test]
async fn copernica_refuses_bad_imports_with_400_and_a_message() {
    let sandbox = sandbox(1).await;
    let client = cop(&sandbox, COPERNICA_TOKEN);
    for (body, message) in [
        (
            json!({"database": 42, "source": [], "keyFields": ["email"]}),
            "No entity with supplied ID",
        ),
        (
            json!({"database": 1, "format": "csv", "source": "email\na@example.com", "keyFields": ["email"]}),
            "Delimiter",
        ),
        (
            json!({"database": 1, "source": [], "keyFields": ["shoe size"]}),
            "Invalid key field",
        ),
        (
            json!({"database": 1, "keyFields": ["email"]}),
            "Missing source",
        ),
    ] {
        let (status, _, answer) =
            refused(client.create_import().body(cop_import(body)).send().await).await;
        assert_eq!(status, 400);
        let answer: Value = serde_json::from_str(&answer).unwrap();
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains(message),
            "{answer}"
        );
    }
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/imports?access_token={COPERNICA_TOKEN}",
            sandbox.base_url(Vendor::Copernica)
        ))
        .json(&json!({"database": 1, "action": "replace", "source": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status().as_u16(), 400);
    assert!(raw.json::<Value>().await.unwrap()["error"]["message"].is_string());
    assert!(sandbox.results(Vendor::Copernica).is_empty());
}

#[tokio::test]
async fn copernica_databases_collections_and_fields_are_paged() {
    let sandbox = sandbox(1).await;
    let client = cop(&sandbox, COPERNICA_TOKEN);
    let databases = client.list_databases().send().await.unwrap().into_inner();
    assert_eq!((databases.count, databases.data.len()), (1, 1));
    let database = &databases.data[0];
    assert_eq!(database.id.as_deref(), Some("1"));
    let fields = client
        .list_database_fields()
        .id("1")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((fields.start, fields.limit, fields.count), (0, 100, 9));
    let email = fields
        .data
        .iter()
        .find(|f| f.name.as_deref() == Some("email"))
        .unwrap();
    assert_eq!(email.type_.as_deref(), Some("email"));
    let page = client
        .list_database_fields()
        .id("Contacts")
        .start(4)
        .limit(5)
        .total(false)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (page.start, page.limit, page.count, page.data.len()),
        (4, 5, 5, 5)
    );
    assert_eq!(serde_json::to_value(&page).unwrap()["total"], json!(false));
    let collections = client
        .list_database_collections()
        .id("1")
        .send()
        .await
        .unwrap()
        .into_inner();
    let order = &collections.data[0];
    assert_eq!(order.name.as_deref(), Some("Order"));
    let id: i64 = order.id.as_deref().unwrap().parse().unwrap();
    let fields = client
        .list_collection_fields()
        .id(id)
        .send()
        .await
        .unwrap()
        .into_inner();
    let names: Vec<_> = fields
        .data
        .iter()
        .filter_map(|f| f.name.as_deref())
        .collect();
    assert_eq!(names, ["OrderID", "Status"]);
    let (status, _, body) = refused(client.list_database_fields().id("7").send().await).await;
    assert_eq!(status, 400);
    assert!(body.contains("No entity with supplied ID"));
    let (status, _, _) = refused(client.list_collection_fields().id(id + 1).send().await).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn copernica_retries_through_an_injected_429() {
    let sandbox = sandbox(0).await;
    sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 429,
            retry_after: Some(0),
            body: String::new(),
        })
        .vendor(Vendor::Copernica)
        .method("GET")
        .path_contains("/import/"),
    );
    let client = cop(&sandbox, COPERNICA_TOKEN);
    let created = client
        .create_import()
        .body(cop_csv_import(COP_CSV))
        .send()
        .await
        .unwrap();
    let id = created_id(created.headers());
    let status = client
        .get_import()
        .id(id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.status.as_deref(),
        Some("finished"),
        "no intermediate polls"
    );
    let hits = sandbox.hits();
    assert_eq!(
        hits[&(Vendor::Copernica, format!("GET /v3/import/{id}"))],
        2
    );
}
