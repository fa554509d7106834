//! The generated Mindbaz client on the wire: every operation is called against a loopback
//! wiremock server whose mock checks the method, the exact path and query, the credential
//! header, the Content-Type and the JSON body, and is expected exactly once. Bodies are the
//! vendor-doc fixtures of `tests/fixtures/mindbaz/`.
#![cfg(feature = "mindbaz")]

use esp_imports::mindbaz::{self, api::Error, types, Auth, Client};
use esp_imports::{HttpConfig, Secret};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const SITE: i32 = 1234;
const TOKEN: &str = "eyJhbGciOi.mindbaz-jwt.s1gn4ture";
const API_KEY: &str = "mbz-api-key-0f9e8d7c";

/// A vendor-doc fixture of `tests/fixtures/mindbaz/`, parsed.
fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/mindbaz/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

/// Members the doc marks mandatory: sent even when `null` (as the doc's examples write them).
const MANDATORY: [&str; 4] = ["textQualifier", "sheetName", "fileColumnName", "fixedValue"];

/// `value` as the client sends it: without its optional `null` members (the generated types
/// leave unset optional fields out, where the doc's examples write them as `null`), with the
/// mandatory ones.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => map
            .into_iter()
            .filter(|(k, v)| !v.is_null() || MANDATORY.contains(&k.as_str()))
            .map(|(k, v)| (k, without_nulls(v)))
            .collect(),
        Value::Array(items) => items.into_iter().map(without_nulls).collect(),
        other => other,
    }
}

/// The credential header the client must send for `auth`, and the one it must not send.
fn credential(auth: &Auth) -> ((&'static str, String), &'static str) {
    match auth {
        Auth::Bearer(_) => (("authorization", format!("Bearer {TOKEN}")), "x-api-key"),
        Auth::ApiKey(_) => (("x-api-key", API_KEY.to_owned()), "authorization"),
        _ => unreachable!("the tests use Bearer and ApiKey"),
    }
}

/// A call `verb path` with no query string, carrying exactly the credential of `auth`.
fn call(auth: &Auth, verb: &str, url_path: &str) -> MockBuilder {
    let ((name, value), absent) = credential(auth);
    Mock::given(method(verb))
        .and(path(url_path))
        .and(|r: &Request| r.url.query().is_none())
        .and(header(name, value.as_str()))
        .and(move |r: &Request| !r.headers.contains_key(absent))
}

fn client(server: &MockServer, auth: &Auth) -> Client {
    Client::with_auth(&server.uri(), auth, &HttpConfig::default()).unwrap()
}

/// Schedules the file of `request_fixture` and follows the import to completion, with `auth`.
async fn schedule_then_follow(auth: Auth, request_fixture: &str) {
    let server = MockServer::start().await;
    let request = fixture(request_fixture);
    call(&auth, "POST", "/api/1234/imports/scheduleNow")
        .and(header("content-type", "application/json"))
        .and(body_json(without_nulls(request.clone())))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(fixture("ImportResponse.schedule-now-response.json")),
        )
        .expect(1)
        .mount(&server)
        .await;
    let mut done = fixture("ImportResponse.schedule-now-response.json");
    done["data"]["importState"] = json!(3);
    done["data"]["lastImportLog"] = json!({
        "id": 9001, "filename": "ExportMindBaz_21-06-2022.csv",
        "startDate": "2023-01-05T10:37:31.1+01:00", "endDate": "2023-01-05T10:38:02.4+01:00",
        "totalRows": 120, "nbInserts": 100, "nbUpdates": 15, "nbErrorRows": 3,
        "nbBadFormattedRows": 2, "badFormattedRowNumbers": "17;42", "errorMessage": null
    });
    // Only answers to API-key calls carry the rate-limit headers.
    let mut answer = ResponseTemplate::new(200).set_body_json(done);
    let api_key = matches!(auth, Auth::ApiKey(_));
    if api_key {
        answer = answer.insert_header("X-RateLimit-Remaining", "59");
    }
    call(&auth, "GET", "/api/1234/imports/252")
        .respond_with(answer)
        .expect(1)
        .mount(&server)
        .await;
    let client = client(&server, &auth);

    let body: types::ScheduleNowRequest = serde_json::from_value(request).unwrap();
    let scheduled = client
        .schedule_import_now()
        .idsite(SITE)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.status(), 200);
    assert_eq!(scheduled.success, Some(true));
    assert_eq!(scheduled.error, None);
    assert_eq!(scheduled.type_name.as_deref(), Some("Import"));
    let import = scheduled.into_inner().data.expect("data");
    assert_eq!(import.id, Some(252));
    assert_eq!(import.import_state, Some(1));
    assert_eq!(import.is_deleted, Some(false));
    assert_eq!(
        import.creation_date.as_deref(),
        Some("2023-01-05T10:35:30.9983907+01:00")
    );
    assert_eq!(import.last_import_log, None);
    let scheduling = import.scheduling_infos.expect("schedulingInfos");
    assert_eq!(scheduling.is_recurring, Some(false));
    assert_eq!(scheduling.recurring_infos, None);
    assert_eq!(
        scheduling.scheduled_date.as_deref(),
        Some("2023-01-05T10:37:30.8108812+01:00")
    );
    let parameters = import.parameters.expect("parameters");
    assert_eq!(parameters.filename, "ExportMindBaz_21-06-2022.csv");
    assert_eq!(parameters.column_delimiter, "|");
    assert_eq!(parameters.row_delimiter, "\r\n");
    assert_eq!(parameters.delete_file, Some(true));
    let mapping = &parameters.column_mapping;
    assert_eq!(mapping.len(), 2);
    assert_eq!(mapping[1].db_field_name, "fld158");
    assert_eq!(mapping[1].id_mapping_mode, 1);
    assert_eq!(
        mapping[1].file_column_name.as_deref(),
        Some("animal_date_naissance")
    );
    assert_eq!(mapping[1].fixed_value.as_deref(), Some(""));
    assert_eq!(mapping[1].format.as_deref(), Some("dd/MM/yyyy HH:mm:ss"));

    let followed = client
        .get_import()
        .idsite(SITE)
        .id_import(import.id.unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 200);
    if api_key {
        assert_eq!(followed.headers()["x-ratelimit-remaining"], "59");
    }
    let import = followed.into_inner().data.expect("data");
    assert_eq!(import.import_state, Some(3));
    let log = import.last_import_log.expect("lastImportLog");
    assert_eq!(log.id, Some(9001));
    assert_eq!(log.total_rows, Some(120));
    assert_eq!((log.nb_inserts, log.nb_updates), (Some(100), Some(15)));
    assert_eq!(
        (log.nb_error_rows, log.nb_bad_formatted_rows),
        (Some(3), Some(2))
    );
    assert_eq!(log.bad_formatted_row_numbers.as_deref(), Some("17;42"));
    assert_eq!(log.end_date.as_deref(), Some("2023-01-05T10:38:02.4+01:00"));
    assert_eq!(log.error_message, None);
}

