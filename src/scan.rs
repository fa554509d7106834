//! The fast reading of the input file, shared by every pass over it (the file check, the
//! duplicate-key pass, the pre-flight's value checks).
//!
//! A CSV file is read here without a byte-at-a-time parser: the few bytes that matter (the
//! delimiter, the quote, the line ending) are found by SIMD search (`memchr`), the text is
//! validated as UTF-8 a buffer at a time (`simdutf8`), NUL bytes and stray carriage returns are
//! searched for the same way, and the file is cut into row-aligned ranges read on every core
//! ([`cuts`], [`scan`]).
//!
//! Only the plain shape of CSV is taken: fields either unquoted (no quote in them) or wholly
//! quoted (`""` for a quote inside), the header's line ending after every row, no blank line,
//! no NUL byte, valid UTF-8, every row with the header's number of fields and within the row
//! limit. For such a file the csv crate reads the same records, line for line. Anything else
//! ([`Stop::Unusual`]) is left to the csv crate's reader, which is the reference: it reads
//! every file the vendors take, and names the line and column of what they would not.
//!
//! A cut lands on a line break that may be inside quotes: each range is read from its cut, and
//! the ranges are trusted only if each one's last row ends exactly where the next range starts
//! (a row boundary reached from the start of the file). Otherwise the file is read again as one
//! range.

use std::{
    borrow::Cow,
    fs::File,
    io::{Read, Seek, SeekFrom},
    ops::Range,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use crate::Error;

/// The shape of the rows, from the file's header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Format {
    pub delimiter: u8,
    pub quote: u8,
    /// Rows end with `\r\n` (otherwise `\n`).
    pub crlf: bool,
    /// The number of fields of every row.
    pub columns: usize,
    /// The longest row, its line ending not counted.
    pub max_row_bytes: u64,
}

/// Why a scan stopped before the end of its range.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The file is not of the plain shape this reader takes: the csv crate's reader must read
    /// it (what it found, for tests and traces).
    Unusual(&'static str),
    /// A read failed, or what a record was handed to refused it.
    Failed(Box<Error>),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(Box::new(e))
    }
}

/// One field of a record, as offsets in the buffer.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    start: usize,
    end: usize,
    /// Quoted, with `""` inside: the value has them as one quote.
    escaped: bool,
    /// Quoted.
    quoted: bool,
}

impl Span {
    /// An unquoted field, from `start` to before `end` (its delimiter or line ending).
    fn plain(start: usize, end: usize) -> Self {
        Span {
            start,
            end,
            escaped: false,
            quoted: false,
        }
    }
}

/// A record of a range.
pub(crate) struct Record<'a> {
    /// The offset of its first byte in the file.
    pub start: u64,
    /// Its first line, counted from 1 at the start of the range.
    pub line: u64,
    /// The index of its first field with a line break inside quotes.
    pub broken: Option<usize>,
    quote: u8,
    buffer: &'a [u8],
    fields: &'a [Span],
}

impl Record<'_> {
    /// The value of field `i` (within bounds: every record has the header's fields), quotes
    /// removed and `""` read as one quote (a copy only then).
    #[inline(always)]
    pub fn value(&self, i: usize) -> Cow<'_, [u8]> {
        let raw = self.raw(i);
        match self.fields[i].escaped {
            false => raw.into(),
            true => self.unescaped(raw).into(),
        }
    }

    /// `raw` with each `""` as one quote.
    #[cold]
    fn unescaped(&self, raw: &[u8]) -> Vec<u8> {
        let mut value = Vec::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(at) = memchr::memchr(self.quote, rest) {
            value.extend_from_slice(&rest[..=at]);
            rest = &rest[at + 2..]; // the second quote of the pair
        }
        value.extend_from_slice(rest);
        value
    }

    /// The bytes of field `i` between its quotes, `""` as written.
    #[inline]
    pub fn raw(&self, i: usize) -> &[u8] {
        let span = self.fields[i];
        &self.buffer[span.start..span.end]
    }

    /// The value of field `i` as text (the file is valid UTF-8 by now).
    pub fn text(&self, i: usize) -> Cow<'_, str> {
        match self.value(i) {
            Cow::Borrowed(bytes) => {
                Cow::Borrowed(std::str::from_utf8(bytes).expect("a scanned buffer is UTF-8"))
            }
            Cow::Owned(bytes) => {
                Cow::Owned(String::from_utf8(bytes).expect("a scanned buffer is UTF-8"))
            }
        }
    }
}

