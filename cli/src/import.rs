//! `esp-imports import <VENDOR>`: flags and environment → options → the vendor's workflow.

use std::{collections::BTreeMap, time::Duration};

use esp_imports::{
    copernica, eloqua, mailperformance, mindbaz, Cancel, Credentials, Error, HttpConfig,
    ImportOptions, ImportReport, Importer, Location, Preflight, Secret, Status, Vendor,
    VendorImport,
};

use crate::{exit, exit_code, output, Connection, Failure, ImportArgs, Usage};

/// Runs the command; returns the exit code.
pub async fn run(args: ImportArgs) -> u8 {
    let json = args.json;
    report(import(args).await, json, true)
}

/// Prints the report (readable, or JSON with `json`) or the error, and returns the exit code:
/// what `import` and `status` end with. `creates`: the command creates the import, so an error
/// the library does not tie to an import means none was created.
pub fn report(result: Result<ImportReport, Failure>, json: bool, creates: bool) -> u8 {
    match result {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&report).expect("a report serialises")
                );
            } else {
                print!("{}", output::summary(&report));
            }
            match report.status {
                Status::Failed => {
                    // Why, on stderr too (the JSON has it in `messages`).
                    eprintln!("{}", output::failure_line(&report));
                    exit::FAILED
                }
                _ => exit::OK,
            }
        }
        Err(failure) => fail(failure, json, creates),
    }
}

/// Prints why a command failed (and its JSON with `json`) and returns the exit code.
/// `creates`: as in [`report`].
pub fn fail(failure: Failure, json: bool, creates: bool) -> u8 {
    let (message, code, state) = match &failure {
        Failure::Usage(Usage(message)) => (format!("error: {message}"), exit::USAGE, None),
        Failure::Import(e) => {
            let state = e.import_state().or_else(|| {
                (creates && nothing_created(e)).then_some(("", output::NOTHING_CREATED))
            });
            // An interrupted import's error tells its state itself.
            let untold = state.filter(|_| !matches!(e, Error::Interrupted { .. }));
            (output::error_line(e, untold), exit_code(e), state)
        }
    };
    eprintln!("{message}");
    if json {
        println!(
            "{}",
            output::error_json(message.trim_start_matches("error: "), code, state)
        );
    }
    code
}

/// Whether the vendor refused, or did not answer, before the import was created: the library
/// says otherwise ([`Error::Interrupted`], [`Error::MaybeCreated`]) once something exists.
fn nothing_created(e: &Error) -> bool {
    matches!(
        e,
        Error::Api(_)
            | Error::AuthRejected(_)
            | Error::Transport { .. }
            | Error::Timeout { .. }
            | Error::Decode { .. }
            | Error::Sftp { .. }
    )
}

/// A [`Cancel`] triggered by the first SIGINT (Ctrl-C) or SIGTERM: the import stops sending,
/// cleans up what is safe to clean and says what exists at the vendor. A second signal exits
/// at once.
pub fn cancel_on_signals() -> Cancel {
    let cancel = Cancel::new();
    let handle = cancel.clone();
    // The handlers are installed now, before the first request.
    let signals = super::Signals::install();
    tokio::spawn(async move {
        let Some(mut signals) = signals else { return };
        signals.next().await;
        eprintln!(
            "interrupted: stopping; cleaning up what is safe to clean at the vendor (interrupt \
             again to exit at once)"
        );
        handle.cancel();
        signals.next().await;
        eprintln!("interrupted again: exiting at once");
        std::process::exit(exit::INTERRUPTED.into());
    });
    cancel
}

/// A Mindbaz SFTP setting the library refused, named by its flag.
fn sftp_setting(e: Error) -> Failure {
    let Error::InvalidConfig { setting, reason } = &e else {
        return e.into();
    };
    let flag = match *setting {
        "SFTP directory" => "--sftp-dir",
        "SFTP host key" => "--sftp-host-key",
        "SFTP known hosts" => "--sftp-known-hosts",
        "SFTP agent" => "--sftp-agent",
        "SFTP key passphrase" if env("MINDBAZ_SFTP_KEY_PASSPHRASE").is_ok() => {
            "--sftp-key (with MINDBAZ_SFTP_KEY_PASSPHRASE)"
        }
        "SFTP key passphrase" => {
            return Usage(format!(
                "--sftp-key: {reason}: set MINDBAZ_SFTP_KEY_PASSPHRASE"
            ))
            .into()
        }
        _ => return e.into(),
    };
    Usage(format!("{flag}: {reason}")).into()
}

