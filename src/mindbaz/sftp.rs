//! Puts the file on the Mindbaz SFTP server, where `scheduleNow` reads it: a real SSH
//! connection (russh) and SFTP session (russh-sftp), the file streamed from disk.

use std::{
    fmt,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use futures_util::future::Either;
use russh::keys::{
    agent::{client::AgentClient, AgentIdentity},
    known_hosts::{known_host_keys_path, learn_known_hosts_path},
    ssh_key::Fingerprint,
    Algorithm, HashAlg, PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate,
};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use crate::{Error, Progress, ProgressFn, Secret};

/// How long connecting, the SSH handshake and authentication may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the SFTP client proves who it is. `Debug` shows no password or passphrase
/// ([`Secret`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SftpAuth {
    /// A password.
    Password(Secret),
    /// An unencrypted private key file (OpenSSH, PKCS#8 or PuTTY format).
    KeyFile(PathBuf),
    /// A private key file protected by a passphrase.
    EncryptedKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its passphrase.
        passphrase: Secret,
    },
    /// The keys held by a running `ssh-agent`, at this socket (`SSH_AUTH_SOCK` when `None`),
    /// tried in the agent's order.
    Agent(Option<PathBuf>),
}

/// The Mindbaz SFTP account of a database (Mindbaz customer service gives it), and how its
/// server is recognised.
///
/// The server's host key is checked as OpenSSH does, before any credential is sent: a key
/// recorded in the known-hosts file for `[host]:port` (plain or hashed entries) is accepted;
/// another key recorded there for it is refused whatever the other settings (a changed key);
/// a host with no entry is refused unless its key has the fingerprint `host_key_sha256`, or
/// `accept_new_host_key` is set (OpenSSH's `accept-new`), which records it in the file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SftpConfig {
    /// The server's host name or address.
    pub host: String,
    /// The server's port (22 usually).
    pub port: u16,
    /// The SFTP user.
    pub username: String,
    /// Password, key or agent.
    pub auth: SftpAuth,
    /// The directory to put the file in, relative to the directory the account starts in (the
    /// one Mindbaz reads from); empty for that directory itself. Taken as given: a path that
    /// is absolute or goes up (`..`) is refused. Mindbaz reads files from a sub-directory only
    /// if a sub-directory of the same name exists under `errors`.
    pub remote_dir: String,
    /// The known-hosts file (OpenSSH format) the server's key is checked against, and where
    /// `accept_new_host_key` records it; `None`: `~/.ssh/known_hosts`. A missing file has no
    /// entries.
    pub known_hosts: Option<PathBuf>,
    /// The server's host key fingerprint, as `ssh-keygen -lf` prints it (`SHA256:…`): a key
    /// with another fingerprint is refused, and a host the known-hosts file does not know is
    /// accepted with this key.
    pub host_key_sha256: Option<String>,
    /// Accept the key of a host the known-hosts file does not know, and record it there
    /// (OpenSSH's `StrictHostKeyChecking accept-new`). A changed key is still refused.
    pub accept_new_host_key: bool,
}

impl SftpConfig {
    /// An account on port 22, the file put in the start directory, the host key checked
    /// against `~/.ssh/known_hosts` (an unknown host refused).
    pub fn new(host: impl Into<String>, username: impl Into<String>, auth: SftpAuth) -> Self {
        Self {
            host: host.into(),
            port: 22,
            username: username.into(),
            auth,
            remote_dir: String::new(),
            known_hosts: None,
            host_key_sha256: None,
            accept_new_host_key: false,
        }
    }

    /// Checks everything that can be checked before a connection: the directory, the
    /// fingerprint, the known-hosts file, the key (read, and decrypted with its passphrase) or
    /// the agent's socket. Nothing is sent.
    pub(crate) fn check(&self) -> Result<(), Error> {
        self.directory()?;
        self.fingerprint()?;
        let known_hosts = self.known_hosts_path()?;
        let unreadable = match std::fs::File::open(&known_hosts) {
            Ok(_) if known_hosts.is_dir() => Some("is a directory, not a known-hosts file".into()),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Some(e.to_string()),
            _ => None,
        };
        if let Some(why) = unreadable {
            return Err(Error::InvalidConfig {
                setting: "SFTP known hosts",
                reason: format!("{}: {why}", known_hosts.display()),
            });
        }
        match &self.auth {
            SftpAuth::Password(_) => {}
            SftpAuth::KeyFile(path) => {
                load_key(path, None)?;
            }
            SftpAuth::EncryptedKeyFile { path, passphrase } => {
                load_key(path, Some(passphrase))?;
            }
            SftpAuth::Agent(socket) => {
                agent_socket(socket.as_deref())?;
            }
        }
        Ok(())
    }

