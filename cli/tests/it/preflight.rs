//! Field names, `--map-auto` and the pre-flight, through the binary against the sandbox
//! (started in this test process on loopback), for each vendor: names and headers resolve to
//! the vendor's ids; unknown and ambiguous names exit 2 with candidates after reads only; a
//! file with a bad e-mail, a value too long and a bad date is reported line by line (by
//! default the rows are still sent), left out with `--skip-invalid`, refused with `--strict`;
//! `--dry-run` creates nothing and prints the plan; a key column that goes to a field the
//! vendor does not identify contacts by is reported.

use std::process::Output;

use esp_imports::Vendor;
use esp_imports_sandbox::{Sandbox, SandboxConfig};
use serde_json::Value;

use crate::{
    cli::json,
    common::{code, import_args_mapped, not_sent, stderr},
};

async fn run(args: &[String]) -> Output {
    crate::common::run_as_user(args).await
}

/// A value longer than every sandbox field but Eloqua's (whose API gives no lengths).
fn long_city() -> String {
    "Villeneuve-d'Ascq ".repeat(17)
}

/// Line 2 fits every vendor; line 3 has a bad e-mail, line 4 a city too long, line 5 a date
/// that does not exist.
fn contacts() -> String {
    format!(
        "email,first_name,city,birthdate\n\
         ada@example.com,Ada,Lille,1990-12-24\n\
         bob@example,Bob,Lille,1990-12-24\n\
         eve@example.com,Eve,{},1990-12-24\n\
         dan@example.com,Dan,Lille,1990-02-31\n",
        long_city()
    )
}

