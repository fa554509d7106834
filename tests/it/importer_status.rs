//! `Importer::status` against the sandbox: an import started with `no_wait` is read from its
//! id once (one request, still running, with progress events), then followed to its end and
//! reported as a waited import is; an ended Eloqua sync read twice does its cleanup once
//! without a false message; a malformed id is refused before any request; following stops at
//! the timeout saying where the import stands.
#![cfg(all(
    feature = "mailperformance",
    feature = "copernica",
    feature = "mindbaz",
    feature = "eloqua"
))]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use esp_imports::{
    eloqua, mindbaz, Error, HttpConfig, ImportOptions, ImportReport, Importer, Location, Progress,
    Status, StatusOptions, Vendor, VendorImport,
};
use esp_imports_sandbox::{Sandbox, SandboxConfig};

use crate::importer::{columns, credentials, CSV};

/// The Mindbaz file already on the sandbox's SFTP directory.
fn vendor_options(vendor: Vendor) -> VendorImport {
    crate::importer::vendor_options(vendor, "contacts.csv")
}

struct Setup {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    file: std::path::PathBuf,
}

async fn start(config: SandboxConfig) -> Setup {
    let sandbox = Sandbox::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, CSV).unwrap();
    std::fs::write(sandbox.mindbaz_sftp_dir().join("contacts.csv"), CSV).unwrap();
    Setup {
        sandbox,
        _dir: dir,
        file,
    }
}

fn importer(sandbox: &Sandbox, vendor: Vendor) -> Importer {
    let location = Location::BaseUrl(sandbox.base_url(vendor));
    Importer::new(credentials(vendor), location, &HttpConfig::default()).unwrap()
}

/// An import of the sample into `vendor`, followed to its end unless `no_wait`.
async fn import(setup: &Setup, importer: &Importer, no_wait: bool) -> ImportReport {
    let vendor = importer.vendor();
    let mut options = ImportOptions::new(&setup.file, columns(vendor), "email");
    options.poll_interval = Duration::from_millis(5);
    options.timeout = Duration::from_secs(60);
    options.no_wait = no_wait;
    importer
        .import(&options, &vendor_options(vendor))
        .await
        .unwrap()
}

/// Status options that record their progress events.
fn recording(wait: bool) -> (StatusOptions, Arc<Mutex<Vec<Progress>>>) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut options = StatusOptions::new().with_wait(wait);
    options.poll_interval = Duration::from_millis(5);
    options.timeout = Duration::from_secs(60);
    let sink = events.clone();
    options.progress = Some(Arc::new(move |event: &Progress| {
        sink.lock().unwrap().push(event.clone())
    }));
    (options, events)
}

#[tokio::test]
async fn an_import_started_without_waiting_is_read_then_followed_to_its_end() {
    for vendor in Vendor::ALL {
        let setup = start(SandboxConfig::default()).await;
        let importer = importer(&setup.sandbox, vendor);
        let waited = import(&setup, &importer, false).await;
        let submitted = import(&setup, &importer, true).await;
        assert_eq!(submitted.status, Status::Submitted);
        let id = submitted.import_id.clone();

        // Once: one request, still running, its state in the messages and the events.
        let before = setup.sandbox.total_hits(vendor);
        let (options, events) = recording(false);
        let once = importer
            .status(&id, &options, &vendor_options(vendor))
            .await
            .unwrap();
        assert_eq!(setup.sandbox.total_hits(vendor), before + 1, "{vendor}");
        assert_eq!((once.vendor, once.status), (vendor, Status::Submitted));
        assert_eq!(once.import_id, id);
        assert_eq!(once.rows_total, None, "{vendor}: no file here");
        assert!(
            once.messages[0].starts_with(&format!("still running at {vendor}: state `")),
            "{vendor}: {once:?}"
        );
        let events = events.lock().unwrap().clone();
        assert!(
            matches!(
                &events[..],
                [
                    Progress::StateChanged { from: None, .. },
                    Progress::Polled { .. }
                ]
            ),
            "{vendor}: {events:?}"
        );

        // Followed to its end: the waited import's report, but what needs the file.
        let (options, events) = recording(true);
        let ended = importer
            .status(&id, &options, &vendor_options(vendor))
            .await
            .unwrap();
        assert_eq!(ended.status, waited.status, "{vendor}: {ended:?}");
        assert_ne!(ended.status, Status::Submitted);
        assert_eq!(ended.rows_rejected, waited.rows_rejected, "{vendor}");
        assert_eq!(ended.rejects, waited.rejects, "{vendor}");
        assert_eq!(ended.rows_total, None);
        let imported = match vendor {
            // Counted from the file's rows: unknown here.
            Vendor::Eloqua => None,
            _ => waited.rows_imported,
        };
        assert_eq!(ended.rows_imported, imported, "{vendor}");
        // The events of the polls, from the state the first reading left to the last one.
        let events = events.lock().unwrap().clone();
        let from = &once.messages[0];
        assert!(
            matches!(&events[0], Progress::StateChanged { from: None, to } if !from.contains(&format!("`{to}`"))),
            "{vendor}: {events:?} after {from}"
        );
        assert!(
            matches!(events.last(), Some(Progress::Polled { .. })),
            "{vendor}: {events:?}"
        );
    }
}