    /// The directory as given, with `.` components left out; an absolute path or one with a
    /// `..` component is refused.
    fn directory(&self) -> Result<String, Error> {
        let dir = self.remote_dir.as_str();
        let refuse = |why: &str| Error::InvalidConfig {
            setting: "SFTP directory",
            reason: format!("`{dir}`: {why}"),
        };
        if dir.starts_with('/') {
            return Err(refuse(
                "give it relative to the directory the SFTP account starts in (the one \
                 Mindbaz reads files from), without a leading `/`",
            ));
        }
        let mut parts = Vec::new();
        for part in dir.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    return Err(refuse(
                        "`..` would leave the directory Mindbaz reads files from (the one the \
                         SFTP account starts in)",
                    ))
                }
                part => parts.push(part),
            }
        }
        Ok(parts.join("/"))
    }

    /// Where a file called `name` goes: `remote_dir/name`, as given to the SFTP server and
    /// to Mindbaz.
    pub(crate) fn remote_path(&self, name: &str) -> Result<String, Error> {
        let dir = self.directory()?;
        Ok(if dir.is_empty() {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        })
    }

    fn fingerprint(&self) -> Result<Option<Fingerprint>, Error> {
        let Some(text) = &self.host_key_sha256 else {
            return Ok(None);
        };
        // As `ssh-keygen -lf` prints it; the prefix and base64 padding may be left out.
        let digest = text.trim().trim_end_matches('=');
        let digest = digest
            .strip_prefix("SHA256:")
            .or_else(|| digest.strip_prefix("sha256:"))
            .unwrap_or(digest);
        let parsed = format!("SHA256:{digest}").parse::<Fingerprint>().ok();
        match parsed {
            Some(fingerprint) if fingerprint.algorithm() == HashAlg::Sha256 => {
                Ok(Some(fingerprint))
            }
            _ => Err(Error::InvalidConfig {
                setting: "SFTP host key",
                reason: format!(
                    "`{text}`: give the SHA256 fingerprint of the server's key as `ssh-keygen \
                     -lf` prints it (SHA256: and 43 base64 characters)"
                ),
            }),
        }
    }

    fn known_hosts_path(&self) -> Result<PathBuf, Error> {
        if let Some(path) = &self.known_hosts {
            return Ok(path.clone());
        }
        match std::env::var_os("HOME") {
            Some(home) if !home.is_empty() => Ok(Path::new(&home).join(".ssh/known_hosts")),
            _ => Err(Error::InvalidConfig {
                setting: "SFTP known hosts",
                reason: "HOME is not set, so there is no ~/.ssh/known_hosts: give a \
                         known-hosts file"
                    .into(),
            }),
        }
    }
}

/// Reads a private key file, decrypted with `passphrase` when given. The passphrase never
/// appears in the error.
fn load_key(path: &Path, passphrase: Option<&Secret>) -> Result<PrivateKey, Error> {
    russh::keys::load_secret_key(path, passphrase.map(Secret::expose)).map_err(|e| {
        let shown = path.display();
        match (e, passphrase) {
            (russh::keys::Error::KeyIsEncrypted, None) => Error::InvalidConfig {
                setting: "SFTP key passphrase",
                reason: format!("{shown} is protected by a passphrase, and none was given"),
            },
            (e @ russh::keys::Error::IO(_), _) => Error::InvalidConfig {
                setting: "SFTP key file",
                reason: format!("{shown}: {e}"),
            },
            (e, Some(_)) => Error::InvalidConfig {
                setting: "SFTP key passphrase",
                reason: format!(
                    "{shown}: cannot read the key with the passphrase given ({e}): a wrong \
                     passphrase, or not an OpenSSH, PKCS#8 or PuTTY private key"
                ),
            },
            (e, None) => Error::InvalidConfig {
                setting: "SFTP key file",
                reason: format!("{shown}: {e} (an OpenSSH, PKCS#8 or PuTTY private key is needed)"),
            },
        }
    })
}

