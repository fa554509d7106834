//! Every NP6 MailPerformance operation on the wire, against a loopback wiremock server: the
//! request (method, exact path, no query, `X-Key`, the `Accept` NP6 insists on, headers and body)
//! is asserted by the mock, which must be hit exactly once; the typed answer is checked field by
//! field. Bodies come from `tests/fixtures/mailperformance/` where the vendor docs give one, and
//! from the spec's examples otherwise.
#![cfg(feature = "mailperformance")]

use bytes::Bytes;
use esp_imports::mailperformance::{self, api::Error, types, Client};
use esp_imports::{HttpConfig, Secret};
use serde_json::{json, Value};
use wiremock::matchers::{body_bytes, body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const KEY: &str = "np6-test-key-0123456789";
/// The import media type, as NP6 wants it in `Accept` and answers with.
const VND: &str = "application/vnd.mperf.v8.import.v1+json";
/// A small import file, as NP6's samples show it.
const CSV: &[u8] = b"nom;prenom;email;\nDupont;Jean;JD@test.com\nMartin;Anne;AM@test.com\n";
const DISPOSITION: &str = "form-data; filename=contacts.csv";

fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/mailperformance/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn client(server: &MockServer) -> Client {
    Client::with_auth(
        &server.uri(),
        &mailperformance::Auth::XKey(Secret::new(KEY)),
        &HttpConfig::default(),
    )
    .unwrap()
}

fn no_query(request: &Request) -> bool {
    request.url.query().is_none()
}

fn not_chunked(request: &Request) -> bool {
    !request.headers.contains_key("transfer-encoding")
}

fn no_content_disposition(request: &Request) -> bool {
    !request.headers.contains_key("content-disposition")
}

/// A call to NP6 as every operation makes it: `verb route`, no query, the key in `X-Key`, and
/// `Accept` (exactly one value).
fn call(verb: &str, route: &str, accept: &str) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(no_query)
        .and(header("x-key", KEY))
        .and(header("accept", accept))
}

/// A `/imports…` call: the vendor media type in `Accept`.
fn imports_call(verb: &str, route: &str) -> MockBuilder {
    call(verb, route, VND)
}

/// An `/importFormats` or `/fields` call: plain JSON.
fn json_call(verb: &str, route: &str) -> MockBuilder {
    call(verb, route, "application/json")
}

/// A 200 answer of the `/imports…` calls, in the vendor media type.
fn vnd(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(serde_json::to_vec(&body).unwrap(), VND)
}

async fn serve(server: &MockServer, mock: MockBuilder, answer: ResponseTemplate) {
    mock.respond_with(answer).expect(1).mount(server).await;
}

fn file_source(source: &Option<types::Source>) -> &types::FileSource {
    match source {
        Some(types::Source::FileSource(file)) => file,
        other => panic!("expected a file source, got {other:?}"),
    }
}

#[tokio::test]
async fn list_imports() {
    let server = MockServer::start().await;
    let answer = json!([
        {
            "id": 12345, "name": "Manual Import", "creationDate": "2016-06-13T16:20:43.656Z",
            "updateDate": null, "binding": 1234,
            "features": [{"type": "database", "updateExisting": true, "crushData": false}],
            "source": {"type": "file", "creationDate": "0001-01-01T00:00:00Z",
                       "updateDate": "2016-06-14T15:03:24.788Z", "filename": "3ec15c5168_filename.csv"}
        },
        {
            "id": 23, "name": "Import Contacts", "creationDate": "2017-03-02T10:00:00Z", "binding": 1234,
            "features": [{"type": "normalization", "fields": {"12350": ["FRA", "ESP"]}}],
            "source": {"type": "ftp", "creationDate": "2017-03-02T10:00:00Z",
                       "folder": "23 - Import Contacts", "templateFilename": "Import Contacts.csv"},
            "scheduler": {"id": 79}
        }
    ]);
    serve(&server, imports_call("GET", "/imports"), vnd(answer)).await;

    let imports = client(&server)
        .list_imports()
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(imports.len(), 2);
    let (manual, automatic) = (&imports[0], &imports[1]);
    assert_eq!(manual.id, Some(12345));
    assert_eq!(manual.name, "Manual Import");
    assert_eq!(manual.update_date, None);
    assert_eq!(manual.binding, Some(1234));
    assert_eq!(
        manual.features,
        vec![types::ImportFeature::DatabaseFeature(
            types::DatabaseFeature {
                crush_data: false,
                type_: types::DatabaseFeatureType::Database,
                update_existing: true,
            }
        )]
    );
    assert_eq!(
        file_source(&manual.source).filename.as_deref(),
        Some("3ec15c5168_filename.csv")
    );
    assert_eq!(automatic.id, Some(23));
    let Some(types::Source::FtpSource(ftp)) = &automatic.source else {
        panic!("expected an FTP source: {:?}", automatic.source)
    };
    assert_eq!(ftp.folder.as_deref(), Some("23 - Import Contacts"));
    assert_eq!(
        ftp.template_filename.as_deref(),
        Some("Import Contacts.csv")
    );
    assert_eq!(automatic.scheduler.as_ref().and_then(|s| s.id), Some(79));
    let [types::ImportFeature::NormalizationFeature(normalization)] = &automatic.features[..]
    else {
        panic!(
            "expected one normalization feature: {:?}",
            automatic.features
        )
    };
    assert_eq!(normalization.fields["12350"], ["FRA", "ESP"]);
}

