//! The `esp-imports` command line: `import`, `status`, `fields`, `demo`, `sandbox` and `spec` (parsing,
//! logging, and the exit codes here).
#![forbid(unsafe_code)]

mod demo;
mod fields;
mod import;
mod output;
mod sample;
mod status;

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand, ValueEnum};
use esp_imports::{Error, Mode, Vendor};

/// Exit codes (also in the README).
pub mod exit {
    /// Completed, completed with errors, or submitted with `--no-wait` (`status`: still
    /// running).
    pub const OK: u8 = 0;
    /// The import failed at the vendor.
    pub const FAILED: u8 = 1;
    /// Usage or bad input, found before any request.
    pub const USAGE: u8 = 2;
    /// The vendor rejected the credentials.
    pub const AUTH: u8 = 3;
    /// Network or server error after the retries, or `--timeout` reached.
    pub const NETWORK: u8 = 4;
    /// Interrupted (Ctrl-C), as a shell reports a process stopped by SIGINT.
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser)]
#[command(
    name = "esp-imports",
    version,
    about = "Bulk contact imports into NP6 MailPerformance, Copernica, Mindbaz and Oracle Eloqua",
    after_help = "Credentials come from the environment: MAILPERFORMANCE_XKEY, COPERNICA_ACCESS_TOKEN, \
                  MINDBAZ_TOKEN (+ MINDBAZ_SFTP_PASSWORD, or --sftp-key with \
                  MINDBAZ_SFTP_KEY_PASSPHRASE, or --sftp-agent), ELOQUA_COMPANY, \
                  ELOQUA_USERNAME, ELOQUA_PASSWORD. Logs: RUST_LOG=debug."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the sandbox in-process and import a sample file into all four vendors.
    Demo {
        /// Generate this many rows instead of the bundled sample.
        #[arg(long)]
        rows: Option<u64>,
    },
    /// Run the four vendor emulators on loopback until Ctrl-C.
    Sandbox {
        /// Address of the first emulator; the others take the next ports.
        #[arg(long, default_value = "127.0.0.1:8640")]
        listen: SocketAddr,
    },
    /// Import a CSV file into a vendor.
    Import(Box<ImportArgs>),
    /// Read an import's state at the vendor from its id (`--no-wait`, or interrupted), and
    /// report it as `import` does; `--wait` follows it to its end.
    Status(Box<StatusArgs>),
    /// List the vendor's contact fields, which `import --map` names (by id or name).
    Fields(Box<FieldsArgs>),
    /// Print the bundled OpenAPI spec of a vendor.
    Spec {
        /// The vendor.
        vendor: VendorArg,
    },
}

/// A vendor on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum VendorArg {
    /// NP6 MailPerformance.
    Mailperformance,
    /// Copernica REST v3.
    Copernica,
    /// Mindbaz API V1.
    Mindbaz,
    /// Oracle Eloqua Bulk API 2.0.
    Eloqua,
}

impl From<VendorArg> for Vendor {
    fn from(v: VendorArg) -> Self {
        match v {
            VendorArg::Mailperformance => Vendor::Mailperformance,
            VendorArg::Copernica => Vendor::Copernica,
            VendorArg::Mindbaz => Vendor::Mindbaz,
            VendorArg::Eloqua => Vendor::Eloqua,
        }
    }
}

/// `--mode`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Insert new contacts and update existing ones.
    Upsert,
    /// Insert new contacts only.
    Insert,
    /// Update existing contacts only.
    Update,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Upsert => Mode::Upsert,
            ModeArg::Insert => Mode::InsertOnly,
            ModeArg::Update => Mode::UpdateOnly,
        }
    }
}

