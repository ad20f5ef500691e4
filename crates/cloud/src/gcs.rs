//! `gs://bucket/path`: Google Cloud Storage.
//!
//! `AUTH=specified` (the default) takes `CREDENTIALS`, the base64 of a service account's JSON
//! key, or `BEARER_TOKEN`, an OAuth token; `AUTH=implicit` uses the node's application default
//! credentials. There is no GCS emulator in the test environment: parsing and client
//! construction are tested, and a store that cannot reach Google fails with
//! [`CloudError::Unreachable`] within the connect timeout.

use crate::error::CloudError;
use crate::object::{ObjectStorage, Upload};
use crate::options::StorageOptions;
use crate::uri::*;
use object_store::Attributes;
use object_store::gcp::GoogleCloudStorageBuilder;

/// Opens a `gs://` URI. `base_url` overrides Google's endpoint (tests only).
pub(crate) fn open(
    uri: ExternalStorageUri,
    options: &StorageOptions,
    base_url: Option<&str>,
) -> Result<ObjectStorage, CloudError> {
    let invalid = |reason| uri.invalid(reason);
    if uri.param(ASSUME_ROLE_PARAM).is_some() {
        return Err(CloudError::Unsupported {
            what: format!("{ASSUME_ROLE_PARAM} is not supported for gs storage"),
        });
    }
    let credentials = uri.param(GCS_CREDENTIALS_PARAM).filter(|c| !c.is_empty());
    let token = uri.param(GCS_BEARER_TOKEN_PARAM).filter(|t| !t.is_empty());
    let mut builder = match uri.param(AUTH_PARAM).unwrap_or("specified") {
        "" | "specified" => match (credentials, token) {
            (Some(c), _) => {
                let json = base64_decode(c)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        invalid(format!("{GCS_CREDENTIALS_PARAM} is not valid base64 JSON"))
                    })?;
                GoogleCloudStorageBuilder::new().with_service_account_key(json)
            }
            (None, Some(t)) => GoogleCloudStorageBuilder::new().with_bearer_token(t),
            (None, None) => {
                return Err(invalid(format!(
                    "{GCS_CREDENTIALS_PARAM} or {GCS_BEARER_TOKEN_PARAM} must be set unless \
                     {AUTH_PARAM:?} is \"implicit\""
                )));
            }
        },
        "implicit" => GoogleCloudStorageBuilder::from_env(),
        other => return Err(uri.unsupported_auth(other)),
    };
    builder = builder
        .with_bucket_name(uri.host())
        .with_client_options(options.client_options(base_url.is_some()))
        .with_retry(options.retry_config());
    if let Some(url) = base_url {
        builder = builder.with_base_url(url);
    }
    let store = builder.build().map_err(|e| uri.invalid_client(&e))?;
    Ok(ObjectStorage::in_host_bucket(
        uri,
        store,
        Upload::Multipart,
        Attributes::new(),
        options,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ExternalStorage;

    fn open_uri(s: &str) -> Result<ObjectStorage, CloudError> {
        open(
            ExternalStorageUri::parse(s)?,
            &StorageOptions::default(),
            None,
        )
    }

    #[test]
    fn parses_gcs_uris() {
        let err = |s: &str| open_uri(s).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err("gs://b/p").contains("CREDENTIALS or BEARER_TOKEN must be set"));
        assert!(err("gs://b/p?CREDENTIALS=!!!").contains("not valid base64"));
        assert_eq!(
            err("gs://b/p?AUTH=nope&BEARER_TOKEN=t"),
            "unsupported value nope for AUTH"
        );
        assert!(err("gs://b/p?AUTH=specified&ASSUME_ROLE=x&BEARER_TOKEN=t").contains("unimpl"));
        assert!(open_uri("gs://b/p?BEARER_TOKEN=tok").is_ok());
        assert!(open_uri("gs://b/p?AUTH=implicit").is_ok());
        // A key that is valid base64 but not a service account key is refused, and the
        // message does not echo it.
        let bad_key = "eyJub3QiOiJhIGtleSJ9"; // {"not":"a key"}
        let e = err(&format!("gs://b/p?AUTH=specified&CREDENTIALS={bad_key}"));
        assert!(!e.is_empty() && !e.contains(bad_key), "{e}");
    }

    #[tokio::test]
    async fn unreachable_when_used() {
        // Stand in for Google with a port that is closed: no traffic leaves the machine.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr());
            match l {
                Ok(Ok(a)) => a.port(),
                _ => return,
            }
        };
        let uri = ExternalStorageUri::parse("gs://bucket/p?BEARER_TOKEN=sekrit-token");
        let opts = StorageOptions::default();
        let url = format!("http://127.0.0.1:{port}");
        let storage = match uri.and_then(|u| open(u, &opts, Some(&url))) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        let started = std::time::Instant::now();
        let err = storage.get("x").await.err().map(|e| (e.to_string(), e));
        assert!(
            matches!(err, Some((_, CloudError::Unreachable { .. }))),
            "{err:?}"
        );
        let text = err.map(|(t, _)| t).unwrap_or_default();
        assert!(!text.contains("sekrit-token"), "{text}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