/// The agent's socket: the one given, or `SSH_AUTH_SOCK`; it must exist.
fn agent_socket(socket: Option<&Path>) -> Result<PathBuf, Error> {
    let socket = match socket {
        Some(socket) => socket.to_owned(),
        None => match std::env::var_os("SSH_AUTH_SOCK") {
            Some(socket) if !socket.is_empty() => PathBuf::from(socket),
            _ => {
                return Err(Error::InvalidConfig {
                    setting: "SFTP agent",
                    reason: "SSH_AUTH_SOCK is not set: no ssh-agent to ask for keys".into(),
                })
            }
        },
    };
    if !socket.exists() {
        return Err(Error::InvalidConfig {
            setting: "SFTP agent",
            reason: format!("the agent socket {} does not exist", socket.display()),
        });
    }
    Ok(socket)
}

fn sftp_error(step: &'static str, reason: impl fmt::Display) -> Error {
    Error::Sftp {
        step,
        reason: reason.to_string(),
    }
}

/// Whether two host key algorithms are the same kind of key (the RSA signature hashes are one
/// key type).
fn same_key_type(a: &Algorithm, b: &Algorithm) -> bool {
    matches!((a, b), (Algorithm::Rsa { .. }, Algorithm::Rsa { .. })) || a == b
}

/// The host key algorithms to offer, those of the keys recorded for the host first (as
/// OpenSSH does), so that a server with several host keys shows the one that can be checked.
fn preferred_host_keys(recorded: &[PublicKey]) -> Vec<Algorithm> {
    let default = russh::Preferred::DEFAULT.key;
    let (mut known, other): (Vec<Algorithm>, Vec<Algorithm>) = default
        .iter()
        .cloned()
        .partition(|a| recorded.iter().any(|k| same_key_type(a, &k.algorithm())));
    known.extend(other);
    known
}

/// What the host key check decided.
#[derive(Debug)]
enum Verdict {
    /// Accepted; `learn` when it is to be recorded in the known-hosts file.
    Accepted { key: PublicKey, learn: bool },
    /// Refused, with the reason.
    Refused(String),
}

/// Checks the server's host key against the known-hosts file and the expected fingerprint
/// (see [`SftpConfig`]), and keeps the verdict for the error message.
struct HostKey {
    /// `[host]:port` as the known-hosts file names it, for messages.
    name: String,
    known_hosts: PathBuf,
    /// The keys recorded for the host, with their lines.
    recorded: Vec<(usize, PublicKey)>,
    expected: Option<Fingerprint>,
    accept_new: bool,
    verdict: Arc<Mutex<Option<Verdict>>>,
}

impl HostKey {
    fn decide(&self, key: &PublicKey) -> Verdict {
        let seen = key.fingerprint(HashAlg::Sha256);
        let shown = format!("{} {seen}", key.algorithm());
        let file = self.known_hosts.display();
        let name = &self.name;
        let known = self
            .recorded
            .iter()
            .any(|(_, recorded)| recorded.key_data() == key.key_data());
        if !known && !self.recorded.is_empty() {
            return Verdict::Refused(format!(
                "{name} presented the host key {shown}, but {file} records another key for \
                 it: the server's key was replaced, or someone is between you and the server. \
                 Refused whatever the settings; nothing was sent to it. If Mindbaz confirms \
                 the change, remove the old entry (ssh-keygen -R '{name}' -f {file}) and \
                 accept the new key"
            ));
        }
        if let Some(expected) = &self.expected {
            if *expected != seen {
                return Verdict::Refused(format!(
                    "{name} presented the host key {shown}, not the expected {expected} \
                     (--sftp-host-key); nothing was sent to it"
                ));
            }
        }
        if known || self.expected.is_some() {
            return Verdict::Accepted {
                key: key.clone(),
                learn: !known && self.accept_new,
            };
        }
        if self.accept_new {
            return Verdict::Accepted {
                key: key.clone(),
                learn: true,
            };
        }
        Verdict::Refused(format!(
            "{name} presented the unknown host key {shown} ({file} has no entry for it); \
             nothing was sent to it. Once you know this is the server's key (ask Mindbaz), \
             accept it with --sftp-host-key {seen} (SftpConfig::host_key_sha256), or with \
             --sftp-accept-new-host-key (SftpConfig::accept_new_host_key), which records it in \
             {file}"
        ))
    }
}

