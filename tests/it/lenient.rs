//! Answers decode whatever the vendors send, and the specs say so too.
//!
//! * Real traffic recorded by other projects (`tests/fixtures/<vendor>/peer/`, sources in its
//!   `NOTES.md`): every body decodes with the generated type of its operation, losing no member
//!   but the few listed in [`UNDECLARED`], and validates against the spec's JSON schema for that
//!   operation's request or response.
//! * Values a vendor may add (issue 10, part 4): an answer carrying an unknown value in each
//!   extensible place decodes, keeps the typed value of known ones and the raw value of unknown
//!   ones, encodes back to the same JSON, and validates against the spec.
//!
//! Validation uses the `jsonschema` crate (draft 4, the base of OpenAPI 3.0's schema objects) on
//! the spec's own `components`, after turning OpenAPI's `nullable: true` into a JSON Schema type
//! union. A peer body is named `<METHOD>_<path, '/' as '_'>.<status or req>.<label>.json`, which
//! names its operation in the spec.
#![cfg(all(feature = "mailperformance", feature = "copernica", feature = "eloqua"))]

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Map, Value};

/// The spec of `vendor` as JSON.
fn spec(vendor: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("specs/{vendor}.yaml"));
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    serde_json::to_value(yaml).unwrap()
}

/// An OpenAPI 3.0 schema object as a JSON Schema: `nullable: true` becomes a type union (or an
/// `anyOf` with `null` where there is no `type`); `discriminator` and `example` are dropped.
/// Only schema positions are walked, so a property named `type` or `nullable` is left alone.
fn json_schema(schema: &Value) -> Value {
    let Value::Object(object) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (key, value) in object {
        let converted = match key.as_str() {
            "nullable" | "discriminator" | "example" => continue,
            "properties" => Value::Object(
                value
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(name, s)| (name.clone(), json_schema(s)))
                    .collect(),
            ),
            "items" | "not" | "additionalProperties" => json_schema(value),
            "allOf" | "anyOf" | "oneOf" => {
                Value::Array(value.as_array().unwrap().iter().map(json_schema).collect())
            }
            _ => value.clone(),
        };
        out.insert(key.clone(), converted);
    }
    if object.get("nullable") == Some(&Value::Bool(true)) {
        match out.get("type").cloned() {
            Some(Value::String(t)) => {
                out.insert("type".into(), json!([t, "null"]));
                if let Some(Value::Array(values)) = out.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            _ => return json!({"anyOf": [{"type": "null"}, out]}),
        }
    }
    Value::Object(out)
}

/// Follows `$ref`s to `#/components/<kind>/<name>` other than schemas (responses, bodies).
fn resolve<'a>(spec: &'a Value, mut value: &'a Value) -> &'a Value {
    while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').unwrap();
        if pointer.starts_with("/components/schemas/") {
            break;
        }
        value = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("{reference}"));
    }
    value
}

/// The JSON schema (as written in the spec) of an operation's request body (`what` = `req`) or
/// of its response with status `what`, from `key` = `<METHOD>_<path>.<what>`.
fn operation_schema<'a>(spec: &'a Value, key: &str) -> Result<&'a Value, String> {
    let (operation, what) = key.split_once('.').ok_or(format!("`{key}`: no status"))?;
    let (method, path) = operation
        .split_once('_')
        .ok_or(format!("`{key}`: no path"))?;
    let path = format!("/{}", path.replace('_', "/"));
    let op = spec["paths"]
        .get(&path)
        .and_then(|item| item.get(method.to_lowercase()))
        .ok_or(format!("`{key}`: the spec has no {method} {path}"))?;
    let body = if what == "req" {
        op.get("requestBody")
    } else {
        op["responses"].get(what)
    }
    .map(|b| resolve(spec, b))
    .ok_or(format!("`{key}`: {method} {path} declares no {what} body"))?;
    let content = body["content"]
        .as_object()
        .ok_or(format!("`{key}`: {method} {path} {what} has no content"))?;
    content
        .get("application/json")
        .or_else(|| {
            content
                .iter()
                .find(|(media, _)| media.ends_with("+json"))
                .map(|(_, m)| m)
        })
        .map(|media| &media["schema"])
        .ok_or(format!("`{key}`: {method} {path} {what} has no JSON body"))
}

