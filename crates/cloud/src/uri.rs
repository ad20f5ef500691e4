//! External storage URIs: parsing, per-scheme parameter checks, and redaction.
//!
//! A URI names a place outside the cluster (`s3://bucket/path?AWS_REGION=…`), the way
//! CockroachDB spells it: the host is the bucket, container, node id or connection name; the
//! path is the base under which the storage reads and writes; the query holds the parameters,
//! some of them secrets. Everything here is pure: no I/O, no clock.
//!
//! Redaction follows CockroachDB's `SanitizeExternalStorageURI`: the value of every secret
//! parameter becomes `redacted`, a password in the user info becomes `redacted`, and the query
//! is re-encoded with its keys sorted. What is a secret is decided in one place for every
//! storage, KMS and sink URI, [`base::redact`]. [`ExternalStorageUri`]'s `Display` and `Debug`
//! are the redacted form, so a URI cannot leak through `{}` or `{:?}`; the secret-bearing
//! string is only reachable through [`ExternalStorageUri::unredacted`].
//!
//! Strings that do not even parse are redacted by [`redact`] (`base::redact::redact_uri`, a
//! lenient scanner), so an [`CloudError::InvalidUri`](crate::CloudError::InvalidUri) never
//! echoes a secret either.

use crate::error::{CloudError, scrub};
use base::NodeId;
use std::collections::BTreeMap;
use std::fmt;

use base::redact::is_secret_key;
pub use base::redact::{REDACTION_MARKER, SECRET_PARAMS};

/// `AUTH`: how a cloud storage gets its credentials (`specified` or `implicit`).
pub const AUTH_PARAM: &str = "AUTH";
/// `COCKROACH_LOCALITY`: the locality a URI of a locality-aware backup serves; read by the
/// backup layer, accepted and ignored by every storage.
pub const LOCALITY_PARAM: &str = "COCKROACH_LOCALITY";

/// S3 access key id (not a secret; CockroachDB shows it).
pub const AWS_ACCESS_KEY_PARAM: &str = "AWS_ACCESS_KEY_ID";
/// S3 secret access key.
pub const AWS_SECRET_PARAM: &str = "AWS_SECRET_ACCESS_KEY";
/// S3 session token for temporary credentials.
pub const AWS_SESSION_TOKEN_PARAM: &str = "AWS_SESSION_TOKEN";
/// S3 region; `us-east-1` when absent.
pub const AWS_REGION_PARAM: &str = "AWS_REGION";
/// S3 endpoint for S3-compatible servers (`http://host:port`).
pub const AWS_ENDPOINT_PARAM: &str = "AWS_ENDPOINT";
/// `true` for path-style requests; defaults to `true` when `AWS_ENDPOINT` is set.
pub const AWS_USE_PATH_STYLE_PARAM: &str = "AWS_USE_PATH_STYLE";
/// S3 server-side encryption mode: `AES256` or `aws:kms`.
pub const AWS_SERVER_ENC_MODE_PARAM: &str = "AWS_SERVER_ENC_MODE";
/// The KMS key id for `AWS_SERVER_ENC_MODE=aws:kms`.
pub const AWS_SERVER_KMS_ID_PARAM: &str = "AWS_SERVER_KMS_ID";
/// The S3 storage class of written objects (`STANDARD`, `STANDARD_IA`, …).
pub const S3_STORAGE_CLASS_PARAM: &str = "S3_STORAGE_CLASS";
/// A role to assume (recognised, not supported).
pub const ASSUME_ROLE_PARAM: &str = "ASSUME_ROLE";

/// GCS service account key: base64 of the JSON key file.
pub const GCS_CREDENTIALS_PARAM: &str = "CREDENTIALS";
/// GCS OAuth bearer token.
pub const GCS_BEARER_TOKEN_PARAM: &str = "BEARER_TOKEN";
/// GCS project billed for requester-pays buckets (accepted, not used).
pub const GCS_BILLING_PROJECT_PARAM: &str = "GOOGLE_BILLING_PROJECT";

