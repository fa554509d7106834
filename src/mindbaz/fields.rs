//! Mindbaz's subscriber fields (`GET /api/{idsite}/fields/list`) as [`Fields`].

use super::{types, Client};
use crate::{error::call, ApiError, Error, Field, FieldKind, Fields, Vendor};

const VENDOR: Vendor = Vendor::Mindbaz;

/// The fields an import's `keyDbFieldName` may name: the subscriber id, the e-mail, the
/// customer id (the vendor's list).
const KEYS: &[i32] = &[0, 1, 43];

impl Client {
    /// The fields of `site`'s subscriber table (`GET /api/{idsite}/fields/list`): what a
    /// column map names, by `fldN` or name.
    pub async fn fields(&self, site: i32) -> Result<Fields, Error> {
        let answer = call(VENDOR, "listFields", self.list_fields().idsite(site).send()).await?;
        let status = answer.status().as_u16();
        let list = answer.into_inner();
        let Some(data) = list.data.as_ref().filter(|_| list.success != Some(false)) else {
            return Err(Error::Api(ApiError {
                vendor: VENDOR,
                operation: "listFields",
                status,
                code: None,
                message: Some(list.error.clone().unwrap_or_else(|| "no fields".into())),
                request_id: None,
                body_excerpt: serde_json::to_string(&list).unwrap_or_default(),
            }));
        };
        Ok(Fields::new(VENDOR, data.iter().filter_map(field).collect()))
    }
}

fn field(f: &types::DbField) -> Option<Field> {
    let id = f.id?;
    let kind = match f.field_type {
        // `fld1` is the e-mail (the vendor's docs), stored as text.
        _ if id == 1 => FieldKind::Email,
        Some(1) => FieldKind::Text,
        Some(2) => FieldKind::Integer,
        Some(3) => FieldKind::Date,
        Some(4) => FieldKind::List,
        Some(5) => FieldKind::Boolean,
        _ => FieldKind::Other,
    };
    let vendor_type = f.field_type.map(|t| t.to_string()).unwrap_or_default();
    let name = f.name.clone().unwrap_or_default();
    let mut field = Field::new(format!("fld{id}"), name, kind, vendor_type);
    field.max_length = f
        .length
        .and_then(|l| u32::try_from(l).ok())
        .filter(|&l| l > 0);
    field.unique = KEYS.contains(&id);
    field.values = f
        .list
        .iter()
        .flatten()
        .filter_map(|v| v.value.clone())
        .collect();
    Some(field)
}
