//! The input CSV file: checked once, before any request, and cut into row-aligned chunks.
//!
//! [`CsvFile::inspect`] reads the file as a stream (it is never held in memory) and finds its
//! real format (delimiter, line ending, BOM, header), counts the rows, and refuses what a
//! vendor would choke on or silently drop, naming the file, line and column: not a regular
//! file, UTF-16, not UTF-8, NUL bytes, a blank first line, ragged rows, mixed or lone-CR line
//! endings, duplicate, empty or multi-line header names, a mapped or key column missing, an
//! empty key, or the same key twice (compared as the vendors do: without case and surrounding
//! spaces).

use std::{
    collections::HashSet,
    fs::File,
    hash::BuildHasher,
    io::{BufReader, Read},
    ops::Range,
    path::{Path, PathBuf},
};

use crate::{error::InputError, Error};

/// Delimiters recognised in a header line, in order of preference on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest header line read.
const MAX_HEADER: usize = 1 << 20;

/// How the file's lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineEnding {
    /// `\n`
    Lf,
    /// `\r\n`
    CrLf,
}

impl LineEnding {
    /// The bytes.
    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::CrLf => "\r\n",
        }
    }
}

/// A checked CSV file and its format.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvFile {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// The field delimiter.
    pub delimiter: u8,
    /// The quote character.
    pub quote: u8,
    /// How its lines end.
    pub line_ending: LineEnding,
    /// Whether it starts with a UTF-8 byte-order mark.
    pub has_bom: bool,
    /// The column names of its header line.
    pub header: Vec<String>,
    /// The header line as it is in the file (BOM left out), line ending included.
    pub header_line: Vec<u8>,
    /// Byte offset of the first data row.
    pub data_start: u64,
    /// Number of data rows (the header not counted).
    pub rows: u64,
    /// The first field with a line break inside its quotes, as (line, column), if any: a vendor
    /// that reads its files line by line cannot take it.
    pub quoted_line_break: Option<(u64, String)>,
}

/// What [`CsvFile::inspect`] checks besides the format.
#[derive(Debug, Clone, Default)]
pub struct Expectations<'a> {
    /// Columns that must be in the header (the mapped ones).
    pub columns: Vec<&'a str>,
    /// The key column: present, never empty, no value twice.
    pub key: Option<&'a str>,
    /// The delimiter, when the user gave it (otherwise it is guessed from the header line).
    pub delimiter: Option<u8>,
}

fn invalid(
    path: &Path,
    row: Option<u64>,
    column: Option<&str>,
    reason: impl Into<String>,
) -> Error {
    Error::InvalidInput(InputError {
        file: path.to_owned(),
        row,
        column: column.map(str::to_owned),
        reason: reason.into(),
    })
}

fn open(path: &Path) -> Result<(File, u64), Error> {
    let metadata = std::fs::metadata(path).map_err(|e| invalid(path, None, None, e.to_string()))?;
    if metadata.is_dir() {
        return Err(invalid(path, None, None, "is a directory, not a CSV file"));
    }
    if !metadata.is_file() {
        // A pipe cannot be read more than once (and opening a FIFO waits for a writer).
        return Err(invalid(
            path,
            None,
            None,
            "is not a regular file (a pipe, socket or device): it is read more than once, so \
             give the path of a CSV file",
        ));
    }
    let file =
        File::open(path).map_err(|e| invalid(path, None, None, format!("cannot be read: {e}")))?;
    Ok((file, metadata.len()))
}

/// Guesses the delimiter from the header line: the candidate seen most often outside quotes.
fn guess_delimiter(line: &[u8], quote: u8) -> u8 {
    let mut counts = [0usize; DELIMITERS.len()];
    let mut quoted = false;
    for &b in line {
        if b == quote {
            quoted = !quoted;
        } else if !quoted {
            if let Some(i) = DELIMITERS.iter().position(|&d| d == b) {
                counts[i] += 1;
            }
        }
    }
    let best = (0..DELIMITERS.len())
        .max_by_key(|&i| (counts[i], std::cmp::Reverse(i)))
        .unwrap();
    if counts[best] == 0 {
        b','
    } else {
        DELIMITERS[best]
    }
}

