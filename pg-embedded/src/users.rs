//! Who uses a cluster: one registration file per [`Cluster`](crate::Cluster) handle.
//!
//! Every handle from [`Cluster::start`](crate::Cluster::start) creates a file in
//! `<data dir>/pg_embedded_users/` and holds an exclusive `flock` on it for as long as it
//! lives. The kernel releases that lock when the process ends, however it ends, so a file
//! whose lock can be taken is the stale registration of a dead process and does not count.
//!
//! Registering, releasing (and stopping the server when the last user leaves) and counting
//! the users all happen under a lock on the data directory itself ([`DirLock`]), the same
//! one that serializes starts: a process that starts or adopts the server and a process
//! that stops it cannot interleave.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::Write as _;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::os_user::RunAs;
use crate::ClusterError;

/// The directory of registration files, inside the data directory.
pub const USERS_DIR: &str = "pg_embedded_users";

/// Names registration files apart within one process (one per handle).
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(0);

/// An exclusive `flock` on the data directory, held while starting, registering, releasing,
/// stopping, and counting users. Released when dropped (or when the process dies).
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Waits for the lock on `data_dir` (an existing directory).
    pub(crate) fn acquire(data_dir: &Path) -> Result<DirLock, ClusterError> {
        let file = File::open(data_dir).map_err(ClusterError::io(format!(
            "cannot open {}",
            data_dir.display()
        )))?;
        file.lock().map_err(ClusterError::io(format!(
            "cannot lock {}",
            data_dir.display()
        )))?;
        Ok(DirLock { _file: file })
    }
}

/// A live process using a cluster, as its registration file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterUser {
    /// The process id written by the process that registered.
    pub pid: u32,
    /// The name of its program (`/proc/<pid>/comm` at registration), or empty.
    pub program: String,
}

/// This handle's registration: the file, locked for as long as it is open.
#[derive(Debug)]
pub(crate) struct Registration {
    path: PathBuf,
    file: File,
}

impl Registration {
    /// Registers this process as a user of the cluster in `data_dir`. The caller holds the
    /// [`DirLock`]. The directory and file are given to `run_as` so that the data directory
    /// stays wholly the server user's (a backup run as that user can read everything).
    pub(crate) fn register(
        data_dir: &Path,
        run_as: &RunAs,
        _lock: &DirLock,
    ) -> Result<Registration, ClusterError> {
        let dir = data_dir.join(USERS_DIR);
        match fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => run_as.chown(&dir, false)?,
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => {
                return Err(ClusterError::Io {
                    context: format!("cannot create {}", dir.display()),
                    source: err,
                })
            }
        }
        let pid = std::process::id();
        let handle = NEXT_HANDLE.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{pid}-{handle}"));
        // A file of the same name can only be a dead process's (its pid reused): take it over.
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(ClusterError::io(format!(
                "cannot create {}",
                path.display()
            )))?;
        file.lock()
            .map_err(ClusterError::io(format!("cannot lock {}", path.display())))?;
        let program = fs::read_to_string("/proc/self/comm").unwrap_or_default();
        writeln!(file, "{pid}\n{}", program.trim())
            .map_err(ClusterError::io(format!("cannot write {}", path.display())))?;
        run_as.chown(&path, false)?;
        Ok(Registration { path, file })
    }

    /// Removes the registration. The caller holds the [`DirLock`].
    pub(crate) fn unregister(self, _lock: &DirLock) {
        if let Err(err) = fs::remove_file(&self.path) {
            tracing::warn!(%err, path = %self.path.display(), "cannot remove registration");
        }
        drop(self.file);
    }
}

/// The live users of the cluster in `data_dir`, removing the registrations of dead
/// processes. The caller holds the [`DirLock`], so no registration is half made.
pub(crate) fn live_users(
    data_dir: &Path,
    _lock: &DirLock,
) -> Result<Vec<ClusterUser>, ClusterError> {
    let dir = data_dir.join(USERS_DIR);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => {
            return Err(ClusterError::Io {
                context: format!("cannot read {}", dir.display()),
                source: err,
            })
        }
    };
    let mut users = Vec::new();
    for entry in entries {
        let entry = entry.map_err(ClusterError::io(format!("cannot read {}", dir.display())))?;
        let path = entry.path();
        let Ok(file) = File::open(&path) else {
            continue; // removed meanwhile
        };
        match file.try_lock() {
            Err(TryLockError::WouldBlock) => users.push(read_user(&path)),
            Ok(()) => {
                // Nobody holds it: its process is gone.
                tracing::info!(path = %path.display(), "removing a dead process's registration");
                let _ = fs::remove_file(&path);
            }
            Err(TryLockError::Error(err)) => {
                return Err(ClusterError::Io {
                    context: format!("cannot lock {}", path.display()),
                    source: err,
                })
            }
        }
    }
    users.sort_by_key(|user| user.pid);
    Ok(users)
}

/// Removes the directory of registrations (before `initdb`, which wants an empty directory).
/// The caller holds the [`DirLock`].
pub(crate) fn remove_users_dir(data_dir: &Path, _lock: &DirLock) -> Result<(), ClusterError> {
    let dir = data_dir.join(USERS_DIR);
    match fs::remove_dir_all(&dir) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(ClusterError::Io {
            context: format!("cannot remove {}", dir.display()),
            source: err,
        }),
        _ => Ok(()),
    }
}

fn read_user(path: &Path) -> ClusterUser {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut lines = text.lines();
    let from_name = || {
        let name = path.file_name()?.to_str()?;
        name.split('-').next()?.parse().ok()
    };
    let pid = lines
        .next()
        .and_then(|line| line.trim().parse().ok())
        .or_else(from_name)
        .unwrap_or(0);
    let program = lines.next().unwrap_or_default().trim().to_owned();
    ClusterUser { pid, program }
}