/// What a range held.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Part {
    /// Its records.
    pub rows: u64,
    /// The line breaks read (its last record's included).
    pub lines: u64,
    /// The offset after its last record (and its line ending).
    pub end: u64,
}

/// Below this many bytes a range is not cut further: it would cost more to start than it
/// saves. The crate's unit tests cut their small files all the same.
pub(crate) const MIN_RANGE: u64 = if cfg!(test) { 16 } else { 4 << 20 };

/// How many ranges each reading thread gets, at most: a thread whose ranges are read takes
/// the next one left, so that the threads end together (with one range each, one thread
/// often ended 10–30 ms after the other on a 0.11 s check of 100 MiB, under strace). Two, not
/// more: each range has its own buffers of spilled keys, which cost more than the balance
/// saves (medians of 20 and 5 `--dry-run`s: 100 MiB 108 ms with two, 116 with four; 1 GiB
/// 0.93 s with two, 0.98 with one, 0.94 with four).
const RANGES_PER_THREAD: usize = 2;

/// The offsets where the data rows `data` are cut into ranges for `threads` threads (at most
/// [`RANGES_PER_THREAD`] each) of at least [`MIN_RANGE`] bytes: the start, then the byte after
/// the first line break at or after each equal share, then the end.
pub(crate) fn cuts(path: &Path, data: Range<u64>, threads: usize) -> std::io::Result<Vec<u64>> {
    let wanted = ((threads * RANGES_PER_THREAD) as u64)
        .min((data.end - data.start) / MIN_RANGE)
        .max(1);
    let mut cuts = vec![data.start];
    if wanted > 1 {
        let mut file = File::open(path)?;
        let mut buffer = vec![0; 64 << 10];
        for i in 1..wanted {
            let mut at = data.start + (data.end - data.start) * i / wanted;
            let cut = loop {
                file.seek(SeekFrom::Start(at))?;
                let n = file.read(&mut buffer)?;
                if n == 0 {
                    break data.end;
                }
                if let Some(i) = memchr::memchr(b'\n', &buffer[..n]) {
                    break at + i as u64 + 1;
                }
                at += n as u64;
            };
            if cut > *cuts.last().expect("a first cut") && cut < data.end {
                cuts.push(cut);
            }
        }
    }
    cuts.push(data.end);
    Ok(cuts)
}

/// The reading buffer's first size: it grows ([`grow`]) only for a row that does not fit. The
/// crate's unit tests start small, so that their rows make it grow.
const FIRST_BUFFER: usize = if cfg!(test) { 64 } else { 256 << 10 };

/// The largest reading buffer for rows of at most `max_row_bytes`: room for the longest row
/// twice over, so that a buffer always ends a row, within 256 KiB and 8 MiB (a longer row is
/// unusual).
fn buffer_size(max_row_bytes: u64) -> usize {
    usize::try_from(max_row_bytes.saturating_mul(2).saturating_add(4))
        .unwrap_or(usize::MAX)
        .clamp(256 << 10, 8 << 20)
}

/// A reading buffer for rows of at most `max_row_bytes`, at its first size.
pub(crate) fn buffer(max_row_bytes: u64) -> Vec<u8> {
    vec![0; FIRST_BUFFER.min(buffer_size(max_row_bytes))]
}

/// Doubles `buffer`, which holds no whole row, up to the largest size for rows of at most
/// `max_row_bytes`; false when it is that size already.
pub(crate) fn grow(buffer: &mut Vec<u8>, max_row_bytes: u64) -> bool {
    let max = buffer_size(max_row_bytes);
    if buffer.len() >= max {
        return false;
    }
    buffer.resize((buffer.len() * 2).min(max), 0);
    true
}