fn env(name: &str) -> Result<String, Usage> {
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(Usage(format!("the environment variable {name} is not set"))),
    }
}

/// The vendor's credentials, from the environment.
pub fn credentials(vendor: Vendor) -> Result<Credentials, Usage> {
    Ok(match vendor {
        Vendor::Mailperformance => Credentials::Mailperformance(mailperformance::Auth::XKey(
            Secret::new(env("MAILPERFORMANCE_XKEY")?),
        )),
        Vendor::Copernica => Credentials::Copernica(copernica::Auth::AccessToken(Secret::new(
            env("COPERNICA_ACCESS_TOKEN")?,
        ))),
        Vendor::Mindbaz => {
            Credentials::Mindbaz(mindbaz::Auth::Bearer(Secret::new(env("MINDBAZ_TOKEN")?)))
        }
        Vendor::Eloqua => Credentials::Eloqua(eloqua::Auth::Basic {
            company: env("ELOQUA_COMPANY")?,
            username: env("ELOQUA_USERNAME")?,
            password: Secret::new(env("ELOQUA_PASSWORD")?),
        }),
        other => return Err(unsupported(other)),
    })
}

/// A vendor of a newer library than this command line.
pub fn unsupported(vendor: Vendor) -> Usage {
    Usage(format!("{vendor} is not supported by this command line"))
}

/// The vendor's part of the options where only its place is read (`status`, `fields`):
/// Copernica's `--database` (when given), Mindbaz's `--site` (required), the defaults
/// otherwise. A flag of another vendor is refused.
pub fn vendor_place(
    vendor: Vendor,
    database: Option<&str>,
    site_id: Option<i32>,
) -> Result<VendorImport, Usage> {
    if site_id.is_some() && vendor != Vendor::Mindbaz {
        return Err(Usage(format!(
            "--site is for mindbaz, not {}",
            vendor.slug()
        )));
    }
    if database.is_some() && vendor != Vendor::Copernica {
        return Err(Usage(format!(
            "--database is for copernica, not {}",
            vendor.slug()
        )));
    }
    Ok(match vendor {
        Vendor::Mailperformance => {
            VendorImport::Mailperformance(mailperformance::Np6Import::default())
        }
        Vendor::Copernica => VendorImport::Copernica(copernica::CopernicaImport::new(
            database.unwrap_or_default(),
        )),
        // Its report address is not read.
        Vendor::Mindbaz => VendorImport::Mindbaz(mindbaz::MindbazImport::new(site(site_id)?, "")),
        Vendor::Eloqua => VendorImport::Eloqua(eloqua::EloquaImport::default()),
        other => return Err(unsupported(other)),
    })
}

/// `--site`: the Mindbaz site id, required.
pub fn site(site: Option<i32>) -> Result<i32, Usage> {
    let site = site.ok_or_else(|| Usage("mindbaz needs --site ID".into()))?;
    if site < 1 {
        return Err(Usage(format!(
            "--site {site}: give the Mindbaz site id (a number from 1)"
        )));
    }
    Ok(site)
}

/// `COLUMN=FIELD` pairs: each FIELD a field's id or name, resolved by the library against the
/// vendor's field list.
fn column_map(pairs: &[String]) -> Result<BTreeMap<String, String>, Usage> {
    let mut map = BTreeMap::new();
    for pair in pairs {
        let bad = |why: &str| Usage(format!("--map `{pair}`: {why}"));
        let (column, field) = pair
            .split_once('=')
            .ok_or_else(|| bad("expected COLUMN=FIELD"))?;
        let (column, field) = (column.trim(), field.trim());
        if column.is_empty() || field.is_empty() {
            return Err(bad("expected COLUMN=FIELD"));
        }
        if map.insert(column.to_owned(), field.to_owned()).is_some() {
            return Err(bad("this column is mapped twice"));
        }
    }
    Ok(map)
}

fn delimiter(value: &Option<String>) -> Result<Option<u8>, Usage> {
    let Some(value) = value else { return Ok(None) };
    match value.as_str() {
        "\\t" | "tab" | "\t" => Ok(Some(b'\t')),
        one if one.len() == 1 && one.is_ascii() && one != "\"" && one != "\n" && one != "\r" => {
            Ok(Some(one.as_bytes()[0]))
        }
        _ => Err(Usage(format!(
            "--delimiter `{value}`: give one ASCII character (or `tab`)"
        ))),
    }
}

