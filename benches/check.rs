//! The file check every import runs before its first request (`CsvFile::inspect`: format,
//! UTF-8, field counts, line endings, empty and duplicate keys, each column's values learnt),
//! on files of unique contacts of 64 MiB and 1 GiB: its throughput in MiB/s, on one thread
//! and on two.
//!
//! `cargo bench --bench check`. BENCHMARKS.md section 8 quotes it.

use std::io::Write as _;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use esp_imports::{CsvFile, Expectations};

/// A CSV file of about `bytes` bytes, one unique e-mail a row.
fn contacts(bytes: u64) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    let mut out = std::io::BufWriter::new(file.as_file_mut());
    writeln!(out, "email,first_name,last_name,city").unwrap();
    let mut written = 0;
    let mut i = 0u64;
    while written < bytes {
        let row = format!(
            "user{i}@example.com,First{i},Last{},City {}\n",
            i % 997,
            i % 89
        );
        out.write_all(row.as_bytes()).unwrap();
        written += row.len() as u64;
        i += 1;
    }
    out.flush().unwrap();
    drop(out);
    file
}

fn check(c: &mut Criterion) {
    // Both past half a million rows: the keys' hashes go through temporary files, and the
    // file is read once (scan::Seen).
    for mib in [64, 1024] {
        let size = mib << 20;
        let file = contacts(size);
        let mut group = c.benchmark_group("check");
        group.sample_size(10);
        group.throughput(Throughput::Bytes(size));
        for threads in [1, 2] {
            let mut expect = Expectations::default();
            expect.columns = vec!["email", "city"];
            expect.key = Some("email");
            expect.threads = Some(threads);
            group.bench_function(
                format!("{mib} MiB, unique keys, {threads} thread(s)"),
                |b| b.iter(|| CsvFile::inspect(file.path(), &expect).unwrap()),
            );
        }
        group.finish();
    }
}

criterion_group!(benches, check);
criterion_main!(benches);
