//! External storage: the places outside the cluster where BACKUP writes, RESTORE reads and
//! cloud-storage changefeeds emit, named by URI as in CockroachDB.
//!
//! | URI | storage |
//! |---|---|
//! | `nodelocal://<node id or self>/path` | a node's external IO directory ([`nodelocal`]) |
//! | `s3://bucket/path?AWS_ACCESS_KEY_ID=…&AWS_SECRET_ACCESS_KEY=…&AWS_ENDPOINT=…` | S3 and S3-compatible servers |
//! | `gs://bucket/path?AUTH=specified&CREDENTIALS=<base64 JSON key>` | Google Cloud Storage |
//! | `azure://container/path?AZURE_ACCOUNT_NAME=…&AZURE_ACCOUNT_KEY=…` | Azure Blob Storage |
//! | `http(s)://host/path` | PUT/GET/DELETE over HTTP |
//! | `external://name/sub/path` | the URI of external connection `name`, with `sub/path` appended |
//! | `userfile://…` | not implemented |
//!
//! # Concepts
//! - [`ExternalStorageUri`] is a parsed URI. It knows each scheme's parameters (an unknown one
//!   is an error naming it, CockroachDB's `unknown S3 query parameters: FOO`) and which are
//!   secrets. Its `Display` is the redacted form CockroachDB shows in SHOW JOBS
//!   (`AWS_SECRET_ACCESS_KEY=redacted`); the secret-bearing text is only reachable through
//!   [`ExternalStorageUri::unredacted`], for the job record and the connection table.
//! - [`ExternalStorage`] is the one trait at the seam: put, get, get_range, list, delete, size
//!   and a multipart [`ObjectWriter`] for large files, with paths relative to the URI's base.
//!   Every implementation passes the same conformance suite (`testing::conformance`, behind
//!   the `testing` feature).
//! - [`CloudError`] says what the caller can do: `NotFound` (the file), `BucketNotFound`,
//!   `AccessDenied` (credentials), `Unreachable` (retryable), `InvalidUri`, `Unsupported`.
//!   Its text never holds a secret: URIs appear redacted, and server messages are scrubbed of
//!   every secret value the URI held.
//! - [`StorageOptions`] bounds every request: a 3 s connect timeout and 3 retries with
//!   backoff, so an unreachable bucket fails in about a second when refused and in about
//!   12 s when silent, never minutes.
//!
//! # The life of a BACKUP file write
//! 1. The backup processor on node n2 calls [`open`]`("external://backups/2023", &ctx)`.
//! 2. [`ExternalStorageUri::parse`] checks the URI; the scheme is `external`, so
//!    `ctx.connections` ([`ConnectionResolver`]) returns the connection's URI, say
//!    `s3://bucket/coll?AWS_ENDPOINT=…`, which is parsed and extended with `/2023`
//!    ([`ExternalStorageUri::join_path`]).
//! 3. `s3::open` maps the parameters to an `object_store` `AmazonS3Builder` (path-style
//!    requests because an endpoint is set, short timeouts, bounded retries) and wraps the
//!    store in `object::ObjectStorage` with base path `coll/2023`.
//! 4. The processor calls [`ExternalStorage::writer`]`("data/1.sst")` and writes; parts of
//!    [`StorageOptions::part_size`] are uploaded as they fill, and
//!    [`ObjectWriter::finish`] completes the multipart upload, making the file visible at
//!    once.
//! 5. A failure on the way comes back through `error::classify` as a [`CloudError`]: a
//!    wrong secret as `AccessDenied` with S3's `SignatureDoesNotMatch` message, a missing
//!    bucket as `BucketNotFound`, a refused connection as `Unreachable`.
//!
//! `nodelocal://3/…` opened on node n1 is served by [`NodelocalTransfer`], which the server
//! implements over RPC; on n3 the request lands in [`open_external_io_dir`].

mod azure;
mod context;
mod error;
mod gcs;
mod http;
pub mod nodelocal;
mod object;
mod options;
mod s3;
mod storage;
mod uri;

#[cfg(feature = "testing")]
pub mod testing;

pub use context::{
    ConnectionResolver, InMemoryConnections, NoConnections, StorageContext, validate_connection_uri,
};
pub use error::CloudError;
pub use nodelocal::{NodelocalTransfer, open_external_io_dir};
pub use options::*;
pub use storage::{ExternalStorage, ObjectWriter, StorageFuture};
pub use uri::*;

use std::sync::Arc;

/// Opens the storage `uri` names, as node `ctx.node_id`. No request is made: a wrong
/// credential or a missing bucket shows at the first operation. Errors here are about the URI
/// itself (`InvalidUri`, `Unsupported`, `ConnectionNotFound`).
pub fn open(uri: &str, ctx: &StorageContext) -> Result<Arc<dyn ExternalStorage>, CloudError> {
    open_uri(ExternalStorageUri::parse(uri)?, ctx)
}

/// [`open`] for a URI already parsed.
pub fn open_uri(
    uri: ExternalStorageUri,
    ctx: &StorageContext,
) -> Result<Arc<dyn ExternalStorage>, CloudError> {
    let opts = &ctx.options;
    Ok(match uri.scheme() {
        Scheme::External => return open_uri(resolve_external(&uri, ctx)?, ctx),
        Scheme::Userfile => {
            return Err(CloudError::Unsupported {
                what: "userfile storage is not supported; use nodelocal:// or a cloud storage \
                       URI"
                .into(),
            });
        }
        Scheme::Nodelocal => {
            return nodelocal::open(
                uri,
                ctx.node_id,
                &ctx.nodelocal_root,
                ctx.nodelocal_peers.as_ref(),
                opts,
            );
        }
        Scheme::S3 => Arc::new(s3::open(uri, opts)?),
        Scheme::Gs => Arc::new(gcs::open(uri, opts, None)?),
        Scheme::Azure => Arc::new(azure::open(uri, opts)?),
        Scheme::Http | Scheme::Https => Arc::new(http::open(uri, opts)?),
    })
}

/// The URI `external://name/sub` stands for: connection `name`'s URI with `sub` appended.
pub fn resolve_external(
    uri: &ExternalStorageUri,
    ctx: &StorageContext,
) -> Result<ExternalStorageUri, CloudError> {
    let name = uri.host();
    let target = ctx
        .connections
        .resolve(name)
        .ok_or_else(|| CloudError::ConnectionNotFound {
            name: name.to_string(),
        })?;
    validate_connection_uri(&target)?.join_path(uri.raw_path())
}
