//! What the emulators keep. A demo at a million rows keeps four million contacts: each
//! vendor's contacts are written one after the other to a log, in an anonymous temporary file
//! (removed when the sandbox stops, opened by nobody else), and only an index of where each
//! one starts stays in memory, about ten bytes a contact. A record is one byte string holding
//! its fields, each as the index of its name (names are kept once per store) and its
//! length-prefixed value.

use std::{
    borrow::Cow,
    collections::{BTreeMap, HashMap},
    fs::File,
    hash::BuildHasher,
    io::{Read, Seek, SeekFrom, Write},
};

use hashbrown::{DefaultHashBuilder, HashTable};

/// Bytes of the log kept in memory before they are written to its file.
const TAIL: usize = if cfg!(test) { 64 } else { 1 << 20 };
/// An index entry is the entry's offset in the log (its low 40 bits: a log of up to 1 TiB)
/// and 24 bits of its key's hash (the others), so that a probe rarely reads the log.
const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// One vendor's kept contacts: key → fields.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    names: Names,
    store: Store,
}

/// A set of keys kept as the contacts are (an import's keys seen so far).
#[derive(Debug, Default)]
pub(crate) struct Keys(Store);

/// Records kept in the order they came, as the contacts are (Eloqua's staged records).
#[derive(Default)]
pub(crate) struct Spool {
    log: Log,
    len: usize,
}

/// Field names, each kept once, and the records that name them by index: each field as its
/// name's index (2 bytes), its value's length (LEB128) and the value.
#[derive(Debug, Default)]
pub(crate) struct Names {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u16>,
}

impl Contacts {
    /// How many contacts are kept.
    pub(crate) fn len(&self) -> usize {
        self.store.index.len()
    }

    /// Whether a contact has this key.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.store.find(key.as_bytes()).is_some()
    }

    /// A contact's fields.
    pub(crate) fn get(&self, key: &str) -> Option<BTreeMap<String, String>> {
        let entry = self.store.read(key.as_bytes())?;
        Some(self.names.decode(Log::parts(&entry).1))
    }

    /// Adds a contact, or replaces its fields.
    pub(crate) fn insert(&mut self, key: String, fields: BTreeMap<String, String>) {
        let record = self.names.encode(pairs(&fields));
        self.store.put(key.as_bytes(), &record);
    }

    /// Sets these fields of an existing contact (the others are kept); false if there is none.
    pub(crate) fn update(&mut self, key: &str, fields: BTreeMap<String, String>) -> bool {
        let Some(mut all) = self.get(key) else {
            return false;
        };
        all.extend(fields);
        let record = self.names.encode(pairs(&all));
        self.store.put(key.as_bytes(), &record);
        true
    }

    /// Keeps only the fields of a contact whose name passes `keep`.
    pub(crate) fn retain_fields(&mut self, key: &str, keep: impl Fn(&str) -> bool) {
        if let Some(mut all) = self.get(key) {
            all.retain(|name, _| keep(name));
            let record = self.names.encode(pairs(&all));
            self.store.put(key.as_bytes(), &record);
        }
    }

    /// Forgets a contact.
    pub(crate) fn remove(&mut self, key: &str) {
        self.store.remove(key.as_bytes());
    }

    /// Keeps only the contacts whose key passes `keep`.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        let log = &self.store.log;
        self.store.index.retain(|entry| {
            let entry = log.read(*entry);
            keep(std::str::from_utf8(Log::parts(&entry).0).expect("keys are text"))
        });
        self.store.index.shrink_to_fit(|entry| spread(*entry));
    }

    /// Every contact, by key.
    pub(crate) fn to_map(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.store
            .index
            .iter()
            .map(|entry| {
                let entry = self.store.log.read(*entry);
                let (key, record) = Log::parts(&entry);
                let key = std::str::from_utf8(key).expect("keys are text");
                (key.to_owned(), self.names.decode(record))
            })
            .collect()
    }
}

impl Keys {
    /// Adds a key: false if it was there already.
    pub(crate) fn insert(&mut self, key: &str) -> bool {
        // One probe: a key added again only writes a few bytes more to the log.
        self.0.put(key.as_bytes(), &[])
    }

    /// Whether the key is there.
    pub(crate) fn contains(&self, key: &str) -> bool {
        self.0.find(key.as_bytes()).is_some()
    }
}

impl Spool {
    /// Keeps a record.
    pub(crate) fn push(&mut self, record: &[u8]) {
        self.log.append(&[], record);
        self.len += 1;
    }

