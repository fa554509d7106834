//! The keys' hashes of a file, put aside by shares and read back a share at a time: the keys
//! seen twice, exactly (but for a collision of 64-bit hashes), in one reading of the file and
//! bounded memory.
//!
//! A Bloom filter of a file of 16 million rows flags thousands of keys seen once, and the
//! file must then be read a second time to tell them from duplicates; here the file is read
//! once, and 7 bytes a row are put aside instead: in memory when they fit in [`MEMORY`],
//! otherwise written to and read back from the temporary directory (`TMPDIR`). At every size this
//! also costs less than an exact table in memory, whose zeroed pages and cache misses were a
//! third of a 100 MiB check (`perf`): the hashes are appended to buffers, and each share's
//! table fits in the core's cache. The files have no name (the system removes them when they
//! are closed, whatever stops the process). When one cannot be written, or a share would not
//! fit in the memory given to it, [`Spill::duplicates`] says so and the file is checked with a
//! Bloom filter instead.

use std::{
    fs::File,
    io::{self, Write},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Mutex,
    },
};

use crate::scan::Hashes;

/// The shares of the hashes (by their 8 high bits), each read back alone.
const PARTS: usize = 256;
/// The bytes written of a hash: its 7 low ones, the high one being its share's number. The
/// kernel's work of writing and reading back the files was most of the spill's cost, by bytes
/// more than by calls (a 1 GiB `--dry-run`: 0.3 s of the 0.55 s of system time with 2 KiB
/// writes, about as much with 16 KiB ones, and with the files in memory (`/dev/shm`)).
const BYTES: usize = 7;
/// The hashes a writer keeps of each share before it writes them (1.75 KiB): the buffers share
/// the core's cache with the reading buffer. Measured with 8 bytes a hash, before the record
/// loop's last changes: 512 of them (1 MiB of buffers a range) a 100 MiB `--dry-run` took
/// 103 ms and a 1 GiB one 0.90 s, 256 97 ms and 0.85 s, 128 97 ms and 0.88 s (medians of 15
/// and 7).
const CHUNK: usize = 256;
/// The same from a file of [`LARGE_FILE`] bytes (7 KiB, 1.75 MiB of buffers a range): 8 times
/// fewer reads back (64,000 reads of 1.75 KiB for a 1 GiB file). With 7 bytes a hash and the
/// record loop as it is now, 1,024 took a 1 GiB `--dry-run` from 632 to 597 ms (512: 627 ms),
/// and a 100 MiB one from 67.5 to 71.6 ms (512: 69.5 ms); medians of 13 and 15, alternating.
/// Chosen by size as here, twice more: 627 → 613 and 644 → 632 ms at 1 GiB (a gain of 2 to 5 %,
/// near the noise), 100 MiB unchanged (70.8 and 70.7 ms); peak RSS 17.1 → 20.7 MiB at 1 GiB.
const LARGE_CHUNK: usize = 1024;
/// The file size from which [`LARGE_CHUNK`] is used: between the two sizes measured, not
/// measured itself.
const LARGE_FILE: u64 = 384 << 20;
/// The bytes of hashes kept in memory, by all writers together: the hashes of 2.4 million rows
/// (a file of about 150 MiB). A file estimated to have more rows has its hashes written to
/// files only. Against files, a 100 MiB `--dry-run` (1.6 million rows, 11 MiB of hashes,
/// 13,700 calls fewer) took 127 ms of CPU instead of 145 and 78.0 ms instead of 81.8 (medians
/// of 15, alternating), peak RSS 15.0 → 25.5 MiB; a 1 GiB one with its first 16 MiB of hashes
/// in memory gained nothing (609 ms against 598) and took 20.4 → 37.1 MiB.
const MEMORY: usize = 16 << 20;
/// The memory a writer takes at a time for its hashes (of [`MEMORY`]).
const BLOCK: usize = 1 << 20;
/// The most hashes of one share read back at once (3.5 MiB, and 16 MiB for their table): files
/// of up to about 128 million rows. A larger one is checked with a Bloom filter.
const MAX_PART: usize = 512 << 10;

/// The most rows of a file whose keys are spilled.
pub(crate) const MAX_ROWS: u64 = (PARTS * MAX_PART) as u64 * 9 / 10;

/// The hashes written by every thread.
pub(crate) struct Spill {
    written: Mutex<Vec<Written>>,
    failed: Mutex<Option<io::Error>>,
    /// The memory given to the hashes ([`MEMORY`] or none), and the bytes of it not yet taken.
    given: usize,
    memory: AtomicUsize,
    /// Where the files are made (`None`: the system's temporary directory).
    dir: Option<std::path::PathBuf>,
    /// [`CHUNK`] or [`LARGE_CHUNK`].
    chunk: usize,
}

