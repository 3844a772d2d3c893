//! Pinning the system under test and the load generator to separate CPUs, so that
//! neither steals the other's time and a ratio between two servers does not
//! measure their generators' costs (issue #19). With `taskset` (util-linux) and
//! at least two CPUs: servers on CPU 0, the harness on the others.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Command;

use crate::system::which;

/// Set (to the servers' CPU list) in the environment of a harness that runs
/// pinned, so it does not pin again; not `SLUICE_*`, which `sluice` would read.
const PINNED_ENV: &str = "PINNED_BY_SLUICE_BENCH";

/// Where servers run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pinning {
    /// `taskset` and the CPU list for servers; `None`: not pinned.
    servers: Option<(PathBuf, String)>,
}

impl Pinning {
    /// No pinning: every process where the scheduler puts it.
    pub fn off() -> Self {
        Pinning::default()
    }

    /// Pinning when this machine allows it: `taskset` found and two CPUs or more.
    pub fn auto() -> Self {
        // The pinned harness sees only its own CPUs: it is told the servers'.
        if let (Some(cpus), Some(taskset)) = (std::env::var_os(PINNED_ENV), which("taskset")) {
            return Pinning {
                servers: Some((taskset, cpus.to_string_lossy().into_owned())),
            };
        }
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        match which("taskset") {
            Some(taskset) if cpus >= 2 => Pinning {
                servers: Some((taskset, "0".to_owned())),
            },
            _ => Pinning::off(),
        }
    }

    pub fn is_on(&self) -> bool {
        self.servers.is_some()
    }

    /// A command that runs `program` on the servers' CPUs (`taskset` execs it, so
    /// the child's pid is the server's).
    pub fn server_command(&self, program: impl Into<OsString>) -> Command {
        match &self.servers {
            Some((taskset, cpus)) => {
                let mut command = Command::new(taskset);
                command.arg("-c").arg(cpus).arg(program.into());
                command
            }
            None => Command::new(program.into()),
        }
    }

    /// When pinning, runs this harness again on the other CPUs (once) and returns
    /// its exit status; `None` when this process should go on itself.
    pub fn rerun_harness_pinned(&self) -> Option<std::process::ExitStatus> {
        let (taskset, servers) = self.servers.as_ref()?;
        if std::env::var_os(PINNED_ENV).is_some() {
            return None;
        }
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        let others = format!("1-{}", cpus - 1);
        let me = std::env::current_exe().ok()?;
        let status = Command::new(taskset)
            .arg("-c")
            .arg(&others)
            .arg(me)
            .args(std::env::args_os().skip(1))
            .env(PINNED_ENV, servers)
            .status()
            .ok()?;
        Some(status)
    }

    /// What a results page says about where things ran.
    pub fn describe(&self) -> String {
        match &self.servers {
            Some((_, cpus)) => format!(
                "servers pinned to CPU {cpus}, the load generator to the other CPUs (taskset)"
            ),
            None => "not pinned (no taskset, one CPU, or --pin off)".to_owned(),
        }
    }
}