/// `esp-imports import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The vendor.
    pub vendor: VendorArg,
    /// The CSV file (UTF-8, with a header line).
    #[arg(long)]
    pub file: PathBuf,
    #[command(flatten)]
    pub connection: Connection,
    /// The column that identifies a contact (it must be mapped).
    #[arg(long = "key")]
    pub key: String,
    /// COLUMN=FIELD: a file column and the vendor field it goes to, by its id or its name as
    /// `fields` lists them (repeat it).
    #[arg(
        long = "map",
        value_name = "COLUMN=FIELD",
        required_unless_present = "map_auto"
    )]
    pub map: Vec<String>,
    /// Map every column whose header is a vendor field's id or name (case and accents
    /// aside), besides the --map ones; a header that names several fields is refused.
    #[arg(long)]
    pub map_auto: bool,
    /// Leave out the rows whose values do not fit the vendor's fields (the pre-flight), and
    /// report them as rejected before sending.
    #[arg(long, conflicts_with = "strict")]
    pub skip_invalid: bool,
    /// Refuse the whole file (exit 2, nothing created) if the pre-flight finds anything.
    #[arg(long)]
    pub strict: bool,
    /// Do not read the vendor's fields to check the values (names in --map still need them).
    #[arg(long, conflicts_with_all = ["strict", "skip_invalid"])]
    pub no_preflight: bool,
    /// Run every check, the vendor's field list included, and print the plan: nothing is
    /// created at the vendor (only reads).
    #[arg(long)]
    pub dry_run: bool,
    /// What happens to new and existing contacts.
    #[arg(long, value_enum, default_value = "upsert")]
    pub mode: ModeArg,
    /// The field delimiter (default: guessed from the header line).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// The longest row of the file, in bytes (line breaks inside quotes included): a longer
    /// one, most often a quote left open, is refused naming its line.
    #[arg(long, value_name = "BYTES", default_value_t = esp_imports::DEFAULT_MAX_ROW_BYTES)]
    pub max_row_bytes: u64,
    /// The import's name at the vendor.
    #[arg(long)]
    pub name: Option<String>,
    /// Print one JSON object with the report on stdout.
    #[arg(long)]
    pub json: bool,
    /// Seconds between two status polls.
    #[arg(long, default_value_t = 2.0)]
    pub poll_interval: f64,
    /// The longest the whole import may take, in seconds (requests in flight included).
    #[arg(long, default_value_t = 3600.0)]
    pub timeout: f64,
    /// Return once the vendor has the data and the import is started.
    #[arg(long)]
    pub no_wait: bool,
    /// Copernica: the database (id or name).
    #[arg(long)]
    pub database: Option<String>,
    /// Mindbaz: the site id.
    #[arg(long)]
    pub site: Option<i32>,
    /// Mindbaz: a file already on the Mindbaz SFTP (no upload).
    #[arg(long)]
    pub remote_file: Option<String>,
    /// Mindbaz: the SFTP host.
    #[arg(long)]
    pub sftp_host: Option<String>,
    /// Mindbaz: the SFTP port.
    #[arg(long, default_value_t = 22)]
    pub sftp_port: u16,
    /// Mindbaz: the SFTP user.
    #[arg(long)]
    pub sftp_user: Option<String>,
    /// Mindbaz: a private key file for the SFTP, its passphrase (if any) in
    /// MINDBAZ_SFTP_KEY_PASSPHRASE (otherwise MINDBAZ_SFTP_PASSWORD).
    #[arg(long)]
    pub sftp_key: Option<PathBuf>,
    /// Mindbaz: authenticate to the SFTP with the keys of the ssh-agent at SSH_AUTH_SOCK.
    #[arg(long, conflicts_with = "sftp_key")]
    pub sftp_agent: bool,
    /// Mindbaz: the remote directory for the upload, relative to the SFTP account's start
    /// directory (no leading `/`, no `..`).
    #[arg(long, default_value = ".")]
    pub sftp_dir: String,
    /// Mindbaz: the known-hosts file the SFTP server's key is checked against (default:
    /// ~/.ssh/known_hosts).
    #[arg(long, value_name = "FILE")]
    pub sftp_known_hosts: Option<PathBuf>,
    /// Mindbaz: the SHA256 fingerprint of the SFTP server's key (`ssh-keygen -lf`), accepted
    /// when the known-hosts file has no entry for the server; another key is refused.
    #[arg(long, value_name = "SHA256:…")]
    pub sftp_host_key: Option<String>,
    /// Mindbaz: accept an SFTP server the known-hosts file does not know, and record its key
    /// there (OpenSSH's accept-new). A changed key is still refused.
    #[arg(long)]
    pub sftp_accept_new_host_key: bool,
    /// Mindbaz: Mindbaz deletes the file from its SFTP once imported (`deleteFile`).
    #[arg(long)]
    pub sftp_delete_after_import: bool,
    /// Mindbaz: addresses that receive the import report.
    #[arg(long, default_value = "")]
    pub notify: String,
    /// Eloqua: the largest staging request, in bytes.
    #[arg(long, default_value_t = esp_imports::eloqua::MAX_CHUNK)]
    pub chunk_size: u64,
}

