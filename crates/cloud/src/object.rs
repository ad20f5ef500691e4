//! [`ObjectStorage`]: the [`ExternalStorage`] of every scheme that `object_store` serves
//! (s3, gs, azure, http(s), and the local node's nodelocal directory).
//!
//! The scheme modules turn a URI into an `Arc<dyn ObjectStore>` rooted at the bucket (or the
//! node's external IO directory); this type adds the URI's base path, the string-prefix
//! listing semantics of [`ExternalStorage::list`], idempotent deletes, large-file writers, and
//! the mapping of every failure to a redacted [`CloudError`].

use crate::error::{CloudError, ErrorContext, classify};
use crate::options::StorageOptions;
use crate::storage::{
    ExternalStorage, ObjectWriter, StorageFuture, check_delimiter, check_range, join, list_dir,
    relativize,
};
use crate::uri::ExternalStorageUri;
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use futures::future::BoxFuture;
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{Attributes, ObjectStore, ObjectStoreExt, PutOptions, PutPayload};
use std::ops::Range;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;

/// How large files are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Upload {
    /// The store supports multipart uploads: stream parts.
    Multipart,
    /// It does not (plain HTTP): buffer the file and PUT it whole at the end.
    Whole,
}

/// An [`ExternalStorage`] over an `object_store` store.
pub(crate) struct ObjectStorage {
    uri: ExternalStorageUri,
    store: Arc<dyn ObjectStore>,
    /// The base path inside the store (the URI's path), without leading or trailing `/`.
    base: String,
    /// Bucket or container, for error messages.
    bucket: String,
    upload: Upload,
    /// Attributes of written objects (e.g. the S3 storage class).
    attributes: Attributes,
    options: StorageOptions,
    secrets: Arc<Vec<String>>,
}

impl ObjectStorage {
    pub(crate) fn new(
        uri: ExternalStorageUri,
        store: Arc<dyn ObjectStore>,
        bucket: String,
        upload: Upload,
        attributes: Attributes,
        options: StorageOptions,
    ) -> ObjectStorage {
        let base = uri.path().to_string();
        let secrets = Arc::new(uri.secret_values());
        ObjectStorage {
            uri,
            store,
            base,
            bucket,
            upload,
            attributes,
            options,
            secrets,
        }
    }

    /// A storage in the bucket (container, host) that `uri`'s host names.
    pub(crate) fn in_host_bucket(
        uri: ExternalStorageUri,
        store: impl ObjectStore,
        upload: Upload,
        attributes: Attributes,
        options: &StorageOptions,
    ) -> ObjectStorage {
        let bucket = uri.host().to_string();
        ObjectStorage::new(
            uri,
            Arc::new(store),
            bucket,
            upload,
            attributes,
            options.clone(),
        )
    }

    fn location(&self, path: &str) -> Result<Path, CloudError> {
        if path.trim_matches('/').is_empty() {
            return Err(CloudError::InvalidPath {
                path: path.to_string(),
                reason: "a file path may not be empty".into(),
            });
        }
        parse_path(&join(&self.base, path), path)
    }

    /// The redacted location of `path`, without the query: `s3://bucket/base/path`.
    fn display(&self, path: &str) -> String {
        let mut out = format!("{}://{}", self.uri.scheme(), self.uri.host());
        let full = join(&self.base, path);
        if !full.is_empty() {
            out.push('/');
            out.push_str(&full);
        }
        out
    }

    fn err(&self, e: object_store::Error, path: &str) -> CloudError {
        classify(
            e,
            &ErrorContext {
                uri: self.display(path),
                path,
                bucket: &self.bucket,
                secrets: &self.secrets,
            },
        )
    }

    async fn list_impl(&self, prefix: &str, delimiter: Option<&str>) -> ListResult {
        let delimit = check_delimiter(delimiter)?;
        // A string prefix under the base directory: "base/" + prefix, never "base" alone
        // (that would also match a sibling "base2/").
        let prefix_t = prefix.trim_start_matches('/');
        let full = if self.base.is_empty() {
            prefix_t.to_string()
        } else {
            format!("{}/{prefix_t}", self.base)
        };
        let dir = list_dir(&full);
        let dir_path = if dir.is_empty() {
            None
        } else {
            Some(parse_path(dir, prefix)?)
        };
        let listed = if delimit {
            self.store
                .list_with_delimiter(dir_path.as_ref())
                .await
                .map(|r| {
                    let dirs = r.common_prefixes.into_iter().map(|p| format!("{p}/"));
                    let files = r.objects.into_iter().map(|o| o.location.to_string());
                    dirs.chain(files).collect::<Vec<_>>()
                })
        } else {
            self.store
                .list(dir_path.as_ref())
                .map_ok(|o| o.location.to_string())
                .try_collect::<Vec<_>>()
                .await
        };
        let entries = match listed {
            Ok(entries) => entries,
            // A directory that does not exist holds nothing.
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(self.err(e, prefix)),
        };
        Ok(relativize(entries, &full, delimit))
    }
}

type ListResult = Result<Vec<String>, CloudError>;

