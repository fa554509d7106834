//! What the emulators keep, stored compactly: a demo at a million rows keeps four million
//! contacts and stages a million Eloqua records. A record is one byte string holding its
//! fields, each as the index of its name (names are kept once per store) and its
//! length-prefixed value; a `BTreeMap<String, String>` per record cost roughly 400 bytes, this
//! roughly 100–150.

use std::collections::{BTreeMap, HashMap};

/// One vendor's kept contacts: key → fields.
#[derive(Debug, Default)]
pub(crate) struct Contacts {
    names: Names,
    records: HashMap<Box<str>, Box<[u8]>>,
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
        self.records.len()
    }

    /// Whether a contact has this key.
    pub(crate) fn contains_key(&self, key: &str) -> bool {
        self.records.contains_key(key)
    }

    /// A contact's fields.
    pub(crate) fn get(&self, key: &str) -> Option<BTreeMap<String, String>> {
        self.records
            .get(key)
            .map(|record| self.names.decode(record))
    }

    /// Adds a contact, or replaces its fields.
    pub(crate) fn insert(&mut self, key: String, fields: BTreeMap<String, String>) {
        let record = self.names.encode(pairs(&fields));
        self.records.insert(key.into_boxed_str(), record);
    }

    /// Sets these fields of an existing contact (the others are kept); false if there is none.
    pub(crate) fn update(&mut self, key: &str, fields: BTreeMap<String, String>) -> bool {
        let Some(mut all) = self.get(key) else {
            return false;
        };
        all.extend(fields);
        let record = self.names.encode(pairs(&all));
        *self.records.get_mut(key).expect("exists") = record;
        true
    }

    /// Keeps only the fields of a contact whose name passes `keep`.
    pub(crate) fn retain_fields(&mut self, key: &str, keep: impl Fn(&str) -> bool) {
        if let Some(mut all) = self.get(key) {
            all.retain(|name, _| keep(name));
            let record = self.names.encode(pairs(&all));
            *self.records.get_mut(key).expect("exists") = record;
        }
    }

    /// Forgets a contact.
    pub(crate) fn remove(&mut self, key: &str) {
        self.records.remove(key);
    }

    /// Keeps only the contacts whose key passes `keep`.
    pub(crate) fn retain(&mut self, keep: impl Fn(&str) -> bool) {
        self.records.retain(|key, _| keep(key));
        self.records.shrink_to_fit();
    }

    /// Every contact, by key.
    pub(crate) fn to_map(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        self.records
            .iter()
            .map(|(key, record)| (key.to_string(), self.names.decode(record)))
            .collect()
    }
}

/// A map's fields as the codec takes them.
fn pairs(fields: &BTreeMap<String, String>) -> impl Iterator<Item = (&str, &str)> + Clone {
    fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
            let mut len = value.len();
            while len >= 0x80 {
                record.push((len as u8) | 0x80);
                len >>= 7;
            }
            record.push(len as u8);
            record.extend_from_slice(value.as_bytes());
        }
        record.into_boxed_slice()
    }

    /// A record's fields (the last value of a name given twice).
    pub(crate) fn decode(&self, record: &[u8]) -> BTreeMap<String, String> {
        self.pairs(record).into_iter().collect()
    }

    /// A record's fields in the order they were given.
    pub(crate) fn pairs(&self, mut record: &[u8]) -> Vec<(String, String)> {
        let mut fields = Vec::new();
        while let [a, b, rest @ ..] = record {
            let name = &self.names[usize::from(u16::from_le_bytes([*a, *b]))];
            let (mut len, mut shift, mut used) = (0usize, 0, 0);
            for byte in rest {
                used += 1;
                len |= usize::from(byte & 0x7f) << shift;
                shift += 7;
                if byte & 0x80 == 0 {
                    break;
                }
            }
            let (value, next) = rest[used..].split_at(len);
            let value = std::str::from_utf8(value).expect("encoded from a String");
            fields.push((name.to_string(), value.to_owned()));
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
}
