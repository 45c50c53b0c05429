//! Code generated from `../idl/echo.thrift`, and what the server and client share.

#[allow(clippy::all, missing_docs, unused)]
mod r#gen {
    include!(concat!(env!("OUT_DIR"), "/volo_gen.rs"));
}

pub use r#gen::volo_gen::{base, echo};

/// Value of a `--flag value` pair in `args`, or `default`.
pub fn flag(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// Whether a bare `--flag` is present.
pub fn switch(args: &[String], name: &str) -> bool {
    args.iter().any(|a| a == name)
}

/// CPU ticks (user + system) of `/proc/<pid>/stat`; `pid` may be `self`.
pub fn cpu_ticks(pid: &str) -> u64 {
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let rest = s.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    n(11) + n(12)
}

/// Resident set size of `/proc/<pid>/status`, in KiB.
pub fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok())
        })
        .unwrap_or(0)
}

/// One reading of the server process and of this one.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    server_ticks: u64,
    self_ticks: u64,
    server_rss_kib: u64,
}

impl Snapshot {
    /// Read the server (`None`: no server pid) and this process.
    pub fn take(server_pid: Option<u32>) -> Self {
        let (server_ticks, server_rss_kib) = server_pid.map_or((0, 0), |p| {
            let p = p.to_string();
            (cpu_ticks(&p), rss_kib(&p))
        });
        Snapshot {
            server_ticks,
            self_ticks: cpu_ticks("self"),
            server_rss_kib,
        }
    }
}

/// USER_HZ, 100 on every Linux this runs on.
const CLOCK_TICKS: f64 = 100.0;

fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    sorted[i.min(sorted.len() - 1)]
}

/// The result line, the same as the Go client's:
/// calls,errors,qps,p50_us,p99_us,p999_us,server_cpu_pct,server_rss_mb,client_cpu_pct
pub fn report(
    mut lat: Vec<u32>,
    errors: u64,
    secs: f64,
    before: Snapshot,
    after: Snapshot,
) -> String {
    lat.sort_unstable();
    let cpu = |d: u64| d as f64 / CLOCK_TICKS / secs * 100.0;
    format!(
        "{},{},{:.0},{},{},{},{:.1},{:.1},{:.1}",
        lat.len(),
        errors,
        lat.len() as f64 / secs,
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        cpu(after.server_ticks.saturating_sub(before.server_ticks)),
        after.server_rss_kib as f64 / 1024.0,
        cpu(after.self_ticks.saturating_sub(before.self_ticks)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let lat: Vec<u32> = (1..=1000).collect();
        assert_eq!(percentile(&lat, 0.5), 500);
        assert_eq!(percentile(&lat, 0.99), 990);
        assert_eq!(percentile(&lat, 0.999), 999);
        assert_eq!(percentile(&[], 0.5), 0);
    }

    #[test]
    fn flags_are_read() {
        let a: Vec<String> = ["x", "--c", "64", "--mux"].map(String::from).to_vec();
        assert_eq!(flag(&a, "--c", "16"), "64");
        assert_eq!(flag(&a, "--size", "1024"), "1024");
        assert!(switch(&a, "--mux"));
    }
}