/// Validates `json` against `schema` (a schema of `spec`), all errors in one message.
fn validate(spec: &Value, schema: &Value, json: &Value) -> Result<(), String> {
    let schemas: Map<String, Value> = spec["components"]["schemas"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, s)| (name.clone(), json_schema(s)))
        .collect();
    let root = json!({"allOf": [json_schema(schema)], "components": {"schemas": schemas}});
    let validator = jsonschema::draft4::new(&root).map_err(|e| format!("bad schema: {e}"))?;
    let errors: Vec<String> = validator
        .iter_errors(json)
        .map(|e| format!("at `{}`: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!("does not validate: {}", errors.join("; ")))
    }
}

/// Checks `json` against the operation `key` of `vendor`'s spec: its schema is
/// `#/components/schemas/<T's name>`, `json` validates against it and decodes as `T`.
fn check<T: DeserializeOwned>(vendor: &str, key: &str, json: &Value) -> Result<T, String> {
    let spec = spec(vendor);
    let schema = operation_schema(&spec, key)?;
    let type_name = std::any::type_name::<T>().rsplit("::").next().unwrap();
    let expected = format!("#/components/schemas/{type_name}");
    if schema.get("$ref").and_then(Value::as_str) != Some(expected.as_str()) {
        return Err(format!(
            "`{key}`: the spec's schema is {schema}, not {type_name}"
        ));
    }
    validate(&spec, schema, json)?;
    serde_path_to_error::deserialize(json)
        .map_err(|e| format!("does not decode as {type_name}: {e}"))
}

/// [`check`], then: encoding the decoded value gives `json` back (the raw value was kept).
fn check_kept<T: DeserializeOwned + Serialize>(vendor: &str, key: &str, json: &Value) -> T {
    let typed: T = check(vendor, key, json).unwrap_or_else(|e| panic!("{vendor} {key}: {e}"));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        json,
        "{vendor} {key}"
    );
    typed
}

fn fixture(vendor: &str, name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(vendor)
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The peer payloads of `vendor`, sorted: (file name, operation key, JSON).
fn peer_payloads(vendor: &str) -> Vec<(String, String, Value)> {
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(vendor)
        .join("peer");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let mut parts = name.splitn(3, '.');
            let key = format!("{}.{}", parts.next().unwrap(), parts.next().unwrap());
            let json = fixture(vendor, &format!("peer/{name}"));
            (name, key, json)
        })
        .collect()
}

/// Checks every peer payload of `vendor` with `decode(key, json)`; returns how many.
fn check_peer_payloads(
    vendor: &str,
    decode: impl Fn(&str, &Value) -> Option<Result<(), String>>,
) -> usize {
    let payloads = peer_payloads(vendor);
    let failures: Vec<String> = payloads
        .iter()
        .filter_map(|(name, key, json)| match decode(key, json) {
            Some(Ok(())) => None,
            Some(Err(e)) => Some(format!("{vendor}/peer/{name}: {e}")),
            None => Some(format!(
                "{vendor}/peer/{name}: no generated type is listed for `{key}` in tests/it/lenient.rs"
            )),
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    payloads.len()
}

/// Members of recorded bodies that the spec leaves undeclared on purpose (see the peer
/// `NOTES.md`): decoding drops them.
const UNDECLARED: [&str; 1] = [
    // Sent by grouparoo's client in a definition; Eloqua's answer does not echo it.
    "areSystemTimestampsInUTC",
];

/// Drops `null`, `[]` and `{}` members (the generated types omit unset optional fields and
/// empty optional lists and maps) and [`UNDECLARED`] ones, recursively.
fn comparable(value: &Value) -> Value {
    let empty = |v: &Value| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, v)| !empty(v) && !UNDECLARED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), comparable(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(comparable).collect()),
        other => other.clone(),
    }
}

/// [`check`], then: nothing was lost in decoding (every member is declared by the spec).
fn check_peer<T: DeserializeOwned + Serialize>(
    vendor: &str,
    key: &str,
    json: &Value,
) -> Result<(), String> {
    let typed: T = check(vendor, key, json)?;
    let back = comparable(&serde_json::to_value(&typed).map_err(|e| e.to_string())?);
    if back == comparable(json) {
        Ok(())
    } else {
        Err(format!("loses members in decoding: re-encoded as {back}"))
    }
}