/// Reads into `buffer[len..]` until the buffer is full or the file ends: the new length, and
/// whether the file ended.
pub(crate) fn fill(
    file: &mut impl Read,
    buffer: &mut [u8],
    mut len: usize,
) -> std::io::Result<(usize, bool)> {
    while len < buffer.len() {
        match file.read(&mut buffer[len..]) {
            Ok(0) => return Ok((len, true)),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((len, false))
}

/// How many ranges to read at once: one per core, at most four.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4)
}

/// Reads the records of `path` that start in `range` (the last one may end past it), handing
/// each to `on`; stops at the first record `on` refuses.
pub(crate) fn scan(
    path: &Path,
    range: Range<u64>,
    format: &Format,
    mut on: impl FnMut(&Record<'_>) -> Result<(), Stop>,
) -> Result<Part, Stop> {
    let io = |e| Stop::from(Error::io(path, e));
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(range.start)).map_err(io)?;
    let mut buffer = buffer(format.max_row_bytes);
    // A record's fields, each written in its place: more than the header's stop the reading.
    let mut fields = vec![Span::default(); format.columns];
    let mut reader = Reader {
        format,
        part: Part {
            rows: 0,
            lines: 0,
            end: range.start,
        },
        stop_at: range.end,
    };
    let (mut len, mut eof) = (0, false);
    while reader.part.end < range.end {
        if !eof {
            (len, eof) = fill(&mut file, &mut buffer, len).map_err(io)?;
        }
        if len == 0 {
            break;
        }
        // At the end of the file every byte left makes records (or a stop); before it, a full
        // buffer holds at least one.
        let used = reader.records(&mut fields, &buffer[..len], eof, &mut on)?;
        if used == 0 {
            if !grow(&mut buffer, format.max_row_bytes) {
                return Err(Stop::Unusual("a row longer than the reading buffer"));
            }
            continue;
        }
        buffer.copy_within(used..len, 0);
        len -= used;
    }
    Ok(reader.part)
}

/// Why a record with more or fewer fields than the header is not read here.
const FIELD_COUNT: &str = "a row with another number of fields than the header";

/// Writes `span` as field `n` of a record, the next one. In place, not pushed onto a vector:
/// the record loop's count stays in a register (a 100 MiB `--dry-run`: 32 instructions a row
/// fewer).
#[inline(always)]
fn keep(fields: &mut [Span], n: &mut usize, span: Span) -> Result<(), Stop> {
    let slot = fields.get_mut(*n).ok_or(Stop::Unusual(FIELD_COUNT))?;
    *slot = span;
    *n += 1;
    Ok(())
}

struct Reader<'f> {
    format: &'f Format,
    part: Part,
    /// Records are read while they start before this offset.
    stop_at: u64,
}

