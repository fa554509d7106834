//! The vendor-agnostic entry point, `Importer`, against the sandbox: one value per vendor built
//! from its credentials and where its API is runs that vendor's whole import; another vendor's
//! options, or a location the vendor does not take, are refused before any request.
#![cfg(all(
    feature = "mailperformance",
    feature = "copernica",
    feature = "mindbaz",
    feature = "eloqua"
))]

use std::{path::PathBuf, time::Duration};

use esp_imports::{
    copernica, eloqua, mailperformance, mindbaz, Credentials, Error, HttpConfig, ImportOptions,
    Importer, Location, Secret, Status, Vendor, VendorImport,
};
use esp_imports_sandbox::{Sandbox, SandboxConfig};

/// The sandbox's credentials for `vendor`.
pub(crate) fn credentials(vendor: Vendor) -> Credentials {
    let c = esp_imports_sandbox::Credentials::default();
    match vendor {
        Vendor::Mailperformance => {
            mailperformance::Auth::XKey(Secret::new(c.np6_key.as_str())).into()
        }
        Vendor::Copernica => copernica::Auth::AccessToken(Secret::new(c.copernica_token)).into(),
        Vendor::Mindbaz => mindbaz::Auth::Bearer(Secret::new(c.mindbaz_token)).into(),
        Vendor::Eloqua => eloqua::Auth::Basic {
            company: c.eloqua_company,
            username: c.eloqua_username,
            password: Secret::new(c.eloqua_password),
        }
        .into(),
        _ => unreachable!("a vendor these tests do not know: {vendor}"),
    }
}

/// The sample's column → the sandbox's field, per vendor.
pub(crate) fn columns(vendor: Vendor) -> [(&'static str, &'static str); 2] {
    match vendor {
        Vendor::Mailperformance => [("email", "1234"), ("city", "5678")],
        Vendor::Copernica => [("email", "email"), ("city", "city")],
        Vendor::Mindbaz => [("email", "fld1"), ("city", "fld4")],
        Vendor::Eloqua => [("email", "C_EmailAddress"), ("city", "C_City")],
        _ => unreachable!("a vendor these tests do not know: {vendor}"),
    }
}

/// The vendor's part of the options: the defaults, Copernica's database 1, and Mindbaz's file
/// already on the sandbox's SFTP directory as `remote`.
pub(crate) fn vendor_options(vendor: Vendor, remote: &str) -> VendorImport {
    match vendor {
        Vendor::Mailperformance => mailperformance::Np6Import::default().into(),
        Vendor::Copernica => copernica::CopernicaImport::new("1").into(),
        Vendor::Mindbaz => {
            let mut mindbaz = mindbaz::MindbazImport::new(1, "ops@example.com");
            mindbaz.remote_file = Some(remote.to_owned());
            mindbaz.into()
        }
        Vendor::Eloqua => eloqua::EloquaImport::default().into(),
        _ => unreachable!("a vendor these tests do not know: {vendor}"),
    }
}

pub(crate) const CSV: &str =
    "email;city\r\na@example.com;Lille\r\nbroken-address;Lens\r\nc@example.com;Arras\r\n";

/// A sandbox, and the sample in a temporary directory (kept while the guard lives).
async fn start() -> (Sandbox, tempfile::TempDir, PathBuf) {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, CSV).unwrap();
    (sandbox, dir, file)
}

/// The setting and reason of an [`Error::InvalidConfig`].
fn invalid_config(e: Error) -> (&'static str, String) {
    match e {
        Error::InvalidConfig { setting, reason } => (setting, reason),
        e => panic!("expected InvalidConfig, got {e:?}"),
    }
}