/// `operation key => generated type`, checked with [`check_peer`].
macro_rules! operations {
    ($vendor:expr, $key:expr, $json:expr, { $($op:literal => $ty:ty),* $(,)? }) => {
        match $key {
            $($op => Some(check_peer::<$ty>($vendor, $key, $json)),)*
            _ => None,
        }
    };
}

#[test]
fn eloqua_recorded_peer_payloads_decode_and_validate() {
    use esp_imports::eloqua::types;
    let n = check_peer_payloads("eloqua", |key, json| {
        operations!("eloqua", key, json, {
            "GET_id.200" => types::LoginIdResult,
            "GET_contacts_fields.200" => types::ContactFieldSearchResponse,
            "POST_contacts_imports.req" => types::ContactImportIndividual,
            "POST_contacts_imports.201" => types::ContactImportIndividual,
            "POST_contacts_imports.400" => types::BulkValidationError,
            "POST_contacts_imports_{id}_data.req" => types::ContactImportData,
            "POST_syncs.req" => types::SyncIndividual,
            "POST_syncs.201" => types::SyncIndividual,
            "POST_syncs.400" => types::BulkValidationError,
            "GET_syncs_{id}.200" => types::SyncIndividual,
            "GET_syncs_{id}_logs.200" => types::SyncLogSearchResponse,
            "GET_syncs_{id}_rejects.200" => types::SyncRejectSearchResponse,
        })
    });
    assert_eq!(n, 22, "the recorded and recorded-shaped Eloqua payloads");
}

#[test]
fn copernica_recorded_peer_payloads_decode_and_validate() {
    use esp_imports::copernica::types;
    let n = check_peer_payloads("copernica", |key, json| {
        operations!("copernica", key, json, {
            "GET_databases.200" => types::DatabaseList,
            "GET_database_{id}_fields.200" => types::FieldList,
            "GET_database_{id}_collections.200" => types::CollectionList,
        })
    });
    assert_eq!(n, 3, "the recorded-shaped Copernica payloads");
}

/// The checks above can fail: a body the spec does not allow, or a type that is not the
/// operation's, is reported.
#[test]
fn the_checks_refuse_what_the_spec_refuses() {
    use esp_imports::eloqua::types;
    let sync = json!({"syncedInstanceUri": "/contacts/imports/1", "status": 3});
    let e = check::<types::SyncIndividual>("eloqua", "GET_syncs_{id}.200", &sync).unwrap_err();
    assert!(
        e.contains("does not validate") && e.contains("/status"),
        "{e}"
    );
    let e = check::<types::SyncLogSearchResponse>("eloqua", "GET_syncs_{id}.200", &json!({}))
        .unwrap_err();
    assert!(e.contains("not SyncLogSearchResponse"), "{e}");
    // Required stays required in requests: a definition without `fields`.
    let e = check::<types::ContactImportIndividual>(
        "eloqua",
        "POST_contacts_imports.req",
        &json!({"name": "x"}),
    )
    .unwrap_err();
    assert!(e.contains("fields"), "{e}");
    // A member the spec does not declare is lost in decoding: reported for peer payloads.
    let e = check_peer::<types::SyncIndividual>(
        "eloqua",
        "POST_syncs.201",
        &json!({"uri": "/syncs/1", "syncedInstanceUri": "/contacts/imports/1", "surprise": 1}),
    )
    .unwrap_err();
    assert!(e.contains("loses members"), "{e}");
    // `nullable` is honoured, not ignored: `null` where the spec does not allow it.
    let e = check::<types::SyncIndividual>("eloqua", "POST_syncs.201", &json!({"uri": null}))
        .unwrap_err();
    assert!(e.contains("does not validate") && e.contains("/uri"), "{e}");
}

/// An Eloqua import definition answer (recorded) with `extra` members.
fn eloqua_definition(extra: Value) -> Value {
    let mut json = fixture(
        "eloqua",
        "peer/POST_contacts_imports.201.rudder-comment.json",
    );
    json.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    json
}

