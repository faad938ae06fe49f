//! Who runs the server, and making the data directory theirs.
//!
//! PostgreSQL refuses to run as root. When this process is root, `initdb`, `pg_ctl` and
//! the server run as an unprivileged user instead: the owner of an existing cluster if
//! that is not root, else the `postgres` system user (created if missing).

use std::fs;
use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::unistd::{geteuid, Uid, User};

use crate::ClusterError;

/// The system user that runs clusters when this process is root.
pub const SERVER_USER: &str = "postgres";

/// The command that creates [`SERVER_USER`].
pub const USERADD: [&str; 6] = [
    "useradd",
    "--system",
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    SERVER_USER,
];

/// Client variables that would steer `pg_ctl`/`initdb` away from the cluster we mean.
const PG_ENV: [&str; 8] = [
    "PGDATA",
    "PGPORT",
    "PGHOST",
    "PGHOSTADDR",
    "PGUSER",
    "PGDATABASE",
    "PGOPTIONS",
    "PGSERVICE",
];

pub(crate) fn is_root() -> bool {
    geteuid().is_root()
}

/// How to run PostgreSQL's programs: as this process's user, or (when root) as another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RunAs {
    CurrentUser,
    User { name: String, uid: u32, gid: u32 },
}

impl RunAs {
    /// The user that should run a cluster in `data_dir` (which exists), with the directory
    /// made theirs and reachable by them.
    pub(crate) fn prepare(data_dir: &Path) -> Result<RunAs, ClusterError> {
        if !is_root() {
            return Ok(RunAs::CurrentUser);
        }
        let meta = stat(data_dir)?;
        let run_as = if meta.uid() != 0 {
            // An existing directory that already belongs to someone unprivileged: theirs.
            RunAs::owner(&meta)
        } else {
            let run_as = server_user()?;
            // A cluster (or a copy of one) owned by root: give all of it to the server user.
            // Anything else: just the directory; initdb creates the rest.
            let recursive = data_dir.join("PG_VERSION").exists();
            run_as.chown(data_dir, recursive)?;
            run_as
        };
        run_as.check_reachable(data_dir)?;
        Ok(run_as)
    }

    /// The user that runs the existing cluster in `data_dir`, changing nothing (no chown,
    /// no reachability check): for looking at and stopping a cluster.
    pub(crate) fn of_existing(data_dir: &Path) -> Result<RunAs, ClusterError> {
        if !is_root() {
            return Ok(RunAs::CurrentUser);
        }
        let meta = stat(data_dir)?;
        if meta.uid() != 0 {
            Ok(RunAs::owner(&meta))
        } else {
            server_user()
        }
    }

    /// The (unprivileged) owner of a file.
    fn owner(meta: &fs::Metadata) -> RunAs {
        let user = User::from_uid(Uid::from_raw(meta.uid())).ok().flatten();
        match user {
            Some(user) => RunAs::User {
                name: user.name,
                uid: user.uid.as_raw(),
                gid: user.gid.as_raw(),
            },
            None => RunAs::User {
                name: meta.uid().to_string(),
                uid: meta.uid(),
                gid: meta.gid(),
            },
        }
    }

    pub(crate) fn name(&self) -> String {
        match self {
            RunAs::CurrentUser => nix::unistd::User::from_uid(geteuid())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| geteuid().to_string()),
            RunAs::User { name, .. } => name.clone(),
        }
    }

    /// A command for `program` as this user, in `cwd` (the data directory: the server user
    /// may not be able to stat root's working directory), with a clean PostgreSQL environment.
    pub(crate) fn command(&self, program: &Path, cwd: &Path) -> Command {
        let mut command = Command::new(program);
        command
            .current_dir(cwd)
            .env("PWD", cwd)
            .stdin(Stdio::null());
        for var in PG_ENV {
            command.env_remove(var);
        }
        if let RunAs::User { name, uid, gid } = self {
            command
                .uid(*uid)
                .gid(*gid)
                .env("HOME", cwd)
                .env("USER", name)
                .env("LOGNAME", name);
        }
        command
    }

    /// Makes `path` (and with `recursive`, all below it) owned by this user.
    pub(crate) fn chown(&self, path: &Path, recursive: bool) -> Result<(), ClusterError> {
        let RunAs::User { uid, gid, .. } = self else {
            return Ok(());
        };
        lchown(path, Some(*uid), Some(*gid))
            .map_err(ClusterError::io(format!("cannot chown {}", path.display())))?;
        if recursive && fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            let entries = fs::read_dir(path)
                .map_err(ClusterError::io(format!("cannot read {}", path.display())))?;
            for entry in entries {
                let entry =
                    entry.map_err(ClusterError::io(format!("cannot read {}", path.display())))?;
                self.chown(&entry.path(), true)?;
            }
        }
        Ok(())
    }

    /// Whether this user may traverse `dir` (by its mode bits; ACLs are not considered).
    pub(crate) fn can_traverse(&self, dir: &Path) -> bool {
        let RunAs::User { uid, gid, .. } = self else {
            return true;
        };
        let Ok(meta) = fs::metadata(dir) else {
            return false;
        };
        let mode = meta.permissions().mode();
        // Supplementary groups are dropped when switching user, so only the primary group counts.
        let bit = if meta.uid() == *uid {
            0o100
        } else if meta.gid() == *gid {
            0o010
        } else {
            0o001
        };
        mode & bit != 0
    }

    /// Fails with a clear message if some directory above `data_dir` bars this user.
    fn check_reachable(&self, data_dir: &Path) -> Result<(), ClusterError> {
        for dir in data_dir.ancestors() {
            if !self.can_traverse(dir) {
                let mode = fs::metadata(dir)
                    .map(|m| format!("{:o}", m.permissions().mode() & 0o7777))
                    .unwrap_or_else(|_| "unknown".to_owned());
                return Err(ClusterError::UserSetup {
                    user: self.name(),
                    reason: format!(
                        "it cannot reach the data directory {}: {} (mode {mode}) is not \
                         traversable by it. Put the data directory somewhere it can reach \
                         (e.g. under /var/lib or /tmp), or grant traversal with `chmod o+x {}`",
                        data_dir.display(),
                        dir.display(),
                        dir.display(),
                    ),
                });
            }
        }
        Ok(())
    }
}