impl russh::client::Handler for HostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let verdict = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.decide(key),
            // No certificate algorithm is offered, so none should come.
            PublicKeyOrCertificate::Certificate(_) => Verdict::Refused(format!(
                "{} presented a host certificate; host certificates are not supported",
                self.name
            )),
        };
        let accepted = matches!(verdict, Verdict::Accepted { .. });
        *self.verdict.lock().expect("host key lock") = Some(verdict);
        Ok(accepted)
    }
}

/// Counts the bytes read from the file and reports them as [`Progress::Uploaded`].
struct Counted<R> {
    inner: R,
    sent: u64,
    total: u64,
    progress: Option<ProgressFn>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Counted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        if read > 0 {
            self.sent += read;
            if let Some(progress) = &self.progress {
                progress(&Progress::Uploaded {
                    bytes: self.sent,
                    total: self.total,
                });
            }
        }
        poll
    }
}

/// What to upload, and when to stop.
pub(crate) struct Upload<'a> {
    /// The local file.
    pub(crate) local: &'a Path,
    /// Its path on the server.
    pub(crate) remote: &'a str,
    /// Told the bytes sent.
    pub(crate) progress: Option<ProgressFn>,
    /// When a transfer still running stops (a [`Error::Timeout`]).
    pub(crate) stop: tokio::time::Instant,
    /// Cancelled, stops the transfer (an [`Error::Sftp`], "interrupted").
    pub(crate) interrupt: Option<&'a crate::Cancel>,
}

/// Uploads `local` to `remote` on the server of `config`, streaming it from disk: first to a
/// temporary name next to it (`.NAME.part`), which is checked to hold as many bytes as were
/// sent and then renamed to `remote` (replacing a file of that name), so that Mindbaz never
/// reads a half-sent file. A failed upload, or one still running at `stop` or when
/// `interrupt` is cancelled, removes its partial file (the error says if it could not). Fails
/// with [`Error::Sftp`] naming the step; no error carries a password or passphrase.
pub(crate) async fn upload(config: &SftpConfig, upload: Upload<'_>) -> Result<u64, Error> {
    let Upload {
        local,
        remote,
        progress,
        stop,
        interrupt,
    } = upload;
    let session = connect(config).await?;
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| sftp_error("open SFTP session", e))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| sftp_error("open SFTP session", e))?;
    let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| sftp_error("open SFTP session", e))?;

    let part = partial_name(remote);
    let transfer = std::pin::pin!(tokio::time::timeout_at(
        stop,
        send(&sftp, local, &part, remote, progress)
    ));
    let interrupted = std::pin::pin!(async {
        match interrupt {
            Some(interrupt) => interrupt.cancelled().await,
            None => std::future::pending().await,
        }
    });
    let sent = match futures_util::future::select(transfer, interrupted).await {
        Either::Left((Ok(Ok(sent)), _)) => sent,
        Either::Left((Ok(Err(e)), _)) => return Err(remove_partial(&sftp, &part, e).await),
        Either::Left((Err(_), _)) => {
            let timeout = Error::Timeout {
                vendor: crate::Vendor::Mindbaz,
                what: "the SFTP upload".into(),
                after: None,
            };
            return Err(remove_partial(&sftp, &part, timeout).await);
        }
        Either::Right(((), _)) => {
            return Err(match remove(&sftp, &part).await {
                Ok(()) => sftp_error(
                    "upload",
                    format!("interrupted; no partial file `{part}` is left on the server"),
                ),
                Err(problem) => not_removed(sftp_error("upload", "interrupted"), &part, &problem),
            });
        }
    };
    // The file is complete; a failure to say goodbye does not undo that.
    let _ = sftp.close().await;
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(sent)
}

/// `.NAME.part` in the directory of `remote`.
fn partial_name(remote: &str) -> String {
    match remote.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.part"),
        None => format!(".{remote}.part"),
    }
}

/// Removes the partial file after `error`, and says in the error if it could not.
async fn remove_partial(sftp: &russh_sftp::client::SftpSession, part: &str, error: Error) -> Error {
    match remove(sftp, part).await {
        Ok(()) => error,
        Err(problem) => not_removed(error, part, &problem),
    }
}

/// Removes the partial file: done when it is gone, or was never created.
async fn remove(sftp: &russh_sftp::client::SftpSession, part: &str) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(10), sftp.remove_file(part)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(russh_sftp::client::error::Error::Status(status)))
            if status.status_code == russh_sftp::protocol::StatusCode::NoSuchFile =>
        {
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer within 10 s".into()),
    }
}

