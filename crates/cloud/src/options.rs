//! [`StorageOptions`]: timeouts, retries and upload sizes, with defaults chosen so that an
//! unreachable storage fails in seconds, not minutes.

use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use std::time::Duration;

/// Time allowed to establish a connection: an endpoint that does not answer fails after this.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed between two reads of a response before the request is abandoned.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed for a whole request, body included (one part of a multipart upload).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Retries of a failed request (connection errors, 5xx, timeouts of idempotent requests).
pub const DEFAULT_MAX_RETRIES: usize = 3;
/// No retry starts later than this after the first attempt.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(20);
/// First backoff between retries; it doubles up to [`DEFAULT_MAX_BACKOFF`].
pub const DEFAULT_INIT_BACKOFF: Duration = Duration::from_millis(100);
/// Longest backoff between retries.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Size of one part of a multipart upload, in bytes (S3's minimum is 5 MiB).
pub const DEFAULT_PART_SIZE: usize = 8 << 20;
/// Parts of one file uploaded at the same time.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;

/// How storages talk to their servers. `Default` uses the `DEFAULT_*` constants.
#[derive(Clone, Debug, PartialEq)]
pub struct StorageOptions {
    /// Connection establishment timeout.
    pub connect_timeout: Duration,
    /// Inactivity timeout while reading a response.
    pub read_timeout: Duration,
    /// Timeout of one whole request.
    pub request_timeout: Duration,
    /// Retries of one request; 0 disables retries.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// First backoff between retries (doubling, with jitter, up to `max_backoff`).
    pub init_backoff: Duration,
    /// Longest backoff between retries.
    pub max_backoff: Duration,
    /// Multipart part size in bytes; at least 5 MiB for S3.
    pub part_size: usize,
    /// Parts uploaded concurrently per file; memory per writer is about
    /// `part_size * upload_concurrency`.
    pub upload_concurrency: usize,
}

impl Default for StorageOptions {
    fn default() -> StorageOptions {
        StorageOptions {
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_timeout: DEFAULT_RETRY_TIMEOUT,
            init_backoff: DEFAULT_INIT_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            part_size: DEFAULT_PART_SIZE,
            upload_concurrency: DEFAULT_UPLOAD_CONCURRENCY,
        }
    }
}

impl StorageOptions {
    /// The HTTP client options of a cloud store; `allow_http` for `http://` endpoints.
    pub(crate) fn client_options(&self, allow_http: bool) -> ClientOptions {
        ClientOptions::new()
            .with_connect_timeout(self.connect_timeout)
            .with_read_timeout(self.read_timeout)
            .with_timeout(self.request_timeout)
            .with_allow_http(allow_http)
    }

    /// The retry policy of a cloud store.
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: self.init_backoff,
                max_backoff: self.max_backoff,
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}
