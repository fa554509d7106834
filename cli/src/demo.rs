//! `esp-imports demo` and `esp-imports sandbox`.

use std::{net::SocketAddr, time::Duration};

use esp_imports::{
    copernica, eloqua, mailperformance, mindbaz, Error, HttpConfig, ImportOptions, ImportReport,
    Importer, Location, Secret, Vendor, VendorImport,
};
use esp_imports_sandbox::{Credentials, Sandbox, SandboxConfig};

use crate::{exit, exit_code, output, sample};

/// The demo's rows when `--rows` is not given.
const SAMPLE_ROWS: u64 = 2500;

/// Sample column → vendor field, for the sandbox's fields.
fn columns(vendor: Vendor) -> Vec<(&'static str, &'static str)> {
    match vendor {
        Vendor::Mailperformance => vec![
            ("email", "1234"),
            ("first_name", "1235"),
            ("last_name", "1236"),
            ("city", "5678"),
        ],
        Vendor::Copernica => vec![
            ("email", "email"),
            ("first_name", "firstname"),
            ("last_name", "lastname"),
            ("city", "city"),
        ],
        Vendor::Mindbaz => vec![
            ("email", "fld1"),
            ("first_name", "fld15"),
            ("last_name", "fld14"),
            ("city", "fld4"),
        ],
        Vendor::Eloqua => vec![
            ("email", "C_EmailAddress"),
            ("first_name", "C_FirstName"),
            ("last_name", "C_LastName"),
            ("city", "C_City"),
        ],
        // A vendor this demo has no sample fields for: its import is refused, unmapped.
        _ => Vec::new(),
    }
}

/// Runs one vendor's import against the sandbox, as a user of the library would.
async fn import(
    sandbox: &Sandbox,
    vendor: Vendor,
    file: &std::path::Path,
) -> Result<ImportReport, Error> {
    let credentials = Credentials::default();
    let config = HttpConfig::default();
    let mut options = ImportOptions::new(file, columns(vendor), "email");
    options.poll_interval = Duration::from_millis(100);
    options.timeout = Duration::from_secs(1800);
    let base = Location::BaseUrl(sandbox.base_url(vendor));
    let (auth, at, work): (esp_imports::Credentials, _, VendorImport) = match vendor {
        Vendor::Mailperformance => (
            mailperformance::Auth::XKey(Secret::new(credentials.np6_key)).into(),
            base,
            mailperformance::Np6Import::default().into(),
        ),
        Vendor::Copernica => (
            copernica::Auth::AccessToken(Secret::new(credentials.copernica_token)).into(),
            base,
            copernica::CopernicaImport::new("1").into(),
        ),
        Vendor::Mindbaz => {
            // The sandbox runs no SSH server: the file is put straight into its emulated SFTP
            // directory, as an upload would, and scheduleNow is told its name.
            let name = "demo-contacts.csv";
            std::fs::copy(file, sandbox.mindbaz_sftp_dir().join(name)).map_err(|e| Error::Io {
                path: file.to_owned(),
                source: e,
            })?;
            let mut mindbaz_options = mindbaz::MindbazImport::new(1, "demo@example.com");
            mindbaz_options.remote_file = Some(name.into());
            (
                mindbaz::Auth::Bearer(Secret::new(credentials.mindbaz_token)).into(),
                base,
                mindbaz_options.into(),
            )
        }
        // Its pod is discovered through the sandbox's login service.
        Vendor::Eloqua => (
            eloqua::Auth::Basic {
                company: credentials.eloqua_company,
                username: credentials.eloqua_username,
                password: Secret::new(credentials.eloqua_password),
            }
            .into(),
            Location::EloquaLogin(sandbox.eloqua_login_url()),
            eloqua::EloquaImport::default().into(),
        ),
        other => {
            return Err(Error::InvalidConfig {
                setting: "vendor",
                reason: format!("the demo does not know {other}"),
            })
        }
    };
    Importer::new(auth, at, &config)?
        .import(&options, &work)
        .await
}