#[tokio::test]
async fn create_import() {
    let server = MockServer::start().await;
    let request = fixture("Import.create-request.json");
    serve(
        &server,
        imports_call("POST", "/imports")
            .and(header("content-type", "application/json"))
            .and(body_json(&request)),
        vnd(fixture("Import.create-response.json")),
    )
    .await;

    let body: types::Import = serde_json::from_value(request).unwrap();
    let created = client(&server)
        .create_import()
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(created.status(), 200);
    assert_eq!(created.id, Some(12345));
    assert_eq!(created.name, "Manual Import");
    assert_eq!(
        created.creation_date.as_deref(),
        Some("2016-06-13T16:20:43.656Z")
    );
    assert_eq!(created.binding, Some(1234));
    assert_eq!(created.features.len(), 4);
    let types::ImportFeature::SegmentationFeature(segmentation) = &created.features[0] else {
        panic!("expected segmentation first: {:?}", created.features)
    };
    assert_eq!(segmentation.segment_id, Some(12345));
    assert_eq!(segmentation.empty_exisiting_segment, Some(false));
    let types::ImportFeature::ReportFeature(report) = &created.features[2] else {
        panic!("expected report third: {:?}", created.features)
    };
    assert_eq!(report.contact_guids, ["1234ABCD"]);
    assert!(report.send_final_report && report.send_error_report);
    // Right after creation the file source has no file yet.
    assert_eq!(file_source(&created.source).filename, None);
}

