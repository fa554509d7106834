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
    cell::Cell,
    collections::HashSet,
    fs::File,
    hash::BuildHasher,
    io::{BufReader, Read, Seek, SeekFrom},
    ops::Range,
    path::{Path, PathBuf},
    rc::Rc,
    time::SystemTime,
};

use crate::{
    error::InputError,
    preflight::Values,
    scan::{self, Form, Hashes, Seen, Stop},
    Error,
};

/// Delimiters recognised in a header line, in order of preference on a tie.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest header line read.
const MAX_HEADER: usize = 1 << 20;

/// The default longest row, in bytes (quoted line breaks included): 1 MiB. A contact row is a
/// few hundred bytes, and even one with dozens of the vendors' largest text fields (Eloqua's
/// 32,000-character large text) fits; a file over it is almost always a quote left open, which
/// would otherwise swallow the rest of the file into one row held in memory. It is well under
/// Eloqua's 32 MB staging request, so that a row that passes fits in a chunk.
pub const DEFAULT_MAX_ROW_BYTES: u64 = 1 << 20;

/// How the file's lines end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
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
#[non_exhaustive]
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
    /// The longest row allowed (see [`Expectations::max_row_bytes`]); later reads of the file
    /// keep to it too.
    pub max_row_bytes: u64,
    /// The file's modification time when it was checked, to tell whether it changed since
    /// ([`CsvFile::unchanged`]).
    pub modified: Option<SystemTime>,
    /// When the file has the plain shape that the fast reader takes (`scan`), what every
    /// column's values are (the pre-flight reads no column again that they show fits): later
    /// passes read it that way, and the others with the csv crate.
    pub(crate) values: Option<Vec<Values>>,
}

/// What [`CsvFile::inspect`] checks besides the format.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Expectations<'a> {
    /// Columns that must be in the header (the mapped ones).
    pub columns: Vec<&'a str>,
    /// The key column: present, never empty, no value twice.
    pub key: Option<&'a str>,
    /// The delimiter, when the user gave it (otherwise it is guessed from the header line).
    pub delimiter: Option<u8>,
    /// The longest row, in bytes, its line ending not counted and line breaks inside quotes
    /// included (default
    /// [`DEFAULT_MAX_ROW_BYTES`]): a longer one, most often a quote that is never closed, is
    /// refused as soon as it is read, so that memory stays bounded whatever the file.
    pub max_row_bytes: Option<u64>,
    /// How many threads read the file at once (default: one per core, at most four).
    pub threads: Option<usize>,
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

fn open(path: &Path) -> Result<(File, std::fs::Metadata), Error> {
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
    Ok((file, metadata))
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
        Self::inspect_reading(path, expect, true)
    }

    /// [`CsvFile::inspect`], with the fast reader or (`fast` false) the csv crate's alone.
    fn inspect_reading(path: &Path, expect: &Expectations<'_>, fast: bool) -> Result<Self, Error> {
        let (file, metadata) = open(path)?;
        let (size, modified) = (metadata.len(), metadata.modified().ok());
        let max_row_bytes = expect.max_row_bytes.unwrap_or(DEFAULT_MAX_ROW_BYTES);
        if max_row_bytes == 0 {
            return Err(Error::InvalidConfig {
                setting: "max row bytes",
                reason: "give a positive number of bytes".into(),
            });
        }
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

        let mut rows_of = Rows::new(path, (delimiter, quote, line_ending), max_row_bytes)?;
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

        // Duplicate keys are found in bounded memory: a set of the keys' hashes (in memory
        // when they fit, otherwise through temporary files; a Bloom filter if those fail)
        // flags the keys that may have been seen; only those are checked exactly, in a
        // second pass.
        let keys = KeyHasher::default();
        let format = scan::Format {
            delimiter,
            quote,
            crlf: line_ending == LineEnding::CrLf,
            columns: header.len(),
            max_row_bytes,
        };
        let threads = expect.threads.unwrap_or_else(scan::threads).max(1);
        let data = data_start..size;
        let key_index = key.map(|(_, index)| index);
        let read = match fast {
            true => plain_rows(path, data.clone(), &format, threads, key_index, &keys),
            false => Err(Stop::Unusual("the fast reader is not used")),
        };
        let read = match read {
            Ok(read) => read,
            Err(Stop::Failed(e)) => return Err(*e),
            Err(Stop::Unusual(what)) => {
                tracing::debug!(file = %path.display(), what, "read with the csv crate");
                csv_rows(&mut rows_of, (line_ending, &header), key, &keys, size)?
            }
        };
        let DataRows {
            rows,
            broken,
            candidates,
            values,
            ..
        } = read;
        let quoted_line_break = broken.map(|(line, i)| (line, header[i].clone()));
        if rows == 0 {
            return Err(invalid(path, None, None, "no data rows after the header"));
        }
        if let Some((name, index)) = key.filter(|_| !candidates.is_empty()) {
            let twice = match values {
                None => Ok(true),
                Some(_) => {
                    let keyed = match quoted_line_break {
                        None => keyed_duplicates(
                            path,
                            data.clone(),
                            &format,
                            threads,
                            (index, &keys),
                            &candidates,
                        ),
                        Some(_) => Err(Stop::Unusual("a record on two lines")),
                    };
                    match keyed {
                        Err(Stop::Unusual(what)) => {
                            tracing::debug!(what, "keys read again by the fast reader");
                            plain_duplicates(
                                path,
                                data,
                                &format,
                                threads,
                                index,
                                &keys,
                                &candidates,
                            )
                        }
                        other => other,
                    }
                }
            };
            match twice {
                Ok(false) => {}
                // The csv crate's reader names the lines.
                Ok(true) | Err(Stop::Unusual(_)) => find_duplicate(
                    (path, (delimiter, quote, line_ending), max_row_bytes),
                    (name, index),
                    &keys,
                    &candidates,
                )?,
                Err(Stop::Failed(e)) => return Err(*e),
            }
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
            max_row_bytes,
            modified,
            values,
        })
    }

    /// Fails unless the file still has the size and modification time it had when it was
    /// checked: what is sent must be what was checked.
    pub fn unchanged(&self) -> Result<(), Error> {
        let now = std::fs::metadata(&self.path).map_err(|e| Error::io(&self.path, e))?;
        if now.len() != self.size || now.modified().ok() != self.modified {
            let what = if now.len() == self.size {
                "its modification time changed".to_owned()
            } else {
                format!("it was {} bytes, it is now {}", self.size, now.len())
            };
            return Err(invalid(
                &self.path,
                None,
                None,
                format!(
                    "the file changed after it was checked ({what}): nothing more of it is sent; \
                     run the import again once it is written"
                ),
            ));
        }
        Ok(())
    }

    /// The index of a header column.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Whether the file has the plain shape that the fast reader takes.
    pub(crate) fn plain(&self) -> bool {
        self.values.is_some()
    }

    /// The shape of its rows, for the fast reader.
    pub(crate) fn format(&self) -> scan::Format {
        scan::Format {
            delimiter: self.delimiter,
            quote: self.quote,
            crlf: self.line_ending == LineEnding::CrLf,
            columns: self.header.len(),
            max_row_bytes: self.max_row_bytes,
        }
    }

    /// Cuts the data rows into byte ranges of the file such that the header line plus one range
    /// is at most `cap` bytes, each range starting on a row boundary. Reads the file once more.
    pub fn chunks(&self, cap: u64) -> Result<Vec<Range<u64>>, Error> {
        if self.plain() {
            let mut plan = ChunkPlan::new(self, cap);
            let data = self.data_start..self.size;
            // The header is line 1.
            let read = scan::scan(&self.path, data, &self.format(), |record| {
                plan.row(record.start, record.line + 1).map_err(Stop::from)
            });
            match read {
                Ok(_) => return plan.finish(),
                Err(Stop::Failed(e)) => return Err(*e),
                Err(Stop::Unusual(what)) => {
                    tracing::debug!(what, "chunks read with the csv crate");
                }
            }
        }
        let mut plan = ChunkPlan::new(self, cap);
        let format = (self.delimiter, self.quote, self.line_ending);
        let mut rows = Rows::new(&self.path, format, self.max_row_bytes)?;
        rows.next()?; // the header
        while let Some(row) = rows.next()? {
            plan.row(row.start, row.line)?;
        }
        plan.finish()
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

/// The chunks of [`CsvFile::chunks`], cut as the rows are read.
struct ChunkPlan<'c> {
    csv: &'c CsvFile,
    cap: u64,
    chunks: Vec<Range<u64>>,
    start: u64,
    last_start: u64,
    last_line: u64,
}

