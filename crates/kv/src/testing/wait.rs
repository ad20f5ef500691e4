//! Waiting in tests: poll a condition until it holds, and fail with what was awaited once a
//! deadline passes.

use std::future::Future;
use std::time::Duration;

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub async fn eventually(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Polls the asynchronous `cond` (a request to a node, say) every 100 ms until it holds;
/// panics with `what` after `timeout`.
pub async fn eventually_async<F, Fut>(timeout: Duration, what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Tries the asynchronous `attempt` every 20 ms until it returns `Ok`, and returns its value;
/// panics with `what` and the last `Err` after `timeout`.
pub async fn retry_until<T, E, F, Fut>(timeout: Duration, what: &str, mut attempt: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match attempt().await {
            Ok(v) => return v,
            Err(last) if tokio::time::Instant::now() > deadline => {
                panic!("{what} within {timeout:?}: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Polls `cond` every 200 ms on this thread until it holds; panics with `what` after
/// `timeout`. For tests outside a runtime (that drive processes, for instance).
pub fn eventually_blocking(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Logs to the test's output when `RUST_LOG` (e.g. `RUST_LOG=openraft=debug`) or
/// `SEXTANT_TEST_LOG` (e.g. `SEXTANT_TEST_LOG=kv=info`) is set to an env-filter.
pub fn init_tracing() {
    let filter = std::env::var("SEXTANT_TEST_LOG")
        .ok()
        .or_else(|| std::env::var("RUST_LOG").ok());
    if let Some(filter) = filter {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}