impl Reader<'_> {
    /// Reads the whole records of `buffer` (which starts at `self.part.end`), handing each to
    /// `on`; returns the bytes they take. Each record's fields are written to `fields`, as
    /// many as the header has.
    fn records(
        &mut self,
        fields: &mut [Span],
        buffer: &[u8],
        eof: bool,
        on: &mut impl FnMut(&Record<'_>) -> Result<(), Stop>,
    ) -> Result<usize, Stop> {
        let Format {
            delimiter,
            quote,
            crlf,
            ..
        } = *self.format;
        let base = self.part.end;
        // The part that ends with a line break (or the file), so that no character is cut.
        let whole = if eof {
            buffer.len()
        } else {
            memchr::memrchr(b'\n', buffer).map_or(0, |i| i + 1)
        };
        let checked = &buffer[..whole];
        if simdutf8::basic::from_utf8(checked).is_err() {
            return Err(Stop::Unusual("not UTF-8"));
        }
        if memchr::memchr(0, checked).is_some() {
            return Err(Stop::Unusual("a NUL byte"));
        }
        if !crlf && memchr::memchr(b'\r', checked).is_some() {
            return Err(Stop::Unusual("a carriage return in a file of LF lines"));
        }
        let ending = if crlf { b'\r' } else { b'\n' };
        let mut record = 0; // where the record being read starts
        let mut field = 0; // where the field being read starts
        let mut broken = false;
        let mut breaks = 0; // line breaks inside quotes, in the record
        let mut newlines = 0; // `\n` read, to tell a lone LF of a CRLF file
        let mut n = 0; // the fields of the record kept so far

        // The reading stopped inside quotes; the last field was kept (its closing quote ends
        // the file).
        let (mut in_quotes, mut last_kept) = (false, false);
        let mut positions = Positions::new(checked, [delimiter, ending, quote]);
        while let Some(mut at) = positions.next() {
            let mut byte = checked[at];
            if byte == quote {
                if at != field {
                    return Err(Stop::Unusual("a quote inside an unquoted field"));
                }
                // A quoted field is read to its closing quote here, so that the loop over the
                // plain ones keeps no state of quotes.
                let mut escaped = false;
                let close = loop {
                    let Some(inside) = positions.next() else {
                        break None;
                    };
                    if checked[inside] == ending {
                        broken = true;
                        breaks += 1;
                    } else if checked[inside] == quote {
                        match checked.get(inside + 1) {
                            Some(&next) if next == quote => {
                                escaped = true;
                                positions.next(); // the pair's second quote
                            }
                            Some(&next) if next == delimiter || next == ending => {
                                break Some(inside)
                            }
                            Some(_) => return Err(Stop::Unusual("text after a closing quote")),
                            None if eof => break Some(inside),
                            None => break None,
                        }
                    }
                };
                let Some(close) = close else {
                    in_quotes = true;
                    break;
                };
                let span = Span {
                    start: at + 1,
                    end: close,
                    escaped,
                    quoted: true,
                };
                keep(fields, &mut n, span)?;
                // The delimiter or line ending right after it, or the end of the file.
                let Some(after) = positions.next() else {
                    last_kept = true;
                    break;
                };
                (at, byte) = (after, checked[after]);
            } else {
                keep(fields, &mut n, Span::plain(field, at))?;
            }
            if byte == delimiter {
                field = at + 1;
                continue;
            }
            let end = match crlf {
                false => at + 1,
                true => match checked.get(at + 1) {
                    Some(b'\n') => at + 2,
                    Some(_) => return Err(Stop::Unusual("a lone carriage return")),
                    None => break, // the `\n` is in the next buffer (the checked part ends with one)
                },
            };
            if at == record {
                return Err(Stop::Unusual("a blank line"));
            }
            let lines = 1 + self.quoted_breaks(&fields[..n], checked, broken, breaks);
            let broken = std::mem::take(&mut broken);
            self.emit(&fields[..n], checked, record..at, broken, on)?;
            self.part.lines += lines;
            newlines += lines;
            self.part.end = base + end as u64;
            (record, field, breaks) = (end, end, 0);
            n = 0;
            if self.part.end >= self.stop_at {
                break;
            }
        }
        if eof && record < checked.len() && self.part.end < self.stop_at {
            // The last record, without a line ending.
            if in_quotes {
                return Err(Stop::Unusual(
                    "a quoted field not closed at the end of the file",
                ));
            }
            let end = checked.len();
            if crlf && checked[end - 1] == b'\r' {
                return Err(Stop::Unusual("a lone carriage return"));
            }
            if !last_kept {
                keep(fields, &mut n, Span::plain(field, end))?;
            }
            let lines = self.quoted_breaks(&fields[..n], checked, broken, breaks);
            self.emit(&fields[..n], checked, record..end, broken, on)?;
            self.part.lines += lines;
            newlines += lines;
            self.part.end = base + end as u64;
            record = end;
        }
        if crlf && memchr::memchr_iter(b'\n', &checked[..record]).count() as u64 != newlines {
            return Err(Stop::Unusual(
                "a line feed without a carriage return in a CRLF file",
            ));
        }
        Ok(record)
    }

    /// The line breaks inside the quotes of the record just read: `breaks` as counted while
    /// reading, but for a CRLF file, whose `\n` are not searched for: they are counted in its
    /// quoted fields (a `\n` outside quotes is then not counted, and the file's count of them
    /// tells it).
    fn quoted_breaks(&self, fields: &[Span], buffer: &[u8], broken: bool, breaks: u64) -> u64 {
        if !(self.format.crlf && broken) {
            return breaks;
        }
        let quoted = fields.iter().filter(|span| span.quoted);
        quoted
            .map(|span| memchr::memchr_iter(b'\n', &buffer[span.start..span.end]).count() as u64)
            .sum()
    }

    fn emit(
        &mut self,
        fields: &[Span],
        buffer: &[u8],
        bytes: Range<usize>,
        broken: bool,
        on: &mut impl FnMut(&Record<'_>) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        if fields.len() != self.format.columns {
            return Err(Stop::Unusual(FIELD_COUNT));
        }
        if (bytes.end - bytes.start) as u64 > self.format.max_row_bytes {
            return Err(Stop::Unusual("a row over the limit"));
        }
        self.part.rows += 1;
        // A line break inside quotes was seen: which field has the first (a CRLF file's lone
        // `\n` is not searched for while reading).
        let broken = broken
            .then(|| {
                fields.iter().position(|span| {
                    memchr::memchr2(b'\n', b'\r', &buffer[span.start..span.end]).is_some()
                })
            })
            .flatten();
        on(&Record {
            // Records follow each other: this one starts where the last one ended.
            start: self.part.end,
            line: self.part.lines + 1,
            broken,
            quote: self.format.quote,
            buffer,
            fields,
        })
    }
}