/// `esp-imports status`.
#[derive(Args)]
pub struct StatusArgs {
    /// The vendor.
    pub vendor: VendorArg,
    /// The import's id, as `import` reported it (`import_id`): a number, or for Eloqua the
    /// sync's URI `/syncs/N`.
    pub id: String,
    /// Follow the import until it ends, with the progress display of `import`.
    #[arg(long)]
    pub wait: bool,
    /// Print one JSON object with the report on stdout (the shape of `import --json`).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
    /// Seconds between two status polls (with --wait).
    #[arg(long, default_value_t = 2.0)]
    pub poll_interval: f64,
    /// The longest the whole command may take, in seconds (requests in flight included).
    #[arg(long, default_value_t = 3600.0)]
    pub timeout: f64,
    /// Mindbaz: the site id the import was started on.
    #[arg(long)]
    pub site: Option<i32>,
}

/// `esp-imports fields`.
#[derive(Args)]
pub struct FieldsArgs {
    /// The vendor.
    pub vendor: VendorArg,
    /// Print one JSON object with the fields on stdout.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: Connection,
    /// Copernica: the database (id or name).
    #[arg(long)]
    pub database: Option<String>,
    /// Mindbaz: the site id.
    #[arg(long)]
    pub site: Option<i32>,
}

/// What `import`, `status` and `fields` share: where the vendor's API is, and how it is reached.
#[derive(Args)]
pub struct Connection {
    /// The API base URL, prefix included (default: the vendor's production URL; for Eloqua,
    /// discovered through login.eloqua.com/id).
    #[arg(long)]
    pub base_url: Option<String>,
    /// Allow a plain-http base URL to a host other than loopback.
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Also trust the certificate authorities of this PEM file (a corporate TLS proxy's),
    /// besides the system's. Repeat it for several files.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Vec<PathBuf>,
    /// The longest one request may take, upload and answer included, in seconds. A request
    /// that does not create anything is sent again after it.
    #[arg(long, default_value_t = 600.0)]
    pub request_timeout: f64,
    /// Eloqua: the login service used to discover the pod.
    #[arg(long, default_value = esp_imports::eloqua::LOGIN_URL)]
    pub login_url: String,
}

/// A problem found before any request: printed, exit 2.
#[derive(Debug)]
pub struct Usage(pub String);

/// What a command ends with.
pub enum Failure {
    Usage(Usage),
    Import(Error),
}

impl From<Usage> for Failure {
    fn from(u: Usage) -> Self {
        Failure::Usage(u)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Import(e)
    }
}

/// SIGINT and SIGTERM (Ctrl-C only where there are no Unix signals).
pub struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    pub fn install() -> Option<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let interrupt = signal(SignalKind::interrupt()).ok()?;
            let terminate = signal(SignalKind::terminate()).ok()?;
            Some(Self {
                interrupt,
                terminate,
            })
        }
        #[cfg(not(unix))]
        Some(Self {})
    }

    pub async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The exit code of an error.
pub fn exit_code(e: &Error) -> u8 {
    match e.cause() {
        Error::Cancelled { .. } => exit::INTERRUPTED,
        Error::MaybeCreated { source, .. } if matches!(**source, Error::Cancelled { .. }) => {
            exit::INTERRUPTED
        }
        Error::InvalidConfig { .. } | Error::InvalidInput(_) | Error::Io { .. } => exit::USAGE,
        Error::AuthRejected(_) => exit::AUTH,
        // The vendor refused the request (401/403 are AuthRejected; 408 and 429 are about
        // timing, not the request): the import failed at the vendor.
        _ if e.is_refusal() => exit::FAILED,
        Error::Sftp { step, .. } if *step == "authenticate" => exit::AUTH,
        // Nothing was sent to a server whose key was refused: a setting to change.
        Error::Sftp { step, .. } if *step == "verify host key" => exit::USAGE,
        _ => exit::NETWORK,
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::NETWORK);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Spec { vendor } => spec(vendor.into()),
            Command::Sandbox { listen } => demo::sandbox(listen).await,
            Command::Demo { rows } => demo::demo(rows).await,
            Command::Import(args) => import::run(*args).await,
            Command::Status(args) => status::run(*args).await,
            Command::Fields(args) => fields::run(*args).await,
        }
    });
    ExitCode::from(code)
}

fn spec(vendor: Vendor) -> u8 {
    match esp_imports::SPECS.iter().find(|(v, _)| *v == vendor.slug()) {
        Some((_, yaml)) => {
            print!("{yaml}");
            exit::OK
        }
        None => {
            eprintln!("error: this build leaves out `{}`", vendor.slug());
            exit::USAGE
        }
    }
}
