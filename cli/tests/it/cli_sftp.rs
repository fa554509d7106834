//! `esp-imports import mindbaz --sftp-host …` as a user runs it: the binary uploads to a REAL
//! OpenSSH server on loopback (`sshd/mod.rs`), whose SFTP directory is the sandbox's Mindbaz
//! SFTP directory, so the sandbox imports what landed. The server's host key is unknown,
//! changed or known; the server's DEBUG3 log shows whether any authentication was attempted.
//! `HOME` is a temporary directory: `~/.ssh/known_hosts` is the test's own.

use std::{path::Path, process::Output};

use esp_imports::Vendor;
use esp_imports_sandbox::{Fault, FaultKind, Sandbox, SandboxConfig};

use crate::common::{code, credentials_env, stderr, BIN};
use crate::sshd::{Agent, Sshd};

const PASSPHRASE: &str = "s3cret passphrase, never printed";

/// Runs the binary with the sandbox's credentials, `HOME` set to `home`, `extra` added to its
/// environment (and no SSH agent or passphrase unless given), and checks that no credential
/// appears in what it printed.
async fn run(args: &[String], home: &Path, extra: &[(&str, String)]) -> Output {
    let mut command = crate::common::command(args);
    command
        .env("HOME", home)
        .env_remove("SSH_AUTH_SOCK")
        .env_remove("MINDBAZ_SFTP_KEY_PASSPHRASE")
        .envs(credentials_env())
        .envs(extra.iter().cloned());
    crate::common::output(command, &[PASSPHRASE]).await
}

struct Setup {
    sshd: Sshd,
    sandbox: Sandbox,
    home: tempfile::TempDir,
    file: String,
}

async fn setup() -> Setup {
    let sshd = Sshd::start();
    let sandbox =
        Sandbox::start(SandboxConfig::default().with_mindbaz_sftp_dir(sshd.path("sftproot")))
            .await
            .unwrap();
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join("contacts.csv");
    std::fs::write(
        &file,
        "email,city\nada@example.com,Lille\nbob@example.com,Lens\n",
    )
    .unwrap();
    Setup {
        sshd,
        sandbox,
        home,
        file: file.to_string_lossy().into_owned(),
    }
}

impl Setup {
    /// The command line, with the user's key, and `extra` flags.
    fn args(&self, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "import",
            "mindbaz",
            "--file",
            &self.file,
            "--base-url",
            &self.sandbox.base_url(Vendor::Mindbaz),
            "--key",
            "email",
            "--map",
            "email=fld1",
            "--map",
            "city=fld4",
            "--site",
            "7",
            "--notify",
            "ops@example.com",
            "--poll-interval",
            "0.05",
            "--sftp-host",
            "127.0.0.1",
            "--sftp-port",
            &self.sshd.port.to_string(),
            "--sftp-user",
            &self.sshd.user,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    }

    fn key(&self) -> String {
        self.sshd.path("userkey").to_string_lossy().into_owned()
    }

    fn known_hosts(&self) -> std::path::PathBuf {
        self.home.path().join(".ssh/known_hosts")
    }

    async fn run(&self, args: &[String], extra: &[(&str, String)]) -> Output {
        run(args, self.home.path(), extra).await
    }

    fn uploaded(&self) -> bool {
        self.sshd.path("sftproot/contacts.csv").exists()
    }
}

