//! Every Copernica REST v3 operation on the wire, against a loopback wiremock server: the mock
//! asserts the method, the exact path, the exact query (the `access_token` our hook adds, plus
//! the paging parameters given) and the JSON body, and must be hit exactly once; the typed answer
//! is checked field by field. Bodies come from `tests/fixtures/copernica/`.
#![cfg(feature = "copernica")]

use esp_imports::copernica::{self, api::Error, types, Client};
use esp_imports::{HttpConfig, Secret};
use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockBuilder, MockServer, Request, ResponseTemplate};

const TOKEN: &str = "cop3rn1ca-t0ken-5ecret";

fn fixture(name: &str) -> Value {
    let file = format!(
        "{}/tests/fixtures/copernica/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
}

fn client(server: &MockServer) -> Client {
    client_with(server, &HttpConfig::default())
}

fn client_with(server: &MockServer, config: &HttpConfig) -> Client {
    Client::with_auth(
        &server.uri(),
        &copernica::Auth::AccessToken(Secret::new(TOKEN)),
        config,
    )
    .unwrap()
}

/// Matches when the query is exactly `access_token=TOKEN` plus `paging` (in any order).
fn query_is(paging: &[(&str, &str)]) -> impl Fn(&Request) -> bool + Send + Sync + 'static {
    let mut expected: Vec<(String, String)> = paging
        .iter()
        .chain(&[("access_token", TOKEN)])
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expected.sort();
    move |request: &Request| {
        let mut actual: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        actual.sort();
        actual == expected
    }
}

/// A call to Copernica: `verb route` with exactly the token and `paging` in the query.
fn call(verb: &str, route: &str, paging: &[(&str, &str)]) -> MockBuilder {
    Mock::given(method(verb))
        .and(path(route))
        .and(query_is(paging))
}

