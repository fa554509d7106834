//! What the tests that spawn the `esp-imports` binary share: its path, the sandbox's
//! credentials as a user's environment, and the values that must never be printed.
#![allow(dead_code)] // each test binary uses its own part

use esp_imports::sandbox::Credentials;

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
