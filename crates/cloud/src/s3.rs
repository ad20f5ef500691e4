//! `s3://bucket/path`: Amazon S3 and S3-compatible servers (SeaweedFS, MinIO, moto, …).
//!
//! Parameters are CockroachDB's: `AUTH=specified` (the default) needs `AWS_ACCESS_KEY_ID` and
//! `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN` for temporary credentials); `AUTH=implicit`
//! takes them from the node's environment (environment variables, web identity, instance
//! metadata). `AWS_ENDPOINT` points at an S3-compatible server and then defaults to path-style
//! requests (`endpoint/bucket/key`), as CockroachDB does with custom endpoints;
//! `AWS_USE_PATH_STYLE` overrides that. `AWS_REGION` defaults to `us-east-1`.

use crate::error::CloudError;
use crate::object::{ObjectStorage, Upload};
use crate::options::StorageOptions;
use crate::uri::*;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{Attribute, Attributes};

/// The region used when the URI names none (as the AWS SDK's global endpoint does).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Opens an `s3://` URI.
pub(crate) fn open(
    uri: ExternalStorageUri,
    options: &StorageOptions,
) -> Result<ObjectStorage, CloudError> {
    let invalid = |reason| uri.invalid(reason);
    if uri.param(ASSUME_ROLE_PARAM).is_some() {
        return Err(CloudError::Unsupported {
            what: format!("{ASSUME_ROLE_PARAM} is not supported for s3 storage"),
        });
    }
    let mut builder = match uri.param(AUTH_PARAM).unwrap_or("specified") {
        "" | "specified" => {
            let key = required(&uri, AWS_ACCESS_KEY_PARAM).map_err(&invalid)?;
            let secret = required(&uri, AWS_SECRET_PARAM).map_err(&invalid)?;
            let mut b = AmazonS3Builder::new()
                .with_access_key_id(key)
                .with_secret_access_key(secret);
            if let Some(token) = uri.param(AWS_SESSION_TOKEN_PARAM).filter(|t| !t.is_empty()) {
                b = b.with_token(token);
            }
            b
        }
        "implicit" => AmazonS3Builder::from_env(),
        other => return Err(uri.unsupported_auth(other)),
    };
    let endpoint = uri.param(AWS_ENDPOINT_PARAM).filter(|e| !e.is_empty());
    let path_style = match uri.param(AWS_USE_PATH_STYLE_PARAM) {
        None | Some("") => endpoint.is_some(),
        Some(v) => parse_bool(v).ok_or_else(|| {
            invalid(format!(
                "{AWS_USE_PATH_STYLE_PARAM} must be true or false, not {v:?}"
            ))
        })?,
    };
    builder = builder
        .with_bucket_name(uri.host())
        .with_region(
            uri.param(AWS_REGION_PARAM)
                .filter(|r| !r.is_empty())
                .unwrap_or(DEFAULT_REGION),
        )
        .with_virtual_hosted_style_request(!path_style)
        .with_client_options(
            options.client_options(endpoint.is_some_and(|e| e.starts_with("http://"))),
        )
        .with_retry(options.retry_config());
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/'));
    }
    builder = encryption(&uri, builder).map_err(&invalid)?;
    let mut attributes = Attributes::new();
    if let Some(class) = uri.param(S3_STORAGE_CLASS_PARAM).filter(|c| !c.is_empty()) {
        attributes.insert(Attribute::StorageClass, class.to_string().into());
    }
    let store = builder.build().map_err(|e| uri.invalid_client(&e))?;
    Ok(ObjectStorage::in_host_bucket(
        uri,
        store,
        Upload::Multipart,
        attributes,
        options,
    ))
}

fn required<'a>(uri: &'a ExternalStorageUri, param: &str) -> Result<&'a str, String> {
    uri.param(param)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| format!("{AUTH_PARAM} is set to 'specified', but {param} is not set"))
}

fn encryption(uri: &ExternalStorageUri, b: AmazonS3Builder) -> Result<AmazonS3Builder, String> {
    let kms_id = uri.param(AWS_SERVER_KMS_ID_PARAM).filter(|v| !v.is_empty());
    let sse: AmazonS3ConfigKey = "aws_server_side_encryption"
        .parse()
        .map_err(|e: object_store::Error| e.to_string())?;
    match uri.param(AWS_SERVER_ENC_MODE_PARAM).unwrap_or("") {
        "" => Ok(b),
        "AES256" => Ok(b.with_config(sse, "AES256")),
        "aws:kms" => match kms_id {
            Some(id) => Ok(b.with_sse_kms_encryption(id)),
            None => Err(format!(
                "{AWS_SERVER_KMS_ID_PARAM} must be set when using aws:kms server side \
                 encryption mode"
            )),
        },
        other => Err(format!(
            "unsupported server encryption mode {other}. Supported values are `aws:kms` and \
             `AES256`."
        )),
    }
}

pub(crate) fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "t" | "1" | "yes" => Some(true),
        "false" | "f" | "0" | "no" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open_err(s: &str) -> String {
        let uri = match ExternalStorageUri::parse(s) {
            Ok(u) => u,
            Err(e) => return e.to_string(),
        };
        match open(uri, &StorageOptions::default()) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn credentials_are_required_when_specified() {
        assert_eq!(
            open_err("s3://b/p?AWS_SECRET_ACCESS_KEY=s"),
            "AUTH is set to 'specified', but AWS_ACCESS_KEY_ID is not set"
        );
        assert_eq!(
            open_err("s3://b/p?AUTH=specified&AWS_ACCESS_KEY_ID=k"),
            "AUTH is set to 'specified', but AWS_SECRET_ACCESS_KEY is not set"
        );
        assert_eq!(
            open_err("s3://b/p?AUTH=magic"),
            "unsupported value magic for AUTH"
        );
        assert_eq!(
            open_err("s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s"),
            "ok"
        );
        // Implicit auth builds without contacting anything.
        assert_eq!(
            open_err("s3://b/p?AUTH=implicit&AWS_REGION=eu-west-1"),
            "ok"
        );
    }

    #[test]
    fn options() {
        let base = "s3://b/p?AWS_ACCESS_KEY_ID=k&AWS_SECRET_ACCESS_KEY=s";
        assert_eq!(
            open_err(&format!("{base}&AWS_ENDPOINT=http://127.0.0.1:9000")),
            "ok"
        );
        assert!(open_err(&format!("{base}&AWS_USE_PATH_STYLE=maybe")).contains("true or false"));
        assert!(open_err(&format!("{base}&AWS_SERVER_ENC_MODE=aws:kms")).contains("KMS_ID"));
        assert_eq!(
            open_err(&format!("{base}&AWS_SERVER_ENC_MODE=AES256")),
            "ok"
        );
        assert!(open_err(&format!("{base}&AWS_SERVER_ENC_MODE=rot13")).contains("unsupported"));
        assert_eq!(
            open_err(&format!("{base}&S3_STORAGE_CLASS=STANDARD_IA")),
            "ok"
        );
        assert!(open_err(&format!("{base}&ASSUME_ROLE=arn")).starts_with("unimplemented"));
    }
}