/// Checks a URL flag as the library checks every base URL ([`HttpConfig::check_url`]: https,
/// or http to loopback or with `--allow-insecure-http`; no credentials, no query). Messages
/// show the URL without what could be a credential.
fn url(flag: &str, url: &str, config: &HttpConfig) -> Result<String, Usage> {
    config.check_url(url).map_err(|e| match e {
        Error::InvalidConfig { reason, .. } => Usage(format!("{flag} {reason}")),
        other => Usage(format!("{flag}: {other}")),
    })
}

/// The settings of the HTTP clients: `--request-timeout`, `--allow-insecure-http` and the
/// `--ca-cert` files (read and checked here, before any request).
pub fn http_config(args: &Connection) -> Result<HttpConfig, Usage> {
    let mut config = HttpConfig::default()
        .with_request_timeout(seconds("--request-timeout", args.request_timeout)?)
        .with_allow_insecure_http(args.allow_insecure_http);
    for file in &args.ca_cert {
        config.add_ca_file(file).map_err(|e| match e {
            Error::InvalidConfig { reason, .. } => Usage(format!("--ca-cert {reason}")),
            other => Usage(format!("--ca-cert {other}")),
        })?;
    }
    Ok(config)
}

/// Where the vendor's API is: `--base-url`, or the vendor's production URL; for Eloqua without
/// `--base-url`, the `--login-url` its pod is discovered through (after everything is checked,
/// so that bad input sends nothing).
pub fn location(args: &Connection, vendor: Vendor, config: &HttpConfig) -> Result<Location, Usage> {
    Ok(match &args.base_url {
        Some(given) => Location::BaseUrl(url("--base-url", given, config)?),
        None if vendor == Vendor::Eloqua => {
            Location::EloquaLogin(url("--login-url", &args.login_url, config)?)
        }
        None => Location::Production,
    })
}

pub fn seconds(flag: &str, value: f64) -> Result<Duration, Usage> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| Usage(format!("{flag} {value}: give a positive number of seconds")))
}

/// The vendor's credentials (from the environment) and its part of the options (from its
/// flags).
fn vendor_settings(
    args: &ImportArgs,
    vendor: Vendor,
) -> Result<(Credentials, VendorImport), Usage> {
    Ok(match vendor {
        Vendor::Mailperformance => (
            credentials(vendor)?,
            VendorImport::Mailperformance(mailperformance::Np6Import::default()),
        ),
        Vendor::Copernica => {
            let database = args
                .database
                .clone()
                .ok_or_else(|| Usage("copernica needs --database ID".into()))?;
            (
                credentials(vendor)?,
                VendorImport::Copernica(copernica::CopernicaImport::new(database)),
            )
        }
        Vendor::Mindbaz => {
            let site = site(args.site)?;
            let token = credentials(vendor)?;
            let mut mindbaz_options = mindbaz::MindbazImport::new(site, args.notify.clone());
            mindbaz_options.delete_file = args.sftp_delete_after_import;
            match (&args.remote_file, &args.sftp_host) {
                (Some(remote), None) => mindbaz_options.remote_file = Some(remote.clone()),
                (None, Some(host)) => {
                    let user = args
                        .sftp_user
                        .clone()
                        .ok_or_else(|| Usage("--sftp-host needs --sftp-user".into()))?;
                    let auth = match (&args.sftp_key, args.sftp_agent) {
                        (_, true) => mindbaz::SftpAuth::Agent(None),
                        (Some(key), false) => match env("MINDBAZ_SFTP_KEY_PASSPHRASE") {
                            Ok(passphrase) => mindbaz::SftpAuth::EncryptedKeyFile {
                                path: key.clone(),
                                passphrase: Secret::new(passphrase),
                            },
                            Err(_) => mindbaz::SftpAuth::KeyFile(key.clone()),
                        },
                        (None, false) => {
                            mindbaz::SftpAuth::Password(Secret::new(env("MINDBAZ_SFTP_PASSWORD")?))
                        }
                    };
                    let mut sftp = mindbaz::SftpConfig::new(host.clone(), user, auth);
                    sftp.port = args.sftp_port;
                    sftp.remote_dir = args.sftp_dir.clone();
                    sftp.known_hosts = args.sftp_known_hosts.clone();
                    sftp.host_key_sha256 = args.sftp_host_key.clone();
                    sftp.accept_new_host_key = args.sftp_accept_new_host_key;
                    mindbaz_options.sftp = Some(sftp);
                }
                (Some(_), Some(_)) => {
                    return Err(Usage(
                        "mindbaz takes --remote-file NAME (already on the SFTP) or --sftp-host \
                         HOST (to upload the file), not both"
                            .into(),
                    ))
                }
                (None, None) => {
                    return Err(Usage(
                        "mindbaz needs either --remote-file NAME (already on the SFTP) or \
                         --sftp-host HOST --sftp-user USER"
                            .into(),
                    ))
                }
            }
            (token, VendorImport::Mindbaz(mindbaz_options))
        }
        Vendor::Eloqua => {
            let auth = credentials(vendor)?;
            let mut eloqua_options = eloqua::EloquaImport::default();
            eloqua_options.chunk_cap = args.chunk_size;
            (auth, VendorImport::Eloqua(eloqua_options))
        }
        other => return Err(unsupported(other)),
    })
}

