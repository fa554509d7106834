//! Per-call overhead of a generated-client call (progenitor builder, our hooks: retry policy,
//! secret redaction, typed decoding) against the same request made with a plain `reqwest`
//! client decoding into the same type, on loopback, one small JSON answer each.
//!
//! `cargo bench --bench per_call`; `benches/compare.py` reads the two medians and prints the
//! ratio (target: ≤ 1.05).

use std::net::SocketAddr;

use axum::{routing::get, Json, Router};
use criterion::{criterion_group, criterion_main, Criterion};
use esp_imports::{
    eloqua::{self, types, Auth},
    HttpConfig, Secret,
};
use progenitor_client::ClientInfo as _;
use serde_json::json;

/// A loopback server answering `GET /syncs/9` with a small sync, as Eloqua does.
fn serve(rt: &tokio::runtime::Runtime) -> SocketAddr {
    rt.block_on(async {
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
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        address
    })
}

fn per_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let address = serve(&rt);
    let base = format!("http://{address}");

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
        // base64("Company\user:password")
        "Basic Q29tcGFueVx1c2VyOnBhc3N3b3Jk".parse().unwrap(),
    );
    let raw = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    let url = format!("{base}/syncs/9");

    let mut group = c.benchmark_group("per_call");
    group.bench_function("generated", |b| {
        b.to_async(&rt).iter(|| async {
            let sync = generated.get_sync().id(9).send().await.unwrap();
            assert_eq!(sync.status.as_deref(), Some("success"));
        })
    });
    group.bench_function("reqwest", |b| {
        b.to_async(&rt).iter(|| async {
            let answer = raw.get(&url).send().await.unwrap();
            assert!(answer.status().is_success());
            let sync: types::SyncIndividual = answer.json().await.unwrap();
            assert_eq!(sync.status.as_deref(), Some("success"));
        })
    });
    // The generated client's own reqwest client (its timeouts, user agent and auth header),
    // without the generated code and hooks: separates the client's settings from our layers.
    let same_client = generated.client().clone();
    group.bench_function("reqwest_same_client", |b| {
        b.to_async(&rt).iter(|| async {
            let answer = same_client.get(&url).send().await.unwrap();
            assert!(answer.status().is_success());
            let sync: types::SyncIndividual = answer.json().await.unwrap();
            assert_eq!(sync.status.as_deref(), Some("success"));
        })
    });
    group.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