fn parse_path(full: &str, path: &str) -> Result<Path, CloudError> {
    Path::parse(full).map_err(|e| CloudError::InvalidPath {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

impl ExternalStorage for ObjectStorage {
    fn uri(&self) -> &ExternalStorageUri {
        &self.uri
    }

    fn put<'a>(&'a self, path: &'a str, bytes: Bytes) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            let loc = self.location(path)?;
            let opts = PutOptions {
                attributes: self.attributes.clone(),
                ..Default::default()
            };
            self.store
                .put_opts(&loc, PutPayload::from(bytes), opts)
                .await
                .map_err(|e| self.err(e, path))?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, path: &'a str) -> StorageFuture<'a, Bytes> {
        Box::pin(async move {
            let loc = self.location(path)?;
            let result = self.store.get(&loc).await.map_err(|e| self.err(e, path))?;
            result.bytes().await.map_err(|e| self.err(e, path))
        })
    }

    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> StorageFuture<'a, Bytes> {
        Box::pin(async move {
            check_range(path, &range)?;
            let loc = self.location(path)?;
            // Clip to the object's size ourselves: stores disagree about ranges past the end.
            let size = self
                .store
                .head(&loc)
                .await
                .map_err(|e| self.err(e, path))?
                .size;
            let end = range.end.min(size);
            if range.start >= end {
                return Ok(Bytes::new());
            }
            self.store
                .get_range(&loc, range.start..end)
                .await
                .map_err(|e| self.err(e, path))
        })
    }

    fn list<'a>(
        &'a self,
        prefix: &'a str,
        delimiter: Option<&'a str>,
    ) -> StorageFuture<'a, Vec<String>> {
        Box::pin(self.list_impl(prefix, delimiter))
    }

    fn delete<'a>(&'a self, path: &'a str) -> StorageFuture<'a, ()> {
        Box::pin(async move {
            let loc = self.location(path)?;
            match self.store.delete(&loc).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.err(e, path)),
            }
        })
    }

    fn size<'a>(&'a self, path: &'a str) -> StorageFuture<'a, u64> {
        Box::pin(async move {
            let loc = self.location(path)?;
            let meta = self.store.head(&loc).await.map_err(|e| self.err(e, path))?;
            Ok(meta.size)
        })
    }

    fn writer(&self, path: &str) -> Result<Box<dyn ObjectWriter>, CloudError> {
        let loc = self.location(path)?;
        let ctx = WriterContext {
            uri: self.display(path),
            path: path.to_string(),
            bucket: self.bucket.clone(),
            secrets: Arc::clone(&self.secrets),
        };
        Ok(match self.upload {
            Upload::Multipart => Box::new(MultipartWriter {
                inner: BufWriter::with_capacity(
                    Arc::clone(&self.store),
                    loc,
                    self.options.part_size,
                )
                .with_max_concurrency(self.options.upload_concurrency)
                .with_attributes(self.attributes.clone()),
                written: 0,
                ctx,
            }),
            Upload::Whole => Box::new(WholeWriter {
                store: Arc::clone(&self.store),
                loc,
                buf: BytesMut::new(),
                attributes: self.attributes.clone(),
                ctx,
            }),
        })
    }
}

/// What a writer needs to report errors after its storage is gone.
struct WriterContext {
    uri: String,
    path: String,
    bucket: String,
    secrets: Arc<Vec<String>>,
}

impl WriterContext {
    fn err(&self, e: object_store::Error) -> CloudError {
        classify(
            e,
            &ErrorContext {
                uri: self.uri.clone(),
                path: &self.path,
                bucket: &self.bucket,
                secrets: &self.secrets,
            },
        )
    }

    fn io_err(&self, e: std::io::Error) -> CloudError {
        // BufWriter reports object_store errors wrapped in io::Error.
        match e.into_inner() {
            Some(inner) => match inner.downcast::<object_store::Error>() {
                Ok(os) => self.err(*os),
                Err(other) => self.err(object_store::Error::Generic {
                    store: "writer",
                    source: other,
                }),
            },
            None => CloudError::Io {
                uri: self.uri.clone(),
                detail: "write failed".into(),
                retryable: false,
            },
        }
    }
}

/// Streams parts: a single PUT if the file ends up smaller than one part.
struct MultipartWriter {
    inner: BufWriter,
    written: u64,
    ctx: WriterContext,
}

impl ObjectWriter for MultipartWriter {
    fn write(&mut self, bytes: Bytes) -> StorageFuture<'_, ()> {
        Box::pin(async move {
            let n = bytes.len() as u64;
            self.inner.put(bytes).await.map_err(|e| self.ctx.err(e))?;
            self.written += n;
            Ok(())
        })
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, Result<u64, CloudError>> {
        Box::pin(async move {
            self.inner
                .shutdown()
                .await
                .map_err(|e| self.ctx.io_err(e))?;
            Ok(self.written)
        })
    }

    fn abort(mut self: Box<Self>) -> BoxFuture<'static, Result<(), CloudError>> {
        Box::pin(async move { self.inner.abort().await.map_err(|e| self.ctx.err(e)) })
    }
}

/// Buffers the whole file and PUTs it at the end (stores without multipart uploads).
struct WholeWriter {
    store: Arc<dyn ObjectStore>,
    loc: Path,
    buf: BytesMut,
    attributes: Attributes,
    ctx: WriterContext,
}

impl ObjectWriter for WholeWriter {
    fn write(&mut self, bytes: Bytes) -> StorageFuture<'_, ()> {
        self.buf.extend_from_slice(&bytes);
        Box::pin(async { Ok(()) })
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<u64, CloudError>> {
        let WholeWriter {
            store,
            loc,
            buf,
            attributes,
            ctx,
        } = *self;
        Box::pin(async move {
            let n = buf.len() as u64;
            let opts = PutOptions {
                attributes,
                ..Default::default()
            };
            store
                .put_opts(&loc, PutPayload::from(buf.freeze()), opts)
                .await
                .map_err(|e| ctx.err(e))?;
            Ok(n)
        })
    }

    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), CloudError>> {
        Box::pin(async { Ok(()) })
    }
}