impl<'c> ChunkPlan<'c> {
    fn new(csv: &'c CsvFile, cap: u64) -> Self {
        Self {
            csv,
            cap,
            chunks: Vec::new(),
            start: csv.data_start,
            last_start: csv.data_start,
            last_line: 2,
        }
    }

    fn row(&mut self, start: u64, line: u64) -> Result<(), Error> {
        let header = self.csv.header_line.len() as u64;
        // The previous row ends where this one starts.
        if header + (start - self.last_start) > self.cap {
            return Err(self.csv.row_too_large(self.last_line, self.cap));
        }
        if header + (start - self.start) > self.cap {
            self.chunks.push(self.start..self.last_start);
            self.start = self.last_start;
        }
        self.last_start = start;
        self.last_line = line;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<Range<u64>>, Error> {
        // The end of the file ends the last row as a next row's start would.
        self.row(self.csv.size, self.last_line)?;
        self.chunks.push(self.start..self.csv.size);
        Ok(self.chunks)
    }
}

/// A 64-bit hash of a key, seeded per run. A collision only makes a key a candidate: the second
/// pass compares the keys themselves.
/// foldhash: a fraction of SipHash's cost per key, and a collision only costs a candidate.
type KeyHasher = foldhash::fast::RandomState;

/// What a reading of the data rows found.
struct DataRows {
    rows: u64,
    /// The first field with a line break inside quotes: its line, its column's index.
    broken: Option<(u64, usize)>,
    /// The hashes of the keys that may be in two rows.
    candidates: Hashes,
    /// What each column's values are; only the fast reader tells.
    values: Option<Vec<Values>>,
}

/// The data rows of a file of the plain shape, read by the fast reader on `threads` threads.
/// An empty key is unusual: the csv crate's reader names it.
fn plain_rows(
    path: &Path,
    data: Range<u64>,
    format: &scan::Format,
    threads: usize,
    key: Option<usize>,
    keys: &KeyHasher,
) -> Result<DataRows, Stop> {
    let rows = estimated_rows(path, &data).map_err(|e| Stop::from(Error::io(path, e)))?;
    let form = Form::for_rows(rows);
    match plain_rows_with(path, data.clone(), format, threads, (key, keys), form)? {
        (read, false) => Ok(read),
        (read, true) => {
            tracing::debug!(read.rows, ?rows, "the keys not all known: read again");
            let bloom = plain_rows_with(path, data, format, threads, (key, keys), Form::Bloom)?;
            Ok(bloom.0)
        }
    }
}

/// About how many rows `data` holds, from its first 64 KiB: `None` when no line ends there.
fn estimated_rows(path: &Path, data: &Range<u64>) -> std::io::Result<Option<u64>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(data.start))?;
    let mut sample = vec![0; 64 << 10];
    let (len, _) = scan::fill(&mut file, &mut sample, 0)?;
    let lines = memchr::memchr_iter(b'\n', &sample[..len]).count() as u64;
    Ok((lines > 0).then(|| (data.end - data.start).div_ceil(len as u64 / lines)))
}

