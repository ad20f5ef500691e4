//! Latency statistics for `workload run`: per-operation samples, percentiles and the lines
//! printed each second and at the end.
//!
//! Workers [`Stats::record`] each operation's latency; the reporter calls
//! [`Stats::take_window`] once a second for the progress line and [`Stats::summary`] at the
//! end. Percentiles are nearest-rank over the exact samples (a 30-second run keeps at most a
//! few hundred thousand `u32` microsecond values).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

/// The `p`-th percentile (0–100) of sorted `samples` by nearest rank; 0 when empty.
pub fn percentile(sorted: &[u32], p: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Microseconds as milliseconds with one decimal.
fn ms(us: u32) -> String {
    format!("{:.1}", f64::from(us) / 1000.0)
}

#[derive(Default, Clone, Debug)]
struct OpStats {
    samples: Vec<u32>,
    errors: u64,
    retries: u64,
}

/// Samples of every operation, for the whole run and for the current one-second window.
#[derive(Default, Debug)]
pub struct Stats {
    total: BTreeMap<&'static str, OpStats>,
    window: Vec<u32>,
    window_errors: u64,
}

/// One progress line's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Operations finished in the window.
    pub ops: usize,
    /// Errors in the window.
    pub errors: u64,
    /// Median latency, µs.
    pub p50: u32,
    /// 95th percentile, µs.
    pub p95: u32,
    /// 99th percentile, µs.
    pub p99: u32,
    /// Slowest, µs.
    pub max: u32,
}

impl Stats {
    /// Records one successful operation that took `latency` after `retries` retries.
    pub fn record(&mut self, op: &'static str, latency: Duration, retries: u64) {
        let us = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        let s = self.total.entry(op).or_default();
        s.samples.push(us);
        s.retries += retries;
        self.window.push(us);
    }

    /// Records a failed operation (tolerated errors).
    pub fn record_error(&mut self, op: &'static str) {
        self.total.entry(op).or_default().errors += 1;
        self.window_errors += 1;
    }

    /// The numbers of the window since the last call, which starts a new window.
    pub fn take_window(&mut self) -> Window {
        let mut w = std::mem::take(&mut self.window);
        w.sort_unstable();
        Window {
            ops: w.len(),
            errors: std::mem::take(&mut self.window_errors),
            p50: percentile(&w, 50.0),
            p95: percentile(&w, 95.0),
            p99: percentile(&w, 99.0),
            max: w.last().copied().unwrap_or(0),
        }
    }

    /// Operations finished so far.
    pub fn total_ops(&self) -> usize {
        self.total.values().map(|s| s.samples.len()).sum()
    }

    /// Errors so far.
    pub fn total_errors(&self) -> u64 {
        self.total.values().map(|s| s.errors).sum()
    }

    /// The header of the progress lines.
    pub fn progress_header() -> String {
        format!(
            "{:>8} {:>7} {:>14} {:>13} {:>8} {:>8} {:>8} {:>9}",
            "_elapsed",
            "_errors",
            "ops/sec(inst)",
            "ops/sec(cum)",
            "p50(ms)",
            "p95(ms)",
            "p99(ms)",
            "pMax(ms)"
        )
    }

    /// One progress line.
    pub fn progress_line(elapsed: Duration, w: &Window, interval: Duration, cum: f64) -> String {
        format!(
            "{:>7.1}s {:>7} {:>14.1} {:>13.1} {:>8} {:>8} {:>8} {:>9}",
            elapsed.as_secs_f64(),
            w.errors,
            w.ops as f64 / interval.as_secs_f64().max(1e-9),
            cum,
            ms(w.p50),
            ms(w.p95),
            ms(w.p99),
            ms(w.max)
        )
    }

    /// The final summary: one line per operation and a total.
    pub fn summary(&self, elapsed: Duration) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let mut out = format!(
            "\n{:>8} {:<18} {:>8} {:>7} {:>8} {:>10} {:>8} {:>8} {:>8} {:>9}\n",
            "_elapsed",
            "operation",
            "ops",
            "errors",
            "retries",
            "ops/sec",
            "p50(ms)",
            "p95(ms)",
            "p99(ms)",
            "pMax(ms)"
        );
        let mut all: Vec<u32> = Vec::new();
        let (mut errors, mut retries) = (0, 0);
        let mut line = |name: &str, samples: &mut Vec<u32>, e: u64, r: u64| {
            samples.sort_unstable();
            let _ = writeln!(
                out,
                "{:>7.1}s {:<18} {:>8} {:>7} {:>8} {:>10.1} {:>8} {:>8} {:>8} {:>9}",
                elapsed.as_secs_f64(),
                name,
                samples.len(),
                e,
                r,
                samples.len() as f64 / secs,
                ms(percentile(samples, 50.0)),
                ms(percentile(samples, 95.0)),
                ms(percentile(samples, 99.0)),
                ms(samples.last().copied().unwrap_or(0))
            );
        };
        for (op, s) in &self.total {
            let mut samples = s.samples.clone();
            all.extend(&samples);
            errors += s.errors;
            retries += s.retries;
            line(op, &mut samples, s.errors, s.retries);
        }
        line("total", &mut all, errors, retries);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&s, 50.0), 50);
        assert_eq!(percentile(&s, 95.0), 95);
        assert_eq!(percentile(&s, 99.0), 99);
        assert_eq!(percentile(&s, 100.0), 100);
        assert_eq!(percentile(&s, 0.0), 1);
        assert_eq!(percentile(&[], 50.0), 0);
        assert_eq!(percentile(&[7], 99.0), 7);
    }

    #[test]
    fn windows_and_summary() {
        let mut st = Stats::default();
        for ms in 1..=10 {
            st.record("read", Duration::from_millis(ms), 0);
        }
        st.record("write", Duration::from_millis(20), 2);
        st.record_error("write");
        let w = st.take_window();
        assert_eq!((w.ops, w.errors, w.p50, w.max), (11, 1, 6000, 20000));
        assert_eq!(st.take_window().ops, 0);
        assert_eq!((st.total_ops(), st.total_errors()), (11, 1));
        let summary = st.summary(Duration::from_secs(2));
        let total = summary.lines().last().unwrap_or("");
        assert!(
            total.contains("total") && total.contains(" 11 "),
            "{summary}"
        );
        let write = summary.lines().find(|l| l.contains("write")).unwrap_or("");
        assert!(write.contains("      2 "), "retries shown: {summary}");
    }
}
