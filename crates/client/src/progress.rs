//! A progress bar for a foreground BACKUP or RESTORE.
//!
//! A blocking `BACKUP`/`RESTORE` answers only when its job ends, so while it runs the shell
//! opens a second connection and polls the job's `fraction_completed` from `SHOW JOBS`
//! ([`progress_query`]) every [`POLL_INTERVAL`], drawing an `indicatif` bar on stderr. When
//! the poll fails (a server without `SHOW JOBS`, or no job row yet visible) the bar turns
//! into a spinner and keeps polling, so the bar appears as soon as the server can say more.
//! [`JobProgress::stop`] ends the poller and reports what it saw, which is what tests check.
//! [`foreground_job`] decides, from the statement alone, whether there is anything to show:
//! a `DETACHED` job returns at once.

use crate::session::first_words;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_postgres::{Config, SimpleQueryMessage};

/// How often the job's progress is polled.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Bar resolution: the fraction is shown in thousandths.
const BAR_STEPS: u64 = 1000;

/// The kind of job a statement runs in the foreground.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobKind {
    /// `BACKUP ...` without `DETACHED`.
    Backup,
    /// `RESTORE ...` without `DETACHED`.
    Restore,
}

impl JobKind {
    /// The `job_type` of such jobs in `SHOW JOBS`.
    pub fn job_type(self) -> &'static str {
        match self {
            JobKind::Backup => "BACKUP",
            JobKind::Restore => "RESTORE",
        }
    }
}

/// The job `sql` waits for, if it is a blocking BACKUP or RESTORE.
pub fn foreground_job(sql: &str) -> Option<JobKind> {
    let kind = match first_words(sql, 1).first().map(String::as_str) {
        Some("BACKUP") => JobKind::Backup,
        Some("RESTORE") => JobKind::Restore,
        _ => return None,
    };
    let detached = first_words(sql, usize::MAX).iter().any(|w| w == "DETACHED");
    (!detached).then_some(kind)
}

/// The poll: the newest running job of the kind.
pub fn progress_query(kind: JobKind) -> String {
    format!(
        "SELECT fraction_completed FROM [SHOW JOBS] WHERE job_type = '{}' AND status = 'running' \
         ORDER BY created DESC LIMIT 1",
        kind.job_type()
    )
}

/// A `fraction_completed` value, clamped to `[0, 1]`.
pub fn parse_fraction(text: Option<&str>) -> Option<f64> {
    let f: f64 = text?.trim().parse().ok()?;
    f.is_finite().then_some(f.clamp(0.0, 1.0))
}

/// What the poller saw, returned by [`JobProgress::stop`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProgressReport {
    /// Polls that answered with a fraction.
    pub fractions_seen: u64,
    /// Polls that failed (the bar showed a spinner after the first).
    pub failed_polls: u64,
    /// The last fraction seen.
    pub last_fraction: Option<f64>,
}

#[derive(Default)]
struct Counters {
    fractions: AtomicU64,
    failures: AtomicU64,
    last_milli: AtomicU64,
    any: AtomicBool,
}

/// A running poller; [`JobProgress::stop`] ends it.
pub struct JobProgress {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    counters: Arc<Counters>,
    bar: ProgressBar,
}

impl JobProgress {
    /// Starts polling the progress of a `kind` job over a new connection made with `config`.
    /// `visible` draws the bar on stderr; otherwise it is hidden (tests, non-terminals).
    pub fn start(config: Config, kind: JobKind, visible: bool) -> JobProgress {
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(BAR_STEPS), target);
        let style = ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_message(kind.job_type().to_lowercase());
        let (stop, stopped) = oneshot::channel();
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(poll(config, kind, bar.clone(), counters.clone(), stopped));
        JobProgress {
            stop: Some(stop),
            task,
            counters,
            bar,
        }
    }

    /// Stops polling, clears the bar and reports what was seen.
    pub async fn stop(mut self) -> ProgressReport {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
        self.bar.finish_and_clear();
        let c = &self.counters;
        ProgressReport {
            fractions_seen: c.fractions.load(Ordering::Relaxed),
            failed_polls: c.failures.load(Ordering::Relaxed),
            last_fraction: c
                .any
                .load(Ordering::Relaxed)
                .then(|| c.last_milli.load(Ordering::Relaxed) as f64 / BAR_STEPS as f64),
        }
    }
}

async fn poll(
    config: Config,
    kind: JobKind,
    bar: ProgressBar,
    counters: Arc<Counters>,
    mut stopped: oneshot::Receiver<()>,
) {
    let query = progress_query(kind);
    let mut client = None;
    let mut spinner = false;
    loop {
        if client.is_none() {
            client = crate::conn::connect(&config).await.ok();
        }
        let fraction = match &client {
            Some(c) => match c.simple_query(&query).await {
                Ok(msgs) => msgs.iter().find_map(|m| match m {
                    SimpleQueryMessage::Row(r) => parse_fraction(r.get(0)),
                    _ => None,
                }),
                Err(_) => None,
            },
            None => None,
        };
        match fraction {
            Some(f) => {
                let milli = (f * BAR_STEPS as f64).round() as u64;
                counters.fractions.fetch_add(1, Ordering::Relaxed);
                counters.last_milli.store(milli, Ordering::Relaxed);
                counters.any.store(true, Ordering::Relaxed);
                if spinner {
                    spinner = false;
                    bar.disable_steady_tick();
                    bar.set_style(
                        ProgressStyle::with_template("{msg} [{bar:40}] {percent:>3}% ({elapsed})")
                            .unwrap_or_else(|_| ProgressStyle::default_bar())
                            .progress_chars("=> "),
                    );
                }
                bar.set_position(milli);
            }
            None => {
                counters.failures.fetch_add(1, Ordering::Relaxed);
                if !spinner {
                    spinner = true;
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg} running ({elapsed})")
                            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                    );
                    bar.enable_steady_tick(Duration::from_millis(120));
                }
            }
        }
        tokio::select! {
            _ = &mut stopped => return,
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_statements_wait_for_a_job() {
        assert_eq!(
            foreground_job("BACKUP DATABASE movr INTO 'nodelocal://1/b'"),
            Some(JobKind::Backup)
        );
        assert_eq!(
            foreground_job(" restore database movr from latest in 'x'"),
            Some(JobKind::Restore)
        );
        assert_eq!(
            foreground_job("BACKUP INTO 'x' WITH detached"),
            None,
            "a detached job returns at once"
        );
        assert_eq!(foreground_job("SELECT 'BACKUP'"), None);
    }

    #[test]
    fn fractions() {
        assert_eq!(parse_fraction(Some("0.25")), Some(0.25));
        assert_eq!(parse_fraction(Some("1.5")), Some(1.0));
        assert_eq!(parse_fraction(Some("NaN")), None);
        assert_eq!(parse_fraction(None), None);
        assert!(progress_query(JobKind::Restore).contains("job_type = 'RESTORE'"));
    }
}