/// The first line of `file` (up to and including `\n`), read without a CSV parser, so that the
/// delimiter can be guessed. A quoted newline in a header is not supported.
fn first_line(path: &Path, file: &File) -> Result<Vec<u8>, Error> {
    let mut line = Vec::new();
    for byte in BufReader::new(file).bytes() {
        let byte = byte.map_err(|e| invalid(path, None, None, format!("cannot be read: {e}")))?;
        line.push(byte);
        if byte == b'\n' || line.len() > MAX_HEADER {
            break;
        }
    }
    Ok(line)
}

impl CsvFile {
    /// Reads the whole file once, as a stream, and checks it (see the module docs).
    pub fn inspect(path: &Path, expect: &Expectations<'_>) -> Result<Self, Error> {
        let (file, size) = open(path)?;
        if size == 0 {
            return Err(invalid(path, None, None, "the file is empty"));
        }
        let mut header_line = first_line(path, &file)?;
        let too_long = header_line.len() > MAX_HEADER;
        for (bom, what) in [
            (b"\xFF\xFE", "little-endian byte-order mark FF FE"),
            (b"\xFE\xFF", "big-endian byte-order mark FE FF"),
        ] {
            if header_line.starts_with(bom) {
                return Err(invalid(
                    path,
                    None,
                    None,
                    format!("is UTF-16 ({what}): save it as UTF-8"),
                ));
            }
        }
        let has_bom = header_line.starts_with(BOM);
        if has_bom {
            header_line.drain(..BOM.len());
        }
        if header_line.is_empty() {
            return Err(invalid(
                path,
                None,
                None,
                "the file is empty (a byte-order mark and nothing else)",
            ));
        }
        if header_line.starts_with(BOM) {
            return Err(invalid(
                path,
                Some(1),
                None,
                "starts with two UTF-8 byte-order marks: remove one",
            ));
        }
        if header_line == b"\n" || header_line == b"\r\n" {
            return Err(invalid(
                path,
                Some(1),
                None,
                "is empty: the header must be on the first line",
            ));
        }
        if too_long {
            return Err(invalid(
                path,
                Some(1),
                None,
                format!(
                    "is longer than {} bytes: is this a CSV file with a header line?",
                    MAX_HEADER
                ),
            ));
        }
        let quote = b'"';
        let delimiter = expect
            .delimiter
            .unwrap_or_else(|| guess_delimiter(&header_line, quote));
        let line_ending = if header_line.ends_with(b"\r\n") {
            LineEnding::CrLf
        } else {
            LineEnding::Lf
        };
        let data_start = header_line.len() as u64 + if has_bom { BOM.len() as u64 } else { 0 };

        let mut rows_of = Rows::new(path, delimiter, quote)?;
        if rows_of.next()?.is_none() {
            return Err(invalid(path, None, None, "the file is empty"));
        }
        let record = rows_of.record.clone();
        let header = header_names(path, &record, has_bom)?;
        // The names have no line break, so a CR here ends a line without a LF.
        if let Some(i) = header_line.iter().position(|&b| b == b'\r') {
            if header_line.get(i + 1) != Some(&b'\n') {
                return Err(lone_cr(path, 1));
            }
        }
        let column = |name: &str| header.iter().position(|h| h == name);
        for name in &expect.columns {
            if column(name).is_none() {
                return Err(invalid(
                    path,
                    Some(1),
                    Some(name),
                    format!(
                        "no such column in the header (it has: {})",
                        header.join(", ")
                    ),
                ));
            }
        }
        let key = match expect.key {
            Some(name) => Some((
                name,
                column(name).ok_or_else(|| {
                    invalid(
                        path,
                        Some(1),
                        Some(name),
                        "the key column is not in the header",
                    )
                })?,
            )),
            None => None,
        };

        // Duplicate keys are found in bounded memory: a Bloom filter sized from the file flags
        // the keys that may have been seen; only those are checked exactly, in a second pass.
        let keys = KeyHasher::default();
        let mut seen = Bloom::for_file_of(size);
        let mut candidates: HashSet<u64> = HashSet::new();
        let mut scratch = Vec::new();
        let mut rows = 0;
        let mut previous_line = 1;
        let mut quoted_line_break = None;
        while let Some(row) = rows_of.next()? {
            let record = &rows_of.record;
            let line = row.line;
            if let Some(before) = row.before {
                check_line_ending(path, line_ending, before, previous_line)?;
            }
            previous_line = line;
            if record.len() != header.len() {
                return Err(invalid(
                    path,
                    Some(line),
                    None,
                    format!("{} fields, the header has {}", record.len(), header.len()),
                ));
            }
            if std::str::from_utf8(record.as_slice()).is_err() {
                let column = record
                    .iter()
                    .position(|field| std::str::from_utf8(field).is_err())
                    .map(|i| header[i].as_str());
                return Err(invalid(
                    path,
                    Some(line),
                    column,
                    "is not UTF-8 (a Windows-1252 export? convert the file to UTF-8)",
                ));
            }
            // One scan of the row's bytes for the rare ones, then a closer look.
            if record
                .as_slice()
                .iter()
                .any(|&b| b == 0 || b == b'\n' || b == b'\r')
            {
                if let Some(i) = record.iter().position(|field| field.contains(&0)) {
                    return Err(invalid(
                        path,
                        Some(line),
                        Some(&header[i]),
                        "a NUL byte: is this a text file (UTF-16 without a byte-order mark?)",
                    ));
                }
                if quoted_line_break.is_none() {
                    let i = record
                        .iter()
                        .position(|field| field.iter().any(|&b| b == b'\n' || b == b'\r'))
                        .expect("a line break in one of the fields");
                    quoted_line_break = Some((line, header[i].clone()));
                }
            }
            if let Some((name, index)) = key {
                let value = &record[index];
                if value.iter().all(u8::is_ascii_whitespace) {
                    return Err(invalid(path, Some(line), Some(name), "the key is empty"));
                }
                seen.insert(
                    keys.hash_one(normal_key(value, &mut scratch)),
                    &mut candidates,
                );
            }
            rows += 1;
        }
        if rows == 0 {
            return Err(invalid(path, None, None, "no data rows after the header"));
        }
        seen.flush(&mut candidates);
        if let Some((name, index)) = key.filter(|_| !candidates.is_empty()) {
            find_duplicate(path, delimiter, quote, (name, index), &keys, &candidates)?;
        }
        Ok(Self {
            path: path.to_owned(),
            size,
            delimiter,
            quote,
            line_ending,
            has_bom,
            header,
            header_line,
            data_start,
            rows,
            quoted_line_break,
        })
    }

