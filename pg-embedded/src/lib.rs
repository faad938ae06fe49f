//! A private PostgreSQL cluster in a data directory, run with PostgreSQL's own
//! `initdb`/`pg_ctl`/`postgres`.
//!
//! The server listens only on a Unix socket inside the data directory (no TCP), so it never
//! collides with another server. [`Cluster::start`] creates the cluster if needed, starts it
//! unless it is already running (then adopts it), and registers the handle as a user of the
//! cluster. [`Cluster::release`] (or dropping the handle) ends that use and stops the server
//! when no other live handle, in this process or another, uses it any more, whoever started
//! it; a process that died without releasing does not count (see [`ClusterUser`]).
//! [`Cluster::stop`] stops it at once. [`status`] and [`stop_unused`] look at and stop a
//! cluster without using it. [`Cluster::start_throwaway`] and [`shared_throwaway`] give
//! tests a cluster of their own. The crate's README.md describes the binary search, root
//! handling, settings, and reuse/stop semantics.

mod binaries;
mod error;
mod os_user;
mod shared;
mod users;

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use binaries::{
    find_binaries, find_binaries_in, search_dirs, versioned_bindirs, Binaries,
    DEBIAN_VERSIONED_ROOT,
};
pub use error::{ClusterError, INSTALL_HINT};
pub use os_user::{barrier_to_data_dir, Barrier, SERVER_USER, USERADD};
pub use shared::{shared_throwaway, try_shared_throwaway, ConnectionInfo};
pub use users::{ClusterUser, USERS_DIR};

use os_user::RunAs;
use users::{DirLock, Registration};

/// The port the server uses. With no TCP it only names the socket file `.s.PGSQL.5432`.
pub const PORT: u16 = 5432;

/// The superuser role `initdb` creates, to connect as.
pub const SUPERUSER: &str = "ledger";

/// Where [`ClusterOptions::default`] puts the data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = ".ledger/postgres";

/// The longest path a Unix socket address holds (`sun_path` is 108 bytes with the NUL).
pub const MAX_SOCKET_PATH: usize = 107;

/// The settings file this crate rewrites on every start, included from `postgresql.conf`.
const SETTINGS_FILE: &str = "pg_embedded.conf";

/// The server log, inside the data directory.
const LOG_FILE: &str = "server.log";

/// How long `pg_ctl` waits for start and stop, in seconds.
const PG_CTL_TIMEOUT_SECS: u64 = 60;

/// Where and how to run a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterOptions {
    /// The data directory; created if missing. The socket lives inside it.
    pub data_dir: PathBuf,
    /// Whether the cluster must survive a crash.
    pub durability: Durability,
}

impl ClusterOptions {
    /// A durable cluster in `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> ClusterOptions {
        ClusterOptions {
            data_dir: data_dir.into(),
            durability: Durability::Durable,
        }
    }
}

impl Default for ClusterOptions {
    /// A durable cluster in [`DEFAULT_DATA_DIR`].
    fn default() -> ClusterOptions {
        ClusterOptions::new(DEFAULT_DATA_DIR)
    }
}

/// Whether committed data must survive a crash of the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// PostgreSQL's defaults.
    #[default]
    Durable,
    /// `fsync`, `synchronous_commit` and `full_page_writes` off: for throwaway test clusters.
    Fast,
}

/// A running cluster. Dropping the handle releases it ([`Cluster::release`]: the server stops
/// when this was its last live user) and removes the directory of a throwaway cluster.
#[derive(Debug)]
pub struct Cluster {
    binaries: Binaries,
    data_dir: PathBuf,
    run_as: RunAs,
    /// Whether this handle started the server (rather than finding it running).
    started_here: bool,
    stopped: bool,
    /// The directory of a throwaway cluster, removed on drop after the server stopped.
    temp: Option<TempDir>,
    /// This handle's registration as a user of the cluster, until released. Throwaway
    /// clusters have none: their handle is their only user.
    registration: Option<Registration>,
    /// Whether [`Cluster::release`] ran: drop then leaves the server alone.
    released: bool,
}

impl Cluster {
    /// Runs `initdb` if the data directory has no cluster yet, starts the server unless it is
    /// already running (then adopts it), waits until it accepts connections, and registers
    /// the handle as a user of the cluster: dropping or [releasing](Cluster::release) it
    /// stops the server if no other live user remains, whoever started it.
    pub fn start(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        let binaries = find_binaries()?;
        Cluster::start_with(binaries, options, None)
    }

