//! The sandbox's Mindbaz and Eloqua emulators, driven by the crate's generated clients and by
//! the Eloqua import workflow: credentials, the documented errors, state progressions over
//! polls, real row processing (rejects, a second import updating instead of inserting), the
//! 32 MB staging limit and an injected fault.
#![cfg(all(feature = "mindbaz", feature = "eloqua"))]

use std::{path::Path, time::Duration};

use esp_imports::{eloqua, mindbaz};
use esp_imports::{HttpConfig, ImportOptions, Mode, RetryPolicy, Secret, Status, Vendor};
use esp_imports_sandbox::{Credentials, Fault, FaultKind, Sandbox, SandboxConfig};
use futures::TryStreamExt as _;
use serde_json::{json, Value};

const SITE: i32 = 4321;

fn config() -> HttpConfig {
    HttpConfig::default()
        .with_request_timeout(Duration::from_secs(60))
        .with_retry(
            RetryPolicy::default()
                .with_max_attempts(3)
                .with_backoff(Duration::from_millis(10), Duration::from_millis(100))
                .with_max_elapsed(Duration::from_secs(10)),
        )
}

async fn sandbox() -> Sandbox {
    Sandbox::start(SandboxConfig::default()).await.unwrap()
}

// ---------------------------------------------------------------------------------------------
// Mindbaz

fn mindbaz_client(sandbox: &Sandbox, auth: &mindbaz::Auth) -> mindbaz::Client {
    mindbaz::Client::with_auth(&sandbox.base_url(Vendor::Mindbaz), auth, &config()).unwrap()
}

fn mindbaz_bearer() -> mindbaz::Auth {
    mindbaz::Auth::Bearer(Secret::new(Credentials::default().mindbaz_token))
}