/// Each column mapped by the field's name as `fields` shows it (not its id), and the ids
/// they must resolve to.
fn names(vendor: Vendor) -> [(&'static str, &'static str, &'static str); 4] {
    match vendor {
        Vendor::Mailperformance => [
            ("email", "EMAIL", "1234"),
            ("first_name", "firstname", "1235"),
            ("city", "City", "5678"),
            ("birthdate", "5680", "5680"),
        ],
        Vendor::Copernica => [
            ("email", "Email", "email"),
            ("first_name", "FirstName", "firstname"),
            ("city", "city", "city"),
            ("birthdate", "birthdate", "birthdate"),
        ],
        Vendor::Mindbaz => [
            ("email", "email", "fld1"),
            ("first_name", "prenom", "fld15"),
            ("city", " Ville ", "fld4"),
            ("birthdate", "animal_date_naissance", "fld158"),
        ],
        Vendor::Eloqua => [
            ("email", "email address", "C_EmailAddress"),
            ("first_name", "First Name", "C_FirstName"),
            ("city", "C_City", "C_City"),
            ("birthdate", "{{Contact.Field(C_Birthdate)}}", "C_Birthdate"),
        ],
        _ => unreachable!(),
    }
}

struct Setup {
    sandbox: Sandbox,
    _dir: tempfile::TempDir,
    file: String,
}

async fn setup(csv: &str) -> Setup {
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contacts.csv");
    std::fs::write(&file, csv).unwrap();
    std::fs::write(sandbox.mindbaz_sftp_dir().join("contacts.csv"), csv).unwrap();
    let file = file.to_string_lossy().into_owned();
    Setup {
        sandbox,
        _dir: dir,
        file,
    }
}

/// `esp-imports import VENDOR` of the setup's file keyed by `key`, with `maps` and `more`.
fn import(setup: &Setup, vendor: Vendor, key: &str, maps: &[String], more: &[&str]) -> Vec<String> {
    let base = setup.sandbox.base_url(vendor);
    let mut args = import_args_mapped(vendor, &setup.file, &base, key, maps);
    args.push("--json".into());
    args.extend(more.iter().map(|s| s.to_string()));
    args
}

fn by_name(vendor: Vendor) -> Vec<String> {
    names(vendor)
        .iter()
        .map(|(column, name, _)| format!("{column}={name}"))
        .collect()
}

/// The requests that reached `vendor`'s emulator and are not GETs.
fn creating(sandbox: &Sandbox, vendor: Vendor) -> Vec<String> {
    sandbox
        .hits()
        .into_keys()
        .filter(|(v, route)| *v == vendor && !route.starts_with("GET "))
        .map(|(_, route)| route)
        .collect()
}

/// `(line, column)` of each finding or reject of a report.
fn lines(items: &Value) -> Vec<(u64, String)> {
    items
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| {
            Some((
                f["row"].as_u64()?,
                f["column"].as_str().unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

/// `(column, field id)` of a report's map.
fn mapping(report: &Value) -> Vec<(String, String)> {
    report["mapping"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["column"].as_str().unwrap().into(),
                m["field"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// The lines of `contacts()` that do not fit `vendor`'s fields, with their column.
fn misfits(vendor: Vendor) -> Vec<(u64, String)> {
    let mut expected = vec![(3, "email".to_owned())];
    if vendor != Vendor::Eloqua {
        expected.push((4, "city".into()));
    }
    expected.push((5, "birthdate".into()));
    expected
}

#[tokio::test]
async fn names_resolve_and_the_preflight_reports_each_misfit() {
    for vendor in Vendor::ALL {
        let setup = setup(&contacts()).await;
        let out = run(&import(&setup, vendor, "email", &by_name(vendor), &[])).await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let report = json(&out);
        let mapping = mapping(&report);
        let mut expected: Vec<(String, String)> = names(vendor)
            .iter()
            .map(|(column, _, id)| (column.to_string(), id.to_string()))
            .collect();
        expected.sort();
        assert_eq!(mapping, expected, "{vendor}: {report}");
        // Every row is sent (the vendor stays the authority); the findings are warnings.
        assert_eq!(
            lines(&report["warnings"]),
            misfits(vendor),
            "{vendor}: {report}"
        );
        assert_eq!(report["rows_not_sent"], 0);
        assert_eq!(report["rows_total"], 4);
        let warnings = report["warnings"].to_string();
        assert!(
            warnings.contains("`bob@example` is not an e-mail address"),
            "{warnings}"
        );
        assert!(
            warnings.contains("`1990-02-31` is not a date"),
            "{warnings}"
        );
    }
}

#[tokio::test]
async fn skip_invalid_leaves_the_rows_out_and_accounts_for_them() {
    // Mindbaz leaves rows out only of a file it uploads (see cli_sftp.rs); a file already on
    // its SFTP is refused for it, before any request.
    for vendor in [Vendor::Mailperformance, Vendor::Copernica, Vendor::Eloqua] {
        let setup = setup(&contacts()).await;
        let args = import(
            &setup,
            vendor,
            "email",
            &by_name(vendor),
            &["--skip-invalid"],
        );
        let out = run(&args).await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let report = json(&out);
        let left_out = misfits(vendor).len() as u64;
        assert_eq!(report["rows_total"], 4, "{vendor}: {report}");
        assert_eq!(report["rows_not_sent"], left_out, "{vendor}: {report}");
        let not_sent = not_sent(&report);
        let expected: Vec<u64> = misfits(vendor).iter().map(|(line, _)| *line).collect();
        assert_eq!(not_sent, expected, "{vendor}: {report}");
        let contacts = setup.sandbox.contacts(vendor);
        assert!(
            contacts.contains_key("ada@example.com"),
            "{vendor}: {contacts:?}"
        );
        for left in ["bob@example", "dan@example.com"] {
            assert!(
                !contacts.contains_key(left),
                "{vendor}: {left} was sent: {contacts:?}"
            );
        }
    }
    let setup = setup(&contacts()).await;
    let args = import(
        &setup,
        Vendor::Mindbaz,
        "email",
        &by_name(Vendor::Mindbaz),
        &["--skip-invalid"],
    );
    let out = run(&args).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("rows can be left out only of a file that is uploaded"));
    assert!(
        setup.sandbox.hits().is_empty(),
        "{:?}",
        setup.sandbox.hits()
    );
}

#[tokio::test]
async fn strict_refuses_and_dry_run_creates_nothing() {
    for vendor in Vendor::ALL {
        let setup = setup(&contacts()).await;
        let out = run(&import(
            &setup,
            vendor,
            "email",
            &by_name(vendor),
            &["--strict"],
        ))
        .await;
        assert_eq!(code(&out), 2, "{vendor}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("line 3, column `email`: `bob@example` is not an e-mail address"),
            "{vendor}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("nothing was sent (strict)"),
            "{}",
            stderr(&out)
        );
        assert_eq!(
            creating(&setup.sandbox, vendor),
            Vec::<String>::new(),
            "{vendor}"
        );

        let out = run(&import(
            &setup,
            vendor,
            "email",
            &by_name(vendor),
            &["--dry-run"],
        ))
        .await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let plan = json(&out);
        assert_eq!(plan["status"], "dry_run", "{plan}");
        assert_eq!(
            lines(&plan["warnings"]),
            misfits(vendor),
            "{vendor}: {plan}"
        );
        assert!(
            plan["messages"]
                .to_string()
                .contains("nothing was created (dry run)"),
            "{plan}"
        );
        assert_eq!(
            creating(&setup.sandbox, vendor),
            Vec::<String>::new(),
            "{vendor}"
        );

        // The readable plan names what would be created.
        let mut readable = import(&setup, vendor, "email", &by_name(vendor), &["--dry-run"]);
        readable.retain(|a| a != "--json");
        let out = run(&readable).await;
        let text = String::from_utf8_lossy(&out.stdout);
        let creates = match vendor {
            Vendor::Mailperformance => "an import format (binding)",
            Vendor::Copernica => "into database `1`",
            Vendor::Mindbaz => "an import of site 7 scheduled now",
            _ => "a contact import definition",
        };
        assert!(text.contains(creates), "{vendor}: {text}");
        assert!(text.contains("map: "), "{vendor}: {text}");
        assert_eq!(
            creating(&setup.sandbox, vendor),
            Vec::<String>::new(),
            "{vendor}"
        );
    }
}

#[tokio::test]
async fn map_auto_maps_headers_and_refuses_to_guess() {
    // Headers as each vendor's users would write them, and the ids they are.
    for (vendor, headers, ids) in [
        (
            Vendor::Mailperformance,
            "EMAIL,firstname,City,Notes",
            ["1234", "1235", "5678"],
        ),
        (
            Vendor::Copernica,
            "Email,FirstName,city,Notes",
            ["email", "firstname", "city"],
        ),
        (
            Vendor::Mindbaz,
            "Email,Prénom,Ville,Notes",
            ["fld1", "fld15", "fld4"],
        ),
        (
            Vendor::Eloqua,
            "email address,First Name,C_City,Notes",
            ["C_EmailAddress", "C_FirstName", "C_City"],
        ),
    ] {
        let setup = setup(&format!("{headers}\nada@example.com,Ada,Lille,x\n")).await;
        let key = headers.split(',').next().unwrap();
        let args = import(&setup, vendor, key, &[], &["--map-auto", "--dry-run"]);
        let out = run(&args).await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let plan = json(&out);
        let mapping = mapping(&plan);
        let mut expected: Vec<(String, String)> = headers
            .split(',')
            .zip(ids)
            .map(|(h, id)| (h.to_owned(), id.to_owned()))
            .collect();
        expected.sort();
        assert_eq!(mapping, expected, "{vendor}: {plan}");
        assert!(
            plan["messages"].to_string().contains(&format!(
                "not imported (no {vendor} field has their name): `Notes`"
            )),
            "{plan}"
        );
        assert_eq!(
            creating(&setup.sandbox, vendor),
            Vec::<String>::new(),
            "{vendor}"
        );
    }

    // Two Mindbaz fields are named "Code postal" but for case: no guess.
    let setup = self::setup("Email,code postal\nada@example.com,59000\n").await;
    let out = run(&import(
        &setup,
        Vendor::Mindbaz,
        "Email",
        &[],
        &["--map-auto"],
    ))
    .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("`code postal` (Code postal (fld160), Code Postal (fld161))"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        creating(&setup.sandbox, Vendor::Mindbaz),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn unknown_and_ambiguous_names_exit_2_with_candidates_after_reads_only() {
    let setup = setup(&contacts()).await;
    for (vendor, map, expected) in [
        (
            Vendor::Mailperformance,
            "email=Emial",
            "`email=Emial`: NP6 MailPerformance: no field has this name or id (the closest: Email (1234)",
        ),
        (
            Vendor::Mailperformance,
            "email=1",
            "`email=1`: NP6 MailPerformance: no field has this name or id",
        ),
        (
            Vendor::Mailperformance,
            "email=date de naissance",
            "several fields have this name (Date de naissance (5680), Date de Naissance (5681)): name one by its id",
        ),
        (
            Vendor::Copernica,
            "email=e mail",
            "`email=e mail`: Copernica: no field has this name or id (the closest: email",
        ),
        (
            Vendor::Mindbaz,
            "email=fld999",
            "`email=fld999`: Mindbaz: no field has this name or id",
        ),
        (
            Vendor::Mindbaz,
            "email=CODE POSTAL",
            "several fields have this name (Code postal (fld160), Code Postal (fld161))",
        ),
        (
            Vendor::Eloqua,
            "email=C-EmailAddress",
            "the closest: Email Address (C_EmailAddress)",
        ),
        (
            Vendor::Eloqua,
            "email=date created",
            "several fields have this name (Date created (C_Date_Created1), Date Created (C_DateCreated))",
        ),
    ] {
        let out = run(&import(&setup, vendor, "email", &[map.to_owned()], &[])).await;
        assert_eq!(code(&out), 2, "{vendor} {map}: {}", stderr(&out));
        assert!(stderr(&out).contains(expected), "{vendor} {map}: {}", stderr(&out));
        assert_eq!(creating(&setup.sandbox, vendor), Vec::<String>::new(), "{vendor}");
    }
}

#[tokio::test]
async fn a_key_column_on_a_field_that_identifies_no_contact_is_reported() {
    // Copernica takes any field as a key (`keyFields`): nothing to report there.
    for vendor in [Vendor::Mailperformance, Vendor::Mindbaz, Vendor::Eloqua] {
        let setup = setup(&contacts()).await;
        let out = run(&import(
            &setup,
            vendor,
            "first_name",
            &by_name(vendor),
            &["--dry-run"],
        ))
        .await;
        assert_eq!(code(&out), 0, "{vendor}: {}", stderr(&out));
        let plan = json(&out);
        let whole_file: Vec<&Value> = plan["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|w| w["row"].is_null())
            .collect();
        assert_eq!(whole_file.len(), 1, "{vendor}: {plan}");
        assert_eq!(whole_file[0]["column"], "first_name");
        assert!(
            whole_file[0]["reason"]
                .as_str()
                .unwrap()
                .contains("which is not a field"),
            "{plan}"
        );

        let out = run(&import(
            &setup,
            vendor,
            "first_name",
            &by_name(vendor),
            &["--strict"],
        ))
        .await;
        assert_eq!(code(&out), 2, "{vendor}: {}", stderr(&out));
        assert_eq!(
            creating(&setup.sandbox, vendor),
            Vec::<String>::new(),
            "{vendor}"
        );
    }
}