    /// The index of a header column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Cuts the data rows into byte ranges of the file such that the header line plus one range
    /// is at most `cap` bytes, each range starting on a row boundary. Reads the file once more.
    pub fn chunks(&self, cap: u64) -> Result<Vec<Range<u64>>, Error> {
        let header = self.header_line.len() as u64;
        let mut rows = Rows::new(&self.path, self.delimiter, self.quote)?;
        rows.next()?; // the header
        let mut chunks = Vec::new();
        let mut start = self.data_start;
        let mut last_start = self.data_start;
        let mut last_line = 2;
        while let Some(row) = rows.next()? {
            // The previous row ends where this one starts.
            if header + (row.start - last_start) > cap {
                return Err(self.row_too_large(last_line, cap));
            }
            if header + (row.start - start) > cap {
                chunks.push(start..last_start);
                start = last_start;
            }
            last_start = row.start;
            last_line = row.line;
        }
        if header + (self.size - last_start) > cap {
            return Err(self.row_too_large(last_line, cap));
        }
        if header + (self.size - start) > cap {
            chunks.push(start..last_start);
            start = last_start;
        }
        chunks.push(start..self.size);
        Ok(chunks)
    }

    fn row_too_large(&self, line: u64, cap: u64) -> Error {
        invalid(
            &self.path,
            Some(line),
            None,
            format!(
                "this row with the header is over {cap} bytes, more than one request may carry"
            ),
        )
    }
}

