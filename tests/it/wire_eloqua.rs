//! The generated Eloqua client on the wire: every operation is called against a loopback
//! wiremock server whose mock checks the method, the exact path and query, the `Authorization`
//! header, the Content-Type and the body, and is expected exactly once. Bodies are the fixtures
//! of `tests/fixtures/eloqua/` where one fits.
#![cfg(feature = "eloqua")]

use std::collections::BTreeMap;

use esp_imports::eloqua::api::{ByteStream, Error, ResponseValue};
use esp_imports::eloqua::{self, types, Auth, Client};
use esp_imports::{HttpConfig, Secret};
use futures::TryStreamExt as _;
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use wiremock::matchers::{body_bytes, body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const PASSWORD: &str = "s3cret-pw";
/// `Basic base64("Acme\jane.doe:s3cret-pw")`, computed outside this crate.
const BASIC: &str = "Basic QWNtZVxqYW5lLmRvZTpzM2NyZXQtcHc=";
const TOKEN: &str = "elq-oauth2-access-token-5e6f";
const IMPORT: i64 = 29686;
const SYNC: i64 = 384;

fn basic() -> Auth {
    Auth::Basic {
        company: "Acme".into(),
        username: "jane.doe".into(),
        password: Secret::new(PASSWORD),
    }
}

/// A client for the Bulk API of the pod the mock server stands in for.
fn bulk_client(server: &MockServer) -> Client {
    let base = format!("{}{}", server.uri(), eloqua::BULK_PATH);
    Client::with_auth(&base, &basic(), &HttpConfig::default()).unwrap()
}

/// A client for the login host (`LOGIN_URL`), played by the mock server.
fn login_client(server: &MockServer, auth: &Auth) -> Client {
    Client::with_auth(&server.uri(), auth, &HttpConfig::default()).unwrap()
}

/// A fixture of `tests/fixtures/eloqua/`, parsed.
fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/eloqua/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn decode<T: DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

/// The query string holds exactly `pairs` (decoded, in any order).
fn exact_query(pairs: &[(&str, &str)]) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    let mut expected: Vec<(String, String)> =
        pairs.iter().map(|&(k, v)| (k.into(), v.into())).collect();
    expected.sort();
    move |request: &Request| {
        let mut actual: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        actual.sort();
        actual == expected
    }
}

/// A Bulk API call `verb /api/bulk/2.0{bulk_path}?{query}` with the Basic credentials.
fn bulk_call(verb: &str, bulk_path: &str, query: &[(&str, &str)]) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(format!("{}{bulk_path}", eloqua::BULK_PATH)))
        .and(exact_query(query))
        .and(header("authorization", BASIC))
}

/// Mounts `mock` answering `answer`, to be called exactly once.
async fn mount(server: &MockServer, mock: MockBuilder, answer: ResponseTemplate) {
    mock.respond_with(answer).expect(1).mount(server).await;
}

fn json_answer(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(body)
}

/// The `UnexpectedResponse` of a failed call (any other outcome fails the test).
fn unexpected<T>(result: Result<ResponseValue<T>, Error<()>>) -> reqwest::Response {
    match result {
        Err(Error::UnexpectedResponse(response)) => response,
        Err(other) => panic!("expected Error::UnexpectedResponse, got {other:?}"),
        Ok(answer) => panic!(
            "expected Error::UnexpectedResponse, got {}",
            answer.status()
        ),
    }
}

/// The status and the whole body of a raw-bytes answer.
async fn raw(answer: ResponseValue<ByteStream>) -> (u16, Vec<u8>) {
    let status = answer.status().as_u16();
    let chunks: Vec<_> = answer.into_inner_stream().try_collect().await.unwrap();
    (status, chunks.concat())
}

// ---- contact import definitions ----