fn put_on_sftp(sandbox: &Sandbox, name: &str, content: &str) {
    let path = sandbox.mindbaz_sftp_dir().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// `scheduleNow` parameters for `filename`, `;`-separated with a header, UTF-8: `email` → fld1
/// (the key), `first name` → fld150, `city` → fld151.
fn parameters(filename: &str) -> Value {
    json!({
        "filename": filename,
        "startLine": 1,
        "columnNamesFirstLine": true,
        "textQualifier": "\"",
        "columnDelimiter": ";",
        "rowDelimiter": "\r\n",
        "codepage": 65001,
        "sheetName": null,
        "keyDbFieldName": "fld1",
        "insertEnabled": true,
        "deleteFile": false,
        "emailNotification": "ops@example.com",
        "columnMapping": [
            {"dbFieldName": "fld151", "idMappingMode": 1, "fileColumnName": "city", "fixedValue": null},
            {"dbFieldName": "fld1", "idMappingMode": 1, "fileColumnName": "email", "fixedValue": null},
            {"dbFieldName": "fld150", "idMappingMode": 1, "fileColumnName": "first name", "fixedValue": null}
        ]
    })
}

async fn schedule(
    client: &mindbaz::Client,
    parameters: Value,
) -> Result<mindbaz::types::Import, mindbaz::api::Error<()>> {
    let body: mindbaz::types::ScheduleNowRequest =
        serde_json::from_value(json!({ "parameters": parameters })).unwrap();
    let answer = client
        .schedule_import_now()
        .idsite(SITE)
        .body(body)
        .send()
        .await?;
    assert_eq!(answer.status(), 200);
    let envelope = answer.into_inner();
    assert_eq!(envelope.success, Some(true));
    assert_eq!(envelope.error, None);
    assert_eq!(envelope.type_name.as_deref(), Some("Import"));
    Ok(envelope.data.expect("data"))
}

async fn get_import(client: &mindbaz::Client, id: i32) -> mindbaz::types::Import {
    let answer = client
        .get_import()
        .idsite(SITE)
        .id_import(id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.success, Some(true), "{answer:?}");
    answer.data.expect("data")
}

/// Polls until the import is in state 3 or 5; returns the states seen and the last import.
async fn follow(client: &mindbaz::Client, id: i32) -> (Vec<i32>, mindbaz::types::Import) {
    let mut states = Vec::new();
    for _ in 0..10 {
        let import = get_import(client, id).await;
        let state = import.import_state.unwrap();
        states.push(state);
        if matches!(state, 3 | 5) {
            return (states, import);
        }
    }
    panic!("import {id} never ended: {states:?}");
}

#[tokio::test]
async fn mindbaz_refuses_wrong_credentials_with_a_bare_401() {
    let sandbox = sandbox().await;
    put_on_sftp(&sandbox, "a.csv", "email\r\na@example.com\r\n");
    for auth in [
        mindbaz::Auth::Bearer(Secret::new("not-the-token")),
        mindbaz::Auth::ApiKey(Secret::new("not-the-key")),
    ] {
        let result = schedule(&mindbaz_client(&sandbox, &auth), parameters("a.csv")).await;
        let Err(mindbaz::api::Error::UnexpectedResponse(response)) = result else {
            panic!("expected a 401, got {result:?}");
        };
        assert_eq!(response.status(), 401);
        assert!(response.bytes().await.unwrap().is_empty());
    }
    // The same token as an API key is accepted, and API-key answers carry the rate limit.
    let key = mindbaz::Auth::ApiKey(Secret::new(Credentials::default().mindbaz_token));
    let client = mindbaz_client(&sandbox, &key);
    let import = schedule(&client, parameters("a.csv")).await.unwrap();
    let answer = client
        .get_import()
        .idsite(SITE)
        .id_import(import.id.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-ratelimit-limit"], "1000");
    assert_eq!(answer.headers()["x-ratelimit-remaining"], "998");
}

#[tokio::test]
async fn mindbaz_schedule_now_without_the_file_is_a_400_envelope() {
    let sandbox = sandbox().await;
    let client = mindbaz_client(&sandbox, &mindbaz_bearer());
    for (filename, message) in [
        ("missing.csv", "Error, file not found"),
        ("../escape.csv", "Error, invalid file name `../escape.csv`"),
    ] {
        let result = schedule(&client, parameters(filename)).await;
        let Err(mindbaz::api::Error::UnexpectedResponse(response)) = result else {
            panic!("expected a 400, got {result:?}");
        };
        assert_eq!(response.status(), 400);
        let envelope: mindbaz::types::ApiErrorResponse = response.json().await.unwrap();
        assert_eq!(envelope.success, Some(false));
        assert_eq!(envelope.data, None);
        assert_eq!(envelope.error.as_deref(), Some(message));
    }
    // Bad parameters are refused the same way.
    put_on_sftp(&sandbox, "a.csv", "email\r\na@example.com\r\n");
    for (pointer, value) in [
        ("/columnDelimiter", json!(";;")),
        ("/columnMapping/0/dbFieldName", json!("city")),
        ("/columnMapping", json!([])),
    ] {
        let mut p = parameters("a.csv");
        *p.pointer_mut(pointer).unwrap() = value;
        let result = schedule(&client, p).await;
        let Err(mindbaz::api::Error::UnexpectedResponse(response)) = result else {
            panic!("{pointer}: expected a 400, got {result:?}");
        };
        assert_eq!(response.status(), 400, "{pointer}");
    }
}

#[tokio::test]
async fn mindbaz_import_runs_through_its_states_and_processes_the_rows() {
    let sandbox = sandbox().await;
    let client = mindbaz_client(&sandbox, &mindbaz_bearer());
    put_on_sftp(
        &sandbox,
        "in/contacts.csv",
        "email;first name;city\r\n\
         ann@example.com;Ann;Lille\r\n\
         not-an-email;Bob;Lens\r\n\
         cy@example.com;\"Cy; Jr\"\r\n\
         \"dee@example.com\";Dee;\"Saint \"\"Omer\"\"\"\r\n\
         ANN@example.com;Ann again;Arras\r\n",
    );
    std::fs::create_dir_all(sandbox.mindbaz_sftp_dir().join("errors/in")).unwrap();
    let mut p = parameters("in/contacts.csv");
    p["deleteFile"] = json!(true);
    let import = schedule(&client, p).await.unwrap();
    assert_eq!(import.import_state, Some(1));
    assert_eq!(import.last_import_log, None);
    let echoed = import.parameters.unwrap();
    assert_eq!(echoed.codepage, Some(65001));
    // Echoed like the real API: ordered by field, nulls as "".
    let fields: Vec<_> = echoed
        .column_mapping
        .iter()
        .map(|m| m.db_field_name.as_str())
        .collect();
    assert_eq!(fields, ["fld1", "fld150", "fld151"]);
    assert_eq!(echoed.column_mapping[0].fixed_value.as_deref(), Some(""));

    let (states, done) = follow(&client, import.id.unwrap()).await;
    assert_eq!(states, [1, 2, 3]);
    let log = done.last_import_log.expect("lastImportLog");
    assert_eq!(log.error_message, None);
    assert_eq!(log.total_rows, Some(5));
    assert_eq!(log.nb_bad_formatted_rows, Some(1));
    assert_eq!(log.bad_formatted_row_numbers.as_deref(), Some("4"));
    assert_eq!(log.nb_error_rows, Some(1));
    assert_eq!(log.nb_validations, Some(3));
    assert_eq!(log.total_duplicate_keys, Some(1));
    assert_eq!((log.total_inserts, log.nb_inserts), (Some(2), Some(2)));
    assert_eq!((log.total_updates, log.nb_updates), (Some(0), Some(0)));
    assert!(!sandbox.mindbaz_sftp_dir().join("in/contacts.csv").exists());

    let contacts = sandbox.contacts(Vendor::Mindbaz);
    assert_eq!(
        contacts.keys().collect::<Vec<_>>(),
        ["ann@example.com", "dee@example.com"]
    );
    assert_eq!(contacts["ann@example.com"]["fld151"], "Lille");
    assert_eq!(contacts["dee@example.com"]["fld151"], "Saint \"Omer\"");

    // The same contacts again: updates, not inserts.
    put_on_sftp(
        &sandbox,
        "again.csv",
        "email;first name;city\r\nann@example.com;Ann;Roubaix\r\ndee@example.com;Dee;\r\n",
    );
    let import = schedule(&client, parameters("again.csv")).await.unwrap();
    let (_, done) = follow(&client, import.id.unwrap()).await;
    let log = done.last_import_log.unwrap();
    assert_eq!((log.nb_inserts, log.nb_updates), (Some(0), Some(2)));
    let contacts = sandbox.contacts(Vendor::Mindbaz);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts["ann@example.com"]["fld151"], "Roubaix");
    // Mapping mode 1 does not overwrite with an empty value.
    assert_eq!(contacts["dee@example.com"]["fld151"], "Saint \"Omer\"");
    assert!(sandbox.mindbaz_sftp_dir().join("again.csv").exists());
}

#[tokio::test]
async fn mindbaz_insert_disabled_bad_mappings_and_unknown_imports() {
    let sandbox = sandbox().await;
    let client = mindbaz_client(&sandbox, &mindbaz_bearer());
    put_on_sftp(
        &sandbox,
        "new.csv",
        "email,first name,city\nnew@example.com,New,Douai\n",
    );
    let mut p = parameters("new.csv");
    p["insertEnabled"] = json!(false);
    p["columnDelimiter"] = json!(",");
    p["rowDelimiter"] = json!("\n");
    let import = schedule(&client, p).await.unwrap();
    let (_, done) = follow(&client, import.id.unwrap()).await;
    let log = done.last_import_log.unwrap();
    assert_eq!(log.total_inserts, Some(1));
    assert_eq!(log.nb_inserts, Some(0));
    assert_eq!(log.nb_forbidden_inserts, Some(1));
    assert!(sandbox.contacts(Vendor::Mindbaz).is_empty());

    // A column that is not in the file: PackageErrorCreation.
    let mut p = parameters("new.csv");
    p["columnDelimiter"] = json!(",");
    p["rowDelimiter"] = json!("\n");
    p["columnMapping"][0]["fileColumnName"] = json!("town");
    let import = schedule(&client, p).await.unwrap();
    let (states, done) = follow(&client, import.id.unwrap()).await;
    assert_eq!(states, [1, 5]);
    let message = done.last_import_log.unwrap().error_message.unwrap();
    assert!(message.contains("`town`"), "{message}");

    // The spec declares no 404: an unknown import is the failure envelope.
    let answer = client
        .get_import()
        .idsite(SITE)
        .id_import(999_999)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let envelope = answer.into_inner();
    assert_eq!(envelope.success, Some(false));
    assert_eq!(envelope.data, None);
    assert!(envelope.error.unwrap().contains("not found"));
}

// ---------------------------------------------------------------------------------------------
// Eloqua

fn eloqua_basic() -> eloqua::Auth {
    let c = Credentials::default();
    eloqua::Auth::Basic {
        company: c.eloqua_company,
        username: c.eloqua_username,
        password: Secret::new(c.eloqua_password),
    }
}

fn eloqua_client(sandbox: &Sandbox, auth: &eloqua::Auth) -> eloqua::Client {
    eloqua::Client::with_auth(&sandbox.base_url(Vendor::Eloqua), auth, &config()).unwrap()
}

fn definition(value: Value) -> eloqua::types::ContactImportIndividual {
    serde_json::from_value(value).unwrap()
}

/// Creates a definition `email` (identifier) → C_EmailAddress, `first` → C_FirstName,
/// `city` → C_City, plus `extra`; returns its id.
async fn create_definition(client: &eloqua::Client, extra: Value) -> i64 {
    let mut body = json!({
        "name": "sandbox contacts",
        "fields": {
            "email": "{{Contact.Field(C_EmailAddress)}}",
            "first": "{{Contact.Field(C_FirstName)}}",
            "city": "{{Contact.Field(C_City)}}"
        },
        "identifierFieldName": "email"
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let created = client
        .create_contact_import()
        .body(definition(body))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let uri = created.into_inner().uri.unwrap();
    uri.strip_prefix("/contacts/imports/")
        .unwrap()
        .parse()
        .unwrap()
}

async fn stage(client: &eloqua::Client, id: i64, csv: bool, body: &str) -> u16 {
    use eloqua::types::UploadContactImportDataContentType as Media;
    let media = if csv {
        Media::TextCsv
    } else {
        Media::ApplicationJson
    };
    let answer = client
        .upload_contact_import_data()
        .id(id)
        .content_type(media)
        .body(body.as_bytes().to_vec())
        .send()
        .await
        .unwrap();
    answer.status().as_u16()
}

async fn create_sync(client: &eloqua::Client, id: i64) -> i64 {
    let body = eloqua::types::SyncIndividual::builder()
        .synced_instance_uri(format!("/contacts/imports/{id}"));
    let sync = client.create_sync().body(body).send().await.unwrap();
    assert_eq!(sync.status(), 201);
    let sync = sync.into_inner();
    assert_eq!(sync.status.as_deref(), Some("pending"));
    assert!(sync.created_at.is_some() && sync.created_by.is_some());
    sync.uri
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

async fn sync_status(client: &eloqua::Client, id: i64) -> String {
    let sync = client.get_sync().id(id).send().await.unwrap().into_inner();
    sync.status.unwrap()
}

/// Polls the sync until it ends; returns its final status.
async fn finish(client: &eloqua::Client, id: i64) -> String {
    for _ in 0..10 {
        let status = sync_status(client, id).await;
        if !matches!(status.as_str(), "pending" | "active") {
            return status;
        }
    }
    panic!("sync {id} never ended");
}

async fn status_of<T>(result: Result<T, eloqua::api::Error<()>>) -> u16 {
    match result {
        Err(eloqua::api::Error::UnexpectedResponse(response)) => response.status().as_u16(),
        Err(other) => panic!("expected an error status, got {other:?}"),
        Ok(_) => panic!("expected an error status, got a success"),
    }
}

#[tokio::test]
async fn eloqua_login_service_and_credentials() {
    let sandbox = sandbox().await;
    let login = |auth: &eloqua::Auth| {
        eloqua::Client::with_auth(&sandbox.eloqua_login_url(), auth, &config()).unwrap()
    };
    let password = Credentials::default().eloqua_password;
    for auth in [eloqua_basic(), eloqua::Auth::Bearer(Secret::new(password))] {
        let answer = login(&auth).get_login_id().send().await.unwrap();
        assert_eq!(answer.status(), 200);
        let eloqua::types::LoginIdResult::Response(found) = answer.into_inner() else {
            panic!("expected the discovery object");
        };
        assert_eq!(found.urls.base, sandbox.eloqua_login_url());
        assert_eq!(found.site.unwrap().name.as_deref(), Some("SandboxCo"));
    }
    // The workflow's discovery lands on the emulated Bulk API.
    let base = eloqua::Client::discover(&sandbox.eloqua_login_url(), &eloqua_basic(), &config())
        .await
        .unwrap();
    assert_eq!(base, sandbox.base_url(Vendor::Eloqua));

    let wrong = eloqua::Auth::Basic {
        company: "SandboxCo".into(),
        username: "sandbox.user".into(),
        password: Secret::new("wrong"),
    };
    let answer = login(&wrong).get_login_id().send().await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.into_inner(),
        eloqua::types::LoginIdResult::Failure(eloqua::types::LoginIdFailure(
            "Not authenticated.".into()
        ))
    );
    // The Bulk API answers bad credentials with 401.
    for auth in [wrong, eloqua::Auth::Bearer(Secret::new("bad-token"))] {
        let client = eloqua_client(&sandbox, &auth);
        assert_eq!(status_of(client.list_syncs().send().await).await, 401);
    }
}

#[tokio::test]
async fn eloqua_definitions_are_validated_listed_updated_and_deleted() {
    let sandbox = sandbox().await;
    let client = eloqua_client(&sandbox, &eloqua_basic());
    let id = create_definition(&client, json!({})).await;
    let got = client
        .get_contact_import()
        .id(id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.data_retention_duration.as_deref(), Some("P7D"));
    assert_eq!(got.is_sync_triggered_on_import, Some(false));
    assert_eq!(got.created_by.as_deref(), Some("sandbox.user"));

    let too_many: serde_json::Map<String, Value> = (0..101)
        .map(|i| (format!("f{i}"), json!("{{Contact.Field(C_FirstName)}}")))
        .collect();
    for (body, field) in [
        (
            json!({"name": "x", "fields": {"e": "{{Contact.Field(C_Nope)}}"}}),
            "fields",
        ),
        (json!({"name": "x", "fields": too_many}), "fields"),
        (
            json!({"name": "x", "fields": {"e": "{{Contact.Field(C_EmailAddress)}}"},
                   "identifierFieldName": "email"}),
            "identifierFieldName",
        ),
        (
            json!({"name": "x", "fields": {"e": "{{Contact.Field(C_EmailAddress)}}"},
                   "dataRetentionDuration": "P30D"}),
            "dataRetentionDuration",
        ),
    ] {
        let result = client
            .create_contact_import()
            .body(definition(body))
            .send()
            .await;
        let Err(eloqua::api::Error::UnexpectedResponse(response)) = result else {
            panic!("expected a 400, got {result:?}");
        };
        assert_eq!(response.status(), 400);
        let error: eloqua::types::BulkValidationError = response.json().await.unwrap();
        assert_eq!(error.failures[0].field.as_deref(), Some(field));
    }

    let other = create_definition(&client, json!({"name": "another one"})).await;
    let listed = client
        .list_contact_imports()
        .q("name=*another*")
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.total_results, Some(1));
    assert_eq!(
        listed.items[0].uri.as_deref(),
        Some(format!("/contacts/imports/{other}").as_str())
    );
    let page = client
        .list_contact_imports()
        .limit(1)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!((page.count, page.has_more), (Some(1), Some(true)));

    let mut changed = got.clone();
    changed.name = "renamed".into();
    let updated = client
        .update_contact_import()
        .id(id)
        .body(changed)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(updated.name, "renamed");
    assert_eq!(updated.created_at, got.created_at);

    let deleted = client.delete_contact_import().id(id).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        status_of(client.get_contact_import().id(id).send().await).await,
        404
    );

    let fields = client
        .list_contact_fields()
        .send()
        .await
        .unwrap()
        .into_inner();
    let email = fields
        .items
        .iter()
        .find(|f| f.internal_name.as_deref() == Some("C_EmailAddress"))
        .unwrap();
    assert_eq!(
        email.statement.as_deref(),
        Some("{{Contact.Field(C_EmailAddress)}}")
    );
}

#[tokio::test]
async fn eloqua_sync_runs_through_its_states_and_reports_rejects() {
    let sandbox = sandbox().await;
    let client = eloqua_client(&sandbox, &eloqua_basic());
    let id = create_definition(&client, json!({})).await;
    let json_records = json!([
        {"email": "ann@example.com", "first": "Ann", "city": "Lille"},
        {"email": "not-an-email", "first": "Bob", "city": "Lens"}
    ]);
    assert_eq!(
        stage(&client, id, false, &json_records.to_string()).await,
        204
    );
    let csv = "email,first,city\r\ndee@example.com,\"Dee, D\",Arras\r\nANN@example.com,Ann,Douai\r\n,Nobody,Calais\r\n";
    assert_eq!(stage(&client, id, true, csv).await, 204);

    let sync = create_sync(&client, id).await;
    assert_eq!(sync_status(&client, sync).await, "pending");
    assert_eq!(sync_status(&client, sync).await, "active");
    // The staged data cannot be deleted while the sync runs.
    assert_eq!(
        status_of(client.delete_contact_import_data().id(id).send().await).await,
        409
    );
    let done = client
        .get_sync()
        .id(sync)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status.as_deref(), Some("warning"));
    assert!(done.sync_started_at.is_some() && done.sync_ended_at.is_some());

    let logs = client
        .list_sync_logs()
        .id(sync)
        .send()
        .await
        .unwrap()
        .into_inner();
    let count = |code: &str| {
        logs.items
            .iter()
            .find(|l| l.status_code.as_deref() == Some(code))
            .and_then(|l| l.count)
    };
    assert_eq!(count("ELQ-00001"), Some(5));
    assert_eq!(count("ELQ-00004"), Some(2));
    assert_eq!(count("ELQ-00022"), Some(0));
    assert_eq!(count("ELQ-00002"), Some(1));
    assert_eq!(count("ELQ-00011"), Some(1));
    assert_eq!(count("ELQ-00061"), Some(1));
    assert_eq!(count("ELQ-00060"), Some(3));

    // Rejects, one page at a time.
    let mut rejects = Vec::new();
    for offset in 0..3 {
        let page = client
            .list_sync_rejects()
            .id(sync)
            .limit(1)
            .offset(offset)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_results, Some(3));
        assert_eq!(page.has_more, Some(offset < 2));
        rejects.extend(page.items);
    }
    let summary: Vec<_> = rejects
        .iter()
        .map(|r| (r.record_index.unwrap(), r.status_code.clone().unwrap()))
        .collect();
    assert_eq!(
        summary,
        [
            (2, "ELQ-00002".to_owned()),
            (4, "ELQ-00011".to_owned()),
            (5, "ELQ-00061".to_owned())
        ]
    );
    assert_eq!(
        rejects[0].message.as_deref(),
        Some("Invalid email address.")
    );
    assert_eq!(rejects[0].invalid_fields, ["email"]);
    assert_eq!(rejects[0].field_values["first"], "Bob");

    let contacts = sandbox.contacts(Vendor::Eloqua);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts["dee@example.com"]["C_FirstName"], "Dee, D");
    assert_eq!(contacts["ann@example.com"]["C_City"], "Lille");

    // The staged data was consumed; the second sync of new data updates, and succeeds.
    let deleted = client
        .delete_contact_import_data()
        .id(id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(
        stage(&client, id, true, "email,city\nann@example.com,Roubaix\n").await,
        204
    );
    let second = create_sync(&client, id).await;
    let statuses = [
        sync_status(&client, second).await,
        sync_status(&client, second).await,
        sync_status(&client, second).await,
    ];
    assert_eq!(statuses, ["pending", "active", "success"]);
    let contacts = sandbox.contacts(Vendor::Eloqua);
    assert_eq!(contacts.len(), 2);
    assert_eq!(contacts["ann@example.com"]["C_City"], "Roubaix");
    assert_eq!(contacts["ann@example.com"]["C_FirstName"], "Ann");

    // The newest sync first.
    let listed = client
        .list_syncs()
        .order_by("createdAt DESC")
        .send()
        .await
        .unwrap()
        .into_inner();
    let uris: Vec<_> = listed
        .items
        .iter()
        .map(|s| s.uri.clone().unwrap())
        .collect();
    assert_eq!(uris, [format!("/syncs/{second}"), format!("/syncs/{sync}")]);
}