/// A 64-bit hash of a key, seeded per run. A collision only makes a key a candidate: the second
/// pass compares the keys themselves.
type KeyHasher = std::collections::hash_map::RandomState;

/// A blocked Bloom filter of key hashes, with about 2 bits per byte of the file (at most
/// 32 MiB): all the probes of a key fall in one 64-byte block, so an insert costs one cache
/// miss instead of one per probe, and that miss is hidden: a key's block is prefetched when it
/// comes in, and the key is set [`Bloom::LAG`] keys later.
struct Bloom {
    blocks: Vec<[u64; 8]>,
    pending: [Option<u64>; Bloom::LAG],
    next: usize,
}

impl Bloom {
    const PROBES: u32 = 6;
    const LAG: usize = 16;

    fn for_file_of(size: u64) -> Self {
        let bits = (size * 2).clamp(1 << 16, 1 << 28);
        Self {
            blocks: vec![[0; 8]; bits.div_ceil(512) as usize],
            pending: [None; Self::LAG],
            next: 0,
        }
    }

    /// The block of a hash: its high bits, by multiply-shift.
    fn block(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.blocks.len() as u128) >> 64) as usize
    }

    /// Adds a key's hash. The keys that may have been added before end up in `candidates`,
    /// at the latest after [`Bloom::flush`].
    fn insert(&mut self, hash: u64, candidates: &mut HashSet<u64>) {
        prefetch(&self.blocks[self.block(hash)]);
        if let Some(earlier) = self.pending[self.next].replace(hash) {
            if self.set(earlier) {
                candidates.insert(earlier);
            }
        }
        self.next = (self.next + 1) % Self::LAG;
    }

    /// Sets the keys still pending (in the order they came).
    fn flush(&mut self, candidates: &mut HashSet<u64>) {
        for i in 0..Self::LAG {
            let slot = (self.next + i) % Self::LAG;
            if let Some(hash) = self.pending[slot].take() {
                if self.set(hash) {
                    candidates.insert(hash);
                }
            }
        }
    }

    /// Sets the key's bits; true if they were all set already.
    fn set(&mut self, hash: u64) -> bool {
        let block = self.block(hash);
        let block = &mut self.blocks[block];
        // A remix of the hash chooses the bits within the block, 9 bits a probe.
        let probes = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(21);
        let mut present = true;
        for i in 0..Self::PROBES {
            let bit = (probes >> (i * 9)) & 511;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            present &= block[word] & mask != 0;
            block[word] |= mask;
        }
        present
    }
}

/// Asks the CPU to start loading `block` into its cache (a hint: no effect on the result).
fn prefetch(block: &[u64; 8]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and has no observable effect, whatever the address.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = block;
}

/// A key as the vendors compare them: without surrounding spaces, and without case (their
/// databases compare e-mail addresses and ids case-insensitively), written into `scratch` so
/// that the row loop does not allocate. Keys are UTF-8 by now.
fn normal_key<'a>(value: &[u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    scratch.clear();
    if value.is_ascii() {
        scratch.extend(value.trim_ascii().iter().map(u8::to_ascii_lowercase));
    } else {
        scratch.extend_from_slice(
            String::from_utf8_lossy(value)
                .trim()
                .to_lowercase()
                .as_bytes(),
        );
    }
    scratch
}

/// Second pass over the rows whose key may be a duplicate: fails on the first real one, naming
/// both lines.
fn find_duplicate(
    path: &Path,
    delimiter: u8,
    quote: u8,
    (name, index): (&str, usize),
    keys: &KeyHasher,
    candidates: &HashSet<u64>,
) -> Result<(), Error> {
    let mut first_lines: std::collections::HashMap<Vec<u8>, (u64, Vec<u8>)> = Default::default();
    let mut scratch = Vec::new();
    let mut rows = Rows::new(path, delimiter, quote)?;
    rows.next()?; // the header
    while let Some(row) = rows.next()? {
        let value = &rows.record[index];
        let normal = normal_key(value, &mut scratch);
        if !candidates.contains(&keys.hash_one(normal)) {
            continue;
        }
        if let Some((first, first_value)) =
            first_lines.insert(normal.to_vec(), (row.line, value.to_vec()))
        {
            let written = if first_value == value {
                String::new()
            } else {
                format!(
                    " (as `{}`: keys are compared without case and surrounding spaces, as the \
                     vendors do)",
                    String::from_utf8_lossy(&first_value)
                )
            };
            return Err(invalid(
                path,
                Some(row.line),
                Some(name),
                format!(
                    "the key `{}` is already on line {first}{written}; the vendor would keep \
                     only one of them",
                    String::from_utf8_lossy(value)
                ),
            ));
        }
    }
    Ok(())
}