/// The positions of three bytes in `bytes`, in order, as `memchr::memchr3_iter` finds them:
/// here 64 bytes at a time are compared with each (SIMD, `wide`) into a mask of where they
/// are, whose bits are then read. A row has a hit every dozen bytes or so, and a search
/// started again after each hit cost about 48 instructions a hit, the mask about 7.
struct Positions<'a> {
    bytes: &'a [u8],
    needles: [wide::u8x16; 3],
    /// The offset of the block whose hits not yet handed out are `mask`.
    base: usize,
    mask: u64,
}

impl<'a> Positions<'a> {
    fn new(bytes: &'a [u8], needles: [u8; 3]) -> Self {
        let mut positions = Self {
            bytes,
            needles: needles.map(wide::u8x16::splat),
            base: 0,
            mask: 0,
        };
        positions.mask = positions.block(0);
        positions
    }

    /// The mask of the hits in the 64 bytes from `at` (those there are).
    #[inline(always)]
    fn block(&self, at: usize) -> u64 {
        let [a, b, c] = self.needles;
        let of = |block: &[u8]| {
            (0..4).fold(0, |mask, i| {
                let chunk: [u8; 16] = block[i * 16..i * 16 + 16].try_into().expect("16 bytes");
                let v = wide::u8x16::new(chunk);
                let hits = v.cmp_eq(a) | v.cmp_eq(b) | v.cmp_eq(c);
                mask | u64::from(hits.move_mask() as u16) << (i * 16)
            })
        };
        match self.bytes.get(at..at + 64) {
            Some(block) => of(block),
            None => {
                let rest = &self.bytes[at.min(self.bytes.len())..];
                let mut block = [0; 64];
                block[..rest.len()].copy_from_slice(rest);
                of(&block) & ((1 << rest.len()) - 1)
            }
        }
    }
}

impl Iterator for Positions<'_> {
    type Item = usize;

    #[inline(always)]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            self.base += 64;
            if self.base >= self.bytes.len() {
                return None;
            }
            self.mask = self.block(self.base);
        }
        let at = self.base + self.mask.trailing_zeros() as usize;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// Reads `data` (the data rows of `path`) in up to `threads` ranges at once: each range gets
