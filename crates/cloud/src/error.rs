//! [`CloudError`]: what went wrong with external storage, in terms a caller can act on.
//!
//! Every variant carries only redacted text: URIs in their redacted form (without query), and
//! server or library messages scrubbed of every secret value the URI held ([`scrub`]). The
//! classification of an `object_store` error ([`classify`]) reads, in order: the error kind
//! (not found, permission denied), the provider's error code in the response body (`<Code>`
//! of S3 and Azure), a transport failure in the source chain (connect, timeout), and an I/O
//! error of the local file system.

use base::errcode::{self, Code};
use serde::{Deserialize, Serialize};
use std::error::Error as StdError;

/// An external storage failure. `Display` is precise and never contains a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum CloudError {
    /// The object does not exist (the bucket does).
    #[error("external storage file does not exist: {uri}")]
    NotFound {
        /// The object's redacted location.
        uri: String,
        /// The path that was asked for, relative to the storage's base.
        path: String,
    },
    /// The credentials were refused, or the storage may not be written or read by them.
    #[error("access denied to {uri}: {detail}")]
    AccessDenied {
        /// The redacted location.
        uri: String,
        /// The server's reason (error code and message), scrubbed of secrets.
        detail: String,
    },
    /// The bucket (or Azure container) does not exist.
    #[error("bucket {bucket:?} does not exist ({uri})")]
    BucketNotFound {
        /// The redacted location.
        uri: String,
        /// The bucket or container name.
        bucket: String,
    },
    /// The storage server could not be reached: refused, unresolvable, or timed out.
    #[error("external storage {uri} is unreachable: {detail}")]
    Unreachable {
        /// The redacted location.
        uri: String,
        /// The transport error (endpoint and cause), scrubbed of secrets.
        detail: String,
    },
    /// The URI is malformed or its parameters are wrong (CockroachDB's texts, e.g.
    /// `unknown S3 query parameters: FOO`).
    #[error("{reason}")]
    InvalidUri {
        /// The URI, redacted.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The path inside the storage is not valid (empty, `..`, `//`, …).
    #[error("invalid external storage path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is not valid.
        reason: String,
    },
    /// A scheme or operation that Sextant does not implement.
    #[error("unimplemented: {what}")]
    Unsupported {
        /// What is not supported, and what to use instead.
        what: String,
    },
    /// `external://name` names no external connection.
    #[error("external connection {name:?} does not exist")]
    ConnectionNotFound {
        /// The connection's name.
        name: String,
    },
    /// Any other failure of the storage (a server error, a local I/O error).
    #[error("external storage {uri}: {detail}")]
    Io {
        /// The redacted location.
        uri: String,
        /// What failed, scrubbed of secrets.
        detail: String,
        /// Whether trying again may succeed (server errors, dropped connections).
        retryable: bool,
    },
}

impl CloudError {
    /// Whether trying the same operation again later may succeed: the server was unreachable
    /// or failed transiently. Permanent: bad URIs, missing objects or buckets, refused
    /// credentials.
    pub fn is_retryable(&self) -> bool {
        match self {
            CloudError::Unreachable { .. } => true,
            CloudError::Io { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Whether the object asked for does not exist (the storage itself is fine).
    pub fn is_not_found(&self) -> bool {
        matches!(self, CloudError::NotFound { .. })
    }

    /// The SQLSTATE a SQL client sees for this error.
    pub fn code(&self) -> Code {
        match self {
            CloudError::InvalidUri { .. } | CloudError::InvalidPath { .. } => {
                errcode::INVALID_PARAMETER_VALUE
            }
            CloudError::Unsupported { .. } => errcode::FEATURE_NOT_SUPPORTED,
            CloudError::ConnectionNotFound { .. } => errcode::UNDEFINED_OBJECT,
            CloudError::Unreachable { .. } => errcode::CONNECTION_FAILURE,
            CloudError::NotFound { .. }
            | CloudError::AccessDenied { .. }
            | CloudError::BucketNotFound { .. }
            | CloudError::Io { .. } => errcode::SYSTEM_ERROR,
        }
    }
}

/// Where an operation failed, for error messages.
pub(crate) struct ErrorContext<'a> {
    /// The redacted location of the object or prefix.
    pub uri: String,
    /// The path asked for, relative to the storage's base.
    pub path: &'a str,
    /// The bucket or container, if the storage has one.
    pub bucket: &'a str,
    /// Secret values to scrub from any text.
    pub secrets: &'a [String],
}

/// Replaces every secret value in `text` with `redacted` ([`base::redact::scrub`]).
pub(crate) fn scrub(text: &str, secrets: &[String]) -> String {
    base::redact::scrub(text, secrets)
}

/// Maps an `object_store` error to a [`CloudError`].
pub(crate) fn classify(err: object_store::Error, ctx: &ErrorContext<'_>) -> CloudError {
    let text = scrub(&chain_text(&err), ctx.secrets);
    let provider = provider_error(&text);
    let detail = provider
        .as_ref()
        .map(|(code, msg)| format!("{code}: {msg}"))
        .unwrap_or_else(|| scrub(&deepest_text(&err), ctx.secrets));
    let code = provider.as_ref().map(|(c, _)| c.as_str()).unwrap_or("");
    let uri = ctx.uri.clone();
    if is_missing_bucket(code, &text) {
        return CloudError::BucketNotFound {
            uri,
            bucket: ctx.bucket.to_string(),
        };
    }
    if is_auth_failure(code) {
        return CloudError::AccessDenied { uri, detail };
    }
    match &err {
        object_store::Error::NotFound { .. } => {
            return CloudError::NotFound {
                uri,
                path: ctx.path.to_string(),
            };
        }
        object_store::Error::PermissionDenied { .. }
        | object_store::Error::Unauthenticated { .. } => {
            return CloudError::AccessDenied { uri, detail };
        }
        object_store::Error::InvalidPath { .. } => {
            return CloudError::InvalidPath {
                path: ctx.path.to_string(),
                reason: detail,
            };
        }
        object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
            return CloudError::Unsupported { what: detail };
        }
        _ => {}
    }
    if let Some(kind) = transport_kind(&err) {
        use object_store::client::HttpErrorKind as K;
        let transport = scrub(&deepest_text(&err), ctx.secrets);
        return match kind {
            K::Connect | K::Timeout => CloudError::Unreachable {
                uri,
                detail: transport,
            },
            _ => CloudError::Io {
                uri,
                detail: transport,
                retryable: true,
            },
        };
    }
    if let Some(io) = io_error(&err) {
        let detail = scrub(&io.to_string(), ctx.secrets);
        return match io.kind() {
            std::io::ErrorKind::NotFound => CloudError::NotFound {
                uri,
                path: ctx.path.to_string(),
            },
            std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => {
                CloudError::AccessDenied { uri, detail }
            }
            _ => CloudError::Io {
                uri,
                detail,
                retryable: false,
            },
        };
    }
    if text.contains("incorrectly configured region") {
        return CloudError::Io {
            uri,
            detail: format!(
                "the bucket is in another region: set {} (S3 answered with a redirect)",
                crate::uri::AWS_REGION_PARAM
            ),
            retryable: false,
        };
    }
    let retryable = text.contains("status code: 5") || code == "SlowDown";
    CloudError::Io {
        uri,
        detail,
        retryable,
    }
}

fn is_missing_bucket(code: &str, text: &str) -> bool {
    matches!(code, "NoSuchBucket" | "ContainerNotFound")
        || text.contains("bucket does not exist")
        || text.contains("NoSuchBucket")
}

fn is_auth_failure(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied"
            | "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AuthorizationHeaderMalformed"
            | "InvalidToken"
            | "ExpiredToken"
            | "AuthenticationFailed"
            | "AuthorizationFailure"
            | "InvalidAuthenticationInfo"
    )
}