#[tokio::test]
async fn every_vendor_imports_through_one_entry_point() {
    let (sandbox, _dir, file) = start().await;
    std::fs::write(sandbox.mindbaz_sftp_dir().join("contacts.csv"), CSV).unwrap();
    let config = HttpConfig::default();
    // Eloqua twice: its pod discovered through the login service, then given.
    let runs = [
        (
            Vendor::Mailperformance,
            Location::BaseUrl(sandbox.base_url(Vendor::Mailperformance)),
        ),
        (
            Vendor::Copernica,
            Location::BaseUrl(sandbox.base_url(Vendor::Copernica)),
        ),
        (
            Vendor::Mindbaz,
            Location::BaseUrl(sandbox.base_url(Vendor::Mindbaz)),
        ),
        (
            Vendor::Eloqua,
            Location::EloquaLogin(sandbox.eloqua_login_url()),
        ),
        (
            Vendor::Eloqua,
            Location::BaseUrl(sandbox.base_url(Vendor::Eloqua)),
        ),
    ];
    for (vendor, location) in runs {
        let importer = Importer::new(credentials(vendor), location.clone(), &config).unwrap();
        assert_eq!(importer.vendor(), vendor);
        let shown = format!("{importer:?}");
        assert!(shown.contains("127.0.0.1"), "{shown}");
        assert!(!shown.contains("sandbox-"), "no credential in {shown}");
        let mut options = ImportOptions::new(&file, columns(vendor), "email");
        options.poll_interval = Duration::from_millis(5);
        options.timeout = Duration::from_secs(60);
        let report = importer
            .import(&options, &vendor_options(vendor, "contacts.csv"))
            .await
            .unwrap_or_else(|e| panic!("{vendor} at {location:?}: {e}"));
        assert_eq!(report.vendor, vendor);
        assert_eq!(report.rows_total, Some(3), "{vendor}");
        // Followed to its end: NP6 tells no row results, the others the rejected row.
        let status = match vendor {
            Vendor::Mailperformance => Status::Completed,
            _ => Status::CompletedWithErrors,
        };
        assert_eq!(report.status, status, "{vendor}: {report:?}");
        match vendor {
            // What the emulator did with the rows of the import reported.
            Vendor::Mailperformance | Vendor::Copernica => {
                let result = sandbox.results(vendor).pop().unwrap();
                assert_eq!(result.import_id, report.import_id);
                assert_eq!((result.rows, result.inserted, result.rejected), (3, 2, 1));
            }
            _ => {
                assert_eq!(
                    (report.rows_imported, report.rows_rejected),
                    (Some(2), Some(1)),
                    "{vendor}"
                );
            }
        }
        if vendor == Vendor::Eloqua {
            assert_eq!(report.rejects[0].row, Some(3));
        }
        let contacts = sandbox.contacts(vendor);
        assert_eq!(
            contacts.keys().collect::<Vec<_>>(),
            ["a@example.com", "c@example.com"],
            "{vendor}"
        );
    }
}

#[tokio::test]
async fn no_wait_returns_once_submitted() {
    let (sandbox, _dir, file) = start().await;
    let location = Location::BaseUrl(sandbox.base_url(Vendor::Copernica));
    let importer = Importer::new(
        credentials(Vendor::Copernica),
        location,
        &HttpConfig::default(),
    )
    .unwrap();
    let mut options = ImportOptions::new(&file, columns(Vendor::Copernica), "email");
    options.no_wait = true;
    let report = importer
        .import(&options, &vendor_options(Vendor::Copernica, ""))
        .await
        .unwrap();
    assert_eq!(report.status, Status::Submitted);
    assert_eq!(
        sandbox.hits()[&(Vendor::Copernica, "POST /v3/imports".to_owned())],
        1
    );
    assert!(
        !sandbox
            .hits()
            .keys()
            .any(|(_, route)| route.starts_with("GET /v3/import/")),
        "not polled: {:?}",
        sandbox.hits()
    );
}