#[test]
fn eloqua_unknown_rules_and_actions_decode_and_keep_their_value() {
    use esp_imports::eloqua::types::{
        ContactImportIndividual, ImportRule, ImportRuleKnown, MemberStatus, MemberStatusKnown,
        RuleType, RuleTypeKnown, SyncActionType, SyncActionTypeKnown,
    };
    let known = eloqua_definition(json!({
        "importRule": "updateOnly",
        "updateRule": "useFieldRule",
        "updateRuleByField": {"C_FirstName": "ifNewIsNotNull"},
        "syncActions": [{"action": "setStatus", "destination": "{{ContactList[1]}}", "status": "subscribed"}],
    }));
    let d: ContactImportIndividual = check_kept("eloqua", "POST_contacts_imports.201", &known);
    assert_eq!(
        d.import_rule,
        Some(ImportRule::Known(ImportRuleKnown::UpdateOnly))
    );
    assert_eq!(
        d.update_rule,
        Some(RuleType::Known(RuleTypeKnown::UseFieldRule))
    );
    assert_eq!(
        d.update_rule_by_field["C_FirstName"],
        RuleType::Known(RuleTypeKnown::IfNewIsNotNull)
    );
    assert_eq!(
        d.sync_actions[0].action,
        Some(SyncActionType::Known(SyncActionTypeKnown::SetStatus))
    );
    assert_eq!(
        d.sync_actions[0].status,
        Some(MemberStatus::Known(MemberStatusKnown::Subscribed))
    );

    let unknown = eloqua_definition(json!({
        "importRule": "createOrIgnore",
        "updateRule": "ifNewIsNewer",
        "updateRuleByField": {"C_FirstName": "always", "C_LastName": "ifNewIsLonger"},
        "syncActions": [
            {"action": "moveTo", "destination": "{{ContactList[1]}}"},
            {"action": "setStatus", "destination": "{{ContactList[2]}}", "status": "snoozed"},
        ],
    }));
    let d: ContactImportIndividual = check_kept("eloqua", "POST_contacts_imports.201", &unknown);
    assert!(matches!(&d.import_rule, Some(ImportRule::Other(o)) if o.as_str() == "createOrIgnore"));
    assert!(matches!(&d.update_rule, Some(RuleType::Other(o)) if o.as_str() == "ifNewIsNewer"));
    assert_eq!(
        d.update_rule_by_field["C_FirstName"],
        RuleType::Known(RuleTypeKnown::Always)
    );
    assert!(
        matches!(&d.update_rule_by_field["C_LastName"], RuleType::Other(o) if o.as_str() == "ifNewIsLonger")
    );
    assert!(
        matches!(&d.sync_actions[0].action, Some(SyncActionType::Other(o)) if o.as_str() == "moveTo")
    );
    assert_eq!(
        d.sync_actions[1].action,
        Some(SyncActionType::Known(SyncActionTypeKnown::SetStatus))
    );
    assert!(
        matches!(&d.sync_actions[1].status, Some(MemberStatus::Other(o)) if o.as_str() == "snoozed")
    );
    assert_eq!(
        serde_json::to_value(&d.sync_actions[1].status).unwrap(),
        json!("snoozed")
    );

    // The same answer from GET and PUT, and a page of definitions.
    check_kept::<ContactImportIndividual>("eloqua", "GET_contacts_imports_{id}.200", &unknown);
    check_kept::<ContactImportIndividual>("eloqua", "PUT_contacts_imports_{id}.200", &unknown);
    let page = json!({"items": [unknown], "count": 1, "hasMore": false});
    check_kept::<esp_imports::eloqua::types::ContactImportSearchResponse>(
        "eloqua",
        "GET_contacts_imports.200",
        &page,
    );
}

#[test]
fn eloqua_sync_answers_without_synced_instance_uri_decode() {
    use esp_imports::eloqua::types::{SyncIndividual, SyncSearchResponse};
    let sync = json!({"status": "success", "uri": "/syncs/1048", "syncEndedAt": "2021-07-09T01:43:13.7470000Z"});
    for key in ["GET_syncs_{id}.200", "POST_syncs.201"] {
        let s: SyncIndividual = check_kept("eloqua", key, &sync);
        assert_eq!(s.synced_instance_uri, None);
    }
    let page = json!({"items": [sync], "count": 1, "hasMore": false});
    check_kept::<SyncSearchResponse>("eloqua", "GET_syncs.200", &page);
}

