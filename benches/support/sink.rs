//! The loopback server of the whole-process benchmarks (`benches/compare.py`): it answers the
//! NP6 and Eloqua calls of one import each with fixed, valid answers, and reads every upload in
//! pieces, counting its bytes and lines and keeping none of it. So both sides of a comparison
//! (`esp-imports` and `curl -T` for NP6; `esp-imports` and a Python `requests` script for
//! Eloqua) send to the same endpoint, and neither pays for a server that stores or parses rows.
//!
//! `bench-sink 127.0.0.1:PORT`; `GET /_stats` answers the counts so far as JSON and resets them.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

use axum::{
    body::Body,
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post, put},
    Json, Router,
};
use futures_util::StreamExt as _;
use serde_json::{json, Value};

/// Bytes and lines of every upload received since the last `GET /_stats`, and the time spent
/// receiving them (from the request's head to the body's last byte).
#[derive(Default)]
struct Stats {
    uploads: AtomicU64,
    bytes: AtomicU64,
    lines: AtomicU64,
    micros: AtomicU64,
    /// Requests it has no answer for: the workflow measured would not be the whole one.
    unexpected: AtomicU64,
}

type Shared = Arc<Stats>;

const NP6_JSON: &str = "application/vnd.mperf.v8.import.v1+json";

fn np6(body: Value) -> Response {
    ([(header::CONTENT_TYPE, NP6_JSON)], body.to_string()).into_response()
}

/// Reads an upload to its end, counting.
async fn drain(stats: &Stats, body: Body) -> Result<(), StatusCode> {
    let started = std::time::Instant::now();
    let mut stream = body.into_data_stream();
    let (mut bytes, mut lines) = (0u64, 0u64);
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|_| StatusCode::BAD_REQUEST)?;
        bytes += piece.len() as u64;
        lines += piece.iter().filter(|&&b| b == b'\n').count() as u64;
    }
    stats.uploads.fetch_add(1, Ordering::Relaxed);
    stats.bytes.fetch_add(bytes, Ordering::Relaxed);
    stats.lines.fetch_add(lines, Ordering::Relaxed);
    stats
        .micros
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
    Ok(())
}

async fn np6_upload(State(stats): State<Shared>, body: Body) -> Response {
    match drain(&stats, body).await {
        Ok(()) => np6(json!({"type": "file", "filename": "bench.csv"})),
        Err(status) => status.into_response(),
    }
}

async fn eloqua_stage(State(stats): State<Shared>, body: Body) -> Response {
    match drain(&stats, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(status) => status.into_response(),
    }
}

async fn stats(State(stats): State<Shared>) -> Json<Value> {
    Json(json!({
        "uploads": stats.uploads.swap(0, Ordering::Relaxed),
        "bytes": stats.bytes.swap(0, Ordering::Relaxed),
        "lines": stats.lines.swap(0, Ordering::Relaxed),
        "upload_seconds": stats.micros.swap(0, Ordering::Relaxed) as f64 / 1e6,
        "unexpected": stats.unexpected.swap(0, Ordering::Relaxed),
    }))
}

/// Eloqua's definition, echoed with a uri.
async fn eloqua_definition(body: axum::body::Bytes) -> Response {
    let mut definition: Value = serde_json::from_slice(&body).unwrap_or_else(|_| json!({}));
    definition["uri"] = json!("/contacts/imports/7");
    (StatusCode::CREATED, Json(definition)).into_response()
}

fn page(items: Value) -> Json<Value> {
    let count = items.as_array().map_or(0, Vec::len);
    Json(
        json!({"items": items, "count": count, "hasMore": false, "limit": 1000, "offset": 0, "totalResults": count}),
    )
}

/// NP6's field list: the e-mail (the unicity field) and three text fields of 150 characters,
/// the fields the benchmark maps, so that every value is checked (the pre-flight).
fn np6_fields() -> Value {
    let text = |id: i32, name: &str| {
        json!({"type": "textField", "id": id, "name": name, "isUnicity": false,
               "isMandatory": false, "isCriterion": true,
               "constraint": {"operator": 4, "value": "150"}})
    };
    json!([
        {"type": "email", "id": 1234, "name": "Email", "isUnicity": true, "isMandatory": true,
         "isCriterion": true},
        text(1235, "Firstname"),
        text(1236, "Lastname"),
        text(5678, "City"),
    ])
}

/// Eloqua's contact fields the benchmark maps (e-mail unique, three texts).
fn eloqua_fields() -> Value {
    let field = |i: usize, internal: &str, name: &str, data_type: &str| {
        json!({"name": name, "internalName": internal, "dataType": data_type,
               "defaultValue": "", "hasReadOnlyConstraint": false, "hasNotNullConstraint": false,
               "hasUniquenessConstraint": internal == "C_EmailAddress",
               "statement": format!("{{{{Contact.Field({internal})}}}}"),
               "uri": format!("/contacts/fields/{}", 100_001 + i)})
    };
    json!([
        field(0, "C_EmailAddress", "Email Address", "emailAddress"),
        field(1, "C_FirstName", "First Name", "text"),
        field(2, "C_LastName", "Last Name", "text"),
        field(3, "C_City", "City", "text"),
    ])
}

fn sync(status: &str) -> Value {
    json!({"syncedInstanceUri": "/contacts/imports/7", "status": status, "uri": "/syncs/9",
           "createdAt": "2026-11-24T10:00:00.0000000Z", "createdBy": "Bench.User"})
}

#[tokio::main]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let app = Router::new()
        // NP6 MailPerformance: fields, binding, import, source upload, execution, state.
        .route("/fields", get(|| async { np6(np6_fields()) }))
        .route(
            "/importFormats",
            get(|| async { np6(json!([])) }).post(|| async {
                np6(
                    json!({"identifier": {"guid": 77}, "name": "bench", "separator": 44,
                           "startAt": 1, "binds": [], "savedImportFormat": true}),
                )
            }),
        )
        .route(
            "/imports",
            post(|| async { np6(json!({"id": 42, "name": "bench", "features": []})) }),
        )
        .route("/imports/42/source", put(np6_upload))
        .route(
            "/imports/42/executions",
            post(|| async { np6(json!({"startDate": "2026-11-24T10:00:00Z", "state": 0})) })
                .get(|| async { np6(json!({"state": 1})) }),
        )
        // Eloqua Bulk 2.0: fields, definition, staging, sync, state, logs, rejects, cleanup.
        .route("/contacts/fields", get(|| async { page(eloqua_fields()) }))
        .route("/contacts/imports", post(eloqua_definition))
        .route(
            "/contacts/imports/7",
            axum::routing::delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/contacts/imports/7/data",
            post(eloqua_stage).delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/syncs",
            post(|| async { (StatusCode::CREATED, Json(sync("pending"))) })
                .get(|| async { page(json!([])) }),
        )
        .route("/syncs/9", get(|| async { Json(sync("success")) }))
        .route("/syncs/9/logs", get(|| async { page(json!([])) }))
        .route("/syncs/9/rejects", get(|| async { page(json!([])) }))
        .route("/_stats", get(stats))
        .fallback(
            |State(stats): State<Shared>, headers: HeaderMap, uri: axum::http::Uri| async move {
                eprintln!("bench-sink: unexpected request {uri} {headers:?}");
                stats.unexpected.fetch_add(1, Ordering::Relaxed);
                StatusCode::NOT_FOUND
            },
        )
        .with_state(Shared::default());
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap();
    println!("{}", listener.local_addr().unwrap());
    axum::serve(listener, app).await.unwrap();
}