/// The `<Code>` and `<Message>` of an S3 or Azure XML error body, if `text` holds one.
fn provider_error(text: &str) -> Option<(String, String)> {
    let code = between(text, "<Code>", "</Code>")?;
    let message = between(text, "<Message>", "</Message>").unwrap_or_default();
    // Azure appends request ids and a timestamp on further lines.
    let message = message.lines().next().unwrap_or("").trim().to_string();
    Some((code, message))
}

fn between(text: &str, open: &str, close: &str) -> Option<String> {
    let (_, after) = text.split_once(open)?;
    let (inside, _) = after.split_once(close)?;
    Some(inside.to_string())
}

/// The error and all its sources, joined.
fn chain_text(err: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut cur = err.source();
    while let Some(e) = cur {
        parts.push(e.to_string());
        cur = e.source();
    }
    parts.join(": ")
}

/// The innermost message of the chain with the outermost operation: enough to say what
/// failed and why without repeating each wrapper.
fn deepest_text(err: &(dyn StdError + 'static)) -> String {
    let mut request = None;
    let mut last = err.to_string();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let t = e.to_string();
        if request.is_none() && t.starts_with("Error performing") {
            // "Error performing GET http://… in 1.2s, after 3 retries … - cause"
            request = Some(t.split(" - ").next().unwrap_or("").to_string());
        }
        last = t;
        cur = e.source();
    }
    match request {
        Some(r) if !r.is_empty() && !last.starts_with("Error performing") => {
            format!(
                "{last} ({})",
                r.trim_start_matches("Error performing ").trim()
            )
        }
        _ => last,
    }
}

fn transport_kind(err: &(dyn StdError + 'static)) -> Option<object_store::client::HttpErrorKind> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(h) = e.downcast_ref::<object_store::client::HttpError>() {
            return Some(h.kind());
        }
        cur = e.source();
    }
    None
}

fn io_error<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_secrets() {
        let s = vec!["SeCrEt".to_string()];
        assert_eq!(
            scrub("key=SeCrEt; again SeCrEt", &s),
            "key=redacted; again redacted"
        );
    }

    #[test]
    fn reads_provider_codes() {
        let body = "Server returned non-2xx status code: 403 Forbidden: <?xml version=\"1.0\"?>\
                    <Error><Code>SignatureDoesNotMatch</Code><Message>The request signature \
                    we calculated does not match</Message></Error>";
        assert_eq!(
            provider_error(body),
            Some((
                "SignatureDoesNotMatch".into(),
                "The request signature we calculated does not match".into()
            ))
        );
        assert!(is_auth_failure("SignatureDoesNotMatch"));
        assert!(is_missing_bucket("NoSuchBucket", ""));
        assert!(is_missing_bucket("ContainerNotFound", ""));
    }

    #[test]
    fn retryable_and_codes() {
        let u = CloudError::Unreachable {
            uri: "s3://b".into(),
            detail: "refused".into(),
        };
        assert!(u.is_retryable());
        assert_eq!(u.code(), errcode::CONNECTION_FAILURE);
        let nf = CloudError::NotFound {
            uri: "s3://b/x".into(),
            path: "x".into(),
        };
        assert!(!nf.is_retryable() && nf.is_not_found());
        let unsupported = CloudError::Unsupported {
            what: "userfile".into(),
        };
        assert_eq!(unsupported.to_string(), "unimplemented: userfile");
        assert_eq!(unsupported.code(), errcode::FEATURE_NOT_SUPPORTED);
    }
}
