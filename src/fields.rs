//! A vendor's contact fields, read from its API ([`Fields`]), and column maps resolved against
//! them: a field named by its id or by its name ([`Fields::find`], [`Fields::resolve`]), or
//! every column matched by its header ([`Fields::auto_map`]).

use std::{
    collections::{BTreeMap, HashMap},
    fmt,
};

use serde::Serialize;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

use crate::{Error, Vendor};

/// What values a field takes, in the library's terms (each vendor's own type is kept in
/// [`Field::vendor_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FieldKind {
    /// Free text.
    Text,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A whole number.
    Integer,
    /// A number, decimals allowed.
    Number,
    /// A date (a time of day may be allowed, as the vendor reads dates).
    Date,
    /// A date and a time of day.
    DateTime,
    /// True or false.
    Boolean,
    /// One value of a list ([`Field::values`], where the vendor tells them).
    List,
    /// Several values of a list.
    MultiList,
    /// A type the library does not know: its values are not checked.
    Other,
}

impl fmt::Display for FieldKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldKind::Text => "text",
            FieldKind::Email => "email",
            FieldKind::Phone => "phone",
            FieldKind::Integer => "integer",
            FieldKind::Number => "number",
            FieldKind::Date => "date",
            FieldKind::DateTime => "datetime",
            FieldKind::Boolean => "boolean",
            FieldKind::List => "list",
            FieldKind::MultiList => "multi-list",
            FieldKind::Other => "other",
        })
    }
}

/// One contact field of a vendor's account, as its API describes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Field {
    /// What a column map names: the NP6 field id (`1234`), the Copernica field name (`email`,
    /// `Order.OrderID` for a collection's field), the Mindbaz `fldN`, the Eloqua internal name
    /// (`C_EmailAddress`).
    pub id: String,
    /// The field's name as people see it (NP6 `Email`, Eloqua `Email Address`).
    pub name: String,
    /// What values it takes.
    pub kind: FieldKind,
    /// The vendor's own type (NP6 `singleSelectList`, Mindbaz `4`, Eloqua `emailAddress`).
    pub vendor_type: String,
    /// The longest value it takes, in characters, where the vendor says.
    pub max_length: Option<u32>,
    /// The vendor identifies contacts by it (NP6 `isUnicity`, Eloqua
    /// `hasUniquenessConstraint`, the Mindbaz fields a `keyDbFieldName` may name).
    pub unique: bool,
    /// Every contact must have a value (NP6 `isMandatory`, Eloqua `hasNotNullConstraint`).
    pub mandatory: bool,
    /// Imports cannot write it (Eloqua `hasReadOnlyConstraint`).
    pub read_only: bool,
    /// The values of a list field, where the vendor gives them with the field.
    pub values: Vec<String>,
}

impl Field {
    /// A field with an id, a name and a kind; the rest unset (no length, not unique...).
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        kind: FieldKind,
        vendor_type: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            kind,
            vendor_type: vendor_type.into(),
            max_length: None,
            unique: false,
            mandatory: false,
            read_only: false,
            values: Vec::new(),
        }
    }

    /// `name (id)`, or the id alone when they are the same.
    pub(crate) fn label(&self) -> String {
        if fold(&self.name) == fold(&self.id) {
            self.id.clone()
        } else {
            format!("{} ({})", self.name, self.id)
        }
    }
}

/// The contact fields of a vendor's account: what `fields` lists, and what a column map is
/// resolved against.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Fields {
    /// Whose fields.
    pub vendor: Vendor,
    /// In the vendor's order.
    pub fields: Vec<Field>,
}

/// Why a name does not resolve to one field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unresolved {
    /// No field has this id or name; the closest ones (`name (id)`), best first.
    Unknown {
        /// The closest fields, best first (at most five; none when nothing is close).
        closest: Vec<String>,
    },
    /// Several fields have this name (without case, accents or surrounding spaces).
    Ambiguous {
        /// Every field it could be (`name (id)`).
        candidates: Vec<String>,
    },
}

impl fmt::Display for Unresolved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unresolved::Unknown { closest } if closest.is_empty() => {
                f.write_str("no field has this name or id")
            }
            Unresolved::Unknown { closest } => write!(
                f,
                "no field has this name or id (the closest: {})",
                closest.join(", ")
            ),
            Unresolved::Ambiguous { candidates } => write!(
                f,
                "several fields have this name ({}): name one by its id",
                candidates.join(", ")
            ),
        }
    }
}

/// How [`Fields::auto_map`] matched a file's header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AutoMap {
    /// Column → field id, for every column whose header is one field's id or name.
    pub columns: BTreeMap<String, String>,
    /// The columns no field matches.
    pub unmatched: Vec<String>,
    /// The columns several fields match, with those fields (`name (id)`): not mapped.
    pub ambiguous: BTreeMap<String, Vec<String>>,
}