#[tokio::test]
async fn unknown_changed_and_known_host_keys_through_the_cli() {
    let s = setup().await;
    let key = s.key();

    // Unknown: ~/.ssh/known_hosts has no entry. Refused before any credential is sent, with
    // the key's fingerprint and the two ways to accept it.
    let output = s.run(&s.args(&["--sftp-key", &key]), &[]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    let message = stderr(&output);
    for part in [
        format!("--sftp-host-key {}", s.sshd.host_key),
        "--sftp-accept-new-host-key".into(),
        "unknown host key".into(),
        "no import created".into(),
    ] {
        assert!(message.contains(&part), "`{part}` missing from:\n{message}");
    }
    assert!(!s.uploaded());

    // Changed: the known-hosts file given records another key for the server. Refused even
    // with the right fingerprint and accept-new.
    let changed = s.home.path().join("changed_known_hosts");
    std::fs::write(&changed, s.sshd.known_hosts_line("otherkey.pub")).unwrap();
    let output = s
        .run(
            &s.args(&[
                "--sftp-key",
                &key,
                "--sftp-known-hosts",
                changed.to_str().unwrap(),
                "--sftp-host-key",
                &s.sshd.host_key,
                "--sftp-accept-new-host-key",
            ]),
            &[],
        )
        .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("records another key"),
        "{}",
        stderr(&output)
    );
    assert!(!s.uploaded());

    let log = s.sshd.log_after_sessions(2);
    assert_eq!(Sshd::sessions(&log), 2, "{log}");
    assert!(
        !Sshd::auth_attempted(&log),
        "no authentication attempt may reach a server whose key is refused:\n{log}"
    );
    assert!(s.sandbox.contacts(Vendor::Mindbaz).is_empty());

    // Accepted by fingerprint (nothing recorded), then recorded with accept-new, then known.
    let output = s
        .run(
            &s.args(&["--sftp-key", &key, "--sftp-host-key", &s.sshd.host_key]),
            &[],
        )
        .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(s.uploaded());
    assert!(!s.known_hosts().exists());
    assert!(Sshd::auth_attempted(&s.sshd.log_after_sessions(3)));

    let output = s
        .run(
            &s.args(&["--sftp-key", &key, "--sftp-accept-new-host-key"]),
            &[],
        )
        .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(s.known_hosts())
            .unwrap()
            .trim_start(),
        s.sshd.known_hosts_line("hostkey.pub")
    );
    let output = s.run(&s.args(&["--sftp-key", &key]), &[]).await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(s.sandbox.contacts(Vendor::Mindbaz).len(), 2);

    // A fingerprint that is not the server's is refused even though the key is known.
    let output = s
        .run(
            &s.args(&[
                "--sftp-key",
                &key,
                "--sftp-host-key",
                &crate::sshd::fingerprint(&s.sshd.path("otherkey.pub")),
            ]),
            &[],
        )
        .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("not the expected"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn passphrase_agent_directory_and_delete_after_import_through_the_cli() {
    let s = setup().await;
    std::fs::create_dir_all(s.known_hosts().parent().unwrap()).unwrap();
    std::fs::write(s.known_hosts(), s.sshd.known_hosts_line("hostkey.pub")).unwrap();
    crate::sshd::keygen(&s.sshd.path("lockedkey"), PASSPHRASE);
    std::fs::write(
        s.sshd.path("authorized_keys"),
        std::fs::read_to_string(s.sshd.path("lockedkey.pub")).unwrap(),
    )
    .unwrap();
    let locked = s.sshd.path("lockedkey").to_string_lossy().into_owned();

    // A passphrase-protected key: without MINDBAZ_SFTP_KEY_PASSPHRASE, with a wrong one, then
    // the right one.
    let output = s.run(&s.args(&["--sftp-key", &locked]), &[]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--sftp-key")
            && stderr(&output).contains("set MINDBAZ_SFTP_KEY_PASSPHRASE"),
        "{}",
        stderr(&output)
    );
    let output = s
        .run(
            &s.args(&["--sftp-key", &locked]),
            &[("MINDBAZ_SFTP_KEY_PASSPHRASE", "wrong".into())],
        )
        .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--sftp-key"),
        "{}",
        stderr(&output)
    );
    assert_eq!(Sshd::sessions(&s.sshd.log()), 0);
    let output = s
        .run(
            &s.args(&["--sftp-key", &locked, "--sftp-delete-after-import"]),
            &[("MINDBAZ_SFTP_KEY_PASSPHRASE", PASSPHRASE.into())],
        )
        .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(s.sandbox.contacts(Vendor::Mindbaz).len(), 2);
    assert!(!s.uploaded(), "Mindbaz deleted the file once imported");

    // --sftp-dir is taken as given, or refused.
    std::fs::create_dir_all(s.sshd.path("sftproot/.incoming")).unwrap();
    std::fs::create_dir_all(s.sshd.path("sftproot/errors/.incoming")).unwrap();
    let passphrase = [("MINDBAZ_SFTP_KEY_PASSPHRASE", PASSPHRASE.to_owned())];
    let output = s
        .run(
            &s.args(&["--sftp-key", &locked, "--sftp-dir", ".incoming"]),
            &passphrase,
        )
        .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(s.sshd.path("sftproot/.incoming/contacts.csv").exists());
    let output = s
        .run(
            &s.args(&["--sftp-key", &locked, "--sftp-dir", "../up"]),
            &passphrase,
        )
        .await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--sftp-dir: `../up`"),
        "{}",
        stderr(&output)
    );

    // An ssh-agent (SSH_AUTH_SOCK) holding the key (scripts/setup-tests installs it).
    let agent = Agent::start(&s.home.path().join("agent.sock"));
    let socket = agent.socket().to_owned();
    // ssh-add reads the passphrase from SSH_ASKPASS when told to.
    std::fs::write(
        s.sshd.path("askpass"),
        format!("#!/bin/sh\necho '{PASSPHRASE}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(
        s.sshd.path("askpass"),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let status = std::process::Command::new("ssh-add")
        .arg(s.sshd.path("lockedkey"))
        .env("SSH_AUTH_SOCK", &socket)
        .env("SSH_ASKPASS", s.sshd.path("askpass"))
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", "none")
        .stdin(std::process::Stdio::null())
        .status();
    let connections = Sshd::sessions(&s.sshd.log());
    let output = s
        .run(
            &s.args(&["--sftp-agent"]),
            &[("SSH_AUTH_SOCK", socket.to_string_lossy().into_owned())],
        )
        .await;
    drop(agent);
    assert!(status.unwrap().success(), "ssh-add");
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_eq!(Sshd::sessions(&s.sshd.log()), connections + 1);

    // No agent: named, before any connection.
    let output = s.run(&s.args(&["--sftp-agent"]), &[]).await;
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--sftp-agent: SSH_AUTH_SOCK is not set"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test]
async fn a_refused_schedule_after_the_upload_says_the_file_is_on_the_sftp() {
    let s = setup().await;
    std::fs::create_dir_all(s.known_hosts().parent().unwrap()).unwrap();
    std::fs::write(s.known_hosts(), s.sshd.known_hosts_line("hostkey.pub")).unwrap();
    s.sandbox.inject(
        Fault::new(FaultKind::Status {
            code: 400,
            retry_after: None,
            body: r#"{"success":false,"data":null,"error":"Error, mapping invalid"}"#.into(),
        })
        .vendor(Vendor::Mindbaz)
        .method("POST")
        .path_contains("scheduleNow"),
    );
    let key = s.key();
    let output = s.run(&s.args(&["--sftp-key", &key, "--json"]), &[]).await;
    // A vendor's refusal (a 4xx): the import failed at the vendor.
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let state = json["import_state"].as_str().unwrap();
    assert!(
        state.starts_with("no import created")
            && state.contains("the file `contacts.csv` is on the Mindbaz SFTP")
            && state.contains("--remote-file contacts.csv"),
        "{json}"
    );
    assert!(json.get("import_id").is_none(), "{json}");
    assert_eq!(
        stderr(&output).matches("is on the Mindbaz SFTP").count(),
        1,
        "told once: {}",
        stderr(&output)
    );
    assert!(s.uploaded());
    assert!(!s.sshd.path("sftproot/.contacts.csv.part").exists());
}

#[tokio::test]
async fn ctrl_c_during_the_upload_removes_the_partial_file() {
    let s = setup().await;
    std::fs::create_dir_all(s.known_hosts().parent().unwrap()).unwrap();
    std::fs::write(s.known_hosts(), s.sshd.known_hosts_line("hostkey.pub")).unwrap();
    // Large enough that the upload is still running when Ctrl-C comes, on a loaded machine
    // too (about 100 MB: with 50 MB, the run once ended otherwise than interrupted).
    let mut content = String::from("email,city\n");
    for i in 0..3_000_000 {
        content.push_str(&format!("user{i:07}@example.com,City {i}\n"));
    }
    std::fs::write(&s.file, content).unwrap();
    let key = s.key();
    let mut command = tokio::process::Command::new(BIN);
    command
        .args(s.args(&["--sftp-key", &key, "--json"]))
        .env("HOME", s.home.path())
        .env_remove("SSH_AUTH_SOCK")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, value) in credentials_env() {
        command.env(name, value);
    }
    let child = command.spawn().unwrap();
    let part = s.sshd.path("sftproot/.contacts.csv.part");
    let started = std::time::Instant::now();
    while !part.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the upload did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let pid = child.id().unwrap().to_string();
    crate::sshd::run(std::process::Command::new("kill").args(["-INT", &pid]));
    let output = child.wait_with_output().await.unwrap();

    assert_eq!(code(&output), 130, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("interrupted; no partial file `.contacts.csv.part` is left"),
        "{}",
        stderr(&output)
    );
    let json: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim()).unwrap();
    assert_eq!(json["exit_code"], 130, "{json}");
    assert!(!part.exists(), "the partial file is removed");
    assert!(!s.uploaded(), "nothing under the final name");
    assert!(s.sandbox.contacts(Vendor::Mindbaz).is_empty());
}