    /// A cluster in a fresh temporary directory with [`Durability::Fast`], removed when the
    /// cluster is dropped.
    pub fn start_throwaway() -> Result<Cluster, ClusterError> {
        let binaries = find_binaries()?;
        let base = throwaway_base()?;
        let temp = tempfile::Builder::new()
            .prefix("pg-embedded-")
            .tempdir_in(&base)
            .map_err(ClusterError::io(format!(
                "cannot create a temporary directory in {}",
                base.display()
            )))?;
        let options = ClusterOptions {
            data_dir: temp.path().to_path_buf(),
            durability: Durability::Fast,
        };
        Cluster::start_with(binaries, options, Some(temp))
    }

    /// [`Cluster::start`] with the given binaries.
    pub fn start_with_binaries(
        binaries: Binaries,
        options: ClusterOptions,
    ) -> Result<Cluster, ClusterError> {
        Cluster::start_with(binaries, options, None)
    }

    fn start_with(
        binaries: Binaries,
        options: ClusterOptions,
        temp: Option<TempDir>,
    ) -> Result<Cluster, ClusterError> {
        let data_dir = std::path::absolute(&options.data_dir).map_err(ClusterError::io(
            format!("cannot resolve {}", options.data_dir.display()),
        ))?;
        // Check before creating anything, then again once symlinks are resolved.
        check_socket_path(&data_dir)?;
        create_data_dir(&data_dir)?;
        let data_dir = data_dir.canonicalize().map_err(ClusterError::io(format!(
            "cannot resolve {}",
            data_dir.display()
        )))?;
        check_socket_path(&data_dir)?;

        // Serialize starts, registrations and stops of the same cluster by other processes
        // (and threads).
        let lock = DirLock::acquire(&data_dir)?;

        let run_as = RunAs::prepare(&data_dir)?;
        let register = temp.is_none();
        let mut cluster = Cluster {
            binaries,
            data_dir,
            run_as,
            started_here: false,
            stopped: false,
            temp,
            registration: None,
            released: false,
        };
        match cluster.start_locked(options.durability, register, &lock) {
            Ok(()) => Ok(cluster),
            Err(err) => {
                // Unregister under the lock already held; dropping the handle then stops a
                // server this handle started, without taking the lock again.
                if let Some(registration) = cluster.registration.take() {
                    registration.unregister(&lock);
                }
                drop(lock);
                drop(cluster);
                Err(err)
            }
        }
    }

    fn start_locked(
        &mut self,
        durability: Durability,
        register: bool,
        lock: &DirLock,
    ) -> Result<(), ClusterError> {
        if self.is_running()? {
            tracing::info!(data_dir = %self.data_dir.display(), "adopting running PostgreSQL");
            if register {
                self.registration =
                    Some(Registration::register(&self.data_dir, &self.run_as, lock)?);
            }
            return self.wait_until_ready();
        }
        if !self.data_dir.join("PG_VERSION").exists() {
            // initdb wants an empty directory: registrations of a removed cluster go too.
            users::remove_users_dir(&self.data_dir, lock)?;
            self.initdb(durability)?;
        }
        self.write_settings(durability)?;
        if register {
            self.registration = Some(Registration::register(&self.data_dir, &self.run_as, lock)?);
        }
        // Set before starting: should the start fail after all (a timeout, say) while the
        // server does run, dropping the handle stops it rather than leaving it behind.
        self.started_here = true;
        self.pg_ctl_start()
    }

    /// Ends this handle's use of the cluster: removes its registration and, holding the lock
    /// on the data directory (so that no process starts or adopts the server meanwhile),
    /// stops the server with `pg_ctl stop -m fast` if no other live handle uses it, in this
    /// process or another, whoever started it. Registrations of processes that died are
    /// removed and do not count. Idempotent; dropping the handle does it too. A throwaway
    /// cluster's handle is its only user: releasing it stops the server.
    pub fn release(&mut self) -> Result<Released, ClusterError> {
        if self.released {
            return Ok(Released::AlreadyReleased);
        }
        let Some(registration) = self.registration.take() else {
            // A throwaway cluster: this handle is its only user.
            self.released = true;
            if self.started_here && !self.stopped && self.is_running()? {
                self.stop()?;
                return Ok(Released::Stopped);
            }
            return Ok(Released::NotRunning);
        };
        self.released = true;
        let lock = DirLock::acquire(&self.data_dir)?;
        registration.unregister(&lock);
        let users = users::live_users(&self.data_dir, &lock)?;
        if !users.is_empty() {
            tracing::info!(
                data_dir = %self.data_dir.display(),
                users = users.len(),
                "leaving PostgreSQL running for its other users"
            );
            return Ok(Released::StillUsed { users });
        }
        if !self.is_running()? {
            self.stopped = true;
            return Ok(Released::NotRunning);
        }
        // It runs, even if this handle stopped it before: someone started it again.
        self.stopped = false;
        self.stop()?;
        Ok(Released::Stopped)
    }

