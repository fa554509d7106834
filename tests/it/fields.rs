//! The vendors' field lists and the pre-flight, through the library: `Importer::fields` for
//! each vendor against the sandbox; every page read (Eloqua's `hasMore`, Copernica's `start`)
//! against loopback servers that page; the pre-flight going on, with a warning, when the
//! field list answers an error or a shape never seen, and stopping when names need the list.
#![cfg(all(
    feature = "mailperformance",
    feature = "copernica",
    feature = "mindbaz",
    feature = "eloqua"
))]

use std::time::Duration;

use esp_imports::{
    copernica, eloqua, Error, FieldKind, HttpConfig, ImportOptions, Importer, Location, Preflight,
    RetryPolicy, Secret, Status, Vendor,
};
use esp_imports_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::importer::{credentials, vendor_options};

fn importer(sandbox: &Sandbox, vendor: Vendor) -> Importer {
    Importer::new(
        credentials(vendor),
        Location::BaseUrl(sandbox.base_url(vendor)),
        &HttpConfig::default(),
    )
    .unwrap()
}

#[tokio::test]
async fn each_vendor_gives_its_fields_with_what_it_tells_of_them() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for (vendor, email, unique) in [
        (Vendor::Mailperformance, "1234", true),
        (Vendor::Copernica, "email", false),
        (Vendor::Mindbaz, "fld1", true),
        (Vendor::Eloqua, "C_EmailAddress", true),
    ] {
        let fields = importer(&sandbox, vendor)
            .fields(&vendor_options(vendor, "contacts.csv"))
            .await
            .unwrap();
        assert_eq!(fields.vendor, vendor);
        let field = fields.by_id(email).unwrap();
        assert_eq!(field.kind, FieldKind::Email, "{vendor}: {field:?}");
        assert_eq!(field.unique, unique, "{vendor}: {field:?}");
        // Names resolve to the same field, without case or accents.
        assert_eq!(fields.find(&field.name.to_uppercase()).unwrap().id, email);
    }
    let hits = sandbox.hits();
    assert!(
        hits.keys().all(|(_, route)| route.starts_with("GET ")),
        "{hits:?}"
    );
}

#[tokio::test]
async fn every_page_of_eloqua_fields_is_read() {
    let server = MockServer::start().await;
    let field = |i: usize| json!({"name": format!("Field {i}"), "internalName": format!("C_F{i}"), "dataType": "string"});
    Mock::given(method("GET"))
        .and(path("/contacts/fields"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": (0..1000).map(field).collect::<Vec<_>>(),
            "count": 1000, "hasMore": true, "limit": 1000, "offset": 0, "totalResults": 1002
        })))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts/fields"))
        .and(query_param("offset", "1000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": (1000..1002).map(field).collect::<Vec<_>>(),
            "count": 2, "hasMore": false, "limit": 1000, "offset": 1000, "totalResults": 1002
        })))
        .expect(1)
        .mount(&server)
        .await;
    let client = eloqua::Client::with_auth(
        &server.uri(),
        &eloqua::Auth::Bearer(Secret::new("token")),
        &HttpConfig::default(),
    )
    .unwrap();
    let fields = client.fields().await.unwrap();
    assert_eq!(fields.fields.len(), 1002);
    assert_eq!(fields.find("field 1001").unwrap().id, "C_F1001");
}

#[tokio::test]
async fn every_page_of_copernica_fields_and_collections_is_read() {
    let server = MockServer::start().await;
    let field = |id: usize, name: String| json!({"ID": id.to_string(), "name": name, "type": "text", "length": "50"});
    let page = |start: usize, data: Vec<serde_json::Value>| {
        ResponseTemplate::new(200).set_body_json(json!({
            "start": start, "limit": 1000, "count": data.len(), "total": 1001, "data": data
        }))
    };
    Mock::given(method("GET"))
        .and(path("/database/news/fields"))
        .and(query_param("start", "0"))
        .respond_with(page(
            0,
            (0..1000).map(|i| field(i, format!("f{i}"))).collect(),
        ))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/database/news/fields"))
        .and(query_param("start", "1000"))
        .respond_with(page(1000, vec![field(1000, "f1000".into())]))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/database/news/collections"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "start": 0, "limit": 1000, "count": 1, "total": 1,
            "data": [{"ID": "7", "name": "Order"}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/collection/7/fields"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "start": 0, "limit": 1000, "count": 1, "total": 1,
            "data": [field(70, "OrderID".into())]
        })))
        .mount(&server)
        .await;
    let client = copernica::Client::with_auth(
        &server.uri(),
        &copernica::Auth::AccessToken(Secret::new("token")),
        &HttpConfig::default(),
    )
    .unwrap();
    let fields = client.fields("news").await.unwrap();
    assert_eq!(fields.fields.len(), 1002);
    assert_eq!(fields.find("F1000").unwrap().id, "f1000");
    let order = fields.find("order.orderid").unwrap();
    assert_eq!(
        (order.id.as_str(), order.max_length),
        ("Order.OrderID", Some(50))
    );
}