    /// How many records are kept.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The records, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.log.entries().map(|mut entry| {
            let start = entry.len() - Log::parts(&entry).1.len();
            entry.drain(..start);
            entry
        })
    }
}

/// A map's fields as the codec takes them.
fn pairs(fields: &BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> + Clone {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Keys and their records in a log, and an index of where each key's last entry starts.
#[derive(Default)]
struct Store {
    log: Log,
    index: HashTable<u64>,
    hasher: DefaultHashBuilder,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("keys", &self.index.len())
            .field("log_bytes", &self.log.len())
            .finish()
    }
}

/// The table's hash of an index entry, from the 24 bits of the key's hash it keeps (spread
/// over the 64 bits: the table takes its buckets from the low bits and its tags from the top).
fn spread(entry: u64) -> u64 {
    (entry >> OFFSET_BITS).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl Store {
    /// The 24 bits of the key's hash an index entry keeps, in place.
    fn tag(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key) >> OFFSET_BITS << OFFSET_BITS
    }

    /// The index entry of a key.
    fn find(&self, key: &[u8]) -> Option<u64> {
        let tag = self.tag(key);
        let log = &self.log;
        self.index
            .find(spread(tag), |entry| log.holds(*entry, tag, key))
            .copied()
    }

    /// A key's log entry, read once (the lookup's own reading).
    fn read(&self, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        let tag = self.tag(key);
        let mut read = None;
        self.index.find(spread(tag), |entry| {
            read = self.log.read_if(*entry, tag, key);
            read.is_some()
        })?;
        read
    }

    /// Writes a key's record: true if the key is new (one probe of the index).
    fn put(&mut self, key: &[u8], record: &[u8]) -> bool {
        let tag = self.tag(key);
        let entry = self.log.append(key, record) | tag;
        let log = &self.log;
        let found = self
            .index
            .entry(spread(tag), |old| log.holds(*old, tag, key), |e| spread(*e));
        match found {
            hashbrown::hash_table::Entry::Occupied(mut old) => {
                *old.get_mut() = entry;
                false
            }
            hashbrown::hash_table::Entry::Vacant(new) => {
                new.insert(entry);
                true
            }
        }
    }

    /// Forgets a key.
    fn remove(&mut self, key: &[u8]) {
        let tag = self.tag(key);
        let log = &self.log;
        if let Ok(found) = self
            .index
            .find_entry(spread(tag), |entry| log.holds(*entry, tag, key))
        {
            found.remove();
        }
    }
}

/// Entries appended one after the other, each its key's length and its record's (LEB128),
/// the key and the record: in a file, but for the last `TAIL` bytes or so.
#[derive(Default)]
struct Log {
    /// `None` until the first bytes are written out.
    file: Option<File>,
    /// Bytes of the log in the file.
    written: u64,
    /// The bytes after them.
    tail: Vec<u8>,
    /// Set when the file could not be made or written: the log then stays in memory.
    in_memory: bool,
}

impl Log {
    fn len(&self) -> u64 {
        self.written + self.tail.len() as u64
    }

    /// Appends an entry: where it starts.
    fn append(&mut self, key: &[u8], record: &[u8]) -> u64 {
        let offset = self.len();
        assert!(
            offset <= OFFSET_MASK,
            "the sandbox keeps up to 1 TiB of contacts per vendor"
        );
        leb128(&mut self.tail, key.len());
        leb128(&mut self.tail, record.len());
        self.tail.extend_from_slice(key);
        self.tail.extend_from_slice(record);
        if self.tail.len() >= TAIL && !self.in_memory {
            self.write_out();
        }
        offset
    }

    fn write_out(&mut self) {
        let file = match &mut self.file {
            Some(file) => file,
            None => match tempfile::tempfile() {
                Ok(file) => self.file.insert(file),
                Err(e) => {
                    tracing::warn!(
                        "the sandbox keeps its contacts in memory: no temporary file ({e})"
                    );
                    self.in_memory = true;
                    return;
                }
            },
        };
        let written = file
            .seek(SeekFrom::Start(self.written))
            .and_then(|_| file.write_all(&self.tail));
        match written {
            Ok(()) => {
                self.written += self.tail.len() as u64;
                self.tail.clear();
            }
            Err(e) => {
                tracing::warn!("the sandbox keeps its contacts in memory from now on: {e}");
                self.in_memory = true;
            }
        }
    }

    /// The entry at `offset` (an index entry: its tag bits are ignored).
    fn read(&self, offset: u64) -> Cow<'_, [u8]> {
        let offset = offset & OFFSET_MASK;
        if offset >= self.written {
            let at = &self.tail[(offset - self.written) as usize..];
            return Cow::Borrowed(&at[..Self::size(at)]);
        }
        let read = || -> std::io::Result<Vec<u8>> {
            let mut file = self.file.as_ref().expect("written bytes are in the file");
            file.seek(SeekFrom::Start(offset))?;
            // Enough for both lengths, and most entries whole.
            let mut entry = vec![0; 128.min((self.written - offset) as usize)];
            file.read_exact(&mut entry)?;
            let size = Self::size(&entry);
            if size > entry.len() {
                let start = entry.len();
                entry.resize(size, 0);
                file.read_exact(&mut entry[start..])?;
            }
            entry.truncate(size);
            Ok(entry)
        };
        Cow::Owned(
            read().unwrap_or_else(|e| panic!("the sandbox cannot read back its contacts: {e}")),
        )
    }

    /// Every entry, in order: the file read through once, then the tail.
    fn entries(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        let mut file = self.file.as_ref().map(|mut file| {
            file.seek(SeekFrom::Start(0))
                .unwrap_or_else(|e| panic!("the sandbox cannot read back its records: {e}"));
            std::io::BufReader::with_capacity(1 << 16, file.take(self.written))
        });
        let mut tail = &self.tail[..];
        std::iter::from_fn(move || {
            if let Some(reader) = &mut file {
                match Self::next_entry(reader) {
                    Ok(Some(entry)) => return Some(entry),
                    Ok(None) => file = None,
                    Err(e) => panic!("the sandbox cannot read back its records: {e}"),
                }
            }
            if tail.is_empty() {
                return None;
            }
            let (entry, rest) = tail.split_at(Self::size(tail));
            tail = rest;
            Some(entry.to_vec())
        })
    }

    /// The next entry of a reader, `None` at its end.
    fn next_entry(reader: &mut impl std::io::BufRead) -> std::io::Result<Option<Vec<u8>>> {
        let mut entry = Vec::with_capacity(64);
        for _ in 0..2 {
            loop {
                let mut byte = [0];
                if reader.read(&mut byte)? == 0 {
                    return match entry.is_empty() {
                        true => Ok(None),
                        false => Err(std::io::ErrorKind::UnexpectedEof.into()),
                    };
                }
                entry.push(byte[0]);
                if byte[0] & 0x80 == 0 {
                    break;
                }
            }
        }
        let header = entry.len();
        entry.resize(Self::size(&entry), 0);
        reader.read_exact(&mut entry[header..])?;
        Ok(Some(entry))
    }

    /// Whether the index entry `entry` is that of `key`, whose hash gave `tag`: the log is read
    /// only when the tags agree.
    fn holds(&self, entry: u64, tag: u64, key: &[u8]) -> bool {
        self.read_if(entry, tag, key).is_some()
    }

    /// The entry `entry` points to, if it is that of `key` ([`Log::holds`]).
    fn read_if(&self, entry: u64, tag: u64, key: &[u8]) -> Option<Cow<'_, [u8]>> {
        if entry & !OFFSET_MASK != tag {
            return None;
        }
        let bytes = self.read(entry);
        (Self::parts(&bytes).0 == key).then_some(bytes)
    }

    /// The size of the entry `bytes` start with, from its lengths.
    fn size(bytes: &[u8]) -> usize {
        let (key, used) = read_leb128(bytes);
        let (record, more) = read_leb128(&bytes[used..]);
        used + more + key + record
    }

    /// An entry's key and record.
    fn parts(entry: &[u8]) -> (&[u8], &[u8]) {
        let (key, used) = read_leb128(entry);
        let (_, more) = read_leb128(&entry[used..]);
        entry[used + more..].split_at(key)
    }
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// A LEB128 number and the bytes it took.
fn read_leb128(bytes: &[u8]) -> (usize, usize) {
    let (mut n, mut shift) = (0usize, 0);
    for (i, byte) in bytes.iter().enumerate() {
        n |= usize::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return (n, i + 1);
        }
    }
    panic!("a length is cut short")
}

