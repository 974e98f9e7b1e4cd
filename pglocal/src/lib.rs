//! A private Postgres server for tests, benchmarks and the local demo.
//!
//! [`PgServer::start`] runs `initdb` into a fresh temporary directory and
//! starts `postgres` on a free loopback port with its socket in that
//! directory, so nothing depends on (or disturbs) a server that happens to
//! be running on the machine. Dropping the handle stops the server and
//! deletes the directory.
//!
//! It installs nothing: when the server binaries are missing it fails with
//! a message naming the package (`scripts/` install it on a fresh machine).
//! Postgres refuses to run as root, so under root the server runs as the
//! `postgres` user (created by Debian's package) or `nobody`.

use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin; \
         install them with `apt-get install -y postgresql` (scripts/test and scripts/demo do this)"
    )]
    BinariesMissing,
    #[error("{action}: {source}")]
    Io {
        action: String,
        source: std::io::Error,
    },
    #[error("initdb failed ({status}): {output}")]
    InitDb { status: String, output: String },
    #[error("postgres did not accept connections within {0:?}; its log:\n{1}")]
    NotReady(Duration, String),
    #[error("postgres exited while starting; its log:\n{0}")]
    Exited(String),
}

fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> PgError {
    let action = action.into();
    move |source| PgError::Io { action, source }
}

/// Options for [`PgServer::start_with`].
#[derive(Debug, Clone, Default)]
pub struct PgOptions {
    /// Durable commits (`fsync`, `synchronous_commit`). Off suits tests;
    /// benchmarks that claim production figures turn it on.
    pub durable: bool,
    /// Extra `-c name=value` settings.
    pub settings: Vec<(String, String)>,
}

/// A running private server; stopped and deleted on drop.
pub struct PgServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    port: u16,
    bin: PathBuf,
    run_as: Option<(u32, u32)>,
    settings: Vec<(String, String)>,
}

/// Database created by `initdb` that callers use.
pub const DATABASE: &str = "postgres";
/// Superuser created by `initdb` (trust authentication on loopback).
pub const USER: &str = "postgres";

impl PgServer {
    pub fn start() -> Result<Self, PgError> {
        Self::start_with(PgOptions::default())
    }

    pub fn start_with(options: PgOptions) -> Result<Self, PgError> {
        let bin = find_binaries().ok_or(PgError::BinariesMissing)?;
        let run_as = unprivileged_user();
        let dir = tempfile::Builder::new()
            .prefix("sparks-pg-")
            .tempdir()
            .map_err(io("creating the data directory"))?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data).map_err(io("creating the data directory"))?;
        if let Some((uid, gid)) = run_as {
            for path in [dir.path(), data.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .map_err(io(format!("chown {}", path.display())))?;
            }
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .map_err(io("chmod data directory"))?;
        }
        let output = command(&bin.join("initdb"), run_as)
            .args(["--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"])
            .args(["-U", USER, "-D"])
            .arg(&data)
            .output()
            .map_err(io("running initdb"))?;
        if !output.status.success() {
            return Err(PgError::InitDb {
                status: output.status.to_string(),
                output: String::from_utf8_lossy(&[output.stdout, output.stderr].concat()).into(),
            });
        }
        let port = free_port().map_err(io("finding a free port"))?;
        let durable = if options.durable { "on" } else { "off" };
        let mut settings: Vec<(String, String)> = vec![
            ("listen_addresses".into(), "127.0.0.1".into()),
            ("port".into(), port.to_string()),
            (
                "unix_socket_directories".into(),
                dir.path().display().to_string(),
            ),
            ("fsync".into(), durable.into()),
            ("synchronous_commit".into(), durable.into()),
            ("full_page_writes".into(), durable.into()),
            ("max_connections".into(), "200".into()),
        ];
        settings.extend(options.settings);
        let mut server = Self {
            child: None,
            dir,
            port,
            bin,
            run_as,
            settings,
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts `postgres` on the data directory (again, after [`Self::stop`])
    /// and waits until it accepts queries; crash recovery runs first when the
    /// last stop was a kill.
    pub fn restart(&mut self) -> Result<(), PgError> {
        self.stop(false);
        // After a kill the old server's backends can hold its shared memory
        // for a moment, and a new postmaster refuses to start until they exit.
        let started = Instant::now();
        loop {
            match self.spawn() {
                Err(PgError::Exited(_)) if started.elapsed() < Duration::from_secs(10) => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                outcome => return outcome,
            }
        }
    }

    fn spawn(&mut self) -> Result<(), PgError> {
        let log = self.dir.path().join("postgres.log");
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io("opening the server log"))?;
        if let Some((uid, gid)) = self.run_as {
            std::os::unix::fs::chown(&log, Some(uid), Some(gid)).map_err(io("chown log"))?;
        }
        let mut server = command(&self.bin.join("postgres"), self.run_as);
        server.arg("-D").arg(self.dir.path().join("data"));
        for (name, value) in &self.settings {
            server.arg("-c").arg(format!("{name}={value}"));
        }
        let child = server
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(io("log file"))?)
            .stderr(log_file)
            .spawn()
            .map_err(io("starting postgres"))?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub fn url(&self) -> String {
        self.database_url(DATABASE)
    }

