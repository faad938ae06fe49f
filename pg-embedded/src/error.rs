//! The one error type of this crate.

use std::io;
use std::path::PathBuf;

/// The command that installs PostgreSQL's server binaries on Debian and Ubuntu.
pub const INSTALL_HINT: &str = "apt-get install -y postgresql";

/// Everything that can go wrong while finding, creating, starting or stopping a cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No directory holds `initdb`, `pg_ctl` and `postgres` together.
    #[error(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; searched: {searched}. \
         Install them: on Debian/Ubuntu run `apt-get install -y postgresql` as root (or with sudo), \
         or put the directory holding initdb on PATH"
    )]
    BinariesNotFound {
        /// The directories that were searched, in order.
        searched: String,
    },

    /// `<dir>/.s.PGSQL.<port>` does not fit in a Unix socket address.
    #[error(
        "Unix socket path {path} is {len} bytes, over the {max}-byte limit of Unix socket \
         addresses; choose a data directory with a shorter path"
    )]
    SocketPathTooLong {
        /// The socket path the server would have used.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },

    /// `initdb` failed.
    #[error("initdb failed for {data_dir} ({status}):\n{output}")]
    InitDb {
        /// The data directory.
        data_dir: PathBuf,
        /// How the process ended.
        status: String,
        /// Its standard output and error.
        output: String,
    },

    /// `pg_ctl start` failed or the server did not accept connections in time.
    #[error(
        "could not start PostgreSQL in {data_dir}: {output}\n--- tail of {log} ---\n{log_tail}"
    )]
    Start {
        /// The data directory.
        data_dir: PathBuf,
        /// The output of `pg_ctl` (or what went wrong).
        output: String,
        /// The server log.
        log: PathBuf,
        /// Its last lines.
        log_tail: String,
    },

    /// `pg_ctl stop` failed.
    #[error("could not stop PostgreSQL in {data_dir}: {output}")]
    Stop {
        /// The data directory.
        data_dir: PathBuf,
        /// The output of `pg_ctl`.
        output: String,
    },

    /// `pg_ctl status` could not tell whether the server runs.
    #[error("cannot tell whether PostgreSQL runs in {data_dir}: pg_ctl status: {output}")]
    Status {
        /// The data directory.
        data_dir: PathBuf,
        /// The output of `pg_ctl`.
        output: String,
    },

    /// Running as root, the unprivileged user that runs the server could not be set up,
    /// or cannot reach the data directory.
    #[error("cannot run PostgreSQL as the unprivileged user `{user}`: {reason}")]
    UserSetup {
        /// The user that should run the server.
        user: String,
        /// What is wrong, and how to fix it.
        reason: String,
    },

    /// A file system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ClusterError {
        let context = context.into();
        move |source| ClusterError::Io { context, source }
    }
}
