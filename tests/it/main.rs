//! The library's integration tests, in one binary (one link instead of one per file): each
//! module is a former `tests/<name>.rs`, run with `cargo test -p esp-imports --test it <name>`.
//! `tests/streaming.rs` stays a binary of its own: it measures the process's peak memory,
//! which the tests of other modules, running beside it, would move.

#[path = "../sshd/mod.rs"]
mod sshd;

mod fields;
mod fixtures;
mod generated;
mod importer;
mod importer_status;
mod layer_copernica;
mod layer_eloqua;
mod layer_mailperformance;
mod layer_mindbaz;
mod lenient;
mod prop_chunker;
mod prop_decode;
mod public_api;
mod sandbox_mindbaz_eloqua;
mod sandbox_np6_copernica;
mod wire_copernica;
mod wire_eloqua;
mod wire_mailperformance;
mod wire_mindbaz;
