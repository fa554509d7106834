//! N calls of one kind against an in-process loopback server, on a single-threaded runtime, for
//! instruction counts under `valgrind --tool=callgrind` (repeatable where wall-clock times on a
//! shared machine are not): `bench-calls generated|reqwest|settings N`. `settings` is the plain
//! call through the reqwest client the generated one is built on (our timeouts, user agent and
//! credentials header), to tell the cost of those settings from that of the generated code.
//! `benches/compare.py` runs it for two values of N and divides the difference, so that
//! start-up cancels out.

use esp_imports::eloqua::types;
use progenitor_client::ClientInfo as _;

#[path = "loopback.rs"]
mod loopback;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let kind = args.next().expect("generated or reqwest");
    let n: u64 = args.next().and_then(|n| n.parse().ok()).expect("a count");

    let base = loopback::serve().await;
    let (generated, plain) = loopback::clients(&base);
    let url = format!("{base}/syncs/9");
    let settings = generated.client().clone();
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
            "reqwest" | "settings" => {
                let client = if kind == "reqwest" { &plain } else { &settings };
                let answer = client.get(&url).send().await.unwrap();
                assert!(answer.status().is_success());
                answer.json::<types::SyncIndividual>().await.unwrap().status
            }
            other => panic!("unknown kind {other}"),
        };
        assert_eq!(status.as_deref(), Some("success"));
    }
}
