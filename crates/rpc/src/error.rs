//! Errors of a call, and how they travel.
//!
//! [`RpcError`] says what the caller can do. Transport failures (`Unreachable`, `Timeout`,
//! `Dropped`) are retryable: the call may succeed on another attempt or another replica, though
//! a mutating request may have executed before the failure, so callers treat its outcome as
//! ambiguous. Everything else is an answer from the protocol and retrying the same call gets
//! the same answer.
//!
//! An application error is a typed value from the handler: [`RpcError::app`] (or `?` on any
//! [`AppError`]) encodes it with postcard under a `kind`, and the caller reads it back with
//! [`RpcError::decode_app`]. On the wire every error is a `pb::Error`; transport errors use
//! the reserved kind [`TRANSPORT_KIND`] with a postcard-encoded [`WireError`] as payload, so
//! an error raised on the server (a handler forwarding an `Unreachable` from its own call,
//! say) reaches the caller as the same variant.

use crate::pb;
use base::Timestamp;
use base::hlc::ClockOffsetError;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt::Display;
use std::time::Duration;

/// The error kind reserved for the transport's own errors on the wire; applications must not
/// use it.
pub const TRANSPORT_KIND: &str = "sextant.rpc";

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// No answer from the target: no address known, connection refused or broken. Retryable.
    #[error("{target} unreachable: {reason}")]
    Unreachable {
        /// The target, as a node id (`n3`) or an address.
        target: String,
        /// What went wrong.
        reason: String,
    },
    /// No answer within the call's timeout. Retryable.
    #[error("call to {target} timed out after {after:?}")]
    Timeout {
        /// The target, as a node id (`n3`) or an address.
        target: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// The target has no handler of that kind (unary or streaming) under this name.
    #[error("unknown method {0:?}")]
    UnknownMethod(String),
    /// A clock reading from the other side was beyond the maximum offset, so the message was
    /// rejected: by the server (request) or by the client (response or stream item).
    #[error("clock offset: {0}")]
    ClockOffset(ClockOffsetError),
    /// A payload did not decode as (or encode from) the expected type.
    #[error("codec error: {0}")]
    Decode(String),
    /// The request came from a node of another cluster.
    #[error("cluster id mismatch: this node is in cluster {expected:?}, the sender in {got:?}")]
    ClusterMismatch {
        /// The receiver's cluster id.
        expected: String,
        /// The sender's cluster id.
        got: String,
    },
    /// The peer answered outside the protocol: a message over the size limit, a service it
    /// does not implement (not a Sextant node), a rejected request. Not retryable.
    #[error("protocol error from {target}: {message}")]
    Protocol {
        /// The target, as a node id (`n3`) or an address.
        target: String,
        /// The gRPC status and message.
        message: String,
    },
    /// The handler failed with a typed error; see [`RpcError::decode_app`].
    #[error("{kind}: {message}")]
    Application {
        /// The error's kind, chosen by the crate that owns it (e.g. `kv.not_leaseholder`).
        kind: String,
        /// The error's display text.
        message: String,
        /// The postcard-encoded error value.
        payload: Vec<u8>,
    },
    /// Dropped by a [`crate::TransportFilters`] rule (tests). Retryable.
    #[error("dropped by a transport filter")]
    Dropped,
}

impl RpcError {
    /// An application error of `kind` carrying `err`, encoded so the caller can get it back
    /// with [`RpcError::decode_app`].
    pub fn app<E: Serialize + Display + ?Sized>(kind: &str, err: &E) -> RpcError {
        RpcError::Application {
            kind: kind.to_string(),
            message: err.to_string(),
            payload: postcard::to_stdvec(err).unwrap_or_default(),
        }
    }

    /// The typed value of an application error, or `None` when this is not an application
    /// error or its payload does not decode as `E`. Does not check the kind; see
    /// [`RpcError::app_error`] for that.
    pub fn decode_app<E: DeserializeOwned>(&self) -> Option<E> {
        match self {
            RpcError::Application { payload, .. } => postcard::from_bytes(payload).ok(),
            _ => None,
        }
    }

    /// The typed value of an application error of kind `E::KIND`.
    pub fn app_error<E: AppError>(&self) -> Option<E> {
        match self {
            RpcError::Application { kind, .. } if kind == E::KIND => self.decode_app(),
            _ => None,
        }
    }

    /// The kind of an application error.
    pub fn app_kind(&self) -> Option<&str> {
        match self {
            RpcError::Application { kind, .. } => Some(kind),
            _ => None,
        }
    }