/// a state of its own from `start` (given the range's index), and `each` reads its records
/// into it. Returns every range's [`Part`] and state, in order. When the ranges do not join up
/// (a cut inside quotes), the file is read again as one range, with a state made anew, after
/// `restart` (which undoes what `each` shared between the ranges of the first attempt).
pub(crate) fn scan_all<S: Send>(
    path: &Path,
    data: Range<u64>,
    format: &Format,
    threads: usize,
    (start, restart): (impl Fn() -> S + Sync, impl FnOnce()),
    each: impl Fn(&mut S, &Record<'_>) -> Result<(), Stop> + Sync,
) -> Result<Vec<(Part, S)>, Stop> {
    let cuts = cuts(path, data.clone(), threads).map_err(|e| Stop::from(Error::io(path, e)))?;
    let read = |range: Range<u64>| {
        let mut state = start();
        scan(path, range, format, |record| each(&mut state, record)).map(|part| (part, state))
    };
    if cuts.len() > 2 {
        let parts = each_range(&cuts, threads, read);
        let mut joined = Vec::with_capacity(parts.len());
        for (i, part) in parts.into_iter().enumerate() {
            match part {
                Ok(part) if part.0.end == cuts[i + 1] => joined.push(part),
                // A range that starts on a row boundary (the ranges before it joined up): its
                // failure is the file's.
                Err(stop) if joined.len() == i => return Err(stop),
                _ => break,
            }
        }
        if joined.len() == cuts.len() - 1 {
            return Ok(joined);
        }
    }
    restart();
    read(data).map(|part| vec![part])
}

/// Runs `work` on each range between consecutive `cuts`, on `threads` threads that take the
/// ranges in order, each the next one left: the results, in the ranges' order.
pub(crate) fn each_range<T: Send>(
    cuts: &[u64],
    threads: usize,
    work: impl Fn(Range<u64>) -> T + Sync,
) -> Vec<T> {
    let ranges: Vec<Range<u64>> = cuts.windows(2).map(|w| w[0]..w[1]).collect();
    let results: Vec<std::sync::Mutex<Option<T>>> =
        ranges.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, ranges.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(range) = ranges.get(i) else {
                    break;
                };
                let result = work(range.clone());
                *results[i].lock().expect("a reading thread panicked") = Some(result);
            });
        }
    });
    results
        .into_iter()
        .map(|result| {
            let result = result.into_inner().expect("a reading thread panicked");
            result.expect("every range is read")
        })
        .collect()
}

/// How a [`Seen`] is made.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Form {
    /// The hashes put aside, in memory or in temporary files ([`crate::spill`]), of a file of
    /// about this many rows (`None`: not known).
    Spilled(Option<u64>),
    Bloom,
}

impl Form {
    /// The form for a file of about `rows` rows (`None`: not known).
    pub fn for_rows(rows: Option<u64>) -> Self {
        match rows {
            Some(rows) if rows > crate::spill::MAX_ROWS => Form::Bloom,
            _ => Form::Spilled(rows),
        }
    }
}

/// A set of key hashes that tells, in bounded memory, which keys may have been seen before,
/// in one of two forms ([`Form`]):
///
/// - **spilled**: the hashes are put aside by shares, 7 bytes a row, in memory when they fit in
///   16 MiB and otherwise in temporary files, and read back once the file is read
///   ([`crate::spill`]). A key is flagged only if its hash comes twice: a duplicate, or a
///   collision of 64-bit hashes (about one in 10^8 files of half a million rows). A file
///   without duplicates then needs no second pass. It costs less than an exact table of the
///   hashes in memory, which was used up to half a million rows: a `--dry-run` of 1 MiB
///   8.7 ms against 8.9, of 10 MiB 15.1 against 16.6, of 30 MiB 28.5 against 33.9 (medians
///   of 15 to 31, alternating), peak RSS 0.5–2.3 MiB lower; the table's zeroed pages and
///   cache misses cost more than the appends and a share's table in the core's cache.
/// - a **Bloom filter**, for files of more rows than the spill takes or when its files could
///   not be written: its probes of a key all fall in one 64-bit word, about 2 bits per byte
///   of the file (at most 32 MiB), and it flags some keys seen only once. A key costs one
///   cache miss and one atomic OR into its word, whose result tells whether the key was in:
///   two threads adding the same key at the same moment cannot both miss it. Keys are added
///   [`Batch::LEN`] at a time, their words loaded first so that the misses overlap.
pub(crate) struct Seen {
    /// The Bloom filter's words (none when spilled).
    words: Vec<AtomicU64>,
    kind: Kind,
}

enum Kind {
    Bloom,
    Spilled(crate::spill::Spill),
}

impl Seen {
    const PROBES: u32 = 6;