/// [`plain_rows`] with a set of seen keys of `form`, and whether the keys seen twice are not
/// all known: the spilled hashes could not be written or read back.
fn plain_rows_with(
    path: &Path,
    data: Range<u64>,
    format: &scan::Format,
    threads: usize,
    (key, keys): (Option<usize>, &KeyHasher),
    form: Form,
) -> Result<(DataRows, bool), Stop> {
    let seen = Seen::new(form, data.end);
    struct RangeKeys<'s> {
        keys: scan::Batch<'s>,
        broken: Option<(u64, usize)>,
        normal: Vec<u8>,
        values: Vec<Values>,
    }
    let parts = scan::scan_all(
        path,
        data,
        format,
        threads,
        (
            || RangeKeys {
                keys: seen.batch(),
                broken: None,
                normal: Vec::new(),
                values: vec![Values::default(); format.columns],
            },
            // A first attempt's keys would all be taken for duplicates.
            || seen.clear(),
        ),
        |range, record| {
            if let Some(i) = record.broken {
                range.broken.get_or_insert((record.line, i));
            }
            for (i, values) in range.values.iter_mut().enumerate() {
                if Some(i) != key {
                    values.add(record.raw(i), || record.value(i));
                }
            }
            if let Some(index) = key {
                let value = record.value(index);
                let normal = match range.values[index].add_key(record.raw(index), &value) {
                    true => &*value,
                    false => normal_key(&value, &mut range.normal),
                };
                if normal.is_empty() {
                    return Err(Stop::Unusual("an empty key"));
                }
                range.keys.insert(keys.hash_one(normal));
            }
            Ok(())
        },
    )?;
    let mut read = DataRows {
        rows: 0,
        broken: None,
        candidates: Hashes::default(),
        values: Some(vec![Values::default(); format.columns]),
    };
    // The header is line 1.
    let mut lines_before = 1;
    for (part, range) in parts {
        read.rows += part.rows;
        if read.broken.is_none() {
            read.broken = range.broken.map(|(line, i)| (lines_before + line, i));
        }
        lines_before += part.lines;
        for (all, values) in read.values.iter_mut().flatten().zip(&range.values) {
            all.merge(values);
        }
        read.candidates.extend(range.keys.finish());
    }
    let Some(spill) = seen.spill() else {
        return Ok((read, false));
    };
    match spill.duplicates(threads) {
        Ok(hashes) => {
            read.candidates = hashes;
            Ok((read, false))
        }
        Err(e) => {
            tracing::debug!(error = %e, "the keys' temporary files");
            Ok((read, true))
        }
    }
}

/// A set of keys.
type Keys = std::collections::HashSet<Vec<u8>, foldhash::fast::RandomState>;

/// Whether a key is among the keys found in two ranges (each range's keys once each).
fn in_two_ranges(found: impl IntoIterator<Item = Keys>) -> bool {
    let mut all = Keys::default();
    found.into_iter().flatten().any(|key| !all.insert(key))
}

/// Reads `range` of a file whose every record is one line, a buffer of whole lines at a time
/// (the last one may lack its line break), into `each`.
fn each_block(
    path: &Path,
    range: Range<u64>,
    format: &scan::Format,
    mut each: impl FnMut(&[u8]) -> Result<(), Stop>,
) -> Result<(), Stop> {
    let io = |e| Stop::from(Error::io(path, e));
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(range.start)).map_err(io)?;
    let mut file = file.take(range.end - range.start);
    let mut buffer = scan::buffer(format.max_row_bytes);
    let (mut len, mut eof) = (0, false);
    loop {
        if !eof {
            (len, eof) = scan::fill(&mut file, &mut buffer, len).map_err(io)?;
        }
        if len == 0 {
            return Ok(()); // the range is read (it may end with a full buffer)
        }
        let whole = match eof {
            true => len,
            false => memchr::memrchr(b'\n', &buffer[..len]).map_or(0, |i| i + 1),
        };
        if whole == 0 {
            if !scan::grow(&mut buffer, format.max_row_bytes) {
                return Err(Stop::Unusual("a line longer than the buffer"));
            }
            continue;
        }
        each(&buffer[..whole])?;
        buffer.copy_within(whole..len, 0);
        len -= whole;
    }
}

