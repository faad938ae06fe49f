//! Finding PostgreSQL's server binaries.

use std::env;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::ClusterError;

/// The programs a directory must hold to count as a PostgreSQL bindir.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian and Ubuntu install each major version's binaries.
pub const DEBIAN_VERSIONED_ROOT: &str = "/usr/lib/postgresql";

/// A directory holding PostgreSQL's `initdb`, `pg_ctl` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binaries {
    bindir: PathBuf,
}

impl Binaries {
    /// Uses `bindir` if it holds `initdb`, `pg_ctl` and `postgres`.
    pub fn in_dir(bindir: impl Into<PathBuf>) -> Option<Binaries> {
        let bindir = bindir.into();
        REQUIRED
            .iter()
            .all(|name| is_executable(&bindir.join(name)))
            .then_some(Binaries { bindir })
    }

    /// The directory holding the binaries.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// `initdb`.
    pub fn initdb(&self) -> PathBuf {
        self.bindir.join("initdb")
    }

    /// `pg_ctl`.
    pub fn pg_ctl(&self) -> PathBuf {
        self.bindir.join("pg_ctl")
    }

    /// `postgres`.
    pub fn postgres(&self) -> PathBuf {
        self.bindir.join("postgres")
    }

    /// Another program of the same installation (`pg_isready`, `psql`, ...), if it is there.
    pub fn tool(&self, name: &str) -> Option<PathBuf> {
        let path = self.bindir.join(name);
        is_executable(&path).then_some(path)
    }
}

/// Finds the server binaries: on `PATH` (following symlinks to the real bindir), then
/// `pg_config --bindir`, then `/usr/lib/postgresql/*/bin`, highest version first.
pub fn find_binaries() -> Result<Binaries, ClusterError> {
    find_binaries_in(&search_dirs())
}

/// The first of `dirs` that holds `initdb`, `pg_ctl` and `postgres`; if none does, an error
/// that lists them and says what to install.
pub fn find_binaries_in(dirs: &[PathBuf]) -> Result<Binaries, ClusterError> {
    if let Some(found) = dirs.iter().find_map(Binaries::in_dir) {
        tracing::debug!(bindir = %found.bindir.display(), "found PostgreSQL binaries");
        return Ok(found);
    }
    let searched = if dirs.is_empty() {
        "nothing".to_owned()
    } else {
        dirs.iter()
            .map(|dir| dir.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Err(ClusterError::BinariesNotFound { searched })
}

/// The directories [`find_binaries`] searches, in order, without duplicates.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(path) = env::var_os("PATH") {
        for dir in env::split_paths(&path) {
            let initdb = dir.join("initdb");
            if !is_executable(&initdb) {
                continue;
            }
            // /usr/local/bin/initdb may be a symlink into the real bindir; prefer that one.
            if let Some(real) = initdb
                .canonicalize()
                .ok()
                .and_then(|p| p.parent().map(Path::to_path_buf))
            {
                dirs.push(real);
            }
            dirs.push(dir);
        }
    }
    if let Some(dir) = pg_config_bindir() {
        dirs.push(dir);
    }
    dirs.extend(versioned_bindirs(Path::new(DEBIAN_VERSIONED_ROOT)));
    let mut unique = Vec::with_capacity(dirs.len());
    for dir in dirs {
        if !unique.contains(&dir) {
            unique.push(dir);
        }
    }
    unique
}

/// `<root>/<version>/bin` for each version directory under `root`, highest version first
/// (`15` before `9.6`).
pub fn versioned_bindirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = root.read_dir() else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u64>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name();
            let version = parse_version(&name)?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    versions.into_iter().map(|(_, dir)| dir).collect()
}

fn parse_version(name: &OsStr) -> Option<Vec<u64>> {
    name.to_str()?
        .split('.')
        .map(|part| part.parse().ok())
        .collect()
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config")
        .arg("--bindir")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    let dir = dir.trim();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

fn is_executable(path: &Path) -> bool {
    path.metadata()
        .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn fake_bindir(dir: &Path) {
        fs::create_dir_all(dir).unwrap();
        for name in REQUIRED {
            let path = dir.join(name);
            fs::write(&path, "#!/bin/sh\n").unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    // The highest installed major version wins.
    #[test]
    fn versioned_bindirs_are_ordered_highest_version_first() {
        let root = tempfile::tempdir().unwrap();
        for version in ["9.6", "15", "10", "not-a-version"] {
            fs::create_dir_all(root.path().join(version).join("bin")).unwrap();
        }
        let dirs = versioned_bindirs(root.path());
        let expected: Vec<PathBuf> = ["15", "10", "9.6"]
            .iter()
            .map(|v| root.path().join(v).join("bin"))
            .collect();
        assert_eq!(dirs, expected);
    }

    #[test]
    fn the_first_directory_holding_all_three_programs_is_chosen() {
        let root = tempfile::tempdir().unwrap();
        let incomplete = root.path().join("incomplete");
        fs::create_dir_all(&incomplete).unwrap();
        fs::write(incomplete.join("initdb"), "").unwrap();
        let complete = root.path().join("complete");
        fake_bindir(&complete);
        let found = find_binaries_in(&[incomplete, complete.clone()]).unwrap();
        assert_eq!(found.bindir(), complete);
        assert_eq!(found.initdb(), complete.join("initdb"));
        assert_eq!(found.tool("psql"), None);
    }

    // The error says exactly what to install.
    #[test]
    fn missing_binaries_fail_with_the_install_command() {
        let empty = tempfile::tempdir().unwrap();
        let err = find_binaries_in(&[empty.path().to_path_buf()]).unwrap_err();
        assert!(matches!(err, ClusterError::BinariesNotFound { .. }));
        let message = err.to_string();
        assert!(
            message.contains("apt-get install -y postgresql"),
            "{message}"
        );
        assert!(message.contains("root"), "{message}");
        assert!(
            message.contains(&empty.path().display().to_string()),
            "{message}"
        );
    }
}
