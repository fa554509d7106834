//! What the per-call benchmarks share: a loopback server answering `GET /syncs/9` with a small
//! sync, as Eloqua does, and the two clients compared on it.

use axum::{routing::get, Json, Router};
use esp_imports::{
    eloqua::{self, Auth},
    HttpConfig, Secret,
};
use serde_json::json;

/// Starts the server on the current runtime; its base URL.
pub async fn serve() -> String {
    let app = Router::new().route(
        "/syncs/9",
        get(|| async {
            Json(json!({
                "syncedInstanceUri": "/contacts/imports/7",
                "syncStartedAt": "2026-11-24T10:00:00.5500000Z",
                "syncEndedAt": "2026-11-24T10:00:02.9330000Z",
                "status": "success",
                "createdAt": "2026-11-24T10:00:00.0100000Z",
                "createdBy": "Bench.User",
                "uri": "/syncs/9"
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// The generated Eloqua client (our settings and hooks) and a plain reqwest client sending the
/// same credentials.
pub fn clients(base: &str) -> (eloqua::Client, reqwest::Client) {
    let generated = eloqua::Client::with_auth(
        base,
        &Auth::Basic {
            company: "Company".into(),
            username: "user".into(),
            password: Secret::new("password"),
        },
        &HttpConfig::default(),
    )
    .unwrap();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        // base64("Company\user:password")
        "Basic Q29tcGFueVx1c2VyOnBhc3N3b3Jk".parse().unwrap(),
    );
    let plain = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    (generated, plain)
}