/// `error`, saying that the partial file is still on the server.
fn not_removed(error: Error, part: &str, problem: &str) -> Error {
    let note = format!(
        "; the partial file `{part}` could not be removed from the SFTP server ({problem})"
    );
    match error {
        Error::Sftp { step, reason } => Error::Sftp {
            step,
            reason: reason + &note,
        },
        Error::Timeout {
            vendor,
            what,
            after,
        } => Error::Timeout {
            vendor,
            what: what + &note,
            after,
        },
        other => Error::Sftp {
            step: "upload",
            reason: format!("{other}{note}"),
        },
    }
}

/// Streams `local` into `part`, checks its size on the server and renames it to `remote`.
async fn send(
    sftp: &russh_sftp::client::SftpSession,
    local: &Path,
    part: &str,
    remote: &str,
    progress: Option<ProgressFn>,
) -> Result<u64, Error> {
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|e| Error::io(local, e))?;
    let total = file
        .metadata()
        .await
        .map_err(|e| Error::io(local, e))?
        .len();
    let mut reader = Counted {
        inner: tokio::io::BufReader::with_capacity(1 << 16, file),
        sent: 0,
        total,
        progress,
    };
    let mut target = sftp
        .create(part)
        .await
        .map_err(|e| sftp_error("upload", format!("cannot create `{part}`: {e}")))?;
    let sent = tokio::io::copy(&mut reader, &mut target)
        .await
        .map_err(|e| sftp_error("upload", format!("`{part}`: {e}")))?;
    target
        .shutdown()
        .await
        .map_err(|e| sftp_error("upload", format!("closing `{part}`: {e}")))?;
    let size = sftp
        .metadata(part)
        .await
        .map_err(|e| sftp_error("upload", format!("cannot stat `{part}`: {e}")))?
        .size;
    if size != Some(sent) {
        return Err(sftp_error(
            "upload",
            format!(
                "`{part}` has {} bytes on the server, {sent} were sent",
                size.map_or_else(|| "an unknown number of".into(), |s| s.to_string())
            ),
        ));
    }
    // SFTP servers (OpenSSH's among them) refuse to rename onto an existing file: the name is
    // this import's, so an older file of that name is replaced.
    if sftp.rename(part, remote).await.is_err() {
        if sftp.metadata(remote).await.is_ok() {
            sftp.remove_file(remote).await.map_err(|e| {
                sftp_error(
                    "upload",
                    format!("cannot replace the existing `{remote}`: {e}"),
                )
            })?;
        }
        sftp.rename(part, remote).await.map_err(|e| {
            sftp_error(
                "upload",
                format!("cannot rename `{part}` to `{remote}`: {e}"),
            )
        })?;
    }
    Ok(sent)
}

/// Records `key` for the host in the known-hosts file, creating its directory private to the
/// user (as OpenSSH creates `~/.ssh`) when it does not exist.
fn record(host: &str, port: u16, key: &PublicKey, known_hosts: &Path) -> Result<(), Error> {
    let failed = |e: &dyn fmt::Display| sftp_error("verify host key", e);
    if let Some(dir) = known_hosts.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| failed(&e))?;
        }
    }
    learn_known_hosts_path(host, port, key, known_hosts).map_err(|e| failed(&e))
}

