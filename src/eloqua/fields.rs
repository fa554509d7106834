//! Eloqua's contact fields (`GET /contacts/fields`, every page) as [`Fields`].

use super::{types, Client};
use crate::{error::call, Error, Field, FieldKind, Fields, Vendor};

const VENDOR: Vendor = Vendor::Eloqua;

/// Fields asked per page (Eloqua's most).
const PAGE: i32 = 1000;

/// The most pages read: an instance has at most a few thousand fields, and a server that says
/// `hasMore` forever is not followed.
const MOST_PAGES: usize = 100;

impl Client {
    /// The instance's contact fields (`GET /contacts/fields`, every page): what a column map
    /// names, by internal name (`C_EmailAddress`), name (`Email Address`) or statement.
    pub async fn fields(&self) -> Result<Fields, Error> {
        let mut fields = Vec::new();
        let mut offset = 0;
        for _ in 0..MOST_PAGES {
            let request = self.list_contact_fields().limit(PAGE).offset(offset);
            let page = call(VENDOR, "listContactFields", request.send())
                .await?
                .into_inner();
            let count = page.items.len() as i32;
            fields.extend(page.items.iter().filter_map(field));
            if count == 0 || page.has_more != Some(true) {
                break;
            }
            offset += count;
        }
        Ok(Fields::new(VENDOR, fields))
    }
}

fn field(f: &types::ContactField) -> Option<Field> {
    let internal = f.internal_name.clone()?;
    let data_type = f.data_type.clone().unwrap_or_default();
    let kind = match data_type.as_str() {
        "emailAddress" => FieldKind::Email,
        "string" | "text" | "largeText" => FieldKind::Text,
        "number" => FieldKind::Number,
        "date" => FieldKind::Date,
        "boolean" => FieldKind::Boolean,
        _ => FieldKind::Other,
    };
    let name = f.name.clone().unwrap_or_else(|| internal.clone());
    let mut field = Field::new(internal, name, kind, data_type);
    field.unique = f.has_uniqueness_constraint == Some(true);
    field.mandatory = f.has_not_null_constraint == Some(true);
    field.read_only = f.has_read_only_constraint == Some(true);
    Some(field)
}
