//! `azure://container/path` (also `azure-blob://`, `azure-storage://`): Azure Blob Storage.
//!
//! `AZURE_ACCOUNT_NAME` is required. Credentials: `AZURE_ACCOUNT_KEY` (shared key), or the
//! service principal `AZURE_CLIENT_ID` + `AZURE_CLIENT_SECRET` + `AZURE_TENANT_ID`, or with
//! `AUTH=implicit` the node's environment (managed identity, workload identity, …).
//! `AZURE_ENVIRONMENT` picks a sovereign cloud; `AZURE_ENDPOINT` (a Sextant addition) points
//! at any blob endpoint, e.g. an emulator `http://127.0.0.1:10000/devstoreaccount1`.

use crate::error::{CloudError, scrub};
use crate::object::{ObjectStorage, Upload};
use crate::options::StorageOptions;
use crate::uri::*;
use object_store::Attributes;
use object_store::azure::MicrosoftAzureBuilder;

/// Opens an `azure://` URI.
pub(crate) fn open(
    uri: ExternalStorageUri,
    options: &StorageOptions,
) -> Result<ObjectStorage, CloudError> {
    let invalid = |reason| uri.invalid(reason);
    let param = |p: &str| uri.param(p).filter(|v| !v.is_empty());
    let account = param(AZURE_ACCOUNT_NAME_PARAM).ok_or_else(|| {
        invalid(format!(
            "azure uri missing {AZURE_ACCOUNT_NAME_PARAM:?} parameter"
        ))
    })?;
    let principal = (
        param(AZURE_CLIENT_ID_PARAM),
        param(AZURE_CLIENT_SECRET_PARAM),
        param(AZURE_TENANT_ID_PARAM),
    );
    let mut builder = match uri.param(AUTH_PARAM).unwrap_or("specified") {
        "" | "specified" => match (param(AZURE_ACCOUNT_KEY_PARAM), principal) {
            (Some(key), _) => MicrosoftAzureBuilder::new().with_access_key(key),
            (None, (Some(id), Some(secret), Some(tenant))) => {
                MicrosoftAzureBuilder::new().with_client_secret_authorization(id, secret, tenant)
            }
            _ => {
                return Err(invalid(format!(
                    "azure uri requires either {AZURE_ACCOUNT_KEY_PARAM:?} or \
                     {AZURE_CLIENT_ID_PARAM:?}, {AZURE_CLIENT_SECRET_PARAM:?}, and \
                     {AZURE_TENANT_ID_PARAM:?}"
                )));
            }
        },
        "implicit" => MicrosoftAzureBuilder::from_env(),
        other => return Err(uri.unsupported_auth(other)),
    };
    let endpoint = match (param(AZURE_ENDPOINT_PARAM), param(AZURE_ENVIRONMENT_PARAM)) {
        (Some(e), _) => Some(e.trim_end_matches('/').to_string()),
        (None, None | Some("AzurePublicCloud")) => None,
        (None, Some("AzureUSGovernmentCloud")) => {
            Some(format!("https://{account}.blob.core.usgovcloudapi.net"))
        }
        (None, Some("AzureChinaCloud")) => {
            Some(format!("https://{account}.blob.core.chinacloudapi.cn"))
        }
        (None, Some(other)) => {
            return Err(invalid(format!(
                "unknown {AZURE_ENVIRONMENT_PARAM} {other:?}: use AzurePublicCloud, \
                 AzureUSGovernmentCloud or AzureChinaCloud"
            )));
        }
    };
    let allow_http = endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    builder = builder
        .with_account(account)
        .with_container_name(uri.host())
        .with_client_options(options.client_options(allow_http))
        .with_allow_http(allow_http)
        .with_retry(options.retry_config());
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(e);
    }
    let store = builder.build().map_err(|e| {
        let text = scrub(&e.to_string(), &uri.secret_values());
        if text.to_ascii_lowercase().contains("access key") {
            invalid(format!(
                "{AZURE_ACCOUNT_KEY_PARAM} is not a valid base64 account key"
            ))
        } else {
            invalid(text)
        }
    })?;
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

    fn err(s: &str) -> String {
        let r = ExternalStorageUri::parse(s).and_then(|u| open(u, &StorageOptions::default()));
        match r {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_azure_uris() {
        assert_eq!(
            err("azure://c/p"),
            "azure uri missing \"AZURE_ACCOUNT_NAME\" parameter"
        );
        assert!(err("azure://c/p?AZURE_ACCOUNT_NAME=a").contains("requires either"));
        assert_eq!(
            err("azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=a2V5"),
            "ok"
        );
        assert_eq!(
            err(
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_CLIENT_ID=i&AZURE_CLIENT_SECRET=s&AZURE_TENANT_ID=t"
            ),
            "ok"
        );
        assert_eq!(err("azure://c/p?AZURE_ACCOUNT_NAME=a&AUTH=implicit"), "ok");
        assert_eq!(
            err(
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=a2V5&AZURE_ENVIRONMENT=AzureChinaCloud"
            ),
            "ok"
        );
        assert!(
            err("azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=a2V5&AZURE_ENVIRONMENT=Mars")
                .contains("unknown AZURE_ENVIRONMENT")
        );
        let bad = err("azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=not*base64*secret");
        assert!(!bad.contains("not*base64*secret"), "{bad}");
        assert!(bad.contains("AZURE_ACCOUNT_KEY"), "{bad}");
        assert_eq!(
            err(
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_ACCOUNT_KEY=a2V5&AZURE_ENDPOINT=http://127.0.0.1:10000/a"
            ),
            "ok"
        );
    }
}