    /// The set of `form` for a file of `size` bytes.
    pub fn new(form: Form, size: u64) -> Self {
        let (words, kind) = match form {
            Form::Spilled(rows) => (0, Kind::Spilled(crate::spill::Spill::for_file(size, rows))),
            Form::Bloom => ((size * 2).clamp(1 << 16, 1 << 28) / 64, Kind::Bloom),
        };
        let words: Vec<AtomicU64> = (0..words).map(|_| AtomicU64::new(0)).collect();
        // The allocation is fresh zeroed memory: a page first read maps the shared zero page,
        // and its first write then costs a fault and a TLB flush of every core that runs a
        // reading thread (a fifth of the check's time at 100 MiB, by `perf`). Written here
        // first, each page is faulted in once, before those threads start.
        for word in words.iter().step_by(4096 / 8) {
            word.store(0, Ordering::Relaxed);
        }
        Self { words, kind }
    }

    /// The hashes put aside, for a spilled set.
    pub fn spill(&self) -> Option<&crate::spill::Spill> {
        match &self.kind {
            Kind::Spilled(spill) => Some(spill),
            _ => None,
        }
    }

    /// Forgets every key.
    pub fn clear(&self) {
        for word in &self.words {
            word.store(0, Ordering::Relaxed);
        }
        if let Kind::Spilled(spill) = &self.kind {
            spill.clear();
        }
    }

    /// The word of a hash: its high bits, by multiply-shift.
    fn slot(&self, hash: u64) -> usize {
        ((u128::from(hash) * self.words.len() as u128) >> 64) as usize
    }

    /// Adds `hashes` to the Bloom filter; calls `seen(i)` for each `hashes[i]` that may have
    /// been added before.
    fn insert(&self, hashes: &[u64], mut seen: impl FnMut(usize)) {
        let Kind::Bloom = self.kind else {
            unreachable!("a spilled set's batches put their hashes aside")
        };
        // Bare loads first: the words are on their way together, then found in the cache.
        let touched = hashes.iter().fold(0, |x, &hash| {
            x ^ self.words[self.slot(hash)].load(Ordering::Relaxed)
        });
        std::hint::black_box(touched);
        for (i, &hash) in hashes.iter().enumerate() {
            // A remix of the hash chooses the bits within the word, 6 bits a probe.
            let probes = hash.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(21);
            let mask =
                (0..Self::PROBES).fold(0u64, |mask, i| mask | 1 << ((probes >> (i * 6)) & 63));
            if self.words[self.slot(hash)].fetch_or(mask, Ordering::Relaxed) & mask == mask {
                seen(i);
            }
        }
    }

    /// A batch of keys for one thread to add.
    pub fn batch(&self) -> Batch<'_> {
        Batch {
            seen: self,
            pending: [0; Batch::LEN],
            len: 0,
            candidates: Hashes::default(),
            spill: self.spill().map(crate::spill::Spill::writer),
        }
    }
}

/// A set of key hashes (hashed again, cheaply).
pub(crate) type Hashes = std::collections::HashSet<u64, foldhash::fast::RandomState>;

/// The keys one thread adds to [`Seen`].
pub(crate) struct Batch<'s> {
    seen: &'s Seen,
    pending: [u64; Batch::LEN],
    len: usize,
    /// The hashes of the keys that may have been added before; complete after
    /// [`Batch::finish`].
    candidates: Hashes,
    /// Where the keys go instead, for a spilled set.
    spill: Option<crate::spill::Writer<'s>>,
}