/// Azure storage account name.
pub const AZURE_ACCOUNT_NAME_PARAM: &str = "AZURE_ACCOUNT_NAME";
/// Azure storage account key (base64).
pub const AZURE_ACCOUNT_KEY_PARAM: &str = "AZURE_ACCOUNT_KEY";
/// Azure blob endpoint, for emulators and sovereign clouds (`http://host:port/account`).
pub const AZURE_ENDPOINT_PARAM: &str = "AZURE_ENDPOINT";
/// Azure cloud environment (`AzurePublicCloud` is the only one supported).
pub const AZURE_ENVIRONMENT_PARAM: &str = "AZURE_ENVIRONMENT";
/// Azure AD application (client) id.
pub const AZURE_CLIENT_ID_PARAM: &str = "AZURE_CLIENT_ID";
/// Azure AD client secret.
pub const AZURE_CLIENT_SECRET_PARAM: &str = "AZURE_CLIENT_SECRET";
/// Azure AD tenant id.
pub const AZURE_TENANT_ID_PARAM: &str = "AZURE_TENANT_ID";

/// The storage a URI names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `nodelocal://<node id | self>/path`: a node's external IO directory.
    Nodelocal,
    /// `s3://bucket/path`: Amazon S3 or an S3-compatible server.
    S3,
    /// `gs://bucket/path`: Google Cloud Storage.
    Gs,
    /// `azure://container/path` (also `azure-blob://`, `azure-storage://`): Azure Blob Storage.
    Azure,
    /// `http://host/path`: plain HTTP PUT/GET/DELETE (WebDAV PROPFIND for listing).
    Http,
    /// `https://host/path`: the same over TLS.
    Https,
    /// `external://name/sub/path`: an external connection made by CREATE EXTERNAL CONNECTION.
    External,
    /// `userfile://…`: CockroachDB's SQL-table-backed files; not implemented.
    Userfile,
}

impl Scheme {
    /// The canonical scheme string (`s3`, `nodelocal`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Nodelocal => "nodelocal",
            Scheme::S3 => "s3",
            Scheme::Gs => "gs",
            Scheme::Azure => "azure",
            Scheme::Http => "http",
            Scheme::Https => "https",
            Scheme::External => "external",
            Scheme::Userfile => "userfile",
        }
    }

    fn from_str(s: &str) -> Option<Scheme> {
        Some(match s {
            "nodelocal" => Scheme::Nodelocal,
            "s3" => Scheme::S3,
            "gs" => Scheme::Gs,
            "azure" | "azure-blob" | "azure-storage" => Scheme::Azure,
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            "external" => Scheme::External,
            "userfile" => Scheme::Userfile,
            _ => return None,
        })
    }

    /// The name used in CockroachDB's `unknown <NAME> query parameters` message.
    fn label(self) -> &'static str {
        match self {
            Scheme::Nodelocal => "nodelocal",
            Scheme::S3 => "S3",
            Scheme::Gs => "GS",
            Scheme::Azure => "azure",
            Scheme::Http | Scheme::Https => "http",
            Scheme::External => "external connection",
            Scheme::Userfile => "userfile",
        }
    }

    /// The query parameters this scheme accepts.
    fn known_params(self) -> &'static [&'static str] {
        match self {
            Scheme::S3 => &[
                AUTH_PARAM,
                AWS_ACCESS_KEY_PARAM,
                AWS_SECRET_PARAM,
                AWS_SESSION_TOKEN_PARAM,
                AWS_REGION_PARAM,
                AWS_ENDPOINT_PARAM,
                AWS_USE_PATH_STYLE_PARAM,
                AWS_SERVER_ENC_MODE_PARAM,
                AWS_SERVER_KMS_ID_PARAM,
                S3_STORAGE_CLASS_PARAM,
                ASSUME_ROLE_PARAM,
            ],
            Scheme::Gs => &[
                AUTH_PARAM,
                GCS_CREDENTIALS_PARAM,
                GCS_BEARER_TOKEN_PARAM,
                GCS_BILLING_PROJECT_PARAM,
                ASSUME_ROLE_PARAM,
            ],
            Scheme::Azure => &[
                AUTH_PARAM,
                AZURE_ACCOUNT_NAME_PARAM,
                AZURE_ACCOUNT_KEY_PARAM,
                AZURE_ENDPOINT_PARAM,
                AZURE_ENVIRONMENT_PARAM,
                AZURE_CLIENT_ID_PARAM,
                AZURE_CLIENT_SECRET_PARAM,
                AZURE_TENANT_ID_PARAM,
            ],
            Scheme::Nodelocal | Scheme::Http | Scheme::Https | Scheme::External => &[],
            // userfile is refused as a whole before its parameters matter.
            Scheme::Userfile => &[],
        }
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which node's external IO directory a `nodelocal://` URI names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodelocalTarget {
    /// `nodelocal://self/…` or `nodelocal://0/…`: whichever node opens it.
    Local,
    /// `nodelocal://<id>/…`: that node.
    Node(NodeId),
}