impl Names {
    fn id(&mut self, name: &str) -> u16 {
        if let Some(id) = self.index.get(name) {
            return *id;
        }
        let id = u16::try_from(self.names.len()).expect("fewer than 65,536 field names");
        self.names.push(name.into());
        self.index.insert(name.into(), id);
        id
    }

    /// A record of these fields.
    pub(crate) fn encode<'a>(
        &mut self,
        fields: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    ) -> Box<[u8]> {
        let size = fields.clone().into_iter().map(|(_, v)| v.len() + 4).sum();
        let mut record = Vec::with_capacity(size);
        for (name, value) in fields {
            record.extend_from_slice(&self.id(name).to_le_bytes());
            leb128(&mut record, value.len());
            record.extend_from_slice(value.as_bytes());
        }
        record.into_boxed_slice()
    }

    /// A record's fields (the last value of a name given twice).
    pub(crate) fn decode(&self, mut record: &[u8]) -> BTreeMap<String, String> {
        let mut fields = BTreeMap::new();
        while let [a, b, rest @ ..] = record {
            let name = &self.names[usize::from(u16::from_le_bytes([*a, *b]))];
            let (len, used) = read_leb128(rest);
            let (value, next) = rest[used..].split_at(len);
            let value = std::str::from_utf8(value).expect("encoded from a String");
            fields.insert(name.to_string(), value.to_owned());
            record = next;
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_and_update() {
        let mut contacts = Contacts::default();
        let long = "é".repeat(200);
        let fields = BTreeMap::from([
            ("city".to_owned(), "Lille".to_owned()),
            ("empty".to_owned(), String::new()),
            ("long".to_owned(), long.clone()),
        ]);
        contacts.insert("a@x.io".into(), fields.clone());
        assert_eq!(contacts.get("a@x.io"), Some(fields));
        assert!(contacts.update(
            "a@x.io",
            BTreeMap::from([("city".to_owned(), "Lens".to_owned())])
        ));
        assert!(!contacts.update("b@x.io", BTreeMap::new()));
        let kept = contacts.get("a@x.io").unwrap();
        assert_eq!(
            (kept["city"].as_str(), kept["long"].as_str()),
            ("Lens", long.as_str())
        );
        contacts.retain_fields("a@x.io", |name| name != "long");
        assert!(!contacts.get("a@x.io").unwrap().contains_key("long"));
        contacts.insert("b@x.io".into(), BTreeMap::new());
        contacts.retain(|key| key.starts_with('b'));
        assert_eq!(contacts.to_map().keys().collect::<Vec<_>>(), ["b@x.io"]);
        contacts.remove("b@x.io");
        assert_eq!(contacts.len(), 0);
    }

    /// Thousands of contacts, most of them read back from the log's file (its tail is 64 bytes
    /// under test), against a map holding the same.
    #[test]
    fn the_log_agrees_with_a_map() {
        let mut contacts = Contacts::default();
        let mut expected: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut rng = fastrand::Rng::with_seed(7);
        for i in 0..5_000u32 {
            let key = format!("c{}@x.io", rng.u32(..2_000));
            match i % 7 {
                0 => {
                    contacts.remove(&key);
                    expected.remove(&key);
                }
                1 => {
                    let fields = BTreeMap::from([("n".to_owned(), i.to_string())]);
                    let updated = contacts.update(&key, fields.clone());
                    assert_eq!(updated, expected.contains_key(&key));
                    if let Some(old) = expected.get_mut(&key) {
                        old.extend(fields);
                    }
                }
                _ => {
                    let fields = BTreeMap::from([
                        ("city".to_owned(), "x".repeat(i as usize % 300)),
                        ("i".to_owned(), i.to_string()),
                    ]);
                    contacts.insert(key.clone(), fields.clone());
                    expected.insert(key, fields);
                }
            }
        }
        assert!(contacts.store.log.written > 0, "the log went to its file");
        assert_eq!(contacts.len(), expected.len());
        assert_eq!(contacts.to_map(), expected);
        for key in ["c1@x.io", "c2@x.io", "none@x.io"] {
            assert_eq!(contacts.get(key).as_ref(), expected.get(key), "{key}");
            assert_eq!(contacts.contains_key(key), expected.contains_key(key));
        }
        contacts.retain(|key| key.len() % 2 == 0);
        expected.retain(|key, _| key.len() % 2 == 0);
        assert_eq!(contacts.to_map(), expected);

        let mut spool = Spool::default();
        let records: Vec<Vec<u8>> = (0..500u32).map(|i| vec![b'r'; i as usize % 200]).collect();
        for record in &records {
            spool.push(record);
        }
        assert!(spool.log.written > 0);
        assert_eq!(spool.len(), records.len());
        assert_eq!(spool.iter().collect::<Vec<_>>(), records);
        assert_eq!(spool.iter().count(), records.len(), "read twice");

        let mut keys = Keys::default();
        assert!(keys.insert("a") && keys.insert("b") && !keys.insert("a"));
        assert!(keys.contains("b") && !keys.contains("c"));
    }
}