/// The fields by what names them, as [`Fields::find`] reads a text: the exact id first, or
/// else every field whose id (as the vendor tells ids apart) or name (without case, accents
/// or surrounding spaces) it is, in the fields' order.
struct Index<'f> {
    ids: HashMap<&'f str, usize>,
    named: HashMap<String, Vec<usize>>,
}

impl<'f> Index<'f> {
    fn new(fields: &'f Fields) -> Self {
        let mut index = Index {
            ids: HashMap::new(),
            named: HashMap::new(),
        };
        for (i, f) in fields.fields.iter().enumerate() {
            index.ids.entry(f.id.as_str()).or_insert(i);
            for key in [fields.normal(&f.id), fold(&f.name)] {
                let named = index.named.entry(key).or_default();
                if named.last() != Some(&i) {
                    named.push(i);
                }
            }
        }
        index
    }

    /// The indexes of the fields `text` names.
    fn lookup(&self, fields: &Fields, text: &str) -> &[usize] {
        let text = text.trim();
        match self.ids.get(text) {
            Some(i) => std::slice::from_ref(i),
            None => self
                .named
                .get(&fields.normal(text))
                .map_or(&[], Vec::as_slice),
        }
    }
}

impl Fields {
    /// The fields of `vendor`'s account.
    pub fn new(vendor: Vendor, fields: Vec<Field>) -> Self {
        Self { vendor, fields }
    }

    /// The field `text` names: the field whose id it is, or else the one field whose id or
    /// name it is without case, accents or surrounding spaces (an Eloqua
    /// `{{Contact.Field(C_X)}}` statement names `C_X`, an NP6 id may have leading zeros).
    pub fn find(&self, text: &str) -> Result<&Field, Unresolved> {
        self.find_in(&Index::new(self), text)
    }

    /// [`Fields::find`] with the index of these fields, made once for many lookups.
    fn find_in(&self, index: &Index<'_>, text: &str) -> Result<&Field, Unresolved> {
        let found = index.lookup(self, text);
        match found[..] {
            [i] => Ok(&self.fields[i]),
            [] => Err(Unresolved::Unknown {
                closest: self.closest(&self.normal(text.trim())),
            }),
            _ => Err(Unresolved::Ambiguous {
                candidates: found.iter().map(|&i| self.fields[i].label()).collect(),
            }),
        }
    }

    /// `columns` (file column → a field's id or name) with every field named by its id, each
    /// found with [`Fields::find`] (an Eloqua statement that names no contact field, such as
    /// `{{Contact.Id}}`, is kept as it is). A name that is unknown or ambiguous is an
    /// [`Error::InvalidConfig`] that names the column and lists the candidates.
    pub fn resolve(
        &self,
        columns: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, Error> {
        let index = Index::new(self);
        columns
            .iter()
            .map(|(column, field)| match self.find_in(&index, field) {
                _ if self.vendor == Vendor::Eloqua
                    && field.trim().starts_with("{{")
                    && !field.trim().starts_with("{{Contact.Field(") =>
                {
                    Ok((column.clone(), field.trim().to_owned()))
                }
                Ok(found) => Ok((column.clone(), found.id.clone())),
                Err(why) => Err(Error::InvalidConfig {
                    setting: "column map",
                    reason: format!("`{column}={field}`: {}: {why}", self.vendor),
                }),
            })
            .collect()
    }

    /// Maps every header to the field it names (as [`Fields::find`] reads it), leaving out
    /// the headers that name no field or several. The fields are indexed once, so a wide
    /// header costs one lookup a column, not a pass over the fields.
    pub fn auto_map<'a>(&self, headers: impl IntoIterator<Item = &'a str>) -> AutoMap {
        let index = Index::new(self);
        let mut map = AutoMap::default();
        for header in headers {
            let found = index.lookup(self, header);
            match found[..] {
                [i] => {
                    map.columns
                        .insert(header.to_owned(), self.fields[i].id.clone());
                }
                [] => map.unmatched.push(header.to_owned()),
                _ => {
                    let candidates = found.iter().map(|&i| self.fields[i].label()).collect();
                    map.ambiguous.insert(header.to_owned(), candidates);
                }
            }
        }
        map
    }

    /// The field whose id is `id` (as [`Fields::resolve`] gives ids).
    pub fn by_id(&self, id: &str) -> Option<&Field> {
        let wanted = self.normal(id);
        self.fields.iter().find(|f| self.normal(&f.id) == wanted)
    }

    /// An id or name folded, as the vendor tells ids apart: NP6 ids as numbers, Eloqua
    /// statements as the field they name.
    fn normal(&self, text: &str) -> String {
        let folded = fold(text);
        match self.vendor {
            Vendor::Mailperformance => match folded.parse::<i64>() {
                Ok(number) => number.to_string(),
                Err(_) => folded,
            },
            Vendor::Eloqua => match folded
                .strip_prefix("{{contact.field(")
                .and_then(|f| f.strip_suffix(")}}"))
            {
                Some(inner) => inner.trim().to_owned(),
                None => folded,
            },
            _ => folded,
        }
    }