/// A parsed external storage URI. `Display` and `Debug` show the redacted form.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalStorageUri {
    scheme: Scheme,
    /// The scheme as written (`azure-blob`), kept for the round trip.
    scheme_raw: String,
    /// User info as written (percent-encoded), without the `@`.
    raw_userinfo: Option<String>,
    /// Decoded user name, if any.
    user: Option<String>,
    /// Decoded password, if any (a secret).
    password: Option<String>,
    host: String,
    /// The path as written, with its leading `/` (empty if none).
    raw_path: String,
    /// The decoded path without leading or trailing `/`.
    path: String,
    /// The query as written, without the `?`.
    raw_query: Option<String>,
    /// Decoded parameters; each key appears once.
    params: BTreeMap<String, String>,
}

impl ExternalStorageUri {
    /// Parses and validates `uri`: a known scheme, the host the scheme needs, only the query
    /// parameters the scheme knows (CockroachDB: `unknown S3 query parameters: FOO`), and
    /// valid percent-encoding. Credentials are not checked here, only when the storage opens.
    pub fn parse(uri: &str) -> Result<ExternalStorageUri, CloudError> {
        let invalid = |reason: String| CloudError::InvalidUri {
            uri: redact(uri),
            reason,
        };
        let (scheme_raw, rest) = uri.split_once("://").ok_or_else(|| {
            invalid(format!(
                "unsupported storage scheme: {:?} - refer to docs to find supported storage \
                 schemes",
                uri.split_once(':').map(|(s, _)| s).unwrap_or("")
            ))
        })?;
        let scheme_lower = scheme_raw.to_ascii_lowercase();
        let scheme = Scheme::from_str(&scheme_lower).ok_or_else(|| {
            invalid(format!(
                "unsupported storage scheme: {scheme_lower:?} - refer to docs to find supported \
                 storage schemes"
            ))
        })?;
        if rest.contains('#') {
            return Err(invalid(
                "a '#' must be percent-encoded as %23 (URI fragments are not supported)".into(),
            ));
        }
        let (before_query, raw_query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q.to_string())),
            None => (rest, None),
        };
        let (authority, raw_path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, ""),
        };
        let (raw_userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u.to_string()), h.to_string()),
            None => (None, authority.to_string()),
        };
        let (user, password) = match &raw_userinfo {
            None => (None, None),
            Some(info) => {
                let (u, p) = match info.split_once(':') {
                    Some((u, p)) => (u, Some(p)),
                    None => (info.as_str(), None),
                };
                let u = percent_decode(u, false).map_err(&invalid)?;
                let p = p
                    .map(|p| percent_decode(p, false))
                    .transpose()
                    .map_err(&invalid)?;
                (Some(u), p)
            }
        };
        let path = percent_decode(raw_path, false)
            .map_err(&invalid)?
            .trim_matches('/')
            .to_string();
        let mut params = BTreeMap::new();
        for pair in raw_query.as_deref().unwrap_or("").split('&') {
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let k = percent_decode(k, true).map_err(&invalid)?;
            let v = percent_decode(v, true).map_err(&invalid)?;
            if params.contains_key(&k) {
                return Err(invalid(format!("duplicate query parameter {k}")));
            }
            params.insert(k, v);
        }
        let parsed = ExternalStorageUri {
            scheme,
            scheme_raw: scheme_raw.to_string(),
            raw_userinfo,
            user,
            password,
            host,
            raw_path: raw_path.to_string(),
            path,
            raw_query,
            params,
        };
        parsed.validate().map_err(invalid)?;
        Ok(parsed)
    }

    fn validate(&self) -> Result<(), String> {
        let known = self.scheme.known_params();
        let unknown: Vec<&str> = self
            .params
            .keys()
            .map(String::as_str)
            .filter(|k| *k != LOCALITY_PARAM && !known.contains(k))
            .collect();
        if !unknown.is_empty() && self.scheme != Scheme::Userfile {
            return Err(format!(
                "unknown {} query parameters: {}",
                self.scheme.label(),
                unknown.join(", ")
            ));
        }
        match self.scheme {
            Scheme::Nodelocal => self.nodelocal_target().map(|_| ()),
            Scheme::S3 | Scheme::Gs if self.host.is_empty() => Err(format!(
                "empty host component; {} URI must specify a bucket: {}://<bucket>/<path>",
                self.scheme.as_str(),
                self.scheme.as_str()
            )),
            Scheme::Azure if self.host.is_empty() => {
                Err("empty host component; azure URI must specify a container: \
                 azure://<container>/<path>"
                    .into())
            }
            Scheme::Http | Scheme::Https if self.host.is_empty() => {
                Err("empty host component; http URI must specify a host".into())
            }
            Scheme::External if self.host.is_empty() => {
                Err("external connection URI must name the connection: external://<name>".into())
            }
            _ => Ok(()),
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host component: bucket, container, node id, `host[:port]` or connection name.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The decoded base path, without leading or trailing `/` (may be empty).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The path as written (percent-encoded), with its leading `/`; empty if none.
    pub(crate) fn raw_path(&self) -> &str {
        &self.raw_path
    }

    /// A decoded query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// Every decoded query parameter, sorted by name. Holds secrets: never log these.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The user name and password of the user info, decoded (the password is a secret).
    pub fn userinfo(&self) -> Option<(&str, Option<&str>)> {
        self.user.as_deref().map(|u| (u, self.password.as_deref()))
    }

    /// The node a `nodelocal://` URI names (an error for any other scheme).
    pub fn nodelocal_target(&self) -> Result<NodelocalTarget, String> {
        if self.scheme != Scheme::Nodelocal {
            return Err(format!("{} is not a nodelocal URI", self.redacted()));
        }
        match self.host.as_str() {
            "self" | "0" => Ok(NodelocalTarget::Local),
            h => h
                .parse::<u64>()
                .map(|id| NodelocalTarget::Node(NodeId(id)))
                .map_err(|_| {
                    format!(
                        "host component of nodelocal URI must be a node ID (use 'self' to \
                         specify each node should access its own local filesystem): {:?}",
                        self.host
                    )
                }),
        }
    }

    /// The values of every secret in this URI (secret parameters and the password, as written
    /// and decoded), used to scrub error text that came from a server or a library.
    pub fn secret_values(&self) -> Vec<String> {
        let mut out = base::redact::uri_secrets(&self.unredacted());
        out.extend(
            self.params
                .iter()
                .filter(|(k, _)| is_secret_key(k))
                .map(|(_, v)| v.clone()),
        );
        out.extend(self.password.clone());
        out.retain(|v| !v.is_empty());
        out.sort();
        out.dedup();
        out
    }

    /// The URI is not usable, for `reason` (it names the URI redacted).
    pub(crate) fn invalid(&self, reason: String) -> CloudError {
        CloudError::InvalidUri {
            uri: self.redacted(),
            reason,
        }
    }

    /// A cloud client could not be built from the URI: `error`, its secrets scrubbed.
    pub(crate) fn invalid_client(&self, error: &object_store::Error) -> CloudError {
        self.invalid(scrub(&error.to_string(), &self.secret_values()))
    }

    /// The `AUTH` parameter names no way of authenticating.
    pub(crate) fn unsupported_auth(&self, value: &str) -> CloudError {
        self.invalid(format!("unsupported value {value} for {AUTH_PARAM}"))
    }

    /// The redacted form, as CockroachDB prints it in SHOW JOBS: secret parameter values and
    /// the password replaced by `redacted`, query keys sorted and re-encoded.
    pub fn redacted(&self) -> String {
        let mut out = format!("{}://", self.scheme_raw);
        if let Some(user) = &self.user {
            out.push_str(&query_escape(user).replace('+', "%20"));
            if self.password.is_some() {
                out.push(':');
                out.push_str(REDACTION_MARKER);
            }
            out.push('@');
        }
        out.push_str(&self.host);
        out.push_str(&self.raw_path);
        if !self.params.is_empty() {
            out.push('?');
            let encoded: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        REDACTION_MARKER
                    } else {
                        v.as_str()
                    };
                    format!("{}={}", query_escape(k), query_escape(v))
                })
                .collect();
            out.push_str(&encoded.join("&"));
        }
        out
    }

    /// The URI with its secrets, as written (for storing in a job's details or an external
    /// connection). Never show this to a user or a log.
    pub fn unredacted(&self) -> String {
        let mut out = format!("{}://", self.scheme_raw);
        if let Some(info) = &self.raw_userinfo {
            out.push_str(info);
            out.push('@');
        }
        out.push_str(&self.host);
        out.push_str(&self.raw_path);
        if let Some(q) = &self.raw_query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// This URI with `sub` appended to its path (how `external://name/sub` extends the
    /// connection's URI).
    pub fn join_path(&self, sub: &str) -> Result<ExternalStorageUri, CloudError> {
        let sub = sub.trim_matches('/');
        if sub.is_empty() {
            return Ok(self.clone());
        }
        let mut joined = self.clone();
        let base = joined.raw_path.trim_end_matches('/');
        joined.raw_path = format!("{base}/{sub}");
        joined.path = percent_decode(&joined.raw_path, false)
            .map_err(|reason| CloudError::InvalidUri {
                uri: self.redacted(),
                reason,
            })?
            .trim_matches('/')
            .to_string();
        Ok(joined)
    }
}

