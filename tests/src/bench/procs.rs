//! Resource figures from `/proc`. Our binaries: peak RSS (`VmHWM`, kept by the kernel) and CPU
//! seconds (`utime + stime`). Postgres is a postmaster plus one process per connection: its CPU is
//! the postmaster's own, plus that of the children it already reaped (`cutime + cstime`), plus
//! that of the live ones; its memory is the peak of the summed proportional set size (`Pss`, so
//! shared buffers count once), sampled every 500 ms. The load generator is this process; pgbench
//! runs as its child, so its CPU is the growth of this process's `cutime + cstime` (the other
//! children are reaped only at the end).

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The rows of the resource table, in order.
pub const NAMES: [&str; 6] = [
    "router",
    "worker",
    "control-plane",
    "postgres",
    "load generator",
    "pgbench",
];

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// `(ppid, utime + stime, cutime + cstime)` in seconds.
fn stat(pid: &str) -> Option<(u32, f64, f64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let n = |i: usize| fields.get(i)?.parse::<f64>().ok();
    let tick = ticks_per_sec();
    let ppid = fields.get(1)?.parse().ok()?;
    Some((ppid, (n(11)? + n(12)?) / tick, (n(13)? + n(14)?) / tick))
}

/// CPU seconds a process used so far (its own, not its reaped children's).
pub fn cpu_secs(pid: u32) -> f64 {
    stat(&pid.to_string()).map_or(0.0, |s| s.1)
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    kib_field(&text, key)
}

/// Resident memory of a process now (`VmRSS`), in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

fn kib_field(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(key))?;
    line[key.len()..].split_whitespace().next()?.parse().ok()
}

fn children(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| stat(&pid.to_string()).is_some_and(|(ppid, _, _)| ppid == parent))
        .collect()
}

fn postgres_pss_kib(postmaster: u32) -> u64 {
    std::iter::once(postmaster)
        .chain(children(postmaster))
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
            kib_field(&text, "Pss:")
        })
        .sum()
}

/// Reads the figures of the stack's processes and of this one.
pub struct Meter {
    procs: Vec<(&'static str, u32)>,
    postmaster: u32,
    pg_peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl Meter {
    /// Starts sampling Postgres memory. `procs` are `(name, pid)` of router, worker, control plane.
    pub fn start(procs: Vec<(&'static str, u32)>, postmaster: u32) -> Self {
        let pg_peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, done) = (pg_peak_kib.clone(), stop.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(postgres_pss_kib(postmaster), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        });
        Meter {
            procs,
            postmaster,
            pg_peak_kib,
            stop,
        }
    }

    fn pid(&self, name: &str) -> Option<u32> {
        self.procs.iter().find(|(n, _)| *n == name).map(|(_, p)| *p)
    }

    /// CPU seconds used so far, in the order of [`NAMES`].
    pub fn cpu(&self) -> [f64; 6] {
        let own = |name: &str| {
            self.pid(name)
                .and_then(|p| stat(&p.to_string()))
                .map_or(0.0, |s| s.1)
        };
        let pg = stat(&self.postmaster.to_string()).map_or(0.0, |(_, own, reaped)| own + reaped)
            + children(self.postmaster)
                .iter()
                .filter_map(|p| stat(&p.to_string()))
                .map(|s| s.1)
                .sum::<f64>();
        let (_, me, reaped) = stat("self").unwrap_or_default();
        [
            own("router"),
            own("worker"),
            own("control-plane"),
            pg,
            me,
            reaped,
        ]
    }

    /// Peak memory in KiB so far, in the order of [`NAMES`] (`None`: not measured).
    pub fn peak_kib(&self) -> [Option<u64>; 6] {
        let hwm = |name: &str| self.pid(name).and_then(|p| status_kib(p, "VmHWM:"));
        let pg = self
            .pg_peak_kib
            .load(Ordering::Relaxed)
            .max(postgres_pss_kib(self.postmaster));
        let me = status_kib(std::process::id(), "VmHWM:");
        [
            hwm("router"),
            hwm("worker"),
            hwm("control-plane"),
            Some(pg),
            me,
            None,
        ]
    }
}

impl Meter {
    /// Resident memory in KiB now (`VmRSS`) of router, worker and control plane, in the order of
    /// [`NAMES`] (`None` for the others).
    pub fn now_kib(&self) -> [Option<u64>; 6] {
        let rss = |name: &str| self.pid(name).and_then(|p| status_kib(p, "VmRSS:"));
        [
            rss("router"),
            rss("worker"),
            rss("control-plane"),
            None,
            None,
            None,
        ]
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