#[test]
fn eloqua_reject_field_values_take_any_json_value() {
    use esp_imports::eloqua::types::SyncRejectSearchResponse;
    let mut page = fixture(
        "eloqua",
        "peer/GET_syncs_{id}_rejects.200.grouparoo-recorded-invalid-email.json",
    );
    page["items"][0]["fieldValues"] = json!({
        "emailAddress": "notanemail",
        "lastName": null,
        "score": 12,
    });
    let rejects: SyncRejectSearchResponse =
        check_kept("eloqua", "GET_syncs_{id}_rejects.200", &page);
    let values = &rejects.items[0].field_values;
    assert_eq!(values["emailAddress"], "notanemail");
    assert_eq!(values["lastName"], Value::Null);
    assert_eq!(values["score"], 12);
}

/// The vendor doc's import answer with `features` and `source` replaced.
fn np6_import(features: Value, source: Value) -> Value {
    let mut json = fixture("mailperformance", "Import.get-response.json");
    json["features"] = features;
    json["source"] = source;
    json
}

#[test]
fn mailperformance_unknown_features_and_sources_decode_and_keep_their_value() {
    use esp_imports::mailperformance::types::{Import, ImportFeature, Source};
    let scoring = json!({"type": "scoring", "threshold": 3, "fields": {"12": ["a", null]}});
    let sftp = json!({"type": "sftp", "id": 9, "host": "sftp.example.com", "port": 22});
    let json = np6_import(
        json!([
            {"type": "database", "updateExisting": true, "crushData": false},
            scoring,
            // 8.1.0's answers leave `groupIds` out.
            {"type": "report", "sendFinalReport": true, "sendErrorReport": false, "contactGuids": ["AB12"]},
        ]),
        sftp.clone(),
    );
    for key in [
        "GET_imports_{id}.200",
        "POST_imports.200",
        "PUT_imports_{id}.200",
    ] {
        let import: Import = check_kept("mailperformance", key, &json);
        assert!(matches!(
            import.features[0],
            ImportFeature::DatabaseFeature(_)
        ));
        let ImportFeature::OtherFeature(other) = &import.features[1] else {
            panic!("{:?}", import.features[1]);
        };
        assert_eq!(other.type_.as_str(), "scoring");
        assert_eq!(other.extra["threshold"], 3);
        let ImportFeature::ReportFeature(report) = &import.features[2] else {
            panic!("{:?}", import.features[2]);
        };
        assert_eq!(report.group_ids, None);
        let Some(Source::OtherSource(source)) = &import.source else {
            panic!("{:?}", import.source);
        };
        assert_eq!(source.type_.as_str(), "sftp");
        assert_eq!(source.extra["host"], "sftp.example.com");
    }
    check_kept::<Source>("mailperformance", "PUT_imports_{id}_source.200", &sftp);
}

#[test]
fn mailperformance_known_features_stay_strict() {
    use esp_imports::mailperformance::types::Import;
    // A known `type` with a required member missing is not taken for an unknown feature.
    let json = np6_import(
        json!([{"type": "database", "updateExisting": true}]),
        json!({"type": "file"}),
    );
    let e = check::<Import>("mailperformance", "GET_imports_{id}.200", &json).unwrap_err();
    assert!(e.contains("does not validate"), "{e}");
    assert!(serde_json::from_value::<Import>(json).is_err());
    let json = np6_import(json!([]), json!({"type": "ftp", "folder": 7}));
    assert!(check::<Import>("mailperformance", "GET_imports_{id}.200", &json).is_err());
}

#[test]
fn copernica_database_archived_may_be_null() {
    use esp_imports::copernica::types::DatabaseList;
    let mut page = fixture("copernica", "peer/GET_databases.200.123lens-mock.json");
    page["data"][0]["archived"] = Value::Null;
    page["data"][1]["archived"] = json!(1);
    let list: DatabaseList = check("copernica", "GET_databases.200", &page).unwrap();
    assert_eq!(list.data[0].archived, None);
    assert!(list.data[1].archived.is_some());
}
