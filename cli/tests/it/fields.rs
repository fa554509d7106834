//! `esp-imports fields` against the sandbox (started in this test process on loopback): each
//! vendor's field list, as JSON and as a table, read with GETs only; a missing place flag
//! exits 2 before any request.

use std::process::Output;

use esp_imports::Vendor;
use esp_imports_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::{
    cli::json,
    common::{code, stderr},
};

async fn run(args: &[String]) -> Output {
    crate::common::run_as_user(args).await
}

/// `esp-imports fields VENDOR` at the sandbox, with its place and `more` flags.
fn fields_args(sandbox: &Sandbox, vendor: Vendor, more: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "fields",
        vendor.slug(),
        "--base-url",
        &sandbox.base_url(vendor),
    ]
    .map(String::from)
    .to_vec();
    match vendor {
        Vendor::Mindbaz => args.extend(["--site".into(), "7".into()]),
        Vendor::Copernica => args.extend(["--database".into(), "1".into()]),
        _ => {}
    }
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

/// The field of `id` in a `fields --json` answer.
fn field<'a>(fields: &'a Value, id: &str) -> &'a Value {
    fields["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == id)
        .unwrap_or_else(|| panic!("no field {id} in {fields}"))
}

#[tokio::test]
async fn each_vendor_lists_its_fields_with_gets_only() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for (vendor, id, name, kind) in [
        (Vendor::Mailperformance, "1234", "Email", "email"),
        (Vendor::Copernica, "email", "email", "email"),
        (Vendor::Mindbaz, "fld1", "Email", "email"),
        (Vendor::Eloqua, "C_EmailAddress", "Email Address", "email"),
    ] {
        let out = run(&fields_args(&sandbox, vendor, &["--json"])).await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let fields = json(&out);
        assert_eq!(fields["vendor"], vendor.slug());
        let email = field(&fields, id);
        assert_eq!(email["name"], name, "{vendor}: {email}");
        assert_eq!(email["kind"], kind, "{vendor}: {email}");

        let out = run(&fields_args(&sandbox, vendor, &[])).await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(table.starts_with("ID "), "{table}");
        assert!(
            table.lines().any(|l| l.starts_with(id) && l.contains(name)),
            "{vendor}: {table}"
        );
    }
    // What each vendor tells beyond names: NP6's unicity and lengths, Copernica's select
    // choices and collections, Mindbaz's list values and key fields, Eloqua's read-only ones.
    let np6 = json(&run(&fields_args(&sandbox, Vendor::Mailperformance, &["--json"])).await);
    assert_eq!(field(&np6, "1234")["unique"], true);
    assert_eq!(field(&np6, "1235")["max_length"], 150);
    assert_eq!(field(&np6, "5680")["kind"], "date");
    let copernica = json(&run(&fields_args(&sandbox, Vendor::Copernica, &["--json"])).await);
    assert_eq!(
        field(&copernica, "gender")["values"],
        serde_json::json!(["male", "female", "other"])
    );
    assert_eq!(field(&copernica, "Order.OrderID")["max_length"], 50);
    let mindbaz = json(&run(&fields_args(&sandbox, Vendor::Mindbaz, &["--json"])).await);
    assert_eq!(
        field(&mindbaz, "fld16")["values"],
        serde_json::json!(["M.", "Mme"])
    );
    assert_eq!(field(&mindbaz, "fld43")["unique"], true);
    assert_eq!(field(&mindbaz, "fld158")["kind"], "date");
    let eloqua = json(&run(&fields_args(&sandbox, Vendor::Eloqua, &["--json"])).await);
    assert_eq!(field(&eloqua, "C_DateCreated")["read_only"], true);

    // Only reads.
    let hits = sandbox.hits();
    assert!(
        hits.keys().all(|(_, route)| route.starts_with("GET ")),
        "a request that is not a GET: {hits:?}"
    );
}

#[tokio::test]
async fn a_missing_place_is_refused_before_any_request() {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for (vendor, args, message) in [
        (
            Vendor::Copernica,
            vec!["fields", "copernica"],
            "copernica needs --database ID",
        ),
        (
            Vendor::Mindbaz,
            vec!["fields", "mindbaz"],
            "mindbaz needs --site ID",
        ),
        (
            Vendor::Mailperformance,
            vec!["fields", "mailperformance", "--site", "3"],
            "--site is for mindbaz",
        ),
    ] {
        let base = sandbox.base_url(vendor);
        let args: Vec<String> = args
            .into_iter()
            .chain(["--base-url", &base, "--json"])
            .map(String::from)
            .collect();
        let out = run(&args).await;
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(message), "{}", stderr(&out));
    }
    assert!(sandbox.hits().is_empty(), "{:?}", sandbox.hits());
}