#[tokio::test]
async fn list_contact_imports_pages_and_filters() {
    let server = MockServer::start().await;
    let definition = fixture("ContactImportIndividual.create-response.json");
    let page = json!({
        "items": [definition], "totalResults": 11, "limit": 5, "offset": 10,
        "count": 1, "hasMore": false
    });
    let query = [("limit", "5"), ("offset", "10"), ("q", "name=*Import*")];
    mount(
        &server,
        bulk_call("GET", "/contacts/imports", &query),
        json_answer(200, page),
    )
    .await;

    let page = bulk_client(&server)
        .list_contact_imports()
        .limit(5)
        .offset(10)
        .q("name=*Import*")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        (page.limit, page.offset, page.count),
        (Some(5), Some(10), Some(1))
    );
    assert_eq!((page.total_results, page.has_more), (Some(11), Some(false)));
    assert_eq!(
        page.items,
        vec![decode::<types::ContactImportIndividual>(definition)]
    );
    assert_eq!(
        page.items[0].uri.as_deref(),
        Some("/contacts/imports/29686")
    );
}

#[tokio::test]
async fn create_contact_import_sends_the_definition() {
    let server = MockServer::start().await;
    let request = fixture("ContactImportIndividual.create-request.json");
    let mock = bulk_call("POST", "/contacts/imports", &[])
        .and(header("content-type", "application/json"))
        .and(body_json(&request));
    let created = fixture("ContactImportIndividual.create-response.json");
    mount(&server, mock, json_answer(201, created)).await;

    let created = bulk_client(&server)
        .create_contact_import()
        .body(decode::<types::ContactImportIndividual>(request))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.name, "Contact Name Import");
    assert_eq!(
        created.fields["FirstName"],
        "{{Contact.Field(C_FirstName)}}"
    );
    assert_eq!(created.identifier_field_name.as_deref(), Some("FirstName"));
    assert_eq!(created.uri.as_deref(), Some("/contacts/imports/29686"));
    assert_eq!(created.data_retention_duration.as_deref(), Some("P7D"));
    assert_eq!(created.is_sync_triggered_on_import, Some(false));
    assert_eq!(created.is_updating_multiple_matched_records, Some(false));
    assert_eq!(created.created_by.as_deref(), Some("API.User"));
    assert_eq!(
        created.created_at.as_deref(),
        Some("2015-08-21T20:07:05.9198818Z")
    );
}

#[tokio::test]
async fn get_contact_import_decodes_the_definition() {
    let server = MockServer::start().await;
    let definition = fixture("ContactImportIndividual.create-response.json");
    let mock = bulk_call("GET", "/contacts/imports/29686", &[]);
    mount(&server, mock, json_answer(200, definition.clone())).await;

    let got = bulk_client(&server)
        .get_contact_import()
        .id(IMPORT)
        .send()
        .await
        .unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.uri.as_deref(), Some("/contacts/imports/29686"));
    assert_eq!(got.updated_by.as_deref(), Some("API.User"));
    assert_eq!(
        got.into_inner(),
        decode::<types::ContactImportIndividual>(definition)
    );
}

