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

use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};

use crate::{Error, Progress, ProgressFn, Secret};

/// How long connecting, the SSH handshake and authentication may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How the SFTP client proves who it is. `Debug` shows no password ([`Secret`]).
#[derive(Debug, Clone)]
pub enum SftpAuth {
    /// A password.
    Password(Secret),
    /// An unencrypted private key file (OpenSSH or PKCS#8 format).
    KeyFile(PathBuf),
}

/// The Mindbaz SFTP account of a database (Mindbaz customer service gives it).
#[derive(Debug, Clone)]
pub struct SftpConfig {
    /// The server's host name or address.
    pub host: String,
    /// The server's port (22 usually).
    pub port: u16,
    /// The SFTP user.
    pub username: String,
    /// Password or key.
    pub auth: SftpAuth,
    /// The directory to put the file in, relative to the directory the account starts in (the
    /// one Mindbaz reads from); empty for that directory itself. Mindbaz reads files from a
    /// sub-directory only if a sub-directory of the same name exists under `errors`.
    pub remote_dir: String,
    /// The server's host key fingerprint, as `ssh-keygen -lf` prints it (`SHA256:…`). When
    /// given, a server with another key is refused; when not, any host key is accepted.
    pub host_key_sha256: Option<String>,
}

impl SftpConfig {
    /// An account on port 22, the file put in the start directory, any host key accepted.
    pub fn new(host: impl Into<String>, username: impl Into<String>, auth: SftpAuth) -> Self {
        Self {
            host: host.into(),
            port: 22,
            username: username.into(),
            auth,
            remote_dir: String::new(),
            host_key_sha256: None,
        }
    }

    /// Reads the key file, if the account uses one, so that a missing or unreadable key is
    /// found before anything is sent or any connection made.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if let SftpAuth::KeyFile(path) = &self.auth {
            russh::keys::load_secret_key(path, None).map_err(|e| Error::InvalidConfig {
                setting: "SFTP key file",
                reason: format!(
                    "{}: {e} (an unencrypted OpenSSH or PKCS#8 key is needed)",
                    path.display()
                ),
            })?;
        }
        Ok(())
    }

    /// Where a file called `name` goes: `remote_dir/name`, as given to the SFTP server.
    pub(crate) fn remote_path(&self, name: &str) -> String {
        let dir = self.remote_dir.trim().trim_end_matches('/');
        if dir.is_empty() || dir == "." {
            name.to_owned()
        } else {
            format!("{dir}/{name}")
        }
    }
}

fn sftp_error(step: &'static str, reason: impl fmt::Display) -> Error {
    Error::Sftp {
        step,
        reason: reason.to_string(),
    }
}

/// The base64 part of a `SHA256:…` fingerprint, without padding.
fn fingerprint_digest(text: &str) -> &str {
    let text = text.trim();
    let text = text
        .strip_prefix("SHA256:")
        .or_else(|| text.strip_prefix("sha256:"))
        .unwrap_or(text);
    text.trim_end_matches('=')
}

/// Checks the server's host key against the expected fingerprint, and remembers the key seen.
struct HostKey {
    expected: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for HostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let data = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data(),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key(),
        };
        let seen = data.fingerprint(HashAlg::Sha256).to_string();
        let accepted = match &self.expected {
            Some(expected) => fingerprint_digest(expected) == fingerprint_digest(&seen),
            None => {
                tracing::warn!(host_key = %seen, "SFTP host key accepted without a fingerprint to check");
                true
            }
        };
        *self.seen.lock().expect("host key lock") = Some(seen);
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

/// Uploads `local` to `remote` on the server of `config`, streaming it from disk, and checks
/// that the server has as many bytes as were sent. Fails with [`Error::Sftp`] naming the step;
/// no error carries the password.
pub(crate) async fn upload(
    config: &SftpConfig,
    local: &Path,
    remote: &str,
    progress: Option<ProgressFn>,
) -> Result<u64, Error> {
    let seen = Arc::new(Mutex::new(None));
    let handler = HostKey {
        expected: config.host_key_sha256.clone(),
        seen: seen.clone(),
    };
    let ssh_config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(Duration::from_secs(120)),
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
    let mut session = match connected {
        Ok(session) => session,
        Err(russh::Error::UnknownKey) => {
            let seen = seen.lock().expect("host key lock").clone();
            return Err(sftp_error(
                "verify host key",
                format!(
                    "{}:{} presented host key {}, not the expected {}",
                    config.host,
                    config.port,
                    seen.as_deref().unwrap_or("(none)"),
                    config.host_key_sha256.as_deref().unwrap_or_default()
                ),
            ));
        }
        Err(e) => {
            return Err(sftp_error(
                "connect",
                format!("{}:{}: {e}", config.host, config.port),
            ))
        }
    };

    let user = config.username.as_str();
    let (result, what) = match &config.auth {
        SftpAuth::Password(password) => (
            session.authenticate_password(user, password.expose()).await,
            "password",
        ),
        SftpAuth::KeyFile(path) => {
            let key = russh::keys::load_secret_key(path, None).map_err(|e| {
                sftp_error(
                    "read key file",
                    format!(
                        "{}: {e} (an unencrypted OpenSSH or PKCS#8 key is needed)",
                        path.display()
                    ),
                )
            })?;
            let hash = session
                .best_supported_rsa_hash()
                .await
                .map_err(|e| sftp_error("authenticate", e))?
                .flatten();
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            (session.authenticate_publickey(user, key).await, "key")
        }
    };
    match result {
        Ok(result) if result.success() => {}
        Ok(_) => {
            return Err(sftp_error(
                "authenticate",
                format!(
                    "{}:{} refused the {what} of user `{user}`",
                    config.host, config.port
                ),
            ))
        }
        Err(e) => return Err(sftp_error("authenticate", e)),
    }

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
        .create(remote)
        .await
        .map_err(|e| sftp_error("upload", format!("cannot create `{remote}`: {e}")))?;
    let sent = tokio::io::copy(&mut reader, &mut target)
        .await
        .map_err(|e| sftp_error("upload", format!("`{remote}`: {e}")))?;
    target
        .shutdown()
        .await
        .map_err(|e| sftp_error("upload", format!("closing `{remote}`: {e}")))?;
    let size = sftp
        .metadata(remote)
        .await
        .map_err(|e| sftp_error("upload", format!("cannot stat `{remote}`: {e}")))?
        .size;
    if size != Some(sent) {
        return Err(sftp_error(
            "upload",
            format!(
                "`{remote}` has {} bytes on the server, {sent} were sent",
                size.map_or_else(|| "an unknown number of".into(), |s| s.to_string())
            ),
        ));
    }
    // The file is complete; a failure to say goodbye does not undo that.
    let _ = sftp.close().await;
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_join_the_directory() {
        let mut config = SftpConfig::new("h", "u", SftpAuth::Password(Secret::new("pw")));
        assert_eq!(config.remote_path("a.csv"), "a.csv");
        config.remote_dir = "upload/".into();
        assert_eq!(config.remote_path("a.csv"), "upload/a.csv");
        config.remote_dir = ".".into();
        assert_eq!(config.remote_path("a.csv"), "a.csv");
    }

    #[test]
    fn fingerprints_compare_with_or_without_prefix_and_padding() {
        assert_eq!(fingerprint_digest("SHA256:abc+/="), "abc+/");
        assert_eq!(fingerprint_digest(" abc+/ "), "abc+/");
    }

    #[test]
    fn debug_hides_the_password() {
        let auth = SftpAuth::Password(Secret::new("hunter2"));
        assert!(!format!("{auth:?}").contains("hunter2"));
    }
}