/// Connects, checks the host key (recording it when that is asked), and authenticates.
async fn connect(config: &SftpConfig) -> Result<russh::client::Handle<HostKey>, Error> {
    let known_hosts = config.known_hosts_path()?;
    let expected = config.fingerprint()?;
    // OpenSSH compares host names without case.
    let host = config.host.trim().to_ascii_lowercase();
    let name = if config.port == 22 {
        host.clone()
    } else {
        format!("[{host}]:{}", config.port)
    };
    let recorded = known_host_keys_path(&host, config.port, &known_hosts)
        .map_err(|e| sftp_error("verify host key", format!("{}: {e}", known_hosts.display())))?;
    let verdict = Arc::new(Mutex::new(None));
    let preferred = russh::Preferred {
        key: preferred_host_keys(&recorded.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>())
            .into(),
        ..russh::Preferred::DEFAULT
    };
    let handler = HostKey {
        name: name.clone(),
        known_hosts: known_hosts.clone(),
        recorded,
        expected,
        accept_new: config.accept_new_host_key,
        verdict: verdict.clone(),
    };
    let ssh_config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(Duration::from_secs(120)),
        preferred,
        ..Default::default()
    });
    let address = (config.host.as_str(), config.port);
    let connected = tokio::time::timeout(
        CONNECT_TIMEOUT,
        russh::client::connect(ssh_config, address, handler),
    )
    .await
    .map_err(|_| {
        sftp_error(
            "connect",
            format!(
                "{}:{} did not complete the SSH handshake within {CONNECT_TIMEOUT:?}",
                config.host, config.port
            ),
        )
    })?;
    let verdict = verdict.lock().expect("host key lock").take();
    let mut session = match (connected, verdict) {
        (Ok(session), Some(Verdict::Accepted { key, learn })) => {
            if learn {
                match record(&host, config.port, &key, &known_hosts) {
                    Ok(()) => tracing::warn!(
                        "SFTP host key {} of {name} recorded in {}",
                        key.fingerprint(HashAlg::Sha256),
                        known_hosts.display()
                    ),
                    Err(e) => tracing::warn!(
                        "SFTP host key of {name} accepted, but not recorded in {}: {e}",
                        known_hosts.display()
                    ),
                }
            }
            session
        }
        (Err(russh::Error::UnknownKey), Some(Verdict::Refused(reason))) => {
            return Err(sftp_error("verify host key", reason));
        }
        (Err(e), _) => {
            return Err(sftp_error(
                "connect",
                format!("{}:{}: {e}", config.host, config.port),
            ))
        }
        (Ok(_), _) => {
            return Err(sftp_error(
                "verify host key",
                format!("{name}: the handshake ended without a host key check"),
            ))
        }
    };
    authenticate(config, &mut session).await?;
    Ok(session)
}

async fn authenticate(
    config: &SftpConfig,
    session: &mut russh::client::Handle<HostKey>,
) -> Result<(), Error> {
    let user = config.username.as_str();
    let server = format!("{}:{}", config.host, config.port);
    let refused = |what: &str| {
        sftp_error(
            "authenticate",
            format!("{server} refused the {what} of user `{user}`"),
        )
    };
    let result = match &config.auth {
        SftpAuth::Password(password) => session
            .authenticate_password(user, password.expose())
            .await
            .map(|r| (r, "password")),
        SftpAuth::KeyFile(path) => {
            let key = load_key(path, None).map_err(|e| sftp_error("read key file", e))?;
            let hash = rsa_hash(session, &key.algorithm()).await?;
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            session
                .authenticate_publickey(user, key)
                .await
                .map(|r| (r, "key"))
        }
        SftpAuth::EncryptedKeyFile { path, passphrase } => {
            let key =
                load_key(path, Some(passphrase)).map_err(|e| sftp_error("read key file", e))?;
            let hash = rsa_hash(session, &key.algorithm()).await?;
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            session
                .authenticate_publickey(user, key)
                .await
                .map(|r| (r, "key"))
        }
        SftpAuth::Agent(socket) => {
            return with_agent(session, user, socket.as_deref(), refused).await;
        }
    };
    match result {
        Ok((result, _)) if result.success() => Ok(()),
        Ok((_, what)) => Err(refused(what)),
        Err(e) => Err(sftp_error("authenticate", e)),
    }
}

/// The signature hash to use with an RSA key (the best the server supports), `None` for others.
async fn rsa_hash(
    session: &russh::client::Handle<HostKey>,
    algorithm: &Algorithm,
) -> Result<Option<HashAlg>, Error> {
    if !matches!(algorithm, Algorithm::Rsa { .. }) {
        return Ok(None);
    }
    Ok(session
        .best_supported_rsa_hash()
        .await
        .map_err(|e| sftp_error("authenticate", e))?
        .flatten())
}

