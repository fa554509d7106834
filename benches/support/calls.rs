//! N calls of one kind against an in-process loopback server, on a single-threaded runtime, for
//! instruction counts under `valgrind --tool=callgrind` (repeatable where wall-clock times on a
//! shared machine are not): `bench-calls generated|reqwest N`. `benches/compare.py` runs it for
//! two values of N and divides the difference, so that start-up cancels out.

use axum::{routing::get, Json, Router};
use esp_imports::{
    eloqua::{self, types, Auth},
    HttpConfig, Secret,
};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().expect("generated or reqwest");
    let n: u64 = args.next().and_then(|n| n.parse().ok()).expect("a count");

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

    let generated = eloqua::Client::with_auth(
        &base,
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
        "Basic Q29tcGFueVx1c2VyOnBhc3N3b3Jk".parse().unwrap(),
    );
    let plain = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let url = format!("{base}/syncs/9");
    for _ in 0..n {
        let status = match kind.as_str() {
            "generated" => {
                generated
                    .get_sync()
                    .id(9)
                    .send()
                    .await
                    .unwrap()
                    .into_inner()
                    .status
            }
            "reqwest" => {
                let answer = plain.get(&url).send().await.unwrap();
                assert!(answer.status().is_success());
                answer.json::<types::SyncIndividual>().await.unwrap().status
            }
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(status.as_deref(), Some("success"));
    }
}