impl Default for Spill {
    fn default() -> Self {
        Self {
            written: Mutex::default(),
            failed: Mutex::default(),
            given: MEMORY,
            memory: AtomicUsize::new(MEMORY),
            dir: None,
            chunk: CHUNK,
        }
    }
}

/// What one writer put aside: its blocks of memory, its file, and where each share's chunks
/// are in them (place, hashes).
struct Written {
    blocks: Vec<Vec<u8>>,
    file: Option<File>,
    chunks: Vec<Vec<(Place, usize)>>,
}

/// Where a chunk of hashes is.
#[derive(Clone, Copy)]
enum Place {
    /// In a writer's block, from this offset.
    Memory { block: usize, at: usize },
    /// In a writer's file, from this offset.
    File(u64),
}

/// The hashes of one range of the file: a chunk of each share in memory (448 KiB in all, or
/// 1.75 MiB), put aside when full: in a block of [`BLOCK`] bytes while the memory given to the
/// spill lasts, then in a file of the writer's own.
pub(crate) struct Writer<'s> {
    spill: &'s Spill,
    blocks: Vec<Vec<u8>>,
    file: Option<File>,
    buffers: Vec<u8>,
    lens: Vec<usize>,
    chunks: Vec<Vec<(Place, usize)>>,
    end: u64,
    failed: bool,
}

impl Spill {
    /// The spill of a file of `size` bytes and about `rows` rows (`None`: not known, then
    /// each row is longer than the 64 KiB sampled, and they are few).
    pub fn for_file(size: u64, rows: Option<u64>) -> Self {
        let chunk = if size < LARGE_FILE {
            CHUNK
        } else {
            LARGE_CHUNK
        };
        let fits = rows.unwrap_or(0).saturating_mul(BYTES as u64) <= MEMORY as u64;
        let given = if fits { MEMORY } else { 0 };
        Self {
            chunk,
            given,
            memory: AtomicUsize::new(given),
            ..Self::default()
        }
    }

    pub fn writer(&self) -> Writer<'_> {
        Writer {
            spill: self,
            blocks: Vec::new(),
            file: None,
            buffers: vec![0; PARTS * self.chunk * BYTES],
            lens: vec![0; PARTS],
            chunks: vec![Vec::new(); PARTS],
            end: 0,
            failed: false,
        }
    }

    /// Forgets every hash.
    pub fn clear(&self) {
        lock(&self.written).clear();
        lock(&self.failed).take();
        self.memory.store(self.given, Ordering::Relaxed);
    }

    /// Takes `bytes` of the memory given, if that many are left.
    fn take_memory(&self, bytes: usize) -> bool {
        self.memory
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(bytes)
            })
            .is_ok()
    }

    /// The hashes written more than once (by any threads), each share read back and put in a
    /// table by one of `threads` threads; or why they cannot be known.
    pub fn duplicates(&self, threads: usize) -> io::Result<Hashes> {
        if let Some(e) = lock(&self.failed).take() {
            return Err(e);
        }
        let written = lock(&self.written);
        let part_len = |part: usize| -> usize {
            written
                .iter()
                .flat_map(|w| &w.chunks[part])
                .map(|&(_, len)| len)
                .sum()
        };
        let most = (0..PARTS).map(part_len).max().unwrap_or(0);
        if most > MAX_PART {
            return Err(io::Error::other(format!(
                "{most} keys in a share of the temporary files, more than the {MAX_PART} read at once"
            )));
        }
        let threads = threads.clamp(1, PARTS);
        let found = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|first| {
                    let written = &written;
                    scope.spawn(move || -> io::Result<Hashes> {
                        let mut found = Hashes::default();
                        let (mut read, mut table) = (Vec::new(), vec![0u64; most * 4 + 1]);
                        for part in (first..PARTS).step_by(threads) {
                            read.clear();
                            let mut kept: Vec<&[u8]> = Vec::new();
                            for w in written.iter() {
                                for &(place, len) in &w.chunks[part] {
                                    let len = len * BYTES;
                                    match (place, &w.file) {
                                        (Place::Memory { block, at }, _) => {
                                            kept.push(&w.blocks[block][at..at + len]);
                                        }
                                        (Place::File(at), Some(file)) => {
                                            let start = read.len();
                                            read.resize(start + len, 0);
                                            read_at(file, &mut read[start..], at)?;
                                        }
                                        (Place::File(_), None) => {
                                            unreachable!("a chunk written to no file")
                                        }
                                    }
                                }
                            }
                            kept.push(&read);
                            let bytes: usize = kept.iter().map(|b| b.len()).sum();
                            let table = &mut table[..bytes / BYTES * 4 + 1];
                            twice(&kept, (part as u64) << 56, table, &mut found);
                        }
                        Ok(found)
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|w| {
                    w.join()
                        .expect("a thread reading the keys' hashes panicked")
                })
                .collect::<io::Result<Vec<Hashes>>>()
        })?;
        Ok(found.into_iter().flatten().collect())
    }
}

