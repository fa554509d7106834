//! Put a CSV file on the Mindbaz SFTP and import it, in a few lines.
//!
//! ```sh
//! MINDBAZ_TOKEN=… MINDBAZ_SFTP_PASSWORD=… \
//!     cargo run --example mindbaz_import -- contacts.csv 123 sftp.example.com mysite
//! ```
//! The file has the columns `email` and `first_name`; 123 is the site id. The SFTP server's key
//! must be in `~/.ssh/known_hosts` (or set `host_key_sha256` to its `SHA256:…` fingerprint):
//! an unknown server is refused before any password is sent.

use esp_imports::{mindbaz, HttpConfig, ImportOptions, Secret};

fn env(name: &str) -> Result<Secret, String> {
    std::env::var(name)
        .map(Secret::new)
        .map_err(|_| format!("set {name}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [file, site, host, user] = args.as_slice() else {
        return Err("usage: mindbaz_import FILE.csv SITE SFTP_HOST SFTP_USER".into());
    };
    let client = mindbaz::Client::with_auth(
        mindbaz::PRODUCTION_URL,
        &mindbaz::Auth::Bearer(env("MINDBAZ_TOKEN")?),
        &HttpConfig::default(),
    )?;

    let mut mindbaz_options = mindbaz::MindbazImport::new(site.parse()?, "ops@example.com");
    let auth = mindbaz::SftpAuth::Password(env("MINDBAZ_SFTP_PASSWORD")?);
    mindbaz_options.sftp = Some(mindbaz::SftpConfig::new(host.clone(), user.clone(), auth));

    let options = ImportOptions::new(file, [("email", "fld1"), ("first_name", "fld2")], "email");
    let report = client.import(&options, &mindbaz_options).await?;
    println!("{report:#?}");
    Ok(())
}
