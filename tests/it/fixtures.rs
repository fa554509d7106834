//! Every JSON example of the vendor docs (`tests/fixtures/<vendor>/<Schema>.<label>.json`)
//! decodes with the generated type named by its file, and encodes back to the same JSON (modulo
//! key order, and `null` vs. an absent key). A field the schema lacks, or types wrongly, fails.

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// Drops `null` members, recursively: the generated types omit unset optional fields.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// Decodes `json` as `T` and checks it encodes back to the same JSON.
fn round_trip<T: DeserializeOwned + Serialize>(json: &Value) -> Result<(), String> {
    let typed: T =
        serde_json::from_value(json.clone()).map_err(|e| format!("does not decode: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("does not encode: {e}"))?;
    let (expected, actual) = (without_nulls(json.clone()), without_nulls(back));
    if expected == actual {
        Ok(())
    } else {
        Err(format!(
            "does not round-trip\n  fixture: {expected}\n  re-encoded: {actual}"
        ))
    }
}

/// Checks every fixture of `vendor`, asking `check(schema, json)` to round-trip it through the
/// type generated for `schema`. Returns how many fixtures were checked.
fn check_all(vendor: &str, check: impl Fn(&str, &Value) -> Option<Result<(), String>>) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(vendor);
    let mut failures = Vec::new();
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let schema = name.split('.').next().unwrap();
        let json: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{vendor}/{name} is not JSON: {e}"));
        count += 1;
        match check(schema, &json) {
            Some(Ok(())) => {}
            Some(Err(e)) => failures.push(format!("{vendor}/{name}: {e}")),
            None => failures.push(format!(
                "{vendor}/{name}: no generated type is listed for schema `{schema}` in tests/it/fixtures.rs"
            )),
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert!(count > 0, "no fixtures in {}", dir.display());
    count
}

/// `schema name => generated type` for one vendor.
macro_rules! types_table {
    ($schema:expr, $json:expr, { $($name:literal => $ty:ty),* $(,)? }) => {
        match $schema {
            $($name => Some(round_trip::<$ty>($json)),)*
            _ => None,
        }
    };
}

#[cfg(feature = "mailperformance")]
#[test]
fn mailperformance_examples() {
    use esp_imports::mailperformance::types;
    let n = check_all("mailperformance", |schema, json| {
        types_table!(schema, json, {
            "Import" => types::Import,
            "ImportFormat" => types::ImportFormat,
            "Source" => types::Source,
            "ExecutionRequest" => types::ExecutionRequest,
            "Execution" => types::Execution,
        })
    });
    assert!(n >= 9, "{n}");
}

#[cfg(feature = "mailperformance")]
#[test]
fn mailperformance_accepts_both_segment_spellings() {
    use esp_imports::mailperformance::types::{ImportFeature, SegmentationFeature};
    for key in ["emptyExisitingSegment", "emptyExistingSegment"] {
        let json = serde_json::json!({"type": "segmentation", "segmentId": 12, key: true});
        let feature: ImportFeature = serde_json::from_value(json.clone()).unwrap();
        assert!(matches!(
            feature,
            ImportFeature::SegmentationFeature(SegmentationFeature { .. })
        ));
        assert_eq!(serde_json::to_value(&feature).unwrap(), json);
    }
}

#[cfg(feature = "copernica")]
#[test]
fn copernica_examples() {
    use esp_imports::copernica::types;
    let n = check_all("copernica", |schema, json| {
        types_table!(schema, json, {
            "ImportRequest" => types::ImportRequest,
            "ImportSourceRecords" => types::ImportSourceRecords,
            "ImportStatus" => types::ImportStatus,
            "Database" => types::Database,
            "DatabaseList" => types::DatabaseList,
            "Collection" => types::Collection,
        })
    });
    assert!(n >= 17, "{n}");
}

#[cfg(feature = "mindbaz")]
#[test]
fn mindbaz_examples() {
    use esp_imports::mindbaz::types;
    let n = check_all("mindbaz", |schema, json| {
        types_table!(schema, json, {
            "ScheduleNowRequest" => types::ScheduleNowRequest,
            "ImportResponse" => types::ImportResponse,
        })
    });
    assert!(n >= 3, "{n}");
}

#[cfg(feature = "eloqua")]
#[test]
fn eloqua_examples() {
    use esp_imports::eloqua::types;
    let n = check_all("eloqua", |schema, json| {
        types_table!(schema, json, {
            "ContactImportIndividual" => types::ContactImportIndividual,
            "SyncIndividual" => types::SyncIndividual,
            "SyncRejectSearchResponse" => types::SyncRejectSearchResponse,
            "SyncLogSearchResponse" => types::SyncLogSearchResponse,
            "ContactFieldSearchResponse" => types::ContactFieldSearchResponse,
            "LoginIdResponse" => types::LoginIdResponse,
            "LoginIdFailure" => types::LoginIdFailure,
            "BulkValidationError" => types::BulkValidationError,
        })
    });
    assert!(n >= 11, "{n}");
}

#[cfg(feature = "eloqua")]
#[test]
fn eloqua_sync_status_takes_both_error_spellings_and_new_values() {
    use esp_imports::eloqua::types::SyncIndividual;
    for status in [
        "pending", "active", "success", "warning", "error", "errored", "someday",
    ] {
        let json =
            serde_json::json!({"syncedInstanceUri": "/contacts/imports/384", "status": status});
        round_trip::<SyncIndividual>(&json).unwrap();
    }
}