/// Adds to `found` the hashes of share `high` (its number in their high byte) that come more
/// than once in `pieces` (their 7 low bytes each), through `table` (zeroed here), open
/// addressing with linear probing, a quarter full at most: its probes mispredict less than
/// at half full (the reading back of a 100 MiB file's hashes 8.3 → 6.3 ms, of a 1 GiB file's
/// 88 → 76 ms, medians of 15 and 5, alternating), for twice the table.
fn twice(pieces: &[&[u8]], high: u64, table: &mut [u64], found: &mut Hashes) {
    table.fill(0);
    let slots = table.len() as u128;
    let hashes = pieces.iter().flat_map(|piece| piece.chunks_exact(BYTES));
    for bytes in hashes {
        let mut hash = [0; 8];
        hash[..BYTES].copy_from_slice(bytes);
        let hash = u64::from_le_bytes(hash) | high;
        // 0 marks an empty slot: a hash of 0 is taken as 1 (a collision, a candidate).
        let stored = hash.max(1);
        // The slot from the bits below the share's.
        let mut slot = ((u128::from(hash << 8) * slots) >> 64) as usize;
        loop {
            match table[slot] {
                0 => {
                    table[slot] = stored;
                    break;
                }
                now if now == stored => {
                    found.insert(hash);
                    break;
                }
                _ => slot = if slot + 1 == table.len() { 0 } else { slot + 1 },
            }
        }
    }
}

impl Writer<'_> {
    #[inline]
    pub fn add(&mut self, hash: u64) {
        let part = (hash >> 56) as usize;
        let len = self.lens[part];
        let chunk = self.spill.chunk;
        let at = (part * chunk + len) * BYTES;
        self.buffers[at..at + BYTES].copy_from_slice(&hash.to_le_bytes()[..BYTES]);
        self.lens[part] = len + 1;
        if len + 1 == chunk {
            self.write(part);
        }
    }

    /// Puts aside the hashes kept of share `part`: in memory while the memory given lasts,
    /// else in the writer's file.
    fn write(&mut self, part: usize) {
        let len = std::mem::take(&mut self.lens[part]);
        if self.failed || len == 0 {
            return;
        }
        let start = part * self.spill.chunk * BYTES;
        let bytes = &self.buffers[start..start + len * BYTES];
        let room = (self.blocks.last()).is_some_and(|b| b.capacity() - b.len() >= bytes.len());
        if room || self.spill.take_memory(BLOCK) {
            if !room {
                self.blocks.push(Vec::with_capacity(BLOCK));
            }
            let block = self.blocks.len() - 1;
            let at = self.blocks[block].len();
            self.blocks[block].extend_from_slice(bytes);
            self.chunks[part].push((Place::Memory { block, at }, len));
            return;
        }
        let file = match &mut self.file {
            Some(file) => Ok(file),
            None => match &self.spill.dir {
                Some(dir) => tempfile::tempfile_in(dir),
                None => tempfile::tempfile(),
            }
            .map(|file| self.file.insert(file)),
        };
        match file.and_then(|file| file.write_all(bytes)) {
            Ok(()) => {
                self.chunks[part].push((Place::File(self.end), len));
                self.end += (len * BYTES) as u64;
            }
            Err(e) => {
                self.failed = true;
                lock(&self.spill.failed).get_or_insert(e);
            }
        }
    }

    /// Puts aside what is left, and hands the blocks and the file over.
    pub fn finish(mut self) {
        for part in 0..PARTS {
            self.write(part);
        }
        if !self.failed {
            lock(&self.spill.written).push(Written {
                blocks: std::mem::take(&mut self.blocks),
                file: self.file.take(),
                chunks: std::mem::take(&mut self.chunks),
            });
        }
    }
}

/// A lock whose holder may have panicked: what it guards is still whole here.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads `buffer.len()` bytes of `file` from offset `at`, without moving a shared cursor.
#[cfg(unix)]
fn read_at(file: &File, buffer: &mut [u8], at: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buffer, at)
}

