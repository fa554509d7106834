//! NP6's contact fields (`GET /fields`) as [`Fields`].

use super::{types, Client};
use crate::{error::call, Error, Field, FieldKind, Fields, Vendor};

impl Client {
    /// The account's contact fields (`GET /fields`): what a column map names, by id or name.
    pub async fn fields(&self) -> Result<Fields, Error> {
        let list = call(
            Vendor::Mailperformance,
            "listFields",
            self.list_fields().send(),
        )
        .await?
        .into_inner();
        Ok(Fields::new(
            Vendor::Mailperformance,
            list.0.iter().map(field).collect(),
        ))
    }
}

fn field(f: &types::Field) -> Field {
    let kind = match f.type_.as_str() {
        "email" => FieldKind::Email,
        "phone" => FieldKind::Phone,
        "textField" | "textArea" => FieldKind::Text,
        "numeric" => FieldKind::Number,
        "date" => FieldKind::Date,
        "singleSelectList" => FieldKind::List,
        "multipleSelectList" => FieldKind::MultiList,
        _ => FieldKind::Other,
    };
    let mut field = Field::new(f.id.to_string(), f.name.clone(), kind, f.type_.clone());
    field.unique = f.is_unicity;
    field.mandatory = f.is_mandatory;
    // A text field's constraint bounds its length (inferred: the docs name the operators,
    // not what they bound; a numeric field's is a bound on its value, not read here).
    if matches!(kind, FieldKind::Text | FieldKind::Email | FieldKind::Phone) {
        if let Some(types::FieldConstraint {
            operator: Some(operator),
            value: Some(value),
        }) = &f.constraint
        {
            let bound = value.trim().parse::<u32>().ok();
            field.max_length = match operator {
                // Smaller than; smaller than or equal.
                2 => bound.and_then(|b| b.checked_sub(1)),
                4 | 5 => bound,
                _ => None,
            };
        }
    }
    field
}