impl Batch<'_> {
    pub const LEN: usize = 32;

    /// Adds a key's hash (inlined: a spilled hash is a copy into a buffer, cheaper than the
    /// call).
    #[inline]
    pub fn insert(&mut self, hash: u64) {
        if let Some(spill) = &mut self.spill {
            spill.add(hash);
            return;
        }
        self.pending[self.len] = hash;
        self.len += 1;
        if self.len == Self::LEN {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let len = std::mem::take(&mut self.len);
        let (pending, candidates) = (&self.pending, &mut self.candidates);
        self.seen.insert(&pending[..len], |i| {
            candidates.insert(pending[i]);
        });
    }

    pub fn finish(mut self) -> Hashes {
        match self.spill.take() {
            // A spilled set's duplicates are known once its shares are read back.
            Some(spill) => spill.finish(),
            None => self.flush(),
        }
        self.candidates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys of `hashes` that a set flags, added by `threads` threads, each all of them.
    fn flagged(seen: &Seen, hashes: &[u64], threads: usize) -> Vec<Hashes> {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut batch = seen.batch();
                        for &hash in hashes {
                            batch.insert(hash);
                        }
                        batch.finish()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        })
    }

    /// The records of `text` read by the fast reader alone (a format of `columns` fields, `,`
    /// and `"`), each as its values and its line; or why it stops.
    fn records(text: &str, columns: usize) -> Result<Vec<(Vec<String>, u64)>, &'static str> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, text.as_bytes()).unwrap();
        let format = Format {
            delimiter: b',',
            quote: b'"',
            crlf: text.contains("\r\n"),
            columns,
            max_row_bytes: 1 << 20,
        };
        let mut read = Vec::new();
        let range = 0..text.len() as u64;
        let part = scan(file.path(), range, &format, |record| {
            let values = (0..columns).map(|i| record.text(i).into_owned()).collect();
            read.push((values, record.line));
            Ok(())
        });
        match part {
            Ok(part) => {
                assert_eq!(part.end, text.len() as u64, "{text:?}");
                Ok(read)
            }
            Err(Stop::Unusual(why)) => Err(why),
            Err(Stop::Failed(e)) => panic!("{e}"),
        }
    }

    /// Quoted fields, `""` inside, line breaks inside quotes, a last record with no line
    /// ending (its closing quote the file's last byte): read here, not handed over to the csv
    /// crate's reader; each shape it does not take is.
    #[test]
    fn the_record_loop_reads_the_plain_shapes_itself() {
        let row = |values: &[&str], line| (values.iter().map(|v| v.to_string()).collect(), line);
        assert_eq!(
            records("a,\"b,c\"\n\"d\"\"e\",f\n\"g\nh\",\"i\"", 2),
            Ok(vec![
                row(&["a", "b,c"], 1),
                row(&["d\"e", "f"], 2),
                row(&["g\nh", "i"], 3),
            ])
        );
        assert_eq!(
            records("a,\"b\r\nc\"\r\n\"\",d\r\n", 2),
            Ok(vec![row(&["a", "b\r\nc"], 1), row(&["", "d"], 3)])
        );
        assert_eq!(
            records("a,b\nc,d", 2),
            Ok(vec![row(&["a", "b"], 1), row(&["c", "d"], 2)])
        );
        for (text, why) in [
            ("a,\"b\"c\n", "text after a closing quote"),
            ("a,b\"c\"\n", "a quote inside an unquoted field"),
            (
                "a,\"b\n",
                "a quoted field not closed at the end of the file",
            ),
            (
                "a,b,c\n",
                "a row with another number of fields than the header",
            ),
            ("a\n", "a row with another number of fields than the header"),
            ("a,b\n\nc,d\n", "a blank line"),
        ] {
            assert_eq!(records(text, 2), Err(why), "{text:?}");
        }
    }

    /// The masks find what `memchr` finds, at every length and alignment, whatever the bytes.
    #[test]
    fn positions_are_those_memchr_finds() {
        let mut rng = fastrand::Rng::with_seed(64);
        for _ in 0..20_000 {
            let len = rng.usize(0..300);
            // Few distinct bytes, so that there are hits; some buffers full of them.
            let few = rng.bool();
            let bytes: Vec<u8> = (0..len)
                .map(|_| if few { rng.u8(..4) } else { rng.u8(..) })
                .collect();
            let start = rng.usize(0..=len.min(70));
            let needles = [rng.u8(..4), rng.u8(..4), rng.u8(..)];
            let bytes = &bytes[start..];
            let found: Vec<usize> = Positions::new(bytes, needles).collect();
            let [a, b, c] = needles;
            let expected: Vec<usize> = memchr::memchr3_iter(a, b, c, bytes).collect();
            assert_eq!(found, expected, "{bytes:?} {needles:?}");
        }
    }

    #[test]
    fn a_bloom_filter_flags_every_key_added_twice() {
        let seen = Seen::new(Form::Bloom, 1 << 20);
        let hashes: Vec<u64> = (0..20_000u64)
            .map(|i| i.wrapping_mul(0x2545_F491_4F6C_DD1D))
            .collect();
        assert!(flagged(&seen, &hashes, 1)[0].len() < 20);
        assert_eq!(flagged(&seen, &hashes, 1)[0].len(), hashes.len());
    }
}