    /// The directory holding the socket `.s.PGSQL.<port>`: the data directory.
    pub fn socket_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The port, which names the socket file.
    pub fn port(&self) -> u16 {
        PORT
    }

    /// The superuser role to connect as.
    pub fn superuser(&self) -> &str {
        SUPERUSER
    }

    /// The data directory (absolute).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The binaries that run this cluster.
    pub fn binaries(&self) -> &Binaries {
        &self.binaries
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.data_dir.join(LOG_FILE)
    }

    /// Whether this handle started the server (rather than adopting a running one).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Everything a client needs to connect.
    pub fn connection_info(&self) -> ConnectionInfo {
        ConnectionInfo {
            socket_dir: self.data_dir.clone(),
            port: PORT,
            superuser: SUPERUSER.to_owned(),
        }
    }

    /// A libpq-style connection string:
    /// `host=<socket_dir> port=<port> user=<superuser> dbname=<dbname>`.
    pub fn connection_string(&self, dbname: &str) -> String {
        self.connection_info().connection_string(dbname)
    }

    /// Whether `pg_ctl status` says the server is running.
    pub fn is_running(&self) -> Result<bool, ClusterError> {
        if !self.data_dir.join("PG_VERSION").exists() {
            return Ok(false);
        }
        let output = self.pg_ctl(&["status"])?;
        match output.status.code() {
            Some(0) => Ok(self.unreaped_postmaster().is_none()),
            Some(3) => Ok(false),
            _ => Err(ClusterError::Status {
                data_dir: self.data_dir.clone(),
                output: describe(&output),
            }),
        }
    }