    /// The fields closest to `wanted` (folded) by id or name, best first.
    fn closest(&self, wanted: &str) -> Vec<String> {
        let mut scored: Vec<(f64, &Field)> = self
            .fields
            .iter()
            .map(|f| {
                let score = strsim::jaro_winkler(wanted, &fold(&f.name))
                    .max(strsim::jaro_winkler(wanted, &self.normal(&f.id)));
                (score, f)
            })
            .filter(|(score, _)| *score >= 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        scored.iter().take(5).map(|(_, f)| f.label()).collect()
    }
}

/// `text` without case, accents or surrounding spaces.
pub(crate) fn fold(text: &str) -> String {
    text.trim()
        .nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn np6() -> Fields {
        let mut email = Field::new("1234", "Email", FieldKind::Email, "email");
        email.unique = true;
        Fields::new(
            Vendor::Mailperformance,
            vec![
                email,
                Field::new("1235", "Prénom", FieldKind::Text, "textField"),
                Field::new("1240", "Date de naissance", FieldKind::Date, "date"),
                Field::new("1241", "Date de Naissance", FieldKind::Text, "textField"),
            ],
        )
    }

    #[test]
    fn names_and_ids_resolve() {
        let fields = np6();
        assert_eq!(fields.find("1234").unwrap().name, "Email");
        assert_eq!(fields.find("01234").unwrap().name, "Email");
        assert_eq!(fields.find(" email ").unwrap().id, "1234");
        assert_eq!(fields.find("PRENOM").unwrap().id, "1235");
        assert_eq!(fields.find("prénom").unwrap().id, "1235");
    }

    #[test]
    fn ambiguous_and_unknown_names_list_candidates() {
        let fields = np6();
        assert_eq!(
            fields.find("date de naissance"),
            Err(Unresolved::Ambiguous {
                candidates: vec![
                    "Date de naissance (1240)".into(),
                    "Date de Naissance (1241)".into()
                ]
            })
        );
        let Err(Unresolved::Unknown { closest }) = fields.find("Emial") else {
            panic!("Emial is no field");
        };
        assert_eq!(closest.first().map(String::as_str), Some("Email (1234)"));
        assert_eq!(
            fields.find("zzzz"),
            Err(Unresolved::Unknown { closest: vec![] })
        );
        let columns = BTreeMap::from([("mail".to_owned(), "Emial".to_owned())]);
        let e = fields.resolve(&columns).unwrap_err().to_string();
        assert!(e.contains("`mail=Emial`"), "{e}");
        assert!(e.contains("Email (1234)"), "{e}");
    }

    #[test]
    fn auto_map_refuses_to_guess() {
        let map = np6().auto_map(["email", "Prenom", "date de naissance", "notes"]);
        assert_eq!(
            map.columns,
            BTreeMap::from([
                ("email".to_owned(), "1234".to_owned()),
                ("Prenom".to_owned(), "1235".to_owned())
            ])
        );
        assert_eq!(map.unmatched, ["notes"]);
        assert_eq!(map.ambiguous["date de naissance"].len(), 2);
    }

    /// The index of `auto_map` gives what `find` gives, header by header.
    #[test]
    fn auto_map_reads_headers_as_find_does() {
        let mut fields = np6();
        // A name that is another field's id.
        fields
            .fields
            .push(Field::new("1300", "1235", FieldKind::Text, "textField"));
        let headers = [
            "1234",
            " 01234 ",
            "EMAIL",
            "prénom",
            "Date de naissance",
            "1235",
            "1300",
            "nope",
        ];
        let map = fields.auto_map(headers);
        for header in headers {
            match fields.find(header) {
                Ok(field) => assert_eq!(map.columns.get(header), Some(&field.id), "{header}"),
                Err(Unresolved::Ambiguous { candidates }) => {
                    assert_eq!(map.ambiguous.get(header), Some(&candidates), "{header}")
                }
                Err(Unresolved::Unknown { .. }) => {
                    assert!(map.unmatched.iter().any(|h| h == header), "{header}")
                }
            }
        }
        assert_eq!(
            map.columns.len() + map.ambiguous.len() + map.unmatched.len(),
            headers.len()
        );
    }

    #[test]
    fn eloqua_statements_name_their_field() {
        let fields = Fields::new(
            Vendor::Eloqua,
            vec![Field::new(
                "C_EmailAddress",
                "Email Address",
                FieldKind::Email,
                "emailAddress",
            )],
        );
        for text in [
            "C_EmailAddress",
            "c_emailaddress",
            "Email Address",
            "{{Contact.Field(C_EmailAddress)}}",
        ] {
            assert_eq!(fields.find(text).unwrap().id, "C_EmailAddress", "{text}");
        }
    }
}