impl fmt::Display for ExternalStorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for ExternalStorageUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalStorageUri({})", self.redacted())
    }
}

impl std::str::FromStr for ExternalStorageUri {
    type Err = CloudError;
    fn from_str(s: &str) -> Result<Self, CloudError> {
        ExternalStorageUri::parse(s)
    }
}

/// Redacts any string that may be a URI, parseable or not: secret parameter values and a
/// password in the user info become `redacted`, the rest is kept as written
/// ([`base::redact::redact_uri`]). For a URI that parses, [`ExternalStorageUri::redacted`] also
/// normalises the query.
pub fn redact(uri: &str) -> String {
    base::redact::redact_uri(uri)
}

/// Percent-decodes `s`; with `plus_is_space`, `+` decodes to a space (query semantics, as Go's
/// `url.QueryUnescape`, which CockroachDB uses).
fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| {
                        let end = (i + 3).min(bytes.len());
                        format!(
                            "invalid URL escape {:?}",
                            String::from_utf8_lossy(&bytes[i..end])
                        )
                    })?;
                out.push(hex);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "URI is not valid UTF-8 once decoded".to_string())
}

/// Go's `url.QueryEscape`: unreserved bytes as they are, space as `+`, the rest `%XX`.
fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Decodes standard base64 (padding optional), as CockroachDB decodes `CREDENTIALS`.
pub(crate) fn base64_decode(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.trim().bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            b'\n' | b'\r' | b' ' => continue,
            _ => return Err("CREDENTIALS is not valid base64".into()),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

/// Encodes standard base64 with padding.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> ExternalStorageUri {
        match ExternalStorageUri::parse(s) {
            Ok(u) => u,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn parse_err(s: &str) -> String {
        match ExternalStorageUri::parse(s) {
            Ok(u) => panic!("{s} parsed as {u}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn parses_s3() {
        let u = parse(
            "s3://bucket/a/b%20c/?AWS_ACCESS_KEY_ID=AK&AWS_SECRET_ACCESS_KEY=s%2Bk+x&AWS_REGION=eu-west-1",
        );
        assert_eq!(u.scheme(), Scheme::S3);
        assert_eq!(u.host(), "bucket");
        assert_eq!(u.path(), "a/b c");
        assert_eq!(u.param(AWS_SECRET_PARAM), Some("s+k x"));
        assert_eq!(u.param(AWS_REGION_PARAM), Some("eu-west-1"));
    }

    #[test]
    fn redacts_every_secret_param() {
        for (uri, secret) in [
            (
                "s3://b/p?AWS_ACCESS_KEY_ID=AK&AWS_SECRET_ACCESS_KEY=S3CR3T",
                "S3CR3T",
            ),
            (
                "s3://b/p?AWS_ACCESS_KEY_ID=AK&AWS_SECRET_ACCESS_KEY=x&AWS_SESSION_TOKEN=T0K",
                "T0K",
            ),
            (
                "gs://b/p?AUTH=specified&CREDENTIALS=ZXlKaGJHY2lPaUpJVXpJ",
                "ZXlKaGJHY2lPaUpJVXpJ",
            ),
            ("gs://b/p?BEARER_TOKEN=ya29.secret", "ya29.secret"),
            (
                "azure://c/p?AZURE_ACCOUNT_NAME=acct&AZURE_ACCOUNT_KEY=a2V5",
                "a2V5",
            ),
            (
                "azure://c/p?AZURE_ACCOUNT_NAME=a&AZURE_CLIENT_ID=id&AZURE_CLIENT_SECRET=cs3&AZURE_TENANT_ID=t",
                "cs3",
            ),
            ("https://user:pa55word@host/p", "pa55word"),
        ] {
            let u = parse(uri);
            let red = u.redacted();
            assert!(!red.contains(secret), "{red} leaks {secret}");
            assert!(red.contains(REDACTION_MARKER), "{red}");
            assert!(!u.to_string().contains(secret));
            assert!(!format!("{u:?}").contains(secret));
            assert!(!redact(uri).contains(secret), "{}", redact(uri));
            assert_eq!(u.unredacted(), uri);
            assert!(u.secret_values().iter().any(|s| s == secret));
        }
    }

    #[test]
    fn redaction_matches_cockroachdb_format() {
        let u = parse(
            "s3://bucket/backups?AWS_SECRET_ACCESS_KEY=shh&AWS_ACCESS_KEY_ID=AKID&COCKROACH_LOCALITY=region%3Dus-west",
        );
        assert_eq!(
            u.redacted(),
            "s3://bucket/backups?AWS_ACCESS_KEY_ID=AKID&AWS_SECRET_ACCESS_KEY=redacted&\
             COCKROACH_LOCALITY=region%3Dus-west"
        );
        let h = parse("http://alice:pw@host:8080/x");
        assert_eq!(h.redacted(), "http://alice:redacted@host:8080/x");
        assert_eq!(
            parse("nodelocal://1/foo/bar").redacted(),
            "nodelocal://1/foo/bar"
        );
    }

    /// Every text a storage URI is shown as (its `Display`, `Debug` and redacted form, the
    /// errors of parsing, validating and opening it, the URI of the opened storage, directly
    /// and through an external connection) hides every secret of every generated URI.
    mod no_secret_is_shown {
        use super::*;
        use crate::{InMemoryConnections, StorageContext};
        use base::redact::testing::{assert_hidden, secret_uri};
        use proptest::prelude::*;
        use std::sync::Arc;

        proptest! {
            // One generated URI in six is a valid storage URI: run enough of them.
            #![proptest_config(ProptestConfig::with_cases(1024))]

            #[test]
            fn by_any_display_of_a_storage_uri(s in secret_uri()) {
                let what = |w: &str| format!("{w} of {:?}", s.uri);
                assert_hidden(&redact(&s.uri), &what("redact"));
                match ExternalStorageUri::parse(&s.uri) {
                    Ok(u) => {
                        assert_hidden(&u.to_string(), &what("Display"));
                        assert_hidden(&format!("{u:?}"), &what("Debug"));
                        assert_hidden(&u.redacted(), &what("redacted"));
                        if let Ok(j) = u.join_path("x/y") {
                            assert_hidden(&j.to_string(), &what("join_path"));
                        }
                        if let Err(e) = u.nodelocal_target() {
                            assert_hidden(&e, &what("nodelocal_target"));
                        }
                    }
                    Err(e) => {
                        assert_hidden(&e.to_string(), &what("the parse error"));
                        assert_hidden(&format!("{e:?}"), &what("the parse error's Debug"));
                    }
                }
                if let Err(e) = crate::validate_connection_uri(&s.uri) {
                    assert_hidden(&e.to_string(), &what("validate_connection_uri"));
                }
                let root = std::env::temp_dir().join("sextant-redact-proptest");
                let conns = InMemoryConnections::new();
                let _ = conns.insert("conn", &s.uri);
                let ctx = StorageContext::new(NodeId(1), &root).with_connections(Arc::new(conns));
                for uri in [s.uri.clone(), "external://conn/sub".to_string()] {
                    match crate::open(&uri, &ctx) {
                        Ok(storage) => {
                            assert_hidden(&storage.uri().to_string(), &what("the storage's uri"))
                        }
                        Err(e) => {
                            assert_hidden(&e.to_string(), &what("open"));
                            assert_hidden(&format!("{e:?}"), &what("open's Debug"));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn redacts_sink_params() {
        let raw = "kafka-ish://h/p?sasl_password=pw1&topic=t";
        assert!(!redact(raw).contains("pw1"));
        let u = parse("https://h/p");
        assert_eq!(u.redacted(), "https://h/p");
    }

    #[test]
    fn lenient_redaction_of_unparseable_uris() {
        let raw = "s3:/broken?AWS_SECRET_ACCESS_KEY=abc%2Fdef&AWS_ACCESS_KEY_ID=AK#frag";
        let red = redact(raw);
        assert!(!red.contains("abc"), "{red}");
        assert!(red.contains("AWS_ACCESS_KEY_ID=AK"));
        // A percent-encoded key is still recognised.
        assert!(!redact("s3://b?AWS%5FSECRET_ACCESS_KEY=zzz").contains("zzz"));
        let err = parse_err("s3://b/p?AWS_SECRET_ACCESS_KEY=zz%zzTOP&X=1");
        assert!(!err.contains("TOP"), "{err}");
    }

    #[test]
    fn unknown_params_are_named() {
        assert_eq!(
            parse_err("s3://b/p?FOO=1&AWS_REGION=x&BAR=2"),
            "unknown S3 query parameters: BAR, FOO"
        );
        assert_eq!(parse_err("gs://b/p?X=1"), "unknown GS query parameters: X");
        assert_eq!(
            parse_err("azure://c/p?Y=1"),
            "unknown azure query parameters: Y"
        );
        assert_eq!(
            parse_err("nodelocal://1/p?Z=1"),
            "unknown nodelocal query parameters: Z"
        );
        assert_eq!(
            parse_err("https://h/p?Q=1"),
            "unknown http query parameters: Q"
        );
        // The locality parameter of locality-aware backups is accepted everywhere.
        parse("nodelocal://1/p?COCKROACH_LOCALITY=default");
    }

    #[test]
    fn malformed_uris() {
        assert!(parse_err("no-scheme-at-all").contains("unsupported storage scheme"));
        assert!(parse_err("ftp://host/p").contains("unsupported storage scheme: \"ftp\""));
        assert!(parse_err("s3:///path").contains("must specify a bucket"));
        assert!(parse_err("nodelocal://abc/p").contains("must be a node ID"));
        assert!(parse_err("nodelocal:///p").contains("must be a node ID"));
        assert!(parse_err("s3://b/p%zz").contains("invalid URL escape"));
        assert!(parse_err("s3://b/p?AWS_REGION=a&AWS_REGION=b").contains("duplicate"));
        assert!(parse_err("s3://b/p#x").contains("%23"));
        assert!(parse_err("external:///p").contains("must name the connection"));
    }

    #[test]
    fn nodelocal_targets() {
        let t = |s: &str| parse(s).nodelocal_target();
        assert_eq!(t("nodelocal://self/a"), Ok(NodelocalTarget::Local));
        assert_eq!(t("nodelocal://0/a"), Ok(NodelocalTarget::Local));
        assert_eq!(t("nodelocal://3/a"), Ok(NodelocalTarget::Node(NodeId(3))));
    }

    #[test]
    fn schemes_and_aliases() {
        assert_eq!(parse("azure-blob://c/p").scheme(), Scheme::Azure);
        assert_eq!(parse("AZURE-STORAGE://c/p").scheme(), Scheme::Azure);
        assert_eq!(parse("https://h:1/p").host(), "h:1");
        assert_eq!(
            parse("userfile://defaultdb.public.userfiles_root/x").scheme(),
            Scheme::Userfile
        );
    }

    #[test]
    fn join_path_appends() {
        let u = parse("s3://b/base?AWS_REGION=r");
        let j = u.join_path("/sub/dir/").map_err(|e| e.to_string());
        let j = j.as_ref().map(|j| (j.path().to_string(), j.unredacted()));
        assert_eq!(
            j,
            Ok((
                "base/sub/dir".to_string(),
                "s3://b/base/sub/dir?AWS_REGION=r".to_string()
            ))
        );
        let root = parse("s3://b");
        assert_eq!(
            root.join_path("x").map(|j| j.path().to_string()).ok(),
            Some("x".into())
        );
    }

    #[test]
    fn base64() {
        assert_eq!(base64_decode("aGVsbG8="), Ok(b"hello".to_vec()));
        assert_eq!(base64_decode("aGVsbG8"), Ok(b"hello".to_vec()));
        assert_eq!(base64_decode("e30="), Ok(b"{}".to_vec()));
        assert!(base64_decode("!!").is_err());
        for s in ["", "a", "ab", "abc", "alice:pw"] {
            assert_eq!(
                base64_decode(&base64_encode(s.as_bytes())),
                Ok(s.as_bytes().to_vec())
            );
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
    }
}