#[tokio::test]
async fn eloqua_import_rules_and_a_sync_triggered_on_import() {
    let sandbox = sandbox().await;
    let client = eloqua_client(&sandbox, &eloqua_basic());
    let seed = create_definition(&client, json!({})).await;
    stage(&client, seed, true, "email,city\nold@example.com,Lille\n").await;
    let sync = create_sync(&client, seed).await;
    assert_eq!(finish(&client, sync).await, "success");

    for (rule, new, code, city) in [
        ("createOnly", "new1@example.com", "ELQ-00048", "Lille"),
        ("updateOnly", "new2@example.com", "ELQ-00085", "Lens"),
    ] {
        let id = create_definition(&client, json!({"importRule": rule})).await;
        let records = format!("email,city\nold@example.com,Lens\n{new},Arras\n");
        assert_eq!(stage(&client, id, true, &records).await, 204);
        let sync = create_sync(&client, id).await;
        assert_eq!(finish(&client, sync).await, "warning", "{rule}");
        let rejects = client
            .list_sync_rejects()
            .id(sync)
            .send()
            .await
            .unwrap()
            .into_inner();
        assert_eq!(rejects.items.len(), 1, "{rule}");
        assert_eq!(
            rejects.items[0].status_code.as_deref(),
            Some(code),
            "{rule}"
        );
        assert_eq!(
            sandbox.contacts(Vendor::Eloqua)["old@example.com"]["C_City"],
            city,
            "{rule}"
        );
    }
    let contacts = sandbox.contacts(Vendor::Eloqua);
    assert!(contacts.contains_key("new1@example.com"));
    assert!(!contacts.contains_key("new2@example.com"));

    // A definition deleted before its sync ran: the sync fails (ELQ-00143).
    let id = create_definition(&client, json!({})).await;
    stage(&client, id, true, "email\ngone@example.com\n").await;
    let sync = create_sync(&client, id).await;
    let deleted = client.delete_contact_import().id(id).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_eq!(finish(&client, sync).await, "error");
    let logs = client
        .list_sync_logs()
        .id(sync)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(logs.items[0].status_code.as_deref(), Some("ELQ-00143"));
    assert!(!sandbox
        .contacts(Vendor::Eloqua)
        .contains_key("gone@example.com"));

    // With isSyncTriggeredOnImport, the upload answers 201 with the sync it started.
    let id = create_definition(&client, json!({"isSyncTriggeredOnImport": true})).await;
    let answer = client
        .upload_contact_import_data()
        .id(id)
        .content_type(eloqua::types::UploadContactImportDataContentType::TextCsv)
        .body(b"email\ntriggered@example.com\n".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 201);
    let chunks: Vec<_> = answer.into_inner_stream().try_collect().await.unwrap();
    let body = chunks.concat();
    let sync: eloqua::types::SyncIndividual = serde_json::from_slice(&body).unwrap();
    assert_eq!(sync.status.as_deref(), Some("pending"));
    assert_eq!(
        sync.synced_instance_uri,
        Some(format!("/contacts/imports/{id}"))
    );
}