#[tokio::test]
async fn update_contact_import_sends_the_typed_definition() {
    let server = MockServer::start().await;
    let wire = json!({
        "name": "Contact Name Import",
        "fields": {
            "Email": "{{Contact.Field(C_EmailAddress)}}",
            "FirstName": "{{Contact.Field(C_FirstName)}}"
        },
        "identifierFieldName": "Email",
        "isSyncTriggeredOnImport": true,
        "updateRule": "ifNewIsNotNull",
        "syncActions": [{"action": "add", "destination": "{{ContactList[123]}}"}]
    });
    let mut updated = fixture("ContactImportIndividual.create-response.json");
    for key in [
        "fields",
        "identifierFieldName",
        "isSyncTriggeredOnImport",
        "updateRule",
        "syncActions",
    ] {
        updated[key] = wire[key].clone();
    }
    updated["updatedAt"] = json!("2015-08-22T09:00:00.0000000Z");
    let mock = bulk_call("PUT", "/contacts/imports/29686", &[])
        .and(header("content-type", "application/json"))
        .and(body_json(&wire));
    mount(&server, mock, json_answer(200, updated)).await;

    let fields = BTreeMap::from([
        (
            "Email".to_owned(),
            "{{Contact.Field(C_EmailAddress)}}".to_owned(),
        ),
        (
            "FirstName".to_owned(),
            "{{Contact.Field(C_FirstName)}}".to_owned(),
        ),
    ]);
    let add_to_list = types::SyncAction {
        action: Some(types::SyncActionType::Known(
            types::SyncActionTypeKnown::Add,
        )),
        destination: Some("{{ContactList[123]}}".into()),
        status: None,
        update_all: None,
    };
    let definition = types::ContactImportIndividual::builder()
        .name("Contact Name Import")
        .fields(fields)
        .identifier_field_name("Email".to_owned())
        .is_sync_triggered_on_import(true)
        .update_rule(types::RuleType::Known(types::RuleTypeKnown::IfNewIsNotNull))
        .sync_actions(vec![add_to_list.clone()]);
    let updated = bulk_client(&server)
        .update_contact_import()
        .id(IMPORT)
        .body(definition)
        .send()
        .await
        .unwrap();
    assert_eq!(updated.status(), 200);
    assert_eq!(updated.identifier_field_name.as_deref(), Some("Email"));
    assert_eq!(updated.fields.len(), 2);
    assert_eq!(updated.is_sync_triggered_on_import, Some(true));
    assert_eq!(
        updated.update_rule,
        Some(types::RuleType::Known(types::RuleTypeKnown::IfNewIsNotNull))
    );
    assert_eq!(updated.sync_actions, vec![add_to_list]);
    assert_eq!(
        updated.updated_at.as_deref(),
        Some("2015-08-22T09:00:00.0000000Z")
    );
    assert_eq!(updated.uri.as_deref(), Some("/contacts/imports/29686"));
}

