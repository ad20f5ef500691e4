//! The seam: [`ExternalStorage`], one small object-safe trait that every scheme implements,
//! and [`ObjectWriter`] for files too large to hold in memory.
//!
//! Paths are relative to the URI's base path and use `/` between segments; a path may not be
//! empty, contain empty segments, `.` or `..`. Listing takes a *string* prefix (as S3 and
//! CockroachDB's `ExternalStorage.List` do: `data/1` matches `data/10.sst`), and names come
//! back relative to the base path joined with the prefix. With the delimiter `/`, names that
//! contain it after the prefix are rolled up into one common prefix ending in `/`.

use crate::error::CloudError;
use crate::uri::ExternalStorageUri;
use bytes::Bytes;
use futures::future::BoxFuture;
use std::ops::Range;

/// A future returned by a storage operation.
pub type StorageFuture<'a, T> = BoxFuture<'a, Result<T, CloudError>>;

/// A place outside the cluster where files are read and written, opened from a URI by
/// [`open`](crate::open). All paths are relative to the URI's base path.
pub trait ExternalStorage: Send + Sync {
    /// The URI this storage was opened from (for `external://`, the connection's URI). Its
    /// `Display` is redacted.
    fn uri(&self) -> &ExternalStorageUri;

    /// Writes `bytes` as the whole content of `path`, replacing any existing file. Readers see
    /// the old or the new content, never a part.
    fn put<'a>(&'a self, path: &'a str, bytes: Bytes) -> StorageFuture<'a, ()>;

    /// Reads the whole of `path`; [`CloudError::NotFound`] if it does not exist.
    fn get<'a>(&'a self, path: &'a str) -> StorageFuture<'a, Bytes>;

    /// Reads bytes `range` of `path`. An end past the end of the file is clipped to it; an
    /// empty or inverted range is an error.
    fn get_range<'a>(&'a self, path: &'a str, range: Range<u64>) -> StorageFuture<'a, Bytes>;

    /// The names under the string `prefix`, relative to it, sorted. With `Some("/")`, names
    /// containing `/` after the prefix are rolled up into one entry ending in `/`. Other
    /// delimiters are not supported. A prefix that matches nothing gives an empty list.
    fn list<'a>(
        &'a self,
        prefix: &'a str,
        delimiter: Option<&'a str>,
    ) -> StorageFuture<'a, Vec<String>>;

    /// Deletes `path`. Deleting a file that does not exist succeeds.
    fn delete<'a>(&'a self, path: &'a str) -> StorageFuture<'a, ()>;

    /// The size of `path` in bytes; [`CloudError::NotFound`] if it does not exist.
    fn size<'a>(&'a self, path: &'a str) -> StorageFuture<'a, u64>;

    /// A writer for a large file: it uploads in parts (multipart on S3, GCS and Azure) so
    /// memory stays bounded by the part size times the upload concurrency
    /// ([`StorageOptions`](crate::StorageOptions)). Nothing is visible at `path` until
    /// [`ObjectWriter::finish`] succeeds.
    fn writer(&self, path: &str) -> Result<Box<dyn ObjectWriter>, CloudError>;
}

/// A file being written in parts. Drop it without calling `finish` and nothing is written
/// (parts already uploaded are cleaned up by [`abort`](ObjectWriter::abort), or later by the
/// bucket's lifecycle rules).
pub trait ObjectWriter: Send {
    /// Appends `bytes`; may upload a part when enough has been buffered.
    fn write(&mut self, bytes: Bytes) -> StorageFuture<'_, ()>;

    /// Uploads what is left and makes the file visible; returns its size in bytes.
    fn finish(self: Box<Self>) -> BoxFuture<'static, Result<u64, CloudError>>;

    /// Abandons the file and discards the parts already uploaded.
    fn abort(self: Box<Self>) -> BoxFuture<'static, Result<(), CloudError>>;
}

/// Joins a base path and a relative path with one `/`.
pub(crate) fn join(base: &str, path: &str) -> String {
    let path = path.trim_start_matches('/');
    match (base.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => base.to_string(),
        (false, false) => format!("{base}/{path}"),
    }
}

/// The directory to list for the string prefix `full` (everything up to its last `/`).
pub(crate) fn list_dir(full: &str) -> &str {
    full.rsplit_once('/').map(|(dir, _)| dir).unwrap_or("")
}

/// Turns the entries found under [`list_dir`]`(full)` into the names [`ExternalStorage::list`]
/// returns: those starting with `full`, relative to it, rolled up at `/` when `delimit`,
/// sorted and deduplicated. Directory entries end with `/`.
pub(crate) fn relativize(entries: Vec<String>, full: &str, delimit: bool) -> Vec<String> {
    let mut names: Vec<String> = entries
        .into_iter()
        .filter_map(|e| e.strip_prefix(full).map(str::to_string))
        .filter(|rest| !rest.is_empty() && rest != "/")
        .map(|rest| match (delimit, rest.split_once('/')) {
            (true, Some((dir, _))) => format!("{dir}/"),
            _ => rest,
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Checks a delimiter: only `/` (or none) is supported.
pub(crate) fn check_delimiter(delimiter: Option<&str>) -> Result<bool, CloudError> {
    match delimiter {
        None | Some("") => Ok(false),
        Some("/") => Ok(true),
        Some(d) => Err(CloudError::Unsupported {
            what: format!("listing with delimiter {d:?}: only \"/\" is supported"),
        }),
    }
}

/// Checks a byte range for [`ExternalStorage::get_range`].
pub(crate) fn check_range(path: &str, range: &Range<u64>) -> Result<(), CloudError> {
    if range.start >= range.end {
        return Err(CloudError::InvalidPath {
            path: path.to_string(),
            reason: format!(
                "empty or inverted byte range {}..{}",
                range.start, range.end
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn joins() {
        assert_eq!(join("", "a/b"), "a/b");
        assert_eq!(join("base", "/a"), "base/a");
        assert_eq!(join("base", ""), "base");
    }

    #[test]
    fn string_prefix_listing() {
        let entries = v(&[
            "b/data/1.sst",
            "b/data/10.sst",
            "b/data/2.sst",
            "b/data/1x/y",
        ]);
        assert_eq!(list_dir("b/data/1"), "b/data");
        assert_eq!(
            relativize(entries.clone(), "b/data/1", false),
            v(&[".sst", "0.sst", "x/y"])
        );
        assert_eq!(
            relativize(entries.clone(), "b/data/1", true),
            v(&[".sst", "0.sst", "x/"])
        );
        assert_eq!(
            relativize(entries, "b/", true),
            v(&["data/"]),
            "everything under data/ rolls up"
        );
    }

    #[test]
    fn delimiters_and_ranges() {
        assert_eq!(check_delimiter(None), Ok(false));
        assert_eq!(check_delimiter(Some("/")), Ok(true));
        assert!(check_delimiter(Some("|")).is_err());
        assert!(check_range("p", &(3..3)).is_err());
        assert!(check_range("p", &(0..1)).is_ok());
    }
}
