//! Property tests of the CSV chunker (`CsvFile::chunks`, which cuts the file into the row-aligned
//! bodies Eloqua stages): for arbitrary CSV files (quoted fields holding delimiters, quotes, CR,
//! LF and CRLF, unicode; LF or CRLF rows; a BOM or not; any of the four delimiters) and any cap,
//! the chunks re-joined are exactly the data rows, each chunk with the header fits the cap and
//! starts on a row, and a row that cannot fit is an error naming its line, never a split.
//!
//! 256 cases by default (under a second); a longer run:
//! `PROPTEST_CASES=5000 cargo test --all-features --test prop_chunker`.

use std::collections::BTreeSet;

use esp_imports::{CsvFile, Error, Expectations};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A field's text: plain letters and digits, or anything that needs quoting.
fn field() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', 'Z', '0', ' ', ',', ';', '\t', '|', '"', '\r', '\n', 'é', '日', '😀', '\'', '=',
    ]);
    prop_oneof![
        "[a-z0-9@.]{0,8}",
        prop::collection::vec(chars, 0..12).prop_map(|c| c.into_iter().collect()),
    ]
}

/// A generated file: its bytes, and for each data row its byte range and first line.
#[derive(Debug)]
struct File {
    bytes: Vec<u8>,
    delimiter: u8,
    header_len: usize,
    rows: Vec<(std::ops::Range<usize>, u64)>,
}

fn encode(field: &str, delimiter: u8) -> String {
    let special = field.is_empty()
        || field
            .bytes()
            .any(|b| b == delimiter || matches!(b, b'"' | b'\r' | b'\n'));
    if special {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn file() -> impl Strategy<Value = File> {
    (
        1usize..4,
        prop::sample::select(vec![b',', b';', b'\t', b'|']),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(columns, delimiter, crlf, bom, final_newline)| {
            let row = prop::collection::vec(field(), columns);
            prop::collection::vec(row, 1..25).prop_map(move |rows| {
                let newline = if crlf { "\r\n" } else { "\n" };
                let separator = (delimiter as char).to_string();
                let mut text = String::new();
                if bom {
                    text.push('\u{feff}');
                }
                let header: Vec<String> = (0..columns).map(|i| format!("col{i}")).collect();
                text.push_str(&header.join(&separator));
                text.push_str(newline);
                let header_len = text.len() - if bom { 3 } else { 0 };
                let mut ranges = Vec::new();
                for (i, row) in rows.iter().enumerate() {
                    let start = text.len();
                    let line = 1 + text.matches('\n').count() as u64;
                    let cells: Vec<String> = row.iter().map(|f| encode(f, delimiter)).collect();
                    text.push_str(&cells.join(&separator));
                    if final_newline || i + 1 < rows.len() {
                        text.push_str(newline);
                    }
                    ranges.push((start..text.len(), line));
                }
                File {
                    bytes: text.into_bytes(),
                    delimiter,
                    header_len,
                    rows: ranges,
                }
            })
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn chunks_are_the_rows_cut_on_row_boundaries_within_the_cap(
        file in file(),
        cap_seed in any::<u64>(),
    ) {
        let mut tmp = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut tmp, &file.bytes).unwrap();
        let mut expect = Expectations::default();
        expect.delimiter = Some(file.delimiter);
        let csv = CsvFile::inspect(tmp.path(), &expect).unwrap();
        prop_assert_eq!(csv.rows, file.rows.len() as u64);
        prop_assert_eq!(csv.header_line.len(), file.header_len);
        let data_start = file.rows[0].0.start;
        prop_assert_eq!(csv.data_start, data_start as u64);

        // Caps from "no row fits" to "everything in one chunk".
        let size = file.bytes.len() as u64;
        let cap = cap_seed % (size + file.header_len as u64 + 2);
        let starts: BTreeSet<u64> = file.rows.iter().map(|(r, _)| r.start as u64).collect();
        let too_large = file
            .rows
            .iter()
            .find(|(r, _)| (file.header_len + r.len()) as u64 > cap);
        match (csv.chunks(cap), too_large) {
            (Ok(chunks), None) => {
                let mut rejoined = Vec::new();
                let mut at = csv.data_start;
                for chunk in &chunks {
                    prop_assert_eq!(chunk.start, at, "chunks are contiguous");
                    prop_assert!(chunk.end > chunk.start, "no empty chunk");
                    prop_assert!(starts.contains(&chunk.start), "{:?} starts on a row", chunk);
                    prop_assert!(
                        csv.header_line.len() as u64 + chunk.end - chunk.start <= cap,
                        "{:?} with the header is over {}", chunk, cap
                    );
                    rejoined.extend_from_slice(&file.bytes[chunk.start as usize..chunk.end as usize]);
                    at = chunk.end;
                }
                prop_assert_eq!(at, size);
                prop_assert_eq!(&rejoined[..], &file.bytes[data_start..]);
                // As full as they can be: a chunk and the next one's first row do not fit together.
                for pair in chunks.windows(2) {
                    let next_row_end = starts
                        .range(pair[1].start + 1..)
                        .next()
                        .copied()
                        .unwrap_or(size);
                    prop_assert!(
                        csv.header_line.len() as u64 + next_row_end - pair[0].start > cap,
                        "{:?} could have taken the next row", pair[0]
                    );
                }
            }
            (Err(Error::InvalidInput(e)), Some((_, line))) => {
                prop_assert_eq!(e.row, Some(*line), "{}", e);
                prop_assert!(e.reason.contains(&format!("over {cap} bytes")), "{}", e);
            }
            (result, too_large) => {
                prop_assert!(false, "cap {}: {:?}, while the row too large is {:?}", cap, result, too_large);
            }
        }
    }
}