#[tokio::test]
async fn delete_contact_import_answers_204() {
    let server = MockServer::start().await;
    let mock = bulk_call("DELETE", "/contacts/imports/29686", &[]);
    mount(&server, mock, ResponseTemplate::new(204)).await;

    let deleted = bulk_client(&server)
        .delete_contact_import()
        .id(IMPORT)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

// ---- staged data ----

#[tokio::test]
async fn upload_csv_is_sent_as_is_and_answers_204() {
    let server = MockServer::start().await;
    let csv = "FirstName,Email\nJane,jane@example.com\n\"Doe, John\",john@example.com\n";
    let mock = bulk_call("POST", "/contacts/imports/29686/data", &[])
        .and(header("content-type", "text/csv"))
        .and(body_bytes(csv));
    mount(&server, mock, ResponseTemplate::new(204)).await;

    let answer = bulk_client(&server)
        .upload_contact_import_data()
        .id(IMPORT)
        .content_type(types::UploadContactImportDataContentType::TextCsv)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(raw(answer).await, (204, Vec::new()));
}

#[tokio::test]
async fn upload_json_answers_201_with_the_triggered_sync() {
    let server = MockServer::start().await;
    let records = json!([
        {"FirstName": "Jane", "Email": "jane@example.com"},
        {"FirstName": "John", "Email": "john@example.com"}
    ]);
    let mock = bulk_call("POST", "/contacts/imports/29686/data", &[])
        .and(header("content-type", "application/json"))
        .and(body_json(&records));
    let sync = fixture("SyncIndividual.create-response.json");
    mount(&server, mock, json_answer(201, sync.clone())).await;

    let data: types::ContactImportData = decode(records);
    let answer = bulk_client(&server)
        .upload_contact_import_data()
        .id(IMPORT)
        .content_type("application/json")
        .body(serde_json::to_vec(&data).unwrap())
        .send()
        .await
        .unwrap();
    let (status, body) = raw(answer).await;
    assert_eq!(status, 201);
    let started: types::SyncIndividual = serde_json::from_slice(&body).unwrap();
    assert_eq!(started.uri.as_deref(), Some("/syncs/384"));
    assert_eq!(
        started.synced_instance_uri.as_deref(),
        Some("/contacts/imports/384")
    );
    assert_eq!(started.status.as_deref(), Some("pending"));
    assert_eq!(started.created_by.as_deref(), Some("Marketing.Analytics"));
    assert_eq!(started, decode::<types::SyncIndividual>(sync));
}

#[tokio::test]
async fn upload_above_32_mb_is_answered_404() {
    const LIMIT: usize = 32 * 1024 * 1024;
    let server = MockServer::start().await;
    let row = "someone.with.a.rather.long.address@example.com\n";
    let mut csv = String::from("Email\n");
    while csv.len() <= LIMIT {
        csv.push_str(row);
    }
    let size = csv.len();
    let mock = bulk_call("POST", "/contacts/imports/29686/data", &[])
        .and(header("content-type", "text/csv"))
        .and(move |r: &Request| r.body.len() == size);
    mount(&server, mock, ResponseTemplate::new(404)).await;

    let result = bulk_client(&server)
        .upload_contact_import_data()
        .id(IMPORT)
        .content_type(types::UploadContactImportDataContentType::TextCsv)
        .body(csv)
        .send()
        .await;
    assert_eq!(unexpected(result).status(), 404);
}

#[tokio::test]
async fn delete_contact_import_data_answers_204() {
    let server = MockServer::start().await;
    let mock = bulk_call("DELETE", "/contacts/imports/29686/data", &[]);
    mount(&server, mock, ResponseTemplate::new(204)).await;

    let deleted = bulk_client(&server)
        .delete_contact_import_data()
        .id(IMPORT)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
}

#[tokio::test]
async fn delete_contact_import_data_during_a_sync_is_an_untyped_409() {
    let server = MockServer::start().await;
    let mock = bulk_call("DELETE", "/contacts/imports/29686/data", &[]);
    mount(&server, mock, ResponseTemplate::new(409)).await;

    let result = bulk_client(&server)
        .delete_contact_import_data()
        .id(IMPORT)
        .send()
        .await;
    assert_eq!(unexpected(result).status(), 409);
}

// ---- syncs ----

#[tokio::test]
async fn list_syncs_of_one_definition() {
    let server = MockServer::start().await;
    let filter = "syncedInstanceUri='/contacts/imports/384'";
    let done = fixture("SyncIndividual.get-response.json");
    let page = json!({"items": [done], "totalResults": 1, "limit": 1000, "offset": 0, "count": 1, "hasMore": false});
    let mock = bulk_call(
        "GET",
        "/syncs",
        &[("q", filter), ("orderBy", "createdAt DESC")],
    );
    mount(&server, mock, json_answer(200, page)).await;

    let page = bulk_client(&server)
        .list_syncs()
        .q(filter)
        .order_by("createdAt DESC")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        (page.count, page.total_results, page.has_more),
        (Some(1), Some(1), Some(false))
    );
    assert_eq!(page.items, vec![decode::<types::SyncIndividual>(done)]);
    assert_eq!(page.items[0].status.as_deref(), Some("success"));
}

