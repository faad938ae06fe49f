//! CPU time spent by the processes of a point, from `/proc`: the server
//! processes, PostgreSQL (the postmaster's children: backends, WAL writer,
//! checkpointer) and this process (the load generator), so that a point can
//! say where each payment's CPU went. On Linux only; elsewhere nothing.

use std::path::Path;

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`), 100 on Linux.
const TICKS_PER_SECOND: f64 = 100.0;

/// utime + stime of a process, and its parent, from `/proc/<pid>/stat`.
fn stat_of(pid: u32) -> Option<(u32, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields follow the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    // After the name: state(3) ppid(4) ... utime(14) stime(15), 1-based.
    let parent = fields.get(1)?.parse().ok()?;
    let user: u64 = fields.get(11)?.parse().ok()?;
    let system: u64 = fields.get(12)?.parse().ok()?;
    Some((parent, user + system))
}

/// CPU milliseconds a process has used so far.
pub fn process_cpu_ms(pid: u32) -> Option<f64> {
    stat_of(pid).map(|(_, ticks)| ticks as f64 * 1_000.0 / TICKS_PER_SECOND)
}

/// CPU milliseconds used so far by the cluster's postmaster and every
/// process it started that is still running (backends that exited are not
/// counted: a point's connections stay open through its window).
pub fn postgres_cpu_ms(data_dir: &Path) -> Option<f64> {
    let pid_file = std::fs::read_to_string(data_dir.join("postmaster.pid")).ok()?;
    let postmaster: u32 = pid_file.lines().next()?.trim().parse().ok()?;
    let mut ticks = stat_of(postmaster)?.1;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse().ok())
        else {
            continue;
        };
        if let Some((parent, used)) = stat_of(pid) {
            if parent == postmaster {
                ticks += used;
            }
        }
    }
    Some(ticks as f64 * 1_000.0 / TICKS_PER_SECOND)
}

/// The cores this machine gives the run: a second of them is this many
/// thousand CPU milliseconds.
pub fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |cores| cores.get()) as f64
}

/// The payments a second `cpu_ms_per_payment` allows with every core busy:
/// what a party could do at most on this machine, at its measured cost.
pub fn ceiling_per_second(cpu_ms_per_payment: f64) -> f64 {
    1_000.0 * cores() / cpu_ms_per_payment.max(f64::MIN_POSITIVE)
}

/// CPU used by the point's parties over its measured window.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuSample {
    pub server_ms: f64,
    pub postgres_ms: f64,
    pub load_generator_ms: f64,
}

impl CpuSample {
    /// Now, for the given server processes and cluster.
    pub fn take(servers: &[u32], data_dir: &Path) -> CpuSample {
        CpuSample {
            server_ms: servers.iter().filter_map(|pid| process_cpu_ms(*pid)).sum(),
            postgres_ms: postgres_cpu_ms(data_dir).unwrap_or(0.0),
            load_generator_ms: process_cpu_ms(std::process::id()).unwrap_or(0.0),
        }
    }

    /// All of it, in CPU milliseconds.
    pub fn total_ms(self) -> f64 {
        self.server_ms + self.postgres_ms + self.load_generator_ms
    }

    /// What was used between `earlier` and `self`.
    pub fn since(self, earlier: CpuSample) -> CpuSample {
        CpuSample {
            server_ms: self.server_ms - earlier.server_ms,
            postgres_ms: self.postgres_ms - earlier.postgres_ms,
            load_generator_ms: self.load_generator_ms - earlier.load_generator_ms,
        }
    }
}