/// `--skip-invalid` with an upload: the copy without the rows that do not fit Mindbaz's fields
/// is what lands on the SFTP, under the file's own name, and the rows left out are reported
/// with their lines; the sandbox imports only the others.
#[tokio::test]
async fn skip_invalid_uploads_the_file_without_the_rows_left_out() {
    let s = setup().await;
    std::fs::create_dir_all(s.known_hosts().parent().unwrap()).unwrap();
    std::fs::write(s.known_hosts(), s.sshd.known_hosts_line("hostkey.pub")).unwrap();
    // Line 3: not an e-mail; line 4: longer than fld4's 50 characters.
    std::fs::write(
        &s.file,
        format!(
            "email,city\nada@example.com,Lille\nbob@example,Lens\neve@example.com,{}\n\
             dan@example.com,Arras\n",
            "Villeneuve-d'Ascq ".repeat(4)
        ),
    )
    .unwrap();
    let key = s.key();
    let output = s
        .run(
            &s.args(&["--sftp-key", &key, "--json", "--skip-invalid"]),
            &[],
        )
        .await;
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let report: serde_json::Value =
        serde_json::from_str(String::from_utf8_lossy(&output.stdout).trim()).unwrap();
    assert_eq!(report["rows_total"], 4, "{report}");
    assert_eq!(report["rows_not_sent"], 2, "{report}");
    assert_eq!(crate::common::not_sent(&report), [3, 4], "{report}");
    let uploaded = std::fs::read_to_string(s.sshd.path("sftproot/contacts.csv")).unwrap();
    assert_eq!(
        uploaded,
        "email,city\nada@example.com,Lille\ndan@example.com,Arras\n"
    );
    let contacts = s.sandbox.contacts(Vendor::Mindbaz);
    let keys: Vec<&String> = contacts.keys().collect();
    assert_eq!(keys, ["ada@example.com", "dan@example.com"], "{contacts:?}");
}