fn stat(data_dir: &Path) -> Result<fs::Metadata, ClusterError> {
    fs::metadata(data_dir).map_err(ClusterError::io(format!(
        "cannot stat {}",
        data_dir.display()
    )))
}

/// A directory above a data directory that the user who would run its cluster cannot
/// traverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barrier {
    /// The user who would run the cluster (`postgres`, or the owner of the data directory).
    pub user: String,
    /// The first directory, from the root down, that this user cannot traverse.
    pub directory: PathBuf,
    /// Its permission bits (`0o700`).
    pub mode: u32,
}

/// Whether the user who would run a cluster in `data_dir` (which need not exist yet) can
/// reach it: `None` when it can, else the directory that bars it. Only a root process runs
/// its cluster as another user, so for anyone else this is always `None`. Changes and
/// creates nothing, not even the `postgres` user: a user still to be created owns nothing,
/// so only the permission bits for others count for it. Mode bits only, as when the
/// cluster starts.
pub fn barrier_to_data_dir(data_dir: &Path) -> Result<Option<Barrier>, ClusterError> {
    if !is_root() {
        return Ok(None);
    }
    let data_dir = std::path::absolute(data_dir).map_err(ClusterError::io(format!(
        "cannot resolve {}",
        data_dir.display()
    )))?;
    // The deepest directory that exists; what is below it is created (root's umask) later.
    let existing = data_dir
        .ancestors()
        .find(|dir| dir.is_dir())
        .unwrap_or(Path::new("/"));
    let existing = existing.canonicalize().map_err(ClusterError::io(format!(
        "cannot resolve {}",
        existing.display()
    )))?;
    let run_as = match fs::metadata(&data_dir) {
        Ok(meta) if meta.is_dir() && meta.uid() != 0 => RunAs::owner(&meta),
        _ => lookup(SERVER_USER)?.unwrap_or(RunAs::User {
            name: SERVER_USER.to_owned(),
            // (uid_t)-1 owns nothing: the bits for others decide.
            uid: u32::MAX,
            gid: u32::MAX,
        }),
    };
    // An existing data directory owned by root is given to that user when the cluster
    // starts: what matters is the directories above it.
    let first = if data_dir.is_dir() {
        existing.parent().map(Path::to_path_buf)
    } else {
        Some(existing)
    };
    let Some(first) = first else {
        return Ok(None);
    };
    for dir in first.ancestors().collect::<Vec<_>>().into_iter().rev() {
        if !run_as.can_traverse(dir) {
            let mode = fs::metadata(dir)
                .map(|meta| meta.permissions().mode() & 0o7777)
                .unwrap_or(0);
            return Ok(Some(Barrier {
                user: run_as.name(),
                directory: dir.to_path_buf(),
                mode,
            }));
        }
    }
    Ok(None)
}

/// The `postgres` system user, created if missing.
pub(crate) fn server_user() -> Result<RunAs, ClusterError> {
    if let Some(user) = lookup(SERVER_USER)? {
        return Ok(user);
    }
    tracing::info!(user = SERVER_USER, "creating system user to run PostgreSQL");
    let command_line = USERADD.join(" ");
    let result = Command::new(USERADD[0])
        .args(&USERADD[1..])
        .stdin(Stdio::null())
        .output();
    // Another process may have created it meanwhile, so look again whatever happened.
    if let Some(user) = lookup(SERVER_USER)? {
        return Ok(user);
    }
    let what = match result {
        Ok(output) => format!(
            "`{command_line}` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        Err(err) => format!("cannot run `{command_line}`: {err}"),
    };
    Err(ClusterError::UserSetup {
        user: SERVER_USER.to_owned(),
        reason: format!(
            "PostgreSQL refuses to run as root and the user does not exist; {what}. \
             Create it with `{command_line}`"
        ),
    })
}

fn lookup(name: &str) -> Result<Option<RunAs>, ClusterError> {
    let user = User::from_name(name).map_err(|errno| ClusterError::UserSetup {
        user: name.to_owned(),
        reason: format!("cannot look the user up: {errno}"),
    })?;
    Ok(user.map(|user| RunAs::User {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_below_a_private_directory_is_barred_for_the_server_user_of_root() {
        let temp = tempfile::tempdir().unwrap();
        let private = temp.path().join("home");
        fs::create_dir(&private).unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o700)).unwrap();
        fs::set_permissions(temp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let data_dir = private.join("checkout").join(".ledger").join("postgres");
        let barrier = barrier_to_data_dir(&data_dir).unwrap();
        if is_root() {
            let barrier = barrier.expect("the private directory bars the server user");
            assert_eq!(barrier.directory, private.canonicalize().unwrap());
            assert_eq!(barrier.mode, 0o700);
        } else {
            assert_eq!(barrier, None, "only root runs its cluster as another user");
        }
        fs::set_permissions(&private, fs::Permissions::from_mode(0o711)).unwrap();
        assert_eq!(barrier_to_data_dir(&data_dir).unwrap(), None);
    }
}
