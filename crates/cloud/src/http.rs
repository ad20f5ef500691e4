//! `http://host/path` and `https://host/path`: plain HTTP storage, as CockroachDB's `http`
//! storage: PUT writes, GET (with `Range`) reads, HEAD sizes, DELETE deletes. Listing uses
//! WebDAV `PROPFIND`, so it works against WebDAV servers only. A user and password in the URI
//! are sent as basic authentication. There are no multipart uploads: a large file is buffered
//! by its writer and PUT whole.

use crate::error::CloudError;
use crate::object::{ObjectStorage, Upload};
use crate::options::StorageOptions;
use crate::uri::{ExternalStorageUri, Scheme, base64_encode};
use object_store::http::HttpBuilder;
use object_store::{Attributes, HeaderMap, HeaderValue};

/// Opens an `http://` or `https://` URI.
pub(crate) fn open(
    uri: ExternalStorageUri,
    options: &StorageOptions,
) -> Result<ObjectStorage, CloudError> {
    // The store is rooted at the host; the URI's path is the storage's base path.
    let root = format!("{}://{}", uri.scheme(), uri.host());
    let invalid = |reason| uri.invalid(reason);
    let mut client = options.client_options(uri.scheme() == Scheme::Http);
    if let Some((user, password)) = uri.userinfo() {
        let token = base64_encode(format!("{user}:{}", password.unwrap_or("")).as_bytes());
        let mut value = HeaderValue::from_str(&format!("Basic {token}"))
            .map_err(|_| invalid("the user info cannot be sent as basic authentication".into()))?;
        value.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value);
        client = client.with_default_headers(headers);
    }
    let store = HttpBuilder::new()
        .with_url(root)
        .with_client_options(client)
        .with_retry(options.retry_config())
        .build()
        .map_err(|e| uri.invalid_client(&e))?;
    Ok(ObjectStorage::in_host_bucket(
        uri,
        store,
        Upload::Whole,
        Attributes::new(),
        options,
    ))
}