    /// True for transport failures, where another attempt (or another replica) may succeed:
    /// `Unreachable`, `Timeout` and `Dropped`. The request may still have executed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            RpcError::Unreachable { .. } | RpcError::Timeout { .. } | RpcError::Dropped
        )
    }

    /// The error as it travels in a response.
    pub(crate) fn to_pb(&self) -> pb::Error {
        let (kind, message, payload) = match self {
            RpcError::Application {
                kind,
                message,
                payload,
            } => (kind.clone(), message.clone(), payload.clone()),
            other => {
                let wire = postcard::to_stdvec(&WireError::from(other)).unwrap_or_default();
                (TRANSPORT_KIND.to_string(), other.to_string(), wire)
            }
        };
        pb::Error {
            kind,
            message,
            payload: Bytes::from(payload),
        }
    }

    /// The error carried by a response; never fails, falling back to `Decode` on a payload
    /// that does not decode.
    pub(crate) fn from_pb(err: pb::Error) -> RpcError {
        if err.kind != TRANSPORT_KIND {
            return RpcError::Application {
                kind: err.kind,
                message: err.message,
                payload: err.payload.to_vec(),
            };
        }
        match postcard::from_bytes::<WireError>(&err.payload) {
            Ok(wire) => wire.into(),
            Err(e) => RpcError::Decode(format!("undecodable remote error ({e}): {}", err.message)),
        }
    }
}

/// A typed application error that converts into [`RpcError::Application`] with `?`, and back
/// with [`RpcError::app_error`].
///
/// ```
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Debug, Serialize, Deserialize, thiserror::Error)]
/// #[error("not leaseholder; try {0:?}")]
/// struct NotLeaseholder(Option<u64>);
///
/// impl sextant_rpc::AppError for NotLeaseholder {
///     const KIND: &'static str = "kv.not_leaseholder";
/// }
///
/// let err: sextant_rpc::RpcError = NotLeaseholder(Some(3)).into();
/// assert_eq!(err.app_error::<NotLeaseholder>().unwrap().0, Some(3));
/// ```
pub trait AppError: Serialize + DeserializeOwned + Display {
    /// The kind it travels under; unique across the crates that register methods.
    const KIND: &'static str;
}

impl<E: AppError> From<E> for RpcError {
    fn from(err: E) -> RpcError {
        RpcError::app(E::KIND, &err)
    }
}

/// The transport's own errors on the wire (kind [`TRANSPORT_KIND`]).
#[derive(Serialize, Deserialize)]
pub(crate) enum WireError {
    Unreachable {
        target: String,
        reason: String,
    },
    Timeout {
        target: String,
        after: Duration,
    },
    UnknownMethod(String),
    ClockOffset {
        remote: Timestamp,
        ahead_ms: i64,
        max_offset_ms: i64,
    },
    Decode(String),
    ClusterMismatch {
        expected: String,
        got: String,
    },
    Protocol {
        target: String,
        message: String,
    },
    Dropped,
}

impl From<&RpcError> for WireError {
    fn from(err: &RpcError) -> WireError {
        match err.clone() {
            RpcError::Unreachable { target, reason } => WireError::Unreachable { target, reason },
            RpcError::Timeout { target, after } => WireError::Timeout { target, after },
            RpcError::UnknownMethod(m) => WireError::UnknownMethod(m),
            RpcError::ClockOffset(e) => WireError::ClockOffset {
                remote: e.remote,
                ahead_ms: e.ahead_ms,
                max_offset_ms: e.max_offset_ms,
            },
            RpcError::Decode(m) => WireError::Decode(m),
            RpcError::ClusterMismatch { expected, got } => {
                WireError::ClusterMismatch { expected, got }
            }
            RpcError::Protocol { target, message } => WireError::Protocol { target, message },
            RpcError::Dropped => WireError::Dropped,
            // Encoded under its own kind by `to_pb`; kept total for safety.
            RpcError::Application { kind, message, .. } => {
                WireError::Decode(format!("{kind}: {message}"))
            }
        }
    }
}

impl From<WireError> for RpcError {
    fn from(wire: WireError) -> RpcError {
        match wire {
            WireError::Unreachable { target, reason } => RpcError::Unreachable { target, reason },
            WireError::Timeout { target, after } => RpcError::Timeout { target, after },
            WireError::UnknownMethod(m) => RpcError::UnknownMethod(m),
            WireError::ClockOffset {
                remote,
                ahead_ms,
                max_offset_ms,
            } => RpcError::ClockOffset(ClockOffsetError {
                remote,
                ahead_ms,
                max_offset_ms,
            }),
            WireError::Decode(m) => RpcError::Decode(m),
            WireError::ClusterMismatch { expected, got } => {
                RpcError::ClusterMismatch { expected, got }
            }
            WireError::Protocol { target, message } => RpcError::Protocol { target, message },
            WireError::Dropped => RpcError::Dropped,
        }
    }
}

