//! Import a CSV file into Eloqua in a few lines.
//!
//! ```sh
//! ELOQUA_COMPANY=Acme ELOQUA_USERNAME=jane.doe ELOQUA_PASSWORD=… \
//!     cargo run --example eloqua_import -- contacts.csv
//! ```
//! The file has the columns `email`, `first_name` and `last_name`.

use esp_imports::{eloqua, HttpConfig, ImportOptions, Secret};

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let file = std::env::args()
        .nth(1)
        .ok_or("usage: eloqua_import FILE.csv")?;
    let auth = eloqua::Auth::Basic {
        company: env("ELOQUA_COMPANY")?,
        username: env("ELOQUA_USERNAME")?,
        password: Secret::new(env("ELOQUA_PASSWORD")?),
    };
    let config = HttpConfig::default();

    // The pod's Bulk API URL comes from login.eloqua.com/id.
    let base_url = eloqua::Client::discover(eloqua::LOGIN_URL, &auth, &config).await?;
    let client = eloqua::Client::with_auth(&base_url, &auth, &config)?;

    let options = ImportOptions::new(
        file,
        [
            ("email", "C_EmailAddress"),
            ("first_name", "C_FirstName"),
            ("last_name", "C_LastName"),
        ],
        "email",
    );
    let report = client
        .import(&options, &eloqua::EloquaImport::default())
        .await?;
    println!("{report:#?}");
    Ok(())
}
