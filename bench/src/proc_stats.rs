//! What the system under test costs, read from `/proc`: resident memory and CPU
//! time of its process.

use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat` times (`USER_HZ`, 100 on Linux).
const TICKS_PER_S: f64 = 100.0;

/// A reading of one process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcSample {
    pub rss_bytes: u64,
    /// User plus system CPU time since the process started.
    pub cpu_s: f64,
}

/// Reads `pid`'s resident set size and CPU time; `None` if it is gone.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some(ProcSample {
        rss_bytes: rss_kib * 1024,
        cpu_s: (utime + stime) / TICKS_PER_S,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_memory_and_cpu_time() {
        let mut spin = 0u64;
        for i in 0..5_000_000u64 {
            spin = spin.wrapping_add(i * i);
        }
        assert!(spin > 0);
        let me = sample(std::process::id()).expect("our own /proc entry");
        assert!(me.rss_bytes > 1024 * 1024);
        assert!(me.cpu_s >= 0.0);
    }
}