/// The records of a file with their real start and line.
///
/// The csv crate's positions point at the `\n` of a `\r\n` (or at a skipped blank line) and
/// count lines from there; a second, forward-only handle on the file looks at the bytes around
/// each position to find where the row really starts, its line, and how the line before it
/// ended.
struct Rows {
    path: PathBuf,
    reader: csv::Reader<BufReader<File>>,
    raw: BufReader<File>,
    at: u64,
    record: csv::ByteRecord,
}

/// One record of [`Rows`].
struct Row {
    /// Byte offset of its first byte.
    start: u64,
    /// Its 1-based line.
    line: u64,
    /// The two bytes before it (the end of the previous line), when it is not the first.
    before: Option<[u8; 2]>,
}

impl Rows {
    fn new(path: &Path, delimiter: u8, quote: u8) -> Result<Self, Error> {
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .has_headers(false)
            .flexible(true) // field counts are checked with the real line numbers
            .from_reader(BufReader::with_capacity(1 << 16, open(path)?.0));
        Ok(Self {
            path: path.to_owned(),
            reader,
            raw: BufReader::with_capacity(1 << 16, open(path)?.0),
            at: 0,
            record: csv::ByteRecord::new(),
        })
    }

    fn next(&mut self) -> Result<Option<Row>, Error> {
        if !self
            .reader
            .read_byte_record(&mut self.record)
            .map_err(|e| csv_error(&self.path, e))?
        {
            return Ok(None);
        }
        let position = self
            .record
            .position()
            .expect("the csv reader tracks positions");
        let (mut start, mut line) = (position.byte(), position.line());
        let io = |e| Error::io(&self.path, e);
        let from = start.saturating_sub(2);
        self.raw
            .seek_relative(from as i64 - self.at as i64)
            .map_err(io)?;
        self.at = from;
        let mut before = [0u8; 2];
        let mut filled = 0;
        // Read the two bytes before the position, then skip line breaks up to the row.
        let mut byte = [0u8; 1];
        loop {
            if self.raw.read(&mut byte).map_err(io)? == 0 {
                break;
            }
            self.at += 1;
            if self.at <= start {
                before[filled] = byte[0];
                filled += 1;
                continue;
            }
            match byte[0] {
                b'\n' => {
                    line += 1;
                    before = [before[1], b'\n'];
                    start += 1;
                }
                b'\r' => {
                    before = [before[1], b'\r'];
                    start += 1;
                }
                _ => break,
            }
        }
        Ok(Some(Row {
            start,
            line,
            before: (start >= 2).then_some(before),
        }))
    }
}

/// Refuses a row whose previous line ended otherwise than the header line (`before` holds the
/// two bytes before the row; line breaks inside quoted fields are not looked at).
fn check_line_ending(
    path: &Path,
    expected: LineEnding,
    before: [u8; 2],
    line: u64,
) -> Result<(), Error> {
    if before[1] == b'\r' {
        return Err(lone_cr(path, line));
    }
    let crlf = before == *b"\r\n";
    if before[1] != b'\n' || crlf == (expected == LineEnding::CrLf) {
        return Ok(());
    }
    let (found, header) = match expected {
        LineEnding::CrLf => ("LF", "CRLF"),
        LineEnding::Lf => ("CRLF", "LF"),
    };
    Err(invalid(
        path,
        Some(line),
        None,
        format!("ends with {found} while the header line ends with {header}: mixed line endings"),
    ))
}