fn options(file: &std::path::Path, vendor: Vendor) -> ImportOptions {
    let mut options = ImportOptions::new(file, crate::importer::columns(vendor), "email");
    options.poll_interval = Duration::from_millis(20);
    options.timeout = Duration::from_secs(60);
    options
}

#[tokio::test]
async fn a_field_list_that_answers_an_error_or_an_unknown_shape_only_skips_the_checks() {
    for (vendor, fault) in [
        (
            Vendor::Mailperformance,
            FaultKind::Status {
                code: 404,
                retry_after: None,
                body: String::new(),
            },
        ),
        (
            Vendor::Mindbaz,
            FaultKind::Status {
                code: 200,
                retry_after: None,
                body: r#"{"fields": "a shape never seen"}"#.into(),
            },
        ),
        (Vendor::Eloqua, FaultKind::TruncateBody),
        // A key without the right to read fields may still import.
        (
            Vendor::Copernica,
            FaultKind::Status {
                code: 403,
                retry_after: None,
                body: String::new(),
            },
        ),
    ] {
        let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("contacts.csv");
        std::fs::write(&file, "email,city\nada@example.com,Lille\n").unwrap();
        std::fs::write(
            sandbox.mindbaz_sftp_dir().join("contacts.csv"),
            "email,city\nada@example.com,Lille\n",
        )
        .unwrap();
        sandbox.inject(
            Fault::new(fault)
                .vendor(vendor)
                .path_contains("fields")
                .times(10),
        );
        let report = importer(&sandbox, vendor)
            .import(
                &options(&file, vendor),
                &vendor_options(vendor, "contacts.csv"),
            )
            .await
            .unwrap();
        assert_eq!(report.status, Status::Completed, "{vendor}: {report:?}");
        assert_eq!(report.warnings_total, 1, "{vendor}: {report:?}");
        assert!(
            report.warnings[0]
                .reason
                .starts_with("the values were not checked"),
            "{vendor}: {report:?}"
        );
        assert!(report.mapping.is_empty());

        // Strict checking cannot be done without the list: refused, nothing created.
        let mut strict = options(&file, vendor);
        strict.preflight = Preflight::Strict;
        let before = sandbox.hits();
        let e = importer(&sandbox, vendor)
            .import(&strict, &vendor_options(vendor, "contacts.csv"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, Error::InvalidConfig { reason, .. }
                if reason.contains("which strict checking requires, cannot be checked")),
            "{vendor}: {e:?}"
        );
        let creating: Vec<_> = sandbox
            .hits()
            .into_iter()
            .filter(|(key, n)| !key.1.starts_with("GET ") && before.get(key) != Some(n))
            .collect();
        assert!(creating.is_empty(), "{vendor}: {creating:?}");
    }
}

#[tokio::test]
async fn names_need_the_field_list_and_credentials_stop_at_it() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, "email,city\nada@example.com,Lille\n").unwrap();
    let vendor = Vendor::Mailperformance;
    sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 404,
            retry_after: None,
            body: String::new(),
        })
        .vendor(vendor)
        .path_contains("fields")
        .times(10),
    );
    let mut named = options(&file, vendor);
    named.columns.insert("city".into(), "City".into());
    named.preflight = Preflight::Off;
    let e = importer(&sandbox, vendor)
        .import(&named, &vendor_options(vendor, ""))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, Error::InvalidConfig { setting: "column map", reason }
            if reason.contains("`city=City` (a field name, not an id)")),
        "{e:?}"
    );

    // Refused credentials at the field list stop the import there: nothing is created.
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let wrong = Importer::new(
        esp_imports::mailperformance::Auth::XKey(Secret::new("not-the-key")).into(),
        Location::BaseUrl(sandbox.base_url(vendor)),
        &HttpConfig::default().with_retry(RetryPolicy::never()),
    )
    .unwrap();
    let e = wrong
        .import(&options(&file, vendor), &vendor_options(vendor, ""))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::AuthRejected(_)), "{e:?}");
    let creating: Vec<_> = sandbox
        .hits()
        .into_keys()
        .filter(|(_, route)| !route.starts_with("GET "))
        .collect();
    assert!(creating.is_empty(), "{creating:?}");
}
