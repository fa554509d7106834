//! `esp-imports fields <VENDOR>`: the vendor's contact fields, which `--map` names, as a
//! table or JSON.

use esp_imports::{Field, Fields, Importer, Vendor};

use crate::{exit, import, Failure, FieldsArgs};

/// Runs the command; returns the exit code.
pub async fn run(args: FieldsArgs) -> u8 {
    let json = args.json;
    match fields(args).await {
        Ok(fields) if json => {
            println!(
                "{}",
                serde_json::to_string(&fields).expect("fields serialise")
            );
            exit::OK
        }
        Ok(fields) => {
            print!("{}", table(&fields));
            exit::OK
        }
        Err(failure) => import::fail(failure, json, false),
    }
}

async fn fields(args: FieldsArgs) -> Result<Fields, Failure> {
    let vendor = Vendor::from(args.vendor);
    if vendor == Vendor::Copernica && args.database.is_none() {
        return Err(crate::Usage("copernica needs --database ID".into()).into());
    }
    let place = import::vendor_place(vendor, args.database.as_deref(), args.site)?;
    let config = import::http_config(&args.connection)?;
    let location = import::location(&args.connection, vendor, &config)?;
    let importer = Importer::new(import::credentials(vendor)?, location, &config)?;
    Ok(importer.fields(&place).await?)
}

/// The fields as an aligned table, then how to name them.
pub fn table(fields: &Fields) -> String {
    let yes = |b: bool| if b { "yes" } else { "" }.to_owned();
    let row = |f: &Field| {
        [
            f.id.clone(),
            f.name.clone(),
            format!("{} ({})", f.kind, f.vendor_type),
            f.max_length.map(|l| l.to_string()).unwrap_or_default(),
            yes(f.unique),
            yes(f.mandatory),
            yes(f.read_only),
            f.values.join(", "),
        ]
    };
    let header = [
        "ID",
        "NAME",
        "TYPE",
        "MAX",
        "UNIQUE",
        "REQUIRED",
        "READ-ONLY",
        "VALUES",
    ]
    .map(String::from);
    let rows: Vec<[String; 8]> = std::iter::once(header)
        .chain(fields.fields.iter().map(row))
        .collect();
    let mut widths = [0; 8];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push_str(&format!(
        "{} fields of {}. Name one in --map COLUMN=FIELD by its ID or its NAME (case and \
         accents aside).\n",
        fields.fields.len(),
        fields.vendor
    ));
    out
}