#[cfg(windows)]
fn read_at(file: &File, mut buffer: &mut [u8], mut at: u64) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buffer.is_empty() {
        match file.seek_read(buffer, at)? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                buffer = &mut buffer[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_at(_: &File, _: &mut [u8], _: u64) -> io::Result<()> {
    Err(io::ErrorKind::Unsupported.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes each of `threads` threads adds (each its share of `hashes`), put aside in
    /// chunks of `chunk` with `memory` bytes of memory, and whether some went to files.
    fn spilled(hashes: &[u64], (threads, chunk, memory): Case) -> (io::Result<Hashes>, bool) {
        let spill = Spill {
            chunk,
            given: memory,
            memory: AtomicUsize::new(memory),
            ..Spill::default()
        };
        std::thread::scope(|scope| {
            for t in 0..threads {
                let spill = &spill;
                scope.spawn(move || {
                    let mut writer = spill.writer();
                    for &hash in hashes.iter().skip(t).step_by(threads) {
                        writer.add(hash);
                    }
                    writer.finish();
                });
            }
        });
        let in_files = lock(&spill.written).iter().any(|w| w.file.is_some());
        (spill.duplicates(2), in_files)
    }

    /// Threads, chunk size and memory.
    type Case = (usize, usize, usize);

    /// Every number of threads and chunk size, with the hashes all in files, some (two blocks'
    /// worth: less than the test's 2 MiB), and all in memory.
    fn cases() -> impl Iterator<Item = Case> {
        let threads = [1, 2, 3].into_iter();
        let chunks = threads.flat_map(|t| [(t, CHUNK), (t, LARGE_CHUNK)]);
        chunks.flat_map(|(t, c)| [0, 2 * BLOCK, MEMORY].map(|m| (t, c, m)))
    }

    #[test]
    fn the_hashes_written_twice_are_found_and_no_other() {
        let mut rng = fastrand::Rng::with_seed(9);
        // Enough for full chunks of every share, and a few in one share only.
        let mut hashes: Vec<u64> = (0..300_000).map(|_| rng.u64(..)).collect();
        hashes.extend((0..2_000).map(|i| (7 << 56) | i));
        hashes.push(0);
        let distinct: Hashes = hashes.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            hashes.len(),
            "a collision in the test's hashes"
        );
        for case in cases() {
            let (found, in_files) = spilled(&hashes, case);
            assert!(found.unwrap().is_empty(), "{case:?}");
            assert_eq!(in_files, case.2 < MEMORY, "{case:?}");
        }
        let twice: Vec<u64> = (0..500).map(|i| hashes[i * 601]).chain([0]).collect();
        let mut all = hashes.clone();
        all.extend(&twice);
        rng.shuffle(&mut all);
        for case in cases() {
            let found = spilled(&all, case).0.unwrap();
            // 0 and 1 share a slot's mark: 1 may be flagged with 0 (a candidate, checked).
            let found: Hashes = found.into_iter().filter(|&h| h != 1).collect();
            let expected: Hashes = twice.iter().copied().collect();
            assert_eq!(found, expected, "(threads, chunk, memory) {case:?}");
        }
    }

    /// A file that cannot be made is said, not taken for a share without duplicates.
    #[test]
    fn a_file_not_written_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let spill = Spill {
            dir: Some(dir.path().join("missing")),
            given: 0,
            memory: AtomicUsize::new(0),
            ..Spill::default()
        };
        let mut writer = spill.writer();
        (0..CHUNK as u64 * 3).for_each(|i| writer.add(i << 56));
        writer.finish();
        let e = spill.duplicates(2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound, "{e}");
    }

    /// Memory for the hashes of a file whose rows fit, or are few and not known; none for
    /// larger ones, whose hashes would be written to files all the same.
    #[test]
    fn memory_is_given_to_the_files_whose_hashes_fit() {
        let fit = (MEMORY / BYTES) as u64;
        for (rows, given) in [(Some(fit), MEMORY), (None, MEMORY), (Some(fit + 1), 0)] {
            let spill = Spill::for_file(1 << 30, rows);
            assert_eq!(spill.memory.load(Ordering::Relaxed), given, "{rows:?}");
            assert_eq!(spill.given, given);
        }
    }

    #[test]
    fn a_spill_cleared_forgets_its_hashes() {
        let spill = Spill::default();
        let mut writer = spill.writer();
        (0..3).for_each(|_| writer.add(42));
        writer.finish();
        assert_eq!(spill.duplicates(1).unwrap().len(), 1);
        assert!(spill.memory.load(Ordering::Relaxed) < MEMORY);
        spill.clear();
        assert!(spill.duplicates(1).unwrap().is_empty());
        assert_eq!(
            spill.memory.load(Ordering::Relaxed),
            MEMORY,
            "its memory given back"
        );
    }
}
