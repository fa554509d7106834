//! Copernica's look-ups: a database by name (`GET /databases`), and its fields with its
//! collections' (`GET /database/{id}/fields`, `/collections`, `/collection/{id}/fields`) as
//! [`Fields`], every list read page by page.

use std::future::Future;

use super::{types, Client};
use crate::{error::call, Error, Field, FieldKind, Fields, Vendor};

const VENDOR: Vendor = Vendor::Copernica;

/// Objects asked for per page (the API's largest page).
const PAGE: i32 = 1000;

/// The most pages read of one list: a server that ignores `start` is not followed forever.
const MOST_PAGES: usize = 1000;

/// One page of a Copernica list, in its paging wrapper.
struct Page<T> {
    data: Vec<T>,
    start: i32,
    limit: i32,
    total: Option<types::ListTotal>,
}

macro_rules! page {
    ($list:expr) => {{
        let list = $list;
        Page {
            data: list.data,
            start: list.start,
            limit: list.limit,
            total: list.total,
        }
    }};
}

/// Every object of a list, asking `fetch(start)` for each page until a short page, the total
/// or a page that does not start where asked.
async fn every_page<T, F, Fut>(mut fetch: F) -> Result<Vec<T>, Error>
where
    F: FnMut(i32) -> Fut,
    Fut: Future<Output = Result<Page<T>, Error>>,
{
    let mut all = Vec::new();
    let mut start = 0;
    for _ in 0..MOST_PAGES {
        let page = fetch(start).await?;
        let count = page.data.len() as i32;
        all.extend(page.data);
        let listed = match page.total {
            Some(types::ListTotal::Int64(total)) => i64::from(start + count) >= total,
            _ => false,
        };
        if listed || count == 0 || count < page.limit.min(PAGE) || page.start != start {
            break;
        }
        start += count;
    }
    Ok(all)
}

impl Client {
    /// The database's id: `database` itself when it is a number, or else the id of the
    /// database of that name.
    pub(crate) async fn database_id(&self, database: &str) -> Result<i64, Error> {
        let database = database.trim();
        if let Ok(id) = database.parse::<i64>() {
            return Ok(id);
        }
        let databases = every_page(|start| async move {
            let request = self.list_databases().start(start).limit(PAGE).total(false);
            let list = call(VENDOR, "listDatabases", request.send()).await?;
            Ok(page!(list.into_inner()))
        })
        .await?;
        let name_of = |d: &types::Database| d.name.clone().unwrap_or_default();
        let Some(found) = databases.iter().find(|d| name_of(d) == database) else {
            let names: Vec<String> = databases.iter().map(name_of).collect();
            return Err(Error::InvalidConfig {
                setting: "database",
                reason: format!(
                    "Copernica has no database named `{database}` (it has: {})",
                    names.join(", ")
                ),
            });
        };
        let id = found.id.as_deref().unwrap_or_default();
        id.trim().parse().map_err(|_| Error::Decode {
            vendor: VENDOR,
            operation: "listDatabases",
            path: "data[].ID".into(),
            reason: format!("database `{database}` has no numeric id (`{id}`)"),
            excerpt: String::new(),
        })
    }

    /// The fields of `database` (its id or name: the API takes both), then its collections'
    /// fields written `Collection.Field`: what a column map names.
    pub async fn fields(&self, database: &str) -> Result<Fields, Error> {
        let id = database.trim();
        let mut fields: Vec<Field> = every_page(|start| async move {
            let request = self.list_database_fields().id(id).start(start).limit(PAGE);
            let list = call(VENDOR, "listDatabaseFields", request.send()).await?;
            Ok(page!(list.into_inner()))
        })
        .await?
        .iter()
        .filter_map(|f| field(f, None))
        .collect();
        let collections = every_page(|start| async move {
            let request = self
                .list_database_collections()
                .id(id)
                .start(start)
                .limit(PAGE);
            let list = call(VENDOR, "listDatabaseCollections", request.send()).await?;
            Ok(page!(list.into_inner()))
        })
        .await?;
        for collection in &collections {
            let (Some(name), Some(collection_id)) = (
                collection.name.as_deref(),
                collection
                    .id
                    .as_deref()
                    .and_then(|i| i.trim().parse::<i64>().ok()),
            ) else {
                continue;
            };
            let of_collection = every_page(|start| async move {
                let request = self
                    .list_collection_fields()
                    .id(collection_id)
                    .start(start)
                    .limit(PAGE);
                let list = call(VENDOR, "listCollectionFields", request.send()).await?;
                Ok(page!(list.into_inner()))
            })
            .await?;
            fields.extend(of_collection.iter().filter_map(|f| field(f, Some(name))));
        }
        Ok(Fields::new(VENDOR, fields))
    }
}

/// A field of the database, or of `collection` (named `Collection.Field`).
fn field(f: &types::Field, collection: Option<&str>) -> Option<Field> {
    let name = f.name.clone()?;
    let vendor_type = f.type_.clone().unwrap_or_default();
    let kind = match vendor_type.as_str() {
        "text" | "big" | "foreign_key" => FieldKind::Text,
        "email" => FieldKind::Email,
        "phone" | "phone_fax" | "phone_gsm" => FieldKind::Phone,
        "integer" => FieldKind::Integer,
        "float" => FieldKind::Number,
        "date" | "empty_date" => FieldKind::Date,
        "datetime" | "empty_datetime" => FieldKind::DateTime,
        "select" => FieldKind::List,
        _ => FieldKind::Other,
    };
    let id = match collection {
        Some(collection) => format!("{collection}.{name}"),
        None => name,
    };
    let mut field = Field::new(id.clone(), id, kind, vendor_type);
    field.max_length = f
        .length
        .as_deref()
        .and_then(|l| l.trim().parse::<u32>().ok())
        .filter(|&l| l > 0 && matches!(kind, FieldKind::Text | FieldKind::Email));
    // A select field's `value` holds its choices, one per line ("the default value of the
    // field. Can be a newline separated list": copernica.com/en/documentation/database-fields).
    if kind == FieldKind::List {
        field.values = f
            .value
            .iter()
            .flat_map(|v| v.lines())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(String::from)
            .collect();
    }
    Some(field)
}
