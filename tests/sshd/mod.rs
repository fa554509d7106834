//! A REAL OpenSSH server serving SFTP on a free loopback port, started by the test that needs
//! it (`-D`, owned by the test, killed on drop), logging at DEBUG3 so that a test can tell
//! whether a client got as far as authenticating. Needs `/usr/sbin/sshd` and `ssh-keygen`
//! (Debian: `apt-get install -y openssh-server openssh-client`).
#![allow(dead_code)] // each test binary uses its own part

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

pub const SSHD: &str = "/usr/sbin/sshd";

pub struct Sshd {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    /// The local user, the one the server lets in with `userkey`.
    pub user: String,
    /// The host key's fingerprint, `SHA256:…`.
    pub host_key: String,
}

pub fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(output.status.success(), "{command:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// An ed25519 key pair at `file` and `file.pub`, protected by `passphrase` if not empty.
pub fn keygen(file: &Path, passphrase: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", passphrase, "-f"])
        .arg(file));
}

/// The SHA256 fingerprint of a public key file.
pub fn fingerprint(public: &Path) -> String {
    let printed = run(Command::new("ssh-keygen")
        .args(["-E", "sha256", "-lf"])
        .arg(public));
    let fingerprint = printed.split_whitespace().nth(1).unwrap().to_owned();
    assert!(fingerprint.starts_with("SHA256:"), "{printed}");
    fingerprint
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Sshd {
    /// A server with a fresh host key that lets the local user in with `userkey` (the file
    /// `userkey` in [`Sshd::path`]); `otherkey` is a key it does not accept. Files land in
    /// `sftproot/upload/`.
    pub fn start() -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install OpenSSH (apt-get install -y openssh-server \
             openssh-client); these tests need a real SFTP server"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("hostkey"), "");
        keygen(&d.join("userkey"), "");
        keygen(&d.join("otherkey"), "");
        std::fs::copy(d.join("userkey.pub"), d.join("authorized_keys")).unwrap();
        std::fs::set_permissions(
            d.join("authorized_keys"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        std::fs::create_dir_all(d.join("sftproot/upload")).unwrap();
        let port = free_port();
        let shown = d.display();
        let config = format!(
            "Port {port}\n\
             ListenAddress 127.0.0.1\n\
             HostKey {shown}/hostkey\n\
             PidFile {shown}/sshd.pid\n\
             AuthorizedKeysFile {shown}/authorized_keys\n\
             StrictModes no\n\
             PasswordAuthentication no\n\
             UsePAM no\n\
             LogLevel DEBUG3\n\
             Subsystem sftp internal-sftp\n\
             ForceCommand internal-sftp -d {shown}/sftproot\n"
        );
        std::fs::write(d.join("sshd_config"), config).unwrap();
        let mut child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log"))
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            if let Some(status) = child.try_wait().unwrap() {
                let log = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
                panic!("sshd exited ({status}) before listening:\n{log}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd is not listening on {port} after 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let user = run(Command::new("id").arg("-un")).trim().to_owned();
        let host_key = fingerprint(&d.join("hostkey.pub"));
        Sshd {
            child,
            port,
            dir,
            user,
            host_key,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known-hosts line for this server (`[127.0.0.1]:PORT type base64`) with the public key
    /// in `public` (its own: `hostkey.pub`).
    pub fn known_hosts_line(&self, public: &str) -> String {
        let key = std::fs::read_to_string(self.path(public)).unwrap();
        let mut fields = key.split_whitespace();
        format!(
            "[127.0.0.1]:{} {} {}\n",
            self.port,
            fields.next().unwrap(),
            fields.next().unwrap()
        )
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.path("sshd.log")).unwrap_or_default()
    }

    /// Waits (10 s at most) until the server logged the end of `n` SSH sessions (besides the
    /// probe of [`Sshd::start`]), and returns the log: what a client sent is all in it then.
    pub fn log_after_sessions(&self, n: usize) -> String {
        let started = Instant::now();
        loop {
            let log = self.log();
            let closed = log
                .lines()
                .filter(|l| l.contains("Connection closed by") || l.contains("Disconnected from"))
                .count();
            if closed > n || started.elapsed() > Duration::from_secs(10) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many SSH handshakes reached the key exchange (the probe of [`Sshd::start`] does not).
    pub fn sessions(log: &str) -> usize {
        log.matches("kex: algorithm:").count()
    }

    /// Whether any client got as far as asking to authenticate (a password, a key, or none).
    pub fn auth_attempted(log: &str) -> bool {
        log.contains("userauth-request for user")
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real `ssh-agent` listening on `socket` (openssh-client, installed by scripts/setup-tests),
/// stopped when dropped.
pub struct Agent {
    pid: String,
    socket: PathBuf,
}

impl Agent {
    pub fn start(socket: &Path) -> Self {
        let printed = run(Command::new("ssh-agent").arg("-a").arg(socket));
        // SSH_AUTH_SOCK=…; export SSH_AUTH_SOCK;\nSSH_AGENT_PID=1234; export SSH_AGENT_PID;
        let pid = printed
            .split("SSH_AGENT_PID=")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no agent pid in {printed}"))
            .to_owned();
        Agent {
            pid,
            socket: socket.to_owned(),
        }
    }

    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Adds an unencrypted key.
    pub fn add(&self, key: &Path) {
        run(Command::new("ssh-add")
            .arg(key)
            .env("SSH_AUTH_SOCK", &self.socket));
    }

    /// Removes every key.
    pub fn remove_all(&self) {
        run(Command::new("ssh-add")
            .arg("-D")
            .env("SSH_AUTH_SOCK", &self.socket));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}
