//! One throwaway cluster per process, for test binaries.
//!
//! Rust never drops statics, so the cluster is stopped and its directory removed by a
//! handler registered with `atexit`, which runs when `main` returns or `std::process::exit`
//! is called (libtest does either).
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock, PoisonError};

use crate::{Cluster, ClusterError};

/// What a client needs to connect to a cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The directory holding the socket `.s.PGSQL.<port>`.
    pub socket_dir: PathBuf,
    /// The port, which names the socket file.
    pub port: u16,
    /// The superuser role to connect as.
    pub superuser: String,
}

impl ConnectionInfo {
    /// The directory holding the socket.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// A libpq-style connection string:
    /// `host=<socket_dir> port=<port> user=<superuser> dbname=<dbname>`.
    pub fn connection_string(&self, dbname: &str) -> String {
        format!(
            "host={} port={} user={} dbname={}",
            self.socket_dir.display(),
            self.port,
            self.superuser,
            dbname
        )
    }
}

static SHARED: Mutex<Option<Cluster>> = Mutex::new(None);
static INFO: OnceLock<ConnectionInfo> = OnceLock::new();

/// The process's shared throwaway cluster, started on first use; stopped and removed at exit.
///
/// # Panics
/// If the cluster cannot be started (the message says why, e.g. what to install): meant
/// for tests, where that is the right outcome.
pub fn shared_throwaway() -> &'static ConnectionInfo {
    match try_shared_throwaway() {
        Ok(info) => info,
        Err(err) => panic!("cannot start the shared throwaway PostgreSQL cluster: {err}"),
    }
}

/// [`shared_throwaway`], returning the error instead of panicking. A failed start is tried
/// again on the next call.
pub fn try_shared_throwaway() -> Result<&'static ConnectionInfo, ClusterError> {
    if let Some(info) = INFO.get() {
        return Ok(info);
    }
    let mut shared = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(info) = INFO.get() {
        return Ok(info);
    }
    let cluster = Cluster::start_throwaway()?;
    let info = cluster.connection_info();
    *shared = Some(cluster);
    // SAFETY: `stop_shared` is an `extern "C" fn()` with no arguments that never unwinds
    // (it catches panics), as atexit requires; registering happens once, under the lock,
    // because INFO is set right after while the lock is still held.
    let registered = unsafe { libc::atexit(stop_shared) };
    if registered != 0 {
        tracing::warn!(
            "could not register atexit handler; the shared cluster outlives the process"
        );
    }
    Ok(INFO.get_or_init(|| info))
}

extern "C" fn stop_shared() {
    let _ = std::panic::catch_unwind(|| {
        // try_lock: a thread still starting the cluster at exit must not hang the exit.
        let cluster = match SHARED.try_lock() {
            Ok(mut shared) => shared.take(),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => poisoned.into_inner().take(),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        drop(cluster);
    });
}