    /// Stops the server with `pg_ctl stop -m fast` and waits, whatever other handles still
    /// use it; does nothing if it is not running or this handle already stopped it. The
    /// handle stays registered until released or dropped. To stop the server only when
    /// nothing else uses it, use [`Cluster::release`].
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.stopped {
            return Ok(());
        }
        if self.is_running()? {
            tracing::info!(data_dir = %self.data_dir.display(), "stopping PostgreSQL");
            let timeout = PG_CTL_TIMEOUT_SECS.to_string();
            let output = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", &timeout])?;
            if !output.status.success() && self.is_running()? {
                return Err(ClusterError::Stop {
                    data_dir: self.data_dir.clone(),
                    output: describe(&output),
                });
            }
        }
        self.stopped = true;
        Ok(())
    }

    /// The running server, from `postmaster.pid`; `None` when it does not run.
    fn server_process(&self) -> Result<Option<ServerProcess>, ClusterError> {
        if !self.is_running()? {
            return Ok(None);
        }
        // Lines: pid, data directory, start time, port, socket directory, ...
        let text = fs::read_to_string(self.data_dir.join("postmaster.pid")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        let Some(pid) = lines.first().and_then(|line| line.parse().ok()) else {
            return Ok(None); // stopped meanwhile
        };
        let port = lines
            .get(3)
            .and_then(|line| line.parse().ok())
            .unwrap_or(PORT);
        let socket_dir = lines
            .get(4)
            .filter(|line| !line.is_empty())
            .map_or_else(|| self.data_dir.clone(), PathBuf::from);
        Ok(Some(ServerProcess {
            pid,
            socket_dir,
            port,
        }))
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output, ClusterError> {
        self.run_as
            .command(&self.binaries.pg_ctl(), &self.data_dir)
            .arg("-D")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .map_err(ClusterError::io(format!(
                "cannot run {}",
                self.binaries.pg_ctl().display()
            )))
    }

    fn initdb(&self, durability: Durability) -> Result<(), ClusterError> {
        tracing::info!(data_dir = %self.data_dir.display(), "initializing PostgreSQL cluster");
        let mut command = self.run_as.command(&self.binaries.initdb(), &self.data_dir);
        command.arg("-D").arg(&self.data_dir).args([
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        if durability == Durability::Fast {
            command.arg("--no-sync");
        }
        let output = command.output().map_err(ClusterError::io(format!(
            "cannot run {}",
            self.binaries.initdb().display()
        )))?;
        if !output.status.success() {
            return Err(ClusterError::InitDb {
                data_dir: self.data_dir.clone(),
                status: output.status.to_string(),
                output: combined(&output),
            });
        }
        // Our settings come last, from a file rewritten on every start.
        let conf = self.data_dir.join("postgresql.conf");
        let mut text = fs::read_to_string(&conf)
            .map_err(ClusterError::io(format!("cannot read {}", conf.display())))?;
        text.push_str(&format!(
            "\n# Settings of pg-embedded, rewritten on every start.\ninclude = '{SETTINGS_FILE}'\n"
        ));
        fs::write(&conf, text).map_err(ClusterError::io(format!("cannot write {}", conf.display())))
    }

    fn write_settings(&self, durability: Durability) -> Result<(), ClusterError> {
        let dir = self.data_dir.to_str().ok_or_else(|| ClusterError::Io {
            context: format!("data directory {} is not UTF-8", self.data_dir.display()),
            source: std::io::ErrorKind::InvalidData.into(),
        })?;
        let quoted = dir.replace('\\', "\\\\").replace('\'', "''");
        let off_or_on = match durability {
            Durability::Durable => "on",
            Durability::Fast => "off",
        };
        let mut text = String::from(
            "# Written by pg-embedded on every start: edit postgresql.conf instead.\n",
        );
        let _ = write!(
            text,
            "listen_addresses = ''\n\
             unix_socket_directories = '{quoted}'\n\
             unix_socket_permissions = 0700\n\
             port = {PORT}\n\
             max_connections = 100\n\
             fsync = {off_or_on}\n\
             synchronous_commit = {off_or_on}\n\
             full_page_writes = {off_or_on}\n"
        );
        let path = self.data_dir.join(SETTINGS_FILE);
        fs::write(&path, text)
            .map_err(ClusterError::io(format!("cannot write {}", path.display())))?;
        self.run_as.chown(&path, false)
    }

    /// The pid in `postmaster.pid` if that process has died but is not reaped yet (a zombie).
    /// After a crash such a process still passes `kill(pid, 0)`, which fools `pg_ctl status`
    /// and the new server's lock file check alike. Linux only (reads `/proc`).
    fn unreaped_postmaster(&self) -> Option<u32> {
        let pid_file = fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        let pid: u32 = pid_file.lines().next()?.trim().parse().ok()?;
        (process_state(pid)? == 'Z').then_some(pid)
    }

    fn pg_ctl_start(&self) -> Result<(), ClusterError> {
        let log = self.log_file();
        let timeout = PG_CTL_TIMEOUT_SECS.to_string();
        let deadline = Instant::now() + Duration::from_secs(PG_CTL_TIMEOUT_SECS);
        while let Some(pid) = self.unreaped_postmaster() {
            if Instant::now() >= deadline {
                return Err(ClusterError::Start {
                    data_dir: self.data_dir.clone(),
                    output: format!(
                        "the previous server (pid {pid}) died but its parent has not reaped it"
                    ),
                    log: log.clone(),
                    log_tail: String::new(),
                });
            }
            thread::sleep(Duration::from_millis(100));
        }
        loop {
            tracing::info!(data_dir = %self.data_dir.display(), "starting PostgreSQL");
            let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let mut args = vec!["-l".as_ref(), log.as_os_str()];
            args.extend(["-w", "-t", &timeout, "start"].map(std::ffi::OsStr::new));
            let output = self
                .run_as
                .command(&self.binaries.pg_ctl(), &self.data_dir)
                .arg("-D")
                .arg(&self.data_dir)
                .args(args)
                .output()
                .map_err(ClusterError::io(format!(
                    "cannot run {}",
                    self.binaries.pg_ctl().display()
                )))?;
            if output.status.success() {
                return Ok(());
            }
            let new_log = read_from(&log, log_start);
            // After a crash the old server's children may hold its shared memory for a moment.
            if new_log.contains("pre-existing shared memory block") && Instant::now() < deadline {
                tracing::info!("old server processes still exit; retrying start");
                thread::sleep(Duration::from_millis(500));
                continue;
            }
            return Err(ClusterError::Start {
                data_dir: self.data_dir.clone(),
                output: describe(&output),
                log,
                log_tail: tail(&new_log, 40),
            });
        }
    }

    /// For a server found running: wait until it accepts connections (with `pg_isready`
    /// when the installation has it, else until the socket exists).
    fn wait_until_ready(&self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + Duration::from_secs(PG_CTL_TIMEOUT_SECS);
        let socket = socket_path(&self.data_dir);
        let pg_isready = self.binaries.tool("pg_isready");
        let mut last = String::new();
        while Instant::now() < deadline {
            match &pg_isready {
                Some(pg_isready) => {
                    let output = self
                        .run_as
                        .command(pg_isready, &self.data_dir)
                        .arg("-h")
                        .arg(&self.data_dir)
                        .args(["-p", &PORT.to_string(), "-U", SUPERUSER, "-d", "postgres"])
                        .output()
                        .map_err(ClusterError::io(format!(
                            "cannot run {}",
                            pg_isready.display()
                        )))?;
                    if output.status.success() {
                        return Ok(());
                    }
                    last = describe(&output);
                }
                None if socket.exists() => return Ok(()),
                None => last = format!("{} does not exist", socket.display()),
            }
            thread::sleep(Duration::from_millis(100));
        }
        Err(ClusterError::Start {
            data_dir: self.data_dir.clone(),
            output: format!("the running server did not accept connections in time: {last}"),
            log: self.log_file(),
            log_tail: tail(&read_from(&self.log_file(), 0), 40),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.registration.is_some() {
            if let Err(err) = self.release() {
                tracing::warn!(%err, "could not release PostgreSQL on drop");
            }
        } else if !self.released && self.started_here && !self.stopped {
            if let Err(err) = self.stop() {
                tracing::warn!(%err, "could not stop PostgreSQL on drop");
                if self.temp.is_some() {
                    // The directory goes away next: do not leave a server behind on it.
                    let _ = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
                }
            }
        }
        if let Some(temp) = self.temp.take() {
            let path = temp.path().to_path_buf();
            if let Err(err) = temp.close() {
                tracing::warn!(%err, path = %path.display(), "could not remove throwaway cluster");
            }
        }
    }
}

/// What [`status`] found in a data directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterStatus {
    /// The data directory (absolute, and canonical when it exists).
    pub data_dir: PathBuf,
    /// Whether it holds a cluster (a `PG_VERSION` file).
    pub initialized: bool,
    /// The server, when it runs.
    pub server: Option<ServerProcess>,
    /// The live processes registered as users of the cluster (dead ones are not counted).
    pub users: Vec<ClusterUser>,
}

/// A running server, as its `postmaster.pid` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerProcess {
    /// The postmaster's process id.
    pub pid: u32,
    /// The directory holding its socket `.s.PGSQL.<port>`.
    pub socket_dir: PathBuf,
    /// The port, which names the socket file.
    pub port: u16,
}

/// What [`stop_unused`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// No server ran in the data directory: nothing was done.
    NotRunning,
    /// The server was stopped. `users` are the live processes that still used it (only
    /// with `force`): their connections are closed.
    Stopped {
        /// The server that was stopped.
        server: ServerProcess,
        /// The live users it had.
        users: Vec<ClusterUser>,
    },
    /// Live processes use the server and `force` was not given: it keeps running.
    InUse {
        /// The running server.
        server: ServerProcess,
        /// Its live users.
        users: Vec<ClusterUser>,
    },
}

/// Looks at the cluster in `data_dir` without starting it or becoming one of its users:
/// whether it is initialized, whether the server runs (its pid and socket directory), and
/// which live processes use it. Creates nothing; removes the registrations of dead
/// processes. Waits while another process starts or stops the cluster.
pub fn status(data_dir: impl AsRef<Path>) -> Result<ClusterStatus, ClusterError> {
    let Some((cluster, lock)) = existing(data_dir.as_ref())? else {
        let data_dir = data_dir.as_ref();
        return Ok(ClusterStatus {
            data_dir: std::path::absolute(data_dir).unwrap_or_else(|_| data_dir.to_path_buf()),
            initialized: false,
            server: None,
            users: Vec::new(),
        });
    };
    let users = users::live_users(&cluster.data_dir, &lock)?;
    Ok(ClusterStatus {
        initialized: cluster.data_dir.join("PG_VERSION").exists(),
        server: cluster.server_process()?,
        data_dir: cluster.data_dir.clone(),
        users,
    })
}

/// Stops the server in `data_dir` with `pg_ctl stop -m fast`, unless live processes use it
/// (registered by [`Cluster::start`]) and `force` is false. Holds the lock on the data
/// directory throughout, so no process adopts the server meanwhile.
pub fn stop_unused(data_dir: impl AsRef<Path>, force: bool) -> Result<StopOutcome, ClusterError> {
    let Some((mut cluster, lock)) = existing(data_dir.as_ref())? else {
        return Ok(StopOutcome::NotRunning);
    };
    let users = users::live_users(&cluster.data_dir, &lock)?;
    let Some(server) = cluster.server_process()? else {
        return Ok(StopOutcome::NotRunning);
    };
    if !users.is_empty() && !force {
        return Ok(StopOutcome::InUse { server, users });
    }
    cluster.stop()?;
    drop(lock);
    Ok(StopOutcome::Stopped { server, users })
}

/// A handle on the cluster in `data_dir` that neither starts nor uses it (dropping it does
/// nothing), with the lock on the data directory; `None` when the directory does not exist.
fn existing(data_dir: &Path) -> Result<Option<(Cluster, DirLock)>, ClusterError> {
    let data_dir = match data_dir.canonicalize() {
        Ok(data_dir) => data_dir,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(ClusterError::Io {
                context: format!("cannot resolve {}", data_dir.display()),
                source: err,
            })
        }
    };
    let lock = DirLock::acquire(&data_dir)?;
    let binaries = find_binaries()?;
    let run_as = RunAs::of_existing(&data_dir)?;
    let cluster = Cluster {
        binaries,
        data_dir,
        run_as,
        started_here: false,
        stopped: false,
        temp: None,
        registration: None,
        released: true,
    };
    Ok(Some((cluster, lock)))
}

/// What [`Cluster::release`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Released {
    /// This was the last live user: the server was stopped.
    Stopped,
    /// This was the last live user, and the server was not running (stopped by someone else).
    NotRunning,
    /// Other live handles still use the cluster: the server keeps running for them.
    StillUsed {
        /// Those users.
        users: Vec<ClusterUser>,
    },
    /// The handle had been released before: nothing was done.
    AlreadyReleased,
}