impl From<ClockOffsetError> for RpcError {
    fn from(err: ClockOffsetError) -> RpcError {
        RpcError::ClockOffset(err)
    }
}

/// The error for a gRPC status received instead of an answer. Statuses that mean the peer
/// speaks another protocol become `Protocol`; an expired deadline becomes `Timeout`; all
/// others (refused, reset, broken connection) become `Unreachable`.
///
/// A status with details carries a `pb::Error` from our own server (a streaming call that
/// failed before its first item), which wins.
pub(crate) fn from_status(
    target: &str,
    status: &tonic::Status,
    timeout: Option<Duration>,
) -> RpcError {
    use prost::Message;
    use tonic::Code;
    if !status.details().is_empty()
        && let Ok(err) = pb::Error::decode(status.details())
    {
        return RpcError::from_pb(err);
    }
    let target = target.to_string();
    match status.code() {
        Code::DeadlineExceeded => RpcError::Timeout {
            target,
            after: timeout.unwrap_or_default(),
        },
        Code::Unimplemented
        | Code::ResourceExhausted
        | Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::OutOfRange
        | Code::DataLoss
        | Code::PermissionDenied
        | Code::Unauthenticated => RpcError::Protocol {
            target,
            message: format!("{:?}: {}", status.code(), status.message()),
        },
        _ => RpcError::Unreachable {
            target,
            reason: status.message().to_string(),
        },
    }
}

/// A status carrying `err` in its details, for errors before a stream's first item.
pub(crate) fn to_status(err: &RpcError) -> tonic::Status {
    use prost::Message;
    let details = Bytes::from(err.to_pb().encode_to_vec());
    tonic::Status::with_details(tonic::Code::Aborted, err.to_string(), details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize, thiserror::Error)]
    #[error("range {range} moved to n{to}")]
    struct Moved {
        range: u64,
        to: u64,
    }

    impl AppError for Moved {
        const KIND: &'static str = "test.moved";
    }

    fn every_variant() -> Vec<RpcError> {
        vec![
            RpcError::Unreachable {
                target: "n2".into(),
                reason: "refused".into(),
            },
            RpcError::Timeout {
                target: "n2".into(),
                after: Duration::from_millis(250),
            },
            RpcError::UnknownMethod("kv.nope".into()),
            RpcError::ClockOffset(ClockOffsetError {
                remote: Timestamp::new(5, 1),
                ahead_ms: 2000,
                max_offset_ms: 500,
            }),
            RpcError::Decode("bad".into()),
            RpcError::ClusterMismatch {
                expected: "a".into(),
                got: "b".into(),
            },
            RpcError::Protocol {
                target: "h:1".into(),
                message: "Unimplemented".into(),
            },
            Moved { range: 7, to: 3 }.into(),
            RpcError::Dropped,
        ]
    }

    #[test]
    fn every_variant_survives_the_wire() {
        for err in every_variant() {
            assert_eq!(RpcError::from_pb(err.to_pb()), err);
            assert_eq!(from_status("n2", &to_status(&err), None), err);
        }
    }

    #[test]
    fn only_transport_failures_are_retryable() {
        let retryable: Vec<bool> = every_variant().iter().map(RpcError::is_retryable).collect();
        assert_eq!(
            retryable,
            [true, true, false, false, false, false, false, false, true]
        );
    }

    #[test]
    fn app_errors_decode_by_type_and_kind() {
        let err: RpcError = Moved { range: 7, to: 3 }.into();
        assert_eq!(err.to_string(), "test.moved: range 7 moved to n3");
        assert_eq!(err.app_kind(), Some("test.moved"));
        assert_eq!(err.decode_app::<Moved>(), Some(Moved { range: 7, to: 3 }));
        assert_eq!(err.app_error::<Moved>(), Some(Moved { range: 7, to: 3 }));
        let other_kind = RpcError::app("test.other", &Moved { range: 7, to: 3 });
        assert_eq!(other_kind.app_error::<Moved>(), None);
        assert_eq!(RpcError::Dropped.decode_app::<Moved>(), None);
    }

    #[test]
    fn garbage_never_panics() {
        let err = pb::Error {
            kind: TRANSPORT_KIND.into(),
            message: "m".into(),
            payload: Bytes::from_static(&[0xff, 0xff, 0xff]),
        };
        assert!(matches!(RpcError::from_pb(err), RpcError::Decode(_)));
        let status =
            tonic::Status::with_details(tonic::Code::Aborted, "x", Bytes::from_static(&[0xff]));
        assert!(from_status("n1", &status, None).is_retryable());
    }
}