#[tokio::test]
async fn another_vendors_options_are_refused_before_any_request() {
    let (sandbox, _dir, file) = start().await;
    let config = HttpConfig::default();
    let importers = [
        Importer::new(
            credentials(Vendor::Mailperformance),
            Location::BaseUrl(sandbox.base_url(Vendor::Mailperformance)),
            &config,
        )
        .unwrap(),
        // Its pod is not discovered either.
        Importer::new(
            credentials(Vendor::Eloqua),
            Location::EloquaLogin(sandbox.eloqua_login_url()),
            &config,
        )
        .unwrap(),
    ];
    for importer in &importers {
        let vendor = importer.vendor();
        let other = if vendor == Vendor::Eloqua {
            Vendor::Mailperformance
        } else {
            Vendor::Copernica
        };
        let options = ImportOptions::new(&file, columns(vendor), "email");
        let e = importer
            .import(&options, &vendor_options(other, "contacts.csv"))
            .await
            .unwrap_err();
        let (setting, reason) = invalid_config(e);
        assert_eq!(setting, "vendor");
        assert_eq!(
            reason,
            format!("this importer imports into {vendor}, and the import's options are {other}'s")
        );
    }
    // Eloqua's own options with bad input: checked before its pod is discovered.
    let options = ImportOptions::new(&file, columns(Vendor::Eloqua), "phone");
    let e = importers[1]
        .import(&options, &vendor_options(Vendor::Eloqua, ""))
        .await
        .unwrap_err();
    assert_eq!(invalid_config(e).0, "key column");
    for vendor in Vendor::ALL {
        assert_eq!(
            sandbox.total_hits(vendor),
            0,
            "{vendor}: {:?}",
            sandbox.hits()
        );
    }
}

#[test]
fn locations_are_checked_and_credentials_not_shown() {
    let config = HttpConfig::default();
    let e = Importer::new(
        credentials(Vendor::Copernica),
        Location::EloquaLogin("https://login.example.com".into()),
        &config,
    )
    .unwrap_err();
    let (setting, reason) = invalid_config(e);
    assert_eq!(setting, "login URL");
    assert!(reason.contains("only Eloqua"), "{reason}");
    // Plain http to another host than loopback, for a base URL and for a login URL.
    for (vendor, location) in [
        (
            Vendor::Mindbaz,
            Location::BaseUrl("http://api.example.com".into()),
        ),
        (
            Vendor::Eloqua,
            Location::EloquaLogin("http://login.example.com".into()),
        ),
    ] {
        let e = Importer::new(credentials(vendor), location, &config).unwrap_err();
        let reason = invalid_config(e).1;
        assert!(reason.contains("plain http"), "{vendor}: {reason}");
    }
    // Production: the vendor's URL, Eloqua's login service.
    let importer = Importer::new(
        credentials(Vendor::Copernica),
        Location::Production,
        &config,
    )
    .unwrap();
    assert!(format!("{importer:?}").contains(copernica::PRODUCTION_URL));
    let importer =
        Importer::new(credentials(Vendor::Eloqua), Location::default(), &config).unwrap();
    assert!(format!("{importer:?}").contains(eloqua::LOGIN_URL));
    for vendor in Vendor::ALL {
        let shown = format!("{:?}", credentials(vendor));
        assert_eq!(credentials(vendor).vendor(), vendor);
        assert!(!shown.contains("sandbox-"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }
    // Nor do the vendor's options (Mindbaz's SFTP password).
    let mut options = mindbaz::MindbazImport::new(1, "ops@example.com");
    let password = mindbaz::SftpAuth::Password(Secret::new("sftp-password"));
    options.sftp = Some(mindbaz::SftpConfig::new(
        "sftp.example.com",
        "ops",
        password,
    ));
    let options = VendorImport::from(options);
    assert_eq!(options.vendor(), Vendor::Mindbaz);
    let shown = format!("{options:?}");
    assert!(shown.contains("sftp.example.com"), "{shown}");
    assert!(!shown.contains("sftp-password"), "{shown}");
}