/// Tries the agent's keys in its order until the server accepts one.
async fn with_agent(
    session: &mut russh::client::Handle<HostKey>,
    user: &str,
    socket: Option<&Path>,
    refused: impl Fn(&str) -> Error,
) -> Result<(), Error> {
    let socket = agent_socket(socket).map_err(|e| sftp_error("authenticate", e))?;
    let asking = |e: &dyn fmt::Display| {
        sftp_error(
            "authenticate",
            format!("the ssh-agent at {}: {e}", socket.display()),
        )
    };
    #[cfg(unix)]
    let mut agent = AgentClient::connect_uds(&socket)
        .await
        .map_err(|e| asking(&e))?;
    #[cfg(not(unix))]
    let mut agent: AgentClient<tokio::io::DuplexStream> =
        return Err(asking(&"an ssh-agent socket is supported on Unix only"));
    let identities = agent.request_identities().await.map_err(|e| asking(&e))?;
    if identities.is_empty() {
        return Err(asking(&"it holds no key (ssh-add adds one)"));
    }
    for identity in &identities {
        let key = match identity {
            AgentIdentity::PublicKey { key, .. } => key.clone(),
            // A certificate's key may be authorized on its own.
            AgentIdentity::Certificate { .. } => identity.public_key().into_owned(),
        };
        let hash = rsa_hash(session, &key.algorithm()).await?;
        let result = session
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
            .map_err(|e| asking(&e))?;
        if result.success() {
            return Ok(());
        }
    }
    Err(refused(&format!(
        "{} key(s) of the ssh-agent",
        identities.len()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SftpConfig {
        SftpConfig::new("h", "u", SftpAuth::Password(Secret::new("pw")))
    }

    #[test]
    fn remote_paths_join_the_directory_as_given() {
        let mut config = config();
        for (dir, path) in [
            ("", "a.csv"),
            (".", "a.csv"),
            ("upload/", "upload/a.csv"),
            ("./upload", "upload/a.csv"),
            (".incoming", ".incoming/a.csv"),
            ("in..coming/x", "in..coming/x/a.csv"),
        ] {
            config.remote_dir = dir.into();
            assert_eq!(config.remote_path("a.csv").unwrap(), path, "{dir}");
        }
        for dir in ["../up", "up/../..", "..", "/upload"] {
            config.remote_dir = dir.into();
            let e = config.remote_path("a.csv").unwrap_err();
            assert!(
                matches!(&e, Error::InvalidConfig { setting: "SFTP directory", reason } if reason.contains(dir)),
                "{dir}: {e:?}"
            );
        }
    }

    #[test]
    fn partial_files_are_hidden_next_to_the_file() {
        assert_eq!(partial_name("a.csv"), ".a.csv.part");
        assert_eq!(partial_name("up/in/a.csv"), "up/in/.a.csv.part");
    }

    #[test]
    fn fingerprints_are_read_with_or_without_prefix_and_padding() {
        let digest = "nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8";
        let mut config = config();
        for text in [
            format!("SHA256:{digest}"),
            format!(" {digest}= "),
            format!("sha256:{digest}"),
        ] {
            config.host_key_sha256 = Some(text.clone());
            let fingerprint = config.fingerprint().unwrap().unwrap();
            assert_eq!(
                fingerprint.to_string(),
                format!("SHA256:{digest}"),
                "{text}"
            );
        }
        for bad in [
            "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
            "SHA256:short",
            "",
        ] {
            config.host_key_sha256 = Some(bad.into());
            assert!(
                matches!(
                    config.fingerprint(),
                    Err(Error::InvalidConfig {
                        setting: "SFTP host key",
                        ..
                    })
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn recorded_key_types_are_offered_first() {
        let rsa = PublicKey::from_openssh(
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDdheoPcJALN3sgxmXgMvZApAfz+MBgR0iVoLVTht0EtH9ohFYesHYtjSce9q2gE7NXiBL7bOP/KNRmHoyXTdhDglVLkAHWwue+hm/E/BScze/ZuSWfYHztxlnpK3j/4ya+fg9MD3E6wsXYNG16mI/ZIBopkegC0UtBP0yBu+A3ew==",
        )
        .unwrap();
        let offered = preferred_host_keys(&[rsa]);
        assert!(matches!(offered[0], Algorithm::Rsa { .. }), "{offered:?}");
        assert_eq!(offered.len(), russh::Preferred::DEFAULT.key.len());
        assert_eq!(preferred_host_keys(&[])[0], Algorithm::Ed25519);
    }

    #[test]
    fn debug_hides_the_password_and_the_passphrase() {
        let auth = SftpAuth::Password(Secret::new("hunter2"));
        assert!(!format!("{auth:?}").contains("hunter2"));
        let auth = SftpAuth::EncryptedKeyFile {
            path: "k".into(),
            passphrase: Secret::new("open sesame"),
        };
        assert!(!format!("{auth:?}").contains("open sesame"));
    }
}