#[tokio::test]
async fn get_import() {
    let server = MockServer::start().await;
    serve(
        &server,
        imports_call("GET", "/imports/12345"),
        vnd(fixture("Import.get-response.json")),
    )
    .await;

    let import = client(&server)
        .get_import()
        .id(12345)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(import.id, Some(12345));
    assert_eq!(import.name, "Import 04-04-2016 10 54");
    assert_eq!(
        import.creation_date.as_deref(),
        Some("2016-04-04T06:54:00Z")
    );
    assert_eq!(import.binding, Some(1234));
    // This answer spells the flag `emptyExistingSegment` (the other examples `…Exisiting…`).
    let types::ImportFeature::SegmentationFeature(segmentation) = &import.features[0] else {
        panic!("expected segmentation first: {:?}", import.features)
    };
    assert_eq!(segmentation.empty_existing_segment, Some(false));
    assert_eq!(segmentation.empty_exisiting_segment, None);
    let types::ImportFeature::DatabaseFeature(database) = &import.features[3] else {
        panic!("expected database fourth: {:?}", import.features)
    };
    assert!(database.crush_data && database.update_existing);
    let source = file_source(&import.source);
    assert_eq!(source.filename.as_deref(), Some("PlhUx08CxS_import.csv"));
    assert_eq!(
        source.creation_date.as_deref(),
        Some("0001-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn update_import() {
    let server = MockServer::start().await;
    // The spec's `ImportUpdateRequest` / `ImportUpdateResponse` examples.
    let request = json!({
        "name": "Manual Import (renamed)",
        "binding": 1234,
        "features": [
            {"type": "duplicate", "rules": {"last": true}},
            {"type": "redList", "destination": {"sms": false, "email": true}}
        ]
    });
    let mut answer = request.clone();
    answer["id"] = json!(12345);
    answer["creationDate"] = json!("2016-06-13T16:20:43.656Z");
    answer["updateDate"] = json!("2016-06-15T09:12:00.000Z");
    answer["source"] = fixture("Source.upload-response.json");
    serve(
        &server,
        imports_call("PUT", "/imports/12345")
            .and(header("content-type", "application/json"))
            .and(body_json(&request)),
        vnd(answer),
    )
    .await;

    let body = types::Import {
        name: "Manual Import (renamed)".into(),
        binding: Some(1234),
        features: vec![
            types::DuplicateFeature {
                rules: Some(types::DuplicateRules {
                    last: Some(true),
                    ..Default::default()
                }),
                type_: types::DuplicateFeatureType::Duplicate,
            }
            .into(),
            types::RedListFeature {
                destination: Some(types::RedListDestination {
                    sms: Some(false),
                    email: Some(true),
                    mail: None,
                }),
                type_: types::RedListFeatureType::RedList,
            }
            .into(),
        ],
        id: None,
        creation_date: None,
        update_date: None,
        scheduler: None,
        source: None,
    };
    let updated = client(&server)
        .update_import()
        .id(12345)
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(updated.id, Some(12345));
    assert_eq!(updated.name, body.name);
    assert_eq!(updated.features, body.features);
    assert_eq!(
        updated.update_date.as_deref(),
        Some("2016-06-15T09:12:00.000Z")
    );
    assert_eq!(
        file_source(&updated.source).filename.as_deref(),
        Some("3ec15c5168_filename.csv")
    );
}

#[tokio::test]
async fn delete_import() {
    let server = MockServer::start().await;
    serve(
        &server,
        imports_call("DELETE", "/imports/12345"),
        ResponseTemplate::new(204),
    )
    .await;

    let deleted = client(&server)
        .delete_import()
        .id(12345)
        .send()
        .await
        .unwrap();

    assert_eq!(deleted.status(), 204);
}

/// `PUT /imports/12345/source` carrying exactly `CSV`, named, with its length and not chunked.
fn upload_call() -> MockBuilder {
    imports_call("PUT", "/imports/12345/source")
        .and(header("content-type", "application/octet-stream"))
        .and(header("content-disposition", DISPOSITION))
        .and(header("content-length", CSV.len().to_string().as_str()))
        .and(not_chunked)
        .and(body_bytes(CSV))
}

fn assert_uploaded(source: &types::Source) {
    let types::Source::FileSource(file) = source else {
        panic!("expected a file source: {source:?}")
    };
    assert_eq!(file.type_, types::FileSourceType::File);
    assert_eq!(file.filename.as_deref(), Some("3ec15c5168_filename.csv"));
    assert_eq!(
        file.update_date.as_deref(),
        Some("2016-06-14T15:03:24.788Z")
    );
}

#[tokio::test]
async fn upload_import_source_from_bytes() {
    let server = MockServer::start().await;
    serve(
        &server,
        upload_call(),
        vnd(fixture("Source.upload-response.json")),
    )
    .await;

    // No `content_length`: a byte body knows its size.
    let source = client(&server)
        .upload_import_source()
        .id(12345)
        .content_disposition(DISPOSITION)
        .body(CSV.to_vec())
        .send()
        .await
        .unwrap();

    assert_uploaded(&source);
}

#[tokio::test]
async fn upload_import_source_streamed_with_content_length() {
    let server = MockServer::start().await;
    serve(
        &server,
        upload_call(),
        vnd(fixture("Source.upload-response.json")),
    )
    .await;

    let chunks: Vec<Result<Bytes, std::io::Error>> = CSV
        .chunks(7)
        .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
        .collect();
    assert!(chunks.len() > 1);
    let source = client(&server)
        .upload_import_source()
        .id(12345)
        .content_disposition(DISPOSITION)
        .content_length(CSV.len() as i64)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();

    assert_uploaded(&source);
}

fn assert_started(execution: &types::Execution) {
    assert_eq!(execution.state, Some(0));
    assert_eq!(
        execution.start_date.as_deref(),
        Some("2016-06-14T15:49:48.568Z")
    );
    let content = execution.content.as_ref().expect("content");
    assert_eq!(content.identifier.as_ref().map(|i| i.guid), Some(1234));
    assert_eq!(content.name.as_deref(), Some("Binding file mail contact"));
    assert_eq!(content.separator, Some(59));
    assert_eq!(content.binds.len(), 3);
    assert_eq!(content.binds[2].field_id, -10);
    assert_eq!(content.features.len(), 2);
    assert_eq!(
        file_source(&execution.source).filename.as_deref(),
        Some("3ec15c5168_filename.csv")
    );
}

#[tokio::test]
async fn create_import_execution_with_a_binding() {
    let server = MockServer::start().await;
    let request = fixture("ExecutionRequest.execute-request.json");
    serve(
        &server,
        imports_call("POST", "/imports/12345/executions")
            .and(header("content-type", "application/json"))
            .and(no_content_disposition)
            .and(body_json(&request)),
        vnd(fixture("Execution.execute-response.json")),
    )
    .await;

    let body = types::ExecutionRequest {
        binding: 1234,
        features: vec![],
    };
    let execution = client(&server)
        .create_import_execution()
        .id(12345)
        .content_type(types::CreateImportExecutionContentType::ApplicationJson)
        .body(serde_json::to_vec(&body).unwrap())
        .send()
        .await
        .unwrap();

    assert_started(&execution);
}

#[tokio::test]
async fn create_import_execution_with_the_file() {
    let server = MockServer::start().await;
    serve(
        &server,
        imports_call("POST", "/imports/12345/executions")
            .and(header("content-type", "application/octet-stream"))
            .and(header("content-disposition", DISPOSITION))
            .and(header("content-length", CSV.len().to_string().as_str()))
            .and(not_chunked)
            .and(body_bytes(CSV)),
        vnd(fixture("Execution.execute-response.json")),
    )
    .await;

    let execution = client(&server)
        .create_import_execution()
        .id(12345)
        .content_type(types::CreateImportExecutionContentType::ApplicationOctetStream)
        .content_disposition(DISPOSITION)
        .body(CSV.to_vec())
        .send()
        .await
        .unwrap();

    assert_started(&execution);
}

#[tokio::test]
async fn get_import_execution_state() {
    let server = MockServer::start().await;
    serve(
        &server,
        imports_call("GET", "/imports/12345/executions"),
        vnd(json!({"state": 2})),
    )
    .await;

    let state = client(&server)
        .get_import_execution_state()
        .id(12345)
        .send()
        .await
        .unwrap();

    assert_eq!(state.state, 2);
}

#[tokio::test]
async fn create_import_format() {
    let server = MockServer::start().await;
    let request = fixture("ImportFormat.create-request.json");
    serve(
        &server,
        json_call("POST", "/importFormats")
            .and(header("content-type", "application/json"))
            .and(body_json(&request)),
        ResponseTemplate::new(200).set_body_json(fixture("ImportFormat.create-response.json")),
    )
    .await;

    let body: types::ImportFormat = serde_json::from_value(request).unwrap();
    let created = client(&server)
        .create_import_format()
        .body(body.clone())
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(
        created.identifier,
        Some(types::ImportFormatIdentifier { guid: 1234 })
    );
    assert_eq!(created.name, "Binding file mail contact");
    assert_eq!(created.separator, 59);
    assert_eq!(created.start_at, 1);
    assert!(created.saved_import_format);
    assert_eq!(created.binds, body.binds);
}

#[tokio::test]
async fn create_import_format_conflict_is_an_unexpected_response() {
    let server = MockServer::start().await;
    serve(
        &server,
        json_call("POST", "/importFormats"),
        ResponseTemplate::new(409).insert_header("x-request-id", "0f6a1c9e-409"),
    )
    .await;

    let body: types::ImportFormat =
        serde_json::from_value(fixture("ImportFormat.create-request.json")).unwrap();
    let error = client(&server)
        .create_import_format()
        .body(body)
        .send()
        .await
        .unwrap_err();

    let Error::UnexpectedResponse(response) = error else {
        panic!("expected the whole 409 back, got {error:?}")
    };
    assert_eq!(response.status(), 409);
    assert_eq!(response.headers()["x-request-id"], "0f6a1c9e-409");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn get_import_format() {
    let server = MockServer::start().await;
    serve(
        &server,
        json_call("GET", "/importFormats/1234"),
        ResponseTemplate::new(200).set_body_json(fixture("ImportFormat.get-response.json")),
    )
    .await;

    let format = client(&server)
        .get_import_format()
        .id(1234)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(
        format.identifier,
        Some(types::ImportFormatIdentifier { guid: 1234 })
    );
    assert_eq!(format.name, "Binding for file n. 42");
    assert_eq!(format.separator, 59);
    let field_ids: Vec<i32> = format.binds.iter().map(|b| b.field_id).collect();
    assert_eq!(field_ids, [-10, 1234, 1234, 1234, -10, -10]);
    assert!(format
        .binds
        .iter()
        .enumerate()
        .all(|(i, b)| b.column_index == i as i32));
}

#[tokio::test]
async fn list_import_formats() {
    let server = MockServer::start().await;
    let answer = serde_json::json!([
        fixture("ImportFormat.get-response.json"),
        fixture("ImportFormat.create-response.json"),
    ]);
    serve(
        &server,
        json_call("GET", "/importFormats"),
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;

    let formats = client(&server)
        .list_import_formats()
        .send()
        .await
        .unwrap()
        .into_inner();

    let names: Vec<&str> = formats.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names.len(), 2);
    assert_eq!(names[0], "Binding for file n. 42");
    assert_eq!(
        formats[0].identifier,
        Some(types::ImportFormatIdentifier { guid: 1234 })
    );
}

#[tokio::test]
async fn list_fields() {
    let server = MockServer::start().await;
    // The spec's `FieldListResponse` example.
    let answer = json!([
        {"type": "email", "id": 12345, "name": "Email", "isUnicity": true, "isMandatory": true},
        {"type": "singleSelectList", "id": 12347, "name": "Civility", "isUnicity": false,
         "isMandatory": false, "valueListId": 1234}
    ]);
    serve(
        &server,
        json_call("GET", "/fields"),
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;

    let fields = client(&server).list_fields().send().await.unwrap();

    assert_eq!(fields.len(), 2);
    let (email, civility) = (&fields[0], &fields[1]);
    assert_eq!((email.id, email.name.as_str()), (12345, "Email"));
    assert_eq!(email.type_, "email");
    assert!(email.is_unicity && email.is_mandatory);
    assert_eq!(email.value_list_id, None);
    assert_eq!(
        (civility.id, civility.type_.as_str()),
        (12347, "singleSelectList")
    );
    assert!(!civility.is_unicity && !civility.is_mandatory);
    assert_eq!(civility.value_list_id, Some(1234));
}

#[tokio::test]
async fn get_field() {
    let server = MockServer::start().await;
    // The spec's `FieldGetResponse` example.
    let answer = json!({
        "type": "textField", "id": 12346, "name": "Firstname", "isUnicity": false,
        "isMandatory": false, "constraint": {"operator": 4, "value": "150"}
    });
    serve(
        &server,
        json_call("GET", "/fields/12346"),
        ResponseTemplate::new(200).set_body_json(answer),
    )
    .await;

    let field = client(&server)
        .get_field()
        .id(12346)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(field.id, 12346);
    assert_eq!(field.name, "Firstname");
    assert_eq!(field.type_, "textField");
    assert!(!field.is_unicity && !field.is_mandatory);
    assert_eq!(
        field.constraint,
        Some(types::FieldConstraint {
            operator: Some(4),
            value: Some("150".into()),
        })
    );
}

/// Only what NP6 documents goes on the wire: the key, the `Accept` of the call (the vendor
/// media type on the import calls, including the body-less `DELETE`), and what HTTP itself
/// needs. No `api-version` (progenitor adds it; the build step removes it).
#[tokio::test]
async fn requests_carry_only_documented_headers() {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let client = client(&server);
    let _ = client.get_import().id(1).send().await;
    let _ = client.delete_import().id(1).send().await;
    let _ = client.list_import_formats().send().await;
    let _ = client.list_fields().send().await;

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4);
    for request in &requests {
        let mut names: Vec<&str> = request.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["accept", "host", "user-agent", "x-key"],
            "{} {}",
            request.method,
            request.url.path()
        );
        let accept = request.headers["accept"].to_str().unwrap();
        let expected = if request.url.path().starts_with("/imports") {
            VND
        } else {
            "application/json"
        };
        assert_eq!(
            accept,
            expected,
            "{} {}",
            request.method,
            request.url.path()
        );
    }
}
