//! Per-call overhead of a generated-client call (progenitor builder, our hooks: retry policy,
//! secret redaction, typed decoding) against the same request made with a plain `reqwest`
//! client decoding into the same type, on loopback, one small JSON answer each.
//!
//! Loopback round trips on a shared machine drift by more than the difference measured, so the
//! two sides are interleaved: every iteration makes one call of each kind and times one of
//! them (`generated` times the generated call, `reqwest` the plain one), so both see the same
//! conditions. `reqwest_same_settings` is the plain call through a reqwest client built like
//! ours (timeouts, user agent): the cost of those settings apart from the generated code.
//!
//! `cargo bench --bench per_call`; `benches/compare.py` prints the ratio of the medians
//! (target: ≤ 1.05).

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use esp_imports::eloqua::{self, types};
use progenitor_client::ClientInfo as _;

#[path = "support/loopback.rs"]
mod loopback;

/// The three ways of making the call.
struct Calls {
    generated: eloqua::Client,
    plain: reqwest::Client,
    same_settings: reqwest::Client,
    url: String,
}

impl Calls {
    async fn generated(&self) {
        let sync = self.generated.get_sync().id(9).send().await.unwrap();
        assert_eq!(sync.status.as_deref(), Some("success"));
    }

    async fn reqwest(&self, client: &reqwest::Client) {
        let answer = client.get(&self.url).send().await.unwrap();
        assert!(answer.status().is_success());
        let sync: types::SyncIndividual = answer.json().await.unwrap();
        assert_eq!(sync.status.as_deref(), Some("success"));
    }

    /// `iters` rounds of one call of each kind, in a rotating order; the time of the `timed`
    /// one.
    async fn rounds(&self, iters: u64, timed: usize) -> Duration {
        let mut total = Duration::ZERO;
        for round in 0..iters {
            // Each kind comes first, second and third in turn.
            for kind in (0..3).map(|k| (k + round as usize) % 3) {
                let started = Instant::now();
                match kind {
                    0 => self.generated().await,
                    1 => self.reqwest(&self.plain).await,
                    _ => self.reqwest(&self.same_settings).await,
                }
                if kind == timed {
                    total += started.elapsed();
                }
            }
        }
        total
    }
}

fn per_call(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = rt.block_on(loopback::serve());
    let (generated, plain) = loopback::clients(&base);
    let calls = Calls {
        same_settings: generated.client().clone(),
        generated,
        plain,
        url: format!("{base}/syncs/9"),
    };

    let mut group = c.benchmark_group("per_call");
    for (timed, name) in ["generated", "reqwest", "reqwest_same_settings"]
        .into_iter()
        .enumerate()
    {
        let calls = &calls;
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter_custom(|iters| async move { calls.rounds(iters, timed).await })
        });
    }
    group.finish();
}

criterion_group!(benches, per_call);
criterion_main!(benches);