fn lone_cr(path: &Path, line: u64) -> Error {
    invalid(
        path,
        Some(line),
        None,
        "ends with a lone CR (a carriage return without a line feed, as classic Mac OS wrote \
         them): convert the file to LF or CRLF line endings",
    )
}

fn header_names(
    path: &Path,
    record: &csv::ByteRecord,
    has_bom: bool,
) -> Result<Vec<String>, Error> {
    let mut names = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let field = if i == 0 && has_bom {
            field.strip_prefix(BOM).unwrap_or(field)
        } else {
            field
        };
        let name = std::str::from_utf8(field)
            .map_err(|_| {
                invalid(
                    path,
                    Some(1),
                    None,
                    format!(
                        "the header is not UTF-8 (column {}; a Windows-1252 export? convert the \
                         file to UTF-8)",
                        i + 1
                    ),
                )
            })?
            .trim()
            .to_owned();
        let bad = |what: &str| {
            Err(invalid(
                path,
                Some(1),
                None,
                format!("column {}'s name {what}", i + 1),
            ))
        };
        if name.contains(['\n', '\r']) {
            return bad("has a line break: a header name must fit on the first line");
        }
        if name.contains('\0') {
            return bad("has a NUL byte: is this a text file (UTF-16 without a byte-order mark?)");
        }
        if name.contains('\u{FEFF}') {
            return bad("has a byte-order mark (U+FEFF) in it: remove it");
        }
        if name.is_empty() {
            return Err(invalid(
                path,
                Some(1),
                None,
                format!("column {} has no name", i + 1),
            ));
        }
        if names.contains(&name) {
            return Err(invalid(
                path,
                Some(1),
                Some(&name),
                "this column name appears twice",
            ));
        }
        names.push(name);
    }
    Ok(names)
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line());
    match e.kind() {
        csv::ErrorKind::Io(io) => invalid(path, line, None, format!("cannot be read: {io}")),
        csv::ErrorKind::Utf8 { .. } => invalid(
            path,
            line,
            None,
            "is not UTF-8 (a Windows-1252 export? convert the file to UTF-8)",
        ),
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => invalid(
            path,
            line,
            None,
            format!("{len} fields, the header has {expected_len}"),
        ),
        _ => invalid(path, line, None, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &[u8]) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, content).unwrap();
        f
    }

    fn expect<'a>(columns: &[&'a str], key: &'a str) -> Expectations<'a> {
        Expectations {
            columns: columns.to_vec(),
            key: Some(key),
            delimiter: None,
        }
    }

    fn inspect(content: &[u8]) -> Result<CsvFile, Error> {
        let f = file(content);
        CsvFile::inspect(f.path(), &expect(&["email"], "email"))
    }

    fn problem(content: &[u8]) -> (Option<u64>, Option<String>, String) {
        match inspect(content) {
            Err(Error::InvalidInput(e)) => (e.row, e.column, e.reason),
            other => panic!("expected an input error, got {other:?}"),
        }
    }

    #[test]
    fn format_is_found() {
        let csv = inspect(
            b"\xEF\xBB\xBFemail;name\r\na@x.io;\"A; \"\"B\"\"\r\nline two\"\r\nb@x.io;B\r\n",
        )
        .unwrap();
        assert_eq!(csv.delimiter, b';');
        assert_eq!(csv.line_ending, LineEnding::CrLf);
        assert!(csv.has_bom);
        assert_eq!(csv.header, ["email", "name"]);
        assert_eq!(csv.header_line, b"email;name\r\n");
        assert_eq!(csv.data_start, 15);
        assert_eq!(csv.rows, 2, "a quoted newline stays in its row");

        let csv = inspect(b"email\tname\na@x.io\tA\n").unwrap();
        assert_eq!(
            (csv.delimiter, csv.line_ending, csv.rows),
            (b'\t', LineEnding::Lf, 1)
        );
        let csv = inspect(b"email\na@x.io").unwrap();
        assert_eq!(
            (csv.delimiter, csv.rows),
            (b',', 1),
            "one column, no final newline"
        );
    }

    #[test]
    fn bad_files_are_explained_with_line_and_column() {
        assert_eq!(problem(b"").2, "the file is empty");
        assert_eq!(problem(b"email,name\n").2, "no data rows after the header");
        assert_eq!(
            problem(b"email,name\na@x.io,A\nb@x.io\n"),
            (Some(3), None, "1 fields, the header has 2".into())
        );
        let (row, _, reason) = problem(b"email,name\na@x.io,Ren\xe9\n");
        assert_eq!(row, Some(2));
        assert!(reason.contains("not UTF-8"), "{reason}");
        assert_eq!(
            problem(b"email,email\na,b\n"),
            (
                Some(1),
                Some("email".into()),
                "this column name appears twice".into()
            )
        );
        assert_eq!(problem(b"email,,x\na,b,c\n").2, "column 2 has no name");
        assert_eq!(problem(b"mail,name\na,b\n").1.as_deref(), Some("email"));
        assert_eq!(
            problem(b"email,name\na@x.io,A\n ,B\n"),
            (Some(3), Some("email".into()), "the key is empty".into())
        );
        let (row, column, reason) = problem(b"email,name\na@x.io,A\nb@x.io,B\na@x.io,C\n");
        assert_eq!((row, column.as_deref()), (Some(4), Some("email")));
        assert!(reason.contains("`a@x.io` is already on line 2"), "{reason}");
        assert_eq!(
            problem(b"email,name\r\na@x.io,A\r\nb@x.io\r\n").0,
            Some(3),
            "CRLF lines count right"
        );
        let (row, _, reason) = problem(b"email,name\r\na@x.io,A\nb@x.io,B\r\n");
        assert_eq!(row, Some(2), "{reason}");
        assert!(reason.contains("mixed line endings"), "{reason}");
    }

    #[test]
    fn encodings_line_endings_and_odd_bytes_are_refused() {
        let reason = |content: &[u8]| problem(content).2;
        assert!(reason(b"\xFF\xFEe\x00").contains("is UTF-16 (little-endian"));
        assert!(reason(b"\xFE\xFF\x00e").contains("is UTF-16 (big-endian"));
        assert!(reason(b"\xEF\xBB\xBF").starts_with("the file is empty"));
        assert_eq!(
            problem(b"\xEF\xBB\xBF\xEF\xBB\xBFemail\na@x.io\n").0,
            Some(1),
            "two BOMs"
        );
        assert_eq!(
            problem(b"\nemail\na@x.io\n"),
            (
                Some(1),
                None,
                "is empty: the header must be on the first line".into()
            )
        );
        let (row, _, reason) = problem(b"email,name\ra@x.io,A\r");
        assert_eq!(row, Some(1));
        assert!(reason.contains("lone CR"), "{reason}");
        let (row, _, reason) = problem(b"email,name\na@x.io,A\rb@x.io,B\n");
        assert_eq!(row, Some(2));
        assert!(reason.contains("lone CR"), "{reason}");
        assert_eq!(
            problem(b"email,\"na\nme\"\na@x.io,A\n").2,
            "column 2's name has a line break: a header name must fit on the first line"
        );
        let (row, column, reason) = problem(b"email,name\na@x.io,A\x00\n");
        assert_eq!((row, column.as_deref()), (Some(2), Some("name")));
        assert!(reason.contains("NUL"), "{reason}");
        let (row, column, _) = problem(b"email,name\na@x.io,Ren\xe9\n");
        assert_eq!((row, column.as_deref()), (Some(2), Some("name")));
        let long = [
            b"email,".to_vec(),
            vec![b'x'; MAX_HEADER + 10],
            b"\n".to_vec(),
        ]
        .concat();
        assert!(problem(&long).2.contains("longer than"));
    }

    #[test]
    fn keys_are_compared_without_case_and_spaces() {
        let (row, column, reason) = problem(b"email,name\na@x.io,A\n A@X.io ,B\n");
        assert_eq!((row, column.as_deref()), (Some(3), Some("email")));
        assert!(
            reason.contains("the key ` A@X.io ` is already on line 2 (as `a@x.io`"),
            "{reason}"
        );
        assert_eq!(inspect(b"email\na@x.io\nb@x.io\n").unwrap().rows, 2);
    }

    #[test]
    fn a_quoted_line_break_is_noted() {
        let csv = inspect(b"email,note\na@x.io,x\nb@x.io,\"one\ntwo\"\nc@x.io,\"3\n4\"\n").unwrap();
        assert_eq!(csv.rows, 3);
        assert_eq!(csv.quoted_line_break, Some((3, "note".into())));
        assert_eq!(inspect(b"email\na@x.io\n").unwrap().quoted_line_break, None);
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo.csv");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            println!("skipped: mkfifo is not available");
            return;
        }
        let e = CsvFile::inspect(&fifo, &Expectations::default()).unwrap_err();
        assert!(e.to_string().contains("is not a regular file"), "{e}");
    }

    #[test]
    fn many_distinct_keys_are_not_taken_for_duplicates() {
        let mut content = b"email\n".to_vec();
        for i in 0..50_000 {
            content.extend_from_slice(format!("u{i}@x.io\n").as_bytes());
        }
        assert_eq!(inspect(&content).unwrap().rows, 50_000);
        content.extend_from_slice(b"u123@x.io\n");
        let (row, _, reason) = problem(&content);
        assert_eq!(row, Some(50_002));
        assert!(reason.contains("already on line 125"), "{reason}");
    }

    #[test]
    fn duplicates_are_found_whatever_their_distance_in_the_prefetch_window() {
        // Bloom::LAG keys are pending at any time: duplicates next to each other, across the
        // window's edge, and on the last row (set only by the flush) must all be found.
        for distance in [
            1,
            Bloom::LAG - 1,
            Bloom::LAG,
            Bloom::LAG + 1,
            3 * Bloom::LAG,
        ] {
            for filler in [0, 100] {
                let mut content = b"email\n".to_vec();
                for i in 0..filler {
                    content.extend_from_slice(format!("f{i}@x.io\n").as_bytes());
                }
                content.extend_from_slice(b"dup@x.io\n");
                for i in 1..distance {
                    content.extend_from_slice(format!("g{i}@x.io\n").as_bytes());
                }
                content.extend_from_slice(b"dup@x.io\n");
                let (row, _, reason) = problem(&content);
                let first = filler + 2;
                assert_eq!(row, Some(first + distance as u64), "distance {distance}");
                assert!(
                    reason.contains(&format!("already on line {first}")),
                    "{reason}"
                );
            }
        }
    }

    #[test]
    fn a_directory_or_missing_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let e = CsvFile::inspect(dir.path(), &Expectations::default()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        let e =
            CsvFile::inspect(&dir.path().join("nope.csv"), &Expectations::default()).unwrap_err();
        assert!(e.to_string().contains("nope.csv"), "{e}");
    }

    #[test]
    fn chunks_rejoin_to_the_rows_each_under_the_cap_on_row_boundaries() {
        let mut content = b"email,note\n".to_vec();
        for i in 0..200 {
            content.extend_from_slice(format!("user{i}@x.io,\"line\nbreak {i}\"\n").as_bytes());
        }
        let f = file(&content);
        let csv = CsvFile::inspect(f.path(), &expect(&["email"], "email")).unwrap();
        assert_eq!(csv.rows, 200);
        for cap in [45, 64, 500, 100_000] {
            let chunks = csv.chunks(cap).unwrap();
            let mut rejoined = Vec::new();
            for chunk in &chunks {
                let body = &content[chunk.start as usize..chunk.end as usize];
                assert!(
                    csv.header_line.len() + body.len() <= cap as usize,
                    "cap {cap}"
                );
                assert!(
                    body.starts_with(b"user"),
                    "cap {cap}: a chunk starts on a row"
                );
                rejoined.extend_from_slice(body);
            }
            assert_eq!(rejoined, &content[csv.data_start as usize..], "cap {cap}");
        }
        assert_eq!(csv.chunks(100_000).unwrap().len(), 1);
        let e = csv.chunks(20).unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
    }
}
