//! Import a CSV file into a Copernica database in a few lines.
//!
//! ```sh
//! COPERNICA_ACCESS_TOKEN=… cargo run --example copernica_import -- contacts.csv 42
//! ```
//! The file has the columns `email` and `city`; 42 is the database id (or its name).

use esp_imports::{copernica, HttpConfig, ImportOptions, Secret};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (file, database) = match (args.next(), args.next()) {
        (Some(file), Some(database)) => (file, database),
        _ => return Err("usage: copernica_import FILE.csv DATABASE".into()),
    };
    let token = Secret::new(
        std::env::var("COPERNICA_ACCESS_TOKEN").map_err(|_| "set COPERNICA_ACCESS_TOKEN")?,
    );
    let client = copernica::Client::with_auth(
        copernica::PRODUCTION_URL,
        &copernica::Auth::AccessToken(token.clone()),
        &HttpConfig::default(),
    )?;

    let options = ImportOptions::new(file, [("email", "email"), ("city", "city")], "email");
    let report = client
        .import(&options, &copernica::CopernicaImport::new(database))
        .await?;
    println!("{report:#?}");
    Ok(())
}