#[tokio::test]
async fn eloqua_refuses_an_upload_over_32_mb_with_404() {
    let sandbox = sandbox().await;
    let client = eloqua_client(&sandbox, &eloqua_basic());
    let id = create_definition(&client, json!({})).await;
    let mut body = b"email\n".to_vec();
    body.resize(32_000_001, b'a');
    let result = client
        .upload_contact_import_data()
        .id(id)
        .content_type(eloqua::types::UploadContactImportDataContentType::TextCsv)
        .body(body)
        .send()
        .await;
    assert_eq!(status_of(result).await, 404);
    // Nothing was staged, and a normal upload still works.
    assert_eq!(
        stage(&client, id, true, "email\nok@example.com\n").await,
        204
    );
    let got = client
        .get_contact_import()
        .id(id)
        .send()
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.kb_used, Some(1));
}

fn write_csv(dir: &Path, content: &str) -> std::path::PathBuf {
    let path = dir.join("contacts.csv");
    std::fs::write(&path, content).unwrap();
    path
}

#[tokio::test]
async fn eloqua_import_workflow_end_to_end_through_a_503() {
    let sandbox = sandbox().await;
    let auth = eloqua_basic();
    let base = eloqua::Client::discover(&sandbox.eloqua_login_url(), &auth, &config())
        .await
        .unwrap();
    let client = eloqua::Client::with_auth(&base, &auth, &config()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = write_csv(
        dir.path(),
        "email,first name,city\n\
         ann@example.com,Ann,Lille\n\
         bob@invalid,Bob,Lens\n\
         cy@example.com,\"Cy, Jr\",Arras\n\
         dee@@example.com,Dee,Douai\n",
    );
    let mut options = ImportOptions::new(
        &file,
        [
            ("email", "C_EmailAddress"),
            ("first name", "C_FirstName"),
            ("city", "C_City"),
        ],
        "email",
    );
    options.poll_interval = Duration::from_millis(5);
    options.timeout = Duration::from_secs(30);
    sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 503,
            retry_after: Some(0),
            body: "<html><body>Service Unavailable</body></html>".into(),
        })
        .vendor(Vendor::Eloqua)
        .method("POST")
        .path_contains("/data"),
    );

    let report = client
        .import(&options, &eloqua::EloquaImport::default())
        .await
        .unwrap();
    assert_eq!(report.status, Status::CompletedWithErrors);
    assert_eq!(report.rows_total, Some(4));
    assert_eq!(report.rows_imported, Some(2));
    assert_eq!(report.rows_rejected, Some(2));
    let rejects: Vec<_> = report
        .rejects
        .iter()
        .map(|r| (r.row, r.reason.as_str()))
        .collect();
    assert_eq!(
        rejects,
        [
            (
                Some(3),
                "Invalid email address. (ELQ-00002); invalid: email"
            ),
            (
                Some(5),
                "Invalid email address. (ELQ-00002); invalid: email"
            ),
        ]
    );
    assert!(report.messages.iter().any(|m| m.contains("ELQ-00004")));
    // The 503 was answered once and the upload sent again.
    let uploads: u64 = sandbox
        .hits()
        .iter()
        .filter(|((v, route), _)| {
            *v == Vendor::Eloqua && route.starts_with("POST") && route.ends_with("/data")
        })
        .map(|(_, n)| n)
        .sum();
    assert_eq!(uploads, 2);
    let contacts = sandbox.contacts(Vendor::Eloqua);
    assert_eq!(
        contacts.keys().collect::<Vec<_>>(),
        ["ann@example.com", "cy@example.com"]
    );
    assert_eq!(contacts["cy@example.com"]["C_FirstName"], "Cy, Jr");

    // Again, update only: the same rows now update, the unknown ones are rejected.
    let file = write_csv(
        dir.path(),
        "email,city\nann@example.com,Roubaix\nnew@example.com,Lens\n",
    );
    let mut options = ImportOptions::new(
        &file,
        [("email", "C_EmailAddress"), ("city", "C_City")],
        "email",
    );
    options.poll_interval = Duration::from_millis(5);
    options.mode = Mode::UpdateOnly;
    let report = client
        .import(&options, &eloqua::EloquaImport::default())
        .await
        .unwrap();
    assert_eq!(report.status, Status::CompletedWithErrors);
    assert_eq!(report.rows_imported, Some(1));
    assert_eq!(report.rejects[0].row, Some(3));
    assert!(report.rejects[0].reason.contains("ELQ-00085"));
    let contacts = sandbox.contacts(Vendor::Eloqua);
    assert_eq!(contacts["ann@example.com"]["C_City"], "Roubaix");
    assert!(!contacts.contains_key("new@example.com"));
}