/// The state letter of process `pid` in `/proc/<pid>/stat` (`R`, `S`, `Z` for
/// a zombie, ...), or `None` when there is no such process. Linux only.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The state follows the command name, which is in parentheses and may hold spaces.
    stat.rsplit(')').next()?.trim_start().chars().next()
}

/// `<dir>/.s.PGSQL.<port>`.
pub fn socket_path(socket_dir: &Path) -> PathBuf {
    socket_dir.join(format!(".s.PGSQL.{PORT}"))
}

fn check_socket_path(socket_dir: &Path) -> Result<(), ClusterError> {
    let path = socket_path(socket_dir);
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ClusterError::SocketPathTooLong {
            path,
            len,
            max: MAX_SOCKET_PATH,
        });
    }
    Ok(())
}

/// Creates the parents as usual (so another user can traverse them) and the data directory
/// itself private.
fn create_data_dir(data_dir: &Path) -> Result<(), ClusterError> {
    if data_dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = data_dir.parent() {
        fs::create_dir_all(parent).map_err(ClusterError::io(format!(
            "cannot create {}",
            parent.display()
        )))?;
    }
    match fs::DirBuilder::new().mode(0o700).create(data_dir) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(ClusterError::Io {
            context: format!("cannot create {}", data_dir.display()),
            source: err,
        }),
        _ => Ok(()),
    }
}

/// Where throwaway clusters go: the temporary directory, or `/tmp` if the server user cannot
/// reach it or the socket path would be too long there.
fn throwaway_base() -> Result<PathBuf, ClusterError> {
    let base = std::env::temp_dir();
    let fits = check_socket_path(&base.join("pg-embedded-XXXXXXXXXX")).is_ok();
    let reachable = if os_user::is_root() {
        let user = os_user::server_user()?;
        base.ancestors().all(|dir| user.can_traverse(dir))
    } else {
        true
    };
    if fits && reachable {
        Ok(base)
    } else {
        Ok(PathBuf::from("/tmp"))
    }
}

fn read_from(path: &Path, offset: u64) -> String {
    let mut text = String::new();
    if let Ok(mut file) = File::open(path) {
        let _ = file.seek(SeekFrom::Start(offset));
        let mut bytes = Vec::new();
        let _ = file.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn combined(output: &Output) -> String {
    let mut text = String::from_utf8_lossy(&output.stdout)
        .trim_end()
        .to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(stderr.trim_end());
    }
    text
}

fn describe(output: &Output) -> String {
    format!("{} {}", output.status, combined(output))
}
