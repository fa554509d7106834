//! Import a CSV file into NP6 MailPerformance in a few lines.
//!
//! ```sh
//! MAILPERFORMANCE_XKEY=… cargo run --example mailperformance_import -- contacts.csv
//! ```
//! The file has the columns `email` and `city`; NP6 field ids come from `GET /fields`.

use esp_imports::{mailperformance, HttpConfig, ImportOptions, Progress, Secret};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::args()
        .nth(1)
        .ok_or("usage: mailperformance_import FILE.csv")?;
    let key =
        Secret::new(std::env::var("MAILPERFORMANCE_XKEY").map_err(|_| "set MAILPERFORMANCE_XKEY")?);
    let client = mailperformance::Client::with_auth(
        mailperformance::PRODUCTION_URL,
        &mailperformance::Auth::XKey(key.clone()),
        &HttpConfig::default(),
    )?;

    let mut options = ImportOptions::new(file, [("email", "1234"), ("city", "5678")], "email");
    options.progress = Some(std::sync::Arc::new(|event: &Progress| {
        eprintln!("{event:?}")
    }));
    let report = client
        .import(&options, &mailperformance::Np6Import::default())
        .await?;
    println!("{report:#?}");
    Ok(())
}