/// `esp-imports demo`.
pub async fn demo(rows: Option<u64>) -> u8 {
    let rows = rows.unwrap_or(SAMPLE_ROWS);
    if rows == 0 {
        eprintln!("error: --rows 0: give at least one row");
        return exit::USAGE;
    }
    let sandbox = match Sandbox::start(SandboxConfig::default()).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("error: cannot start the sandbox: {e}");
            return exit::NETWORK;
        }
    };
    let dir = match esp_imports_sandbox::private_temp_dir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("error: cannot create a temporary directory: {e}");
            return exit::NETWORK;
        }
    };
    let file = dir.path().join("contacts.csv");
    let written = std::fs::File::create(&file).and_then(|f| {
        let mut out = std::io::BufWriter::new(f);
        sample::write(&mut out, rows)?;
        std::io::Write::flush(&mut out)
    });
    if let Err(e) = written {
        eprintln!("error: cannot write the sample file: {e}");
        return exit::NETWORK;
    }
    let bad = sample::bad_rows(rows);
    println!(
        "Sandbox on loopback; importing {rows} contacts ({bad} with an invalid e-mail) into each vendor…\n"
    );

    // The four imports run at the same time, each on its own task (their file checks and the
    // emulators' work use the runtime's threads); the table keeps the vendor order.
    let sandbox = std::sync::Arc::new(sandbox);
    let imports: Vec<_> = Vendor::ALL
        .into_iter()
        .map(|vendor| {
            let (sandbox, file) = (sandbox.clone(), file.clone());
            tokio::spawn(async move { import(&sandbox, vendor, &file).await })
        })
        .collect();
    let mut reports = Vec::new();
    let mut code = exit::OK;
    for done in imports {
        let done = match done.await {
            Ok(done) => done,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        match done {
            Ok(report) => reports.push(report),
            Err(e) => {
                eprintln!("{}", output::error_line(&e, e.import_state()));
                code = code.max(exit_code(&e));
            }
        }
    }
    print!("{}", output::table(&reports));
    for report in &reports {
        if let Some(warning) = report.warnings.first() {
            println!(
                "{}: the pre-flight warned of {} values before sending, e.g. {warning}",
                report.vendor, report.warnings_total
            );
        }
        if let Some(reject) = report.rejects.first() {
            let row = reject
                .row
                .map(|r| format!("line {r}"))
                .unwrap_or_else(|| "a row".into());
            println!(
                "{}: {} rejected rows, e.g. {row}: {}",
                report.vendor,
                report.rejects.len(),
                reject.reason
            );
        }
        if report.vendor == Vendor::Mailperformance {
            println!(
                "{}: row results are sent by e-mail (the report feature), not through the API",
                report.vendor
            );
        }
    }
    code
}

/// `esp-imports sandbox`.
pub async fn sandbox(listen: SocketAddr) -> u8 {
    // Ctrl-C or SIGTERM, from now on, stop the sandbox and remove its temporary directory.
    let signals = super::Signals::install();
    let sandbox = match Sandbox::start(SandboxConfig::default().with_listen(listen)).await {
        Ok(sandbox) => sandbox,
        Err(e) => {
            eprintln!("error: cannot start the sandbox on {listen}: {e}");
            return exit::USAGE;
        }
    };
    let c = Credentials::default();
    println!("esp-imports sandbox (Ctrl-C to stop)");
    println!(
        "  mailperformance  {}   MAILPERFORMANCE_XKEY={}",
        sandbox.base_url(Vendor::Mailperformance),
        c.np6_key
    );
    println!(
        "  copernica        {}   COPERNICA_ACCESS_TOKEN={}",
        sandbox.base_url(Vendor::Copernica),
        c.copernica_token
    );
    println!(
        "  mindbaz          {}   MINDBAZ_TOKEN={}   SFTP directory: {}",
        sandbox.base_url(Vendor::Mindbaz),
        c.mindbaz_token,
        sandbox.mindbaz_sftp_dir().display()
    );
    println!(
        "  eloqua           {}   login: {}   ELOQUA_COMPANY={} ELOQUA_USERNAME={} ELOQUA_PASSWORD={}",
        sandbox.base_url(Vendor::Eloqua),
        sandbox.eloqua_login_url(),
        c.eloqua_company,
        c.eloqua_username,
        c.eloqua_password
    );
    // Ctrl-C or SIGTERM: the sandbox is dropped, and its temporary directory removed.
    match signals {
        Some(mut signals) => signals.next().await,
        None => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
    drop(sandbox);
    exit::OK
}