#[tokio::test]
async fn schedule_and_follow_with_bearer_token() {
    schedule_then_follow(
        Auth::Bearer(Secret::new(TOKEN)),
        "ScheduleNowRequest.schedule-now.json",
    )
    .await;
}

#[tokio::test]
async fn schedule_and_follow_with_api_key() {
    schedule_then_follow(
        Auth::ApiKey(Secret::new(API_KEY)),
        "ScheduleNowRequest.schedule-now-csharp.json",
    )
    .await;
}

#[tokio::test]
async fn schedule_now_file_not_found_is_an_untyped_400() {
    let server = MockServer::start().await;
    let auth = Auth::Bearer(Secret::new(TOKEN));
    let request = fixture("ScheduleNowRequest.schedule-now.json");
    call(&auth, "POST", "/api/1234/imports/scheduleNow")
        .and(header("content-type", "application/json"))
        .and(body_json(without_nulls(request.clone())))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "success": false, "data": null, "error": "Error, file not found", "typeName": null
        })))
        .expect(1)
        .mount(&server)
        .await;

    let result = client(&server, &auth)
        .schedule_import_now()
        .idsite(SITE)
        .body(serde_json::from_value::<types::ScheduleNowRequest>(request).unwrap())
        .send()
        .await;
    let Err(Error::UnexpectedResponse(response)) = result else {
        panic!("expected Error::UnexpectedResponse, got {result:?}");
    };
    assert_eq!(response.status(), 400);
    let envelope: types::ApiErrorResponse = response.json().await.unwrap();
    assert_eq!(envelope.success, Some(false));
    assert_eq!(envelope.data, None);
    assert_eq!(envelope.error.as_deref(), Some("Error, file not found"));
    assert_eq!(envelope.type_name, None);
}

#[tokio::test]
async fn credentials_stay_out_of_debug_output() {
    let config = HttpConfig::default();
    for (auth, secret, header_name) in [
        (Auth::Bearer(Secret::new(TOKEN)), TOKEN, "authorization"),
        (Auth::ApiKey(Secret::new(API_KEY)), API_KEY, "x-api-key"),
    ] {
        let client = Client::with_auth(mindbaz::PRODUCTION_URL, &auth, &config).unwrap();
        let debug = format!("{client:?} {auth:?}");
        // The default headers are part of the output: only their values are hidden.
        assert!(debug.contains(header_name), "{debug}");
        assert!(
            !debug.contains(secret),
            "credential in Debug output: {debug}"
        );
    }
}