/// Reading an ended sync again does the cleanup again: what is already deleted (404) is left
/// as it is, and the report does not say it could not be deleted.
#[tokio::test]
async fn an_ended_eloqua_sync_read_twice_is_cleaned_up_once() {
    let setup = start(SandboxConfig::default()).await;
    let vendor = Vendor::Eloqua;
    let importer = importer(&setup.sandbox, vendor);
    let submitted = import(&setup, &importer, true).await;
    let mut cleanup = eloqua::EloquaImport::default();
    cleanup.delete_definition = true;
    let cleanup = VendorImport::from(cleanup);
    let (options, _) = recording(true);
    let first = importer
        .status(&submitted.import_id, &options, &cleanup)
        .await
        .unwrap();
    let hits = setup.sandbox.hits();
    let deletes = |hits: &std::collections::BTreeMap<(Vendor, String), u64>| -> u64 {
        hits.iter()
            .filter(|((v, route), _)| *v == vendor && route.starts_with("DELETE "))
            .map(|(_, n)| n)
            .sum()
    };
    assert_eq!(deletes(&hits), 2, "staged data and definition: {hits:?}");
    let second = importer
        .status(&submitted.import_id, &options, &cleanup)
        .await
        .unwrap();
    assert_eq!(
        second, first,
        "the same report, no message about the deletions"
    );
    assert!(
        !first.messages.iter().any(|m| m.contains("not deleted")),
        "{first:?}"
    );
    assert_eq!(first.status, Status::CompletedWithErrors);
    assert_eq!(first.rejects[0].row, Some(3));
}

#[tokio::test]
async fn a_malformed_id_is_refused_before_any_request() {
    let setup = start(SandboxConfig::default()).await;
    let sandbox = &setup.sandbox;
    let (options, _) = recording(true);
    let eloqua_login = Importer::new(
        credentials(Vendor::Eloqua),
        Location::EloquaLogin(sandbox.eloqua_login_url()),
        &HttpConfig::default(),
    )
    .unwrap();
    let cases = [
        (importer(sandbox, Vendor::Mailperformance), "0"),
        (importer(sandbox, Vendor::Copernica), "twelve"),
        (importer(sandbox, Vendor::Mindbaz), ""),
        (importer(sandbox, Vendor::Eloqua), "/contacts/imports/3"),
        // Its pod is not discovered.
        (eloqua_login, "/syncs/-1"),
    ];
    for (importer, id) in &cases {
        let vendor = importer.vendor();
        match importer.status(id, &options, &vendor_options(vendor)).await {
            Err(Error::InvalidConfig { setting, reason }) => {
                assert_eq!(setting, "import id", "{vendor}");
                assert!(reason.starts_with(&format!("`{id}`: ")), "{reason}");
            }
            other => panic!("{vendor} {id:?}: {other:?}"),
        }
    }
    // Mindbaz's site, and another vendor's options.
    let mindbaz = importer(sandbox, Vendor::Mindbaz);
    let e = mindbaz
        .status("3", &options, &mindbaz::MindbazImport::new(0, "").into())
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                setting: "site",
                ..
            }
        ),
        "{e:?}"
    );
    let e = mindbaz
        .status("3", &options, &vendor_options(Vendor::Copernica))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                setting: "vendor",
                ..
            }
        ),
        "{e:?}"
    );
    for vendor in Vendor::ALL {
        assert_eq!(sandbox.total_hits(vendor), 0, "{:?}", sandbox.hits());
    }
}

/// Following stops at the timeout, with the import's id and its last state.
#[tokio::test]
async fn following_stops_at_the_timeout_saying_where_the_import_stands() {
    let setup = start(SandboxConfig::default().with_polls_per_state(10_000)).await;
    let vendor = Vendor::Copernica;
    let importer = importer(&setup.sandbox, vendor);
    let submitted = import(&setup, &importer, true).await;
    let (mut options, _) = recording(true);
    options.timeout = Duration::from_millis(300);
    let e = importer
        .status(&submitted.import_id, &options, &vendor_options(vendor))
        .await
        .unwrap_err();
    match &e {
        Error::Interrupted {
            import_id,
            state,
            source,
            ..
        } => {
            assert_eq!(import_id, &submitted.import_id);
            assert!(
                state.starts_with("still running at Copernica: state `ready for start`"),
                "{state}"
            );
            assert!(matches!(**source, Error::Timeout { .. }), "{source:?}");
        }
        other => panic!("{other:?}"),
    }
}