async fn serve(server: &MockServer, mock: MockBuilder, answer: ResponseTemplate) {
    mock.respond_with(answer).expect(1).mount(server).await;
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// A page in the vendor's paging wrapper.
fn page(start: i32, limit: i32, total: Value, data: Vec<Value>) -> Value {
    json!({"start": start, "limit": limit, "count": data.len(), "total": total, "data": data})
}

fn names(fields: &types::FieldList) -> Vec<&str> {
    fields
        .data
        .iter()
        .map(|f| f.name.as_deref().unwrap())
        .collect()
}

#[tokio::test]
async fn create_import_answers_201_with_the_id_in_x_created() {
    let server = MockServer::start().await;
    let request = fixture("ImportRequest.en-json-example.json");
    serve(
        &server,
        call("POST", "/imports", &[])
            .and(header("content-type", "application/json"))
            .and(body_json(&request)),
        ResponseTemplate::new(201).insert_header("X-Created", "42"),
    )
    .await;

    let body: types::ImportRequest = serde_json::from_value(request).unwrap();
    let created = client(&server)
        .create_import()
        .body(body)
        .send()
        .await
        .unwrap();

    assert_eq!(created.status(), 201);
    let id: i64 = created.headers()["x-created"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(id, 42);
}

#[tokio::test]
async fn get_import() {
    let server = MockServer::start().await;
    serve(
        &server,
        call("GET", "/import/12", &[]),
        ok(fixture("ImportStatus.en-get-import.json")),
    )
    .await;

    let import = client(&server)
        .get_import()
        .id(12)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(import.id.as_deref(), Some("12"));
    assert_eq!(
        import.name.as_deref(),
        Some("https://www.copernica.com/import/testimport.csv")
    );
    assert_eq!(import.type_.as_deref(), Some("add or update"));
    assert_eq!(import.status.as_deref(), Some("ready for start"));
    assert_eq!(import.totallines.as_deref(), Some("0"));
    assert_eq!(import.processed_lines.as_deref(), Some("0"));
    assert_eq!(import.processedlines, None);
    let not_set = Some(types::StringOrFalse::Boolean(false));
    assert_eq!(import.lastrun, not_set);
    assert_eq!(import.nextrun, not_set);
    assert_eq!(import.lasterror, not_set);
}

/// A read answered 503 is sent again; the generated code builds each attempt's request anew
/// (rewrite I of `codegen/`), and each one carries the token exactly once.
#[tokio::test]
async fn a_retried_read_carries_the_token_once_each_time() {
    let server = MockServer::start().await;
    call("GET", "/import/12", &[])
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    serve(
        &server,
        call("GET", "/import/12", &[]),
        ok(fixture("ImportStatus.en-get-import.json")),
    )
    .await;
    let millis = std::time::Duration::from_millis(1);
    let fast = esp_imports::RetryPolicy::default().with_backoff(millis, millis);
    let answer = client_with(&server, &HttpConfig::default().with_retry(fast))
        .get_import()
        .id(12)
        .send()
        .await;

    assert_eq!(answer.unwrap().into_inner().id.as_deref(), Some("12"));
    let sent = server.received_requests().await.unwrap();
    assert_eq!(sent.len(), 2);
    assert!(sent
        .iter()
        .all(|r| r.url.query() == Some(&*format!("access_token={TOKEN}"))));
}

#[tokio::test]
async fn list_databases_with_paging() {
    let server = MockServer::start().await;
    let mut answer = fixture("DatabaseList.nl-paging.json");
    answer["data"] = json!([fixture("Database.en-get-databases.json")]);
    serve(
        &server,
        call(
            "GET",
            "/databases",
            &[("start", "50"), ("limit", "100"), ("total", "true")],
        ),
        ok(answer),
    )
    .await;

    let databases = client(&server)
        .list_databases()
        .start(50)
        .limit(100)
        .total(true)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(
        (databases.start, databases.limit, databases.count),
        (50, 100, 100)
    );
    assert_eq!(databases.total, Some(types::ListTotal::Int64(335)));
    assert_eq!(databases.nextid, Some(12345));
    let [database] = &databases.data[..] else {
        panic!("expected one database: {:?}", databases.data)
    };
    assert_eq!(database.id.as_deref(), Some("3144"));
    assert_eq!(database.name.as_deref(), Some("Test database"));
    assert_eq!(
        database.archived,
        Some(types::DatabaseArchived::Boolean(false))
    );
    assert_eq!(database.created.as_deref(), Some("2018-03-08 10:47:01"));
    let fields = database.fields.as_ref().unwrap();
    assert_eq!(names(fields), ["name", "birthday", "email"]);
    assert_eq!(fields.total, Some(types::ListTotal::Int64(3)));
    let interests = database.interests.as_ref().unwrap();
    assert_eq!(interests.data[1].name.as_deref(), Some("baseball"));
    let collections = database.collections.as_ref().unwrap();
    assert_eq!(collections.data[0].name.as_deref(), Some("Orders"));
    assert_eq!(
        names(collections.data[0].fields.as_ref().unwrap()),
        ["email", "order_number"]
    );
}

#[tokio::test]
async fn list_database_fields_without_paging() {
    let server = MockServer::start().await;
    let fields = fixture("Database.en-get-databases.json")["fields"].clone();
    serve(
        &server,
        call("GET", "/database/3144/fields", &[]),
        ok(fields),
    )
    .await;

    let fields = client(&server)
        .list_database_fields()
        .id("3144")
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!((fields.start, fields.limit, fields.count), (0, 1000, 3));
    assert_eq!(names(&fields), ["name", "birthday", "email"]);
    let birthday = &fields.data[1];
    assert_eq!(birthday.id.as_deref(), Some("20990"));
    assert_eq!(birthday.type_.as_deref(), Some("date"));
    assert_eq!(birthday.value.as_deref(), Some("2018-03-16"));
    assert_eq!(birthday.length.as_deref(), Some("100"));
    assert_eq!(birthday.displayed, Some(true));
    assert_eq!(birthday.hidden, Some(false));
}

#[tokio::test]
async fn list_database_collections_by_name_without_total() {
    let server = MockServer::start().await;
    // The vendor accepts a database name in place of its id: it travels percent-encoded.
    serve(
        &server,
        call(
            "GET",
            "/database/Test%20database/collections",
            &[("limit", "10"), ("total", "false")],
        ),
        ok(page(
            0,
            10,
            json!(false),
            vec![fixture("Collection.nl-get-database-collections.json")],
        )),
    )
    .await;

    let collections = client(&server)
        .list_database_collections()
        .id("Test database")
        .limit(10)
        .total(false)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(collections.total, Some(types::ListTotal::Boolean(false)));
    assert_eq!((collections.limit, collections.count), (10, 1));
    let orders = &collections.data[0];
    assert_eq!(orders.id.as_deref(), Some("25935"));
    assert_eq!(orders.name.as_deref(), Some("Orders"));
    assert_eq!(orders.database.as_deref(), Some("7453"));
    assert_eq!(
        names(orders.fields.as_ref().unwrap()),
        ["email", "order_number"]
    );
}

#[tokio::test]
async fn list_collection_fields() {
    let server = MockServer::start().await;
    let fields = fixture("Collection.nl-get-database-collections.json")["fields"].clone();
    serve(
        &server,
        call("GET", "/collection/25935/fields", &[("start", "0")]),
        ok(fields),
    )
    .await;

    let fields = client(&server)
        .list_collection_fields()
        .id(25935)
        .start(0)
        .send()
        .await
        .unwrap()
        .into_inner();

    assert_eq!(fields.total, Some(types::ListTotal::Int64(2)));
    assert_eq!(names(&fields), ["email", "order_number"]);
    let order_number = &fields.data[1];
    assert_eq!(order_number.id.as_deref(), Some("9879"));
    assert_eq!(order_number.type_.as_deref(), Some("integer"));
    assert_eq!(order_number.value.as_deref(), Some("0"));
}

/// The vendor's answer to a bad token.
fn invalid_token() -> ResponseTemplate {
    ResponseTemplate::new(400).set_body_json(json!({"error": {"message": "Invalid access token"}}))
}

#[tokio::test]
async fn error_400_comes_back_whole_and_decodes_as_api_error() {
    let server = MockServer::start().await;
    serve(&server, call("GET", "/databases", &[]), invalid_token()).await;

    let error = client(&server).list_databases().send().await.unwrap_err();

    let Error::UnexpectedResponse(response) = error else {
        panic!("expected the whole 400 back, got {error:?}")
    };
    assert_eq!(response.status(), 400);
    let body = response.bytes().await.unwrap();
    let api_error: types::ApiError = serde_json::from_slice(&body).unwrap();
    assert_eq!(api_error.error.message, "Invalid access token");
}

#[tokio::test]
async fn the_client_does_not_show_the_token() {
    let server = MockServer::start().await;
    let client = client(&server);

    let debug = format!("{client:?}");
    assert!(!debug.contains(TOKEN), "{debug}");
    // The check above is not vacuous: the client does print its base URL and its token holder.
    assert!(debug.contains(&server.uri()), "{debug}");
    assert!(debug.contains("Secret([redacted])"), "{debug}");
}

/// progenitor prints `UnexpectedResponse` as `Unexpected Response: {reqwest::Response:?}`, which
/// shows the response URL, query included, and a `CommunicationError` as reqwest's `error
/// sending request for url (…)`. The client's hooks hand both back with the token replaced by
/// `[redacted]`.
#[tokio::test]
async fn an_error_does_not_show_the_token() {
    let server = MockServer::start().await;
    serve(&server, call("GET", "/databases", &[]), invalid_token()).await;
    let answered = client(&server).list_databases().send().await.unwrap_err();
    assert!(
        matches!(answered, Error::UnexpectedResponse(_)),
        "{answered}"
    );
    // A loopback port nobody listens on any more: the connection is refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let unreachable = Client::with_auth(
        &format!("http://{closed}"),
        &copernica::Auth::AccessToken(Secret::new(TOKEN)),
        &HttpConfig::default().with_retry(esp_imports::RetryPolicy::never()),
    )
    .unwrap();
    let refused = unreachable.list_databases().send().await.unwrap_err();
    assert!(matches!(refused, Error::CommunicationError(_)), "{refused}");

    assert!(
        format!("{answered}").contains("access_token=%5Bredacted%5D"),
        "{answered}"
    );
    let leaks: Vec<String> = [answered, refused]
        .iter()
        .flat_map(|e| [format!("{e}"), format!("{e:?}"), format!("{e:#}")])
        .filter(|shown| shown.contains(TOKEN))
        .collect();
    assert!(
        leaks.is_empty(),
        "the token leaks in:\n{}",
        leaks.join("\n")
    );
}
