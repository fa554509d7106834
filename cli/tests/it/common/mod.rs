//! What the tests that spawn the `esp-imports` binary share: its path, the sandbox's
//! credentials as a user's environment, and the values that must never be printed.
#![allow(dead_code)] // each test binary uses its own part

use esp_imports_sandbox::Credentials;

pub const BIN: &str = env!("CARGO_BIN_EXE_esp-imports");

/// The Mindbaz SFTP password the tests put in the environment (the sandbox runs no SSH server).
pub const SFTP_PASSWORD: &str = "sandbox-sftp-password";

/// The environment a user would set for the sandbox.
pub fn credentials_env() -> Vec<(&'static str, String)> {
    let c = Credentials::default();
    vec![
        ("MAILPERFORMANCE_XKEY", c.np6_key),
        ("COPERNICA_ACCESS_TOKEN", c.copernica_token),
        ("MINDBAZ_TOKEN", c.mindbaz_token),
        ("MINDBAZ_SFTP_PASSWORD", SFTP_PASSWORD.into()),
        ("ELOQUA_COMPANY", c.eloqua_company),
        ("ELOQUA_USERNAME", c.eloqua_username),
        ("ELOQUA_PASSWORD", c.eloqua_password),
    ]
}

/// The credential values of [`credentials_env`]: none may appear in anything the binary prints.
pub fn secrets() -> Vec<String> {
    let c = Credentials::default();
    vec![
        c.np6_key,
        c.copernica_token,
        c.mindbaz_token,
        c.eloqua_password,
        SFTP_PASSWORD.into(),
    ]
}

/// The binary with `args`, at debug log level, none of the credentials of
/// [`credentials_env`] inherited (a test adds the ones it wants).
pub fn command<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(BIN);
    command.args(args).env("RUST_LOG", "debug");
    for (name, _) in credentials_env() {
        command.env_remove(name);
    }
    command
}

/// Runs `command` to its end and checks that none of [`secrets`], nor `more_secrets`, appears
/// in what it printed.
pub async fn output(
    mut command: tokio::process::Command,
    more_secrets: &[&str],
) -> std::process::Output {
    let output = command.output().await.unwrap();
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for secret in secrets()
        .into_iter()
        .chain(more_secrets.iter().map(|s| s.to_string()))
    {
        assert!(
            !printed.contains(&secret),
            "a credential was printed by {command:?}:\n{printed}"
        );
    }
    output
}

/// Runs the binary with `args` and the sandbox's credentials in its environment, checking
/// that none of them is printed.
pub async fn run_as_user<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Output {
    let mut command = command(args);
    command.envs(credentials_env());
    output(command, &[]).await
}

/// The exit code.
pub fn code(output: &std::process::Output) -> i32 {
    output.status.code().expect("an exit code")
}

/// What it printed on stderr.
pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The command line that imports `file` into the sandbox-like `vendor` at `base_url`: two
/// mapped columns (`email`, `first_name`), keyed by `email`, and each vendor's own flags.
pub fn import_args(vendor: esp_imports::Vendor, file: &str, base_url: &str) -> Vec<String> {
    use esp_imports::Vendor;
    let maps: &[&str] = match vendor {
        Vendor::Mailperformance => &["email=1234", "first_name=1235"],
        Vendor::Copernica => &["email=email", "first_name=firstname"],
        Vendor::Mindbaz => &["email=fld1", "first_name=fld15"],
        Vendor::Eloqua => &["email=C_EmailAddress", "first_name=C_FirstName"],
        _ => unreachable!("a vendor these tests do not know: {vendor}"),
    };
    import_args_mapped(vendor, file, base_url, "email", maps)
}

/// The command line that imports `file` into the sandbox-like `vendor` at `base_url`, keyed
/// by `key`, with these `--map`s and each vendor's own flags (Copernica's database 1; Mindbaz's
/// site 7 and the file already on its SFTP as `contacts.csv`).
pub fn import_args_mapped<S: AsRef<str>>(
    vendor: esp_imports::Vendor,
    file: &str,
    base_url: &str,
    key: &str,
    maps: &[S],
) -> Vec<String> {
    use esp_imports::Vendor;
    let mut args: Vec<String> = [
        "import",
        vendor.slug(),
        "--file",
        file,
        "--base-url",
        base_url,
        "--key",
        key,
        "--poll-interval",
        "0.05",
        "--timeout",
        "60",
    ]
    .map(String::from)
    .to_vec();
    let extra: &[&str] = match vendor {
        Vendor::Copernica => &["--database", "1"],
        Vendor::Mindbaz => &[
            "--site",
            "7",
            "--remote-file",
            "contacts.csv",
            "--notify",
            "ops@example.com",
        ],
        _ => &[],
    };
    for map in maps {
        args.extend(["--map".into(), map.as_ref().to_owned()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// The lines of a report's rejects that were left out before sending.
pub fn not_sent(report: &serde_json::Value) -> Vec<u64> {
    report["rejects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["before_sending"] == true)
        .map(|r| r["row"].as_u64().unwrap())
        .collect()
}