    pub fn database_url(&self, database: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Directory of the server's binaries (for `psql`, `pgbench`…).
    pub fn bin_dir(&self) -> &Path {
        &self.bin
    }

    /// Creates an empty database (each test can have its own).
    pub fn create_database(&self, name: &str) -> Result<String, PgError> {
        let output = command(&self.bin.join("psql"), self.run_as)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER])
            .args(["-d", DATABASE, "-v", "ON_ERROR_STOP=1", "-q", "-c"])
            .arg(format!("CREATE DATABASE \"{name}\""))
            .output()
            .map_err(io("running psql"))?;
        if !output.status.success() {
            return Err(PgError::Io {
                action: format!("CREATE DATABASE {name}"),
                source: std::io::Error::other(String::from_utf8_lossy(&output.stderr).into_owned()),
            });
        }
        Ok(self.database_url(name))
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    /// Stops the server: SIGKILL when `immediate` (a crash, for fault tests),
    /// otherwise a fast shutdown (SIGINT) waited for.
    pub fn stop(&mut self, immediate: bool) {
        if let Some(mut child) = self.child.take() {
            let signal = if immediate {
                libc::SIGKILL
            } else {
                libc::SIGINT
            };
            // SAFETY: plain kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
            let _ = child.wait();
        }
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<(), PgError> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(_)) = child.try_wait() {
                    self.child = None;
                    return Err(PgError::Exited(self.log()));
                }
            }
            // Accepting TCP is not enough (the server accepts during recovery);
            // pg_isready asks the server itself.
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                let ready = Command::new(self.bin.join("pg_isready"))
                    .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                    .status()
                    .map(|status| status.success())
                    .unwrap_or(false);
                if ready {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(PgError::NotReady(timeout, self.log()))
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop(false);
    }
}

fn command(program: &Path, run_as: Option<(u32, u32)>) -> Command {
    let mut command = Command::new(program);
    if let Some((uid, gid)) = run_as {
        command.uid(uid).gid(gid);
        // The child must not inherit root's supplementary groups or cwd.
        command.current_dir("/");
    }
    command
}

/// The newest server installation: `initdb` on PATH, else Debian's layout.
fn find_binaries() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_server(dir))
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|dir| has_server(dir)))
}

/// Postgres will not run as root; pick an unprivileged account when we are root.
fn unprivileged_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&name) && fields.len() > 3)
                .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
                .flatten()
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .or(Some((65534, 65534)))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_serves_restarts_and_cleans_up() {
        let mut server = PgServer::start().expect("start postgres");
        let dir = server.dir.path().to_path_buf();
        assert!(TcpStream::connect(("127.0.0.1", server.port())).is_ok());
        let url = server.create_database("probe").expect("create database");
        assert!(url.ends_with("/probe"));
        server.stop(true);
        assert!(TcpStream::connect(("127.0.0.1", server.port())).is_err());
        server.restart().expect("restart after a crash");
        assert!(TcpStream::connect(("127.0.0.1", server.port())).is_ok());
        drop(server);
        assert!(!dir.exists(), "data directory removed");
    }
}