/// Whether a key of `candidates` appears twice in a file of the plain shape whose every record
/// is one line, reading only each line's key: the lines are found by SIMD search, and the key
/// is the `index`th field when no field up to it is quoted (otherwise the fast reader reads the
/// file: `Stop::Unusual`). Unquoted fields of the plain shape hold no quote, so the bytes
/// between two delimiters are the value.
fn keyed_duplicates(
    path: &Path,
    data: Range<u64>,
    format: &scan::Format,
    threads: usize,
    (index, keys): (usize, &KeyHasher),
    candidates: &Hashes,
) -> Result<bool, Stop> {
    // The `index`th field of `line`, if no field up to it is quoted.
    fn field<'l>(mut line: &'l [u8], index: usize, format: &scan::Format) -> Option<&'l [u8]> {
        for _ in 0..index {
            if line.first() == Some(&format.quote) {
                return None;
            }
            line = &line[memchr::memchr(format.delimiter, line)? + 1..];
        }
        if line.first() == Some(&format.quote) {
            return None;
        }
        Some(&line[..memchr::memchr(format.delimiter, line).unwrap_or(line.len())])
    }
    let cuts = scan::cuts(path, data, threads).map_err(|e| Stop::from(Error::io(path, e)))?;
    // The candidates found in one range, and whether one is there twice.
    let read = |range: Range<u64>| -> Result<(Keys, bool), Stop> {
        let (mut found, mut normal, mut twice) = (Keys::default(), Vec::new(), false);
        each_block(path, range, format, |text| {
            let mut start = 0;
            for end in memchr::memchr_iter(b'\n', text).chain(
                // The range's last line, without its line break.
                (text.last() != Some(&b'\n')).then_some(text.len()),
            ) {
                // A CRLF line's `\r` stays on its last field, which the key's normalisation trims.
                let line = &text[start..end];
                start = end + 1;
                let key = field(line, index, format)
                    .ok_or(Stop::Unusual("a quoted field up to the key"))?;
                let key = normal_key(key, &mut normal);
                if candidates.contains(&keys.hash_one(key)) {
                    twice |= !found.insert(key.to_vec());
                }
            }
            Ok(())
        })?;
        Ok((found, twice))
    };
    let parts: Vec<(Keys, bool)> = scan::each_range(&cuts, threads, read)
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(parts.iter().any(|(_, twice)| *twice)
        || in_two_ranges(parts.into_iter().map(|(found, _)| found)))
}

/// Whether a key of `candidates` appears twice in a file of the plain shape (read by the fast
/// reader; [`find_duplicate`] names the lines).
fn plain_duplicates(
    path: &Path,
    data: Range<u64>,
    format: &scan::Format,
    threads: usize,
    index: usize,
    keys: &KeyHasher,
    candidates: &Hashes,
) -> Result<bool, Stop> {
    let parts = scan::scan_all(
        path,
        data,
        format,
        threads,
        (|| (Keys::default(), Vec::new()), || {}),
        |(found, normal), record| {
            let value = record.value(index);
            let normal = normal_key(&value, normal);
            if candidates.contains(&keys.hash_one(normal)) && !found.insert(normal.to_vec()) {
                return Err(Stop::Unusual("a duplicate key"));
            }
            Ok(())
        },
    )?;
    Ok(in_two_ranges(
        parts.into_iter().map(|(_, (found, _))| found),
    ))
}

/// The data rows of a file read by the csv crate (`rows`, past the header), checked one by
/// one, as [`plain_rows`] does.
fn csv_rows(
    rows: &mut Rows,
    (line_ending, header): (LineEnding, &[String]),
    key: Option<(&str, usize)>,
    keys: &KeyHasher,
    size: u64,
) -> Result<DataRows, Error> {
    let path = rows.path.clone();
    let path = path.as_path();
    let seen = Seen::new(Form::Bloom, size);
    let mut batch = seen.batch();
    let mut scratch = Vec::new();
    let mut count = 0;
    let mut previous_line = 1;
    let mut quoted_line_break = None;
    while let Some(row) = rows.next()? {
        let record = &rows.record;
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
                quoted_line_break = Some((line, i));
            }
        }
        if let Some((name, index)) = key {
            let value = &record[index];
            if value.iter().all(u8::is_ascii_whitespace) {
                return Err(invalid(path, Some(line), Some(name), "the key is empty"));
            }
            let normal = normal_key(value, &mut scratch);
            batch.insert(keys.hash_one(normal));
        }
        count += 1;
    }
    Ok(DataRows {
        rows: count,
        broken: quoted_line_break,
        candidates: batch.finish(),
        values: None,
    })
}

/// A key as the vendors compare them: without surrounding spaces, and without case (their
/// databases compare e-mail addresses and ids case-insensitively): the value itself when it
/// is so already, otherwise written into `scratch`, so that the row loop does not allocate.
/// Keys are UTF-8 by now.
fn normal_key<'a>(value: &'a [u8], scratch: &'a mut Vec<u8>) -> &'a [u8] {
    scratch.clear();
    // Most keys are ASCII without capitals: 16 bytes at a time tell.
    if !crate::simd::capital_or_not_ascii(value) {
        return value.trim_ascii();
    }
    if value.is_ascii() {
        scratch.extend_from_slice(value.trim_ascii());
        scratch.make_ascii_lowercase();
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
    (path, format, max_row_bytes): (&Path, (u8, u8, LineEnding), u64),
    (name, index): (&str, usize),
    keys: &KeyHasher,
    candidates: &Hashes,
) -> Result<(), Error> {
    let mut first_lines: std::collections::HashMap<Vec<u8>, (u64, Vec<u8>)> = Default::default();
    let mut scratch = Vec::new();
    let mut rows = Rows::new(path, format, max_row_bytes)?;
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
    reader: csv::Reader<Bounded>,
    raw: BufReader<File>,
    at: u64,
    record: csv::ByteRecord,
    delimiter: u8,
    quote: u8,
    max_row_bytes: u64,
    /// The length of the file's line ending.
    ending: u64,
    /// The offset the csv reader may read up to: the end of the longest row allowed, its line
    /// ending included.
    limit: Rc<Cell<u64>>,
}

/// The file as the csv reader reads it: never past `limit`, and a read at `limit` fails with
/// [`RowTooLong`]. The csv reader reads only once it has parsed all it read before, so it asks
/// for more at `limit` only when the row it is building goes on past it: a quote that is never
/// closed cannot pull the rest of the file into memory. Reads are shortened only within one
/// buffer of the limit, which ordinary rows never come near.
struct Bounded {
    file: File,
    read: u64,
    limit: Rc<Cell<u64>>,
}

impl Read for Bounded {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = self.limit.get().saturating_sub(self.read);
        if room == 0 {
            return Err(std::io::Error::other(RowTooLong));
        }
        let len = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..len])?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The error of [`Bounded`], told apart from a real read error.