async fn import(args: ImportArgs) -> Result<ImportReport, Failure> {
    let vendor = Vendor::from(args.vendor);
    let columns = column_map(&args.map)?;
    let mut options = ImportOptions::new(&args.file, columns, args.key.clone());
    options.auto_map = args.map_auto;
    options.dry_run = args.dry_run;
    options.preflight = match (args.skip_invalid, args.strict, args.no_preflight) {
        (true, _, _) => Preflight::SkipInvalid,
        (_, true, _) => Preflight::Strict,
        (_, _, true) => Preflight::Off,
        _ => Preflight::Warn,
    };
    options.mode = args.mode.into();
    options.delimiter = delimiter(&args.delimiter)?;
    if args.max_row_bytes == 0 {
        return Err(Usage("--max-row-bytes 0: give a positive number of bytes".into()).into());
    }
    options.max_row_bytes = args.max_row_bytes;
    options.name = match &args.name {
        Some(name) if name.trim().is_empty() => {
            return Err(Usage("--name: give a name, or leave --name out".into()).into())
        }
        name => name.clone(),
    };
    options.poll_interval = seconds("--poll-interval", args.poll_interval)?;
    options.timeout = seconds("--timeout", args.timeout)?;
    options.no_wait = args.no_wait;
    options.progress = output::progress(!args.json);
    options.cancel = Some(cancel_on_signals());
    let config = http_config(&args.connection)?;
    let location = location(&args.connection, vendor, &config)?;

    let (credentials, vendor_options) = vendor_settings(&args, vendor)?;
    let importer = Importer::new(credentials, location, &config)?;
    // Only Mindbaz has SFTP settings, named by their flags.
    importer
        .import(&options, &vendor_options)
        .await
        .map_err(sftp_setting)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_are_column_equals_field() {
        let map =
            |pairs: &[&str]| column_map(&pairs.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(
            map(&["email=1234", " first name = Prénom "]).unwrap(),
            BTreeMap::from([
                ("email".to_owned(), "1234".to_owned()),
                ("first name".to_owned(), "Prénom".to_owned())
            ])
        );
        assert_eq!(
            map(&["email"]).unwrap_err().0,
            "--map `email`: expected COLUMN=FIELD"
        );
        assert!(map(&["email="]).is_err());
        assert!(map(&["a=x", "a=y"]).is_err());
    }

    #[test]
    fn url_flags_are_named_without_credentials() {
        let config = HttpConfig::default();
        let e = url("--base-url", "https://u:secret@x.io/v3", &config).unwrap_err();
        assert_eq!(
            e.0,
            "--base-url `https://…@x.io/v3`: no user or password in the URL, please \
             (credentials come from the environment)"
        );
        let e = url("--base-url", "https://x.io/v3?access_token=secret", &config).unwrap_err();
        assert!(e.0.starts_with("--base-url `https://x.io/v3`: "), "{}", e.0);
        assert!(url("--login-url", "http://login.example.com", &config).is_err());
        let insecure = HttpConfig::default().with_allow_insecure_http(true);
        assert!(url("--login-url", "http://login.example.com", &insecure).is_ok());
    }

    #[test]
    fn delimiters() {
        assert_eq!(delimiter(&Some(";".into())).unwrap(), Some(b';'));
        assert_eq!(delimiter(&Some("tab".into())).unwrap(), Some(b'\t'));
        assert!(delimiter(&Some(";;".into())).is_err());
        assert!(delimiter(&Some("\"".into())).is_err());
    }
}