#[tokio::test]
async fn create_sync_sends_the_typed_sync_and_answers_201() {
    let server = MockServer::start().await;
    let mock = bulk_call("POST", "/syncs", &[])
        .and(header("content-type", "application/json"))
        .and(body_json(fixture("SyncIndividual.create-request.json")));
    mount(
        &server,
        mock,
        json_answer(201, fixture("SyncIndividual.create-response.json")),
    )
    .await;

    let created = bulk_client(&server)
        .create_sync()
        .body(
            types::SyncIndividual::builder()
                .synced_instance_uri("/contacts/imports/384".to_owned()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    assert_eq!(created.uri.as_deref(), Some("/syncs/384"));
    assert_eq!(
        created.synced_instance_uri.as_deref(),
        Some("/contacts/imports/384")
    );
    assert_eq!(created.status.as_deref(), Some("pending"));
    assert_eq!(
        created.created_at.as_deref(),
        Some("2023-08-28T16:11:16.0100000Z")
    );
    assert_eq!(created.sync_started_at, None);
    assert_eq!(created.sync_ended_at, None);
}

#[tokio::test]
async fn get_sync_decodes_the_finished_sync() {
    let server = MockServer::start().await;
    let mock = bulk_call("GET", "/syncs/384", &[]);
    mount(
        &server,
        mock,
        json_answer(200, fixture("SyncIndividual.get-response.json")),
    )
    .await;

    let sync = bulk_client(&server)
        .get_sync()
        .id(SYNC)
        .send()
        .await
        .unwrap();
    assert_eq!(sync.status(), 200);
    assert_eq!(sync.status.as_deref(), Some("success"));
    assert_eq!(
        sync.synced_instance_uri.as_deref(),
        Some("/contacts/imports/384")
    );
    assert_eq!(
        sync.sync_started_at.as_deref(),
        Some("2023-08-28T16:11:16.5500000Z")
    );
    assert_eq!(
        sync.sync_ended_at.as_deref(),
        Some("2023-08-28T16:11:18.9330000Z")
    );
    assert_eq!(sync.callback_url, None);
}

#[tokio::test]
async fn list_sync_logs_decodes_the_counts() {
    let server = MockServer::start().await;
    let mock = bulk_call("GET", "/syncs/384/logs", &[]);
    mount(
        &server,
        mock,
        json_answer(200, fixture("SyncLogSearchResponse.logs.json")),
    )
    .await;

    let logs = bulk_client(&server)
        .list_sync_logs()
        .id(SYNC)
        .send()
        .await
        .unwrap();
    assert_eq!(logs.status(), 200);
    assert_eq!(
        (logs.count, logs.total_results, logs.has_more),
        (Some(2), Some(2), Some(false))
    );
    let codes: Vec<_> = logs
        .items
        .iter()
        .map(|l| (l.status_code.as_deref(), l.severity.as_deref(), l.count))
        .collect();
    assert_eq!(
        codes,
        [
            (Some("ELQ-00001"), Some("information"), Some(2)),
            (Some("ELQ-00002"), Some("warning"), Some(1)),
        ]
    );
    assert_eq!(
        logs.items[1].message.as_deref(),
        Some("Invalid email addresses.")
    );
    assert_eq!(logs.items[1].sync_uri.as_deref(), Some("/syncs/384"));
}

#[tokio::test]
async fn list_sync_rejects_pages() {
    let server = MockServer::start().await;
    let mock = bulk_call(
        "GET",
        "/syncs/384/rejects",
        &[("limit", "1"), ("offset", "0")],
    );
    mount(
        &server,
        mock,
        json_answer(200, fixture("SyncRejectSearchResponse.rejects.json")),
    )
    .await;

    let rejects = bulk_client(&server)
        .list_sync_rejects()
        .id(SYNC)
        .limit(1)
        .offset(0)
        .send()
        .await
        .unwrap();
    assert_eq!(rejects.status(), 200);
    assert_eq!(
        (rejects.limit, rejects.offset, rejects.count),
        (Some(1), Some(0), Some(1))
    );
    assert_eq!(
        (rejects.total_results, rejects.has_more),
        (Some(871598), Some(true))
    );
    let reject = &rejects.items[0];
    assert_eq!(reject.message.as_deref(), Some("Invalid email address."));
    assert_eq!(reject.status_code.as_deref(), Some("ELQ-00002"));
    assert_eq!(reject.record_index, Some(1));
    assert_eq!(reject.invalid_fields, ["C_EmailAddress"]);
    assert_eq!(reject.field_values["C_EmailAddress"], "Polar bear");
    assert_eq!(reject.field_values.len(), 3);
}

// ---- contact fields and pod discovery ----

#[tokio::test]
async fn list_contact_fields_decodes_the_statements() {
    let server = MockServer::start().await;
    let mock = bulk_call("GET", "/contacts/fields", &[]);
    mount(
        &server,
        mock,
        json_answer(200, fixture("ContactFieldSearchResponse.fields.json")),
    )
    .await;

    let fields = bulk_client(&server)
        .list_contact_fields()
        .send()
        .await
        .unwrap();
    assert_eq!(fields.status(), 200);
    assert_eq!(
        (fields.count, fields.total_results, fields.has_more),
        (Some(8), Some(8), Some(false))
    );
    let field = &fields.items[0];
    assert_eq!(field.name.as_deref(), Some("key1"));
    assert_eq!(field.internal_name.as_deref(), Some("key11"));
    assert_eq!(field.data_type.as_deref(), Some("string"));
    assert_eq!(
        field.statement.as_deref(),
        Some("{{CustomObject[172].Field[976]}}")
    );
    assert_eq!(field.has_read_only_constraint, Some(false));
}

/// `GET /id` on the login host, with the given `Authorization` value.
fn login_call(authorization: &str) -> MockBuilder {
    Mock::given(method("GET"))
        .and(path("/id"))
        .and(exact_query(&[]))
        .and(header("authorization", authorization))
}

#[tokio::test]
async fn get_login_id_discovers_the_pod() {
    let server = MockServer::start().await;
    mount(
        &server,
        login_call(BASIC),
        json_answer(200, fixture("LoginIdResponse.discovery.json")),
    )
    .await;

    let answer = login_client(&server, &basic())
        .get_login_id()
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    let types::LoginIdResult::Response(login) = answer.into_inner() else {
        panic!("expected the discovery object");
    };
    assert_eq!(login.urls.base, "https://secure.p01.eloqua.com");
    let rest = login
        .urls
        .apis
        .and_then(|a| a.rest)
        .expect("urls.apis.rest");
    assert_eq!(
        rest.bulk.as_deref(),
        Some("https://secure.p01.eloqua.com/API/Bulk/{version}/")
    );
    let site = login.site.expect("site");
    assert_eq!((site.id, site.name.as_deref()), (Some(1234), Some("test")));
    let user = login.user.expect("user");
    assert_eq!(
        (user.id, user.username.as_deref()),
        (Some(111), Some("test"))
    );
    assert_eq!(user.email_address.as_deref(), Some("test@test.com"));
}

#[tokio::test]
async fn get_login_id_not_authenticated_is_the_failure_variant() {
    let server = MockServer::start().await;
    let bearer = format!("Bearer {TOKEN}");
    let answer = json_answer(200, fixture("LoginIdFailure.not-authenticated.json"));
    mount(&server, login_call(&bearer), answer).await;

    let auth = Auth::Bearer(Secret::new(TOKEN));
    let answer = login_client(&server, &auth)
        .get_login_id()
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.into_inner(),
        types::LoginIdResult::Failure(types::LoginIdFailure("Not authenticated.".into()))
    );
}

#[tokio::test]
async fn get_login_id_401_is_untyped_but_decodes_as_the_failure() {
    let server = MockServer::start().await;
    let answer = json_answer(401, fixture("LoginIdFailure.not-authenticated.json"));
    mount(&server, login_call(BASIC), answer).await;

    let response = unexpected(login_client(&server, &basic()).get_login_id().send().await);
    assert_eq!(response.status(), 401);
    let failure: types::LoginIdFailure = response.json().await.unwrap();
    assert_eq!(failure.0, "Not authenticated.");
}

#[test]
fn credentials_stay_out_of_debug_output() {
    let config = HttpConfig::default();
    let encoded = BASIC.trim_start_matches("Basic ");
    for (auth, secrets) in [
        (basic(), vec![PASSWORD, encoded]),
        (Auth::Bearer(Secret::new(TOKEN)), vec![TOKEN]),
    ] {
        let client = Client::with_auth(eloqua::LOGIN_URL, &auth, &config).unwrap();
        let debug = format!("{client:?} {auth:?}");
        // The default headers are part of the output: only their values are hidden.
        assert!(debug.contains("authorization"), "{debug}");
        for secret in secrets {
            assert!(
                !debug.contains(secret),
                "credential in Debug output: {debug}"
            );
        }
    }
}