#[derive(Debug)]
struct RowTooLong;

impl std::fmt::Display for RowTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a row is longer than the limit")
    }
}

impl std::error::Error for RowTooLong {}

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
    fn new(path: &Path, format: (u8, u8, LineEnding), max_row_bytes: u64) -> Result<Self, Error> {
        let (delimiter, quote, line_ending) = format;
        let limit = Rc::new(Cell::new(max_row_bytes));
        let reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .quote(quote)
            .has_headers(false)
            .flexible(true) // field counts are checked with the real line numbers
            .buffer_capacity(1 << 16)
            .from_reader(Bounded {
                file: open(path)?.0,
                read: 0,
                limit: limit.clone(),
            });
        Ok(Self {
            path: path.to_owned(),
            reader,
            raw: BufReader::with_capacity(1 << 16, open(path)?.0),
            at: 0,
            record: csv::ByteRecord::new(),
            delimiter,
            quote,
            max_row_bytes,
            ending: line_ending.as_str().len() as u64,
            limit,
        })
    }

    fn next(&mut self) -> Result<Option<Row>, Error> {
        // The csv reader's position is the end of the previous row's line ending, but for the
        // `\n` of a `\r\n`: its `\n` is counted in `ending`.
        let pending = self.reader.position().clone();
        self.limit.set(
            pending
                .byte()
                .saturating_add(self.max_row_bytes)
                .saturating_add(self.ending),
        );
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) if is_row_too_long(&e) => {
                let row = self.locate(pending.byte(), pending.line())?;
                return Err(self.row_too_long(row)?);
            }
            Err(e) => return Err(csv_error(&self.path, e)),
        }
        let position = self
            .record
            .position()
            .expect("the csv reader tracks positions");
        self.locate(position.byte(), position.line()).map(Some)
    }

    /// The error for a row that starts at `row` and does not end within `max_row_bytes`: it
    /// names the line where a quoted field that is still open then was opened, if any (read
    /// again, as the csv reader reads quotes, from the row's start).
    fn row_too_long(&self, row: Row) -> Result<Error, Error> {
        let io = |e| Error::io(&self.path, e);
        let mut file = open(&self.path)?.0;
        file.seek(SeekFrom::Start(row.start)).map_err(io)?;
        let mut line = row.line;
        // The line where the open quoted field opened; whether a quote in it was just read.
        let mut opened: Option<u64> = None;
        let mut quote_seen = false;
        let mut field_start = true;
        for byte in BufReader::new(file).take(self.max_row_bytes).bytes() {
            let b = byte.map_err(io)?;
            if opened.is_some() {
                if quote_seen {
                    quote_seen = false;
                    if b == self.quote {
                        continue; // "" inside quotes
                    }
                    opened = None; // the closing quote: `b` is read below
                } else {
                    quote_seen = b == self.quote;
                    line += u64::from(b == b'\n');
                    continue;
                }
            }
            if b == self.quote && field_start {
                opened = Some(line);
            }
            field_start = b == self.delimiter;
            line += u64::from(b == b'\n');
        }
        let max = self.max_row_bytes;
        Ok(match opened {
            Some(line) => invalid(
                &self.path,
                Some(line),
                None,
                format!(
                    "a quoted field opened here is not closed within {max} bytes \
                     (--max-row-bytes): a closing quote is missing?"
                ),
            ),
            None => invalid(
                &self.path,
                Some(row.line),
                None,
                format!("this row is longer than {max} bytes (--max-row-bytes)"),
            ),
        })
    }

    /// The real start and line of a record the csv reader places at `start`, `line`.
    fn locate(&mut self, mut start: u64, mut line: u64) -> Result<Row, Error> {
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
        Ok(Row {
            start,
            line,
            before: (start >= 2).then_some(before),
        })
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

/// A header field without the spaces its name is trimmed of (as `str::trim`, for UTF-8).
fn trimmed(field: &[u8]) -> &[u8] {
    let text = std::str::from_utf8(field).expect("checked UTF-8");
    text.trim().as_bytes()
}

fn header_names(
    path: &Path,
    record: &csv::ByteRecord,
    has_bom: bool,
) -> Result<Vec<String>, Error> {
    let mut names = Vec::with_capacity(record.len());
    // Seen names, for a check in linear time however wide the header.
    let mut seen: HashSet<&[u8]> = HashSet::with_capacity(record.len());
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
        // Before trimming: a quoted name that ends with a line break would otherwise pass, and
        // the header end further than its first line (where the data rows are taken to start).
        if field.iter().any(|&b| b == b'\n' || b == b'\r') {
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
        if !seen.insert(trimmed(field)) {
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

fn is_row_too_long(e: &csv::Error) -> bool {
    matches!(e.kind(), csv::ErrorKind::Io(io) if io.get_ref().is_some_and(|e| e.is::<RowTooLong>()))
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
            ..Default::default()
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
        // A quoted name that ends with its line break, which trimming would hide.
        assert_eq!(
            problem(b"email,\"city\n\",zip\nx\",b,c\n\"x\"\"\",b,c\n").2,
            "column 2's name has a line break: a header name must fit on the first line"
        );
        // A LF outside quotes in a CRLF file whose row has a quoted CRLF: the LF ends a row.
        let f = file(b"email,note\r\nu1\nu2@x.io,\"a\r\nb\"\r\n");
        let fast = CsvFile::inspect_reading(f.path(), &expect(&["email"], "email"), true);
        let reference = CsvFile::inspect_reading(f.path(), &expect(&["email"], "email"), false);
        assert_eq!(
            fast.map_err(|e| e.to_string()),
            reference.map_err(|e| e.to_string())
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

    /// A key is lowered and trimmed as text, whatever its length and bytes.
    #[test]
    fn keys_are_made_normal_at_every_length() {
        let mut rng = fastrand::Rng::with_seed(3);
        let mut scratch = Vec::new();
        for i in 0..50_000 {
            let alphabet: &[u8] = match i % 3 {
                0 => b"az@.-_09",
                1 => b"az@.AZ[` \t",
                _ => "azZ \u{e9}\u{c9}".as_bytes(),
            };
            let value: Vec<u8> = (0..rng.usize(0..70))
                .map(|_| alphabet[rng.usize(..alphabet.len())])
                .collect();
            let expected: Vec<u8> = match value
                .iter()
                .any(|b| !b.is_ascii() || b.is_ascii_uppercase())
            {
                false => value.trim_ascii().to_vec(),
                true => String::from_utf8_lossy(&value)
                    .trim()
                    .to_lowercase()
                    .into_bytes(),
            };
            assert_eq!(normal_key(&value, &mut scratch), expected, "{value:?}");
        }
    }

    #[test]
    fn a_quoted_line_break_is_noted() {
        let csv = inspect(b"email,note\na@x.io,x\nb@x.io,\"one\ntwo\"\nc@x.io,\"3\n4\"\n").unwrap();
        assert_eq!(csv.rows, 3);
        assert_eq!(csv.quoted_line_break, Some((3, "note".into())));
        assert_eq!(inspect(b"email\na@x.io\n").unwrap().quoted_line_break, None);
    }

    fn with_limit(content: &[u8], max: u64) -> Result<CsvFile, Error> {
        let f = file(content);
        let expect = Expectations {
            max_row_bytes: Some(max),
            ..expect(&["email"], "email")
        };
        CsvFile::inspect(f.path(), &expect)
    }

    #[test]
    fn the_row_limit_is_exact_whatever_the_line_ending() {
        for ending in ["\n", "\r\n"] {
            for last in [true, false] {
                // The third row is `a@x.io,` and `x`s, 100 bytes in all.
                let row = format!("a@x.io,{}", "x".repeat(93));
                let mut content = format!("email,note{ending}b@x.io,y{ending}");
                if last {
                    content.push_str(&row); // no final line ending
                } else {
                    content.push_str(&format!("{row}{ending}c@x.io,z{ending}"));
                }
                let what = format!("{ending:?}, last row: {last}");
                assert!(with_limit(content.as_bytes(), 100).is_ok(), "{what}");
                let e = with_limit(content.as_bytes(), 99).unwrap_err().to_string();
                assert!(
                    e.contains("line 3: this row is longer than 99 bytes (--max-row-bytes)"),
                    "{what}: {e}"
                );
            }
        }
    }

    #[test]
    fn an_unclosed_quote_is_refused_naming_the_line_where_it_opened() {
        // The row starts on line 3; a first quoted field spans lines 3-4 and is closed; the
        // next one opens on line 4 and is never closed.
        let mut content =
            b"email,note,other\nb@x.io,y,z\na@x.io,\"one\ntwo \"\"quoted\"\"\",\"open\n".to_vec();
        for _ in 0..10_000 {
            content.extend_from_slice(b"c@x.io,more,rows\n");
        }
        let e = with_limit(&content, 1000).unwrap_err();
        let Error::InvalidInput(input) = &e else {
            panic!("{e:?}")
        };
        assert_eq!(input.row, Some(4), "{e}");
        assert!(
            input.reason.starts_with(
                "a quoted field opened here is not closed within 1000 bytes (--max-row-bytes)"
            ),
            "{e}"
        );
        // The default limit: the same file is one row, too long.
        content.extend(std::iter::repeat_n(b'x', DEFAULT_MAX_ROW_BYTES as usize));
        let (row, _, reason) = problem(&content);
        assert_eq!(row, Some(4), "{reason}");
        // A header that does not end is line 1.
        let e = with_limit(b"email,\"note\nb@x.io,y\n", 10).unwrap_err();
        assert!(e.to_string().contains("line 1: a quoted field"), "{e}");
        // The second pass (chunks) keeps to the limit of the check.
        let f = file(b"email,note\na@x.io,\"one\ntwo\"\n");
        let limited = Expectations {
            max_row_bytes: Some(30),
            ..expect(&["email"], "email")
        };
        let csv = CsvFile::inspect(f.path(), &limited).unwrap();
        assert_eq!(csv.max_row_bytes, 30);
        assert_eq!(csv.chunks(1000).unwrap().len(), 1);
        let csv = CsvFile {
            max_row_bytes: 12,
            ..csv
        };
        let e = csv.chunks(1000).unwrap_err();
        assert!(e.to_string().contains("line 2: a quoted field"), "{e}");
    }

    #[test]
    fn a_change_after_the_check_is_seen() {
        let f = file(b"email\na@x.io\n");
        let csv = CsvFile::inspect(f.path(), &expect(&["email"], "email")).unwrap();
        csv.unchanged().unwrap();
        // Same size, another modification time (an editor saving the same bytes).
        let later = csv.modified.unwrap() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(f.path())
            .unwrap()
            .set_modified(later)
            .unwrap();
        let e = csv.unchanged().unwrap_err().to_string();
        assert!(
            e.contains("the file changed after it was checked (its modification time changed)"),
            "{e}"
        );
        std::fs::write(f.path(), b"email\na@x.io\nb@x.io\n").unwrap();
        let e = csv.unchanged().unwrap_err().to_string();
        assert!(e.contains("(it was 13 bytes, it is now 20)"), "{e}");
        std::fs::remove_file(f.path()).unwrap();
        assert!(csv.unchanged().is_err());
    }

    #[test]
    fn a_wide_header_is_checked_in_linear_time() {
        // A quadratic check takes seconds at this width (about 4 s at 60,000 columns, four
        // times that for twice the columns); a linear one, milliseconds.
        let names: Vec<String> = (0..150_000u32).map(|i| format!("c{i:x}")).collect();
        let header = format!("email,{},email\n", names.join(","));
        let row = format!("a@x.io{}\n", ",".repeat(names.len() + 1));
        let f = file(format!("{header}{row}").as_bytes());
        let started = std::time::Instant::now();
        let e = CsvFile::inspect(f.path(), &expect(&["email"], "email")).unwrap_err();
        let took = started.elapsed();
        assert!(
            e.to_string()
                .contains("line 1, column `email`: this column name appears twice"),
            "{e}"
        );
        assert!(took < std::time::Duration::from_secs(2), "took {took:?}");
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
    fn more_rows_than_estimated_are_all_read_and_every_duplicate_found() {
        // Long rows in the first 64 KiB, short ones after: the rows are estimated far too few,
        // which the spilled hashes (and, failing them, a Bloom filter) do not depend on.
        let mut content = b"email,note\n".to_vec();
        let long = "n".repeat(2_000);
        for i in 0..40 {
            content.extend_from_slice(format!("long{i}@x.io,{long}\n").as_bytes());
        }
        for i in 0..20_000 {
            content.extend_from_slice(format!("s{i}@x.io,\n").as_bytes());
        }
        let expect = expect(&["email", "note"], "email");
        let keys = KeyHasher::default();
        let csv = CsvFile::inspect(file(&content).path(), &expect).unwrap();
        assert_eq!(csv.rows, 20_040);
        let read = |content: &[u8], form| {
            let f = file(content);
            let data = csv.data_start..content.len() as u64;
            let estimate = estimated_rows(f.path(), &data).unwrap().unwrap();
            assert!(estimate < 2_000, "{estimate}");
            let format = csv.format();
            plain_rows_with(f.path(), data, &format, 2, (Some(0), &keys), form).unwrap()
        };
        for form in [Form::Spilled(None), Form::Bloom] {
            let (again, not_all_known) = read(&content, form);
            assert!(!not_all_known);
            assert_eq!(again.rows, 20_040);
            if form != Form::Bloom {
                assert!(again.candidates.is_empty());
            }
        }
        // The key seen twice, and (spilled) only it.
        let mut twice = content.clone();
        twice.extend_from_slice(b"s7@x.io,\n");
        let (read, _) = read(&twice, Form::Spilled(None));
        let s7 = keys.hash_one(b"s7@x.io".as_slice());
        assert_eq!(read.candidates, [s7].into_iter().collect());

        content.extend_from_slice(b"s7@x.io,\n");
        let f = file(&content);
        let Err(Error::InvalidInput(e)) = CsvFile::inspect(f.path(), &expect) else {
            panic!("the duplicate key is found")
        };
        assert_eq!(e.row, Some(20_042));
        assert!(e.reason.contains("already on line 49"), "{}", e.reason);
    }

    #[test]
    fn duplicates_are_found_whatever_their_distance_in_the_batches() {
        // Keys are set in the filter scan::Batch::LEN at a time: duplicates next to each other,
        // across a batch's edge, and on the last row (set only by the flush) must all be found.
        let batch = scan::Batch::LEN;
        for distance in [1, batch - 1, batch, batch + 1, 3 * batch, 4097] {
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

    /// A CSV file of random rows, most of them plain, some with what the fast reader leaves
    /// to the csv crate (or refuses): the fast reader must come to what the csv crate's reader
    /// alone comes to, on one thread or several (the unit tests cut files of a few bytes).
    fn random_file(rng: &mut fastrand::Rng) -> Vec<u8> {
        let crlf = rng.bool();
        let end: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let odd = |rng: &mut fastrand::Rng| rng.u32(..400) == 0;
        let mut out = Vec::new();
        if rng.u32(..10) == 0 {
            out.extend_from_slice(BOM);
        }
        out.extend_from_slice(b"email,name,city");
        out.extend_from_slice(end);
        let rows = rng.usize(0..80);
        for row in 0..rows {
            let mut fields: Vec<Vec<u8>> = Vec::new();
            // The key: unique, but now and then a duplicate, blank, quoted or spaced.
            let n = if rng.u32(..300) == 0 {
                rng.usize(..=row)
            } else {
                row
            };
            let key = match rng.u32(..400) {
                0 => b"  ".to_vec(),
                1 => format!("\"U{n}@X.io\"").into_bytes(),
                2 => format!(" u{n}@x.io ").into_bytes(),
                3 => format!("\"u{n}\"\"q\"\"@x.io\"").into_bytes(),
                _ => format!("u{n}@x.io").into_bytes(),
            };
            fields.push(key);
            for _ in 0..2 {
                let value: Vec<u8> = match rng.u32(..30) {
                    0 => b"\"a,b\"".to_vec(),
                    1 => [&b"\"two"[..], end, b"lines\""].concat(),
                    2 if odd(rng) => b"\"two\r\nlines\"".to_vec(),
                    2 if odd(rng) => b"\"two\nlines\"".to_vec(),
                    3 => b"\"say \"\"hi\"\"\"".to_vec(),
                    4 => b"".to_vec(),
                    5 => "Zo\u{e9}".as_bytes().to_vec(),
                    6 => b"\"\"".to_vec(),
                    _ => format!("v{}", rng.u32(..1000)).into_bytes(),
                };
                fields.push(value);
            }
            if odd(rng) {
                fields.pop(); // a field short
            }
            if odd(rng) {
                fields.push(b"extra".to_vec());
            }
            // A quote inside an unquoted field, text after a closing quote, a NUL byte,
            // Windows-1252, a lone CR, a lone LF, a value over the row limit, a quote never
            // closed.
            for bytes in [
                &b"O\"B"[..],
                b"\"ab\"c",
                b"a\0b",
                b"caf\xe9",
                b"a\rb",
                b"a\nb",
                &[b'x'; 300],
                b"\"open",
            ] {
                if odd(rng) {
                    fields[1] = bytes.to_vec();
                }
            }
            out.extend_from_slice(&fields.join(&b","[..]));
            if row + 1 < rows || rng.bool() {
                match rng.u32(..400) {
                    0 => out.extend_from_slice(if crlf { b"\n" } else { b"\r\n" }),
                    1 => out.extend_from_slice(b"\r"),
                    2 => {
                        out.extend_from_slice(end);
                        out.extend_from_slice(end); // a blank line
                    }
                    _ => out.extend_from_slice(end),
                }
            }
        }
        out
    }

    /// The second pass that reads only each line's key finds a key twice exactly when a set of
    /// every key (compared as the vendors compare them) does, on 1, 2 and 3 threads, or leaves
    /// the file to the fast reader when a field up to the key is quoted.
    #[test]
    fn the_key_pass_finds_what_a_set_of_every_key_finds() {
        let mut rng = fastrand::Rng::with_seed(14);
        let keys = KeyHasher::default();
        let others = ["x", "", "\"a,b\"", "\"q\"\"q\"", "é", " y "];
        let (mut read, mut twice, mut left) = (0, 0, 0);
        for case in 0..400 {
            let crlf = rng.bool();
            let eol = if crlf { "\r\n" } else { "\n" };
            let columns = rng.usize(1..4);
            let index = rng.usize(..columns);
            let header: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
            let mut text = header.join(",") + eol;
            let data_start = text.len() as u64;
            let rows = rng.usize(1..60);
            // Keys drawn from few values (some twice) or many (most often none).
            let spread = if rng.bool() { rows * 2 } else { 100_000 };
            let mut normals = Vec::new();
            for row in 0..rows {
                let fields: Vec<String> = (0..columns)
                    .map(|i| match i == index {
                        true => {
                            let key = format!("k{}@x.fr", rng.usize(..spread));
                            normals.push(key.clone());
                            match rng.u8(..4) {
                                0 => key.to_uppercase(),
                                1 => format!("  {key} "),
                                _ => key,
                            }
                        }
                        false => others[rng.usize(..others.len())].to_owned(),
                    })
                    .collect();
                text += &fields.join(",");
                // The last line may lack its line break.
                if row + 1 < rows || rng.bool() {
                    text += eol;
                }
            }
            let file = file(text.as_bytes());
            let format = scan::Format {
                delimiter: b',',
                quote: b'"',
                crlf,
                columns,
                max_row_bytes: 1 << 20,
            };
            let candidates: Hashes = (normals.iter())
                .map(|k| keys.hash_one(k.as_bytes()))
                .collect();
            let expected = normals.len() != normals.iter().collect::<HashSet<_>>().len();
            let data = data_start..text.len() as u64;
            for threads in [1, 2, 3] {
                let at = (index, &keys);
                match keyed_duplicates(file.path(), data.clone(), &format, threads, at, &candidates)
                {
                    Ok(found) => {
                        assert_eq!(found, expected, "case {case}, {threads} threads:\n{text}");
                        read += 1;
                        twice += u32::from(found);
                    }
                    Err(Stop::Unusual(_)) => left += 1,
                    Err(Stop::Failed(e)) => panic!("case {case}: {e}"),
                }
            }
        }
        assert!(
            read > 600 && twice > 200 && read - twice > 200,
            "{read} {twice}"
        );
        assert!(left > 50, "{left}");
    }

    #[test]
    fn the_fast_reader_comes_to_what_the_csv_crate_comes_to() {
        let mut rng = fastrand::Rng::with_seed(14);
        let (mut fast, mut refused) = (0, 0);
        for case in 0..1500 {
            let content = random_file(&mut rng);
            let f = file(&content);
            let mut expect = expect(&["email", "city"], "email");
            expect.max_row_bytes = Some(250);
            let reference = CsvFile::inspect_reading(f.path(), &expect, false);
            for threads in [1, 2, 3] {
                expect.threads = Some(threads);
                let got = CsvFile::inspect_reading(f.path(), &expect, true);
                let shown = String::from_utf8_lossy(&content);
                match (&reference, &got) {
                    (Ok(a), Ok(b)) => {
                        assert_eq!(
                            (a.rows, &a.quoted_line_break),
                            (b.rows, &b.quoted_line_break),
                            "case {case}, {threads} threads:\n{shown}"
                        );
                        assert!(a.values.is_none());
                        fast += u32::from(b.values.is_some());
                        // Eloqua's chunks too.
                        let chunks = |csv: &CsvFile| csv.chunks(120).map_err(|e| e.to_string());
                        assert_eq!(chunks(a), chunks(b), "case {case}:\n{shown}");
                    }
                    (Err(a), Err(b)) => {
                        assert_eq!(a.to_string(), b.to_string(), "case {case}:\n{shown}");
                        refused += 1;
                    }
                    (a, b) => panic!("case {case}, {threads} threads: {a:?} / {b:?}\n{shown}"),
                }
            }
        }
        // Both kinds of file were met, and most read fast.
        assert!(fast > 1000, "{fast} fast");
        assert!(refused > 300, "{refused} refused");
    }
}
