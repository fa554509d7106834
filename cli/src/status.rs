//! `esp-imports status <VENDOR> <ID>`: an import's state read from the vendor, reported as
//! `import` reports it (the same flags, credentials, printing and exit codes).

use esp_imports::{ImportReport, Importer, StatusOptions, Vendor};

use crate::{import, output, Failure, StatusArgs};

/// Runs the command; returns the exit code.
pub async fn run(args: StatusArgs) -> u8 {
    let json = args.json;
    import::report(status(args).await, json, false)
}

async fn status(args: StatusArgs) -> Result<ImportReport, Failure> {
    let vendor = Vendor::from(args.vendor);
    let mut options = StatusOptions::new().with_wait(args.wait);
    options.poll_interval = import::seconds("--poll-interval", args.poll_interval)?;
    options.timeout = import::seconds("--timeout", args.timeout)?;
    options.progress = output::progress(!args.json);
    let config = import::http_config(&args.connection)?;
    let location = import::location(&args.connection, vendor, &config)?;
    // What the library reads of the import's options: Mindbaz's site; Eloqua's cleanup once
    // the sync has ended, as `import` does it (its defaults: the staged data deleted).
    let vendor_options = import::vendor_place(vendor, None, args.site)?;
    let credentials = import::credentials(vendor)?;
    let importer = Importer::new(credentials, location, &config)?;
    // The id is checked by the library before any request.
    options.cancel = Some(import::cancel_on_signals());
    Ok(importer.status(&args.id, &options, &vendor_options).await?)
}
